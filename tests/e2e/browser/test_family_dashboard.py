"""The family web UI in a real browser (Debian's chromium, driven by Playwright), against the
real ``famsim demo`` server: the owner lowers a member's quota and that member's next grant
is refused; an adult does not see another adult's detail; the pages in Chinese (HKD amounts)
and Russian; every field labelled, sign-in by keyboard; the home page's pools live.

The demo family "Chan family": the owner Chan Tai Man (+85291230001), the adult Wong Mei
Ling, the children Chan Ka Ho (guardian Chan Tai Man) and Chan Ka Yan (guardian Wong Mei
Ling, +85294560004). The module's server runs with ``--speed 0``: no simulated traffic, so
usage stays still; only the live test starts a second server with traffic.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, Response, expect

from e2e.browser.support import (
    DemoServer,
    Login,
    assert_labelled,
    run_demo_server,
    save_screenshot,
)

OWNER, ADULT = "Chan Tai Man", "Wong Mei Ling"
SON, DAUGHTER = "Chan Ka Ho", "Chan Ka Yan"
MEMBERS = (OWNER, ADULT, SON, DAUGHTER)
OWNER_LINE, DAUGHTER_LINE = "+85291230001", "+85294560004"
NAV = ("Home", "Members", "Lines", "Bill", "Security")

FAMILY_HOME = re.compile(r"/app/families/(?P<family>[^/?#]+)/?(?:[?#].*)?$")
MEMBERS_PAGE = re.compile(r"/app/families/[^/?#]+/members/?(?:[?#].*)?$")
ALLOCATION_PAGE = re.compile(r"/members/(?P<member>[^/?#]+)/allocation/?(?:[?#].*)?$")
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
CYRILLIC = re.compile(r"[\u0400-\u04ff]")
HKD_AMOUNT = re.compile(r"HK\$\s?\d")
AMOUNT = re.compile(r"^\d+(\.\d+)?\s?[KMGT]?B$|^0$")


# ------------------------------------------------------------------------------ helpers


def open_page(page: Page, url: str) -> Response:
    answer = page.goto(url)
    assert answer is not None, f"no answer for {url}"
    return answer


def sign_in(page: Page, server: DemoServer, who: Login) -> str:
    """Sign in through the login form; return the family id from the home page's URL."""
    open_page(page, f"{server.url}/login")
    page.get_by_label("Login", exact=True).fill(who.login)
    page.get_by_label("Password", exact=True).fill(who.password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(FAMILY_HOME)
    found = FAMILY_HOME.search(page.url)
    assert found is not None
    return found["family"]


def nav_link(page: Page, name: str) -> Locator:
    return page.get_by_role("navigation").get_by_role("link", name=name, exact=True)


def member_row(page: Page, name: str) -> Locator:
    return page.locator(f'[data-member="{name}"]')


def open_members(page: Page) -> None:
    nav_link(page, "Members").click()
    page.wait_for_url(MEMBERS_PAGE)


def open_allocation(page: Page, member: str) -> str:
    """From the Members page, the member's allocation editor; return the member's id."""
    member_row(page, member).get_by_role("link", name="Edit allocation").click()
    page.wait_for_url(ALLOCATION_PAGE)
    found = ALLOCATION_PAGE.search(page.url)
    assert found is not None
    return found["member"]


def member_ids(page: Page) -> dict[str, str]:
    """Member ids by name, from the Edit allocation links of the (owner's) Members page."""
    ids: dict[str, str] = {}
    for name in MEMBERS:
        href = (
            member_row(page, name).get_by_role("link", name="Edit allocation").get_attribute("href")
        )
        assert href is not None, f"no Edit allocation link for {name}"
        found = ALLOCATION_PAGE.search(href)
        assert found is not None, f"{name}'s Edit allocation link is {href}"
        ids[name] = found["member"]
    return ids


def choose_language(page: Page, lang: str) -> None:
    """The language picker submits on change; wait for the page in that language. (Its
    label is "Language" only in English: found by its name.)"""
    page.locator('select[name="lang"]').select_option(lang)
    expect(page.locator("html")).to_have_attribute("lang", lang)


def data_grant(answer: dict[str, object]) -> tuple[str, str, int]:
    """(the request's outcome, the data service's outcome, units granted) of a reserve."""
    services = answer["services"]
    assert isinstance(services, list), answer
    (data,) = (s for s in services if s["resource"] == "data")
    return str(answer["outcome"]), str(data["outcome"]), int(data["granted"])


# ------------------------------------------------------------------- signing in, labels


def test_login_is_labelled_and_works_by_keyboard(
    page: Page, demo_server: DemoServer, screenshot: Callable[[Page, str], Path]
) -> None:
    answer = open_page(page, f"{demo_server.url}/login")
    assert answer.status == 200
    assert_labelled(page)
    expect(page.get_by_label("API key", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Open operator console")).to_be_visible()

    login = page.get_by_label("Login", exact=True)
    for _ in range(20):  # autofocus, or Tab past a skip link and the language picker
        if page.evaluate("document.activeElement?.getAttribute('name')") == "login":
            break
        page.keyboard.press("Tab")
    expect(login).to_be_focused()
    page.keyboard.type(demo_server.owner.login)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    page.keyboard.type(demo_server.owner.password)
    page.keyboard.press("Tab")
    # The form also has the optional second-factor field ("Authenticator code (if you set
    # one up)") between Password and Sign in: empty, it is one more Tab.
    label = page.evaluate("document.activeElement?.labels?.[0]?.textContent ?? ''")
    if "authenticator code" in label.lower():
        page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_focused()
    page.keyboard.press("Shift+Tab")
    screenshot(page, "login-by-keyboard")
    page.keyboard.press("Enter")
    page.wait_for_url(FAMILY_HOME)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Chan family")


def test_owner_home_shows_pools_and_members_and_every_page_is_labelled(
    page: Page, demo_server: DemoServer, screenshot: Callable[[Page, str], Path]
) -> None:
    sign_in(page, demo_server, demo_server.owner)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Chan family")
    expect(page.locator('[data-pool="data:home"]')).to_be_visible()
    for name in MEMBERS:  # the owner sees everyone's usage
        expect(member_row(page, name)).to_be_visible()
        expect(member_row(page, name).locator("[data-usage]").first).to_be_visible()
    assert_labelled(page)
    screenshot(page, "owner-home")

    for name in NAV:
        link = nav_link(page, name)
        expect(link).to_be_visible()
        with page.expect_navigation() as navigation:
            link.click()
        answer = navigation.value
        assert answer is not None
        assert answer.status == 200, f"{name}: {answer.status} at {page.url}"
        assert_labelled(page)
        screenshot(page, f"owner-{name.lower()}")


# --------------------------------------------------------------------------- allocation


def test_allocation_refuses_a_bad_amount_next_to_the_field(
    page: Page, demo_server: DemoServer, screenshot: Callable[[Page, str], Path]
) -> None:
    sign_in(page, demo_server, demo_server.owner)
    open_members(page)
    assert_labelled(page)
    open_allocation(page, DAUGHTER)
    assert_labelled(page)
    for field in ("quota-data-home", "cap-data-home", "money-cap", "hotspot-quota", "roaming"):
        expect(page.locator(f'label[for="{field}"]')).to_be_visible()
        expect(page.locator(f"#{field}")).to_be_visible()
    expect(page.locator("select#exhaustion")).to_be_visible()
    expect(page.locator("#roaming")).to_have_attribute("type", "checkbox")
    # The current allocation, as an amount (the demo's is 3GB; another test may change it).
    expect(page.locator("#quota-data-home")).to_have_value(AMOUNT)

    page.locator("#quota-data-home").fill("lots")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Save allocation").click()
    assert posted.value.status == 422
    error = page.locator("#quota-data-home-error")
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    expect(page.locator("#quota-data-home")).to_have_attribute(
        "aria-describedby", re.compile(r"(^|\s)quota-data-home-error(\s|$)")
    )
    assert_labelled(page)
    screenshot(page, "allocation-bad-amount")


def set_data_home(page: Page, quota: str, cap: str) -> None:
    """From the Members page: Chan Ka Yan's home data quota and hard cap, saved."""
    open_allocation(page, DAUGHTER)
    page.locator("#quota-data-home").fill(quota)
    page.locator("#cap-data-home").fill(cap)
    save_screenshot(page, f"allocation-data-home-{quota}")
    page.get_by_role("button", name="Save allocation").click()
    page.wait_for_url(MEMBERS_PAGE)
    expect(page.get_by_text("Allocation saved")).to_be_visible()


def test_owner_lowers_a_quota_and_that_members_next_grant_is_refused(
    page: Page, demo_server: DemoServer, screenshot: Callable[[Page, str], Path]
) -> None:
    # The demo's first days leave Chan Ka Yan at her 3GB: raised first, her line gets data,
    # so the refusal after lowering it is the allocation's doing.
    sign_in(page, demo_server, demo_server.owner)
    open_members(page)
    set_data_home(page, "10GB", "10GB")
    session = f"raised-{uuid.uuid4().hex}"
    _, outcome, granted = data_grant(demo_server.reserve(session, DAUGHTER_LINE))
    assert (outcome, granted > 0) == ("success", True)
    demo_server.terminate(session, DAUGHTER_LINE)

    set_data_home(page, "0", "0")
    screenshot(page, "allocation-saved")
    session = f"lowered-{uuid.uuid4().hex}"
    request_outcome, outcome, granted = data_grant(demo_server.reserve(session, DAUGHTER_LINE))
    assert granted == 0, (request_outcome, outcome, granted)
    # A refusal says so: the request's outcome or the data service's is not "success".
    assert (request_outcome, outcome) != ("success", "success")
    if request_outcome == "success":
        demo_server.terminate(session, DAUGHTER_LINE)

    # The owner's own line is not affected.
    session = f"owner-{uuid.uuid4().hex}"
    _, outcome, granted = data_grant(demo_server.reserve(session, OWNER_LINE))
    assert (outcome, granted > 0) == ("success", True)
    demo_server.terminate(session, OWNER_LINE)


# ------------------------------------------------------------------------------ privacy


def test_an_adult_does_not_see_another_adults_detail(
    new_page: Callable[..., Page],
    demo_server: DemoServer,
    screenshot: Callable[[Page, str], Path],
) -> None:
    owner = new_page()
    family = sign_in(owner, demo_server, demo_server.owner)
    open_members(owner)
    ids = member_ids(owner)

    adult = new_page()
    assert sign_in(adult, demo_server, demo_server.adult) == family
    expect(member_row(adult, OWNER)).to_be_visible()
    expect(member_row(adult, OWNER).locator("[data-usage]")).to_have_count(0)
    expect(member_row(adult, ADULT).locator("[data-usage]").first).to_be_visible()  # her own
    screenshot(adult, "adult-home")

    answer = open_page(adult, f"{demo_server.url}/app/families/{family}/members/{ids[OWNER]}")
    assert answer.status == 403
    expect(adult.locator("body")).to_contain_text(re.compile("not shared", re.IGNORECASE))
    screenshot(adult, "adult-owner-detail-not-shared")

    answer = open_page(adult, f"{demo_server.url}/app/families/{family}/members/{ids[DAUGHTER]}")
    assert answer.status == 200  # her ward
    expect(adult.locator("body")).to_contain_text(DAUGHTER)
    assert_labelled(adult)
    screenshot(adult, "adult-ward-detail")


# ---------------------------------------------------------------------------- languages


@pytest.fixture
def owner_page(page: Page, demo_server: DemoServer) -> Iterator[tuple[Page, str]]:
    """The owner signed in; English again afterwards (the choice may be kept server-side)."""
    family = sign_in(page, demo_server, demo_server.owner)
    try:
        yield page, family
    finally:
        if not page.is_closed():
            open_page(page, f"{demo_server.url}/app/families/{family}")
            choose_language(page, "en")


def test_chinese_pages_and_hkd_amounts(
    owner_page: tuple[Page, str],
    demo_server: DemoServer,
    screenshot: Callable[[Page, str], Path],
) -> None:
    page, family = owner_page
    expect(page.get_by_label("Language", exact=True)).to_have_attribute("name", "lang")
    home = nav_link(page, "Home").get_attribute("href")
    assert home is not None
    choose_language(page, "zh-Hant-HK")
    home_link = page.get_by_role("navigation").locator(f'a[href="{home}"]').first
    expect(home_link).not_to_have_text("Home")
    expect(home_link).to_have_text(CJK)
    assert_labelled(page)
    screenshot(page, "home-zh-Hant-HK")

    answer = open_page(page, f"{demo_server.url}/app/families/{family}/bill")
    assert answer.status == 200
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hant-HK")
    expect(page.locator("body")).to_contain_text(HKD_AMOUNT)
    assert_labelled(page)
    screenshot(page, "bill-zh-Hant-HK")


def test_russian_pages(
    owner_page: tuple[Page, str], screenshot: Callable[[Page, str], Path]
) -> None:
    page, _ = owner_page
    choose_language(page, "ru")
    expect(page.get_by_role("navigation")).to_contain_text(CYRILLIC)
    expect(nav_link(page, "Home")).to_have_count(0)
    assert_labelled(page)
    screenshot(page, "home-ru")


def test_language_picker_works_without_javascript_by_keyboard(
    new_page: Callable[..., Page],
    demo_server: DemoServer,
    screenshot: Callable[[Page, str], Path],
) -> None:
    page = new_page(java_script_enabled=False)
    sign_in(page, demo_server, demo_server.owner)
    picker = page.locator('select[name="lang"]')
    submit = page.locator('form:has(select[name="lang"]) [type=submit]')
    try:
        for lang in ("zh-Hans", "en"):
            picker.select_option(lang)
            submit.focus()
            page.keyboard.press("Enter")
            expect(page.locator("html")).to_have_attribute("lang", lang)
            if lang != "en":
                expect(page.get_by_role("navigation")).to_contain_text(CJK)
                screenshot(page, f"home-{lang}-without-javascript")
    finally:
        if page.locator("html").get_attribute("lang") != "en":
            picker.select_option("en")
            submit.click()


# --------------------------------------------------------------------------------- live


@pytest.fixture(scope="module")
def busy_demo_server(
    famsim_command: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoServer]:
    """``famsim demo --speed 3600``: the traffic simulator runs an hour a second.

    The demo's network clock starts at the wall clock, and the personas sleep at night in
    Hong Kong: at 600x, a test run in the Hong Kong evening waited 30 s (five hours of
    night) for a change that never came. At an hour a second, the wait spans a day.
    """
    data_dir = tmp_path_factory.mktemp("busy-demo") / "data"
    with run_demo_server(famsim_command, data_dir, speed=3600) as server:
        yield server


def test_home_page_pools_move_without_a_reload(
    page: Page, busy_demo_server: DemoServer, screenshot: Callable[[Page, str], Path]
) -> None:
    sign_in(page, busy_demo_server, busy_demo_server.owner)
    used = page.locator('[data-pool="data:home"] [data-used]').first
    expect(used).to_be_visible()
    before = [used.text_content(), used.get_attribute("data-used")]
    page.evaluate("window.famsimTestMarker = 'not reloaded'")
    screenshot(page, "live-before")
    page.wait_for_function(
        """(before) => {
            const used = document.querySelector('[data-pool="data:home"] [data-used]');
            return used !== null
                && (used.textContent !== before[0] || used.getAttribute('data-used') !== before[1]);
        }""",
        arg=before,
        timeout=30_000,
    )
    assert page.evaluate("window.famsimTestMarker") == "not reloaded"
    screenshot(page, "live-after")
