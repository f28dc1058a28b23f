"""The outbox in SQL: events added in a unit of work, read back by the webhook dispatcher.

Added events wait in memory and are inserted on commit after the families (an event may
name a family added in the same unit of work), next to the threshold alerts the charging
ledger writes into the same table. ``delivered_at`` says the event was fanned out to the
webhook endpoints (dispatched), not that any receiver has it yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from famsim.adapters.sql import schema as t
from famsim.domain.outbox import OutboxEvent
from famsim.service.ports import FamilyNotFound

_O = t.outbox.c


def _event(row: Any) -> OutboxEvent:
    return OutboxEvent(
        id=int(row.id),
        family_id=row.family_id,
        kind=row.kind,
        payload=dict(row.payload),
        created_at=row.created_at,
    )


class SqlOutbox:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.pending: list[dict[str, Any]] = []

    def add(self, family_id: str, kind: str, payload: Mapping[str, Any], at: datetime) -> None:
        self.pending.append(
            {
                "family_id": family_id,
                "kind": kind,
                "payload": dict(payload),
                "created_at": at,
                "delivered_at": None,
            }
        )

    def undispatched(self, limit: int) -> list[OutboxEvent]:
        query = select(t.outbox).where(_O.delivered_at.is_(None)).order_by(_O.id).limit(limit)
        if self._connection.dialect.name == "postgresql":
            # A second dispatcher skips the events this one is fanning out.
            query = query.with_for_update(skip_locked=True)
        return [_event(row) for row in self._connection.execute(query)]

    def mark_dispatched(self, event_ids: Sequence[int], at: datetime) -> None:
        if event_ids:
            self._connection.execute(
                update(t.outbox).where(_O.id.in_(list(event_ids))).values(delivered_at=at)
            )

    def for_family(self, family_id: str, limit: int = 100) -> list[OutboxEvent]:
        query = (
            select(t.outbox)
            .where(_O.family_id == family_id)
            .order_by(_O.id.desc())
            .limit(max(limit, 0))
        )
        return [_event(row) for row in reversed(list(self._connection.execute(query)))]

    def flush(self) -> None:
        if not self.pending:
            return
        named = sorted({row["family_id"] for row in self.pending})
        found = set(
            self._connection.execute(
                select(t.families.c.id).where(t.families.c.id.in_(named))
            ).scalars()
        )
        if missing := [f for f in named if f not in found]:
            raise FamilyNotFound(
                f"an outbox event names the family {missing[0]!r}, which does not exist"
            )
        self._connection.execute(insert(t.outbox), self.pending)
        self.pending = []
