"""Support for the browser tests (not a test module): Debian's chromium driven by Playwright,
the real ``famsim demo`` server in a subprocess, screenshots and page checks.

Imported by tests/e2e/browser/conftest.py and the browser test modules as
``e2e.browser.support`` (tests/ is on the path; tests/e2e and tests/e2e/browser are namespace
packages).

Chromium is Debian's (``scripts/ensure-tools.sh`` installs it), never a browser Playwright
downloads: this machine reaches package registries only. The flags keep it from calling out
(without the background-networking ones it floods the closed network with connections).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page

REPO_ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"
SCREENSHOTS_DIR = ARTIFACTS_DIR / "screenshots"

CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

START_TIMEOUT_S = 60.0  # a start-up guard (migrations, the demo family), not a timing check
STOP_TIMEOUT_S = 10.0


def tools_required() -> bool:
    """``make test`` sets FAMSIM_REQUIRE_TOOLS=1: a missing chromium fails instead of skipping."""
    return os.environ.get("FAMSIM_REQUIRE_TOOLS", "").strip().lower() in {"1", "true", "yes"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def safe_name(name: str) -> str:
    """A file name from a test name (``test_x[zh-Hant-HK]`` -> ``test_x_zh-Hant-HK_``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def save_screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as test-artifacts/screenshots/<name>.png; return its path."""
    SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS_DIR / f"{safe_name(name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# ------------------------------------------------------------------------ the demo server


@dataclass(frozen=True)
class Login:
    login: str
    password: str


@dataclass
class DemoServer:
    """A running ``famsim demo`` on loopback and what its demo-logins.json says."""

    url: str
    data_dir: Path
    owner: Login
    adult: Login
    child: Login
    api_key: str
    logins: dict[str, Any]
    process: subprocess.Popen[bytes]
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A REST call (``/v1...``) with the demo operator's API key."""
        headers = {"Authorization": f"Bearer {self.api_key}", **kwargs.pop("headers", {})}
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def reserve(self, session_id: str, subscriber: str, requested: int = 1_000_000) -> Any:
        """POST /v1/charging/reserve for data; the JSON answer (the call must succeed)."""
        body = {
            "session_id": session_id,
            "request_number": 0,
            "subscriber": subscriber,
            "services": [{"resource": "data", "requested": requested}],
        }
        answer = self.api("POST", "/v1/charging/reserve", json=body)
        assert answer.status_code == 200, f"reserve -> {answer.status_code}: {answer.text}"
        return answer.json()

    def terminate(self, session_id: str, subscriber: str, request_number: int = 1) -> None:
        """Close a charging session, reporting nothing used."""
        body = {
            "session_id": session_id,
            "request_number": request_number,
            "subscriber": subscriber,
            "services": [{"resource": "data", "used": 0}],
        }
        answer = self.api("POST", "/v1/charging/terminate", json=body)
        assert answer.status_code == 200, f"terminate -> {answer.status_code}: {answer.text}"


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAMSIM_")}
    env["FAMSIM_DATA_DIR"] = str(data_dir)
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    return env


def _login(logins: dict[str, Any], who: str) -> Login:
    entry = logins[who]
    return Login(str(entry["login"]), str(entry["password"]))


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C (the server's own clean stop), then kill its whole process group."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_S)
    # The group is the server and whatever it spawned (the charging child), started by us.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_S)


@contextmanager
def run_demo_server(
    famsim_command: Path, data_dir: Path, *, speed: float = 0
) -> Iterator[DemoServer]:
    """Run ``famsim demo --host 127.0.0.1 --port <free> --speed <speed>`` on *data_dir* until
    ``GET /login`` answers 200; yield it; stop it (SIGINT, then kill)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir.parent / f"famsim-demo-{port}.log"
    args = [str(famsim_command), "demo", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--speed", f"{speed:g}"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args,
            env=_env(data_dir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole
        )
    try:
        _wait_until_serving(process, url, log_path)
        logins_path = data_dir / "demo-logins.json"
        assert logins_path.exists(), f"famsim demo wrote no {logins_path}\n{_describe(log_path)}"
        logins = json.loads(logins_path.read_text())
        yield DemoServer(
            url=url,
            data_dir=data_dir,
            owner=_login(logins, "owner"),
            adult=_login(logins, "adult"),
            child=_login(logins, "child"),
            api_key=str(logins["operator"]["api_key"]),
            logins=logins,
            process=process,
            log_path=log_path,
        )
    finally:
        _stop(process)


def _describe(log_path: Path) -> str:
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    return f"--- famsim demo output ---\n{text}--- end ---"


def _wait_until_serving(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    last = "no answer yet"
    while True:
        code = process.poll()
        if code is not None:
            raise AssertionError(
                f"famsim demo exited with {code} before serving {url}/login\n" + _describe(log_path)
            )
        try:
            answer = httpx.get(f"{url}/login", timeout=2)
            if answer.status_code == 200:
                return
            last = f"GET /login -> {answer.status_code}"
        except httpx.HTTPError as exc:
            last = f"GET /login -> {type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            raise AssertionError(
                f"famsim demo did not serve {url}/login within {START_TIMEOUT_S:g} s "
                f"(last: {last})\n" + _describe(log_path)
            )
        time.sleep(0.2)


# ------------------------------------------------------------------------ page checks

# Every visible form field must have a name a screen reader can say: a <label for>, a
# wrapping <label>, aria-label, or aria-labelledby pointing at text.
_UNLABELLED_JS = """
() => {
  const hasName = (el) => {
    if (el.labels && Array.from(el.labels).some((l) => l.textContent.trim() !== '')) return true;
    const aria = el.getAttribute('aria-label');
    if (aria && aria.trim() !== '') return true;
    const by = el.getAttribute('aria-labelledby');
    if (by) {
      const text = by.split(/\\s+/).map((id) => document.getElementById(id))
        .filter((n) => n !== null).map((n) => n.textContent.trim()).join('');
      if (text !== '') return true;
    }
    return false;
  };
  const skip = new Set(['hidden', 'submit', 'button', 'reset', 'image']);
  return Array.from(document.querySelectorAll('input, select, textarea'))
    .filter((el) => !(el.tagName === 'INPUT' && skip.has((el.type || '').toLowerCase())))
    .filter((el) => el.checkVisibility())
    .filter((el) => !hasName(el))
    .map((el) => el.outerHTML.slice(0, 200));
}
"""


def unlabelled_fields(page: Page) -> list[str]:
    """The visible input, select and textarea elements without a label (their HTML)."""
    fields: list[str] = page.evaluate(_UNLABELLED_JS)
    return fields


def assert_labelled(page: Page) -> None:
    fields = unlabelled_fields(page)
    assert not fields, f"fields without a label on {page.url}:\n" + "\n".join(fields)


def chromium_executable() -> str | None:
    return shutil.which("chromium")
