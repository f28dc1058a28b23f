"""The Family aggregate's rules.

Every refused operation is checked twice: the error class, and that the family is exactly as
it was before the call (a refusal never leaves half a change behind).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from famsim.domain.allocation import Allocation, ExhaustionAction, Limit
from famsim.domain.cycle import LAST_CYCLE_DAY, Pool, cycle_day_for, next_cycle_start
from famsim.domain.errors import (
    FamsimError,
    InvalidAmount,
    InvalidInput,
    NotFound,
    RuleViolation,
)
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
from famsim.domain.identifiers import Eid, Iccid, Imei, Imsi, Msisdn
from famsim.domain.ids import SubscriptionId, new_id
from famsim.domain.lines import Line, LineStatus, SimType, Subscription
from famsim.domain.members import Member, MemberStatus, Role
from famsim.domain.money import Money
from famsim.domain.plan import DeviceKind, HotspotRule, Plan
from famsim.domain.safety import QuietHours
from famsim.domain.units import HOME, Resource, Zone

pytestmark = pytest.mark.unit

DATA, VOICE, SMS = Resource.DATA, Resource.VOICE, Resource.SMS
GC = Zone("greater-china")
EUROPE = Zone("europe")
GB = 10**9
TODAY = date(2026, 1, 15)
LATER = date(2026, 1, 20)


# --- helpers -------------------------------------------------------------------------


def hkd(text: str) -> Money:
    return Money.parse(text, "HKD")


def msisdn(n: int) -> Msisdn:
    """A valid Hong Kong mobile number, different for every n < 10000."""
    return Msisdn.parse(f"+8529123{n:04d}")


def sub(
    n: int,
    device: DeviceKind = DeviceKind.PHONE,
    *,
    primary: bool = True,
    sim: SimType = SimType.ESIM,
    eid: bool = False,
) -> Subscription:
    """A subscription with a valid ICCID and IMSI, different for every n."""
    return Subscription(
        id=SubscriptionId(new_id()),
        iccid=Iccid.from_body(f"898520000123{n:06d}"),
        imsi=Imsi.parse(f"45400{n:010d}"),
        sim_type=sim,
        device_kind=device,
        primary=primary,
        eid=Eid.from_body(f"8904903200001000000000{n:08d}") if eid else None,
        imei=Imei.from_body(f"35332211{n:06d}"),
    )


def refused(
    family: Family, error: type[BaseException], action: Callable[..., Any], *args: Any, **kw: Any
) -> BaseException:
    """Run a refused action: assert the error class and that the family did not change."""
    before = copy.deepcopy(vars(family))
    with pytest.raises(error) as info:
        action(*args, **kw)
    assert vars(family) == before, "a refused operation changed the family"
    assert isinstance(info.value, FamsimError)
    return info.value


@pytest.fixture
def hk(sample_plans: list[Plan]) -> Plan:
    return next(p for p in sample_plans if p.code == "hk-family-5g-100")


@pytest.fixture
def ru(sample_plans: list[Plan]) -> Plan:
    return next(p for p in sample_plans if p.code == "ru-semya-40")


@pytest.fixture
def lite(hk: Plan) -> Plan:
    """Another HKD plan: 3 members, 4 lines, 40 GB at home, no greater-china data."""
    allowances = dict(hk.allowances)
    allowances[(DATA, HOME)] = 40 * GB
    del allowances[(DATA, GC)]
    overage = {k: v for k, v in hk.overage.items() if k != (DATA, GC)}
    return dataclasses.replace(
        hk,
        code="hk-family-lite",
        name="Family Share Lite",
        max_members=3,
        max_lines=4,
        allowances=allowances,
        overage=overage,
    )


@pytest.fixture
def family(hk: Plan) -> Family:
    return Family.create(name="Chan family", plan=hk, owner_name="Chan Tai Man", today=TODAY)


def add_adult(family: Family, plan: Plan, name: str, next_plan: Plan | None = None) -> Member:
    return family.add_member(plan, name=name, role=Role.ADULT, today=TODAY, next_plan=next_plan)


def add_child(family: Family, plan: Plan, name: str, guardian: str) -> Member:
    return family.add_member(plan, name=name, role=Role.CHILD, today=TODAY, guardian_id=guardian)


def add_line(
    family: Family,
    plan: Plan,
    member: str,
    n: int,
    *,
    data_only: bool = False,
    next_plan: Plan | None = None,
) -> Line:
    return family.add_line(
        plan,
        member_id=member,
        msisdn=msisdn(n),
        primary=sub(n),
        data_only=data_only,
        next_plan=next_plan,
    )


def quota(amount: int, zone: Zone = HOME, resource: Resource = DATA) -> Allocation:
    return Allocation(limits={(resource, zone): Limit(quota=amount)})


# --- errors --------------------------------------------------------------------------


def test_error_classes_group_by_what_the_caller_can_do() -> None:
    for rule in (PlanLimitExceeded, GuardianRequired, OwnerRule, Oversubscribed):
        assert issubclass(rule, RuleViolation)
    assert issubclass(AllocationRejected, RuleViolation)
    assert issubclass(IdentifierInUse, RuleViolation)
    assert issubclass(MemberNotFound, NotFound)
    assert issubclass(LineNotFound, NotFound)


# --- create --------------------------------------------------------------------------


def test_create_has_exactly_one_active_owner(family: Family) -> None:
    assert list(family.members) == [family.owner_id]
    owner = family.owner
    assert owner.role is Role.OWNER
    assert owner.is_active
    assert owner.name == "Chan Tai Man"
    assert owner.joined_on == TODAY
    assert owner.guardian_id is None
    assert family.allocation(owner.id) == Allocation()
    assert family.name == "Chan family"
    assert family.currency == "HKD"
    assert family.plan_code == "hk-family-5g-100"
    assert family.pending_plan_code is None
    assert family.lines == {}
    assert family.money_cap is None
    assert not family.oversubscription_allowed
    assert family.version == 0


def test_create_opens_cycle_one_with_pools_from_the_plan(family: Family, hk: Plan) -> None:
    cycle = family.cycle
    assert cycle.number == 1
    assert cycle.plan_code == hk.code
    assert cycle.start == TODAY
    assert cycle.end == date(2026, 2, 15)
    assert set(cycle.pools) == set(hk.allowances) | set(hk.overage)
    for (resource, zone), pool in cycle.pools.items():
        assert pool == Pool(resource, zone, hk.allowance(resource, zone))
    assert cycle.pools[(DATA, HOME)].total == 100 * GB
    assert cycle.pools[(VOICE, HOME)].total is None
    assert cycle.pools[(VOICE, HOME)].total is None
    assert cycle.pools[(DATA, GC)].total == 10 * GB


@pytest.mark.parametrize(
    ("created", "cycle_day", "end"),
    [
        (date(2026, 1, 1), 1, date(2026, 2, 1)),
        (date(2026, 1, 15), 15, date(2026, 2, 15)),
        (date(2026, 1, 28), 28, date(2026, 2, 28)),
        (date(2026, 1, 29), 28, date(2026, 2, 28)),
        (date(2026, 1, 31), 28, date(2026, 2, 28)),
        (date(2026, 12, 20), 20, date(2027, 1, 20)),
        (date(2026, 12, 31), 28, date(2027, 1, 28)),
        (date(2028, 2, 29), 28, date(2028, 3, 28)),
    ],
)
def test_cycle_day_and_end(hk: Plan, created: date, cycle_day: int, end: date) -> None:
    family = Family.create(name="F", plan=hk, owner_name="O", today=created)
    assert family.cycle_day == cycle_day <= LAST_CYCLE_DAY
    assert family.created_on == created
    assert family.cycle.start == created
    assert family.cycle.end == end


def test_cycle_helpers() -> None:
    assert cycle_day_for(date(2026, 3, 31)) == 28
    assert next_cycle_start(date(2026, 3, 27), 28) == date(2026, 3, 28)
    assert next_cycle_start(date(2026, 3, 28), 28) == date(2026, 4, 28)
    assert next_cycle_start(date(2026, 12, 28), 28) == date(2027, 1, 28)


def test_create_with_money_cap_and_oversubscription(hk: Plan) -> None:
    family = Family.create(
        name="F",
        plan=hk,
        owner_name="O",
        today=TODAY,
        money_cap=hkd("500.00"),
        oversubscription_allowed=True,
    )
    assert family.money_cap == hkd("500.00")
    assert family.oversubscription_allowed


@pytest.mark.parametrize("cap", [Money(100, "USD"), hkd("-1.00")])
def test_create_refuses_a_bad_money_cap(hk: Plan, cap: Money) -> None:
    with pytest.raises(InvalidAmount):
        Family.create(name="F", plan=hk, owner_name="O", today=TODAY, money_cap=cap)


@pytest.mark.parametrize(("name", "owner"), [("", "O"), ("F", "  "), ("F", "x" * 101)])
def test_create_refuses_bad_names(hk: Plan, name: str, owner: str) -> None:
    with pytest.raises(InvalidInput):
        Family.create(name=name, plan=hk, owner_name=owner, today=TODAY)


def test_create_cleans_names(hk: Plan) -> None:
    family = Family.create(
        name="  Chan   family ", plan=hk, owner_name=" Chan  Tai Man", today=TODAY
    )
    assert family.name == "Chan family"
    assert family.owner.name == "Chan Tai Man"


def test_two_families_get_different_ids(hk: Plan) -> None:
    a = Family.create(name="F", plan=hk, owner_name="O", today=TODAY)
    b = Family.create(name="F", plan=hk, owner_name="O", today=TODAY)
    assert a.id != b.id
    assert a.owner_id != b.owner_id


# --- add_member ----------------------------------------------------------------------


def test_add_adult(family: Family, hk: Plan) -> None:
    member = add_adult(family, hk, "Wong Mei Ling")
    assert family.members[member.id] is member
    assert member.role is Role.ADULT
    assert member.is_active
    assert member.guardian_id is None
    assert member.joined_on == TODAY
    assert family.allocation(member.id) == Allocation()


def test_owner_role_is_refused(family: Family, hk: Plan) -> None:
    refused(family, OwnerRule, family.add_member, hk, name="X", role=Role.OWNER, today=TODAY)


def test_plan_max_members(family: Family, hk: Plan) -> None:
    for i in range(hk.max_members - 1):
        add_adult(family, hk, f"Adult {i}")
    assert len(family.active_members) == hk.max_members
    refused(family, PlanLimitExceeded, add_adult, family, hk, "One too many")
    refused(family, PlanLimitExceeded, add_child, family, hk, "Kid", family.owner_id)


def test_add_member_refuses_another_plan(family: Family, ru: Plan) -> None:
    refused(family, RuleViolation, add_adult, family, ru, "X")


def test_child_without_guardian_is_refused(family: Family, hk: Plan) -> None:
    refused(family, GuardianRequired, family.add_member, hk, name="K", role=Role.CHILD, today=TODAY)


def test_child_with_unknown_guardian_is_refused(family: Family, hk: Plan) -> None:
    refused(family, GuardianRequired, add_child, family, hk, "K", "nobody")


def test_child_with_a_child_as_guardian_is_refused(family: Family, hk: Plan) -> None:
    child = add_child(family, hk, "Kid", family.owner_id)
    refused(family, GuardianRequired, add_child, family, hk, "Kid 2", child.id)
    refused(family, GuardianRequired, add_child, family, hk, "Kid 2", "kid")


def test_child_with_a_removed_guardian_is_refused(family: Family, hk: Plan) -> None:
    adult = add_adult(family, hk, "Wong Mei Ling")
    family.remove_member(adult.id, LATER)
    refused(family, GuardianRequired, add_child, family, hk, "Kid", adult.id)
    refused(family, GuardianRequired, add_child, family, hk, "Kid", "Wong Mei Ling")


def test_adult_with_guardian_is_refused(family: Family, hk: Plan) -> None:
    refused(
        family,
        RuleViolation,
        family.add_member,
        hk,
        name="A",
        role=Role.ADULT,
        today=TODAY,
        guardian_id=family.owner_id,
    )


def test_child_defaults_to_no_roaming_and_zero_money_cap(family: Family, hk: Plan) -> None:
    child = add_child(family, hk, "Kid", family.owner_id)
    allocation = family.allocation(child.id)
    assert allocation.roaming_allowed is False
    assert allocation.money_cap == Money(0, "HKD")
    assert allocation.limits == {}
    assert child.guardian_id == family.owner_id


def test_guardian_may_be_named_and_an_adult(family: Family, hk: Plan) -> None:
    adult = add_adult(family, hk, "Wong Mei Ling")
    child = add_child(family, hk, "Kid", "  wong MEI ling ")
    assert child.guardian_id == adult.id


def test_bad_member_name_is_refused(family: Family, hk: Plan) -> None:
    refused(family, InvalidInput, add_adult, family, hk, "   ")
    refused(family, InvalidInput, add_adult, family, hk, "x" * 101)


# --- finding members -----------------------------------------------------------------


def test_member_by_id_or_case_insensitive_name(family: Family, hk: Plan) -> None:
    adult = add_adult(family, hk, "Wong Mei Ling")
    assert family.member(adult.id) is adult
    assert family.member("Wong Mei Ling") is adult
    assert family.member("wong mei ling") is adult
    assert family.member("  WONG   Mei  LING ") is adult
    assert family.member("chan tai man") is family.owner


def test_unknown_member(family: Family) -> None:
    with pytest.raises(MemberNotFound):
        family.member("Nobody")
    with pytest.raises(MemberNotFound):
        family.member(new_id())


def test_two_active_members_cannot_share_a_name(family: Family, hk: Plan) -> None:
    """Names find members on the command line, so an active name is unique (any case)."""
    add_adult(family, hk, "Sam")
    refused(family, RuleViolation, add_adult, family, hk, " sam ")


def test_the_plan_scheduled_next_must_be_given_to_add_members(
    family: Family, hk: Plan, lite: Plan
) -> None:
    family.schedule_plan_change(hk, lite)
    refused(family, RuleViolation, add_adult, family, hk, "Sam")
    assert add_adult(family, hk, "Sam", next_plan=lite).name == "Sam"


def test_name_prefers_the_active_member(family: Family, hk: Plan) -> None:
    old = add_adult(family, hk, "Sam")
    family.remove_member(old.id, LATER)
    assert family.member("Sam") is old  # only a removed one: found, for history
    new = add_adult(family, hk, "Sam")
    assert family.member("sam") is new
    with pytest.raises(RuleViolation, match="removed"):
        family.active_member(old.id)


# --- remove_member -------------------------------------------------------------------


def test_owner_cannot_be_removed(family: Family) -> None:
    refused(family, OwnerRule, family.remove_member, family.owner_id, LATER)
    refused(family, OwnerRule, family.remove_member, "Chan Tai Man", LATER)


def test_guardian_of_an_active_child_cannot_be_removed_until_reassigned(
    family: Family, hk: Plan
) -> None:
    adult = add_adult(family, hk, "Wong Mei Ling")
    child = add_child(family, hk, "Kid", adult.id)
    refused(family, GuardianRequired, family.remove_member, adult.id, LATER)
    family.assign_guardian(child.id, family.owner_id)
    assert child.guardian_id == family.owner_id
    family.remove_member(adult.id, LATER)
    assert not family.members[adult.id].is_active


def test_guardian_of_a_removed_child_can_be_removed(family: Family, hk: Plan) -> None:
    adult = add_adult(family, hk, "A")
    child = add_child(family, hk, "Kid", adult.id)
    family.remove_member(child.id, LATER)
    family.remove_member(adult.id, LATER)
    assert family.active_members == [family.owner]


def test_assign_guardian_rules(family: Family, hk: Plan) -> None:
    adult = add_adult(family, hk, "A")
    child = add_child(family, hk, "Kid", adult.id)
    other_child = add_child(family, hk, "Kid 2", adult.id)
    refused(family, RuleViolation, family.assign_guardian, adult.id, family.owner_id)
    refused(family, GuardianRequired, family.assign_guardian, child.id, other_child.id)
    refused(family, GuardianRequired, family.assign_guardian, child.id, "nobody")


def test_remove_member_suspends_their_lines_and_keeps_the_records(family: Family, hk: Plan) -> None:
    adult = add_adult(family, hk, "A")
    first = add_line(family, hk, adult.id, 1)
    second = add_line(family, hk, adult.id, 2, data_only=True)
    mine = add_line(family, hk, family.owner_id, 3)
    family.suspend_line(second.id, "lost tablet")
    suspended = family.remove_member(adult.id, LATER)
    assert suspended == [first]  # only the lines this removal suspended
    member = family.members[adult.id]
    assert member.status is MemberStatus.REMOVED
    assert member.removed_on == LATER
    assert not member.is_active
    assert not member.can_be_guardian
    assert set(family.lines) == {first.id, second.id, mine.id}
    assert first.status is LineStatus.SUSPENDED
    assert first.suspended_reason == MEMBER_REMOVED == "member removed"
    assert second.suspended_reason == "lost tablet"
    assert mine.is_active
    assert family.lines_of(adult.id) == [first, second]


def test_removed_members_line_cannot_be_resumed(family: Family, hk: Plan) -> None:
    adult = add_adult(family, hk, "A")
    line = add_line(family, hk, adult.id, 1)
    family.remove_member(adult.id, LATER)
    refused(family, RuleViolation, family.resume_line, line.id)


def test_remove_member_twice_or_unknown(family: Family, hk: Plan) -> None:
    adult = add_adult(family, hk, "A")
    family.remove_member(adult.id, LATER)
    refused(family, RuleViolation, family.remove_member, adult.id, LATER)
    refused(family, MemberNotFound, family.remove_member, "nobody", LATER)


def test_removal_frees_a_member_slot(family: Family, hk: Plan) -> None:
    adults = [add_adult(family, hk, f"A{i}") for i in range(hk.max_members - 1)]
    refused(family, PlanLimitExceeded, add_adult, family, hk, "Late")
    family.remove_member(adults[0].id, LATER)
    late = add_adult(family, hk, "Late")
    assert late.is_active
    assert len(family.members) == hk.max_members + 1
    assert len(family.active_members) == hk.max_members


def test_removal_frees_a_line_slot(family: Family, hk: Plan) -> None:
    adult = add_adult(family, hk, "A")
    add_line(family, hk, adult.id, 100)
    for n in range(hk.max_lines - 1):
        add_line(family, hk, family.owner_id, n)
    assert len(family.counted_lines) == hk.max_lines
    refused(family, PlanLimitExceeded, add_line, family, hk, family.owner_id, 200)
    family.remove_member(adult.id, LATER)
    assert len(family.counted_lines) == hk.max_lines - 1
    add_line(family, hk, family.owner_id, 200)
    assert len(family.lines) == hk.max_lines + 1


# --- add_line ------------------------------------------------------------------------


def test_add_line(family: Family, hk: Plan) -> None:
    primary = sub(1)
    line = family.add_line(
        hk, member_id="chan tai man", msisdn=msisdn(1), primary=primary, data_only=False
    )
    assert family.lines == {line.id: line}
    assert line.member_id == family.owner_id
    assert line.msisdn == msisdn(1)
    assert line.primary is primary
    assert line.companions == []
    assert line.is_active
    assert line.suspended_reason is None
    assert not line.data_only
    assert family.line(line.id) is line
    assert family.line_by_msisdn(msisdn(1)) is line
    assert family.subscription_by_iccid(primary.iccid) is primary
    assert family.subscription_by_imsi(primary.imsi) is primary


def test_data_only_line(family: Family, hk: Plan) -> None:
    assert add_line(family, hk, family.owner_id, 1, data_only=True).data_only


def test_plan_max_lines(family: Family, hk: Plan) -> None:
    for n in range(hk.max_lines):
        add_line(family, hk, family.owner_id, n)
    refused(family, PlanLimitExceeded, add_line, family, hk, family.owner_id, 99)


def test_suspended_lines_still_count(family: Family, hk: Plan) -> None:
    for n in range(hk.max_lines):
        family.suspend_line(add_line(family, hk, family.owner_id, n).id, "paused")
    refused(family, PlanLimitExceeded, add_line, family, hk, family.owner_id, 99)


@pytest.mark.parametrize("clash", ["msisdn", "iccid", "imsi"])
def test_duplicate_identifier_in_the_family_is_refused(
    family: Family, hk: Plan, clash: str
) -> None:
    adult = add_adult(family, hk, "A")
    existing = add_line(family, hk, family.owner_id, 1)
    fresh = sub(2)
    if clash == "iccid":
        fresh = dataclasses.replace(fresh, iccid=existing.primary.iccid)
    if clash == "imsi":
        fresh = dataclasses.replace(fresh, imsi=existing.primary.imsi)
    number = msisdn(1) if clash == "msisdn" else msisdn(2)
    refused(
        family,
        IdentifierInUse,
        family.add_line,
        hk,
        member_id=adult.id,
        msisdn=number,
        primary=fresh,
        data_only=False,
    )


def test_identifiers_of_companions_and_removed_members_stay_taken(family: Family, hk: Plan) -> None:
    adult = add_adult(family, hk, "A")
    line = add_line(family, hk, adult.id, 1)
    watch = family.add_companion(line.id, sub(2, DeviceKind.WATCH, primary=False))
    family.remove_member(adult.id, LATER)
    for number, primary in [
        (msisdn(1), sub(3)),
        (msisdn(3), dataclasses.replace(sub(3), iccid=watch.iccid)),
        (msisdn(3), dataclasses.replace(sub(3), imsi=watch.imsi)),
    ]:
        refused(
            family,
            IdentifierInUse,
            family.add_line,
            hk,
            member_id=family.owner_id,
            msisdn=number,
            primary=primary,
            data_only=False,
        )


def test_line_for_a_removed_member_is_refused(family: Family, hk: Plan) -> None:
    adult = add_adult(family, hk, "A")
    family.remove_member(adult.id, LATER)
    refused(family, RuleViolation, add_line, family, hk, adult.id, 1)


def test_line_for_an_unknown_member_is_refused(family: Family, hk: Plan) -> None:
    refused(family, MemberNotFound, add_line, family, hk, "nobody", 1)


def test_line_needs_a_primary_subscription(family: Family, hk: Plan) -> None:
    refused(
        family,
        RuleViolation,
        family.add_line,
        hk,
        member_id=family.owner_id,
        msisdn=msisdn(1),
        primary=sub(1, primary=False),
        data_only=False,
    )


def test_add_line_refuses_another_plan(family: Family, ru: Plan) -> None:
    refused(family, RuleViolation, add_line, family, ru, family.owner_id, 1)


def test_unknown_line(family: Family) -> None:
    with pytest.raises(LineNotFound):
        family.line("nope")
    with pytest.raises(LineNotFound):
        family.line_by_msisdn(msisdn(1))


# --- add_companion -------------------------------------------------------------------


@pytest.mark.parametrize("device", [DeviceKind.WATCH, DeviceKind.TABLET, DeviceKind.OTHER])
def test_companion_shares_the_line(family: Family, hk: Plan, device: DeviceKind) -> None:
    line = add_line(family, hk, family.owner_id, 1)
    companion = family.add_companion(line.id, sub(2, device, primary=False, eid=True))
    assert line.companions == [companion]
    assert line.primary.iccid == sub(1).iccid
    assert len(line.subscriptions) == 2
    assert len(family.lines) == 1
    assert len(family.counted_lines) == 1
    assert family.subscription_by_imsi(companion.imsi) is companion


def test_phone_companion_is_refused(family: Family, hk: Plan) -> None:
    line = add_line(family, hk, family.owner_id, 1)
    refused(family, RuleViolation, family.add_companion, line.id, sub(2, primary=False))


def test_primary_companion_is_refused(family: Family, hk: Plan) -> None:
    line = add_line(family, hk, family.owner_id, 1)
    refused(family, RuleViolation, family.add_companion, line.id, sub(2, DeviceKind.WATCH))


@pytest.mark.parametrize("clash", ["iccid", "imsi"])
def test_companion_with_a_used_identifier_is_refused(family: Family, hk: Plan, clash: str) -> None:
    line = add_line(family, hk, family.owner_id, 1)
    other = add_line(family, hk, family.owner_id, 2)
    watch = sub(3, DeviceKind.WATCH, primary=False)
    watch = dataclasses.replace(watch, **{clash: getattr(other.primary, clash)})
    refused(family, IdentifierInUse, family.add_companion, line.id, watch)


def test_companion_on_a_removed_members_line_is_refused(family: Family, hk: Plan) -> None:
    adult = add_adult(family, hk, "A")
    line = add_line(family, hk, adult.id, 1)
    family.remove_member(adult.id, LATER)
    refused(
        family,
        RuleViolation,
        family.add_companion,
        line.id,
        sub(2, DeviceKind.WATCH, primary=False),
    )


def test_companion_on_an_unknown_line_is_refused(family: Family) -> None:
    refused(
        family, LineNotFound, family.add_companion, "nope", sub(2, DeviceKind.WATCH, primary=False)
    )


def test_physical_sim_with_eid_is_refused_at_construction() -> None:
    with pytest.raises(InvalidInput, match="physical SIM has no EID"):
        sub(1, DeviceKind.WATCH, primary=False, sim=SimType.PHYSICAL, eid=True)
    physical = sub(1, sim=SimType.PHYSICAL)
    assert physical.eid is None


# --- suspend / resume ----------------------------------------------------------------


def test_suspend_and_resume(family: Family, hk: Plan) -> None:
    line = add_line(family, hk, family.owner_id, 1)
    assert family.suspend_line(line.id, "  lost   phone ") is line
    assert line.status is LineStatus.SUSPENDED
    assert line.suspended_reason == "lost phone"
    refused(family, RuleViolation, family.suspend_line, line.id, "again")
    assert family.resume_line(line.id) is line
    assert line.is_active
    assert line.suspended_reason is None
    refused(family, RuleViolation, family.resume_line, line.id)


def test_suspend_unknown_line(family: Family) -> None:
    refused(family, LineNotFound, family.suspend_line, "nope", "x")
    refused(family, LineNotFound, family.resume_line, "nope")


def test_blank_suspension_reason_is_refused_without_change(family: Family, hk: Plan) -> None:
    line = add_line(family, hk, family.owner_id, 1)
    refused(family, InvalidInput, family.suspend_line, line.id, "   ")


# --- allocation values ---------------------------------------------------------------


def test_limit_values() -> None:
    assert Limit() == Limit(None, None)
    assert Limit(quota=5, hard_cap=5).hard_cap == 5
    with pytest.raises(InvalidAmount, match="below the quota"):
        Limit(quota=10, hard_cap=9)
    with pytest.raises(InvalidAmount):
        Limit(quota=-1)
    with pytest.raises(InvalidAmount):
        Limit(hard_cap=-1)
    with pytest.raises(InvalidAmount):
        Limit(quota=True)


@pytest.mark.parametrize("kwargs", [{"quota": 1.5}, {"hard_cap": 2.5}])
def test_limit_refuses_floats(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidAmount):
        Limit(**kwargs)


def test_allocation_values() -> None:
    allocation = Allocation()
    assert allocation.limit(DATA, HOME) == Limit()
    assert allocation.roaming_allowed
    assert allocation.exhaustion is ExhaustionAction.BLOCK
    assert Allocation.default_for_child("HKD") == Allocation(
        roaming_allowed=False, money_cap=Money(0, "HKD")
    )
    with pytest.raises(InvalidAmount):
        Allocation(hotspot_quota=-1)
    with pytest.raises(InvalidAmount):
        Allocation(money_cap=hkd("-0.01"))
    with pytest.raises(InvalidInput):
        Allocation(redirect_url="ftp://example.com")
    assert Allocation(redirect_url="https://example.com/topup").redirect_url


# --- set_allocation ------------------------------------------------------------------


def test_set_allocation(family: Family, hk: Plan) -> None:
    adult = add_adult(family, hk, "A")
    allocation = Allocation(
        limits={(DATA, HOME): Limit(quota=20 * GB, hard_cap=25 * GB)},
        hotspot_quota=2 * GB,
        money_cap=hkd("50.00"),
        roaming_allowed=False,
    )
    assert family.set_allocation("a", allocation, [hk]) is allocation
    assert family.allocation(adult.id) == allocation


@pytest.mark.parametrize("key", [(DATA, EUROPE), (VOICE, Zone("world"))])
def test_quota_outside_the_plan_is_rejected(
    family: Family, hk: Plan, key: tuple[Resource, Zone]
) -> None:
    allocation = Allocation(limits={key: Limit(quota=1)})
    refused(family, AllocationRejected, family.set_allocation, family.owner_id, allocation, [hk])


def test_quotas_above_the_pool_are_oversubscribed(family: Family, hk: Plan) -> None:
    a = add_adult(family, hk, "A")
    b = add_adult(family, hk, "B")
    family.set_allocation(a.id, quota(60 * GB), [hk])
    family.set_allocation(b.id, quota(40 * GB), [hk])  # exactly the pool: fine
    refused(family, Oversubscribed, family.set_allocation, b.id, quota(40 * GB + 1), [hk])
    refused(family, Oversubscribed, family.set_allocation, a.id, quota(11 * GB, GC), [hk])
    refused(family, Oversubscribed, family.set_allocation, a.id, quota(501, resource=SMS), [hk])


def test_oversubscription_allowed(family: Family, hk: Plan) -> None:
    a = add_adult(family, hk, "A")
    family.set_oversubscription(True, [hk])
    assert family.oversubscription_allowed
    family.set_allocation(a.id, quota(80 * GB), [hk])
    family.set_allocation(family.owner_id, quota(80 * GB), [hk])
    assert family.allocation(a.id).limit(DATA, HOME).quota == 80 * GB


def test_family_created_with_oversubscription(hk: Plan) -> None:
    family = Family.create(
        name="F", plan=hk, owner_name="O", today=TODAY, oversubscription_allowed=True
    )
    family.set_allocation(family.owner_id, quota(200 * GB), [hk])


def test_oversubscription_still_checks_coverage(family: Family, hk: Plan) -> None:
    family.set_oversubscription(True, [hk])
    refused(
        family, AllocationRejected, family.set_allocation, family.owner_id, quota(1, EUROPE), [hk]
    )


def test_unlimited_pools_are_never_oversubscribed(family: Family, hk: Plan) -> None:
    a = add_adult(family, hk, "A")
    huge = 10**15
    family.set_allocation(a.id, quota(huge, resource=VOICE), [hk])
    family.set_allocation(family.owner_id, quota(huge, resource=VOICE), [hk])
    assert hk.allowance(VOICE, HOME) is None


def test_hard_cap_above_the_pool_is_not_oversubscription(family: Family, hk: Plan) -> None:
    a = add_adult(family, hk, "A")
    family.set_allocation(a.id, Allocation(limits={(DATA, HOME): Limit(hard_cap=500 * GB)}), [hk])
    family.set_allocation(
        family.owner_id, Allocation(limits={(DATA, HOME): Limit(hard_cap=500 * GB)}), [hk]
    )


def test_hard_cap_below_quota_is_refused_at_limit_construction() -> None:
    with pytest.raises(InvalidAmount, match="below the quota"):
        Allocation(limits={(DATA, HOME): Limit(quota=2 * GB, hard_cap=GB)})


def test_hotspot_above_the_plans_sub_quota_is_rejected(family: Family, hk: Plan) -> None:
    assert hk.hotspot.sub_quota == 20 * GB
    family.set_allocation(family.owner_id, Allocation(hotspot_quota=20 * GB), [hk])
    refused(
        family,
        AllocationRejected,
        family.set_allocation,
        family.owner_id,
        Allocation(hotspot_quota=20 * GB + 1),
        [hk],
    )


def test_hotspot_on_a_plan_without_hotspot(hk: Plan) -> None:
    plan = dataclasses.replace(hk, code="no-hotspot", hotspot=HotspotRule(allowed=False))
    family = Family.create(name="F", plan=plan, owner_name="O", today=TODAY)
    family.set_allocation(family.owner_id, Allocation(hotspot_quota=0), [plan])
    refused(
        family,
        AllocationRejected,
        family.set_allocation,
        family.owner_id,
        Allocation(hotspot_quota=1),
        [plan],
    )


def test_money_cap_in_a_wrong_currency_is_refused(family: Family, hk: Plan) -> None:
    refused(
        family,
        InvalidAmount,
        family.set_allocation,
        family.owner_id,
        Allocation(money_cap=Money(100, "USD")),
        [hk],
    )


def test_removed_members_quotas_no_longer_count(family: Family, hk: Plan) -> None:
    a = add_adult(family, hk, "A")
    family.set_allocation(a.id, quota(70 * GB), [hk])
    refused(family, Oversubscribed, family.set_allocation, family.owner_id, quota(40 * GB), [hk])
    family.remove_member(a.id, LATER)
    family.set_allocation(family.owner_id, quota(100 * GB), [hk])
    assert family.allocation(a.id).limit(DATA, HOME).quota == 70 * GB  # kept, not counted


def test_allocation_of_a_removed_member_is_refused(family: Family, hk: Plan) -> None:
    a = add_adult(family, hk, "A")
    family.remove_member(a.id, LATER)
    refused(family, RuleViolation, family.set_allocation, a.id, quota(GB), [hk])


def test_allocation_is_checked_against_every_plan_passed(
    family: Family, hk: Plan, lite: Plan
) -> None:
    family.schedule_plan_change(hk, lite)
    plans = [hk, lite]
    family.set_allocation(family.owner_id, quota(40 * GB), plans)
    # fits HK (100 GB) but not the lite plan (40 GB)
    refused(family, Oversubscribed, family.set_allocation, family.owner_id, quota(41 * GB), plans)
    # covered by HK, not by the lite plan
    refused(family, AllocationRejected, family.set_allocation, family.owner_id, quota(1, GC), plans)
    family.set_allocation(family.owner_id, quota(41 * GB), [hk])  # one plan: fine


def test_set_oversubscription_false_refused_while_oversubscribed(family: Family, hk: Plan) -> None:
    a = add_adult(family, hk, "A")
    family.set_oversubscription(True, [hk])
    family.set_allocation(a.id, quota(60 * GB), [hk])
    family.set_allocation(family.owner_id, quota(60 * GB), [hk])
    refused(family, Oversubscribed, family.set_oversubscription, False, [hk])
    assert family.oversubscription_allowed
    family.set_allocation(a.id, quota(40 * GB), [hk])
    family.set_oversubscription(False, [hk])
    assert not family.oversubscription_allowed


def test_set_oversubscription_false_checks_the_pending_plan(
    family: Family, hk: Plan, lite: Plan
) -> None:
    family.schedule_plan_change(hk, lite)
    family.set_oversubscription(True, [hk, lite])
    family.set_allocation(family.owner_id, quota(50 * GB), [hk, lite])
    refused(family, Oversubscribed, family.set_oversubscription, False, [hk, lite])


def test_family_money_cap(family: Family, hk: Plan) -> None:
    family.set_money_cap(hkd("100.00"), hk)
    assert family.money_cap == hkd("100.00")
    refused(family, InvalidAmount, family.set_money_cap, Money(1, "USD"), hk)
    refused(family, InvalidAmount, family.set_money_cap, hkd("-1.00"), hk)
    family.set_money_cap(None, hk)
    assert family.money_cap is None


# --- plan changes and cycles ---------------------------------------------------------


def test_schedule_plan_change(family: Family, hk: Plan, lite: Plan) -> None:
    family.schedule_plan_change(hk, lite)
    assert family.pending_plan_code == lite.code
    assert family.plan_code == hk.code
    assert family.cycle.plan_code == hk.code


def test_plan_change_to_another_currency_is_refused(family: Family, hk: Plan, ru: Plan) -> None:
    refused(family, RuleViolation, family.schedule_plan_change, hk, ru)


def test_plan_change_needs_the_current_plan(family: Family, lite: Plan) -> None:
    refused(family, RuleViolation, family.schedule_plan_change, lite, lite)


def test_plan_change_with_too_many_members_is_refused(family: Family, hk: Plan, lite: Plan) -> None:
    for i in range(lite.max_members):
        add_adult(family, hk, f"A{i}")
    refused(family, PlanLimitExceeded, family.schedule_plan_change, hk, lite)


def test_plan_change_with_too_many_lines_is_refused(family: Family, hk: Plan, lite: Plan) -> None:
    for n in range(lite.max_lines + 1):
        add_line(family, hk, family.owner_id, n)
    refused(family, PlanLimitExceeded, family.schedule_plan_change, hk, lite)


def test_plan_change_that_would_oversubscribe_is_refused(
    family: Family, hk: Plan, lite: Plan
) -> None:
    family.set_allocation(family.owner_id, quota(41 * GB), [hk])
    refused(family, Oversubscribed, family.schedule_plan_change, hk, lite)


def test_plan_change_that_drops_a_limited_zone_is_refused(
    family: Family, hk: Plan, lite: Plan
) -> None:
    family.set_allocation(family.owner_id, quota(GB, GC), [hk])
    refused(family, AllocationRejected, family.schedule_plan_change, hk, lite)


def test_plan_change_with_oversubscription_allowed_skips_the_sum(
    family: Family, hk: Plan, lite: Plan
) -> None:
    family.set_oversubscription(True, [hk])
    family.set_allocation(family.owner_id, quota(90 * GB), [hk])
    family.schedule_plan_change(hk, lite)
    assert family.pending_plan_code == lite.code


def test_same_plan_clears_the_pending_change(family: Family, hk: Plan, lite: Plan) -> None:
    family.schedule_plan_change(hk, lite)
    family.schedule_plan_change(hk, hk)
    assert family.pending_plan_code is None
    assert family.plan_code == hk.code


def test_start_next_cycle_applies_the_pending_plan(family: Family, hk: Plan, lite: Plan) -> None:
    old_end = family.cycle.end
    family.schedule_plan_change(hk, lite)
    cycle = family.start_next_cycle(lite)
    assert family.cycle is cycle
    assert cycle.number == 2
    assert cycle.start == old_end == date(2026, 2, 15)
    assert cycle.end == date(2026, 3, 15)
    assert cycle.plan_code == lite.code
    assert family.plan_code == lite.code
    assert family.pending_plan_code is None
    assert set(cycle.pools) == set(lite.allowances) | set(lite.overage)
    assert cycle.pools[(DATA, HOME)] == Pool(DATA, HOME, 40 * GB)
    assert (DATA, GC) not in cycle.pools


def test_start_next_cycle_without_change(hk: Plan) -> None:
    family = Family.create(name="F", plan=hk, owner_name="O", today=date(2026, 1, 31))
    first = family.start_next_cycle(hk)
    second = family.start_next_cycle(hk)
    assert (first.number, first.start, first.end) == (2, date(2026, 2, 28), date(2026, 3, 28))
    assert (second.number, second.start, second.end) == (3, date(2026, 3, 28), date(2026, 4, 28))
    assert family.plan_code == hk.code


def test_start_next_cycle_on_the_wrong_plan_is_refused(
    family: Family, hk: Plan, lite: Plan
) -> None:
    refused(family, RuleViolation, family.start_next_cycle, lite)
    family.schedule_plan_change(hk, lite)
    refused(family, RuleViolation, family.start_next_cycle, hk)


def test_after_the_change_the_new_plan_is_in_force(family: Family, hk: Plan, lite: Plan) -> None:
    family.schedule_plan_change(hk, lite)
    family.start_next_cycle(lite)
    add_adult(family, lite, "A")
    add_adult(family, lite, "B")
    refused(family, PlanLimitExceeded, add_adult, family, lite, "C")
    refused(family, RuleViolation, add_adult, family, hk, "C")


@pytest.mark.parametrize("what", ["members", "lines"])
def test_pending_plan_limits_hold_after_the_cycle_change(
    family: Family, hk: Plan, lite: Plan, what: str
) -> None:
    family.schedule_plan_change(hk, lite)
    for i in range(hk.max_members if what == "members" else hk.max_lines):
        with contextlib.suppress(PlanLimitExceeded):
            if what == "members":
                add_adult(family, hk, f"A{i}", next_plan=lite)
            else:
                add_line(family, hk, family.owner_id, i, next_plan=lite)
    with contextlib.suppress(RuleViolation):
        family.start_next_cycle(lite)
    if family.plan_code == lite.code:
        assert len(family.active_members) <= lite.max_members
        assert len(family.counted_lines) <= lite.max_lines


# --- child safety: always-allowed numbers, quiet hours, time zone --------------------


def test_allocation_normalises_always_allowed_numbers() -> None:
    allocation = Allocation(always_allowed=frozenset({"+852 9123 0001", "999", "(1-1-2)"}))
    assert allocation.always_allowed == {"+85291230001", "999", "112"}
    assert allocation == Allocation(always_allowed=frozenset({"+85291230001", "999", "112"}))


def test_allocation_refuses_bad_or_too_many_numbers() -> None:
    with pytest.raises(InvalidInput, match="'call mum'"):
        Allocation(always_allowed=frozenset({"call mum"}))
    many = frozenset(f"+8529123{n:04d}" for n in range(21))
    with pytest.raises(InvalidInput, match="at most 20 always-allowed"):
        Allocation(always_allowed=many)
    Allocation(always_allowed=frozenset(list(many)[:20]))


def test_allocation_quiet_hours_are_windows_at_most_ten() -> None:
    school = QuietHours.parse("Mon-Fri 08:30-15:30")
    night = QuietHours.parse("daily 22:00-07:00")
    assert Allocation(quiet_hours=(school, night, school)).quiet_hours == (school, night)
    with pytest.raises(InvalidInput, match="not a QuietHours"):
        Allocation(quiet_hours=("Mon-Fri 08:30-15:30",))  # type: ignore[arg-type]
    windows = tuple(QuietHours.parse(f"Mon {h:02d}:00-{h:02d}:30") for h in range(11))
    with pytest.raises(InvalidInput, match="at most 10 quiet-hours"):
        Allocation(quiet_hours=windows)


def test_with_always_allowed_adds_and_removes_in_any_spelling() -> None:
    allocation = Allocation(always_allowed=frozenset({"+85291230001"}))
    changed = allocation.with_always_allowed(
        add=["+852 6123 0002", "112"], remove=["(+852) 9123 0001"]
    )
    assert changed.always_allowed == {"+85261230002", "112"}
    changed = allocation.with_always_allowed(remove=["+852 9123-0001"])
    assert changed.always_allowed == frozenset()
    with pytest.raises(InvalidInput, match=r"\+85261230002 is not one of"):
        allocation.with_always_allowed(remove=["+85261230002"])


def test_always_allowed_of_a_child_includes_the_guardians_active_lines(
    family: Family, hk: Plan
) -> None:
    spouse = add_adult(family, hk, "Wong Mei Ling")
    child = add_child(family, hk, "Chan Ka Yan", spouse.id)
    first = add_line(family, hk, spouse.id, 1)
    add_line(family, hk, spouse.id, 2, data_only=True)
    add_line(family, hk, family.owner_id, 3)  # not the child's guardian
    add_line(family, hk, child.id, 4)
    family.set_allocation(child.id, Allocation(always_allowed=frozenset({"+85261230009"})), [hk])

    numbers = family.always_allowed(child.id, hk)
    assert numbers == {"+85261230009", "999", "112", msisdn(1).e164, msisdn(2).e164}

    family.suspend_line(first.id, "lost")
    assert msisdn(1).e164 not in family.always_allowed(child.id, hk)
    family.resume_line(first.id)
    assert msisdn(1).e164 in family.always_allowed(child.id, hk)

    # A new guardian counts at once; the old one's numbers no longer do.
    family.assign_guardian(child.id, family.owner_id)
    assert family.always_allowed(child.id, hk) == {"+85261230009", "999", "112", msisdn(3).e164}


def test_removed_guardian_lines_are_not_always_allowed(family: Family, hk: Plan) -> None:
    spouse = add_adult(family, hk, "Wong Mei Ling")
    child = add_child(family, hk, "Chan Ka Yan", spouse.id)
    add_line(family, hk, spouse.id, 1)
    family.assign_guardian(child.id, family.owner_id)
    family.remove_member(spouse.id, LATER)  # suspends the line: "member removed"
    assert family.always_allowed(child.id, hk) == {"999", "112"}
    # Even if the record still named the removed member, the lines would not count.
    family.members[child.id].guardian_id = spouse.id
    assert family.always_allowed(child.id, hk) == {"999", "112"}


def test_always_allowed_of_an_adult_is_their_list_and_emergency_numbers(
    family: Family, hk: Plan, ru: Plan
) -> None:
    adult = add_adult(family, hk, "Wong Mei Ling")
    add_line(family, hk, family.owner_id, 1)
    assert family.always_allowed(adult.id, hk) == {"999", "112"}
    assert family.always_allowed(family.owner_id, ru) == {"112", "101", "102", "103", "104"}
    with pytest.raises(MemberNotFound):
        family.always_allowed("nobody", hk)


def test_family_time_zone_defaults_to_the_plan_and_can_change(hk: Plan) -> None:
    family = Family.create(name="Chan", plan=hk, owner_name="Chan", today=TODAY)
    assert family.time_zone == "Asia/Hong_Kong"
    family.set_time_zone("Europe/London")
    assert family.time_zone == "Europe/London"
    refused(family, InvalidInput, family.set_time_zone, "Europe/Londn")
    other = Family.create(
        name="Chan", plan=hk, owner_name="Chan", today=TODAY, time_zone="Asia/Macau"
    )
    assert other.time_zone == "Asia/Macau"
    with pytest.raises(InvalidInput, match="unknown time zone"):
        Family.create(name="Chan", plan=hk, owner_name="Chan", today=TODAY, time_zone="HKT")
