"""Webhooks: operator endpoints hear of outbox events, signed, retried, at least once.

Two steps, each safe to repeat and to run in several processes at once:

* :meth:`WebhookService.dispatch` fans committed outbox events out into one delivery per
  matching active endpoint (the delivery's idempotency key derives from endpoint and
  event, and the store keeps it unique, so a repeated fan-out creates nothing) and marks
  the events dispatched, one transaction per batch.
* :meth:`WebhookService.deliver_due` POSTs each due delivery, signed with the endpoint's
  secret (:mod:`famsim.domain.webhook_signature`), and records 2xx as delivered or anything
  else as a failure retried after 1 s, 2 s, 4 s ... at most 10 minutes. The POST happens
  outside any transaction, so a slow receiver never holds the database.

A crash between a receiver's 2xx and the mark means the receiver hears the event again,
with the same ``Idempotency-Key`` and the same body: delivery is at least once, and
receivers drop repeats by the key.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from famsim.domain.access import Principal, Scope
from famsim.domain.audit import AuditEvent
from famsim.domain.errors import FamsimError, Forbidden
from famsim.domain.ids import new_id
from famsim.domain.webhook_signature import SIGNATURE_HEADER, sign
from famsim.domain.webhooks import (
    WebhookEndpoint,
    check_kinds,
    check_url,
    idempotency_key,
    new_secret,
    retry_delay,
)
from famsim.service.background import Repeater, describe
from famsim.service.ports import DueDelivery, Sealer, UnitOfWork

WebhookPost = Callable[[str, bytes, Mapping[str, str]], int]
"""POST a body: (url, body, headers) -> the HTTP status; raises when there is no answer."""

DEFAULT_BATCH = 100
DEFAULT_IDLE_S = 5.0  # events are written by other processes too: look now and then
MAX_ERROR_CHARS = 200
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER = "Famsim-Event"


class WebhookUnreachable(FamsimError):
    """A webhook POST got no answer (refused, timed out, TLS failed)."""


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What one attempt did: delivered, or failed and when it will be tried again."""

    delivery_id: int
    endpoint_id: str
    event_id: int
    kind: str
    idempotency_key: str
    delivered: bool
    attempts: int
    status: int | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None


def secret_context(endpoint_id: str) -> str:
    """What a secret is sealed to: it opens only for its own endpoint."""
    return f"webhook:{endpoint_id}"


def delivery_body(due: DueDelivery) -> bytes:
    """The JSON body of a delivery: built from stored data only, so every attempt sends
    the same bytes (keys sorted, compact)."""
    event = due.event
    document: dict[str, Any] = {
        "id": due.delivery.idempotency_key,
        "event_id": event.id,
        "kind": event.kind,
        "family_id": event.family_id,
        "created_at": event.created_at.astimezone(UTC).isoformat(),
        "payload": event.payload,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _require(principal: Principal) -> None:
    if not principal.has(Scope.WEBHOOKS):
        raise Forbidden("managing webhooks needs an operator key with the webhooks scope")


class WebhookService:
    """Registers endpoints, fans out and delivers events; optionally in a background thread.

    The thread wakes when :meth:`wake` is called, when the earliest retry falls due, and at
    least every *idle_s* seconds (other processes write events too).
    """

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        sealer: Sealer,
        post: WebhookPost,
        now: Callable[[], datetime],
        *,
        batch: int = DEFAULT_BATCH,
        idle_s: float = DEFAULT_IDLE_S,
    ) -> None:
        self._uow = uow
        self._sealer = sealer
        self._post = post
        self._now = now
        self._batch = batch
        self._pass_lock = threading.Lock()  # one pass at a time in this process
        self._repeater = Repeater("famsim-webhooks", self._one_pass, now, idle_s)

    # ------------------------------------------------------------------ endpoints
    def register(
        self, principal: Principal, url: str, kinds: Sequence[str]
    ) -> tuple[WebhookEndpoint, str]:
        """Add an endpoint; the answer carries its signing secret, shown this once only."""
        _require(principal)
        endpoint = WebhookEndpoint(
            id=new_id(), url=check_url(url), kinds=check_kinds(kinds), created_at=self._now()
        )
        secret = new_secret()
        sealed = self._sealer.seal(secret.encode(), secret_context(endpoint.id))
        with self._uow() as uow:
            uow.webhooks.add(endpoint, sealed)
            uow.audit.record(
                self._audit(principal, "webhook.registered", endpoint, endpoint.created_at)
            )
            uow.commit()
        return endpoint, secret

    def endpoints(self, principal: Principal) -> list[WebhookEndpoint]:
        """Every endpoint, active or disabled, oldest first."""
        _require(principal)
        with self._uow() as uow:
            return uow.webhooks.listing()

    def disable(self, principal: Principal, endpoint_id: str) -> WebhookEndpoint:
        """Stop sending to an endpoint: nothing new is fanned out to it, pending deliveries
        are no longer tried. Disabling a disabled endpoint changes nothing."""
        _require(principal)
        at = self._now()
        with self._uow() as uow:
            endpoint = uow.webhooks.get(endpoint_id)
            if endpoint.active:
                uow.webhooks.disable(endpoint_id, at)
                uow.audit.record(self._audit(principal, "webhook.disabled", endpoint, at))
                uow.commit()
            return uow.webhooks.get(endpoint_id)

    @staticmethod
    def _audit(
        principal: Principal, action: str, endpoint: WebhookEndpoint, at: datetime
    ) -> AuditEvent:
        return AuditEvent(
            at=at,
            family_id=None,
            actor=f"operator:{principal.id}"[:100],
            action=action,
            subject=endpoint.id,
            detail={"url": endpoint.url[:500], "kinds": ",".join(endpoint.kinds)},
        )

    # ------------------------------------------------------------------ fan-out
    def dispatch(self) -> int:
        """Fan undispatched outbox events out to the endpoints; how many deliveries were made."""
        made = 0
        while True:
            with self._uow() as uow:
                events = uow.outbox.undispatched(self._batch)
                if not events:
                    return made
                at = self._now()
                endpoints = [e for e in uow.webhooks.listing() if e.active]
                for event in events:
                    for endpoint in endpoints:
                        if endpoint.wants(event.kind) and uow.webhooks.create_delivery(
                            endpoint.id, event.id, idempotency_key(endpoint.id, event.id), at
                        ):
                            made += 1
                uow.outbox.mark_dispatched([event.id for event in events], at)
                uow.commit()

    # ------------------------------------------------------------------ delivery
    def deliver_due(self) -> list[DeliveryResult]:
        """Try every delivery due now once (each at most once per call); say what happened."""
        with self._pass_lock:
            results: list[DeliveryResult] = []
            tried: set[int] = set()
            while True:
                at = self._now()
                with self._uow() as uow:
                    due = [
                        d for d in uow.webhooks.due(at, self._batch) if d.delivery.id not in tried
                    ]
                if not due:
                    return results
                for item in due:
                    tried.add(item.delivery.id)
                    results.append(self._attempt(item))

    def _attempt(self, due: DueDelivery) -> DeliveryResult:
        delivery, event = due.delivery, due.event
        body = delivery_body(due)
        status: int | None = None
        error: str | None = None
        sent_at = self._now()
        try:
            secret = self._sealer.open(due.secret, secret_context(due.endpoint.id)).decode()
            headers = {
                "Content-Type": "application/json",
                IDEMPOTENCY_HEADER: delivery.idempotency_key,
                EVENT_HEADER: event.kind,
                SIGNATURE_HEADER: sign(secret, body, sent_at),
            }
            status = self._post(due.endpoint.url, body, headers)
            if not 200 <= status < 300:
                error = f"HTTP {status} from {due.endpoint.url}"
        except Exception as exc:  # any failure is retried later, with the same body
            error = _describe(exc)
        at = self._now()
        attempts = delivery.attempts + 1
        common = (delivery.id, due.endpoint.id, event.id, event.kind, delivery.idempotency_key)
        with self._uow() as uow:
            if error is None:
                assert status is not None
                uow.webhooks.mark_delivered(delivery.id, at, status)
                uow.commit()
                return DeliveryResult(*common, True, attempts, status)
            retry_at = at + retry_delay(attempts)
            uow.webhooks.mark_failed(delivery.id, at, retry_at, status, error)
            uow.commit()
        return DeliveryResult(*common, False, attempts, status, error, retry_at)

    def run_once(self) -> list[DeliveryResult]:
        """Fan out what is new, then deliver what is due (``famsim webhooks deliver``)."""
        self.dispatch()
        return self.deliver_due()

    # ------------------------------------------------------------------ in the background
    def wake(self) -> None:
        """Look for new events and due deliveries now (cheap; safe from any thread)."""
        self._repeater.wake()

    def start(self) -> None:
        self._repeater.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread after its current attempt (the HTTP timeout bounds that)."""
        self._repeater.stop(timeout_s)

    def __enter__(self) -> WebhookService:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _one_pass(self) -> datetime | None:
        self.run_once()
        with self._uow() as uow:
            return uow.webhooks.next_attempt_at()


def _describe(exc: Exception) -> str:
    return describe(exc, MAX_ERROR_CHARS)
