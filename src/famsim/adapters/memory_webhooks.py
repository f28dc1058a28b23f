"""Webhook endpoints and deliveries in memory, kept like the SQL tables.

Changes wait in the unit of work until it commits. A new delivery claims its idempotency
key in the store at once (as a unique index would), so two units of work fanning out the
same event make one delivery, and its id is drawn from a counter that never goes back
(ids may skip after a rollback, as a sequence's do).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from famsim.adapters.memory_outbox import stored_events
from famsim.domain.webhooks import WebhookDelivery, WebhookEndpoint, WebhookNotFound
from famsim.service.ports import DueDelivery, Sealed

if TYPE_CHECKING:
    from famsim.adapters.memory import MemoryStore, _Claims

MAX_ERROR = 200


@dataclass
class WebhookTables:
    """What the two tables would hold, inside a MemoryStore."""

    endpoints: dict[str, tuple[WebhookEndpoint, Sealed]] = field(default_factory=dict)
    deliveries: dict[int, WebhookDelivery] = field(default_factory=dict)
    last_delivery_id: int = 0


class MemoryWebhooks:
    def __init__(self, store: MemoryStore, claims: _Claims) -> None:
        self._store = store
        self._tables = store.webhooks
        self._claims = claims
        self.pending_endpoints: dict[str, tuple[WebhookEndpoint, Sealed]] = {}
        self.pending_deliveries: dict[int, WebhookDelivery] = {}

    # ------------------------------------------------------------------ endpoints
    def _endpoints(self) -> dict[str, tuple[WebhookEndpoint, Sealed]]:
        return self._tables.endpoints | self.pending_endpoints

    def add(self, endpoint: WebhookEndpoint, secret: Sealed) -> None:
        with self._store.lock:
            if endpoint.id in self._endpoints():
                raise AssertionError(f"webhook endpoint {endpoint.id} stored twice")
            self.pending_endpoints[endpoint.id] = (endpoint, secret)

    def get(self, endpoint_id: str) -> WebhookEndpoint:
        with self._store.lock:
            found = self._endpoints().get(endpoint_id)
        if found is None:
            raise WebhookNotFound(f"no webhook endpoint {endpoint_id!r}")
        return found[0]

    def secrets(self) -> list[tuple[str, Sealed]]:
        with self._store.lock:
            return [(key, secret) for key, (_, secret) in sorted(self._endpoints().items())]

    def replace_secret(self, endpoint_id: str, secret: Sealed) -> None:
        with self._store.lock:
            endpoint = self._endpoints()[endpoint_id][0]
            self.pending_endpoints[endpoint_id] = (endpoint, secret)

    def listing(self) -> list[WebhookEndpoint]:
        with self._store.lock:
            endpoints = [endpoint for endpoint, _ in self._endpoints().values()]
        return sorted(endpoints, key=lambda e: (e.created_at, e.id))

    def disable(self, endpoint_id: str, at: datetime) -> None:
        endpoint = self.get(endpoint_id)
        if endpoint.active:
            with self._store.lock:
                secret = self._endpoints()[endpoint_id][1]
                disabled = dataclasses.replace(endpoint, disabled_at=at)
                self.pending_endpoints[endpoint_id] = (disabled, secret)

    # ------------------------------------------------------------------ deliveries
    def _deliveries(self) -> dict[int, WebhookDelivery]:
        return self._tables.deliveries | self.pending_deliveries

    def create_delivery(
        self, endpoint_id: str, event_id: int, idempotency_key: str, due: datetime
    ) -> bool:
        with self._store.lock:
            taken = any(d.idempotency_key == idempotency_key for d in self._deliveries().values())
            if taken or not self._claims.free("webhook_deliveries", idempotency_key):
                return False
            self._claims.claim("webhook_deliveries", idempotency_key, "this delivery")
            self._tables.last_delivery_id += 1
            new_id = self._tables.last_delivery_id
            self.pending_deliveries[new_id] = WebhookDelivery(
                new_id, endpoint_id, event_id, idempotency_key, 0, due
            )
            return True

    def due(self, now: datetime, limit: int) -> list[DueDelivery]:
        with self._store.lock:
            endpoints = self._endpoints()
            events = {event.id: event for event in stored_events(self._store)}
            ready = sorted(
                (
                    d
                    for d in self._deliveries().values()
                    if d.delivered_at is None
                    and d.next_attempt_at <= now
                    and endpoints[d.endpoint_id][0].active
                ),
                key=lambda d: (d.next_attempt_at, d.id),
            )[: max(limit, 0)]
            return [DueDelivery(d, *endpoints[d.endpoint_id], events[d.event_id]) for d in ready]

    def mark_delivered(self, delivery_id: int, at: datetime, status: int) -> None:
        self._change(
            delivery_id,
            lambda d: dataclasses.replace(
                d, attempts=d.attempts + 1, delivered_at=at, last_status=status, last_error=None
            ),
        )

    def mark_failed(
        self,
        delivery_id: int,
        at: datetime,
        next_attempt_at: datetime,
        status: int | None,
        error: str,
    ) -> None:
        self._change(
            delivery_id,
            lambda d: dataclasses.replace(
                d,
                attempts=d.attempts + 1,
                next_attempt_at=next_attempt_at,
                last_status=status,
                last_error=error[:MAX_ERROR],
            ),
        )

    def _change(
        self, delivery_id: int, change: Callable[[WebhookDelivery], WebhookDelivery]
    ) -> None:
        with self._store.lock:
            found = self._deliveries().get(delivery_id)
            if found is not None and found.delivered_at is None:
                self.pending_deliveries[delivery_id] = change(found)

    def deliveries(self, endpoint_id: str | None = None, limit: int = 100) -> list[WebhookDelivery]:
        with self._store.lock:
            found = [
                d
                for _, d in sorted(self._deliveries().items())
                if endpoint_id is None or d.endpoint_id == endpoint_id
            ]
        return found[-limit:] if limit > 0 else []

    def next_attempt_at(self) -> datetime | None:
        with self._store.lock:
            endpoints = self._endpoints()
            return min(
                (
                    d.next_attempt_at
                    for d in self._deliveries().values()
                    if d.delivered_at is None and endpoints[d.endpoint_id][0].active
                ),
                default=None,
            )

    def commit(self) -> None:
        """Store what this unit of work changed (the store's lock is held)."""
        self._tables.endpoints.update(self.pending_endpoints)
        self._tables.deliveries.update(self.pending_deliveries)
        self.pending_endpoints = {}
        self.pending_deliveries = {}
