"""The ledger storage contract: every LedgerRepository stores and reads ledgers alike.

Each test runs on the in-memory adapter, on SQLite and on PostgreSQL (the ``uow_factory``
fixture in conftest.py). Ledgers are driven through the domain (grant, commit, release,
expire) for a stored family, so the SQL foreign keys to families, members and
subscriptions hold; what a unit of work commits must read back equal in the next one.
"""

from __future__ import annotations

import itertools
from collections import Counter as Tally
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from famsim.domain.allocation import Allocation, Limit
from famsim.domain.charging.grants import ChargingRules, GrantRequest, Quantum
from famsim.domain.charging.ledger import Counter, FamilyLedger, ServiceKey, UsageRecord
from famsim.domain.family import Family
from famsim.domain.identifiers import Eid, Iccid, Imei, Imsi, Msisdn
from famsim.domain.ids import MemberId, SubscriptionId, new_id
from famsim.domain.lines import SimType, Subscription
from famsim.domain.members import Role
from famsim.domain.plan import DeviceKind, Plan
from famsim.domain.units import HOME, Resource, Zone

pytestmark = pytest.mark.integration

TODAY = date(2026, 1, 31)
T0 = datetime(2026, 2, 3, 12, 0, tzinfo=UTC)
DATA, SMS = Resource.DATA, Resource.SMS
GREATER_CHINA = Zone("greater-china")
DATA_HOME: ServiceKey = (DATA, HOME, False)
DATA_TETHERED: ServiceKey = (DATA, HOME, True)
DATA_GC: ServiceKey = (DATA, GREATER_CHINA, False)
SMS_GC: ServiceKey = (SMS, GREATER_CHINA, False)
RULES = ChargingRules(quanta={DATA: Quantum(1000, 600), SMS: Quantum(1, 60)})
SMS_QUOTA = 2  # the adult's greater-china SMS quota: beyond it, SMS come from overage
_serial = itertools.count(1)


# ----------------------------------------------------------------------------- helpers
def subscription() -> Subscription:
    n = next(_serial)
    return Subscription(
        id=SubscriptionId(new_id()),
        iccid=Iccid.from_body(f"8985200004560{n:05d}"),
        imsi=Imsi.parse(f"4540045600{n:05d}"),
        sim_type=SimType.ESIM,
        device_kind=DeviceKind.PHONE,
        primary=True,
        eid=Eid.from_body(f"8904903200002000000000000{n:05d}"),
        imei=Imei.from_body(f"353322220{n:05d}"),
    )


@dataclass(frozen=True)
class Stored:
    """The stored family and who charges: the owner and an adult, each with one line."""

    family_id: str
    cycle_number: int
    owner: MemberId
    adult: MemberId
    subs: dict[MemberId, SubscriptionId]


@pytest.fixture
def stored(uow_factory: Any, hk_plan: Plan) -> Stored:
    family = Family.create(name="Ledger family", plan=hk_plan, owner_name="Ho Wai", today=TODAY)
    adult = family.add_member(hk_plan, name="Lam Siu Fung", role=Role.ADULT, today=TODAY)
    subs: dict[MemberId, SubscriptionId] = {}
    for member_id in (family.owner_id, adult.id):
        line = family.add_line(
            hk_plan,
            member_id=member_id,
            msisdn=Msisdn.parse(f"+8529345{next(_serial):04d}"),
            primary=subscription(),
            data_only=False,
        )
        subs[member_id] = line.primary.id
    family.set_allocation(
        adult.id,
        Allocation(limits={(SMS, GREATER_CHINA): Limit(quota=SMS_QUOTA)}, roaming_allowed=True),
        [hk_plan],
    )
    with uow_factory() as uow:
        uow.families.add(family)
        uow.commit()
    return Stored(family.id, family.cycle.number, family.owner_id, adult.id, subs)


class Charging:
    """One unit of work's view of the stored family's ledger, with short verbs."""

    def __init__(self, uow: Any, stored: Stored, plan: Plan) -> None:
        self.family = uow.families.get(stored.family_id, for_update=True)
        self.ledger: FamilyLedger = uow.ledgers.get(
            stored.family_id, self.family.cycle.number, plan
        )
        self.uow = uow
        self.stored = stored
        self.records: list[UsageRecord] = []

    def grant(
        self,
        member: MemberId,
        session: str,
        service: ServiceKey,
        requested: int,
        now: datetime = T0,
    ) -> int:
        resource, zone, tethered = service
        grant = self.ledger.grant(
            session_id=session,
            member_id=member,
            subscription_id=self.stored.subs[member],
            request=GrantRequest(resource, zone, tethered, requested),
            allocation=self.family.allocation(member),
            family_money_cap=self.family.money_cap,
            rules=RULES,
            now=now,
        )
        assert grant.units, f"the scenario expects {requested} units granted, got {grant}"
        return grant.units

    def commit(
        self, member: MemberId, session: str, service: ServiceKey, used: int, now: datetime = T0
    ) -> UsageRecord:
        record = self.ledger.commit(
            session_id=session,
            service=service,
            used=used,
            member_id=member,
            subscription_id=self.stored.subs[member],
            allocation=self.family.allocation(member),
            now=now,
        )
        assert record is not None
        self.uow.ledgers.append(record)
        self.records.append(record)
        return record


def _nonzero(counters: dict[Any, Counter]) -> dict[Any, Counter]:
    """A counter at zero is the same as no counter: storage need not write it."""
    return {key: c for key, c in counters.items() if c.used or c.reserved}


def state(ledger: FamilyLedger) -> dict[str, Any]:
    """Everything a ledger stores, as plain comparable values."""
    return {
        "family_id": ledger.family_id,
        "cycle_number": ledger.cycle_number,
        "pools": _nonzero(ledger.pools),
        "members": {
            member_id: {
                "pool": _nonzero(m.pool),
                "overage": _nonzero(m.overage),
                "tethered": m.tethered,
                "overage_reserved_minor": m.overage_reserved_minor,
            }
            for member_id, m in ledger.members.items()
        },
        "reservations": dict(ledger.reservations),
    }


def read_back(uow_factory: Any, stored: Stored, plan: Plan) -> tuple[dict[str, Any], list[Any]]:
    with uow_factory() as uow:
        uow.families.get(stored.family_id, for_update=True)
        ledger = uow.ledgers.get(stored.family_id, stored.cycle_number, plan)
        return state(ledger), list(uow.ledgers.usage(stored.family_id, stored.cycle_number))


def first_round(uow_factory: Any, stored: Stored, plan: Plan) -> tuple[dict[str, Any], list[Any]]:
    """Grants to both members, commits within, below and beyond grants; committed."""
    owner, adult = stored.owner, stored.adult
    with uow_factory() as uow:
        c = Charging(uow, stored, plan)
        assert c.family.cycle.number == stored.cycle_number
        # owner, data at home: granted 1000, used 400 (below the grant)
        c.grant(owner, "s-data", DATA_HOME, 1000)
        assert c.commit(owner, "s-data", DATA_HOME, 400).overshoot == 0
        # owner, tethered data: granted 2000, used exactly that (within)
        c.grant(owner, "s-teth", DATA_TETHERED, 2000)
        c.commit(owner, "s-teth", DATA_TETHERED, 2000)
        # owner, data at home beyond the grant: overshoot booked into the pool
        c.grant(owner, "s-over", DATA_HOME, 500)
        over = c.commit(owner, "s-over", DATA_HOME, 800, now=T0 + timedelta(seconds=5))
        assert (over.overshoot, over.from_pool, over.from_overage) == (300, 800, 0)
        # adult, SMS in greater china (roaming allowed): 1 granted, 5 sent -> quota of 2
        # from the pool, the rest as overage
        c.grant(adult, "s-sms", SMS_GC, 1)
        sms = c.commit(adult, "s-sms", SMS_GC, 5, now=T0 + timedelta(seconds=10))
        assert (sms.overshoot, sms.from_pool, sms.from_overage) == (4, SMS_QUOTA, 3)
        # live reservations: the adult's next SMS come from overage (money reserved);
        # the owner holds data at home, tethered data and roaming data
        c.grant(adult, "s-sms2", SMS_GC, 3)
        c.grant(owner, "s-open", DATA_HOME, 1500)
        c.grant(owner, "s-teth2", DATA_TETHERED, 700)
        c.grant(owner, "s-keep", DATA_GC, 900, now=T0 + timedelta(days=1))
        assert c.ledger.reservations[("s-sms2", SMS_GC)].from_overage == 3
        assert c.ledger.member(adult).overage_reserved_minor > 0
        uow.commit()
        return state(c.ledger), c.records


def second_round(
    uow_factory: Any, stored: Stored, plan: Plan
) -> tuple[dict[str, Any], list[UsageRecord]]:
    """Release one reservation, expire one, re-grant one, commit more; committed."""
    owner, adult = stored.owner, stored.adult
    later = T0 + timedelta(hours=1)
    with uow_factory() as uow:
        c = Charging(uow, stored, plan)
        assert c.ledger.release("s-open", DATA_HOME) is not None
        expired = c.ledger.expire(later)
        assert {(session, service) for session, service, _ in expired} == {
            ("s-sms2", SMS_GC),
            ("s-teth2", DATA_TETHERED),
        }
        c.grant(owner, "s-keep", DATA_GC, 400, now=later)  # the same key, new values
        c.grant(owner, "s-data", DATA_HOME, 1000, now=later)
        c.commit(owner, "s-data", DATA_HOME, 1000, now=later)
        c.grant(adult, "s-sms3", SMS_GC, 1, now=later)
        c.commit(adult, "s-sms3", SMS_GC, 1, now=later)
        c.grant(adult, "s-new", DATA_HOME, 300, now=later)
        uow.commit()
        return state(c.ledger), c.records


# ------------------------------------------------------------------------------- tests
def test_a_ledger_never_stored_is_empty(uow_factory: Any, stored: Stored, hk_plan: Plan) -> None:
    with uow_factory() as uow:
        ledger = uow.ledgers.get(stored.family_id, stored.cycle_number, hk_plan)
        assert ledger.family_id == stored.family_id
        assert ledger.cycle_number == stored.cycle_number
        assert ledger.plan == hk_plan
        assert (ledger.pools, ledger.members, ledger.reservations) == ({}, {}, {})
        assert list(uow.ledgers.usage(stored.family_id, stored.cycle_number)) == []


def test_a_committed_ledger_reads_back_equal(
    uow_factory: Any, stored: Stored, hk_plan: Plan
) -> None:
    written, records = first_round(uow_factory, stored, hk_plan)
    read, usage = read_back(uow_factory, stored, hk_plan)
    assert read == written
    assert usage == records
    assert len(usage) == 4


def test_changes_in_a_later_unit_of_work_read_back_equal(
    uow_factory: Any, stored: Stored, hk_plan: Plan
) -> None:
    _, first = first_round(uow_factory, stored, hk_plan)
    written, second = second_round(uow_factory, stored, hk_plan)
    assert set(written["reservations"]) == {("s-keep", DATA_GC), ("s-new", DATA_HOME)}
    read, usage = read_back(uow_factory, stored, hk_plan)
    assert read == written
    assert usage == first + second


def test_reading_a_ledger_twice_in_one_unit_of_work_gives_the_same_object(
    uow_factory: Any, stored: Stored, hk_plan: Plan
) -> None:
    first_round(uow_factory, stored, hk_plan)
    with uow_factory() as uow:
        uow.families.get(stored.family_id, for_update=True)
        ledger = uow.ledgers.get(stored.family_id, stored.cycle_number, hk_plan)
        assert uow.ledgers.get(stored.family_id, stored.cycle_number, hk_plan) is ledger


def test_stored_times_come_back_aware_utc(uow_factory: Any, stored: Stored, hk_plan: Plan) -> None:
    written, records = first_round(uow_factory, stored, hk_plan)
    read, usage = read_back(uow_factory, stored, hk_plan)
    times = [r.expires_at for r in read["reservations"].values()] + [r.at for r in usage]
    assert times
    for value in times:
        assert value.tzinfo is not None, f"naive datetime {value!r} read back"
        assert value.utcoffset() == timedelta(0)
    assert read["reservations"][("s-keep", DATA_GC)].expires_at == T0 + timedelta(
        days=1, seconds=600
    )
    assert {k: r.expires_at for k, r in read["reservations"].items()} == {
        k: r.expires_at for k, r in written["reservations"].items()
    }
    assert [r.at for r in usage] == [r.at for r in records]


def test_nothing_is_stored_without_commit(uow_factory: Any, stored: Stored, hk_plan: Plan) -> None:
    with uow_factory() as uow:
        c = Charging(uow, stored, hk_plan)
        c.grant(stored.owner, "s-data", DATA_HOME, 1000)
        c.commit(stored.owner, "s-data", DATA_HOME, 400)
        c.grant(stored.adult, "s-sms", SMS_GC, 1)
    read, usage = read_back(uow_factory, stored, hk_plan)
    assert (read["pools"], read["members"], read["reservations"]) == ({}, {}, {})
    assert usage == []


def test_nothing_is_stored_after_rollback(uow_factory: Any, stored: Stored, hk_plan: Plan) -> None:
    written, records = first_round(uow_factory, stored, hk_plan)
    with uow_factory() as uow:
        c = Charging(uow, stored, hk_plan)
        c.ledger.release("s-open", DATA_HOME)
        c.commit(stored.owner, "s-keep", DATA_GC, 100)
        c.grant(stored.adult, "s-rolled", DATA_HOME, 1000)
        uow.rollback()
        # after a rollback the unit of work reads what is stored, and may carry on
        again = uow.ledgers.get(stored.family_id, stored.cycle_number, hk_plan)
        assert state(again) == written
        assert list(uow.ledgers.usage(stored.family_id, stored.cycle_number)) == records
        uow.commit()
    read, usage = read_back(uow_factory, stored, hk_plan)
    assert read == written
    assert usage == records


def test_counters_equal_the_usage_records_and_reservations(
    uow_factory: Any, stored: Stored, hk_plan: Plan
) -> None:
    first_round(uow_factory, stored, hk_plan)
    second_round(uow_factory, stored, hk_plan)
    with uow_factory() as uow:
        uow.families.get(stored.family_id, for_update=True)
        ledger = uow.ledgers.get(stored.family_id, stored.cycle_number, hk_plan)
        usage = list(uow.ledgers.usage(stored.family_id, stored.cycle_number))
    assert usage
    pool_used: Tally[Any] = Tally()
    member_pool: Tally[Any] = Tally()
    member_overage: Tally[Any] = Tally()
    tethered: Tally[Any] = Tally()
    for r in usage:
        assert r.units == r.from_pool + r.from_overage
        key = (r.resource, r.zone)
        pool_used[key] += r.from_pool
        member_pool[(r.member_id, key)] += r.from_pool
        member_overage[(r.member_id, key)] += r.from_overage
        if r.tethered:
            tethered[r.member_id] += r.units
    pool_reserved: Tally[Any] = Tally()
    for (_, (resource, zone, _tethered)), res in ledger.reservations.items():
        pool_reserved[(resource, zone)] += res.from_pool
    assert {k: c.used for k, c in ledger.pools.items() if c.used} == +pool_used
    assert {k: c.reserved for k, c in ledger.pools.items() if c.reserved} == +pool_reserved
    for member_id, m in ledger.members.items():
        assert {k: c.used for k, c in m.pool.items() if c.used} == {
            k: v for (who, k), v in member_pool.items() if who == member_id and v
        }
        assert {k: c.used for k, c in m.overage.items() if c.used} == {
            k: v for (who, k), v in member_overage.items() if who == member_id and v
        }
        assert m.tethered.used == tethered[member_id]
    assert set(ledger.members) == {stored.owner, stored.adult}


def test_another_cycle_is_empty(uow_factory: Any, stored: Stored, hk_plan: Plan) -> None:
    first_round(uow_factory, stored, hk_plan)
    other = stored.cycle_number + 1
    with uow_factory() as uow:
        uow.families.get(stored.family_id, for_update=True)
        assert list(uow.ledgers.usage(stored.family_id, other)) == []
        ledger = uow.ledgers.get(stored.family_id, other, hk_plan)
        assert ledger.cycle_number == other
        assert (ledger.pools, ledger.members, ledger.reservations) == ({}, {}, {})
        # the stored cycle is still there
        assert uow.ledgers.get(stored.family_id, stored.cycle_number, hk_plan).reservations
        assert len(uow.ledgers.usage(stored.family_id, stored.cycle_number)) == 4


# ------------------------------------------------------------------ open charging sessions
def test_open_sessions_are_kept_until_closed(uow_factory: Any, stored: Stored) -> None:
    with uow_factory() as uow:
        uow.ledgers.open_session("s-1", stored.family_id, T0)
        uow.ledgers.open_session("s-2", stored.family_id, T0)
        assert uow.ledgers.open_sessions(["s-1", "s-2", "s-3"]) == {"s-1", "s-2"}  # own changes
        uow.commit()
    with uow_factory() as uow:
        assert uow.ledgers.open_sessions(["s-1", "s-2", "s-3"]) == {"s-1", "s-2"}
        uow.ledgers.close_session("s-1")
        assert uow.ledgers.open_sessions(["s-1", "s-2"]) == {"s-2"}
        uow.commit()
    with uow_factory() as uow:
        assert uow.ledgers.open_sessions(["s-1", "s-2"]) == {"s-2"}
        assert uow.ledgers.open_sessions([]) == set()


def test_opening_an_open_session_again_and_closing_an_unknown_one_change_nothing(
    uow_factory: Any, stored: Stored
) -> None:
    with uow_factory() as uow:
        uow.ledgers.open_session("s-1", stored.family_id, T0)
        uow.commit()
    with uow_factory() as uow:
        uow.ledgers.open_session("s-1", stored.family_id, T0 + timedelta(minutes=1))
        uow.ledgers.close_session("never-opened")
        uow.commit()
    with uow_factory() as uow:
        assert uow.ledgers.open_sessions(["s-1", "never-opened"]) == {"s-1"}


def test_closed_then_opened_in_one_unit_of_work_is_open(uow_factory: Any, stored: Stored) -> None:
    with uow_factory() as uow:
        uow.ledgers.open_session("s-1", stored.family_id, T0)
        uow.commit()
    with uow_factory() as uow:
        uow.ledgers.close_session("s-1")
        uow.ledgers.open_session("s-1", stored.family_id, T0)
        uow.ledgers.open_session("s-2", stored.family_id, T0)
        uow.ledgers.close_session("s-2")
        uow.commit()
    with uow_factory() as uow:
        assert uow.ledgers.open_sessions(["s-1", "s-2"]) == {"s-1"}


def test_session_changes_not_committed_are_lost(uow_factory: Any, stored: Stored) -> None:
    with uow_factory() as uow:
        uow.ledgers.open_session("s-1", stored.family_id, T0)
        uow.commit()
    with uow_factory() as uow:
        uow.ledgers.close_session("s-1")
        uow.ledgers.open_session("s-2", stored.family_id, T0)
        uow.rollback()
        assert uow.ledgers.open_sessions(["s-1", "s-2"]) == {"s-1"}
    with uow_factory() as uow:
        uow.ledgers.open_session("s-3", stored.family_id, T0)  # left without a commit
    with uow_factory() as uow:
        assert uow.ledgers.open_sessions(["s-1", "s-2", "s-3"]) == {"s-1"}
