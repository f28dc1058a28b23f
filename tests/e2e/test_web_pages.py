"""The server-rendered web UI through FastAPI's TestClient, on a real SQLite famsim with the
demo family (set up as ``famsim demo`` does), its three demo sign-ins and operator keys.

No browser: these read the HTML the server sends (the browser tests drive chromium). Each
xdist worker builds the demo world once per module (``template``); read-only tests share
one copy of it (``shared``), tests that change something get their own copy (``fresh``).
"""

from __future__ import annotations

import io
import re
import shutil
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():  # starlette's note about httpx, raised at import
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from famsim.bootstrap import App, bootstrap
from famsim.config import Settings
from famsim.demo import DEMO_LOGINS, DEMO_PLAN, demo_operator_key
from famsim.domain.access import Principal, Scope
from famsim.domain.allocation import Allocation
from famsim.domain.identifiers import Eid
from famsim.domain.units import HOME, Resource
from famsim.entrypoints.cli.demo import _set_up
from famsim.entrypoints.http.app import create_api
from famsim.entrypoints.http.deps import SESSION_COOKIE
from famsim.entrypoints.web.format import Formatter
from famsim.service import commands as c
from famsim.service.charging import ChargingAnswer, ChargingRequest, RequestType, ServiceUse

pytestmark = pytest.mark.e2e

OWNER, ADULT, CHILD = (login.member for login in DEMO_LOGINS)
TEEN = "Chan Ka Ho"
OWNER_LINE, CHILD_LINE = "+85291230001", "+85294560004"
ORIGIN = "http://testserver"  # TestClient's own site
EVIL = "https://evil.example"
GB = 10**9
OWNER_USED = 2 * GB  # the owner's data this cycle, charged before any test


# ============================================================== the world and its clients
@dataclass(frozen=True)
class Template:
    directory: Path
    family_id: str
    other_family_id: str
    ids: dict[str, str]  # member name -> id
    keys: dict[str, str]  # "all" / "plans" -> operator API key
    cookies: dict[str, str]  # who -> the session cookie (signed in once, here)


@dataclass
class Web:
    app: App
    api: FastAPI
    family_id: str
    other_family_id: str
    ids: dict[str, str]
    keys: dict[str, str]
    cookies: dict[str, str]

    def client(self, who: str | None = None, **headers: str) -> TestClient:
        """A browser: signed out (None), a demo person by role ("owner", "adult",
        "child") or an operator ("operator", "plans": the cookie holds the key)."""
        client = TestClient(self.api, raise_server_exceptions=False, headers=headers)
        if who is not None:
            client.cookies.set(SESSION_COOKIE, self.cookie(who))
        return client

    def cookie(self, who: str) -> str:
        return self.cookies[who]

    def principal(self, who: str) -> Principal:
        return self.app.accounts().authenticate(self.cookie(who))

    def allocation(self, member: str) -> Allocation:
        with self.app.uow() as uow:
            return uow.families.get(self.family_id).allocation(self.ids[member])

    def url(self, tail: str = "") -> str:
        return f"/app/families/{self.family_id}{tail}"


def sign_in(client: TestClient, login: str, password: str) -> str:
    answer = client.post(
        "/login", data={"login": login, "password": password}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    return answer.cookies[SESSION_COOKIE]


def charge(app: App, subscriber: str, used: int, session: str) -> ChargingAnswer:
    """A data session on *subscriber*: asks for *used* bytes, then reports them used."""
    first = app.charging.handle(
        ChargingRequest(
            session,
            0,
            RequestType.INITIAL,
            subscriber,
            (ServiceUse(Resource.DATA, requested=used),),
        )
    )
    if first.services and first.services[0].granted:
        app.charging.handle(
            ChargingRequest(
                session,
                1,
                RequestType.TERMINATION,
                subscriber,
                (ServiceUse(Resource.DATA, used=used),),
            )
        )
    return first


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """The demo world, built once: `famsim demo`'s own set-up (catalog, stock at the
    built-in SM-DP+, the demo family on a cycle begun days ago, the demo sign-ins), an
    operator key with every scope and one with plans:read only, a second family (someone
    else's), and some data used on the owner's line."""
    directory = tmp_path_factory.mktemp("web-template")
    app = bootstrap(Settings(database_url=f"sqlite:///{directory}/famsim.db", data_dir=directory))
    try:
        family_id, _ = _set_up(app)
        other = app.bus.handle(
            c.CreateFamily(name="Lee family", plan_code=DEMO_PLAN, owner_name="Lee")
        )
        accounts = app.accounts()
        keys = {
            "all": demo_operator_key(accounts),
            "plans": accounts.create_api_key("tests: plans only", [Scope.PLANS_READ])[0],
        }
        with app.uow() as uow:
            family = uow.families.get(family_id)
        ids = {member.name: member.id for member in family.members.values()}
        assert charge(app, OWNER_LINE, OWNER_USED, "template-owner").services[0].granted
        # Each person signs in once, through the page; every copy keeps those sessions.
        api = create_api(app)
        cookies = {"operator": keys["all"], "plans": keys["plans"]}
        for person in DEMO_LOGINS:
            browser = TestClient(api)
            cookies[person.role] = sign_in(browser, person.login, person.password)
    finally:
        app.close()
    return Template(directory, family_id, str(other), ids, keys, cookies)


def _opened(template: Template, directory: Path) -> Web:
    shutil.copytree(template.directory, directory)
    app = bootstrap(Settings(database_url=f"sqlite:///{directory}/famsim.db", data_dir=directory))
    return Web(
        app,
        create_api(app),
        template.family_id,
        template.other_family_id,
        template.ids,
        template.keys,
        template.cookies,
    )


@pytest.fixture(scope="module")
def shared(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    """One copy of the demo world for tests that only look (never change it here)."""
    web = _opened(template, tmp_path_factory.mktemp("web-shared") / "data")
    try:
        yield web
    finally:
        web.app.close()


@pytest.fixture
def fresh(template: Template, tmp_path: Path) -> Iterator[Web]:
    """A copy of the demo world of this test's own, to change."""
    web = _opened(template, tmp_path / "data")
    try:
        yield web
    finally:
        web.app.close()


# ================================================================== reading the pages
class _Forms(HTMLParser):
    """Every form of a page: its attributes and the fields a browser would send."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[tuple[dict[str, str], list[tuple[str, str]]]] = []
        self._in_form = False
        self._select: tuple[str, list[list[Any]]] | None = None  # name, [value, selected]
        self._option_text = False  # an <option> without value: its text is the value
        self._textarea: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((a, []))
            self._in_form = True
        elif not self._in_form:
            return
        elif tag == "input" and "name" in a and a.get("type") not in ("submit", "button"):
            if a.get("type") != "checkbox" or "checked" in a:
                self.forms[-1][1].append((a["name"], a.get("value", "on")))
        elif tag == "select" and "name" in a:
            self._select = (a["name"], [])
        elif tag == "option" and self._select is not None:
            self._select[1].append([a.get("value", ""), "selected" in a])
            self._option_text = "value" not in a
        elif tag == "textarea" and "name" in a:
            self._textarea = (a["name"], [])

    def handle_data(self, data: str) -> None:
        if self._option_text and self._select is not None:
            self._select[1][-1][0] += data
        if self._textarea is not None:
            self._textarea[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "option":
            self._option_text = False
        elif tag == "select" and self._select is not None:
            name, options = self._select
            chosen = [value for value, selected in options if selected] or [options[0][0]]
            self.forms[-1][1].append((name, str(chosen[0]).strip()))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.forms[-1][1].append((self._textarea[0], "".join(self._textarea[1])))
            self._textarea = None


def form_fields(html: str, wanted: Callable[[dict[str, str]], bool]) -> dict[str, str]:
    """The fields of the page's first form *wanted* accepts, as a browser would post them."""
    parser = _Forms()
    parser.feed(html)
    return dict(next(fields for attrs, fields in parser.forms if wanted(attrs)))


def allocation_form(html: str) -> dict[str, str]:
    return form_fields(html, lambda a: a.get("method") == "post" and "action" not in a)


def element(html: str, attribute: str) -> str:
    """The outer HTML of the first element carrying *attribute* (``data-member="X"``),
    up to its own closing tag (nested elements of the same name counted)."""
    opening = re.search(rf"<(\w+)[^>]*\s{re.escape(attribute)}[\s>]", html)
    assert opening, f"no element with {attribute}"
    tag = opening.group(1)
    depth, position = 0, opening.start()
    for found in re.finditer(rf"<(/?){tag}\b[^>]*>", html[position:]):
        depth += -1 if found.group(1) else 1
        if depth == 0:
            return html[position : position + found.end()]
    raise AssertionError(f"{attribute}: <{tag}> never closed")


def members_of(html: str) -> list[str]:
    return re.findall(r'data-member="([^"]+)"', html)


def labelled(html: str, field_id: str) -> bool:
    return f'<label for="{field_id}"' in html and f'id="{field_id}"' in html


def alert(html: str) -> str:
    found = re.search(r'role="alert"[^>]*>([^<]*)<', html)
    return found.group(1) if found else ""


def assert_page(answer: Any, status: int) -> None:
    """An HTML page (never a JSON problem) with *status*."""
    assert answer.status_code == status, answer.text[:2000]
    assert answer.headers["content-type"].startswith("text/html")
    assert "<html" in answer.text


def code_in(html: str, name: str) -> str:
    found = re.search(rf"data-{name}-code>([^<]+)<", html)
    assert found, f"no {name} code on the page"
    return found.group(1).strip()


def subscriptions(web: Web, number: str) -> list[Any]:
    with web.app.uow() as uow:
        family = uow.families.get(web.family_id)
    line = next(line for line in family.lines.values() if line.msisdn.e164 == number)
    return list(line.subscriptions)


def valid_eid(n: int) -> str:
    return str(Eid.from_body(f"8904903200001000000000000{n:05d}"))


# ============================================================== signing in and out
@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/", "/login"),
        ("/app", "/login?next=%2Fapp"),
        ("/app/families/f1/bill?x=1", "/login?next=" + quote("/app/families/f1/bill?x=1", safe="")),
    ],
    ids=["root", "app", "deep-page-with-query"],
)
def test_signed_out_visitors_are_sent_to_sign_in(shared: Web, path: str, target: str) -> None:
    answer = shared.client().get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == target


def test_the_login_page_labels_its_fields(shared: Web) -> None:
    answer = shared.client().get("/login?next=/app/security")
    assert_page(answer, 200)
    for field in ("login", "password", "totp", "api_key"):
        assert labelled(answer.text, field), field
    assert form_fields(answer.text, lambda a: a.get("action") == "/login")["next"] == (
        "/app/security"
    )


def test_a_wrong_password_is_refused_and_changes_nothing(fresh: Web) -> None:
    browser = fresh.client()
    answer = browser.post(
        "/login",
        data={"login": DEMO_LOGINS[0].login, "password": "not the password"},
        follow_redirects=False,
    )
    assert_page(answer, 401)
    assert "do not match" in alert(answer.text)
    assert 'value="taiman@chan-family.example"' in answer.text  # the login typed, kept
    assert SESSION_COOKIE not in answer.cookies
    assert "set-cookie" not in answer.headers
    assert browser.get("/app", follow_redirects=False).headers["location"].startswith("/login")


def test_the_right_password_sets_a_strict_cookie_and_opens_the_family(fresh: Web) -> None:
    browser = fresh.client()
    person = DEMO_LOGINS[0]
    answer = browser.post(
        "/login", data={"login": person.login, "password": person.password}, follow_redirects=False
    )
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "httponly" in cookie.lower()
    assert "samesite=strict" in cookie.lower()
    assert "path=/" in cookie.lower()
    landed = browser.get(answer.headers["location"])
    assert_page(landed, 200)
    assert landed.url.path == fresh.url()
    assert "Chan family" in landed.text


def test_sign_in_goes_back_to_the_page_asked_for(fresh: Web) -> None:
    browser = fresh.client()
    person = DEMO_LOGINS[0]
    answer = browser.post(
        "/login",
        data={"login": person.login, "password": person.password, "next": fresh.url("/bill")},
        follow_redirects=False,
    )
    assert answer.headers["location"] == fresh.url("/bill")


@pytest.mark.parametrize(
    ("target", "followed"),
    [
        ("//evil.example", "/app"),
        ("https://evil.example/x", "/app"),
        ("evil.example/x", "/app"),
        ("/\\evil.example", None),  # kept as a path; the Location must not become //
    ],
    ids=["scheme-relative", "absolute", "relative", "backslash"],
)
def test_sign_in_never_sends_the_browser_off_site(
    fresh: Web, target: str, followed: str | None
) -> None:
    person = DEMO_LOGINS[0]
    shown = fresh.client().get("/login", params={"next": target})
    kept = form_fields(shown.text, lambda a: a.get("action") == "/login")["next"]
    answer = fresh.client().post(
        "/login",
        data={"login": person.login, "password": person.password, "next": target},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert on_site(answer.headers["location"]), answer.headers["location"]
    if followed is not None:
        assert (kept, answer.headers["location"]) == (followed, followed)


def on_site(location: str) -> bool:
    """A browser following *location* stays on this site (``\\`` counts as ``/``)."""
    parts = urlsplit(location)
    return (
        not parts.scheme
        and not parts.netloc
        and location.startswith("/")
        and not location.replace("\\", "/").startswith("//")
    )


def test_signing_out_ends_the_session(fresh: Web) -> None:
    browser = fresh.client("owner")
    old = fresh.cookie("owner")
    assert browser.get("/app", follow_redirects=False).headers["location"] == fresh.url()
    answer = browser.post("/logout", headers={"Origin": ORIGIN}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"
    assert f'{SESSION_COOKIE}=""' in answer.headers["set-cookie"]
    replayed = fresh.client()
    replayed.cookies.set(SESSION_COOKIE, old)  # the old cookie, kept by an attacker
    for path in ("/app", fresh.url()):
        answer = replayed.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login")


# ========================================================================= CSRF
def test_a_sign_in_posted_from_another_site_is_refused(fresh: Web) -> None:
    person = DEMO_LOGINS[0]
    browser = fresh.client()
    answer = browser.post(
        "/login",
        data={"login": person.login, "password": person.password},
        headers={"Origin": EVIL},
        follow_redirects=False,
    )
    assert_page(answer, 403)
    assert "set-cookie" not in answer.headers
    same_site = browser.post(
        "/login",
        data={"login": person.login, "password": person.password},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    assert same_site.status_code == 303
    assert SESSION_COOKIE in same_site.cookies


def test_an_allocation_posted_from_another_site_changes_nothing(fresh: Web) -> None:
    owner = fresh.client("owner")
    page = fresh.url(f"/members/{fresh.ids[CHILD]}/allocation")
    fields = allocation_form(owner.get(page).text) | {"quota-data-home": "1GB"}
    before = fresh.allocation(CHILD)
    answer = owner.post(page, data=fields, headers={"Origin": EVIL}, follow_redirects=False)
    assert_page(answer, 403)
    assert fresh.allocation(CHILD) == before
    answer = owner.post(page, data=fields, headers={"Origin": ORIGIN}, follow_redirects=False)
    assert answer.status_code == 303
    assert fresh.allocation(CHILD).limit(Resource.DATA, HOME).quota == GB


# ============================================================================ the owner
def test_the_owners_home_shows_members_pools_usage_and_the_chart(shared: Web) -> None:
    answer = shared.client("owner").get(shared.url())
    assert_page(answer, 200)
    html = answer.text
    assert members_of(html) == [OWNER, ADULT, TEEN, CHILD]
    assert 'data-pool="data:home"' in html
    assert "data-usage" in element(html, f'data-member="{OWNER}"')
    assert '<svg class="cycle-chart"' in html
    chart = ET.fromstring(re.search(r'<svg class="cycle-chart".*?</svg>', html, re.S).group(0))
    assert chart.get("role") == "img"
    assert "Home data over the cycle" in html
    gauge = element(html, 'data-pool="data:home"')
    assert f'data-used="{OWNER_USED}"' in gauge
    assert 'role="img"' in gauge


def test_the_live_part_of_home_is_a_fragment(shared: Web) -> None:
    answer = shared.client("owner").get(shared.url("/live"))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "<html" not in answer.text
    assert "<body" not in answer.text
    assert 'data-pool="data:home"' in answer.text
    assert members_of(answer.text) == [OWNER, ADULT, TEEN, CHILD]


@pytest.mark.parametrize(
    "tail", ["/members", "/lines", "/bill", "/members/{child}", "/members/{adult}/allocation"]
)
def test_the_owners_pages_open(shared: Web, tail: str) -> None:
    path = shared.url(tail.format(child=shared.ids[CHILD], adult=shared.ids[ADULT]))
    assert_page(shared.client("owner").get(path), 200)


def test_the_order_form_offers_the_profile_types_in_stock(shared: Web) -> None:
    """The demo stocks phone-5g and watch-lte eSIMs: both are offered, nothing else."""
    answer = shared.client("owner").get(shared.url("/lines"))
    profiles = element(answer.text, 'id="order-profile"')
    assert re.findall(r"<option[^>]*>([^<]+)</option>", profiles) == ["phone-5g", "watch-lte"]


def test_the_owner_sees_the_familys_audit_and_own_sign_ins(shared: Web) -> None:
    answer = shared.client("owner").get("/app/security")
    assert_page(answer, 200)
    assert 'id="logins-heading"' in answer.text
    audit = element(answer.text, 'aria-labelledby="audit-heading"')
    assert "<tbody>" in audit
    assert "shown to its owner" not in audit


def test_the_bill_adds_up_exactly(shared: Web) -> None:
    bill = shared.api.state.dashboard.bill(shared.principal("owner"), shared.family_id)
    assert bill["lines"], "a bill has at least the plan's fee"
    assert sum(item["minor"] for item in bill["lines"]) == bill["total_minor"]
    assert {"plan", "line"} <= {item["kind"] for item in bill["lines"]}
    answer = shared.client("owner").get(shared.url("/bill"))
    assert_page(answer, 200)
    assert "HK$" in answer.text
    total = re.search(r"data-total><strong>([^<]+)<", answer.text).group(1)
    assert total == Formatter("en").money(bill["total_minor"], "HKD")
    assert len(re.findall(r"data-bill-item=", answer.text)) == len(bill["lines"])


# =================================================================== the allocation editor
def allocation_page(web: Web, member: str = CHILD) -> str:
    return web.url(f"/members/{web.ids[member]}/allocation")


def post_allocation(web: Web, changes: dict[str, str], member: str = CHILD) -> Any:
    owner = web.client("owner")
    fields = allocation_form(owner.get(allocation_page(web, member)).text) | changes
    return owner.post(allocation_page(web, member), data=fields, follow_redirects=False)


def test_the_editor_shows_the_allocation_as_it_stands(shared: Web) -> None:
    answer = shared.client("owner").get(allocation_page(shared))
    assert_page(answer, 200)
    fields = allocation_form(answer.text)
    assert fields["quota-data-home"] == "3GB"
    assert fields["cap-data-home"] == "3GB"
    assert fields["quota-sms-home"] == "50"
    assert fields["money-cap"] == "0.00"
    assert fields["exhaustion"] == "block"
    assert "roaming" not in fields  # roaming not allowed: the box is unticked
    for field in ("quota-data-home", "cap-data-home", "money-cap", "hotspot-quota"):
        assert labelled(answer.text, field), field


def test_an_amount_that_is_not_one_is_shown_by_its_field(fresh: Web) -> None:
    before = fresh.allocation(CHILD)
    answer = post_allocation(fresh, {"quota-data-home": "lots"})
    assert_page(answer, 422)
    field = re.search(r'<input id="quota-data-home"[^>]*>', answer.text).group(0)
    assert 'aria-invalid="true"' in field
    assert "quota-data-home-error" in field  # described by its error
    assert 'id="quota-data-home-error"' in answer.text
    assert 'value="lots"' in field  # what was typed, kept
    assert fresh.allocation(CHILD) == before


def test_a_cap_below_the_quota_is_shown_by_the_cap_field(fresh: Web) -> None:
    before = fresh.allocation(CHILD)
    answer = post_allocation(fresh, {"quota-data-home": "2GB", "cap-data-home": "1GB"})
    assert fresh.allocation(CHILD) == before
    assert_page(answer, 422)
    assert 'id="cap-data-home-error"' in answer.text
    assert "cannot be below the quota" in answer.text


def test_a_money_cap_with_too_many_decimals_is_refused(fresh: Web) -> None:
    before = fresh.allocation(CHILD)
    answer = post_allocation(fresh, {"money-cap": "1.234"})
    assert_page(answer, 422)
    assert 'id="money-cap-error"' in answer.text
    assert "HKD" in element(answer.text, 'id="money-cap-error"')
    assert fresh.allocation(CHILD) == before


def test_a_digit_that_is_not_a_number_is_shown_by_its_field(fresh: Web) -> None:
    before = fresh.allocation(CHILD)
    answer = post_allocation(fresh, {"quota-data-home": "²"})
    assert fresh.allocation(CHILD) == before
    assert_page(answer, 422)
    assert 'id="quota-data-home-error"' in answer.text


def test_a_valid_change_is_saved_and_then_enforced_by_charging(fresh: Web) -> None:
    answer = post_allocation(fresh, {"quota-data-home": "1GB", "cap-data-home": "1GB"})
    assert answer.status_code == 303
    assert answer.headers["location"] == fresh.url("/members?done=allocation")
    saved = fresh.allocation(CHILD)
    assert (saved.limit(Resource.DATA, HOME).quota, saved.limit(Resource.DATA, HOME).hard_cap) == (
        GB,
        GB,
    )
    assert saved.limit(Resource.SMS, HOME).quota == 50  # the rest as it was
    flash = fresh.client("owner").get(answer.headers["location"])
    assert "Allocation saved." in flash.text
    shown = allocation_form(fresh.client("owner").get(allocation_page(fresh)).text)
    assert (shown["quota-data-home"], shown["cap-data-home"]) == ("1GB", "1GB")

    assert post_allocation(fresh, {"quota-data-home": "0", "cap-data-home": "0"}).status_code == 303
    assert fresh.allocation(CHILD).limit(Resource.DATA, HOME).hard_cap == 0
    refused = charge(fresh.app, CHILD_LINE, 10**6, "child-at-cap")
    assert refused.outcome == "success"  # the line is fine; the service is refused
    assert refused.services[0].outcome != "success"
    assert refused.services[0].granted == 0
    granted = charge(fresh.app, OWNER_LINE, 10**6, "owner-free")
    assert granted.services[0].outcome == "success"
    assert granted.services[0].granted > 0


# ============================================================================== privacy
def test_an_adult_does_not_see_the_owners_usage(shared: Web) -> None:
    answer = shared.client("adult").get(shared.url())
    assert_page(answer, 200)
    owner = element(answer.text, f'data-member="{OWNER}"')
    assert "data-usage" not in owner
    assert "data-meter" not in owner
    assert "private to this member" in owner
    assert "data-usage" in element(answer.text, f'data-member="{CHILD}"')  # her ward
    assert "data-usage" not in element(answer.text, f'data-member="{TEEN}"')  # not hers
    assert 'data-pool="data:home"' in answer.text  # adults see the pools


def test_an_adult_is_refused_the_owners_detail(shared: Web) -> None:
    answer = shared.client("adult").get(shared.url(f"/members/{shared.ids[OWNER]}"))
    assert_page(answer, 403)
    assert "not shared" in answer.text
    assert "data-usage" not in answer.text


def test_an_adult_sees_her_wards_detail(shared: Web) -> None:
    answer = shared.client("adult").get(shared.url(f"/members/{shared.ids[CHILD]}"))
    assert_page(answer, 200)
    assert CHILD_LINE in answer.text
    assert "data-usage" in answer.text


@pytest.mark.parametrize("tail", ["/members/{child}/allocation", "/members/{adult}/allocation"])
def test_an_adult_may_not_edit_allocations(shared: Web, tail: str) -> None:
    path = shared.url(tail.format(child=shared.ids[CHILD], adult=shared.ids[ADULT]))
    answer = shared.client("adult").get(path)
    assert_page(answer, 403)
    assert "HK$" not in answer.text


def test_an_adult_sees_no_estimate_only_her_part_of_invoices(shared: Web) -> None:
    answer = shared.client("adult").get(shared.url("/bill"))
    assert_page(answer, 200)
    assert "data-bill-item" not in answer.text  # the cycle so far is the owner's
    assert "No invoices yet." in answer.text


def test_closed_cycles_show_as_invoices_each_member_its_part(fresh: Web) -> None:
    from datetime import UTC, datetime, timedelta

    billing = fresh.app.billing()
    [first, *_] = billing.close(fresh.family_id, datetime.now(UTC) + timedelta(days=40))
    owner = fresh.client("owner").get(fresh.url("/bill"))
    assert_page(owner, 200)
    assert f'data-invoice="{first.number}"' in owner.text
    page = fresh.client("owner").get(fresh.url(f"/invoices/{first.number}"))
    assert_page(page, 200)
    assert page.text.count("data-line-kind=") == len(first.lines)
    assert Formatter("en").money(first.total, "HKD") in page.text
    adult = fresh.client("adult").get(fresh.url(f"/invoices/{first.number}"))
    assert_page(adult, 200)
    own = [line for line in first.lines if line.member_id == fresh.ids[ADULT]]
    assert adult.text.count("data-line-kind=") == len(own)
    assert adult.text.count("data-share=") == 1
    missing = fresh.client("owner").get(fresh.url("/invoices/INV-2026-999999"))
    assert_page(missing, 404)

    pdf = fresh.client("adult").get(fresh.url(f"/invoices/{first.number}/pdf"))
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    from pypdf import PdfReader

    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert first.number in text
    assert OWNER not in text  # her part only: not the owner's lines nor his share


def test_an_adult_sees_her_sign_ins_but_not_the_familys_audit(shared: Web) -> None:
    answer = shared.client("adult").get("/app/security")
    assert_page(answer, 200)
    logins = element(answer.text, 'aria-labelledby="logins-heading"')
    assert "<tbody>" in logins
    assert "testclient" in logins  # her sign-in, from TestClient's address
    audit = element(answer.text, 'aria-labelledby="audit-heading"')
    assert "shown to its owner" in audit
    assert "<tbody>" not in audit


def test_a_child_sees_no_pools_and_only_her_own_usage(shared: Web) -> None:
    answer = shared.client("child").get(shared.url())
    assert_page(answer, 200)
    html = answer.text
    assert "data-pool" not in html
    assert "cycle-chart" not in html
    mine = element(html, f'data-member="{CHILD}"')
    assert mine.count("data-usage") >= 1
    assert html.count("data-usage") == mine.count("data-usage")
    live = shared.client("child").get(shared.url("/live")).text
    assert "data-pool" not in live


@pytest.mark.parametrize("who", ["owner", "adult", "child"])
def test_someone_elses_family_is_not_found(shared: Web, who: str) -> None:
    for tail in ("", "/members", "/bill", "/lines", "/live"):
        answer = shared.client(who).get(f"/app/families/{shared.other_family_id}{tail}")
        assert_page(answer, 404)
        assert "Lee" not in answer.text


def test_sharing_lets_the_owner_see_an_adults_detail_until_she_stops(fresh: Web) -> None:
    detail = fresh.url(f"/members/{fresh.ids[ADULT]}")
    owner, adult = fresh.client("owner"), fresh.client("adult")
    assert owner.get(detail).status_code == 403
    shared_now = adult.post(
        fresh.url("/sharing"),
        data={"grantee": fresh.ids[OWNER], "share": "on"},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    assert shared_now.status_code == 303
    assert shared_now.headers["location"] == fresh.url("/members?done=shared")
    assert "sees my detail" in adult.get(shared_now.headers["location"]).text
    answer = owner.get(detail)
    assert_page(answer, 200)
    assert "+85261230002" in answer.text
    stopped = adult.post(
        fresh.url("/sharing"),
        data={"grantee": fresh.ids[OWNER], "share": ""},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    assert stopped.status_code == 303
    assert_page(owner.get(detail), 403)


# ===================================================================== the operator console
def test_the_operator_signs_in_with_an_api_key(fresh: Web) -> None:
    browser = fresh.client()
    answer = browser.post(
        "/login/operator", data={"api_key": fresh.keys["all"]}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app/operator"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert browser.get("/app", follow_redirects=False).headers["location"] == "/app/operator"
    assert_page(browser.get("/app/operator"), 200)


def test_the_console_shows_engines_families_stock_and_plans(shared: Web) -> None:
    answer = shared.client("operator").get("/app/operator")
    assert_page(answer, 200)
    html = answer.text
    for section in ("engine-heading", "families-heading", "stock-heading", "plans-heading"):
        assert f'id="{section}"' in html, section
    assert "data-engine=" in html
    assert "Charging API (this server)" in html
    assert 'data-family="Chan family"' in html
    assert 'data-family="Lee family"' in html
    assert DEMO_PLAN in element(html, 'aria-labelledby="plans-heading"')
    assert "watch-lte" in element(html, 'aria-labelledby="stock-heading"')


@pytest.mark.parametrize(
    ("query", "found"),
    [("Chan", ["Chan family"]), ("chan tai", ["Chan family"]), ("nobody", [])],
    ids=["family-name", "owner-name", "nobody"],
)
def test_the_console_finds_families(shared: Web, query: str, found: list[str]) -> None:
    answer = shared.client("operator").get("/app/operator", params={"q": query})
    assert_page(answer, 200)
    assert re.findall(r'data-family="([^"]+)"', answer.text) == found
    assert ("No family matches." in answer.text) is (not found)


def test_the_console_by_id(shared: Web) -> None:
    answer = shared.client("operator").get("/app/operator", params={"q": shared.family_id})
    assert re.findall(r'data-family="([^"]+)"', answer.text) == ["Chan family"]


def test_a_plans_only_key_sees_plans_and_nothing_else(shared: Web) -> None:
    answer = shared.client("plans").get("/app/operator")
    assert_page(answer, 200)
    assert 'id="plans-heading"' in answer.text
    for section in ("families-heading", "stock-heading", "engine-heading"):
        assert f'id="{section}"' not in answer.text, section
    assert "Chan family" not in answer.text
    assert_page(shared.client("plans").get(shared.url()), 403)


def test_a_bad_key_is_refused(shared: Web) -> None:
    browser = shared.client()
    answer = browser.post("/login/operator", data={"api_key": "fsk_nothing_like_a_key"})
    assert_page(answer, 401)
    assert "not valid" in answer.text
    assert 'id="key-error"' in answer.text
    assert "set-cookie" not in answer.headers
    assert browser.get("/app/operator", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("who", ["owner", "adult", "child"])
def test_family_users_may_not_open_the_console(shared: Web, who: str) -> None:
    answer = shared.client(who).get("/app/operator")
    assert_page(answer, 403)
    assert "families-heading" not in answer.text


# ============================================================================ languages
def test_picking_a_language_is_remembered(shared: Web) -> None:
    browser = shared.client("owner")
    answer = browser.get(
        "/lang", params={"lang": "zh-Hant-HK", "next": "/app"}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app"
    assert "famsim_lang=zh-Hant-HK" in answer.headers["set-cookie"]
    for path in (shared.url(), shared.url("/members"), "/login"):
        page = browser.get(path)
        assert_page(page, 200)
        assert '<html lang="zh-Hant-HK">' in page.text
        assert page.headers["content-language"] == "zh-Hant-HK"


@pytest.mark.parametrize(
    ("accept", "tag"),
    [("ru", "ru"), ("zh-TW,zh;q=0.8", "zh-Hant-HK"), ("zh-CN", "zh-Hans"), ("de, fr", "en")],
    ids=["ru", "zh-TW", "zh-CN", "unknown"],
)
def test_the_browsers_language_without_a_cookie(shared: Web, accept: str, tag: str) -> None:
    answer = shared.client(**{"Accept-Language": accept}).get("/login")
    assert f'<html lang="{tag}">' in answer.text


def test_an_unknown_language_falls_back_to_english(shared: Web) -> None:
    browser = shared.client()
    answer = browser.get("/lang", params={"lang": "xx", "next": "/login"}, follow_redirects=False)
    assert answer.status_code == 303
    assert "famsim_lang=en" in answer.headers["set-cookie"]
    assert '<html lang="en">' in browser.get("/login").text


@pytest.mark.parametrize(
    "target", ["https://evil.example", "//evil.example"], ids=["absolute", "scheme-relative"]
)
def test_the_language_picker_never_sends_the_browser_off_site(shared: Web, target: str) -> None:
    answer = shared.client().get(
        "/lang", params={"lang": "ru", "next": target}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app"


# =============================================================================== errors
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/app/families/no-such-family", 404),
        ("/app/families/no-such-family/bill", 404),
        ("/app/families/{family}/members/no-such-member", 404),
        ("/app/families/{family}/members/no-such-member/allocation", 404),
        ("/app/families/{family}/lines/12345/activation", 422),
        ("/app/families/{family}/lines/89852000012300000X4/qr.svg", 422),
        ("/app/families/{family}/lines/not-an-iccid-at-all/change-device", 422),
        ("/app/families/" + "x" * 80, 422),
        ("/app/no-such-page", 404),
        ("/app/security?family=" + "x" * 80, 422),
    ],
    ids=[
        "unknown-family",
        "unknown-family-bill",
        "unknown-member",
        "unknown-member-allocation",
        "short-iccid",
        "letters-in-iccid-qr",
        "not-an-iccid",
        "family-id-too-long",
        "unknown-page",
        "family-query-too-long",
    ],
)
def test_errors_on_web_paths_are_pages(shared: Web, path: str, status: int) -> None:
    answer = shared.client("owner").get(path.format(family=shared.family_id))
    assert_page(answer, status)
    assert "problem+json" not in answer.headers["content-type"]
    assert '"status":' not in answer.text


def test_errors_of_the_api_stay_problems(shared: Web) -> None:
    operator = {"Authorization": f"Bearer {shared.keys['all']}"}
    for path, headers, status in (
        ("/v1/families/no-such-family", operator, 404),
        ("/v1/families", {}, 401),
    ):
        answer = shared.client().get(path, headers=headers)
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["status"] == status


def test_posts_with_odd_values_are_pages_never_500(fresh: Web) -> None:
    owner = fresh.client("owner")
    for path, data in (
        (fresh.url("/sharing"), {"grantee": "no-such-member", "share": "on"}),
        (fresh.url("/members/no-such-member/switches"), {"hotspot_quota": "1GB"}),
        (fresh.url("/lines"), {"member": "x"}),
        (fresh.url("/members/no-such-member/allocation"), {"quota-data-home": "1GB"}),
        (
            fresh.url("/invitations"),
            {"name": "X", "role": "adult", "channel": "email", "address": "x"},
        ),
    ):
        answer = owner.post(path, data=data, headers={"Origin": ORIGIN}, follow_redirects=False)
        assert 400 <= answer.status_code < 500, (path, answer.status_code)
        assert answer.headers["content-type"].startswith("text/html"), path


# ================================================================================ lines
def test_the_owner_orders_a_watch_esim_and_sees_how_to_install_it(fresh: Web) -> None:
    owner = fresh.client("owner")
    answer = owner.post(
        fresh.url("/lines"),
        data={
            "member": fresh.ids[TEEN],
            "device_kind": "watch",
            "profile_type": "watch-lte",
            "eid": valid_eid(77777),
        },
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    assert answer.status_code == 303, alert(answer.text)
    found = re.fullmatch(
        re.escape(fresh.url("/lines/")) + r"([0-9]+F?)/activation", answer.headers["location"]
    )
    assert found, answer.headers["location"]
    iccid = found.group(1)
    page = owner.get(answer.headers["location"])
    assert_page(page, 200)
    activation, confirmation = code_in(page.text, "activation"), code_in(page.text, "confirmation")
    assert activation.startswith("LPA:1$")
    assert re.fullmatch(r"[0-9]{4,}", confirmation)
    assert confirmation not in activation  # the confirmation code travels apart
    assert 'class="steps"' not in page.text  # a new line, not a device change
    qr = owner.get(fresh.url(f"/lines/{iccid}/qr.svg"))
    assert qr.status_code == 200
    assert qr.headers["content-type"].startswith("image/svg+xml")
    assert ET.fromstring(qr.content).tag.endswith("svg")
    lines = owner.get(fresh.url("/lines")).text
    assert f"/lines/{iccid}/activation" in element(lines, f'data-member="{TEEN}"')


def test_an_invalid_eid_shows_the_order_form_again(fresh: Web) -> None:
    typed = {"member": fresh.ids[TEEN], "device_kind": "watch", "profile_type": "watch-lte"}
    answer = fresh.client("owner").post(
        fresh.url("/lines"), data=typed | {"eid": "1234"}, follow_redirects=False
    )
    assert_page(answer, 422)
    assert 'id="order-error"' in answer.text
    assert "EID" in alert(answer.text)
    fields = form_fields(answer.text, lambda a: a.get("action") == fresh.url("/lines"))
    assert (fields["eid"], fields["member"], fields["device_kind"]) == (
        "1234",
        fresh.ids[TEEN],
        "watch",
    )
    assert len(subscriptions(fresh, "+85251230003")) == 1  # nothing ordered


def test_the_device_change_wizard(fresh: Web) -> None:
    owner = fresh.client("owner")
    old = next(s for s in subscriptions(fresh, CHILD_LINE) if s.primary)
    wizard = fresh.url(f"/lines/{old.iccid}/change-device")
    page = owner.get(wizard)
    assert_page(page, 200)
    for field in ("change-kind", "change-profile", "change-eid", "change-imei"):
        assert labelled(page.text, field), field
    assert 'aria-current="step"' in page.text
    fields = form_fields(page.text, lambda a: a.get("method") == "post" and "action" not in a)
    assert fields["device_kind"] == "phone"  # the device it replaces
    answer = owner.post(
        wizard,
        data=fields | {"profile_type": "phone-5g", "eid": valid_eid(66666)},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    assert answer.status_code == 303, alert(answer.text)
    new = re.fullmatch(
        re.escape(fresh.url("/lines/")) + r"([0-9]+F?)/activation", answer.headers["location"]
    )
    assert new
    assert new.group(1) != str(old.iccid)
    step2 = owner.get(answer.headers["location"])
    assert_page(step2, 200)
    assert '<ol class="steps"' in step2.text
    assert code_in(step2.text, "activation").startswith("LPA:1$")
    assert str(new.group(1)) in {str(s.iccid) for s in subscriptions(fresh, CHILD_LINE)}


def test_the_device_change_refuses_a_bad_eid_on_its_form(fresh: Web) -> None:
    old = next(s for s in subscriptions(fresh, CHILD_LINE) if s.primary)
    answer = fresh.client("owner").post(
        fresh.url(f"/lines/{old.iccid}/change-device"),
        data={"device_kind": "phone", "profile_type": "phone-5g", "eid": "89049"},
        follow_redirects=False,
    )
    assert_page(answer, 422)
    assert 'id="change-error"' in answer.text
    assert len(subscriptions(fresh, CHILD_LINE)) == 2


def test_the_switches_save_hotspot_and_roaming_only(fresh: Web) -> None:
    before = fresh.allocation(ADULT)
    assert before.roaming_allowed
    lines = fresh.client("owner").get(fresh.url("/lines")).text
    action = fresh.url(f"/members/{fresh.ids[ADULT]}/switches")
    fields = form_fields(lines, lambda a: a.get("action") == action)
    assert fields.get("roaming") == "on"
    fields = {k: v for k, v in fields.items() if k != "roaming"} | {"hotspot_quota": "1GB"}
    answer = fresh.client("owner").post(
        action, data=fields, headers={"Origin": ORIGIN}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == fresh.url("/lines?done=switches")
    after = fresh.allocation(ADULT)
    assert (after.hotspot_quota, after.roaming_allowed) == (GB, False)
    assert after.limits == before.limits
    assert after.money_cap == before.money_cap
    assert after.exhaustion == before.exhaustion
    assert after.always_allowed == before.always_allowed
    assert after.quiet_hours == before.quiet_hours
    assert (
        "Hotspot and roaming saved." in fresh.client("owner").get(answer.headers["location"]).text
    )


def test_a_hotspot_quota_that_is_not_an_amount_is_refused(fresh: Web) -> None:
    before = fresh.allocation(ADULT)
    answer = fresh.client("owner").post(
        fresh.url(f"/members/{fresh.ids[ADULT]}/switches"),
        data={"hotspot_quota": "lots", "roaming": "on"},
        follow_redirects=False,
    )
    assert_page(answer, 422)
    assert "lots" in alert(answer.text)
    assert fresh.allocation(ADULT) == before


def test_only_the_owner_flips_the_switches(shared: Web) -> None:
    answer = shared.client("adult").post(
        shared.url(f"/members/{shared.ids[CHILD]}/switches"),
        data={"hotspot_quota": "1GB"},
        follow_redirects=False,
    )
    assert_page(answer, 403)
