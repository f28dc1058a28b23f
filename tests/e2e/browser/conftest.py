"""Fixtures for the browser tests: Playwright driving Debian's chromium against the real
``famsim demo`` server.

    chromium_path  session   Debian's chromium (skips without it; fails when
                             FAMSIM_REQUIRE_TOOLS=1, as `make test` sets it)
    playwright     session   the sync Playwright driver (one per xdist worker)
    browser        session   chromium launched headless with the closed-network flags
    demo_server    module    ``famsim demo --speed 0`` on a free loopback port (usage stays
                             still for assertions), with the demo logins
    new_page       function  makes pages, each in a fresh context (en-US, 1280x900); every
                             page is screenshotted at teardown
    page           function  the first such page
    screenshot     function  ``screenshot(page, name)``: test-artifacts/screenshots/<name>.png

Screenshots land in test-artifacts/screenshots/ (git-ignored): one per page at the end of
each test, ``<test name>.png``; a failed test also leaves the page's HTML beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from e2e.browser.support import (
    CHROMIUM_ARGS,
    SCREENSHOTS_DIR,
    DemoServer,
    chromium_executable,
    run_demo_server,
    safe_name,
    save_screenshot,
    tools_required,
)

VIEWPORT = {"width": 1280, "height": 900}
ACTION_TIMEOUT_MS = 10_000  # a hang guard per action; expectations that wait say their own


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so fixtures can tell a failed test at teardown."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = chromium_executable()
    if path is None:
        message = "no chromium on PATH: install Debian's chromium (scripts/ensure-tools.sh)"
        if tools_required():
            pytest.fail(f"FAMSIM_REQUIRE_TOOLS is set but {message}", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright, chromium_path: str) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=chromium_path, args=list(CHROMIUM_ARGS))
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def demo_server(
    famsim_command: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoServer]:
    """``famsim demo --speed 0`` for the module's tests: the traffic simulator does not run."""
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    with run_demo_server(famsim_command, data_dir, speed=0) as server:
        yield server


@pytest.fixture
def new_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[..., Page]]:
    """``new_page(**context_options)``: a page in a fresh context (its own cookies)."""
    pages: list[Page] = []
    contexts = []

    def make(**options: Any) -> Page:
        context = browser.new_context(**{"locale": "en-US", "viewport": VIEWPORT, **options})
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        pages.append(page)
        return page

    try:
        yield make
    finally:
        failed = any(
            getattr(getattr(request.node, f"report_{when}", None), "failed", False)
            for when in ("setup", "call")
        )
        for n, page in enumerate(pages):
            name = request.node.name + ("" if n == 0 else f"-{n + 1}")
            _leave_artifacts(page, name, failed=failed)
        for context in contexts:
            context.close()


def _leave_artifacts(page: Page, name: str, *, failed: bool) -> None:
    if page.is_closed():
        return
    try:
        save_screenshot(page, name)
        if failed:
            html = SCREENSHOTS_DIR / f"{safe_name(name)}.html"
            html.write_text(f"<!-- {page.url} -->\n{page.content()}")
    except Exception as exc:  # an artifact must never hide the test's own result
        print(f"browser tests: no screenshot of {name}: {exc}")


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    return new_page()


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    return save_screenshot
