"""A Hypothesis state machine over the Family aggregate on the sample Hong Kong plan.

Every rule calls one domain method with generated arguments. A refusal is fine as long as
it is a :class:`FamsimError` and leaves the family exactly as it was; any other exception
fails the test. After every step the family's invariants must hold.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from famsim.adapters.catalog import load_catalog, sample_catalog_path
from famsim.domain.allocation import Allocation, Limit
from famsim.domain.errors import FamsimError, InvalidIdentifier
from famsim.domain.family import Family
from famsim.domain.identifiers import Eid, Iccid, Imsi, Msisdn
from famsim.domain.ids import SubscriptionId, new_id
from famsim.domain.lines import Line, SimType, Subscription
from famsim.domain.members import Member, Role
from famsim.domain.money import Money
from famsim.domain.plan import DeviceKind, Plan
from famsim.domain.units import HOME, Resource, Zone

pytestmark = pytest.mark.unit

T = TypeVar("T")

GB = 10**9
DATA, VOICE, SMS = Resource.DATA, Resource.VOICE, Resource.SMS

HK_PLAN = next(p for p in load_catalog(sample_catalog_path()) if p.code == "hk-family-5g-100")
LITE_PLAN = dataclasses.replace(
    HK_PLAN,
    code="hk-family-lite",
    name="Family Share Lite",
    max_members=3,
    max_lines=5,
    allowances={**HK_PLAN.allowances, (DATA, HOME): 40 * GB, (SMS, HOME): 200},
)
PLANS: dict[str, Plan] = {plan.code: plan for plan in (HK_PLAN, LITE_PLAN)}

# Every (resource, zone) of the plan, plus one it does not cover.
LIMIT_KEYS: list[tuple[Resource, Zone]] = [*HK_PLAN.allowances, (DATA, Zone("europe"))]
AMOUNT_RANGE = {DATA: 150 * GB, VOICE: 40_000, SMS: 1_000}


# --- generated identifiers -----------------------------------------------------------


def _hk_mobile(n: int) -> str:
    return f"+8529{1_230_000 + n:07d}"


def _valid_msisdn(text: str) -> bool:
    try:
        Msisdn.parse(text)
    except InvalidIdentifier:
        return False
    return True


# Small ranges keep the draws cheap and make identifiers collide now and then, as they should.
msisdns = st.integers(0, 9_999).map(_hk_mobile).filter(_valid_msisdn).map(Msisdn.parse)
iccids = st.integers(0, 9_999).map(lambda n: Iccid.from_body(f"8985200001{n:08d}"))
imsis = st.integers(0, 9_999).map(lambda n: Imsi.parse(f"45400{n:010d}"))
eids = st.integers(0, 9_999).map(lambda n: Eid.from_body(f"8904903200001000000000{n:08d}"))
names = st.sampled_from(["Ann", "Bo", "Chi", "Dee", "ann", "Eve", "Fai", "Chan Tai Man"])
picks = st.integers(0, 30)
reasons = st.sampled_from(["lost phone", "travel", "  unpaid  bill ", "x"])


@st.composite
def limits(draw: st.DrawFn) -> dict[tuple[Resource, Zone], Limit] | None:
    """A member's limits; None when the drawn numbers cannot make a Limit (cap < quota)."""
    keys = draw(st.lists(st.sampled_from(LIMIT_KEYS), max_size=3, unique=True))
    result: dict[tuple[Resource, Zone], Limit] = {}
    for key in keys:
        top = AMOUNT_RANGE[key[0]]
        quota = draw(st.none() | st.integers(0, top))
        cap = draw(st.none() | st.integers(0, 2 * top))
        if quota is not None and cap is not None and cap < quota:
            return None  # Limit would refuse it: tested in the unit tests
        result[key] = Limit(quota=quota, hard_cap=cap)
    return result


class FamilyMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.today = date(2026, 1, 31)
        self.family = Family.create(
            name="Chan family", plan=HK_PLAN, owner_name="Chan Tai Man", today=self.today
        )

    # ------------------------------------------------------------------ helpers
    @property
    def plan(self) -> Plan:
        return PLANS[self.family.plan_code]

    @property
    def next_plan(self) -> Plan | None:
        pending = self.family.pending_plan_code
        return PLANS[pending] if pending else None

    @property
    def plans_in_force(self) -> list[Plan]:
        pending = self.family.pending_plan_code
        return [self.plan] + ([PLANS[pending]] if pending else [])

    def _member(self, pick: int) -> Member:
        members = list(self.family.members.values())
        return members[pick % len(members)]

    def _line(self, pick: int) -> Line | None:
        lines = list(self.family.lines.values())
        return lines[pick % len(lines)] if lines else None

    def attempt(self, action: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """Call a domain method; a FamsimError is a refusal that must change nothing."""
        before = copy.deepcopy(vars(self.family))
        try:
            return action(*args, **kwargs)
        except FamsimError:
            assert vars(self.family) == before, f"refused {action.__name__} changed the family"
            return None

    # -------------------------------------------------------------------- rules
    @rule(name=names)
    def add_adult(self, name: str) -> None:
        member = self.attempt(
            self.family.add_member,
            self.plan,
            name=name,
            role=Role.ADULT,
            today=self.today,
            next_plan=self.next_plan,
        )
        if member is not None:
            assert member.role is Role.ADULT
            assert self.family.allocation(member.id) == Allocation()

    @rule(name=names, guardian=picks, by_name=st.booleans())
    def add_child(self, name: str, guardian: int, by_name: bool) -> None:
        chosen = self._member(guardian)
        member = self.attempt(
            self.family.add_member,
            self.plan,
            name=name,
            role=Role.CHILD,
            today=self.today,
            guardian_id=chosen.name if by_name else chosen.id,
            next_plan=self.next_plan,
        )
        if member is not None:
            assert member.guardian_id is not None
            allocation = self.family.allocation(member.id)
            assert not allocation.roaming_allowed
            assert allocation.money_cap == Money.zero(self.family.currency)

    @rule(pick=picks)
    def remove_member(self, pick: int) -> None:
        member = self._member(pick)
        suspended = self.attempt(self.family.remove_member, member.id, self.today)
        if suspended is not None:
            assert not member.is_active
            assert all(line.member_id == member.id for line in suspended)

    @rule(child=picks, guardian=picks)
    def assign_guardian(self, child: int, guardian: int) -> None:
        self.attempt(self.family.assign_guardian, self._member(child).id, self._member(guardian).id)

    @rule(
        pick=picks,
        msisdn=msisdns,
        iccid=iccids,
        imsi=imsis,
        esim=st.booleans(),
        eid=st.none() | eids,
        device=st.sampled_from(DeviceKind),
        data_only=st.booleans(),
    )
    def add_line(
        self,
        pick: int,
        msisdn: Msisdn,
        iccid: Iccid,
        imsi: Imsi,
        esim: bool,
        eid: Eid | None,
        device: DeviceKind,
        data_only: bool,
    ) -> None:
        primary = self.attempt(self._subscription, iccid, imsi, esim, eid, device, primary=True)
        if primary is None:
            return
        line = self.attempt(
            self.family.add_line,
            self.plan,
            member_id=self._member(pick).id,
            msisdn=msisdn,
            primary=primary,
            data_only=data_only,
            next_plan=self.next_plan,
        )
        if line is not None:
            assert line.primary is primary
            assert line.is_active

    @rule(msisdn=msisdns, iccid=iccids, imsi=imsis, data_only=st.booleans())
    def add_owner_phone_line(
        self, msisdn: Msisdn, iccid: Iccid, imsi: Imsi, data_only: bool
    ) -> None:
        """A plain eSIM phone line for the owner: usually accepted, so lines pile up."""
        self.add_line(0, msisdn, iccid, imsi, True, None, DeviceKind.PHONE, data_only)

    @rule(
        pick=picks,
        iccid=iccids,
        imsi=imsis,
        esim=st.booleans(),
        eid=st.none() | eids,
        device=st.sampled_from(DeviceKind),
        primary=st.booleans(),
    )
    def add_companion(
        self,
        pick: int,
        iccid: Iccid,
        imsi: Imsi,
        esim: bool,
        eid: Eid | None,
        device: DeviceKind,
        primary: bool,
    ) -> None:
        line = self._line(pick)
        if line is None:
            return
        companion = self.attempt(
            self._subscription, iccid, imsi, esim, eid, device, primary=primary
        )
        if companion is None:
            return
        added = self.attempt(self.family.add_companion, line.id, companion)
        if added is not None:
            assert device is not DeviceKind.PHONE
            assert not primary

    @staticmethod
    def _subscription(
        iccid: Iccid, imsi: Imsi, esim: bool, eid: Eid | None, device: DeviceKind, *, primary: bool
    ) -> Subscription:
        return Subscription(
            id=SubscriptionId(new_id()),
            iccid=iccid,
            imsi=imsi,
            sim_type=SimType.ESIM if esim else SimType.PHYSICAL,
            device_kind=device,
            primary=primary,
            eid=eid,
        )

    @rule(pick=picks, reason=reasons)
    def suspend_line(self, pick: int, reason: str) -> None:
        line = self._line(pick)
        if line is not None and self.attempt(self.family.suspend_line, line.id, reason):
            assert not line.is_active
            assert line.suspended_reason

    @rule(pick=picks)
    def resume_line(self, pick: int) -> None:
        line = self._line(pick)
        if line is not None and self.attempt(self.family.resume_line, line.id):
            assert line.is_active
            assert self.family.members[line.member_id].is_active

    @rule(
        pick=picks,
        drawn=limits(),
        hotspot=st.none() | st.integers(0, 25 * GB),
        money_cap=st.none()
        | st.builds(Money, st.integers(0, 100_000), st.sampled_from(["HKD", "HKD", "USD"])),
        roaming=st.booleans(),
    )
    def set_allocation(
        self,
        pick: int,
        drawn: dict[tuple[Resource, Zone], Limit] | None,
        hotspot: int | None,
        money_cap: Money | None,
        roaming: bool,
    ) -> None:
        if drawn is None:
            return
        allocation = Allocation(
            limits=drawn, hotspot_quota=hotspot, money_cap=money_cap, roaming_allowed=roaming
        )
        member = self._member(pick)
        if self.attempt(self.family.set_allocation, member.id, allocation, self.plans_in_force):
            assert self.family.allocation(member.id) is allocation

    @rule()
    def toggle_oversubscription(self) -> None:
        wanted = not self.family.oversubscription_allowed
        self.attempt(self.family.set_oversubscription, wanted, self.plans_in_force)

    @rule(code=st.sampled_from(sorted(PLANS)))
    def schedule_plan_change(self, code: str) -> None:
        current = self.family.plan_code
        self.attempt(self.family.schedule_plan_change, self.plan, PLANS[code])
        assert self.family.plan_code == current

    @rule(right_plan=st.booleans())
    def start_next_cycle(self, right_plan: bool) -> None:
        expected = self.family.pending_plan_code or self.family.plan_code
        code = expected if right_plan else sorted(set(PLANS) - {expected})[0]
        old = self.family.cycle
        cycle = self.attempt(self.family.start_next_cycle, PLANS[code])
        if cycle is None:
            assert code != expected
            return
        assert cycle.number == old.number + 1
        assert cycle.start == old.end
        assert cycle.end > cycle.start
        assert self.family.plan_code == expected
        assert self.family.pending_plan_code is None
        assert set(cycle.pools) == set(PLANS[code].allowances) | set(PLANS[code].overage)
        self.today = cycle.start

    # --------------------------------------------------------------- invariants
    @invariant()
    def one_active_owner(self) -> None:
        owners = [m for m in self.family.members.values() if m.role is Role.OWNER]
        assert len(owners) == 1
        assert owners[0].id == self.family.owner_id
        assert owners[0].is_active

    @invariant()
    def active_children_have_active_adult_guardians(self) -> None:
        for member in self.family.members.values():
            if member.role is not Role.CHILD:
                assert member.guardian_id is None
            elif member.is_active:
                assert member.guardian_id in self.family.members
                guardian = self.family.members[member.guardian_id]
                assert guardian.is_active
                assert guardian.role in (Role.OWNER, Role.ADULT)

    @invariant()
    def plan_limits_hold(self) -> None:
        plan = self.plan
        assert self.family.cycle.plan_code == plan.code
        assert self.family.pending_plan_code != plan.code
        assert len(self.family.active_members) <= plan.max_members
        assert len(self.family.counted_lines) <= plan.max_lines

    @invariant()
    def quotas_fit_the_pools(self) -> None:
        if self.family.oversubscription_allowed:
            return
        for plan in self.plans_in_force:
            promised: dict[tuple[Resource, Zone], int] = {}
            for member in self.family.active_members:
                for key, limit in self.family.allocation(member.id).limits.items():
                    promised[key] = promised.get(key, 0) + (limit.quota or 0)
            for (resource, zone), total in promised.items():
                allowance = plan.allowance(resource, zone)
                assert allowance is None or total <= allowance, (plan.code, resource, zone)

    @invariant()
    def lines_are_well_formed(self) -> None:
        for line in self.family.lines.values():
            assert sum(s.primary for s in line.subscriptions) == 1
            assert line.member_id in self.family.members
            if line.is_active:
                assert line.suspended_reason is None
            else:
                assert line.suspended_reason

    @invariant()
    def identifiers_are_unique(self) -> None:
        numbers = [line.msisdn for line in self.family.lines.values()]
        subscriptions = self.family.subscriptions()
        assert len(numbers) == len(set(numbers))
        assert len(subscriptions) == len({s.iccid for s in subscriptions})
        assert len(subscriptions) == len({s.imsi for s in subscriptions})
        assert all(s.eid is None for s in subscriptions if s.sim_type is SimType.PHYSICAL)

    @invariant()
    def removed_members_lines_are_suspended(self) -> None:
        for line in self.family.lines.values():
            if not self.family.members[line.member_id].is_active:
                assert not line.is_active


FamilyMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=30, deadline=None)
TestFamilyRules = FamilyMachine.TestCase
