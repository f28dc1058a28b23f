"""Child safety in charging: always-allowed numbers and quiet hours, on every backend.

The demo family (the Chans, HK plan, Asia/Hong_Kong) has two children: Chan Ka Yan
(guardian Wong Mei Ling, +85261230002) and Chan Ka Ho (guardian the owner,
+85291230001). A call or message to a guardian or an emergency number (999, 112 on the
HK plan) is never denied and charged at zero: its usage records carry the units as
``free`` and no counter moves. Quiet hours refuse the child's data and calls in the
family's time zone, except to those numbers.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from demo_charging import (
    CHILD,
    DATA,
    EVENT,
    INITIAL,
    RULES,
    SMS,
    SPOUSE_MSISDN,
    T0,
    TERMINATION,
    UPDATE,
    VOICE,
    Now,
)
from famsim.demo import create_demo_family
from famsim.domain.allocation import Limit
from famsim.domain.charging.ledger import FamilyLedger, UsageRecord
from famsim.domain.money import Money
from famsim.domain.units import HOME
from famsim.service import commands as c
from famsim.service.charging import (
    ChargingAnswer,
    ChargingRequest,
    ChargingService,
    RequestType,
    ServiceAnswer,
    ServiceUse,
)
from famsim.service.messagebus import MessageBus

pytestmark = pytest.mark.integration

GUARDIAN = SPOUSE_MSISDN  # Wong Mei Ling, Chan Ka Yan's guardian
OTHER_PARENT = "+85291230001"  # the owner: guardian of the other child, not of her
STRANGER = "+85298765432"
_sessions = itertools.count(1)


class Child:
    """Drives Chan Ka Yan's line through the charging service."""

    def __init__(self, uow_factory: Any, bus: MessageBus) -> None:
        self.uow_factory = uow_factory
        self.bus = bus
        self.family_id = str(create_demo_family(bus))
        self.now = Now(T0)
        self.service = ChargingService(uow_factory, self.now, RULES)

    def restrict(self, *, quiet_hours: tuple[str, ...] = (), allow: tuple[str, ...] = ()) -> None:
        """No voice, no SMS, no paid overage; data only from the pool."""
        self.bus.handle(
            c.SetAllocation(
                self.family_id,
                "Chan Ka Yan",
                limits={
                    (VOICE, HOME): Limit(quota=0, hard_cap=0),
                    (SMS, HOME): Limit(quota=0, hard_cap=0),
                },
                money_cap=Money.zero("HKD"),
                roaming_allowed=False,
                quiet_hours=quiet_hours,
                always_allowed=allow,
            )
        )

    def send(
        self,
        session: str,
        number: int,
        kind: RequestType,
        use: ServiceUse,
        destination: str | None = None,
    ) -> ServiceAnswer:
        answer: ChargingAnswer = self.service.handle(
            ChargingRequest(session, number, kind, CHILD, (use,), destination=destination)
        )
        assert answer.outcome == "success", answer
        assert len(answer.services) == 1
        return answer.services[0]

    def ledger(self) -> tuple[FamilyLedger, list[UsageRecord]]:
        with self.uow_factory() as uow:
            family = uow.families.get(self.family_id)
            plan = uow.plans.get(family.plan_code)
            ledger = uow.ledgers.get(family.id, family.cycle.number, plan)
            return ledger, list(uow.ledgers.usage(family.id, family.cycle.number))


@pytest.fixture
def child(uow_factory: Any, bus: MessageBus) -> Iterator[Child]:
    harness = Child(uow_factory, bus)
    yield harness
    _, records = harness.ledger()
    for r in records:  # the split holds for every record, free ones included
        assert r.units == r.from_pool + r.from_overage + r.free, r


def session() -> str:
    return f"gy-{next(_sessions):06d};safety"


def voice(used: int | None = None) -> ServiceUse:
    return ServiceUse(VOICE, used=used)


def test_a_call_to_the_guardian_is_granted_free_when_voice_is_capped(child: Child) -> None:
    child.restrict()
    sid = session()

    granted = child.send(sid, 0, INITIAL, voice(), destination=GUARDIAN)
    assert (granted.outcome, granted.granted) == ("success", 60)
    ended = child.send(sid, 1, TERMINATION, voice(used=45), destination=GUARDIAN)
    assert ended.outcome == "success"

    ledger, records = child.ledger()
    assert [(r.units, r.free, r.from_pool, r.from_overage) for r in records] == [(45, 45, 0, 0)]
    assert ledger.pool((VOICE, HOME)).used == 0
    assert ledger.reservations == {}


def test_a_call_to_anyone_else_is_refused_by_the_cap(child: Child) -> None:
    child.restrict()

    refused = child.send(session(), 0, INITIAL, voice(), destination=STRANGER)
    assert (refused.outcome, refused.granted) == ("limit_reached", 0)
    other = child.send(session(), 0, INITIAL, voice(), destination=OTHER_PARENT)
    assert other.outcome == "limit_reached"  # the owner guards the other child, not her


@pytest.mark.parametrize("number", ["999", "112"])
def test_emergency_numbers_of_the_plan_are_free(child: Child, number: str) -> None:
    child.restrict()

    answer = child.send(session(), 0, EVENT, ServiceUse(SMS), destination=number)

    assert (answer.outcome, answer.granted) == ("success", 1)
    _, records = child.ledger()
    assert [(r.resource, r.units, r.free) for r in records] == [(SMS, 1, 1)]


def test_an_owner_listed_number_is_free_and_matches_without_plus(child: Child) -> None:
    child.restrict(allow=("+852 9876 5432",))

    answer = child.send(session(), 0, EVENT, ServiceUse(SMS), destination="85298765432")

    assert (answer.outcome, answer.granted) == ("success", 1)


def test_overshoot_on_a_free_call_stays_free(child: Child) -> None:
    child.restrict()
    sid = session()
    child.send(sid, 0, INITIAL, voice(), destination=GUARDIAN)

    child.send(sid, 1, TERMINATION, voice(used=200), destination=GUARDIAN)

    ledger, records = child.ledger()
    assert [(r.units, r.free, r.overshoot) for r in records] == [(200, 200, 140)]
    assert all(not c.used for m in ledger.members.values() for c in m.pool.values())


def test_quiet_hours_refuse_data_and_calls_but_not_the_guardian(child: Child) -> None:
    child.restrict(quiet_hours=("daily 19:00-21:00 data,voice",))

    data = child.send(session(), 0, INITIAL, ServiceUse(DATA))
    assert (data.outcome, data.granted) == ("quiet_hours", 0)
    stranger = child.send(session(), 0, INITIAL, voice(), destination=STRANGER)
    assert stranger.outcome == "quiet_hours"
    guardian = child.send(session(), 0, INITIAL, voice(), destination=GUARDIAN)
    assert (guardian.outcome, guardian.granted) == ("success", 60)


def test_quiet_hours_use_the_family_time_zone(child: Child) -> None:
    # 19:00-21:00 in Hong Kong is 11:00-13:00 UTC; at 14:00 UTC (22:00 HKT) data flows.
    child.restrict(quiet_hours=("daily 19:00-21:00 data",))
    child.now.current = T0 + timedelta(hours=2)

    answer = child.send(session(), 0, INITIAL, ServiceUse(DATA))

    assert (answer.outcome, answer.granted) == ("success", 1_000_000)


def test_units_used_before_quiet_hours_began_are_still_booked(child: Child) -> None:
    child.now.current = T0 - timedelta(hours=2)  # 18:00 HKT: before the window
    child.restrict(quiet_hours=("daily 19:00-21:00 data",))
    sid = session()
    assert child.send(sid, 0, INITIAL, ServiceUse(DATA)).granted == 1_000_000

    child.now.current = T0  # 20:00 HKT: quiet
    answer = child.send(sid, 1, UPDATE, ServiceUse(DATA, used=700_000))

    assert (answer.outcome, answer.granted) == ("quiet_hours", 0)
    ledger, records = child.ledger()
    assert [(r.units, r.from_pool, r.free) for r in records] == [(700_000, 700_000, 0)]
    assert ledger.pool((DATA, HOME)).used == 700_000
    assert ledger.reservations == {}  # nothing stays held while she may not use it


def test_a_suspended_line_stays_suspended_even_for_the_guardian(child: Child) -> None:
    child.bus.handle(c.SuspendLine(child.family_id, "+85294560004", "lost phone"))

    answer = child.service.handle(
        ChargingRequest(session(), 0, INITIAL, CHILD, (voice(),), destination=GUARDIAN)
    )

    assert answer.outcome == "line_suspended"
    assert answer.services[0].granted == 0
