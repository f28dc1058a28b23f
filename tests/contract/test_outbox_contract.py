"""The outbox (``uow.outbox``) behaves alike in memory, on SQLite and on PostgreSQL.

Events are written with the unit of work's commit, read back with stable increasing ids
(next to the threshold alerts the charging ledger writes), and stay undispatched until a
committed ``mark_dispatched`` says they were fanned out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from famsim.domain.family import Family
from famsim.domain.plan import Plan
from famsim.service.ports import FamilyNotFound

pytestmark = pytest.mark.integration

NOW = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)


@pytest.fixture
def family(uow_factory: Any, hk_plan: Plan) -> Family:
    stored = Family.create(name="Outboxed", plan=hk_plan, owner_name="Ann", today=NOW.date())
    with uow_factory() as uow:
        uow.families.add(stored)
        uow.commit()
    return stored


def add(uow_factory: Any, family_id: str, kind: str, n: int, *, commit: bool = True) -> None:
    with uow_factory() as uow:
        uow.outbox.add(family_id, kind, {"n": n, "nested": {"list": [1, 2]}}, NOW)
        if commit:
            uow.commit()


def test_events_are_written_with_the_commit_and_read_back_oldest_first(
    uow_factory: Any, family: Family
) -> None:
    add(uow_factory, family.id, "invitation.sent", 1)
    add(uow_factory, family.id, "invitation.sent", 2, commit=False)  # rolled back
    add(uow_factory, family.id, "esim.state_changed", 3)
    with uow_factory() as uow:
        events = uow.outbox.for_family(family.id)
        assert [(e.kind, e.payload["n"]) for e in events] == [
            ("invitation.sent", 1),
            ("esim.state_changed", 3),
        ]
        assert events[0].id < events[1].id
        assert events[0].payload["nested"] == {"list": [1, 2]}
        assert events[0].created_at == NOW
        assert events[0].family_id == family.id
        assert [e.payload["n"] for e in uow.outbox.for_family(family.id, limit=1)] == [3]
        assert uow.outbox.for_family("no-such-family") == []


def test_dispatched_events_are_not_handed_out_again(uow_factory: Any, family: Family) -> None:
    for n in range(3):
        add(uow_factory, family.id, "invitation.sent", n)
    with uow_factory() as uow:
        first = uow.outbox.undispatched(2)
        assert [e.payload["n"] for e in first] == [0, 1]
        uow.outbox.mark_dispatched([e.id for e in first], NOW)
        # not committed: forgotten
    with uow_factory() as uow:
        assert len(uow.outbox.undispatched(10)) == 3
        uow.outbox.mark_dispatched([e.id for e in uow.outbox.undispatched(2)], NOW)
        uow.commit()
    with uow_factory() as uow:
        assert [e.payload["n"] for e in uow.outbox.undispatched(10)] == [2]
        ids = [e.id for e in uow.outbox.for_family(family.id)]
    assert len(set(ids)) == 3  # ids are stable: the same events read again


def test_an_event_naming_no_family_fails_the_commit(uow_factory: Any, family: Family) -> None:
    with uow_factory() as uow:
        uow.outbox.add("no-such-family", "invitation.sent", {}, NOW)
        with pytest.raises(FamilyNotFound):
            uow.commit()
    with uow_factory() as uow:
        assert uow.outbox.undispatched(10) == []


def test_an_event_may_name_a_family_added_in_the_same_unit_of_work(
    uow_factory: Any, hk_plan: Plan
) -> None:
    fresh = Family.create(name="Fresh", plan=hk_plan, owner_name="Ada", today=NOW.date())
    with uow_factory() as uow:
        uow.families.add(fresh)
        uow.outbox.add(fresh.id, "invitation.sent", {"to": "+85291234567"}, NOW)
        uow.commit()
    with uow_factory() as uow:
        assert [e.kind for e in uow.outbox.undispatched(10)] == ["invitation.sent"]
        later = NOW + timedelta(seconds=1)
        assert all(e.created_at < later for e in uow.outbox.for_family(fresh.id))
