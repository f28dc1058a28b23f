"""The engine's rule for sessions that are not open (``Outcome.SESSION_UNKNOWN``), over the
in-memory store: what counts as open, what the in-memory cache may answer without asking
the store, and that another worker's TERMINATION is seen at once.

The same rule on every backend (SQLite, PostgreSQL): tests/contract/test_charging_contract.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from demo_charging import DATA, EVENT, INITIAL, OWNER, RULES, SMS, SPOUSE, TERMINATION, UPDATE, Now
from famsim.adapters.memory import MemoryStore, MemoryUnitOfWork
from famsim.demo import create_demo_family
from famsim.service.charging import (
    ChargingAnswer,
    ChargingRequest,
    ChargingService,
    Outcome,
    RequestType,
    ServiceUse,
)
from famsim.service.messagebus import MessageBus

pytestmark = pytest.mark.unit


class _Counting(MemoryUnitOfWork):
    """A memory unit of work that counts the look-ups of open sessions."""

    asked: list[list[str]]

    def __enter__(self) -> _Counting:
        super().__enter__()
        ledgers = self.ledgers
        lookup = ledgers.open_sessions
        asked = self.asked

        def counted(session_ids: Sequence[str]) -> set[str]:
            asked.append(list(session_ids))
            return lookup(session_ids)

        ledgers.open_sessions = counted  # type: ignore[method-assign]
        return self


@pytest.fixture
def store(memory_store: MemoryStore, memory_bus: MessageBus) -> MemoryStore:
    create_demo_family(memory_bus)
    return memory_store


def _service(store: MemoryStore, asked: list[list[str]]) -> ChargingService:
    def factory() -> Any:
        uow = _Counting(store)
        uow.asked = asked
        return uow

    return ChargingService(factory, Now(), RULES)


def _send(
    service: ChargingService, session: str, number: int, kind: RequestType, who: str = OWNER
) -> ChargingAnswer:
    use = ServiceUse(SMS) if kind is EVENT else ServiceUse(DATA, used=10)
    return service.handle(ChargingRequest(session, number, kind, who, (use,)))


def test_the_outcome_is_named_for_the_gy_mapping() -> None:
    assert Outcome.SESSION_UNKNOWN == "session_unknown"


def test_only_update_and_termination_need_an_open_session(store: MemoryStore) -> None:
    service = _service(store, [])
    assert _send(service, "a", 3, UPDATE).outcome == Outcome.SESSION_UNKNOWN
    assert _send(service, "b", 3, TERMINATION).outcome == Outcome.SESSION_UNKNOWN
    assert _send(service, "c", 0, EVENT).outcome == Outcome.SUCCESS
    assert _send(service, "d", 0, INITIAL).outcome == Outcome.SUCCESS
    assert store.open_sessions == {"d": next(iter(store.families))}
    assert store.usage == [r for r in store.usage if r.session_id in ("c", "d")]


def test_a_session_this_worker_answered_last_is_not_looked_up(store: MemoryStore) -> None:
    asked: list[list[str]] = []
    service = _service(store, asked)
    _send(service, "s", 0, INITIAL)
    for number in (1, 2, 3):
        assert _send(service, "s", number, UPDATE).outcome == Outcome.SUCCESS
    assert _send(service, "s", 4, TERMINATION).outcome == Outcome.SUCCESS
    assert [ids for ids in asked if ids] == []  # the cache knew the session was open
    assert "s" not in store.open_sessions

    assert _send(service, "s", 5, UPDATE).outcome == Outcome.SESSION_UNKNOWN
    assert [ids for ids in asked if ids] == [["s"]]


def test_another_workers_termination_is_seen_at_once(store: MemoryStore) -> None:
    mine, theirs = _service(store, []), _service(store, [])
    _send(mine, "s", 0, INITIAL)
    _send(mine, "s", 1, UPDATE)
    assert _send(theirs, "s", 2, TERMINATION).outcome == Outcome.SUCCESS

    assert _send(mine, "s", 3, UPDATE).outcome == Outcome.SESSION_UNKNOWN


def test_a_session_opened_by_another_worker_is_open(store: MemoryStore) -> None:
    mine, theirs = _service(store, []), _service(store, [])
    _send(theirs, "s", 0, INITIAL, SPOUSE)

    assert _send(mine, "s", 1, UPDATE, SPOUSE).outcome == Outcome.SUCCESS
    assert _send(mine, "s", 2, TERMINATION, SPOUSE).outcome == Outcome.SUCCESS


def test_a_refusal_does_not_open_the_session(store: MemoryStore) -> None:
    service = _service(store, [])
    assert _send(service, "s", 1, UPDATE).outcome == Outcome.SESSION_UNKNOWN
    assert _send(service, "s", 2, UPDATE).outcome == Outcome.SESSION_UNKNOWN
    assert store.open_sessions == {}
