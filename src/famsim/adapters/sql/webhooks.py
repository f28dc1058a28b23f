"""Webhook endpoints and deliveries in SQL, in the unit of work's transaction.

A delivery's idempotency key is unique in the table: creating one that exists does
nothing (INSERT ... ON CONFLICT DO NOTHING), so two dispatchers fanning out the same event
still make one delivery per endpoint. Marking an attempt only touches an undelivered row:
a late failure report never undoes a delivery another sender already made.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from famsim.adapters.sql import schema as t
from famsim.domain.outbox import OutboxEvent
from famsim.domain.webhooks import WebhookDelivery, WebhookEndpoint, WebhookNotFound
from famsim.service.ports import DueDelivery, Sealed

_E = t.webhook_endpoints.c
_D = t.webhook_deliveries.c
_O = t.outbox.c
MAX_ERROR = 200  # the last_error column


def _endpoint(row: Any) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row.id,
        url=row.url,
        kinds=tuple(row.kinds),
        created_at=row.created_at,
        disabled_at=row.disabled_at,
    )


def _delivery(row: Any) -> WebhookDelivery:
    return WebhookDelivery(
        id=int(row.id),
        endpoint_id=row.endpoint_id,
        event_id=int(row.event_id),
        idempotency_key=row.idempotency_key,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
        last_status=row.last_status,
        last_error=row.last_error,
    )


class SqlWebhooks:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    # ------------------------------------------------------------------ endpoints
    def add(self, endpoint: WebhookEndpoint, secret: Sealed) -> None:
        self._connection.execute(
            insert(t.webhook_endpoints).values(
                id=endpoint.id,
                url=endpoint.url,
                kinds=list(endpoint.kinds),
                secret_key_id=secret.key_id,
                secret_nonce=secret.nonce,
                secret=secret.ciphertext,
                created_at=endpoint.created_at,
                disabled_at=endpoint.disabled_at,
            )
        )

    def secrets(self) -> list[tuple[str, Sealed]]:
        query = select(_E.id, _E.secret_key_id, _E.secret_nonce, _E.secret).order_by(_E.id)
        return [
            (row.id, Sealed(row.secret_key_id, row.secret_nonce, row.secret))
            for row in self._connection.execute(query)
        ]

    def replace_secret(self, endpoint_id: str, secret: Sealed) -> None:
        self._connection.execute(
            update(t.webhook_endpoints)
            .where(_E.id == endpoint_id)
            .values(
                secret_key_id=secret.key_id, secret_nonce=secret.nonce, secret=secret.ciphertext
            )
        )

    def get(self, endpoint_id: str) -> WebhookEndpoint:
        row = self._connection.execute(
            select(t.webhook_endpoints).where(_E.id == endpoint_id)
        ).first()
        if row is None:
            raise WebhookNotFound(f"no webhook endpoint {endpoint_id!r}")
        return _endpoint(row)

    def listing(self) -> list[WebhookEndpoint]:
        query = select(t.webhook_endpoints).order_by(_E.created_at, _E.id)
        return [_endpoint(row) for row in self._connection.execute(query)]

    def disable(self, endpoint_id: str, at: datetime) -> None:
        self.get(endpoint_id)
        self._connection.execute(
            update(t.webhook_endpoints)
            .where(_E.id == endpoint_id, _E.disabled_at.is_(None))
            .values(disabled_at=at)
        )

    # ------------------------------------------------------------------ deliveries
    def create_delivery(
        self, endpoint_id: str, event_id: int, idempotency_key: str, due: datetime
    ) -> bool:
        dialect = postgresql if self._connection.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(t.webhook_deliveries)
            .on_conflict_do_nothing(index_elements=[_D.idempotency_key])
            .returning(_D.id)  # a row back: it was new (rowcount varies by driver)
        )
        done = self._connection.execute(
            statement,
            {
                "endpoint_id": endpoint_id,
                "event_id": event_id,
                "idempotency_key": idempotency_key,
                "attempts": 0,
                "next_attempt_at": due,
            },
        )
        return done.first() is not None

    def due(self, now: datetime, limit: int) -> list[DueDelivery]:
        query = (
            select(
                t.webhook_deliveries,
                _E.url,
                _E.kinds,
                _E.created_at.label("endpoint_created_at"),
                _E.secret_key_id,
                _E.secret_nonce,
                _E.secret,
                _O.family_id,
                _O.kind,
                _O.payload,
                _O.created_at.label("event_created_at"),
            )
            .join(t.webhook_endpoints, _E.id == _D.endpoint_id)
            .join(t.outbox, _O.id == _D.event_id)
            .where(
                _D.delivered_at.is_(None),
                _D.next_attempt_at <= now,
                _E.disabled_at.is_(None),
            )
            .order_by(_D.next_attempt_at, _D.id)
            .limit(max(limit, 0))
        )
        found = []
        for row in self._connection.execute(query):
            endpoint = WebhookEndpoint(
                row.endpoint_id, row.url, tuple(row.kinds), row.endpoint_created_at
            )
            event = OutboxEvent(
                int(row.event_id), row.family_id, row.kind, dict(row.payload), row.event_created_at
            )
            secret = Sealed(row.secret_key_id, row.secret_nonce, row.secret)
            found.append(DueDelivery(_delivery(row), endpoint, secret, event))
        return found

    def mark_delivered(self, delivery_id: int, at: datetime, status: int) -> None:
        self._connection.execute(
            update(t.webhook_deliveries)
            .where(_D.id == delivery_id, _D.delivered_at.is_(None))
            .values(attempts=_D.attempts + 1, delivered_at=at, last_status=status, last_error=None)
        )

    def mark_failed(
        self,
        delivery_id: int,
        at: datetime,
        next_attempt_at: datetime,
        status: int | None,
        error: str,
    ) -> None:
        self._connection.execute(
            update(t.webhook_deliveries)
            .where(_D.id == delivery_id, _D.delivered_at.is_(None))
            .values(
                attempts=_D.attempts + 1,
                next_attempt_at=next_attempt_at,
                last_status=status,
                last_error=error[:MAX_ERROR],
            )
        )

    def deliveries(self, endpoint_id: str | None = None, limit: int = 100) -> list[WebhookDelivery]:
        query = select(t.webhook_deliveries).order_by(_D.id.desc()).limit(max(limit, 0))
        if endpoint_id is not None:
            query = query.where(_D.endpoint_id == endpoint_id)
        return [_delivery(row) for row in reversed(list(self._connection.execute(query)))]

    def next_attempt_at(self) -> datetime | None:
        query = (
            select(func.min(_D.next_attempt_at))
            .join(t.webhook_endpoints, _E.id == _D.endpoint_id)
            .where(_D.delivered_at.is_(None), _E.disabled_at.is_(None))
        )
        found: datetime | None = self._connection.execute(query).scalar()
        return found
