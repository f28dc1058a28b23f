"""The browser tests' machinery on its own, without famsim: Debian's chromium driven by
Playwright loads a page from loopback, a click changes it, a screenshot is saved, and the
CJK font that Chinese pages need is installed."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from e2e.browser.support import tools_required

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Smoke</title></head>
<body>
  <h1>Browser smoke test</h1>
  <p id="status">Not clicked</p>
  <label for="name">Name</label> <input id="name" name="name">
  <button type="button" id="go">Greet</button>
  <p lang="zh-Hant-HK">主頁 家庭計劃 HK$123.45</p>
  <script>
    document.getElementById('go').addEventListener('click', () => {
      const name = document.getElementById('name').value;
      document.getElementById('status').textContent = 'Hello, ' + name + '!';
    });
  </script>
</body>
</html>
"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def loopback_site(tmp_path: Path) -> Iterator[str]:
    """A tiny static site served by http.server on a free loopback port."""
    (tmp_path / "index.html").write_text(PAGE, encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_chromium_clicks_on_a_loopback_page(
    page: Page, loopback_site: str, screenshot: Callable[[Page, str], Path]
) -> None:
    answer = page.goto(f"{loopback_site}/index.html")
    assert answer is not None
    assert answer.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Browser smoke test")
    expect(page.locator("#status")).to_have_text("Not clicked")

    page.get_by_label("Name").fill("Ka Yan")
    page.get_by_role("button", name="Greet").click()

    expect(page.locator("#status")).to_have_text("Hello, Ka Yan!")
    path = screenshot(page, "smoke-after-click")
    assert path.stat().st_size > 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_keyboard_reaches_the_button(page: Page, loopback_site: str) -> None:
    page.goto(f"{loopback_site}/index.html")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Name")).to_be_focused()
    page.keyboard.type("Ka Ho")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Greet")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_have_text("Hello, Ka Ho!")


def test_a_cjk_font_is_installed() -> None:
    """fonts-noto-cjk (scripts/ensure-tools.sh): without it Chinese is boxes in screenshots."""
    if shutil.which("fc-list") is None:
        pytest.skip("no fc-list (fontconfig) to ask")
    fonts = subprocess.run(
        ["fc-list", ":lang=zh-hk", "family"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    if not fonts.strip():
        message = "no font for Chinese (zh-hk): install Debian's fonts-noto-cjk"
        if tools_required():
            pytest.fail(f"FAMSIM_REQUIRE_TOOLS is set but {message}", pytrace=False)
        pytest.skip(message)
