"""The storage contract: every implementation of the ports in famsim.service.ports behaves alike.

Each test runs on the in-memory adapter, on SQLite and on PostgreSQL (the ``uow_factory``
fixture in conftest.py).
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from datetime import date
from typing import Any

import pytest

from famsim.demo import create_demo_family
from famsim.domain.allocation import Allocation, ExhaustionAction, Limit
from famsim.domain.errors import InvalidInput
from famsim.domain.family import MEMBER_REMOVED, Family
from famsim.domain.identifiers import Eid, Iccid, Imei, Imsi, Msisdn
from famsim.domain.ids import FamilyId, SubscriptionId, new_id
from famsim.domain.lines import LineStatus, SimType, Subscription
from famsim.domain.members import MemberStatus, Role
from famsim.domain.money import Money
from famsim.domain.plan import DeviceKind, Plan
from famsim.domain.safety import QuietHours
from famsim.domain.units import HOME, Resource, Zone, parse_amount
from famsim.service import commands as c
from famsim.service.messagebus import MessageBus
from famsim.service.ports import (
    ConcurrentUpdate,
    FamilyNotFound,
    FamilySummary,
    IdentifierTaken,
    PlanNotFound,
)

pytestmark = pytest.mark.integration

TODAY = date(2026, 1, 31)
GREATER_CHINA = Zone("greater-china")
_serial = itertools.count(1)


# ----------------------------------------------------------------------------- helpers
def gb(text: str) -> int:
    return parse_amount(Resource.DATA, text)


def msisdn() -> Msisdn:
    return Msisdn.parse(f"+8529123{next(_serial):04d}")


def imsi() -> Imsi:
    return Imsi.parse(f"4540012300{next(_serial):05d}")


def iccid() -> Iccid:
    return Iccid.from_body(f"8985200001230{next(_serial):05d}")


def subscription(
    device: DeviceKind = DeviceKind.PHONE,
    *,
    primary: bool = True,
    esim: bool = True,
    iccid_: Iccid | None = None,
    imsi_: Imsi | None = None,
) -> Subscription:
    n = next(_serial)
    return Subscription(
        id=SubscriptionId(new_id()),
        iccid=iccid_ or iccid(),
        imsi=imsi_ or imsi(),
        sim_type=SimType.ESIM if esim else SimType.PHYSICAL,
        device_kind=device,
        primary=primary,
        eid=Eid.from_body(f"8904903200001000000000000{n:05d}") if esim else None,
        imei=Imei.from_body(f"353322110{n:05d}"),
    )


def snapshot(family: Family) -> dict[str, Any]:
    """Every field of the aggregate, with members and lines as ordered lists.

    Family has no value equality (eq=False), so tests compare snapshots. Members and lines
    keep their order; a Line compares its subscriptions as a list, so their order counts
    too. Allocations are compared as a mapping. New fields of Family are covered on their own.
    """
    state: dict[str, Any] = {}
    for field in dataclasses.fields(family):
        value = getattr(family, field.name)
        if field.name in ("members", "lines"):
            value = list(value.items())
        elif isinstance(value, dict):
            value = dict(value)
        state[field.name] = value
    return state


def store_family(uow_factory: Any, family: Family) -> None:
    with uow_factory() as uow:
        uow.families.add(family)
        uow.commit()


def read_family(uow_factory: Any, family_id: str) -> Family:
    with uow_factory() as uow:
        return uow.families.get(family_id)


def simple_family(plan: Plan, *, name: str = "Lee family", today: date = TODAY) -> Family:
    family = Family.create(name=name, plan=plan, owner_name=f"Owner of {name}", today=today)
    family.add_line(
        plan, member_id=family.owner_id, msisdn=msisdn(), primary=subscription(), data_only=False
    )
    return family


def rich_family(hk: Plan, next_plan: Plan) -> Family:
    """A family using every part of the aggregate the tables store."""
    hkd = hk.currency
    family = Family.create(
        name="Chan family",
        plan=hk,
        owner_name="Chan Tai Man",
        today=TODAY,
        money_cap=Money.parse("500.00", hkd),
        time_zone="Asia/Macau",
    )
    owner = family.owner_id
    spouse = family.add_member(hk, name="Wong Mei Ling", role=Role.ADULT, today=TODAY)
    teen = family.add_member(hk, name="Chan Ka Ho", role=Role.CHILD, today=TODAY, guardian_id=owner)
    kid = family.add_member(
        hk, name="Chan Ka Yan", role=Role.CHILD, today=TODAY, guardian_id=spouse.id
    )
    family.add_line(hk, member_id=owner, msisdn=msisdn(), primary=subscription(), data_only=False)
    family.add_line(
        hk, member_id=spouse.id, msisdn=msisdn(), primary=subscription(), data_only=False
    )
    family.add_line(
        hk, member_id=teen.id, msisdn=msisdn(), primary=subscription(esim=False), data_only=False
    )
    kid_line = family.add_line(
        hk, member_id=kid.id, msisdn=msisdn(), primary=subscription(), data_only=False
    )
    family.add_companion(kid_line.id, subscription(DeviceKind.WATCH, primary=False))
    family.add_companion(kid_line.id, subscription(DeviceKind.OTHER, primary=False, esim=False))
    tablet = family.add_line(
        hk,
        member_id=spouse.id,
        msisdn=msisdn(),
        primary=subscription(DeviceKind.TABLET),
        data_only=True,
    )
    family.suspend_line(tablet.id, "tablet lost on the MTR")
    plans = [hk]
    family.set_allocation(
        spouse.id,
        Allocation(
            limits={(Resource.DATA, GREATER_CHINA): Limit(quota=gb("4GB"))},
            money_cap=Money.parse("200.00", hkd),
        ),
        plans,
    )
    family.set_allocation(
        teen.id,
        Allocation(
            limits={(Resource.DATA, HOME): Limit(quota=gb("20GB"), hard_cap=gb("25GB"))},
            hotspot_quota=gb("2GB"),
            exhaustion=ExhaustionAction.REDIRECT,
            redirect_url="https://topup.example.org/family",
            money_cap=Money.parse("50.00", hkd),
            roaming_allowed=False,
            quiet_hours=(QuietHours.parse("Sun-Thu 23:00-06:30 data"),),
        ),
        plans,
    )
    family.set_allocation(
        kid.id,
        Allocation(
            limits={
                (Resource.DATA, HOME): Limit(quota=gb("3GB"), hard_cap=gb("3GB")),
                (Resource.SMS, HOME): Limit(quota=50, hard_cap=50),
                (Resource.VOICE, GREATER_CHINA): Limit(hard_cap=600),
            },
            hotspot_quota=0,
            exhaustion=ExhaustionAction.THROTTLE,
            money_cap=Money.zero(hkd),
            roaming_allowed=False,
            always_allowed=frozenset({"+852 6123 0009", "1878000", "+12015550123"}),
            quiet_hours=(
                QuietHours.parse("Mon-Fri 08:30-15:30"),
                QuietHours.parse("daily 21:00-07:00 data,voice"),
            ),
        ),
        plans,
    )
    family.set_oversubscription(True, plans)
    family.schedule_plan_change(hk, next_plan)
    return family


@pytest.fixture
def big_plan(uow_factory: Any, hk_plan: Plan) -> Plan:
    """The HK plan with room for many members, saved in the catalog."""
    plan = dataclasses.replace(hk_plan, code="hk-family-big", max_members=100)
    with uow_factory() as uow:
        uow.plans.save(plan)
        uow.commit()
    return plan


@pytest.fixture
def family(uow_factory: Any, hk_plan: Plan) -> Family:
    """A stored family with one line; the returned object is what was committed."""
    stored = simple_family(hk_plan)
    store_family(uow_factory, stored)
    return stored


# ------------------------------------------------------------------------------- plans
def test_every_sample_plan_reads_back_equal(uow_factory: Any, sample_plans: list[Plan]) -> None:
    with uow_factory() as uow:
        for plan in sample_plans:
            assert uow.plans.get(plan.code) == plan
        assert list(uow.plans.catalog()) == sorted(sample_plans, key=lambda p: p.code)


def test_saved_plan_reads_back_equal(uow_factory: Any, hk_plan: Plan) -> None:
    plan = dataclasses.replace(hk_plan, code="hk-lite", name="Lite", max_members=2, max_lines=3)
    with uow_factory() as uow:
        uow.plans.save(plan)
        uow.commit()
    with uow_factory() as uow:
        assert uow.plans.get("hk-lite") == plan
        assert plan in uow.plans.catalog()


def test_catalog_is_sorted_by_code(uow_factory: Any, hk_plan: Plan) -> None:
    with uow_factory() as uow:
        for code in ("zz-last", "aa-first", "mm-middle"):
            uow.plans.save(dataclasses.replace(hk_plan, code=code))
        uow.commit()
    with uow_factory() as uow:
        codes = [plan.code for plan in uow.plans.catalog()]
    assert codes == sorted(codes)
    assert {"zz-last", "aa-first", "mm-middle"} <= set(codes)
    assert codes[0] == "aa-first"
    assert codes[-1] == "zz-last"


def test_saving_the_same_code_replaces_the_plan(uow_factory: Any, hk_plan: Plan) -> None:
    renamed = dataclasses.replace(hk_plan, name="Family Share 5G (2027)", max_members=4)
    with uow_factory() as uow:
        before = len(uow.plans.catalog())
        uow.plans.save(renamed)
        uow.commit()
    with uow_factory() as uow:
        assert uow.plans.get(hk_plan.code) == renamed
        catalog = uow.plans.catalog()
    assert len(catalog) == before
    assert [p for p in catalog if p.code == hk_plan.code] == [renamed]


def test_unknown_plan_raises_plan_not_found(uow_factory: Any) -> None:
    with uow_factory() as uow, pytest.raises(PlanNotFound):
        uow.plans.get("no-such-plan")


def test_a_plan_saved_without_commit_is_not_stored(uow_factory: Any, hk_plan: Plan) -> None:
    with uow_factory() as uow:
        uow.plans.save(dataclasses.replace(hk_plan, code="hk-uncommitted"))
        assert uow.plans.get("hk-uncommitted").code == "hk-uncommitted"  # reads its own write
    with uow_factory() as uow:
        with pytest.raises(PlanNotFound):
            uow.plans.get("hk-uncommitted")
        assert "hk-uncommitted" not in [p.code for p in uow.plans.catalog()]


# ---------------------------------------------------------------------------- families
def test_a_family_reads_back_identical(uow_factory: Any, hk_plan: Plan, next_plan: Plan) -> None:
    family = rich_family(hk_plan, next_plan)
    expected = snapshot(family)
    store_family(uow_factory, family)

    loaded = read_family(uow_factory, family.id)

    assert snapshot(loaded) == expected
    # The parts the contract names, spelled out so a failure says which one broke.
    assert [m.name for m in loaded.members.values()] == [
        "Chan Tai Man",
        "Wong Mei Ling",
        "Chan Ka Ho",
        "Chan Ka Yan",
    ]
    assert list(loaded.lines) == list(family.lines)
    kid_line = list(loaded.lines.values())[3]
    assert [s.primary for s in kid_line.subscriptions] == [True, False, False]
    assert [s.device_kind for s in kid_line.subscriptions] == [
        DeviceKind.PHONE,
        DeviceKind.WATCH,
        DeviceKind.OTHER,
    ]
    assert loaded.allocations == family.allocations
    kid = list(loaded.members)[3]
    assert loaded.allocations[kid].always_allowed == {"+85261230009", "1878000", "+12015550123"}
    assert [str(q) for q in loaded.allocations[kid].quiet_hours] == [
        "Mon-Fri 08:30-15:30",
        "daily 21:00-07:00 data,voice",
    ]
    assert loaded.time_zone == "Asia/Macau"
    assert loaded.money_cap == Money.parse("500.00", "HKD")
    assert loaded.pending_plan_code == next_plan.code
    assert loaded.cycle == family.cycle
    assert loaded.cycle.pools[(Resource.VOICE, HOME)].total is None  # unlimited stays None
    assert loaded.version == 0


def test_a_changed_family_reads_back_identical(
    uow_factory: Any, hk_plan: Plan, next_plan: Plan
) -> None:
    """The update path (rows written as a difference) stores the same as the insert path."""
    original = rich_family(hk_plan, next_plan)
    store_family(uow_factory, original)
    family_id = original.id
    with uow_factory() as uow:
        family = uow.families.get(family_id, for_update=True)
        members = list(family.members.values())
        new = family.add_member(
            hk_plan, name="Chan Siu Ming", role=Role.ADULT, today=TODAY, next_plan=next_plan
        )
        line = family.add_line(
            hk_plan,
            member_id=new.id,
            msisdn=msisdn(),
            primary=subscription(),
            data_only=False,
            next_plan=next_plan,
        )
        family.add_companion(line.id, subscription(DeviceKind.WATCH, primary=False))
        family.resume_line(list(family.lines)[-2])  # the suspended tablet
        family.set_allocation(
            members[3].id,
            Allocation(limits={(Resource.SMS, HOME): Limit(quota=10)}, roaming_allowed=True),
            [hk_plan, next_plan],
        )
        family.set_allocation(
            new.id, Allocation(limits={(Resource.DATA, HOME): Limit(quota=gb("1GB"))}), [hk_plan]
        )
        family.set_money_cap(None, hk_plan)
        family.schedule_plan_change(hk_plan, hk_plan)  # cancels the pending change
        uow.commit()
        expected = snapshot(family)

    assert snapshot(read_family(uow_factory, family_id)) == expected
    assert expected["version"] == 1
    assert expected["pending_plan_code"] is None
    assert expected["money_cap"] is None


def test_child_safety_changes_read_back(uow_factory: Any, hk_plan: Plan, next_plan: Plan) -> None:
    """Time zone, always-allowed numbers and quiet hours, changed on the update path."""
    original = rich_family(hk_plan, next_plan)
    store_family(uow_factory, original)
    teen, kid = list(original.members)[2:4]
    with uow_factory() as uow:
        family = uow.families.get(original.id, for_update=True)
        family.set_time_zone("Asia/Hong_Kong")
        plans = [hk_plan, next_plan]
        family.set_allocation(
            kid,
            dataclasses.replace(
                family.allocation(kid).with_always_allowed(add=["112"], remove=["1878000"]),
                quiet_hours=(QuietHours.parse("Sat,Sun 23:00-08:00 sms"),),
            ),
            plans,
        )
        family.set_allocation(
            teen,
            dataclasses.replace(family.allocation(teen), quiet_hours=()),
            plans,
        )
        uow.commit()
        expected = snapshot(family)
    loaded = read_family(uow_factory, original.id)
    assert snapshot(loaded) == expected
    assert loaded.time_zone == "Asia/Hong_Kong"
    assert loaded.allocations[kid].always_allowed == {"+85261230009", "112", "+12015550123"}
    assert [str(q) for q in loaded.allocations[kid].quiet_hours] == ["Sat,Sun 23:00-08:00 sms"]
    assert loaded.allocations[teen].quiet_hours == ()


def test_child_safety_through_the_service(uow_factory: Any, bus: MessageBus) -> None:
    family_id = bus.handle(
        c.CreateFamily(name="Safety", plan_code="us-family-share-50", owner_name="Ann")
    )
    bus.handle(c.AddMember(family_id, "Bo", Role.CHILD, guardian_id="Ann"))
    bus.handle(
        c.AddLine(
            family_id, "Ann", "+1 201 555 0123", c.SubscriptionSpec(str(iccid()), "310150123456789")
        )
    )
    bus.handle(
        c.SetAllocation(
            family_id,
            "Bo",
            always_allowed=("+1 (201) 555-0124", "988"),
            quiet_hours=("mon-fri 8:00-15:00", "daily 21:30-06:30 data"),
        )
    )
    with pytest.raises(InvalidInput, match="unknown day 'Mo'"):
        bus.handle(c.SetAllocation(family_id, "Bo", quiet_hours=("Mo 08:00-09:00",)))
    assert bus.handle(c.SetTimeZone(family_id, "America/Chicago")) == "America/Chicago"
    with pytest.raises(InvalidInput, match="unknown time zone"):
        bus.handle(c.SetTimeZone(family_id, "America/Springfield"))

    family = read_family(uow_factory, family_id)
    plan = uow_plan(uow_factory, family.plan_code)
    bo = family.member("Bo")
    assert family.time_zone == "America/Chicago"
    assert family.allocation(bo.id).always_allowed == {"+12015550124", "988"}
    assert [str(q) for q in family.allocation(bo.id).quiet_hours] == [
        "Mon-Fri 08:00-15:00",
        "daily 21:30-06:30 data",
    ]
    assert family.always_allowed(bo.id, plan) == {
        "+12015550124",
        "988",
        "911",
        "112",
        "+12015550123",  # the guardian's line
    }


def uow_plan(uow_factory: Any, code: str) -> Plan:
    with uow_factory() as uow:
        return uow.plans.get(code)


def test_a_family_built_through_the_service_reads_back(uow_factory: Any, bus: MessageBus) -> None:
    family_id = create_demo_family(bus)
    family = read_family(uow_factory, family_id)
    assert [m.name for m in family.members.values()] == [
        "Chan Tai Man",
        "Wong Mei Ling",
        "Chan Ka Ho",
        "Chan Ka Yan",
    ]
    assert [line.msisdn.e164 for line in family.lines.values()] == [
        "+85291230001",
        "+85261230002",
        "+85251230003",
        "+85294560004",
        "+85294560005",
    ]
    kid_line = family.line_by_msisdn(Msisdn.parse("+85294560004"))
    assert [(s.primary, s.device_kind) for s in kid_line.subscriptions] == [
        (True, DeviceKind.PHONE),
        (False, DeviceKind.WATCH),
    ]
    ka_yan = family.member("Chan Ka Yan")
    assert family.allocation(ka_yan.id).limits == {
        (Resource.DATA, HOME): Limit(quota=gb("3GB"), hard_cap=gb("3GB")),
        (Resource.SMS, HOME): Limit(quota=50, hard_cap=50),
    }
    assert family.allocation(ka_yan.id).money_cap == Money.zero("HKD")
    assert family.money_cap == Money.parse("500.00", "HKD")
    assert family.version == 12  # created, then 12 committed changes


def test_the_same_family_object_within_one_unit_of_work(uow_factory: Any, family: Family) -> None:
    with uow_factory() as uow:
        first = uow.families.get(family.id, for_update=True)
        assert uow.families.get(family.id) is first


def test_unknown_family_raises_family_not_found(uow_factory: Any) -> None:
    with uow_factory() as uow, pytest.raises(FamilyNotFound):
        uow.families.get(FamilyId(new_id()))


# ---------------------------------------------------------------- nothing without commit
def test_an_added_family_without_commit_is_not_stored(uow_factory: Any, hk_plan: Plan) -> None:
    family = simple_family(hk_plan)
    line = next(iter(family.lines.values()))
    with uow_factory() as uow:
        uow.families.add(family)
    with uow_factory() as uow:
        with pytest.raises(FamilyNotFound):
            uow.families.get(family.id)
        assert uow.families.summaries() == []
        assert uow.families.owner_of_msisdn(line.msisdn) is None


def test_a_change_without_commit_is_not_stored(
    uow_factory: Any, family: Family, hk_plan: Plan
) -> None:
    before = snapshot(family)
    with uow_factory() as uow:
        loaded = uow.families.get(family.id, for_update=True)
        loaded.add_member(hk_plan, name="Never Stored", role=Role.ADULT, today=TODAY)
        loaded.add_line(
            hk_plan,
            member_id=loaded.owner_id,
            msisdn=msisdn(),
            primary=subscription(),
            data_only=False,
        )
    assert snapshot(read_family(uow_factory, family.id)) == before


class BoomError(Exception):
    pass


def _change_then_fail(uow_factory: Any, family_id: str, plan: Plan) -> None:
    with uow_factory() as uow:
        loaded = uow.families.get(family_id, for_update=True)
        loaded.add_member(plan, name="Never Stored", role=Role.ADULT, today=TODAY)
        loaded.set_money_cap(Money.parse("1.00", plan.currency), plan)
        raise BoomError


def test_an_exception_inside_the_unit_of_work_stores_nothing(
    uow_factory: Any, family: Family, hk_plan: Plan
) -> None:
    before = snapshot(family)
    with pytest.raises(BoomError):
        _change_then_fail(uow_factory, family.id, hk_plan)
    assert snapshot(read_family(uow_factory, family.id)) == before


def test_rollback_discards_changes_before_a_later_commit(
    uow_factory: Any, family: Family, hk_plan: Plan
) -> None:
    before = snapshot(family)
    with uow_factory() as uow:
        loaded = uow.families.get(family.id, for_update=True)
        loaded.add_member(hk_plan, name="Rolled Back", role=Role.ADULT, today=TODAY)
        uow.rollback()
        uow.commit()
    assert snapshot(read_family(uow_factory, family.id)) == before


# ------------------------------------------------------------------ queries on families
def _summaries(uow_factory: Any) -> list[FamilySummary]:
    with uow_factory() as uow:
        return list(uow.families.summaries())


def test_summaries_count_active_members_and_lines(uow_factory: Any, hk_plan: Plan) -> None:
    early = simple_family(hk_plan, name="Zhou family", today=date(2026, 1, 10))
    late = simple_family(hk_plan, name="Au family", today=TODAY)
    leaver = late.add_member(hk_plan, name="Au Leaver", role=Role.ADULT, today=TODAY)
    late.add_member(hk_plan, name="Au Stayer", role=Role.ADULT, today=TODAY)
    late.add_line(
        hk_plan, member_id=leaver.id, msisdn=msisdn(), primary=subscription(), data_only=False
    )
    late.remove_member(leaver.id, TODAY)
    store_family(uow_factory, late)
    store_family(uow_factory, early)

    assert _summaries(uow_factory) == [
        FamilySummary(
            id=early.id,
            name="Zhou family",
            plan_code=hk_plan.code,
            owner_name="Owner of Zhou family",
            members=1,
            lines=1,
            created_on=date(2026, 1, 10),
        ),
        FamilySummary(
            id=late.id,
            name="Au family",
            plan_code=hk_plan.code,
            owner_name="Owner of Au family",
            members=2,  # the owner and Au Stayer; Au Leaver was removed
            lines=2,  # Au Leaver's suspended line is still the family's
            created_on=TODAY,
        ),
    ]


def test_owner_of_identifiers(uow_factory: Any, hk_plan: Plan, next_plan: Plan) -> None:
    family = rich_family(hk_plan, next_plan)
    other = simple_family(hk_plan, name="Other family")
    store_family(uow_factory, family)
    store_family(uow_factory, other)
    with uow_factory() as uow:
        repo = uow.families
        for owner in (family, other):
            for line in owner.lines.values():
                assert repo.owner_of_msisdn(line.msisdn) == owner.id
                for sub in line.subscriptions:  # companions too
                    assert repo.owner_of_iccid(sub.iccid) == owner.id
                    assert repo.owner_of_imsi(sub.imsi) == owner.id
        assert repo.owner_of_msisdn(msisdn()) is None
        assert repo.owner_of_iccid(iccid()) is None
        assert repo.owner_of_imsi(imsi()) is None


# ---------------------------------------------------------- identifiers across families
CLASHES = ("msisdn", "iccid", "imsi")


def _clashing_line(first: Family, clash: str) -> tuple[Msisdn, Subscription]:
    taken = next(iter(first.lines.values()))
    return (
        taken.msisdn if clash == "msisdn" else msisdn(),
        subscription(
            iccid_=taken.primary.iccid if clash == "iccid" else None,
            imsi_=taken.primary.imsi if clash == "imsi" else None,
        ),
    )


@pytest.mark.parametrize("clash", CLASHES)
def test_identifier_of_another_family_is_refused_at_commit_of_a_new_family(
    uow_factory: Any, family: Family, hk_plan: Plan, clash: str
) -> None:
    second = Family.create(name="Second", plan=hk_plan, owner_name="Ng", today=TODAY)
    number, sub = _clashing_line(family, clash)
    second.add_line(hk_plan, member_id=second.owner_id, msisdn=number, primary=sub, data_only=False)
    with uow_factory() as uow:
        uow.families.add(second)
        with pytest.raises(IdentifierTaken):
            uow.commit()
    with uow_factory() as uow:
        with pytest.raises(FamilyNotFound):
            uow.families.get(second.id)
        assert [s.id for s in uow.families.summaries()] == [family.id]


@pytest.mark.parametrize("clash", CLASHES)
def test_identifier_of_another_family_is_refused_at_commit_of_a_change(
    uow_factory: Any, family: Family, hk_plan: Plan, clash: str
) -> None:
    """The domain only checks its own family; storage must refuse a clash with another one."""
    second = Family.create(name="Second", plan=hk_plan, owner_name="Ng", today=TODAY)
    store_family(uow_factory, second)
    before = snapshot(second)
    number, sub = _clashing_line(family, clash)
    with uow_factory() as uow:
        loaded = uow.families.get(second.id, for_update=True)
        loaded.add_line(
            hk_plan, member_id=loaded.owner_id, msisdn=number, primary=sub, data_only=False
        )
        with pytest.raises(IdentifierTaken):
            uow.commit()
    assert snapshot(read_family(uow_factory, second.id)) == before
    assert snapshot(read_family(uow_factory, family.id)) == snapshot(family)


@pytest.mark.parametrize("clash", CLASHES)
def test_identifier_of_another_family_is_refused_by_the_handlers(
    uow_factory: Any, bus: MessageBus, family: Family, clash: str
) -> None:
    second = bus.handle(c.CreateFamily(name="Second", plan_code=family.plan_code, owner_name="Ng"))
    number, sub = _clashing_line(family, clash)
    with pytest.raises(IdentifierTaken):
        bus.handle(c.AddLine(second, "Ng", number.e164, _spec(sub)))
    assert read_family(uow_factory, second).lines == {}
    assert read_family(uow_factory, second).version == 0


@pytest.mark.parametrize("clash", ["iccid", "imsi"])
def test_companion_identifier_of_another_family_is_refused_by_the_handlers(
    uow_factory: Any, bus: MessageBus, family: Family, clash: str
) -> None:
    second = bus.handle(c.CreateFamily(name="Second", plan_code=family.plan_code, owner_name="Ng"))
    own = msisdn()
    bus.handle(c.AddLine(second, "Ng", own.e164, _spec(subscription())))
    _, sub = _clashing_line(family, clash)
    watch = dataclasses.replace(_spec(sub), device_kind=DeviceKind.WATCH)
    with pytest.raises(IdentifierTaken):
        bus.handle(c.AddCompanion(second, own.e164, watch))
    (line,) = read_family(uow_factory, second).lines.values()
    assert [s.primary for s in line.subscriptions] == [True]


def _spec(sub: Subscription) -> c.SubscriptionSpec:
    return c.SubscriptionSpec(iccid=str(sub.iccid), imsi=str(sub.imsi))


# ----------------------------------------------------------------- concurrent changes
def test_a_stale_write_raises_concurrent_update_and_keeps_the_first_change(
    uow_factory: Any, family: Family, hk_plan: Plan
) -> None:
    with uow_factory() as slow:
        stale = slow.families.get(family.id)
        if uow_factory.backend != "memory":
            # A read locks: every SQLite transaction is BEGIN IMMEDIATE, and PostgreSQL reads
            # a family under a shared row lock (so it sees one committed version). Ending
            # that transaction (nothing to write) lets the fast writer in while the slow one
            # keeps its now stale copy.
            slow.commit()
        with uow_factory() as fast:
            fresh = fast.families.get(family.id, for_update=True)
            fresh.add_member(hk_plan, name="Fast Writer", role=Role.ADULT, today=TODAY)
            fast.commit()
        stale.add_member(hk_plan, name="Slow Writer", role=Role.ADULT, today=TODAY)
        with pytest.raises(ConcurrentUpdate):
            slow.commit()
    stored = read_family(uow_factory, family.id)
    assert [m.name for m in stored.members.values()] == [family.owner.name, "Fast Writer"]
    assert stored.version == 1


def test_a_reader_commits_even_if_the_family_changed_meanwhile(
    uow_factory: Any, family: Family, hk_plan: Plan
) -> None:
    """A unit of work that changed nothing has nothing stale to write: commit succeeds."""
    with uow_factory() as reader:
        seen = reader.families.get(family.id)
        if uow_factory.backend != "memory":
            reader.commit()  # release the read's lock (see the test above)
        with uow_factory() as writer:
            writer.families.get(family.id, for_update=True).add_member(
                hk_plan, name="Writer", role=Role.ADULT, today=TODAY
            )
            writer.commit()
        assert seen.version == 0
        reader.commit()
    assert [m.name for m in read_family(uow_factory, family.id).members.values()][-1] == "Writer"


def test_writers_in_threads_never_lose_an_update(
    uow_factory: Any, clock: Any, big_plan: Plan
) -> None:
    """Two threads add members to one family: every success is stored, refusals are clean."""
    bus = MessageBus(uow_factory, clock)
    family_id = bus.handle(c.CreateFamily(name="Busy", plan_code=big_plan.code, owner_name="Ho"))
    per_thread = 5
    done: dict[str, list[str]] = {"ok": [], "refused": []}
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(2)

    def work(tag: str) -> None:
        try:
            start.wait(timeout=10)
            for i in range(per_thread):
                name = f"{tag} {i}"
                try:
                    bus.handle(c.AddMember(family_id, name, Role.ADULT))
                except ConcurrentUpdate:
                    with lock:
                        done["refused"].append(name)
                else:
                    with lock:
                        done["ok"].append(name)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(tag,)) for tag in ("Left", "Right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    stored = read_family(uow_factory, family_id)
    names = {m.name for m in stored.members.values()} - {"Ho"}
    assert names == set(done["ok"])
    assert len(done["ok"]) + len(done["refused"]) == 2 * per_thread
    assert stored.version == len(done["ok"])


# ----------------------------------------------------------------------------- versions
def test_version_counts_committed_changes_only(
    uow_factory: Any, family: Family, hk_plan: Plan
) -> None:
    assert read_family(uow_factory, family.id).version == 0

    with uow_factory() as uow:
        loaded = uow.families.get(family.id, for_update=True)
        loaded.add_member(hk_plan, name="One", role=Role.ADULT, today=TODAY)
        uow.commit()
        assert loaded.version == 1
    assert read_family(uow_factory, family.id).version == 1

    with uow_factory() as uow:  # loaded for update, nothing changed
        uow.families.get(family.id, for_update=True)
        uow.commit()
    assert read_family(uow_factory, family.id).version == 1

    with uow_factory() as uow:  # several changes, one commit: one version
        loaded = uow.families.get(family.id, for_update=True)
        loaded.add_member(hk_plan, name="Two", role=Role.ADULT, today=TODAY)
        loaded.set_money_cap(Money.parse("99.00", "HKD"), hk_plan)
        loaded.suspend_line(next(iter(loaded.lines)), "holiday")
        uow.commit()
        assert loaded.version == 2
    assert read_family(uow_factory, family.id).version == 2


def test_a_second_commit_in_one_unit_of_work_writes_the_later_changes(
    uow_factory: Any, family: Family, hk_plan: Plan
) -> None:
    with uow_factory() as uow:
        loaded = uow.families.get(family.id, for_update=True)
        loaded.add_member(hk_plan, name="First", role=Role.ADULT, today=TODAY)
        uow.commit()
        loaded.add_member(hk_plan, name="Second", role=Role.ADULT, today=TODAY)
        uow.commit()
    stored = read_family(uow_factory, family.id)
    assert [m.name for m in stored.members.values()][1:] == ["First", "Second"]
    assert stored.version == 2


# -------------------------------------------------------------------------- history
def test_a_removed_member_and_their_suspended_lines_read_back(
    uow_factory: Any, bus: MessageBus, family: Family, hk_plan: Plan
) -> None:
    member_id = bus.handle(c.AddMember(family.id, "Leaving Soon", Role.ADULT))
    first, second = msisdn(), msisdn()
    for number in (first, second):
        bus.handle(c.AddLine(family.id, member_id, number.e164, _spec(subscription())))
    bus.handle(c.SuspendLine(family.id, second.e164, "lost phone"))
    bus.handle(c.RemoveMember(family.id, member_id))

    stored = read_family(uow_factory, family.id)
    leaver = stored.members[member_id]
    assert leaver.status is MemberStatus.REMOVED
    assert leaver.removed_on == TODAY
    lines = stored.lines_of(member_id)
    assert [line.msisdn for line in lines] == [first, second]
    assert [line.status for line in lines] == [LineStatus.SUSPENDED] * 2
    assert [line.suspended_reason for line in lines] == [MEMBER_REMOVED, "lost phone"]
    assert [m.name for m in stored.active_members] == [family.owner.name]
    with uow_factory() as uow:  # the numbers stay the family's
        assert uow.families.owner_of_msisdn(first) == family.id
    (summary,) = _summaries(uow_factory)
    assert (summary.members, summary.lines) == (1, 3)


def test_the_next_cycle_reads_back(uow_factory: Any, family: Family, hk_plan: Plan) -> None:
    with uow_factory() as uow:
        loaded = uow.families.get(family.id, for_update=True)
        cycle = loaded.start_next_cycle(hk_plan)
        uow.commit()
    stored = read_family(uow_factory, family.id)
    assert stored.cycle == cycle
    assert stored.cycle.number == 2
    assert stored.cycle.pools[(Resource.DATA, HOME)].total == hk_plan.allowance(Resource.DATA, HOME)
