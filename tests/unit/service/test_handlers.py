"""Every command through the message bus, over the in-memory adapter with the sample catalog."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import pytest

from famsim.adapters.memory import MemoryStore, MemoryUnitOfWork
from famsim.demo import DEMO_FAMILY, DEMO_PLAN, create_demo_family
from famsim.domain.allocation import ExhaustionAction, Limit
from famsim.domain.errors import InvalidAmount, InvalidIdentifier, InvalidInput, RuleViolation
from famsim.domain.family import (
    MEMBER_REMOVED,
    AllocationRejected,
    Family,
    GuardianRequired,
    IdentifierInUse,
    LineNotFound,
    MemberNotFound,
    Oversubscribed,
    OwnerRule,
    PlanLimitExceeded,
)
from famsim.domain.identifiers import Eid, Iccid
from famsim.domain.lines import SimType
from famsim.domain.members import Role
from famsim.domain.money import Money
from famsim.domain.plan import DeviceKind, Plan
from famsim.domain.units import HOME, Resource, Zone
from famsim.service import commands as c
from famsim.service import views
from famsim.service.messagebus import MessageBus
from famsim.service.ports import FamilyNotFound, IdentifierTaken, PlanNotFound

pytestmark = pytest.mark.unit

HK = "hk-family-5g-100"
RU = "ru-semya-40"
LITE = "hk-family-lite"
DATA = Resource.DATA
GC = Zone("greater-china")
GB = 10**9


# --- helpers -------------------------------------------------------------------------


def spec(n: int, device: DeviceKind = DeviceKind.PHONE, **kw: Any) -> c.SubscriptionSpec:
    """A valid subscription spec (ICCID and IMSI unique per n) as an entrypoint would build."""
    return c.SubscriptionSpec(
        iccid=str(Iccid.from_body(f"898520000999{n:06d}")),
        imsi=f"45400{n:010d}",
        device_kind=device,
        **kw,
    )


def number(n: int) -> str:
    return f"+8529123{n:04d}"


def stored(store: MemoryStore, family_id: str) -> Family:
    return store.families[family_id]  # type: ignore[index]


def view(store: MemoryStore, family_id: str) -> dict[str, Any]:
    return views.family_detail(MemoryUnitOfWork(store), family_id)


def snapshot(store: MemoryStore) -> dict[str, Any]:
    """Everything the store holds, as plain values, to prove a failed command wrote nothing."""
    return {
        "families": {fid: views.family_view(f) for fid, f in store.families.items()},
        "versions": {fid: f.version for fid, f in store.families.items()},
        "plans": sorted(store.plans),
    }


def fails(
    bus: MessageBus, store: MemoryStore, command: c.Command, error: type[BaseException]
) -> BaseException:
    """The command fails with *error* and the store is unchanged."""
    before = snapshot(store)
    with pytest.raises(error) as info:
        bus.handle(command)
    assert snapshot(store) == before, "a failed command changed the store"
    return info.value


@pytest.fixture
def hk_plan(sample_plans: list[Plan]) -> Plan:
    return next(p for p in sample_plans if p.code == HK)


@pytest.fixture
def lite_plan(hk_plan: Plan) -> Plan:
    allowances = dict(hk_plan.allowances)
    allowances[(DATA, HOME)] = 40 * GB
    return dataclasses.replace(hk_plan, code=LITE, max_members=3, allowances=allowances)


@pytest.fixture
def family_id(memory_bus: MessageBus) -> str:
    family: str = memory_bus.handle(c.CreateFamily("Chan family", HK, "Chan Tai Man"))
    return family


# --- LoadPlans -----------------------------------------------------------------------


def test_sample_plans_are_loaded(memory_store: MemoryStore, memory_bus: MessageBus) -> None:
    assert sorted(memory_store.plans) == [HK, RU, "us-family-share-50"]
    listed = views.list_plans(MemoryUnitOfWork(memory_store))
    assert [p["code"] for p in listed] == [HK, RU, "us-family-share-50"]
    hk = listed[0]
    assert hk["monthly_fee"] == {"minor": 39800, "currency": "HKD", "text": "HKD 398.00"}
    assert hk["zones"] == {"home": ["454"], "greater-china": ["455", "460", "461", "466"]}


def test_load_plans_adds_and_replaces(
    memory_store: MemoryStore, memory_bus: MessageBus, lite_plan: Plan
) -> None:
    assert memory_bus.handle(c.LoadPlans((lite_plan,))) == [LITE]
    assert memory_store.plans[LITE] == lite_plan
    cheaper = dataclasses.replace(lite_plan, monthly_fee=Money(100, "HKD"))
    memory_bus.handle(c.LoadPlans((cheaper,)))
    assert memory_store.plans[LITE].monthly_fee == Money(100, "HKD")
    assert len(memory_store.plans) == 4


def test_load_plans_refuses_to_change_a_plans_currency(
    memory_store: MemoryStore, memory_bus: MessageBus, hk_plan: Plan, lite_plan: Plan
) -> None:
    usd = dataclasses.replace(
        hk_plan,
        currency="USD",
        monthly_fee=Money(100, "USD"),
        management_fee=Money(0, "USD"),
        line_fees={kind: Money(100, "USD") for kind in hk_plan.line_fees},
        overage={},
    )
    # the whole command fails: the valid plan before it is not stored either
    fails(memory_bus, memory_store, c.LoadPlans((lite_plan, usd)), RuleViolation)
    assert LITE not in memory_store.plans
    assert memory_store.plans[HK].currency == "HKD"


# --- CreateFamily --------------------------------------------------------------------


def test_create_family(memory_store: MemoryStore, family_id: str) -> None:
    family = stored(memory_store, family_id)
    assert family.name == "Chan family"
    assert family.plan_code == HK
    assert family.owner.name == "Chan Tai Man"
    # the clock fixture says 2026-01-31: cycle day capped at 28
    assert family.created_on == date(2026, 1, 31)
    assert family.cycle_day == 28
    assert (family.cycle.start, family.cycle.end) == (date(2026, 1, 31), date(2026, 2, 28))
    summaries = views.list_families(MemoryUnitOfWork(memory_store))
    assert summaries == [
        {
            "id": family_id,
            "name": "Chan family",
            "plan": HK,
            "owner": "Chan Tai Man",
            "members": 1,
            "lines": 0,
            "created_on": "2026-01-31",
        }
    ]


def test_create_family_uses_the_clock(
    memory_store: MemoryStore, memory_bus: MessageBus, clock: Any
) -> None:
    clock.current = date(2026, 5, 10)
    family_id = memory_bus.handle(c.CreateFamily("F", HK, "O"))
    assert stored(memory_store, family_id).cycle.end == date(2026, 6, 10)


def test_create_family_with_money_cap(memory_store: MemoryStore, memory_bus: MessageBus) -> None:
    cap = Money.parse("500.00", "HKD")
    family_id = memory_bus.handle(
        c.CreateFamily("F", HK, "O", money_cap=cap, oversubscription_allowed=True)
    )
    family = stored(memory_store, family_id)
    assert family.money_cap == cap
    assert family.oversubscription_allowed


def test_create_family_on_an_unknown_plan(
    memory_store: MemoryStore, memory_bus: MessageBus
) -> None:
    fails(memory_bus, memory_store, c.CreateFamily("F", "no-such-plan", "O"), PlanNotFound)
    assert memory_store.families == {}


def test_create_family_with_a_foreign_money_cap(
    memory_store: MemoryStore, memory_bus: MessageBus
) -> None:
    command = c.CreateFamily("F", HK, "O", money_cap=Money(100, "USD"))
    fails(memory_bus, memory_store, command, InvalidAmount)


# --- AddMember / RemoveMember --------------------------------------------------------


def test_add_member(
    memory_store: MemoryStore, memory_bus: MessageBus, family_id: str, clock: Any
) -> None:
    clock.current = date(2026, 2, 3)
    adult = memory_bus.handle(c.AddMember(family_id, "Wong Mei Ling", Role.ADULT))
    child = memory_bus.handle(
        c.AddMember(family_id, "Kid", Role.CHILD, guardian_id="wong mei ling")
    )
    family = stored(memory_store, family_id)
    assert family.members[adult].joined_on == date(2026, 2, 3)
    assert family.members[child].guardian_id == adult
    assert family.allocation(child).roaming_allowed is False
    assert family.version == 2


def test_add_member_to_an_unknown_family(memory_store: MemoryStore, memory_bus: MessageBus) -> None:
    fails(memory_bus, memory_store, c.AddMember("nope", "A", Role.ADULT), FamilyNotFound)


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (c.AddMember("{f}", "O2", Role.OWNER), OwnerRule),
        (c.AddMember("{f}", "K", Role.CHILD), GuardianRequired),
        (c.AddMember("{f}", "K", Role.CHILD, guardian_id="nobody"), GuardianRequired),
        (c.AddMember("{f}", "A", Role.ADULT, guardian_id="Chan Tai Man"), RuleViolation),
    ],
)
def test_add_member_refusals_store_nothing(
    memory_store: MemoryStore,
    memory_bus: MessageBus,
    family_id: str,
    command: c.AddMember,
    error: type[Exception],
) -> None:
    command = dataclasses.replace(command, family_id=family_id)
    fails(memory_bus, memory_store, command, error)


def test_add_member_beyond_the_plan(
    memory_store: MemoryStore, memory_bus: MessageBus, family_id: str
) -> None:
    for i in range(4):
        memory_bus.handle(c.AddMember(family_id, f"A{i}", Role.ADULT))
    fails(memory_bus, memory_store, c.AddMember(family_id, "A5", Role.ADULT), PlanLimitExceeded)


def test_remove_member(memory_store: MemoryStore, memory_bus: MessageBus, family_id: str) -> None:
    adult = memory_bus.handle(c.AddMember(family_id, "A", Role.ADULT))
    memory_bus.handle(c.AddLine(family_id, adult, number(1), spec(1)))
    assert memory_bus.handle(c.RemoveMember(family_id, adult)) == adult
    detail = view(memory_store, family_id)
    member = next(m for m in detail["members"] if m["id"] == adult)
    assert member["status"] == "removed"
    assert member["removed_on"] == "2026-01-31"
    assert detail["lines"][0]["status"] == "suspended"
    assert detail["lines"][0]["suspended_reason"] == MEMBER_REMOVED
    fails(memory_bus, memory_store, c.ResumeLine(family_id, number(1)), RuleViolation)


def test_remove_member_refusals(
    memory_store: MemoryStore, memory_bus: MessageBus, family_id: str
) -> None:
    owner = stored(memory_store, family_id).owner_id
    fails(memory_bus, memory_store, c.RemoveMember(family_id, owner), OwnerRule)
    fails(memory_bus, memory_store, c.RemoveMember(family_id, "nobody"), MemberNotFound)
    fails(memory_bus, memory_store, c.RemoveMember("nope", owner), FamilyNotFound)
    memory_bus.handle(c.AddMember(family_id, "A", Role.ADULT))
    memory_bus.handle(c.AddMember(family_id, "K", Role.CHILD, guardian_id="A"))
    fails(memory_bus, memory_store, c.RemoveMember(family_id, "A"), GuardianRequired)


def test_assign_guardian_lets_the_old_guardian_leave(
    memory_store: MemoryStore, memory_bus: MessageBus, family_id: str
) -> None:
    adult = memory_bus.handle(c.AddMember(family_id, "A", Role.ADULT))
    kid = memory_bus.handle(c.AddMember(family_id, "K", Role.CHILD, guardian_id="A"))
    fails(memory_bus, memory_store, c.AssignGuardian(family_id, "K", "K"), GuardianRequired)
    fails(memory_bus, memory_store, c.AssignGuardian(family_id, "A", "Chan Tai Man"), RuleViolation)
    assert memory_bus.handle(c.AssignGuardian(family_id, "k", "Chan Tai Man")) == kid
    family = stored(memory_store, family_id)
    assert family.members[kid].guardian_id == family.owner_id
    assert memory_bus.handle(c.RemoveMember(family_id, "A")) == adult


# --- AddLine -------------------------------------------------------------------------


def test_add_line(memory_store: MemoryStore, memory_bus: MessageBus, family_id: str) -> None:
    line_id = memory_bus.handle(
        c.AddLine(family_id, "Chan Tai Man", "+852 9123 0001", spec(1), data_only=False)
    )
    family = stored(memory_store, family_id)
    line = family.lines[line_id]
    assert line.msisdn.e164 == "+85291230001"
    assert line.member_id == family.owner_id
    assert line.primary.primary
    assert str(line.primary.iccid) == spec(1).iccid
    assert str(line.primary.imsi) == spec(1).imsi


def test_add_line_with_eid_and_imei(
    memory_store: MemoryStore, memory_bus: MessageBus, family_id: str
) -> None:
    eid = str(Eid.from_body("890490320000100000000000000001"))
    line_id = memory_bus.handle(
        c.AddLine(family_id, "Chan Tai Man", number(1), spec(1, eid=eid, imei="490154203237518"))
    )
    primary = stored(memory_store, family_id).lines[line_id].primary
    assert str(primary.eid) == eid
    assert str(primary.imei) == "490154203237518"


def test_add_line_with_a_bad_iccid_stores_nothing(
    memory_store: MemoryStore, memory_bus: MessageBus, family_id: str
) -> None:
    good = spec(1).iccid
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    command = c.AddLine(
        family_id, "Chan Tai Man", number(1), dataclasses.replace(spec(1), iccid=bad)
    )
    error = fails(memory_bus, memory_store, command, InvalidIdentifier)
    assert isinstance(error, InvalidIdentifier)
    assert error.kind == "ICCID"
    assert error.check == "checksum"
    assert error.value == bad
    assert view(memory_store, family_id)["lines"] == []


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("msisdn", "91230001", "MSISDN"),  # no country code
        ("msisdn", "+85212", "MSISDN"),
        ("imsi", "111110000000000", "IMSI"),
        ("eid", "8904903200001000000000000000000", "EID"),
        ("imei", "490154203237519", "IMEI"),
    ],
)
def test_add_line_with_invalid_identifiers(
    memory_store: MemoryStore,
    memory_bus: MessageBus,
    family_id: str,
    field: str,
    value: str,
    kind: str,
) -> None:
    if field == "msisdn":
        command = c.AddLine(family_id, "Chan Tai Man", value, spec(1))
    else:
        sub = dataclasses.replace(spec(1), **{field: value})
        command = c.AddLine(family_id, "Chan Tai Man", number(1), sub)
    error = fails(memory_bus, memory_store, command, InvalidIdentifier)
    assert isinstance(error, InvalidIdentifier)
    assert error.kind == kind


def test_physical_sim_with_eid_is_refused(
    memory_store: MemoryStore, memory_bus: MessageBus, family_id: str
) -> None:
    eid = str(Eid.from_body("890490320000100000000000000001"))
    sub = spec(1, sim_type=SimType.PHYSICAL, eid=eid)
    command = c.AddLine(family_id, "Chan Tai Man", number(1), sub)
    fails(memory_bus, memory_store, command, InvalidInput)


@pytest.mark.parametrize("clash", ["msisdn", "iccid", "imsi"])
def test_identifier_of_another_family_is_taken(
    memory_store: MemoryStore, memory_bus: MessageBus, family_id: str, clash: str
) -> None:
    memory_bus.handle(c.AddLine(family_id, "Chan Tai Man", number(1), spec(1)))
    other = memory_bus.handle(c.CreateFamily("Wong family", HK, "Wong"))
    fresh = spec(2)
    if clash != "msisdn":
        fresh = dataclasses.replace(fresh, **{clash: getattr(spec(1), clash)})
    msisdn = number(1) if clash == "msisdn" else number(2)
    fails(memory_bus, memory_store, c.AddLine(other, "Wong", msisdn, fresh), IdentifierTaken)
    assert stored(memory_store, other).lines == {}


@pytest.mark.parametrize("clash", ["msisdn", "iccid", "imsi"])
def test_identifier_of_the_same_family_is_in_use(
    memory_store: MemoryStore, memory_bus: MessageBus, family_id: str, clash: str
) -> None:
    memory_bus.handle(c.AddLine(family_id, "Chan Tai Man", number(1), spec(1)))
    fresh = spec(2)
    if clash != "msisdn":
        fresh = dataclasses.replace(fresh, **{clash: getattr(spec(1), clash)})
    msisdn = number(1) if clash == "msisdn" else number(2)
    command = c.AddLine(family_id, "Chan Tai Man", msisdn, fresh)
    fails(memory_bus, memory_store, command, IdentifierInUse)


def test_add_line_refusals(
    memory_store: MemoryStore, memory_bus: MessageBus, family_id: str
) -> None:
    fails(memory_bus, memory_store, c.AddLine("nope", "x", number(1), spec(1)), FamilyNotFound)
    fails(
        memory_bus, memory_store, c.AddLine(family_id, "nobody", number(1), spec(1)), MemberNotFound
    )
    for n in range(8):
        memory_bus.handle(c.AddLine(family_id, "Chan Tai Man", number(n), spec(n)))
    command = c.AddLine(family_id, "Chan Tai Man", number(9), spec(9))
    fails(memory_bus, memory_store, command, PlanLimitExceeded)


# --- AddCompanion --------------------------------------------------------------------


def test_add_companion(memory_store: MemoryStore, memory_bus: MessageBus, family_id: str) -> None:
    line_id = memory_bus.handle(c.AddLine(family_id, "Chan Tai Man", number(1), spec(1)))
    sub_id = memory_bus.handle(
        c.AddCompanion(family_id, "+852 9123 0001", spec(2, DeviceKind.WATCH))
    )
    line = stored(memory_store, family_id).lines[line_id]
    assert [s.id for s in line.companions] == [sub_id]
    assert not line.companions[0].primary
    assert line.companions[0].device_kind is DeviceKind.WATCH


def test_add_companion_refusals(
    memory_store: MemoryStore, memory_bus: MessageBus, family_id: str
) -> None:
    memory_bus.handle(c.AddLine(family_id, "Chan Tai Man", number(1), spec(1)))
    fails(
        memory_bus,
        memory_store,
        c.AddCompanion(family_id, number(1), spec(2, DeviceKind.PHONE)),
        RuleViolation,
    )
    fails(
        memory_bus,
        memory_store,
        c.AddCompanion(family_id, number(5), spec(2, DeviceKind.WATCH)),
        LineNotFound,
    )
    fails(
        memory_bus,
        memory_store,
        c.AddCompanion(family_id, number(1), spec(1, DeviceKind.WATCH)),
        IdentifierInUse,
    )
    fails(
        memory_bus,
        memory_store,
        c.AddCompanion("nope", number(1), spec(2, DeviceKind.WATCH)),
        FamilyNotFound,
    )
    other = memory_bus.handle(c.CreateFamily("Wong family", HK, "Wong"))
    memory_bus.handle(c.AddLine(other, "Wong", number(7), spec(7)))
    fails(
        memory_bus,
        memory_store,
        c.AddCompanion(family_id, number(1), spec(7, DeviceKind.WATCH)),
        IdentifierTaken,
    )


# --- SetAllocation -------------------------------------------------------------------


def test_set_allocation(memory_store: MemoryStore, memory_bus: MessageBus, family_id: str) -> None:
    member = memory_bus.handle(c.AddMember(family_id, "A", Role.ADULT))
    command = c.SetAllocation(
        family_id,
        member,
        limits={(DATA, HOME): Limit(quota=20 * GB, hard_cap=25 * GB)},
        hotspot_quota=2 * GB,
        exhaustion=ExhaustionAction.REDIRECT,
        redirect_url="https://topup.example/",
        money_cap=Money.parse("50", "HKD"),
        roaming_allowed=False,
    )
    assert memory_bus.handle(command) == member
    allocation = stored(memory_store, family_id).allocation(member)
    assert allocation.limit(DATA, HOME) == Limit(20 * GB, 25 * GB)
    assert allocation.hotspot_quota == 2 * GB
    assert allocation.exhaustion is ExhaustionAction.REDIRECT
    assert allocation.money_cap == Money(5000, "HKD")
    assert not allocation.roaming_allowed


def test_set_allocation_refusals(
    memory_store: MemoryStore, memory_bus: MessageBus, family_id: str
) -> None:
    owner = stored(memory_store, family_id).owner_id
    cases: list[tuple[c.SetAllocation, type[Exception]]] = [
        (c.SetAllocation(family_id, owner, {(DATA, HOME): Limit(quota=101 * GB)}), Oversubscribed),
        (c.SetAllocation(family_id, owner, {(DATA, Zone("eu")): Limit(1)}), AllocationRejected),
        (c.SetAllocation(family_id, owner, hotspot_quota=21 * GB), AllocationRejected),
        (c.SetAllocation(family_id, owner, money_cap=Money(1, "USD")), InvalidAmount),
        (c.SetAllocation(family_id, owner, redirect_url="ftp://x"), InvalidInput),
        (c.SetAllocation(family_id, "nobody"), MemberNotFound),
        (c.SetAllocation("nope", owner), FamilyNotFound),
        (c.SetAllocation(family_id, owner, always_allowed=("852912345678",)), InvalidInput),
        (c.SetAllocation(family_id, owner, quiet_hours=("Mon 08:00",)), InvalidInput),
    ]
    for command, error in cases:
        fails(memory_bus, memory_store, command, error)


# --- child safety --------------------------------------------------------------------


def test_set_allocation_with_child_safety_and_the_view(
    memory_store: MemoryStore, memory_bus: MessageBus, family_id: str
) -> None:
    memory_bus.handle(c.AddLine(family_id, "Chan Tai Man", number(1), spec(1)))
    child = memory_bus.handle(c.AddMember(family_id, "Kid", Role.CHILD, "Chan Tai Man"))
    memory_bus.handle(
        c.SetAllocation(
            family_id,
            child,
            always_allowed=("+852 6123 0002",),
            quiet_hours=("Mon-Fri 08:30-15:30", "sun-thu 21:00-07:00 data,voice"),
        )
    )
    detail = view(memory_store, family_id)
    assert detail["time_zone"] == "Asia/Hong_Kong"  # the plan's
    (kid,) = [m for m in detail["members"] if m["name"] == "Kid"]
    assert kid["allocation"]["always_allowed"] == ["+85261230002"]
    assert kid["allocation"]["quiet_hours"] == [
        "Mon-Fri 08:30-15:30",
        "Sun-Thu 21:00-07:00 data,voice",
    ]
    assert kid["always_allowed_all"] == ["+85261230002", "+85291230001", "112", "999"]
    owner = next(m for m in detail["members"] if m["role"] == "owner")
    assert owner["always_allowed_all"] == ["112", "999"]


def test_set_time_zone(memory_store: MemoryStore, memory_bus: MessageBus, family_id: str) -> None:
    assert memory_bus.handle(c.SetTimeZone(family_id, "Asia/Macau")) == "Asia/Macau"
    assert stored(memory_store, family_id).time_zone == "Asia/Macau"
    assert stored(memory_store, family_id).version == 1
    fails(memory_bus, memory_store, c.SetTimeZone(family_id, "Macau"), InvalidInput)
    fails(memory_bus, memory_store, c.SetTimeZone("nope", "UTC"), FamilyNotFound)


def test_create_family_in_another_time_zone(
    memory_store: MemoryStore, memory_bus: MessageBus
) -> None:
    family_id = memory_bus.handle(c.CreateFamily("Wu", HK, "Wu", time_zone="Europe/London"))
    assert stored(memory_store, family_id).time_zone == "Europe/London"
    fails(memory_bus, memory_store, c.CreateFamily("Wu", HK, "Wu", time_zone="BST"), InvalidInput)


# --- ChangePlan ----------------------------------------------------------------------


def test_change_plan_takes_effect_next_cycle(
    memory_store: MemoryStore, memory_bus: MessageBus, family_id: str, lite_plan: Plan
) -> None:
    memory_bus.handle(c.LoadPlans((lite_plan,)))
    assert memory_bus.handle(c.ChangePlan(family_id, LITE)) == LITE
    family = stored(memory_store, family_id)
    assert family.plan_code == HK
    assert family.pending_plan_code == LITE
    assert family.cycle.plan_code == HK
    detail = view(memory_store, family_id)
    assert (detail["plan"], detail["pending_plan"]) == (HK, LITE)
    # allocations are now checked against both plans
    owner = family.owner_id
    command = c.SetAllocation(family_id, owner, {(DATA, HOME): Limit(quota=41 * GB)})
    fails(memory_bus, memory_store, command, Oversubscribed)
    memory_bus.handle(c.SetAllocation(family_id, owner, {(DATA, HOME): Limit(quota=40 * GB)}))
    # and back to the current plan clears the change
    memory_bus.handle(c.ChangePlan(family_id, HK))
    assert stored(memory_store, family_id).pending_plan_code is None


def test_change_plan_refusals(
    memory_store: MemoryStore, memory_bus: MessageBus, family_id: str, lite_plan: Plan
) -> None:
    fails(memory_bus, memory_store, c.ChangePlan(family_id, "no-such-plan"), PlanNotFound)
    fails(memory_bus, memory_store, c.ChangePlan(family_id, RU), RuleViolation)
    fails(memory_bus, memory_store, c.ChangePlan("nope", HK), FamilyNotFound)
    memory_bus.handle(c.LoadPlans((lite_plan,)))
    for i in range(3):
        memory_bus.handle(c.AddMember(family_id, f"A{i}", Role.ADULT))
    fails(memory_bus, memory_store, c.ChangePlan(family_id, LITE), PlanLimitExceeded)


# --- SuspendLine / ResumeLine --------------------------------------------------------


def test_suspend_and_resume(
    memory_store: MemoryStore, memory_bus: MessageBus, family_id: str
) -> None:
    line_id = memory_bus.handle(c.AddLine(family_id, "Chan Tai Man", number(1), spec(1)))
    assert memory_bus.handle(c.SuspendLine(family_id, "+852 9123 0001", "lost phone")) == line_id
    line = stored(memory_store, family_id).lines[line_id]
    assert (line.status.value, line.suspended_reason) == ("suspended", "lost phone")
    fails(memory_bus, memory_store, c.SuspendLine(family_id, number(1), "again"), RuleViolation)
    assert memory_bus.handle(c.ResumeLine(family_id, number(1))) == line_id
    line = stored(memory_store, family_id).lines[line_id]
    assert (line.status.value, line.suspended_reason) == ("active", None)
    fails(memory_bus, memory_store, c.ResumeLine(family_id, number(1)), RuleViolation)
    fails(memory_bus, memory_store, c.SuspendLine(family_id, number(2), "x"), LineNotFound)
    fails(memory_bus, memory_store, c.ResumeLine("nope", number(1)), FamilyNotFound)
    fails(memory_bus, memory_store, c.SuspendLine(family_id, "12", "x"), InvalidIdentifier)


# --- the demo family and the views ---------------------------------------------------


def test_demo_family(memory_store: MemoryStore, memory_bus: MessageBus) -> None:
    family_id = create_demo_family(memory_bus)
    detail = view(memory_store, family_id)
    assert detail["name"] == DEMO_FAMILY
    assert detail["plan"] == DEMO_PLAN
    assert detail["money_cap"]["text"] == "HKD 500.00"
    members = {m["name"]: m for m in detail["members"]}
    assert len(members) == 4
    assert {m["role"] for m in members.values()} == {"owner", "adult", "child"}
    assert all(m["status"] == "active" for m in members.values())
    owner_id = detail["owner_id"]
    assert members["Chan Tai Man"]["role"] == "owner"
    assert members["Chan Ka Ho"]["guardian_id"] == owner_id
    assert members["Chan Ka Yan"]["guardian_id"] == members["Wong Mei Ling"]["id"]

    lines = detail["lines"]
    assert len(lines) == 5
    assert all(line["status"] == "active" for line in lines)
    by_number = {line["msisdn"]: line for line in lines}
    child_line = by_number["+85294560004"]
    assert child_line["member"] == "Chan Ka Yan"
    assert [s["device_kind"] for s in child_line["subscriptions"]] == ["phone", "watch"]
    assert [s["primary"] for s in child_line["subscriptions"]] == [True, False]
    tablets = [line for line in lines if line["data_only"]]
    assert len(tablets) == 1
    assert tablets[0]["member"] == "Wong Mei Ling"
    assert tablets[0]["subscriptions"][0]["device_kind"] == "tablet"
    physical = by_number["+85251230003"]["subscriptions"][0]
    assert (physical["sim_type"], physical["eid"]) == ("physical", None)

    ka_ho = members["Chan Ka Ho"]["allocation"]
    assert ka_ho["limits"] == [
        {"resource": "data", "zone": "home", "quota": 20 * GB, "hard_cap": 25 * GB}
    ]
    assert ka_ho["exhaustion"] == "throttle"
    assert ka_ho["roaming_allowed"] is False
    assert members["Chan Ka Yan"]["allocation"]["hotspot_quota"] == 0

    pools = [(p["resource"], p["zone"]) for p in detail["cycle"]["pools"]]
    assert pools[0] == ("data", "home")
    assert len(pools) == 6
    summary = views.list_families(MemoryUnitOfWork(memory_store))[0]
    assert (summary["members"], summary["lines"]) == (4, 5)


def test_resolve_family(memory_store: MemoryStore, memory_bus: MessageBus) -> None:
    chan = memory_bus.handle(c.CreateFamily("Chan family", HK, "Chan"))
    wong = memory_bus.handle(c.CreateFamily("Wong family", HK, "Wong"))
    uow = MemoryUnitOfWork(memory_store)
    assert views.resolve_family(uow, chan) == chan
    assert views.resolve_family(uow, wong) == wong
    assert views.resolve_family(uow, "Chan family") == chan
    assert views.resolve_family(uow, "  chan   FAMILY ") == chan
    with pytest.raises(FamilyNotFound):
        views.resolve_family(uow, "Lee family")
    with pytest.raises(FamilyNotFound):
        views.resolve_family(uow, "Chan")
    memory_bus.handle(c.CreateFamily("chan family", HK, "Other Chan"))
    with pytest.raises(RuleViolation, match="several families"):
        views.resolve_family(uow, "Chan family")
    assert views.resolve_family(uow, chan) == chan


def test_other_views(memory_store: MemoryStore, memory_bus: MessageBus, family_id: str) -> None:
    uow = MemoryUnitOfWork(memory_store)
    assert views.plan_currency(uow, RU) == "RUB"
    assert views.family_currency(uow, family_id) == "HKD"
    member_id, allocation = views.current_allocation(uow, family_id, "chan tai man")
    assert member_id == stored(memory_store, family_id).owner_id
    assert allocation.limits == {}
    with pytest.raises(PlanNotFound):
        views.plan_currency(uow, "nope")
    with pytest.raises(FamilyNotFound):
        views.family_detail(uow, "nope")
