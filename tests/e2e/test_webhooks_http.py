"""A threshold alert from the real charging engine reaches a webhook receiver over HTTP.

famsim on SQLite with the demo family; the child's 3 GB quota crosses 50 % through
ChargingService, which writes the alert to the outbox; the webhook sender (running in
the background, posting with httpx) fans it out and POSTs it to a receiver served by
uvicorn on loopback. The receiver answers 500 first and 204 after: the retry carries the
same Idempotency-Key and body, and every signature verifies with the secret that
``register`` returned.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo_charging import CHILD, GB, INITIAL, RULES, T0, UPDATE, Now
from famsim.bootstrap import App, bootstrap
from famsim.config import Settings
from famsim.demo import create_demo_family
from famsim.domain.access import Principal, Scope
from famsim.domain.units import Resource
from famsim.domain.webhooks import THRESHOLD_CROSSED
from famsim.service import commands as c
from famsim.service.charging import ChargingRequest, ChargingService, ServiceUse
from smdp_server import served, wait_for
from webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

OPERATOR = Principal.staff("key-ops", frozenset({Scope.WEBHOOKS}))


@pytest.fixture
def app(sqlite_url: str, tmp_path: Path) -> Iterator[App]:
    famsim = bootstrap(Settings(database_url=sqlite_url, data_dir=tmp_path))
    try:
        famsim.initialise()
        famsim.bus.handle(c.LoadPlans(tuple(famsim.read_catalog())))
        yield famsim
    finally:
        famsim.close()


def cross_half_of_the_childs_quota(app: App) -> None:
    charging = ChargingService(app.uow, Now(T0), RULES)
    use = ServiceUse(Resource.DATA, requested=GB)
    charging.handle(ChargingRequest("gy-1;webhooks", 0, INITIAL, CHILD, (use,)))
    used = ServiceUse(Resource.DATA, requested=GB, used=GB // 2 * 3)
    charging.handle(ChargingRequest("gy-1;webhooks", 1, UPDATE, CHILD, (used,)))


def test_an_alert_is_delivered_signed_after_a_retry(app: App) -> None:
    family_id = create_demo_family(app.bus)
    receiver = WebhookReceiver(refuse_first=1)
    with served(receiver) as base:
        webhooks = app.webhooks()
        endpoint, secret = webhooks.register(OPERATOR, f"{base}/famsim/events", [THRESHOLD_CROSSED])
        receiver.secret = secret
        with webhooks:  # the background sender
            cross_half_of_the_childs_quota(app)
            webhooks.wake()
            wait_for(lambda: len(receiver.calls()) >= 2)
        calls = receiver.calls()

    assert [call.answer for call in calls] == [500, 204]
    first, retry = calls
    assert all(call.signature_valid for call in calls)
    assert first.path == "/famsim/events"
    assert first.headers["idempotency-key"] == retry.headers["idempotency-key"]
    assert first.body == retry.body
    assert first.headers["famsim-event"] == THRESHOLD_CROSSED
    assert first.headers["content-type"] == "application/json"

    body = json.loads(first.body)
    with app.uow() as uow:
        family = uow.families.get(family_id)
        child = next(m.id for m in family.members.values() if m.name == "Chan Ka Yan")
        (event,) = uow.outbox.for_family(family_id)
        (delivery,) = uow.webhooks.deliveries(endpoint.id)
    assert body["id"] == first.headers["idempotency-key"] == delivery.idempotency_key
    assert (body["event_id"], body["kind"], body["family_id"]) == (
        event.id,
        THRESHOLD_CROSSED,
        family_id,
    )
    assert body["created_at"] == T0.isoformat()
    payload = body["payload"]
    assert (payload["member_id"], payload["level"], payload["resource"]) == (child, 50, "data")
    assert delivery.delivered_at is not None
    assert (delivery.attempts, delivery.last_status) == (2, 204)


def test_a_receiver_that_is_down_is_retried_later(app: App) -> None:
    """No listener at all: the attempt fails with a transport error, kept for a retry."""
    family_id = create_demo_family(app.bus)
    with served(WebhookReceiver()) as base:
        pass  # the port is closed again: nobody listens there now
    webhooks = app.webhooks()
    webhooks.register(OPERATOR, f"{base}/x", ["*"])
    with app.uow() as uow:
        uow.outbox.add(family_id, "invitation.sent", {"to": "+85291230009"}, T0)
        uow.commit()
    assert webhooks.dispatch() == 1
    (result,) = webhooks.deliver_due()
    assert not result.delivered
    assert result.status is None
    assert "no answer" in (result.error or "")
    assert result.next_attempt_at is not None
