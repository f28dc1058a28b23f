"""Billing over the REST API: closing (operator), invoices as each role may see them,
the owner's split, credit notes, and clear 4xx answers for bad requests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api_world import PASSWORD, ApiWorld, build
from famsim.entrypoints.http.app import create_api

LATER = (datetime.now(UTC) + timedelta(days=40)).isoformat()


@pytest.fixture
def world(tmp_path: Path) -> ApiWorld:
    return build(tmp_path)


@pytest.fixture
def client(world: ApiWorld) -> Iterator[TestClient]:
    with TestClient(create_api(world.app)) as api:
        yield api


def bearer(client: TestClient, world: ApiWorld, who: str) -> dict[str, str]:
    if who == "operator":
        return {"Authorization": f"Bearer {world.keys['all']}"}
    answer = client.post("/v1/sessions", json={"login": world.login(who), "password": PASSWORD})
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def close(client: TestClient, world: ApiWorld) -> list[dict]:  # type: ignore[type-arg]
    answer = client.post(
        "/v1/billing/close",
        json={"family_id": world.family_id, "at": LATER},
        headers=bearer(client, world, "operator"),
    )
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_the_operator_closes_and_each_role_sees_its_part(
    client: TestClient, world: ApiWorld
) -> None:
    owner = bearer(client, world, "owner")
    assert (
        client.put(
            f"/v1/families/{world.family_id}/split", json={"rule": "equal"}, headers=owner
        ).status_code
        == 204
    )
    issued = close(client, world)
    assert len(issued) >= 1
    assert close(client, world) == []  # idempotent

    number = issued[0]["number"]
    whole = client.get(f"/v1/families/{world.family_id}/invoices/{number}", headers=owner).json()
    assert whole["total_minor"] == sum(line["minor"] for line in whole["lines"])
    assert sum(share["minor"] for share in whole["shares"]) == whole["total_minor"]
    assert whole["split"] == "equal"
    assert "partial" not in whole

    adult = bearer(client, world, "adult")
    mine = client.get(f"/v1/families/{world.family_id}/invoices/{number}", headers=adult).json()
    assert mine["partial"] is True
    assert {line["member_id"] for line in mine["lines"]} <= {world.members["adult"]}
    assert [share["member_id"] for share in mine["shares"]] == [world.members["adult"]]
    assert mine["total_minor"] == whole["total_minor"]


def test_only_the_owner_sets_the_split_and_only_the_operator_credits(
    client: TestClient, world: ApiWorld
) -> None:
    adult = bearer(client, world, "adult")
    assert (
        client.put(
            f"/v1/families/{world.family_id}/split", json={"rule": "equal"}, headers=adult
        ).status_code
        == 403
    )
    number = close(client, world)[0]["number"]
    owner = bearer(client, world, "owner")
    refused = client.post(
        f"/v1/invoices/{number}/credit-notes", json={"minor": 100, "reason": "x"}, headers=owner
    )
    assert refused.status_code == 403
    operator = bearer(client, world, "operator")
    credited = client.post(
        f"/v1/invoices/{number}/credit-notes",
        json={"minor": 100, "reason": "goodwill"},
        headers=operator,
    )
    assert credited.status_code == 201, credited.text
    assert credited.json()["number"].startswith("CN-")
    too_much = client.post(
        f"/v1/invoices/{number}/credit-notes",
        json={"minor": 10**12, "reason": "all of it"},
        headers=operator,
    )
    assert too_much.status_code == 400
    assert "left to credit" in too_much.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"rule": "custom", "custom": {"nobody": 10_000}}, 404),
        ({"rule": "custom", "custom": {}}, 400),
        ({"rule": "equal", "custom": {"x": 1}}, 400),
        ({"rule": "halves"}, 422),
    ],
    ids=["unknown-member", "empty-custom", "custom-on-equal", "bad-rule"],
)
def test_bad_splits_get_a_clear_4xx(
    client: TestClient,
    world: ApiWorld,
    body: dict,
    status: int,  # type: ignore[type-arg]
) -> None:
    owner = bearer(client, world, "owner")
    answer = client.put(f"/v1/families/{world.family_id}/split", json=body, headers=owner)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_unknown_invoices_are_404(client: TestClient, world: ApiWorld) -> None:
    owner = bearer(client, world, "owner")
    answer = client.get(f"/v1/families/{world.family_id}/invoices/INV-2026-999999", headers=owner)
    assert answer.status_code == 404


@pytest.mark.parametrize("at", [0, 233794, 1.5, True, ["2026-12-01T00:00:00Z"]], ids=repr)
def test_closing_as_of_a_number_is_refused(client: TestClient, world: ApiWorld, at: Any) -> None:
    answer = client.post(
        "/v1/billing/close", json={"at": at}, headers=bearer(client, world, "operator")
    )
    assert answer.status_code == 422, answer.text
    assert "ISO 8601" in answer.text


def test_closing_an_unknown_family_is_404(client: TestClient, world: ApiWorld) -> None:
    answer = client.post(
        "/v1/billing/close", json={"family_id": "0"}, headers=bearer(client, world, "operator")
    )
    assert answer.status_code == 404, answer.text


def test_the_owner_sets_auto_rebalance_and_runs_it(client: TestClient, world: ApiWorld) -> None:
    owner = bearer(client, world, "owner")
    teen = world.members["child"]
    body = {
        "enabled": True,
        "bounds": [{"member_id": teen, "resource": "data", "min_quota": 10**9}],
    }
    url = f"/v1/families/{world.family_id}/rebalance-policy"
    assert client.put(url, json=body, headers=owner).status_code == 204
    adult = bearer(client, world, "adult")
    assert client.put(url, json=body, headers=adult).status_code == 403
    bad = {
        "enabled": True,
        "bounds": [{"member_id": teen, "resource": "data", "min_quota": 5, "max_quota": 1}],
    }
    assert client.put(url, json=bad, headers=owner).status_code == 400
    ghost = {"enabled": True, "bounds": [{"member_id": "ghost", "resource": "data"}]}
    assert client.put(url, json=ghost, headers=owner).status_code == 404
    moves = client.post(f"/v1/families/{world.family_id}/rebalance", headers=owner)
    assert moves.status_code == 200, moves.text
    assert isinstance(moves.json(), list)  # too early in the cycle to forecast: none
    with world.app.uow() as uow:
        assert uow.billing.rebalancing_families() == [world.family_id]
