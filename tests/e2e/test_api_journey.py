"""The issue's journey over real HTTP on loopback: the owner invites, the invitee verifies
(one-time code, consent, identity) and accepts, the owner allocates and orders a line, the
network charges through the REST API, the member sees its usage, and the threshold alert
reaches the operator's webhook receiver with a valid signature."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api_world import PASSWORD, ApiWorld, build
from famsim.entrypoints.http.app import create_api
from smdp_server import served, wait_for
from webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e
MB = 10**6
VALID_HKID = "A123456(3)"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ApiWorld, str, WebhookReceiver, str]]:
    world = build(tmp_path)
    receiver = WebhookReceiver(refuse_first=0)
    webhooks = world.app.webhooks()
    webhooks.start()
    try:
        with (
            served(receiver) as hook_url,
            served(create_api(world.app, webhooks_service=webhooks)) as url,
        ):
            yield world, url, receiver, hook_url
    finally:
        webhooks.stop()
        world.app.close()


def test_invite_accept_allocate_charge_see_usage_and_get_the_alert(
    world: tuple[ApiWorld, str, WebhookReceiver, str],
) -> None:
    w, url, receiver, hook_url = world
    operator = {"Authorization": f"Bearer {w.keys['all']}"}
    registered = httpx.post(
        f"{url}/v1/webhooks",
        json={"url": f"{hook_url}/famsim", "kinds": ["threshold_crossed"]},
        headers=operator,
    )
    assert registered.status_code == 201, registered.text
    receiver.secret = registered.json()["secret"]

    owner_session = httpx.post(
        f"{url}/v1/sessions", json={"login": w.login("owner"), "password": PASSWORD}
    ).json()
    owner = {"Authorization": f"Bearer {owner_session['token']}"}
    invited = httpx.post(
        f"{url}/v1/families/{w.family_id}/invitations",
        json={
            "name": "Lee Ka Ming",
            "role": "adult",
            "channel": "email",
            "address": "lee@example.com",
        },
        headers=owner,
    )
    assert invited.status_code == 201, invited.text
    invitation = invited.json()
    assert "code" not in str(invitation)

    # The code reaches the invitee by e-mail; in development the message is in the outbox.
    with w.app.uow() as uow:
        sent = [e for e in uow.outbox.for_family(w.family_id) if e.kind == "notification"]
    code = re.search(r": ([0-9]{6}) ", sent[-1].payload["text"]).group(1)  # type: ignore[union-attr]
    identity = {
        "legal_name": "LEE Ka Ming",
        "date_of_birth": "1990-05-17",
        "document_type": "hk_id",
        "document_number": VALID_HKID,
    }
    accept = {
        "code": code,
        "consent": False,
        "identity": identity,
        "login": "lee@example.com",
        "password": PASSWORD,
    }
    refused = httpx.post(f"{url}/v1/invitations/{invitation['id']}/accept", json=accept)
    assert refused.status_code == 422, "no consent, no membership"
    accepted = httpx.post(
        f"{url}/v1/invitations/{invitation['id']}/accept", json={**accept, "consent": True}
    )
    assert accepted.status_code == 201, accepted.text
    member_id = accepted.json()["member_id"]

    allocation = {
        "limits": [{"resource": "data", "zone": "home", "quota": 10 * MB, "hard_cap": 10 * MB}]
    }
    put = httpx.put(
        f"{url}/v1/families/{w.family_id}/members/{member_id}/allocation",
        json=allocation,
        headers=owner,
    )
    assert put.status_code == 204, put.text
    line = httpx.post(
        f"{url}/v1/families/{w.family_id}/lines",
        json={
            "member_id": member_id,
            "profile_type": "phone-5g",
            "eid": "89049032000010000000000000099959",
        },
        headers=owner,
    ).json()

    request = {
        "session_id": "lee-1",
        "request_number": 0,
        "subscriber": line["number"],
        "services": [{"resource": "data", "requested": 9 * MB}],
    }
    granted = httpx.post(f"{url}/v1/charging/reserve", json=request, headers=operator).json()
    assert granted["outcome"] == "success"
    used = {**request, "request_number": 1, "services": [{"resource": "data", "used": 9 * MB}]}
    assert (
        httpx.post(f"{url}/v1/charging/terminate", json=used, headers=operator).status_code == 200
    )

    lee = httpx.post(f"{url}/v1/sessions", json={"login": "lee@example.com", "password": PASSWORD})
    lee_headers = {"Authorization": f"Bearer {lee.json()['token']}"}
    family = httpx.get(f"{url}/v1/families/{w.family_id}", headers=lee_headers).json()
    mine = next(m for m in family["members"] if m["id"] == member_id)
    assert mine["usage"][0]["from_pool"] == 9 * MB

    wait_for(lambda: any(c.signature_valid for c in receiver.calls()))
    alert = next(c for c in receiver.calls() if c.signature_valid)
    assert alert.headers["famsim-event"] == "threshold_crossed"
    assert alert.headers["idempotency-key"]
    assert b"threshold_crossed" in alert.body
    assert all(c.signature_valid for c in receiver.calls())
