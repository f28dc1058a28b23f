"""The REST API over real HTTP on loopback: sign-in, privacy, allocations, charging, problems."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from api_world import PASSWORD, ApiWorld, build
from famsim.entrypoints.http.app import create_api
from smdp_server import served

pytestmark = pytest.mark.e2e
PROBLEM = "application/problem+json"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ApiWorld, str]]:
    world = build(tmp_path, login_max_failures=3)
    try:
        with served(create_api(world.app)) as url:
            yield world, url
    finally:
        world.app.close()


def bearer(url: str, login: str, password: str = PASSWORD) -> dict[str, str]:
    answer = httpx.post(f"{url}/v1/sessions", json={"login": login, "password": password})
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def key(world: ApiWorld, which: str = "all") -> dict[str, str]:
    return {"Authorization": f"Bearer {world.keys[which]}"}


def test_sign_in_and_see_the_family_as_each_role(world: tuple[ApiWorld, str]) -> None:
    w, url = world
    owner = bearer(url, w.login("owner"))
    me = httpx.get(f"{url}/v1/me", headers=owner).json()
    assert me["member_id"] == w.members["owner"]
    family = httpx.get(f"{url}/v1/families/{w.family_id}", headers=owner).json()
    adult_entry = next(m for m in family["members"] if m["id"] == w.members["adult"])
    assert adult_entry["visibility"] == "totals"
    assert "lines" not in adult_entry
    assert family["pools"]

    adult = bearer(url, w.login("adult"))
    seen = httpx.get(f"{url}/v1/families/{w.family_id}", headers=adult).json()
    owner_entry = next(m for m in seen["members"] if m["id"] == w.members["owner"])
    assert owner_entry["visibility"] == "none"
    assert "usage" not in owner_entry
    refused = httpx.get(
        f"{url}/v1/families/{w.family_id}/members/{w.members['owner']}/usage/daily", headers=adult
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == PROBLEM

    child = bearer(url, w.login("child"))
    assert httpx.get(f"{url}/v1/families/{w.family_id}", headers=child).json()["pools"] is None
    logins = httpx.get(f"{url}/v1/me/logins", headers=child).json()
    assert [e["action"] for e in logins] == ["login"]


def test_a_cookie_session_for_the_browser(world: tuple[ApiWorld, str]) -> None:
    w, url = world
    with httpx.Client(base_url=url) as browser:
        answer = browser.post(
            "/v1/sessions", json={"login": w.login("owner"), "password": PASSWORD, "kind": "cookie"}
        )
        assert answer.status_code == 201
        assert "token" not in answer.json()
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert browser.get("/v1/me").json()["member_id"] == w.members["owner"]
        assert browser.delete("/v1/sessions/current").status_code == 204
        assert browser.get("/v1/me").status_code == 401


def test_wrong_passwords_lock_the_account_out(world: tuple[ApiWorld, str]) -> None:
    w, url = world
    body = {"login": w.login("adult"), "password": "not the password"}
    for _ in range(2):
        wrong = httpx.post(f"{url}/v1/sessions", json=body)
        assert wrong.status_code == 401
        assert wrong.json()["detail"] == "wrong login or password"
    third = httpx.post(f"{url}/v1/sessions", json=body)
    assert third.status_code == 429, "the third failure locks the account"
    locked = httpx.post(
        f"{url}/v1/sessions", json={"login": w.login("adult"), "password": PASSWORD}
    )
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert locked.headers["content-type"] == PROBLEM
    unknown = httpx.post(
        f"{url}/v1/sessions", json={"login": "nobody@example.com", "password": "x"}
    )
    assert unknown.json()["detail"] == "wrong login or password"


def test_only_the_owner_changes_allocations(world: tuple[ApiWorld, str]) -> None:
    w, url = world
    path = f"{url}/v1/families/{w.family_id}/members/{w.members['child']}/allocation"
    body: dict[str, Any] = {
        "limits": [{"resource": "data", "zone": "home", "quota": 2 * 10**9, "hard_cap": 3 * 10**9}],
        "money_cap_minor": 5000,
    }
    assert httpx.put(path, json=body, headers=bearer(url, w.login("adult"))).status_code == 403
    assert httpx.put(path, json=body, headers=bearer(url, w.login("owner"))).status_code == 204
    family = httpx.get(
        f"{url}/v1/families/{w.family_id}", headers=bearer(url, w.login("owner"))
    ).json()
    child = next(m for m in family["members"] if m["id"] == w.members["child"])
    assert child["allocation"]["money_cap_minor"] == 5000
    audit = httpx.get(
        f"{url}/v1/families/{w.family_id}/audit", headers=bearer(url, w.login("owner"))
    ).json()
    changed = [
        e for e in audit if e["action"] == "allocation.changed" and e["actor"].startswith("member:")
    ]
    assert [e["subject"] for e in changed] == [w.members["child"]], "the refused one is not there"
    assert changed[0]["detail"]["money_cap_minor"] == 5000
    too_much = {"limits": [{"resource": "data", "zone": "home", "quota": 10**14}]}
    refused = httpx.put(path, json=too_much, headers=bearer(url, w.login("owner")))
    assert refused.status_code == 422
    assert "pool" in refused.json()["detail"]


def test_charging_needs_the_charging_scope(world: tuple[ApiWorld, str]) -> None:
    w, url = world
    request = {
        "session_id": "s1",
        "request_number": 0,
        "subscriber": "454001230000001",
        "services": [{"resource": "data", "requested": 10**6}],
    }
    assert (
        httpx.post(f"{url}/v1/charging/reserve", json=request, headers=key(w, "plans")).status_code
        == 403
    )
    granted = httpx.post(f"{url}/v1/charging/reserve", json=request, headers=key(w)).json()
    assert granted["outcome"] == "success"
    assert granted["services"][0]["granted"] > 0
    update = {**request, "request_number": 1, "services": [{"resource": "data", "used": 500_000}]}
    assert httpx.post(f"{url}/v1/charging/update", json=update, headers=key(w)).status_code == 200
    end = {**request, "request_number": 2, "services": [{"resource": "data", "used": 100}]}
    assert (
        httpx.post(f"{url}/v1/charging/terminate", json=end, headers=key(w)).json()["outcome"]
        == "success"
    )


def test_charging_a_session_not_open_answers_session_unknown(world: tuple[ApiWorld, str]) -> None:
    """An update or terminate with no reserve before it, or after the terminate: 200 with
    the whole-request outcome ``session_unknown`` (like ``user_unknown``), nothing charged,
    and a retransmission answered alike."""
    w, url = world
    request = {
        "session_id": "never-reserved",
        "request_number": 1,
        "subscriber": "454001230000001",
        "services": [{"resource": "data", "used": 500_000, "requested": 10**6}],
    }
    first = httpx.post(f"{url}/v1/charging/update", json=request, headers=key(w))
    assert first.status_code == 200, first.text
    assert first.json() == {
        "session_id": "never-reserved",
        "request_number": 1,
        "outcome": "session_unknown",
        "zone": None,
        "services": [],
    }
    again = httpx.post(f"{url}/v1/charging/update", json=request, headers=key(w))
    assert again.json() == first.json()

    opened = {
        **request,
        "session_id": "s2",
        "request_number": 0,
        "services": [{"resource": "data"}],
    }
    assert httpx.post(f"{url}/v1/charging/reserve", json=opened, headers=key(w)).is_success
    end = {**opened, "request_number": 1, "services": [{"resource": "data", "used": 100}]}
    ended = httpx.post(f"{url}/v1/charging/terminate", json=end, headers=key(w)).json()
    assert ended["outcome"] == "success"
    for path, number in (("update", 2), ("terminate", 3)):
        late = httpx.post(
            f"{url}/v1/charging/{path}", json={**end, "request_number": number}, headers=key(w)
        )
        assert late.json()["outcome"] == "session_unknown"
    family = httpx.get(f"{url}/v1/families/{w.family_id}", headers=key(w)).json()
    pool = next(p for p in family["pools"] if (p["resource"], p["zone"]) == ("data", "home"))
    assert pool["used"] == 100


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/v1/me", None, 401),
        ("GET", "/v1/nowhere", None, 404),
        ("POST", "/v1/sessions", {"login": "x"}, 422),
        ("POST", "/v1/sessions", "not json", 422),
        ("GET", "/v1/families/nope", None, 404),
    ],
)
def test_errors_are_problems(
    world: tuple[ApiWorld, str], method: str, path: str, body: Any, status: int
) -> None:
    w, url = world
    headers = key(w) if path.startswith("/v1/families") else {}
    content = body if isinstance(body, str) else None
    answer = httpx.request(
        method,
        url + path,
        json=None if content is not None else body,
        content=content,
        headers={**headers, **({"Content-Type": "application/json"} if content else {})},
    )
    assert answer.status_code == status
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["status"] == status
    assert problem["title"]


def test_the_owner_orders_a_line_and_the_member_sees_its_qr(world: tuple[ApiWorld, str]) -> None:
    w, url = world
    owner = bearer(url, w.login("owner"))
    body = {
        "member_id": w.members["adult"],
        "profile_type": "phone-5g",
        "eid": "89049032000010000000000000099959",
    }
    path = f"{url}/v1/families/{w.family_id}/lines"
    assert httpx.post(path, json=body, headers=bearer(url, w.login("adult"))).status_code == 403
    ordered = httpx.post(path, json=body, headers=owner)
    assert ordered.status_code == 201, ordered.text
    line = ordered.json()
    assert line["activation_code"].startswith("LPA:1$SMDP.FAMSIM.LOCALHOST$")
    assert line["confirmation_code"] not in line["activation_code"]
    sub = f"{url}/v1/families/{w.family_id}/subscriptions/{line['iccid']}"
    adult = bearer(url, w.login("adult"))
    code = httpx.get(f"{sub}/activation-code", headers=adult).json()
    assert code["activation_code"] == line["activation_code"]
    assert code["confirmation_code"] == line["confirmation_code"]
    png = httpx.get(f"{sub}/qr.png", headers=adult)
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    svg = httpx.get(f"{sub}/qr.svg", headers=owner)
    assert svg.text.startswith("<svg")
    child = bearer(url, w.login("child"))
    assert httpx.get(f"{sub}/activation-code", headers=child).status_code == 403


def test_a_second_factor_and_a_new_password(world: tuple[ApiWorld, str]) -> None:
    w, url = world
    adult = bearer(url, w.login("adult"))
    setup = httpx.post(f"{url}/v1/me/totp", headers=adult).json()
    assert setup["uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(setup["secret"])
    now = time.time()
    # Each code works once, and the server takes this 30 s step or a neighbour: confirm
    # with this step's code and sign in with the next one's (valid for the next minute).
    first = {"code": totp.at(now)}
    assert httpx.post(f"{url}/v1/me/totp/confirm", json=first, headers=adult).status_code == 204
    body = {"login": w.login("adult"), "password": PASSWORD}
    without = httpx.post(f"{url}/v1/sessions", json=body)
    assert without.status_code == 401
    assert "one-time code" in without.json()["detail"]
    with_code = httpx.post(f"{url}/v1/sessions", json={**body, "totp": totp.at(now + 30)})
    assert with_code.status_code == 201
    fresh = {"Authorization": f"Bearer {with_code.json()['token']}"}

    new_password = "another horse battery 43"
    changed = httpx.post(
        f"{url}/v1/me/password", json={"old": PASSWORD, "new": new_password}, headers=fresh
    )
    assert changed.status_code == 204
    assert httpx.get(f"{url}/v1/me", headers=adult).status_code == 401, "other sessions end"
    assert httpx.get(f"{url}/v1/me", headers=fresh).status_code == 200
    old_password = httpx.post(f"{url}/v1/sessions", json={**body, "totp": "000000"})
    assert old_password.json()["detail"] == "wrong login or password"
    staff = httpx.post(f"{url}/v1/me/totp", headers=key(w))
    assert staff.status_code == 403


def test_an_operator_opens_a_family_and_its_owner_signs_in(world: tuple[ApiWorld, str]) -> None:
    w, url = world
    body = {
        "name": "Yip family",
        "plan": "hk-family-5g-100",
        "owner": {
            "name": "Yip Wing",
            "login": "yip@example.com",
            "password": PASSWORD,
            "identity": {
                "legal_name": "YIP Wing",
                "date_of_birth": "1985-02-01",
                "document_type": "hk_id",
                "document_number": "A123456(3)",
            },
        },
    }
    owner = bearer(url, w.login("owner"))
    assert httpx.post(f"{url}/v1/families", json=body, headers=owner).status_code == 403
    assert httpx.post(f"{url}/v1/families", json=body, headers=key(w, "plans")).status_code == 403
    opened = httpx.post(f"{url}/v1/families", json=body, headers=key(w))
    assert opened.status_code == 201, opened.text
    yip = bearer(url, "yip@example.com")
    me = httpx.get(f"{url}/v1/me", headers=yip).json()
    assert me["family_id"] == opened.json()["family_id"]
    again = httpx.post(f"{url}/v1/families", json=body, headers=key(w))
    assert again.status_code == 409
