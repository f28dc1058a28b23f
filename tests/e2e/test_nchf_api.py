"""5G Nchf_ConvergedCharging v3 on the API (FastAPI's TestClient, SQLite, the demo family):
create / update / release, retransmissions charged once, quota exhaustion per member,
unknown subscribers and refs, malformed bodies and missing keys as TS 29.500 problems."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api_world import PASSWORD, ApiWorld, build
from famsim.entrypoints.http.app import create_api

pytestmark = pytest.mark.e2e

BASE = "/nchf-convergedcharging/v3/chargingdata"
PROBLEM = "application/problem+json"
OWNER_IMSI = "imsi-454001230000001"
CHILD_IMSI = "imsi-454001230000004"
MB = 1_000_000


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ApiWorld]:
    world = build(tmp_path)
    try:
        yield world
    finally:
        world.app.close()


@pytest.fixture
def client(world: ApiWorld) -> Iterator[TestClient]:
    with TestClient(create_api(world.app)) as api:
        yield api


def key(world: ApiWorld, which: str = "all") -> dict[str, str]:
    return {"Authorization": f"Bearer {world.keys[which]}"}


def request(
    number: int,
    *,
    subscriber: str = OWNER_IMSI,
    requested: int | None = None,
    used: int | None = None,
    rating_group: int = 10,
    charging_id: int = 7,
) -> dict[str, Any]:
    usage: dict[str, Any] = {"ratingGroup": rating_group}
    if requested is not None:
        usage["requestedUnit"] = {"totalVolume": requested}
    if used is not None:
        usage["usedUnitContainer"] = [{"localSequenceNumber": number, "totalVolume": used}]
    return {
        "subscriberIdentifier": subscriber,
        "nfConsumerIdentification": {"nodeFunctionality": "SMF", "nFName": "smf-1"},
        "invocationTimeStamp": f"2026-11-22T10:00:{number:02d}Z",
        "invocationSequenceNumber": number,
        "multipleUnitUsage": [usage],
        "pDUSessionChargingInformation": {"chargingId": charging_id},
    }


def create(client: TestClient, world: ApiWorld, body: dict[str, Any]) -> tuple[str, Any]:
    answer = client.post(BASE, json=body, headers=key(world))
    assert answer.status_code == 201, answer.text
    location = answer.headers["location"]
    assert location.startswith("http://testserver" + BASE + "/")
    return location.removeprefix("http://testserver"), answer.json()


def home_data_used(client: TestClient, world: ApiWorld) -> int:
    family = client.get(f"/v1/families/{world.family_id}", headers=key(world)).json()
    pool = next(p for p in family["pools"] if (p["resource"], p["zone"]) == ("data", "home"))
    return int(pool["used"])


def test_create_update_release(client: TestClient, world: ApiWorld) -> None:
    path, created = create(client, world, request(0, requested=MB))
    assert created["invocationSequenceNumber"] == 0
    [unit] = created["multipleUnitInformation"]
    assert unit["ratingGroup"] == 10
    assert unit["resultCode"] == "SUCCESS"
    assert unit["grantedUnit"] == {"totalVolume": MB}
    assert unit["validityTime"] > 0

    updated = client.post(
        f"{path}/update", json=request(1, requested=MB, used=600_000), headers=key(world)
    )
    assert updated.status_code == 200, updated.text
    [unit] = updated.json()["multipleUnitInformation"]
    assert unit["resultCode"] == "SUCCESS"
    assert unit["grantedUnit"]["totalVolume"] == MB
    assert home_data_used(client, world) == 600_000

    released = client.post(f"{path}/release", json=request(2, used=300_000), headers=key(world))
    assert released.status_code == 204, released.text
    assert released.content == b""
    assert home_data_used(client, world) == 900_000


def test_a_retransmission_is_answered_identically_and_charged_once(
    client: TestClient, world: ApiWorld
) -> None:
    first_path, first = create(client, world, request(0, requested=MB))
    again_path, again = create(client, world, request(0, requested=MB))
    assert (again_path, again) == (first_path, first), "a retransmitted create: same session"

    update = request(1, requested=MB, used=400_000)
    answers = [client.post(f"{first_path}/update", json=update, headers=key(world)) for _ in "ab"]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    assert home_data_used(client, world) == 400_000, "charged once"

    other_path, _ = create(client, world, request(0, requested=MB, charging_id=8))
    assert other_path != first_path, "another PDU session is another charging session"


def test_a_capped_member_reaches_the_limit_while_another_is_granted(
    client: TestClient, world: ApiWorld
) -> None:
    login = client.post("/v1/sessions", json={"login": world.login("owner"), "password": PASSWORD})
    owner = {"Authorization": f"Bearer {login.json()['token']}"}
    cap = {"limits": [{"resource": "data", "zone": "home", "quota": 2 * MB, "hard_cap": 2 * MB}]}
    allocation = f"/v1/families/{world.family_id}/members/{world.members['child']}/allocation"
    assert client.put(allocation, json=cap, headers=owner).status_code == 204

    child_path, created = create(client, world, request(0, subscriber=CHILD_IMSI, requested=MB))
    assert created["multipleUnitInformation"][0]["grantedUnit"] == {"totalVolume": MB}
    last = client.post(
        f"{child_path}/update",
        json=request(1, subscriber=CHILD_IMSI, requested=5 * MB, used=MB),
        headers=key(world),
    ).json()["multipleUnitInformation"][0]
    assert last["resultCode"] == "SUCCESS"
    assert last["grantedUnit"] == {"totalVolume": MB}, "only what is left of the cap"
    assert last["finalUnitIndication"] == {"finalUnitAction": "TERMINATE"}

    refused = client.post(
        f"{child_path}/update",
        json=request(2, subscriber=CHILD_IMSI, requested=MB, used=MB),
        headers=key(world),
    )
    assert refused.status_code == 200
    [unit] = refused.json()["multipleUnitInformation"]
    assert unit["resultCode"] == "QUOTA_LIMIT_REACHED"
    assert "grantedUnit" not in unit

    _, owner_created = create(client, world, request(0, requested=MB, charging_id=99))
    assert owner_created["multipleUnitInformation"][0]["resultCode"] == "SUCCESS"
    assert owner_created["multipleUnitInformation"][0]["grantedUnit"] == {"totalVolume": MB}


def test_rating_groups_map_to_resources_and_unknown_ones_fail_rating(
    client: TestClient, world: ApiWorld
) -> None:
    body = request(0, requested=MB)
    body["multipleUnitUsage"] += [
        {"ratingGroup": 20, "requestedUnit": {"time": 60}},
        {"ratingGroup": 30, "requestedUnit": {"serviceSpecificUnits": 1}},
        {"ratingGroup": 4242, "requestedUnit": {"totalVolume": MB}},
    ]
    body["pDUSessionChargingInformation"]["pduSessionInformation"] = {
        "servingCNPlmnId": {"mcc": "454", "mnc": "00"}
    }
    _, created = create(client, world, body)
    units = {u["ratingGroup"]: u for u in created["multipleUnitInformation"]}
    assert units[10]["grantedUnit"] == {"totalVolume": MB}
    assert units[20]["grantedUnit"] == {"time": 60}
    assert units[30]["grantedUnit"] == {"serviceSpecificUnits": 1}
    assert units[4242] == {"ratingGroup": 4242, "resultCode": "RATING_FAILED"}


def test_unknown_subscriber_and_unknown_ref_are_404_problems(
    client: TestClient, world: ApiWorld
) -> None:
    unknown = client.post(
        BASE, json=request(0, subscriber="imsi-454009999999999", requested=MB), headers=key(world)
    )
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == PROBLEM
    assert unknown.json()["cause"] == "USER_UNKNOWN"

    for action in ("update", "release"):
        missing = client.post(
            f"{BASE}/{'0' * 32}-0/{action}", json=request(1, used=10), headers=key(world)
        )
        assert missing.status_code == 404, missing.text
        assert missing.headers["content-type"] == PROBLEM
        assert missing.json()["cause"] == "CONTEXT_NOT_FOUND"
    assert home_data_used(client, world) == 0


def test_update_or_release_after_the_release_is_a_404_problem(
    client: TestClient, world: ApiWorld
) -> None:
    path, _ = create(client, world, request(0, requested=MB))
    released = client.post(f"{path}/release", json=request(1, used=300_000), headers=key(world))
    assert released.status_code == 204, released.text

    for action, number in (("update", 2), ("release", 3)):
        late = client.post(
            f"{path}/{action}", json=request(number, requested=MB, used=500), headers=key(world)
        )
        assert late.status_code == 404, late.text
        assert late.headers["content-type"] == PROBLEM
        assert late.json()["cause"] == "CONTEXT_NOT_FOUND"
        assert late.json()["status"] == 404
    again = client.post(f"{path}/release", json=request(1, used=300_000), headers=key(world))
    assert again.status_code == 204, "a retransmitted release gets the release's answer"
    assert home_data_used(client, world) == 300_000, "nothing charged after the release"


def _ref_for(subscriber: str, digest: str, number: int) -> str:
    """A well-formed ref bound to *subscriber* (as docs/nchf.md describes) but never created."""
    binding = hashlib.sha256(f"{digest}\x1f{subscriber}".encode()).hexdigest()[:8]
    return f"{digest}{binding}-{number}"


def test_a_ref_never_created_is_a_404_problem_even_when_bound_to_the_subscriber(
    client: TestClient, world: ApiWorld
) -> None:
    ref = _ref_for(OWNER_IMSI.removeprefix("imsi-"), "ab" * 12, 0)
    for action in ("update", "release"):
        missing = client.post(
            f"{BASE}/{ref}/{action}", json=request(1, requested=MB, used=10), headers=key(world)
        )
        assert missing.status_code == 404, missing.text
        assert missing.json()["cause"] == "CONTEXT_NOT_FOUND"
    assert home_data_used(client, world) == 0


def test_uplink_and_downlink_volumes_count_when_total_volume_is_absent(
    client: TestClient, world: ApiWorld
) -> None:
    body = request(0)
    body["multipleUnitUsage"] = [{"ratingGroup": 10, "requestedUnit": {"uplinkVolume": 1}}]
    path, _ = create(client, world, body)
    update = request(1)
    update["multipleUnitUsage"] = [
        {
            "ratingGroup": 10,
            "usedUnitContainer": [
                {"localSequenceNumber": 1, "uplinkVolume": 1_000, "downlinkVolume": 9_000},
                {"localSequenceNumber": 2, "totalVolume": 500, "uplinkVolume": 7},
                {"localSequenceNumber": 3, "downlinkVolume": 20},
            ],
        }
    ]
    answer = client.post(f"{path}/update", json=update, headers=key(world))
    assert answer.status_code == 200, answer.text
    assert home_data_used(client, world) == 10_000 + 500 + 20  # totalVolume wins when given


def test_an_msisdn_gpsi_names_the_subscriber_when_the_supi_is_absent(
    client: TestClient, world: ApiWorld
) -> None:
    def by_gpsi(number: int, **units: int) -> dict[str, Any]:
        body = request(number, **units)
        del body["subscriberIdentifier"]
        body["pDUSessionChargingInformation"]["userInformation"] = {
            "servedGPSI": "msisdn-85261230002"  # the spouse's line
        }
        return body

    path, created = create(client, world, by_gpsi(0, requested=MB))
    assert created["multipleUnitInformation"][0]["grantedUnit"] == {"totalVolume": MB}
    updated = client.post(f"{path}/update", json=by_gpsi(1, used=4_000), headers=key(world))
    assert updated.status_code == 200, updated.text
    assert home_data_used(client, world) == 4_000
    other = request(0, requested=MB)
    del other["subscriberIdentifier"]
    other["pDUSessionChargingInformation"]["userInformation"] = {"servedGPSI": "extid-a@b.c"}
    refused = client.post(BASE, json=other, headers=key(world))
    assert refused.status_code == 400
    assert refused.json()["cause"] == "MANDATORY_IE_MISSING"


@pytest.mark.parametrize(
    ("body", "cause"),
    [
        ("{not json", "INVALID_MSG_FORMAT"),
        ({"subscriberIdentifier": OWNER_IMSI}, "MANDATORY_IE_MISSING"),
        ({**request(0), "invocationSequenceNumber": -1}, "MANDATORY_IE_INCORRECT"),
        ({**request(0), "subscriberIdentifier": "nai-someone@example.com"}, None),
        ({**request(0), "multipleUnitUsage": [{"ratingGroup": "ten"}]}, None),
        ({**request(0), "multipleUnitUsage": [{"ratingGroup": 10}, {"ratingGroup": 10}]}, None),
        ({k: v for k, v in request(0).items() if k != "subscriberIdentifier"}, None),
    ],
)
def test_malformed_requests_are_400_problems(
    client: TestClient, world: ApiWorld, body: Any, cause: str | None
) -> None:
    if isinstance(body, str):
        answer = client.post(
            BASE, content=body, headers={**key(world), "Content-Type": "application/json"}
        )
    else:
        answer = client.post(BASE, json=body, headers=key(world))
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["status"] == 400
    assert problem["detail"]
    assert problem["cause"] == cause or cause is None
    assert problem["cause"].startswith(("INVALID_MSG_FORMAT", "MANDATORY_IE_"))


def test_a_malformed_ref_is_refused(client: TestClient, world: ApiWorld) -> None:
    answer = client.post(f"{BASE}/not-a-ref/update", json=request(1), headers=key(world))
    assert answer.status_code == 400
    assert answer.headers["content-type"] == PROBLEM


def test_charging_needs_an_operator_key_with_the_charging_scope(
    client: TestClient, world: ApiWorld
) -> None:
    anonymous = client.post(BASE, json=request(0, requested=MB))
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == PROBLEM
    narrow = client.post(BASE, json=request(0, requested=MB), headers=key(world, "plans"))
    assert narrow.status_code == 403
    assert narrow.headers["content-type"] == PROBLEM
    assert home_data_used(client, world) == 0


def test_a_ref_answers_only_for_the_subscriber_it_was_created_for(
    client: TestClient, world: ApiWorld
) -> None:
    path, _ = create(client, world, request(0, requested=MB))
    stranger = client.post(
        f"{path}/update", json=request(1, subscriber=CHILD_IMSI, used=10), headers=key(world)
    )
    assert stranger.status_code == 404
    assert stranger.json()["cause"] == "CONTEXT_NOT_FOUND"
    assert home_data_used(client, world) == 0


def sms_used(client: TestClient, world: ApiWorld) -> int:
    family = client.get(f"/v1/families/{world.family_id}", headers=key(world)).json()
    pool = next(p for p in family["pools"] if (p["resource"], p["zone"]) == ("sms", "home"))
    return int(pool["used"])


def test_a_one_time_event_is_charged_at_once_and_once(client: TestClient, world: ApiWorld) -> None:
    body = {
        **request(0),
        "nfConsumerIdentification": {"nodeFunctionality": "SMSF"},
        "oneTimeEvent": True,
        "oneTimeEventType": "IEC",
        "multipleUnitUsage": [{"ratingGroup": 30, "requestedUnit": {"serviceSpecificUnits": 1}}],
    }
    answers = [client.post(BASE, json=body, headers=key(world)) for _ in "ab"]
    assert [a.status_code for a in answers] == [200, 200], answers[0].text
    assert "location" not in answers[0].headers
    assert answers[0].json() == answers[1].json()
    [unit] = answers[0].json()["multipleUnitInformation"]
    assert unit["resultCode"] == "SUCCESS"
    assert unit["grantedUnit"] == {"serviceSpecificUnits": 1}
    assert sms_used(client, world) == 1, "retransmitted, charged once"

    post_event = client.post(BASE, json={**body, "oneTimeEventType": "PEC"}, headers=key(world))
    assert post_event.status_code == 400
    assert post_event.headers["content-type"] == PROBLEM


def test_redirect_at_exhaustion_and_roaming_refused_for_the_child(
    client: TestClient, world: ApiWorld
) -> None:
    login = client.post("/v1/sessions", json={"login": world.login("owner"), "password": PASSWORD})
    owner = {"Authorization": f"Bearer {login.json()['token']}"}
    allocation = {
        "limits": [{"resource": "data", "zone": "home", "quota": MB, "hard_cap": MB}],
        "exhaustion": "redirect",
        "redirect_url": "https://top-up.example/child",
        "roaming_allowed": False,
    }
    path = f"/v1/families/{world.family_id}/members/{world.members['child']}/allocation"
    assert client.put(path, json=allocation, headers=owner).status_code == 204

    _, created = create(client, world, request(0, subscriber=CHILD_IMSI, requested=5 * MB))
    [unit] = created["multipleUnitInformation"]
    assert unit["grantedUnit"] == {"totalVolume": MB}
    assert unit["finalUnitIndication"] == {
        "finalUnitAction": "REDIRECT",
        "redirectServer": {
            "redirectAddressType": "URL",
            "redirectServerAddress": "https://top-up.example/child",
        },
    }

    roaming = request(0, subscriber=CHILD_IMSI, requested=MB, charging_id=2)
    roaming["pDUSessionChargingInformation"]["pduSessionInformation"] = {
        "servingCNPlmnId": {"mcc": "460", "mnc": "00"}
    }
    _, abroad = create(client, world, roaming)
    [unit] = abroad["multipleUnitInformation"]
    assert unit["resultCode"] == "END_USER_SERVICE_DENIED"
    assert "grantedUnit" not in unit
