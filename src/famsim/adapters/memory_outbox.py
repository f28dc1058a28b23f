"""The outbox in memory, on the same list the memory ledger publishes threshold alerts to.

An event's id is its position in ``MemoryStore.outbox`` plus one: the list is only ever
appended to, so ids are stable and increase in the order events were committed, as the
SQL table's identity column does. Which events were fanned out is kept beside the list
(``MemoryStore.outbox_dispatched``), so the ledger's entries keep their shape.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from famsim.domain.outbox import OutboxEvent

if TYPE_CHECKING:
    from famsim.adapters.memory import MemoryStore


class MemoryOutbox:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.pending: list[tuple[str, dict[str, Any]]] = []
        self.dispatched: dict[int, datetime] = {}

    def add(self, family_id: str, kind: str, payload: Mapping[str, Any], at: datetime) -> None:
        entry = {"kind": kind, "payload": copy.deepcopy(dict(payload)), "created_at": at}
        self.pending.append((family_id, entry))

    def undispatched(self, limit: int) -> list[OutboxEvent]:
        with self._store.lock:
            done = self._store.outbox_dispatched.keys() | self.dispatched.keys()
            found = [e for e in stored_events(self._store) if e.id not in done]
        return found[: max(limit, 0)]

    def mark_dispatched(self, event_ids: Sequence[int], at: datetime) -> None:
        for event_id in event_ids:
            self.dispatched.setdefault(event_id, at)

    def for_family(self, family_id: str, limit: int = 100) -> list[OutboxEvent]:
        with self._store.lock:
            mine = [e for e in stored_events(self._store) if e.family_id == family_id]
        return mine[-limit:] if limit > 0 else []

    def commit(self) -> None:
        """Store what this unit of work added and marked (the store's lock is held)."""
        self._store.outbox.extend(self.pending)
        count = len(self._store.outbox)
        for event_id, at in self.dispatched.items():
            if 1 <= event_id <= count:
                self._store.outbox_dispatched.setdefault(event_id, at)
        self.pending = []
        self.dispatched = {}


def stored_events(store: MemoryStore) -> list[OutboxEvent]:
    """Every committed event with its id (position + 1); call with the store's lock held."""
    return [
        OutboxEvent(
            id=position + 1,
            family_id=family_id,
            kind=entry["kind"],
            payload=copy.deepcopy(entry["payload"]),
            created_at=entry["created_at"],
        )
        for position, (family_id, entry) in enumerate(store.outbox)
    ]
