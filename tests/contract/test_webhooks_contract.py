"""Webhook endpoints, deliveries and the dispatcher alike in memory, SQLite and PostgreSQL.

Each committed outbox event becomes one delivery per matching active endpoint, never
two however often it is fanned out; a delivery is retried with the same idempotency key
and body until a 2xx; disabled endpoints get nothing new and lose their pending retries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from famsim.adapters.security.keyring import new_key_entry, parse_keys
from famsim.domain.access import Principal, Scope
from famsim.domain.errors import Forbidden, InvalidInput
from famsim.domain.family import Family
from famsim.domain.plan import Plan
from famsim.domain.webhook_signature import verify_signature
from famsim.domain.webhooks import (
    ESIM_STATE_CHANGED,
    INVITATION_SENT,
    THRESHOLD_CROSSED,
    WebhookNotFound,
    idempotency_key,
)
from famsim.service.webhooks import WebhookService

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
OPERATOR = Principal.staff("key-ops", frozenset({Scope.WEBHOOKS}))


@dataclass
class Clock:
    at: datetime = START

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@dataclass
class Receiver:
    """A fake POST: records every call, answers from a script (then 204)."""

    answers: list[int | Exception] = field(default_factory=list)
    calls: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.calls.append((url, body, dict(headers)))
        answer = self.answers.pop(0) if self.answers else 204
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class Harness:
    uow: Any
    service: WebhookService
    receiver: Receiver
    clock: Clock
    family_id: str

    def event(self, kind: str, n: int) -> None:
        with self.uow() as uow:
            uow.outbox.add(self.family_id, kind, {"n": n}, self.clock())
            uow.commit()

    def register(self, *kinds: str, url: str = "https://hooks.example/a") -> tuple[str, str]:
        endpoint, secret = self.service.register(OPERATOR, url, list(kinds))
        return endpoint.id, secret


@pytest.fixture
def h(uow_factory: Any, hk_plan: Plan) -> Harness:
    family = Family.create(name="Hooked", plan=hk_plan, owner_name="Ann", today=START.date())
    with uow_factory() as uow:
        uow.families.add(family)
        uow.commit()
    clock = Clock()
    receiver = Receiver()
    sealer = parse_keys(new_key_entry("k1"))
    service = WebhookService(uow_factory, sealer, receiver, clock, batch=2)
    return Harness(uow_factory, service, receiver, clock, family.id)


def pairs(h: Harness) -> list[tuple[str, int]]:
    with h.uow() as uow:
        return sorted((d.endpoint_id, d.event_id) for d in uow.webhooks.deliveries())


# ------------------------------------------------------------------ endpoints
def test_register_keeps_the_endpoint_with_its_secret_sealed(h: Harness) -> None:
    endpoint, secret = h.service.register(OPERATOR, "https://hooks.example/a", ["*"])
    assert secret.startswith("whsec_")
    assert endpoint.kinds == ("*",)
    assert h.service.endpoints(OPERATOR) == [endpoint]
    with h.uow() as uow:
        assert uow.webhooks.get(endpoint.id) == endpoint
        audit = uow.audit.recent()
    assert [(e.action, e.subject, e.actor) for e in audit] == [
        ("webhook.registered", endpoint.id, "operator:key-ops")
    ]


def test_only_operator_keys_with_the_webhooks_scope_manage_endpoints(h: Harness) -> None:
    others = [
        Principal.staff("key-plans", frozenset({Scope.PLANS_READ})),
        Principal.member("acct", h.family_id, "member"),
    ]
    for principal in others:
        with pytest.raises(Forbidden):
            h.service.register(principal, "https://hooks.example/a", ["*"])
        with pytest.raises(Forbidden):
            h.service.endpoints(principal)
        with pytest.raises(Forbidden):
            h.service.disable(principal, "any")
    assert h.service.endpoints(OPERATOR) == []


def test_bad_urls_and_kinds_are_refused_and_nothing_is_stored(h: Harness) -> None:
    with pytest.raises(InvalidInput, match="HTTPS"):
        h.service.register(OPERATOR, "http://hooks.example/a", ["*"])
    with pytest.raises(InvalidInput, match="unknown event kind"):
        h.service.register(OPERATOR, "https://hooks.example/a", ["usage"])
    assert h.service.endpoints(OPERATOR) == []


def test_disable_an_unknown_endpoint_is_not_found(h: Harness) -> None:
    with pytest.raises(WebhookNotFound):
        h.service.disable(OPERATOR, "nope")


# ------------------------------------------------------------------ dispatch
def test_one_delivery_per_event_and_matching_endpoint_never_two(h: Harness) -> None:
    alerts, _ = h.register(THRESHOLD_CROSSED)
    everything, _ = h.register("*")
    invites, _ = h.register(INVITATION_SENT, ESIM_STATE_CHANGED)
    h.event(THRESHOLD_CROSSED, 1)
    h.event(INVITATION_SENT, 2)
    h.event(THRESHOLD_CROSSED, 3)
    assert h.service.dispatch() == 6  # batch 2: two transactions
    with h.uow() as uow:
        ids = [e.id for e in uow.outbox.for_family(h.family_id)]
        assert uow.outbox.undispatched(10) == []
    e1, e2, e3 = ids
    expected = [(alerts, e1), (alerts, e3), (everything, e1), (everything, e2)]
    expected += [(everything, e3), (invites, e2)]
    assert pairs(h) == sorted(expected)
    assert h.service.dispatch() == 0
    # Fanning out the same events again (as a second dispatcher might) creates nothing.
    made = pairs(h)
    with h.uow() as uow:
        for endpoint, event_id in made:
            key = idempotency_key(endpoint, event_id)
            assert not uow.webhooks.create_delivery(endpoint, event_id, key, h.clock())
        uow.commit()
    assert len(pairs(h)) == 6


def test_events_before_any_endpoint_are_dispatched_to_nobody(h: Harness) -> None:
    h.event(THRESHOLD_CROSSED, 1)
    assert h.service.dispatch() == 0
    h.register("*")
    assert h.service.dispatch() == 0  # already dispatched: not sent to a later endpoint
    h.event(THRESHOLD_CROSSED, 2)
    assert h.service.dispatch() == 1


def test_disabled_endpoints_get_nothing(h: Harness) -> None:
    kept, _ = h.register("*")
    dropped, _ = h.register("*", url="https://hooks.example/b")
    h.event(THRESHOLD_CROSSED, 1)
    h.service.dispatch()
    disabled = h.service.disable(OPERATOR, dropped)
    assert disabled.disabled_at == START
    assert h.service.disable(OPERATOR, dropped) == disabled  # again: no change
    h.event(THRESHOLD_CROSSED, 2)
    h.service.dispatch()
    assert [endpoint for endpoint, _ in pairs(h)].count(dropped) == 1  # only the first
    results = h.service.deliver_due()
    assert {r.endpoint_id for r in results} == {kept}
    assert {url for url, _, _ in h.receiver.calls} == {"https://hooks.example/a"}
    with h.uow() as uow:
        assert [e.action for e in uow.audit.recent()].count("webhook.disabled") == 1


# ------------------------------------------------------------------ delivery
def test_a_failed_delivery_is_retried_with_the_same_key_and_body(h: Harness) -> None:
    endpoint_id, secret = h.register(THRESHOLD_CROSSED)
    h.event(THRESHOLD_CROSSED, 1)
    h.service.dispatch()
    h.receiver.answers = [500, ConnectionError("refused")]

    first = h.service.deliver_due()
    assert [(r.delivered, r.attempts, r.status) for r in first] == [(False, 1, 500)]
    assert first[0].next_attempt_at == START + timedelta(seconds=1)
    assert h.service.deliver_due() == []  # not due yet
    h.clock.advance(1)
    second = h.service.deliver_due()
    assert [(r.delivered, r.attempts, r.status) for r in second] == [(False, 2, None)]
    assert "refused" in (second[0].error or "")
    assert second[0].next_attempt_at == h.clock() + timedelta(seconds=2)
    h.clock.advance(2)
    third = h.service.deliver_due()
    assert [(r.delivered, r.attempts, r.status) for r in third] == [(True, 3, 204)]
    h.clock.advance(3600)
    assert h.service.deliver_due() == []

    bodies = {body for _, body, _ in h.receiver.calls}
    keys = {headers["Idempotency-Key"] for _, _, headers in h.receiver.calls}
    assert len(h.receiver.calls) == 3
    assert len(bodies) == 1
    assert len(keys) == 1
    body = json.loads(bodies.pop())
    with h.uow() as uow:
        (event,) = uow.outbox.for_family(h.family_id)
        (delivery,) = uow.webhooks.deliveries(endpoint_id)
    assert body == {
        "id": keys.pop(),
        "event_id": event.id,
        "kind": THRESHOLD_CROSSED,
        "family_id": h.family_id,
        "created_at": START.isoformat(),
        "payload": {"n": 1},
    }
    assert (delivery.attempts, delivery.delivered_at, delivery.last_status) == (
        3,
        h.clock() - timedelta(seconds=3600),
        204,
    )
    for _, raw, headers in h.receiver.calls:
        assert headers["Famsim-Event"] == THRESHOLD_CROSSED
        assert headers["Content-Type"] == "application/json"
        assert verify_signature(secret, headers["Famsim-Signature"], raw, START)
        assert not verify_signature(secret, headers["Famsim-Signature"], raw, h.clock())


def test_every_due_delivery_is_tried_once_per_pass(h: Harness) -> None:
    h.register("*")
    for n in range(5):
        h.event(INVITATION_SENT, n)
    assert h.service.dispatch() == 5
    h.receiver.answers = [204, 503, 204, 204, 503]
    results = h.service.deliver_due()  # batch 2: several reads, each delivery once
    assert sorted(r.delivered for r in results) == [False, False, True, True, True]
    assert len(h.receiver.calls) == 5
    with h.uow() as uow:
        assert uow.webhooks.next_attempt_at() == START + timedelta(seconds=1)


def test_a_disabled_endpoint_loses_its_pending_retries(h: Harness) -> None:
    endpoint_id, _ = h.register("*")
    h.event(INVITATION_SENT, 1)
    h.service.dispatch()
    h.receiver.answers = [500]
    h.service.deliver_due()
    h.service.disable(OPERATOR, endpoint_id)
    h.clock.advance(60)
    assert h.service.deliver_due() == []
    with h.uow() as uow:
        assert uow.webhooks.next_attempt_at() is None


def test_marks_only_count_on_undelivered_deliveries(h: Harness) -> None:
    endpoint_id, _ = h.register("*")
    h.event(INVITATION_SENT, 1)
    h.service.dispatch()
    with h.uow() as uow:
        (delivery,) = uow.webhooks.deliveries()
        uow.webhooks.mark_delivered(delivery.id, START, 200)
        uow.commit()
    with h.uow() as uow:
        later = START + timedelta(seconds=5)
        uow.webhooks.mark_failed(delivery.id, later, later, 500, "late")
        uow.commit()
    with h.uow() as uow:
        (stored,) = uow.webhooks.deliveries(endpoint_id)
    assert (stored.attempts, stored.delivered_at, stored.last_status) == (1, START, 200)


def test_nothing_is_kept_without_a_commit(h: Harness) -> None:
    endpoint_id, _ = h.register("*")
    h.event(INVITATION_SENT, 1)
    with h.uow() as uow:
        (event,) = uow.outbox.undispatched(10)
        key = idempotency_key(endpoint_id, event.id)
        assert uow.webhooks.create_delivery(endpoint_id, event.id, key, START)
        uow.webhooks.disable(endpoint_id, START)
    with h.uow() as uow:
        assert uow.webhooks.deliveries() == []
        assert uow.webhooks.get(endpoint_id).active
        assert uow.webhooks.create_delivery(endpoint_id, event.id, key, START)
