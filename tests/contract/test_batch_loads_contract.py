"""The batch loads of the storage ports behave like their one-at-a-time counterparts.

``FamilyRepository.get_many``, ``LedgerRepository.get_many``, ``BillingRepository.
cycle_invoices`` and ``split_policies`` exist so billing reads thousands of families in a
few queries; whatever they load must be what :meth:`get` (and friends) would give, tracked
the same way in the unit of work, and written back the same way on commit (the SQL flush
writes every family of a unit of work together). ``next_sequence`` counts in the unit of
work after its first read: numbers stay consecutive, a rollback gives them back, and the
next unit of work continues from the last one committed.

Each test runs on the in-memory adapter, on SQLite and on PostgreSQL (the ``uow_factory``
fixture in conftest.py).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

# The storage contract's family builders, shared.
from contract.test_storage_contract import gb, msisdn, simple_family, snapshot, subscription
from contract.test_storage_contract import rich_family as storage_rich_family
from famsim.domain.allocation import Allocation, Limit
from famsim.domain.billing.invoice import Invoice, issue_invoice
from famsim.domain.billing.rating import CycleFacts, rate
from famsim.domain.billing.split import SplitPolicy, SplitRule
from famsim.domain.charging.grants import ChargingRules, GrantRequest, Quantum
from famsim.domain.charging.ledger import Counter, FamilyLedger, ServiceKey
from famsim.domain.charging.thresholds import DEFAULT_LEVELS
from famsim.domain.family import Family
from famsim.domain.ids import FamilyId, MemberId, SubscriptionId, new_id
from famsim.domain.lines import LineStatus
from famsim.domain.members import Role
from famsim.domain.money import Money
from famsim.domain.plan import DeviceKind, Plan
from famsim.domain.units import HOME, Resource, Zone
from famsim.service.ports import ConcurrentUpdate, IdentifierTaken

pytestmark = pytest.mark.integration


TODAY = date(2026, 1, 31)
CLOSED_AT = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
T0 = datetime(2026, 2, 3, 12, 0, tzinfo=UTC)
ISSUED = datetime(2026, 3, 1, tzinfo=UTC)
GREATER_CHINA = Zone("greater-china")
DATA, SMS, VOICE = Resource.DATA, Resource.SMS, Resource.VOICE
DATA_HOME: ServiceKey = (DATA, HOME, False)
DATA_TETHERED: ServiceKey = (DATA, HOME, True)
SMS_GC: ServiceKey = (SMS, GREATER_CHINA, False)
RULES = ChargingRules(quanta={DATA: Quantum(1000, 600), SMS: Quantum(1, 60)})
SMS_QUOTA = 2


# ----------------------------------------------------------------------------- helpers


def rich_family(hk: Plan, next_plan: Plan) -> Family:
    """The storage contract's rich family (companions, a suspended line, allocations with
    limits, quiet hours, money caps, a pending plan change) plus a closed line."""
    family = storage_rich_family(hk, next_plan)
    old_phone = family.add_line(
        hk,
        member_id=family.owner_id,
        msisdn=msisdn(),
        primary=subscription(),
        data_only=False,
        next_plan=next_plan,
    )
    family.close_line(old_phone.id, TODAY, CLOSED_AT)
    return family


def differences(got: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """The fields of two snapshots that differ, as (got, expected), for readable failures."""
    return {
        name: (got.get(name), expected.get(name))
        for name in sorted(got.keys() | expected.keys())
        if got.get(name) != expected.get(name)
    }


def assert_same_families(
    got: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]]
) -> None:
    assert sorted(got) == sorted(expected)
    wrong = {
        expected[family_id]["name"]: differences(got[family_id], expected[family_id])
        for family_id in expected
        if got[family_id] != expected[family_id]
    }
    assert wrong == {}


def store(uow_factory: Any, *families: Family) -> None:
    with uow_factory() as uow:
        for family in families:
            uow.families.add(family)
        uow.commit()


def read(uow_factory: Any, family_id: str) -> Family:
    with uow_factory() as uow:
        return uow.families.get(family_id)


def by_id(*families: Family) -> list[Family]:
    return sorted(families, key=lambda f: f.id)


@dataclasses.dataclass(frozen=True)
class Stored:
    """Four stored families: a rich one and three simple ones (as committed)."""

    rich: Family
    simple: tuple[Family, Family, Family]

    @property
    def all(self) -> list[Family]:
        return [self.rich, *self.simple]


@pytest.fixture
def stored(uow_factory: Any, hk_plan: Plan, next_plan: Plan) -> Stored:
    rich = rich_family(hk_plan, next_plan)
    simple = (
        simple_family(hk_plan, name="Lee family"),
        simple_family(hk_plan, name="Ho family"),
        simple_family(hk_plan, name="Ng family"),
    )
    store(uow_factory, rich)
    store(uow_factory, *simple)
    return Stored(rich, simple)


# ------------------------------------------------------------- families: what is loaded
@pytest.mark.parametrize("for_update", [False, True], ids=["shared", "for_update"])
def test_get_many_gives_what_get_gives_in_id_order(
    uow_factory: Any, stored: Stored, for_update: bool
) -> None:
    families = stored.all
    unknown = [FamilyId(new_id()), FamilyId(new_id())]
    asked = [families[2].id, unknown[0], families[0].id, families[3].id, unknown[1]]
    asked += [families[1].id]
    with uow_factory() as uow:
        loaded = uow.families.get_many(asked, for_update=for_update)
    singly = {family.id: snapshot(read(uow_factory, family.id)) for family in families}

    assert [family.id for family in loaded] == [family.id for family in by_id(*families)]
    for family in loaded:
        assert snapshot(family) == singly[family.id], f"{family.name} differs from get"
    for family in families:  # ... and what was committed
        assert singly[family.id] == snapshot(family), f"{family.name} did not read back"
    rich = next(f for f in loaded if f.id == stored.rich.id)
    assert [line.status for line in rich.lines.values()] == [
        LineStatus.ACTIVE,
        LineStatus.ACTIVE,
        LineStatus.ACTIVE,
        LineStatus.ACTIVE,
        LineStatus.SUSPENDED,
        LineStatus.CLOSED,
    ]
    kid_line = list(rich.lines.values())[3]
    assert [s.device_kind for s in kid_line.subscriptions] == [
        DeviceKind.PHONE,
        DeviceKind.WATCH,
        DeviceKind.OTHER,
    ]
    kid = list(rich.members)[3]
    assert len(rich.allocations[kid].limits) == 3
    assert [str(q) for q in rich.allocations[kid].quiet_hours] == [
        "Mon-Fri 08:30-15:30",
        "daily 21:00-07:00 data,voice",
    ]
    assert rich.money_cap == Money.parse("500.00", "HKD")
    assert rich.pending_plan_code == "hk-family-5g-200"


def test_get_many_leaves_out_unknown_ids_and_returns_duplicates_once(
    uow_factory: Any, stored: Stored
) -> None:
    a, b, c = stored.simple
    with uow_factory() as uow:
        loaded = uow.families.get_many([c.id, a.id, c.id, FamilyId(new_id()), b.id, a.id])
        assert [f.id for f in loaded] == [f.id for f in by_id(a, b, c)]
        assert len({id(f) for f in loaded}) == 3
        assert uow.families.get_many([FamilyId(new_id()), FamilyId(new_id())]) == []


def test_get_many_of_nothing_is_empty(uow_factory: Any, stored: Stored) -> None:
    with uow_factory() as uow:
        assert uow.families.get_many([]) == []
        assert uow.families.get_many([], for_update=True) == []
        assert uow.families.get_many(()) == []


def test_get_many_when_nothing_is_stored(uow_factory: Any) -> None:
    with uow_factory() as uow:
        assert uow.families.get_many([FamilyId(new_id())], for_update=True) == []


# ------------------------------------------------------ families: tracked in the unit of work
def test_get_many_then_get_gives_the_same_objects(uow_factory: Any, stored: Stored) -> None:
    with uow_factory() as uow:
        loaded = uow.families.get_many([f.id for f in stored.all], for_update=True)
        for family in loaded:
            assert uow.families.get(family.id) is family
            assert uow.families.get(family.id, for_update=True) is family
        again = uow.families.get_many([f.id for f in stored.all])
        assert all(x is y for x, y in zip(again, loaded, strict=True))


def test_get_then_get_many_gives_the_same_objects(uow_factory: Any, stored: Stored) -> None:
    a, b, c = stored.simple
    with uow_factory() as uow:
        first = uow.families.get(b.id, for_update=True)
        rich = uow.families.get(stored.rich.id)
        loaded = uow.families.get_many([a.id, b.id, c.id, stored.rich.id], for_update=True)
        found = {f.id: f for f in loaded}
        assert found[b.id] is first
        assert found[stored.rich.id] is rich
        assert uow.families.get(a.id) is found[a.id]
        assert uow.families.get(c.id) is found[c.id]


def test_a_family_added_in_the_unit_of_work_is_returned_by_get_many(
    uow_factory: Any, stored: Stored, hk_plan: Plan
) -> None:
    a, b, _ = stored.simple
    new = simple_family(hk_plan, name="Yau family")
    with uow_factory() as uow:
        uow.families.add(new)
        loaded = uow.families.get_many([a.id, new.id, b.id], for_update=True)
        assert [f.id for f in loaded] == [f.id for f in by_id(a, b, new)]
        assert next(f for f in loaded if f.id == new.id) is new
        assert uow.families.get_many([new.id]) == [new]
        uow.commit()
    assert snapshot(read(uow_factory, new.id)) == snapshot(new)
    with uow_factory() as uow:  # the uncommitted family is not in another unit of work
        other = simple_family(hk_plan, name="Never stored family")
        uow.families.add(other)
    with uow_factory() as uow:
        assert uow.families.get_many([other.id]) == []


# ------------------------------------------------------------- families: writing a batch
def test_changes_to_families_loaded_together_commit_together(
    uow_factory: Any, stored: Stored, hk_plan: Plan, next_plan: Plan
) -> None:
    lee, ho, ng = stored.simple
    plans = [hk_plan, next_plan]
    with uow_factory() as uow:
        loaded = {
            f.id: f for f in uow.families.get_many([f.id for f in stored.all], for_update=True)
        }
        # the rich family: one allocation changed, a limit removed (its row deleted),
        # a line closed
        rich = loaded[stored.rich.id]
        spouse, _, kid = list(rich.members)[1:]
        rich.set_allocation(
            spouse,
            dataclasses.replace(
                rich.allocation(spouse),
                money_cap=Money.parse("120.00", "HKD"),
                limits={(DATA, GREATER_CHINA): Limit(quota=gb("5GB"), hard_cap=gb("6GB"))},
            ),
            plans,
        )
        kid_allocation = rich.allocation(kid)
        rich.set_allocation(
            kid,
            dataclasses.replace(
                kid_allocation,
                limits={
                    key: limit for key, limit in kid_allocation.limits.items() if key != (SMS, HOME)
                },
            ),
            plans,
        )
        spouse_phone = rich.lines_of(spouse)[0]
        rich.close_line(spouse_phone.id, TODAY, CLOSED_AT)
        # Lee: the next cycle; Ho: a new member with a line; Ng: untouched
        cycle = loaded[lee.id].start_next_cycle(hk_plan)
        newcomer = loaded[ho.id].add_member(
            hk_plan, name="Ho Siu Ling", role=Role.ADULT, today=TODAY
        )
        loaded[ho.id].add_line(
            hk_plan, member_id=newcomer.id, msisdn=msisdn(), primary=subscription(), data_only=False
        )
        uow.commit()
        for family in (rich, loaded[lee.id], loaded[ho.id]):
            assert family.version == 1, f"{family.name} is at version {family.version}"
        assert loaded[ng.id].version == 0
        expected = {family_id: snapshot(family) for family_id, family in loaded.items()}

    singly = {family_id: snapshot(read(uow_factory, family_id)) for family_id in expected}
    with uow_factory() as uow:
        together = {f.id: snapshot(f) for f in uow.families.get_many(list(expected))}
    assert singly == expected
    assert together == expected
    assert {family_id: state["version"] for family_id, state in singly.items()} == {
        stored.rich.id: 1,
        lee.id: 1,
        ho.id: 1,
        ng.id: 0,
    }
    rich_back = read(uow_factory, stored.rich.id)
    assert rich_back.allocation(kid).limits == {
        (DATA, HOME): Limit(quota=gb("3GB"), hard_cap=gb("3GB")),
        (VOICE, GREATER_CHINA): Limit(hard_cap=600),
    }
    assert rich_back.allocation(spouse).money_cap == Money.parse("120.00", "HKD")
    assert rich_back.line(spouse_phone.id).status is LineStatus.CLOSED
    lee_back = read(uow_factory, lee.id)
    assert lee_back.cycle == cycle
    assert lee_back.cycle.number == 2
    assert [m.name for m in read(uow_factory, ho.id).members.values()] == [
        "Owner of Ho family",
        "Ho Siu Ling",
    ]


def test_families_loaded_but_unchanged_are_not_bumped(uow_factory: Any, stored: Stored) -> None:
    with uow_factory() as uow:
        uow.families.get_many([f.id for f in stored.all], for_update=True)
        uow.commit()
    with uow_factory() as uow:
        loaded = uow.families.get_many([f.id for f in stored.all])
    assert [f.version for f in loaded] == [0, 0, 0, 0]
    assert {f.id: snapshot(f) for f in loaded} == {f.id: snapshot(f) for f in stored.all}


def test_a_second_batch_commit_in_one_unit_of_work_writes_the_later_changes(
    uow_factory: Any, stored: Stored, hk_plan: Plan
) -> None:
    lee, ho, ng = stored.simple
    with uow_factory() as uow:
        loaded = uow.families.get_many([lee.id, ho.id, ng.id], for_update=True)
        for family in loaded:
            family.add_member(hk_plan, name=f"First of {family.name}", role=Role.ADULT, today=TODAY)
        uow.commit()
        loaded[0].add_member(hk_plan, name="Second", role=Role.ADULT, today=TODAY)
        loaded[2].set_money_cap(Money.parse("80.00", "HKD"), hk_plan)
        uow.commit()
        expected = {f.id: snapshot(f) for f in loaded}
    with uow_factory() as uow:
        back = uow.families.get_many([lee.id, ho.id, ng.id])
    assert_same_families({f.id: snapshot(f) for f in back}, expected)
    assert [f.version for f in back] == [2, 1, 2]


@pytest.mark.parametrize(
    "earlier_commit", [False, True], ids=["first_commit", "after_an_earlier_commit"]
)
def test_an_identifier_clash_in_one_family_of_a_batch_writes_none_of_the_batch(
    uow_factory: Any, stored: Stored, hk_plan: Plan, earlier_commit: bool
) -> None:
    """The whole batch is one transaction: a refused family refuses the others' changes."""
    lee, ho, ng = stored.simple
    taken = next(iter(ng.lines.values())).msisdn
    before = {f.id: snapshot(read(uow_factory, f.id)) for f in (lee, ho)}
    with uow_factory() as uow:
        loaded = {f.id: f for f in uow.families.get_many([lee.id, ho.id], for_update=True)}
        if earlier_commit:
            uow.commit()  # nothing to write; the unit of work goes on in a new transaction
        loaded[lee.id].add_member(hk_plan, name="Never Stored", role=Role.ADULT, today=TODAY)
        loaded[lee.id].set_money_cap(Money.parse("10.00", "HKD"), hk_plan)
        loaded[ho.id].add_line(
            hk_plan,
            member_id=loaded[ho.id].owner_id,
            msisdn=taken,
            primary=subscription(),
            data_only=False,
        )
        with pytest.raises(IdentifierTaken):
            uow.commit()
    after = {f.id: snapshot(read(uow_factory, f.id)) for f in (lee, ho)}
    assert_same_families(after, before)


# ------------------------------------------------------------ families: a lost race in a batch
@pytest.mark.parametrize("loser", [0, 1], ids=["first_in_id_order", "second_in_id_order"])
def test_a_lost_race_inside_a_batch_names_the_family_and_writes_nothing(
    uow_factory: Any, hk_plan: Plan, loser: int
) -> None:
    """Families A and B are loaded together; A changes meanwhile; writing both must fail
    on A, by name, and leave B as it was (whether A comes first or last in the batch)."""
    one = simple_family(hk_plan, name="Lau family")
    two = simple_family(hk_plan, name="Yip family")
    store(uow_factory, one, two)
    a, b = by_id(one, two) if loser == 0 else by_id(one, two)[::-1]
    b_before = snapshot(read(uow_factory, b.id))
    with uow_factory() as slow:
        stale = {f.id: f for f in slow.families.get_many([a.id, b.id], for_update=True)}
        if uow_factory.backend != "memory":
            # Reading locks (SQLite: BEGIN IMMEDIATE; PostgreSQL: row locks), so end that
            # transaction (nothing to write) to let the fast writer in, as the storage
            # contract does; the slow unit of work keeps its now stale copies.
            slow.commit()
        with uow_factory() as fast:
            fresh = fast.families.get(a.id, for_update=True)
            fresh.add_member(hk_plan, name="Fast Writer", role=Role.ADULT, today=TODAY)
            fast.commit()
        stale[a.id].add_member(hk_plan, name="Slow Writer", role=Role.ADULT, today=TODAY)
        stale[b.id].add_member(hk_plan, name="Lost With A", role=Role.ADULT, today=TODAY)
        stale[b.id].set_money_cap(Money.parse("10.00", "HKD"), hk_plan)
        with pytest.raises(ConcurrentUpdate) as raised:
            slow.commit()
    a_back = read(uow_factory, a.id)
    assert [m.name for m in a_back.members.values()] == [a.owner.name, "Fast Writer"]
    assert a_back.version == 1
    b_back = read(uow_factory, b.id)
    assert differences(snapshot(b_back), b_before) == {}
    assert b_back.version == 0
    message = str(raised.value)
    assert a.name in message, f"the error names the wrong family: {message!r}"
    assert b.name not in message, f"the error names the wrong family: {message!r}"


# ------------------------------------------------------------------------------ ledgers
class Charging:
    """Charge members of a family through its ledger (the ledger's own API)."""

    def __init__(self, uow: Any, family: Family, ledger: FamilyLedger) -> None:
        self.uow = uow
        self.family = family
        self.ledger = ledger

    def _sub(self, member: MemberId) -> SubscriptionId:
        return self.family.lines_of(member)[0].primary.id

    def grant(
        self, member: MemberId, session: str, service: ServiceKey, units: int, now: datetime = T0
    ) -> None:
        resource, zone, tethered = service
        grant = self.ledger.grant(
            session_id=session,
            member_id=member,
            subscription_id=self._sub(member),
            request=GrantRequest(resource, zone, tethered, units),
            allocation=self.family.allocation(member),
            family_money_cap=self.family.money_cap,
            rules=RULES,
            now=now,
        )
        assert grant.units, f"the scenario expects {units} units granted, got {grant}"

    def use(
        self, member: MemberId, session: str, service: ServiceKey, used: int, now: datetime = T0
    ) -> None:
        record = self.ledger.commit(
            session_id=session,
            service=service,
            used=used,
            member_id=member,
            subscription_id=self._sub(member),
            allocation=self.family.allocation(member),
            now=now,
        )
        assert record is not None
        self.uow.ledgers.append(record)

    def alerts(self, now: datetime = T0) -> None:
        for event in self.ledger.threshold_alerts(self.family.allocations, DEFAULT_LEVELS, now):
            self.uow.ledgers.publish(event)


def charging_family(plan: Plan, name: str) -> Family:
    """An owner and an adult with a line each; the adult's SMS abroad has a small quota."""
    family = simple_family(plan, name=name)
    adult = family.add_member(plan, name=f"Adult of {name}", role=Role.ADULT, today=TODAY)
    family.add_line(
        plan, member_id=adult.id, msisdn=msisdn(), primary=subscription(), data_only=False
    )
    family.set_allocation(
        adult.id,
        Allocation(limits={(SMS, GREATER_CHINA): Limit(quota=SMS_QUOTA)}, roaming_allowed=True),
        [plan],
    )
    return family


def _nonzero(counters: dict[Any, Counter]) -> dict[Any, Counter]:
    return {key: c for key, c in counters.items() if c.used or c.reserved}


def ledger_state(ledger: FamilyLedger) -> dict[str, Any]:
    """Everything a ledger stores (a counter at zero is no counter, an empty alert set
    no alert), its version included."""
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
        "alerted": {key: set(levels) for key, levels in ledger.alerted.items() if levels},
        "version": ledger.version,
    }


@dataclasses.dataclass(frozen=True)
class Ledgers:
    """Three charging families: ``first`` charged in cycles 1 and 2, ``second`` in cycle
    1, ``quiet`` never; with what each charged ledger was committed as."""

    first: Family
    second: Family
    quiet: Family
    written: dict[tuple[str, int], dict[str, Any]]


def _charge_round(c: Charging, tag: str, now: datetime) -> None:
    owner, adult = list(c.family.members)
    c.grant(owner, f"{tag}-data", DATA_HOME, 1000, now)
    c.use(owner, f"{tag}-data", DATA_HOME, 400, now)
    c.grant(owner, f"{tag}-teth", DATA_TETHERED, 2000, now)
    c.use(owner, f"{tag}-teth", DATA_TETHERED, 2000, now)
    c.grant(adult, f"{tag}-sms", SMS_GC, 1, now)
    c.use(adult, f"{tag}-sms", SMS_GC, 5, now + timedelta(seconds=10))  # quota, then overage
    c.alerts(now + timedelta(seconds=10))
    c.grant(adult, f"{tag}-sms2", SMS_GC, 3, now)  # held from overage (money reserved)
    c.grant(owner, f"{tag}-open", DATA_HOME, 1500, now + timedelta(days=1))


@pytest.fixture
def ledgers(uow_factory: Any, hk_plan: Plan) -> Ledgers:
    first = charging_family(hk_plan, "Kwok family")
    second = charging_family(hk_plan, "Tse family")
    quiet = charging_family(hk_plan, "Mak family")
    store(uow_factory, first, second, quiet)
    written: dict[tuple[str, int], dict[str, Any]] = {}
    with uow_factory() as uow:  # cycle 1 of the first family
        family = uow.families.get(first.id, for_update=True)
        c = Charging(uow, family, uow.ledgers.get(first.id, 1, hk_plan))
        _charge_round(c, "k1", T0)
        uow.commit()
        written[(first.id, 1)] = ledger_state(c.ledger)
    with uow_factory() as uow:  # the first family moves on to cycle 2 and charges there
        family = uow.families.get(first.id, for_update=True)
        family.start_next_cycle(hk_plan)
        c = Charging(uow, family, uow.ledgers.get(first.id, 2, hk_plan))
        c.grant(next(iter(family.members)), "k2-data", DATA_HOME, 1000, T0 + timedelta(days=30))
        c.use(next(iter(family.members)), "k2-data", DATA_HOME, 700, T0 + timedelta(days=30))
        uow.commit()
        written[(first.id, 2)] = ledger_state(c.ledger)
    with uow_factory() as uow:  # cycle 1 of the second family
        family = uow.families.get(second.id, for_update=True)
        c = Charging(uow, family, uow.ledgers.get(second.id, 1, hk_plan))
        _charge_round(c, "t1", T0 + timedelta(hours=2))
        uow.commit()
        written[(second.id, 1)] = ledger_state(c.ledger)
    for key, state in written.items():
        assert state["reservations"] or key[1] == 2, f"the scenario holds nothing in {key}"
    assert written[(second.id, 1)]["alerted"], "the scenario crosses no threshold"
    return Ledgers(first, second, quiet, written)


def test_ledgers_get_many_gives_what_get_gives_in_the_order_asked(
    uow_factory: Any, ledgers: Ledgers, hk_plan: Plan
) -> None:
    first, second, quiet = ledgers.first.id, ledgers.second.id, ledgers.quiet.id
    wanted = [(second, 1), (first, 2), (quiet, 1), (first, 1), (second, 7)]
    with uow_factory() as uow:
        uow.families.get_many([first, second, quiet], for_update=True)
        together = uow.ledgers.get_many([(f, n, hk_plan) for f, n in wanted])
        assert [(x.family_id, x.cycle_number) for x in together] == wanted
        assert all(x.plan == hk_plan for x in together)
        many = [ledger_state(x) for x in together]
    singly = []
    for family_id, number in wanted:
        with uow_factory() as uow:
            uow.families.get(family_id, for_update=True)
            singly.append(ledger_state(uow.ledgers.get(family_id, number, hk_plan)))
    assert many == singly
    for key, state in ledgers.written.items():
        got = many[wanted.index(key)]
        # the version is the family's charging version, shared by its cycles: compare it
        # below, where the later cycle of the first family has moved it on
        assert got | {"version": 0} == state | {"version": 0}, f"{key} did not read back"
    versions = {key: state["version"] for key, state in ledgers.written.items()}
    assert [state["version"] for state in many] == [
        versions[(second, 1)],
        versions[(first, 2)],
        0,  # never charged
        versions[(first, 2)],
        versions[(second, 1)],
    ]
    for empty in (many[2], many[4]):  # never charged: empty
        assert (empty["pools"], empty["members"], empty["reservations"]) == ({}, {}, {})
        assert empty["alerted"] == {}


def test_ledgers_get_many_then_get_gives_the_same_objects(
    uow_factory: Any, ledgers: Ledgers, hk_plan: Plan
) -> None:
    first, second, quiet = ledgers.first.id, ledgers.second.id, ledgers.quiet.id
    wanted = [(first, 1), (quiet, 1), (second, 1), (first, 2)]
    with uow_factory() as uow:
        uow.families.get_many([first, second, quiet], for_update=True)
        together = uow.ledgers.get_many([(f, n, hk_plan) for f, n in wanted])
        for (family_id, number), ledger in zip(wanted, together, strict=True):
            assert uow.ledgers.get(family_id, number, hk_plan) is ledger
        # and get then get_many
        alone = uow.ledgers.get(second, 3, hk_plan)
        again = uow.ledgers.get_many([(second, 3, hk_plan), (first, 1, hk_plan)])
        assert again[0] is alone
        assert again[1] is together[0]
        assert uow.ledgers.get_many([]) == []


def test_changes_to_ledgers_loaded_together_commit_together(
    uow_factory: Any, ledgers: Ledgers, hk_plan: Plan
) -> None:
    first, second, quiet = ledgers.first, ledgers.second, ledgers.quiet
    later = T0 + timedelta(hours=5)
    with uow_factory() as uow:
        families = {
            f.id: f for f in uow.families.get_many([first.id, second.id, quiet.id], for_update=True)
        }
        wanted = [(second.id, 1, hk_plan), (quiet.id, 1, hk_plan), (first.id, 1, hk_plan)]
        loaded = uow.ledgers.get_many(wanted)
        before = {(x.family_id, x.cycle_number): x.version for x in loaded}
        for ledger in (loaded[0], loaded[1]):  # the second and the quiet family charge
            c = Charging(uow, families[ledger.family_id], ledger)
            owner = next(iter(c.family.members))
            c.grant(owner, "batch-data", DATA_HOME, 1000, later)
            c.use(owner, "batch-data", DATA_HOME, 900, later)
        assert loaded[2].release("k1-open", DATA_HOME) is not None  # the first releases
        uow.commit()
        written = {(x.family_id, x.cycle_number): ledger_state(x) for x in loaded}
    with uow_factory() as uow:
        uow.families.get_many([first.id, second.id, quiet.id], for_update=True)
        back = {
            (x.family_id, x.cycle_number): ledger_state(x) for x in uow.ledgers.get_many(wanted)
        }
        usage = list(uow.ledgers.usage(quiet.id, 1))
    assert back == written
    for key, state in back.items():
        assert state["version"] > before[key], f"the ledger of {key} was not bumped"
    assert [(r.session_id, r.units) for r in usage] == [("batch-data", 900)]


# ------------------------------------------------------------------------------ billing
def invoice_for(family: Family, cycle: int, plan: Plan, number: str) -> Invoice:
    start = date(2026, cycle, 1)
    facts = CycleFacts(
        family.id, cycle, start, start + timedelta(days=28), plan, (family.owner_id,)
    )
    return issue_invoice(
        number,
        facts,
        rate(facts),
        owner_id=family.owner_id,
        policy=SplitPolicy(),
        issued_at=ISSUED,
        member_names={family.owner_id: family.owner.name},
    )


def test_cycle_invoices_finds_stored_and_pending_invoices_of_the_cycles_asked(
    uow_factory: Any, stored: Stored, hk_plan: Plan
) -> None:
    lee, ho, ng = stored.simple
    kept = {
        (lee.id, 1): invoice_for(lee, 1, hk_plan, "INV-2026-000001"),
        (lee.id, 2): invoice_for(lee, 2, hk_plan, "INV-2026-000002"),
        (ho.id, 1): invoice_for(ho, 1, hk_plan, "INV-2026-000003"),
    }
    with uow_factory() as uow:
        for invoice in kept.values():
            uow.billing.add_invoice(invoice)
        uow.commit()
    pending = invoice_for(ng, 1, hk_plan, "INV-2026-000004")
    with uow_factory() as uow:
        uow.billing.add_invoice(pending)
        asked = [(lee.id, 2), (ng.id, 1), (ho.id, 2), (FamilyId(new_id()), 1), (lee.id, 2)]
        found = uow.billing.cycle_invoices(asked)
        assert found == {(lee.id, 2): kept[(lee.id, 2)], (ng.id, 1): pending}
        everything = uow.billing.cycle_invoices([*kept, (ng.id, 1), (ng.id, 2)])
        assert everything == kept | {(ng.id, 1): pending}
        for (family_id, number), invoice in everything.items():
            assert uow.billing.invoice(family_id, number) == invoice
        assert uow.billing.cycle_invoices([]) == {}
    with uow_factory() as uow:  # the pending invoice was never committed
        assert uow.billing.cycle_invoices([(ng.id, 1), (ho.id, 1)]) == {
            (ho.id, 1): kept[(ho.id, 1)]
        }


def test_split_policies_gives_set_policies_and_defaults(uow_factory: Any, stored: Stored) -> None:
    lee, ho, ng = stored.simple
    rich = stored.rich
    custom = SplitPolicy(SplitRule.CUSTOM, {lee.owner_id: 10_000})
    with uow_factory() as uow:
        uow.billing.set_split_policy(lee.id, custom)
        uow.billing.set_split_policy(rich.id, SplitPolicy(SplitRule.BY_USAGE))
        uow.commit()
    with uow_factory() as uow:
        uow.billing.set_split_policy(ho.id, SplitPolicy(SplitRule.EQUAL))  # pending
        unknown = FamilyId(new_id())
        asked = [ng.id, lee.id, ho.id, unknown, rich.id]
        policies = uow.billing.split_policies(asked)
        assert policies == {
            ng.id: SplitPolicy(),
            lee.id: custom,
            ho.id: SplitPolicy(SplitRule.EQUAL),
            unknown: SplitPolicy(),
            rich.id: SplitPolicy(SplitRule.BY_USAGE),
        }
        assert policies == {f: uow.billing.split_policy(f) for f in asked}
        assert uow.billing.split_policies([]) == {}
    with uow_factory() as uow:
        assert uow.billing.split_policies([ho.id, lee.id]) == {
            ho.id: SplitPolicy(),
            lee.id: custom,
        }


def test_next_sequence_counts_in_the_unit_of_work_and_gives_back_on_rollback(
    uow_factory: Any,
) -> None:
    with uow_factory() as uow:
        assert [uow.billing.next_sequence("INV", 2026) for _ in range(4)] == [1, 2, 3, 4]
        assert uow.billing.next_sequence("CN", 2026) == 1
        assert uow.billing.next_sequence("INV", 2027) == 1
        uow.rollback()  # every number given back
        assert [uow.billing.next_sequence("INV", 2026) for _ in range(3)] == [1, 2, 3]
        assert uow.billing.next_sequence("CN", 2026) == 1
        uow.commit()
    with uow_factory() as uow:
        assert [uow.billing.next_sequence("INV", 2026) for _ in range(2)] == [4, 5]
        assert uow.billing.next_sequence("CN", 2026) == 2
        assert uow.billing.next_sequence("INV", 2027) == 1  # rolled back above
    with uow_factory() as uow:  # left without commit: given back too
        assert uow.billing.next_sequence("INV", 2026) == 4
        assert uow.billing.next_sequence("INV", 2027) == 1
        uow.commit()
    with uow_factory() as uow:  # two commits in one unit of work
        assert uow.billing.next_sequence("INV", 2026) == 5
        uow.commit()
        assert [uow.billing.next_sequence("INV", 2026) for _ in range(2)] == [6, 7]
        assert uow.billing.next_sequence("INV", 2027) == 2
        uow.commit()
    with uow_factory() as uow:
        assert uow.billing.next_sequence("INV", 2026) == 8
        assert uow.billing.next_sequence("INV", 2027) == 3
        assert uow.billing.next_sequence("CN", 2026) == 2


def test_next_sequence_numbers_and_invoices_commit_together(
    uow_factory: Any, stored: Stored, hk_plan: Plan
) -> None:
    """A batch numbers its invoices from the sequence and commits them with it."""
    families = list(stored.simple)
    with uow_factory() as uow:
        for family in families:
            number = f"INV-2026-{uow.billing.next_sequence('INV', 2026):06d}"
            uow.billing.add_invoice(invoice_for(family, 1, hk_plan, number))
        uow.commit()
    with uow_factory() as uow:
        found = uow.billing.cycle_invoices([(f.id, 1) for f in families])
        assert [found[(f.id, 1)].number for f in families] == [
            "INV-2026-000001",
            "INV-2026-000002",
            "INV-2026-000003",
        ]
        assert uow.billing.next_sequence("INV", 2026) == 4
