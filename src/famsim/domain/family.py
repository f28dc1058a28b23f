"""The family aggregate: the consistency boundary for members, lines, allocations and pools.

Every rule that spans several members lives here: one owner, plan limits on members and
lines, a guardian for every child, and allocations that never promise more than the pool.
Methods that need the plan take it as an argument; the family stores only the plan code,
so the catalog stays the single source of plan facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from famsim.domain.allocation import Allocation
from famsim.domain.cycle import Cycle, cycle_day_for
from famsim.domain.errors import InvalidAmount, NotFound, RuleViolation
from famsim.domain.esim.provisioning import next_state, reached_device
from famsim.domain.identifiers import Iccid, Imsi, Msisdn
from famsim.domain.ids import FamilyId, LineId, MemberId, new_id
from famsim.domain.lines import Line, LineStatus, Subscription, SubscriptionState
from famsim.domain.members import Member, MemberStatus, Role, clean_name
from famsim.domain.money import Money
from famsim.domain.plan import DeviceKind, Plan
from famsim.domain.safety import check_time_zone, zone_info
from famsim.domain.units import Resource, Zone, format_amount

MEMBER_REMOVED = "member removed"


class PlanLimitExceeded(RuleViolation):
    """The plan allows no more members or lines."""


class GuardianRequired(RuleViolation):
    """A child needs an active adult of the family as guardian."""


class OwnerRule(RuleViolation):
    """A family has exactly one owner, who cannot be removed or duplicated."""


class Oversubscribed(RuleViolation):
    """Allocations would promise more than the pool holds."""


class AllocationRejected(RuleViolation):
    """An allocation asks for something the plan does not offer."""


class IdentifierInUse(RuleViolation):
    """An MSISDN, ICCID or IMSI is already used in the family."""


class MemberNotFound(NotFound):
    pass


class LineNotFound(NotFound):
    pass


class SubscriptionNotFound(NotFound):
    pass


@dataclass(frozen=True, slots=True)
class Progress:
    """What one reported step did to a subscription, and what followed from it.

    ``after`` is None when the step was a repeat or stale. ``retired`` is the old device's
    subscription a completed device change deleted; ``kept`` the one a failed change left
    in service; ``closed_line`` a new line whose first device never arrived.
    """

    subscription: Subscription
    before: SubscriptionState
    after: SubscriptionState | None
    retired: Subscription | None = None
    kept: Subscription | None = None
    closed_line: Line | None = None


@dataclass(eq=False)
class Family:
    """A family on a plan. Build new ones with :meth:`create`; the constructor restores.

    ``time_zone`` (IANA) is where the family lives: members' quiet hours are wall-clock
    times there, and the days its SIMs enter and leave service are its local dates.
    """

    id: FamilyId
    name: str
    plan_code: str
    currency: str
    owner_id: MemberId
    created_on: date
    cycle_day: int
    cycle: Cycle
    members: dict[MemberId, Member] = field(default_factory=dict)
    lines: dict[LineId, Line] = field(default_factory=dict)
    allocations: dict[MemberId, Allocation] = field(default_factory=dict)
    money_cap: Money | None = None
    oversubscription_allowed: bool = False
    pending_plan_code: str | None = None
    time_zone: str = "UTC"
    version: int = 0

    def __post_init__(self) -> None:
        check_time_zone(self.time_zone)

    # ----------------------------------------------------------------- creation
    @classmethod
    def create(
        cls,
        *,
        name: str,
        plan: Plan,
        owner_name: str,
        today: date,
        money_cap: Money | None = None,
        oversubscription_allowed: bool = False,
        time_zone: str | None = None,
    ) -> Family:
        """Open a family on ``plan`` with its owner as the first member.

        ``time_zone`` defaults to the plan's: most families live in the operator's market.
        """
        owner = Member(MemberId(new_id()), clean_name(owner_name, "owner name"), Role.OWNER, today)
        if money_cap is not None:
            _check_money(money_cap, plan, "family money cap")
        cycle_day = cycle_day_for(today)
        return cls(
            id=FamilyId(new_id()),
            name=clean_name(name, "family name"),
            plan_code=plan.code,
            currency=plan.currency,
            owner_id=owner.id,
            created_on=today,
            cycle_day=cycle_day,
            cycle=Cycle.open(1, today, cycle_day, plan),
            members={owner.id: owner},
            allocations={owner.id: Allocation()},
            money_cap=money_cap,
            oversubscription_allowed=oversubscription_allowed,
            time_zone=plan.time_zone if time_zone is None else time_zone,
        )

    # ------------------------------------------------------------------ queries
    @property
    def owner(self) -> Member:
        return self.members[self.owner_id]

    def local_date(self, at: datetime) -> date:
        """The family's calendar day at the instant *at* (a naive time is taken as is)."""
        if at.tzinfo is None:
            return at.date()
        return at.astimezone(zone_info(self.time_zone)).date()

    @property
    def active_members(self) -> list[Member]:
        return [m for m in self.members.values() if m.is_active]

    def member(self, ref: MemberId | str) -> Member:
        """A member by id or, for people typing commands, by name (case-insensitive)."""
        if ref in self.members:
            return self.members[MemberId(ref)]
        wanted = " ".join(ref.split()).casefold()
        named = [m for m in self.members.values() if m.name.casefold() == wanted]
        active = [m for m in named if m.is_active] or named
        if len(active) == 1:
            return active[0]
        if len(active) > 1:
            raise RuleViolation(f"several members are called {ref!r}: use the member id")
        raise MemberNotFound(f"no member {ref!r} in family {self.name!r}")

    def active_member(self, member_id: MemberId | str) -> Member:
        member = self.member(member_id)
        if not member.is_active:
            raise RuleViolation(f"member {member.name!r} has been removed from the family")
        return member

    def line(self, line_id: LineId | str) -> Line:
        try:
            return self.lines[LineId(line_id)]
        except KeyError:
            raise LineNotFound(f"no line {line_id!r} in family {self.name!r}") from None

    def line_by_msisdn(self, msisdn: Msisdn) -> Line:
        """The open line with this number (a closed line's number may come back later)."""
        for line in self.lines.values():
            if line.msisdn == msisdn and not line.is_closed:
                return line
        raise LineNotFound(f"no line with number {msisdn.display} in family {self.name!r}")

    def lines_of(self, member_id: MemberId) -> list[Line]:
        return [line for line in self.lines.values() if line.member_id == member_id]

    @property
    def counted_lines(self) -> list[Line]:
        """Lines that count against the plan's line limit: open lines of active members."""
        return [
            line
            for line in self.lines.values()
            if self.members[line.member_id].is_active and not line.is_closed
        ]

    def allocation(self, member_id: MemberId) -> Allocation:
        found = self.allocations.get(member_id)
        return _NO_ALLOCATION if found is None else found

    def always_allowed(self, member_id: MemberId | str, plan: Plan) -> frozenset[str]:
        """Every number ``member_id`` may always call or message, free of charge.

        The owner's list in the member's allocation, the plan's emergency numbers and,
        for a child, the numbers of every active line of the child's guardian. Guardians'
        numbers are derived, not stored, so a new or suspended guardian line, or a new
        guardian, counts at once. ``plan`` is the plan in force (it holds the emergency
        numbers). Canonical strings, as :func:`famsim.domain.safety.screen` expects.
        """
        member = self.member(member_id)
        numbers = set(self.allocation(member.id).always_allowed) | plan.emergency_numbers
        for guardian_id in self._guardians_of(member):
            numbers.update(
                line.msisdn.e164 for line in self.lines_of(guardian_id) if line.is_active
            )
        return frozenset(numbers)

    def _guardians_of(self, member: Member) -> list[MemberId]:
        """The active guardians of ``member`` (one today; a list so a second can come)."""
        if member.guardian_id is None:
            return []
        guardian = self.members.get(member.guardian_id)
        return [guardian.id] if guardian is not None and guardian.is_active else []

    # ------------------------------------------------------------------ members
    def add_member(
        self,
        plan: Plan,
        *,
        name: str,
        role: Role,
        today: date,
        guardian_id: str | None = None,
        next_plan: Plan | None = None,
    ) -> Member:
        """Add an adult or a child; a child must name an active adult of this family.

        ``next_plan`` is the plan scheduled for the next cycle, if any: the family must fit
        it too, or the cycle change would put the family on a plan it has outgrown.
        """
        if role is Role.OWNER:
            raise OwnerRule("a family has exactly one owner; add this person as an adult")
        for limits in self._plans_in_force(plan, next_plan):
            if len(self.active_members) >= limits.max_members:
                raise PlanLimitExceeded(
                    f"plan {limits.name!r} allows at most {limits.max_members} members"
                )
        cleaned = clean_name(name)
        if any(m.name.casefold() == cleaned.casefold() for m in self.active_members):
            raise RuleViolation(f"the family already has a member called {cleaned!r}")
        guardian: MemberId | None = None
        if role is Role.CHILD:
            guardian = self._guardian(guardian_id)
        elif guardian_id is not None:
            raise RuleViolation("only a child has a guardian")
        member = Member(MemberId(new_id()), cleaned, role, today, guardian_id=guardian)
        self.members[member.id] = member
        self.allocations[member.id] = (
            Allocation.default_for_child(self.currency) if role is Role.CHILD else Allocation()
        )
        return member

    def _guardian(self, guardian_id: str | None) -> MemberId:
        if guardian_id is None:
            raise GuardianRequired("a child needs a guardian: name an adult member of the family")
        try:
            guardian = self.member(guardian_id)
        except MemberNotFound:
            raise GuardianRequired(
                f"guardian {guardian_id!r} is not a member of this family"
            ) from None
        if not guardian.can_be_guardian:
            raise GuardianRequired(
                f"{guardian.name!r} cannot be a guardian: "
                "a guardian is an active adult or the owner"
            )
        return guardian.id

    def assign_guardian(self, child_id: str, guardian_id: str) -> None:
        child = self.active_member(child_id)
        if child.role is not Role.CHILD:
            raise RuleViolation(f"{child.name!r} is not a child and has no guardian")
        child.guardian_id = self._guardian(guardian_id)

    def remove_member(self, member_id: str, today: date) -> list[Line]:
        """Remove a member: their lines are suspended, their records stay for history."""
        member = self.active_member(member_id)
        if member.role is Role.OWNER:
            raise OwnerRule("the owner cannot be removed from the family")
        wards = [
            m.name for m in self.active_members if m.guardian_id == member.id and m is not member
        ]
        if wards:
            raise GuardianRequired(
                f"{member.name!r} is the guardian of {', '.join(wards)}: "
                "assign another guardian first"
            )
        member.status = MemberStatus.REMOVED
        member.removed_on = today
        suspended = []
        for line in self.lines_of(member.id):
            if line.is_active:
                line.status = LineStatus.SUSPENDED
                line.suspended_reason = MEMBER_REMOVED
                suspended.append(line)
        return suspended

    # -------------------------------------------------------------------- lines
    def add_line(
        self,
        plan: Plan,
        *,
        member_id: str,
        msisdn: Msisdn,
        primary: Subscription,
        data_only: bool,
        next_plan: Plan | None = None,
        today: date | None = None,
    ) -> Line:
        """Give a member a new number with its primary subscription (see add_member on
        ``next_plan``). A SIM already on its device (a physical card, a SIM added by hand)
        is in service from ``today``; an ordered eSIM from the day it is installed."""
        plans = self._plans_in_force(plan, next_plan)
        member = self.active_member(member_id)
        for limits in plans:
            if len(self.counted_lines) >= limits.max_lines:
                raise PlanLimitExceeded(
                    f"plan {limits.name!r} allows at most {limits.max_lines} lines"
                )
        if any(line.msisdn == msisdn and not line.is_closed for line in self.lines.values()):
            raise IdentifierInUse(f"number {msisdn.display} is already a line of this family")
        self._check_new_subscription(primary)
        if not primary.primary:
            raise RuleViolation("a new line needs a primary subscription")
        line = Line(LineId(new_id()), msisdn, member.id, data_only, subscriptions=[primary])
        self.lines[line.id] = line
        self._in_service_if_on_device(primary, today)
        return line

    def add_companion(
        self, line_id: str, companion: Subscription, today: date | None = None
    ) -> Subscription:
        """A watch or tablet joins a line: its own SIM identity, the line's number and quota
        (in service from ``today`` if already on its device, as in add_line)."""
        line = self._open_line(line_id)
        self.active_member(line.member_id)
        if companion.primary:
            raise RuleViolation("a line has exactly one primary subscription")
        if companion.device_kind is DeviceKind.PHONE:
            raise RuleViolation(
                "a companion is a watch, tablet or other device; a phone needs its own line"
            )
        self._check_new_subscription(companion)
        line.subscriptions.append(companion)
        self._in_service_if_on_device(companion, today)
        return companion

    def _in_service_if_on_device(self, sub: Subscription, today: date | None) -> None:
        """A new SIM that is already on its device is in service from ``today`` (without
        one, from the day of its last state change, if known)."""
        if not reached_device(sub.state):
            return
        if today is None and sub.state_changed_at is not None:
            today = self.local_date(sub.state_changed_at)
        if today is not None:
            sub.enter_service(today)

    def _check_new_subscription(self, sub: Subscription) -> None:
        for other in self.subscriptions():
            if other.iccid == sub.iccid:
                raise IdentifierInUse(f"ICCID {sub.iccid} is already in this family")
            if other.imsi == sub.imsi:
                raise IdentifierInUse(f"IMSI {sub.imsi} is already in this family")

    def subscriptions(self) -> list[Subscription]:
        return [s for line in self.lines.values() for s in line.subscriptions]

    def subscription_by_iccid(self, iccid: Iccid) -> Subscription | None:
        return next((s for s in self.subscriptions() if s.iccid == iccid), None)

    def subscription_by_imsi(self, imsi: Imsi) -> Subscription | None:
        return next((s for s in self.subscriptions() if s.imsi == imsi), None)

    def suspend_line(self, line_id: str, reason: str) -> Line:
        line = self._open_line(line_id)
        reason = clean_name(reason, "suspension reason")
        if not line.is_active:
            raise RuleViolation(f"line {line.msisdn.display} is already suspended")
        line.status = LineStatus.SUSPENDED
        line.suspended_reason = reason
        return line

    def resume_line(self, line_id: str) -> Line:
        line = self._open_line(line_id)
        if line.is_active:
            raise RuleViolation(f"line {line.msisdn.display} is not suspended")
        if not self.members[line.member_id].is_active:
            raise RuleViolation(
                f"line {line.msisdn.display} belongs to a removed member and cannot be resumed"
            )
        line.status = LineStatus.ACTIVE
        line.suspended_reason = None
        return line

    def _open_line(self, line_id: str) -> Line:
        line = self.line(line_id)
        if line.is_closed:
            raise RuleViolation(f"line {line.msisdn.display} is closed")
        return line

    def close_line(self, line_id: str, today: date, at: datetime) -> Line:
        """End a line for good: every device's subscription is deleted, the number is free
        to go back to the operator's pool (after its quarantine), the records stay.
        ``today`` is the line's last day: its SIMs are out of service from it."""
        line = self._open_line(line_id)
        for sub in line.live_subscriptions:
            _move(sub, SubscriptionState.DELETED, at, today)
        line.status = LineStatus.CLOSED
        line.closed_on = today
        return line

    # ------------------------------------------------------------- eSIM lifecycle
    def subscription(self, subscription_id: str) -> tuple[Line, Subscription]:
        for line in self.lines.values():
            for sub in line.subscriptions:
                if sub.id == subscription_id:
                    return line, sub
        raise SubscriptionNotFound(f"no subscription {subscription_id!r} in family {self.name!r}")

    def subscription_of_iccid(self, iccid: Iccid) -> tuple[Line, Subscription]:
        for line in self.lines.values():
            for sub in line.subscriptions:
                if sub.iccid == iccid:
                    return line, sub
        raise SubscriptionNotFound(f"no subscription with ICCID {iccid} in family {self.name!r}")

    def start_device_change(self, subscription_id: str, new: Subscription) -> Subscription:
        """Order the new device's SIM beside the old one, which keeps working meanwhile.

        The new subscription shares the line (number, allocation) and takes the old one's
        place only when it reports installed; until then the old one is untouched, so a
        failed, refused or expired download leaves the member exactly as before.
        """
        line, old = self.subscription(subscription_id)
        self._open_line(line.id)
        self.active_member(line.member_id)
        if old.state.is_pending:
            raise RuleViolation(
                f"the SIM {old.iccid} is not on a device yet: cancel its order instead"
            )
        if old.replaces is not None:
            raise RuleViolation(f"the SIM {old.iccid} is itself a pending device change")
        if any(s.replaces == old.id and s.state.is_live for s in line.subscriptions):
            raise RuleViolation(
                f"a device change for {old.iccid} is already under way: finish or cancel it"
            )
        if new.primary or new.replaces != old.id:
            raise RuleViolation("a device change's new SIM replaces the old one, not the line")
        self._check_new_subscription(new)
        line.subscriptions.append(new)
        return new

    def record_release(
        self,
        iccid: Iccid,
        *,
        matching_id: str,
        confirmation_code: str | None,
        expires_at: datetime,
        at: datetime,
    ) -> Subscription:
        """The SM-DP+ confirmed and released the order: the activation code can be used."""
        _, sub = self.subscription_of_iccid(iccid)
        if sub.state is not SubscriptionState.ORDERED:
            raise RuleViolation(f"the SIM {iccid} is {sub.state.value}, not newly ordered")
        sub.matching_id = matching_id
        sub.confirmation_code = confirmation_code
        sub.order_expires_at = expires_at
        _move(sub, SubscriptionState.RELEASED, at, self.local_date(at))
        return sub

    def report(self, iccid: Iccid, reported: SubscriptionState, at: datetime) -> Progress:
        """Apply a step reported for the SIM with *iccid* (see provisioning.next_state).

        A replacement that reaches the device retires the SIM it replaces and takes its
        place; one that fails, or is cancelled, before that leaves the old SIM in service;
        a new line whose first SIM fails is closed (its number was never reachable).

        A SIM enters service on the family's local day (of *at*) it is first installed
        (or reported enabled or disabled, steps missed); downloaded is not enough, the
        profile may still fail to install. It leaves service the day it is deleted; a
        retired SIM on the day its replacement enters service.
        """
        line, sub = self.subscription_of_iccid(iccid)
        before = sub.state
        after = next_state(before, reported)
        if after is None:
            return Progress(sub, before, None)
        day = self.local_date(at)
        _move(sub, after, at, day)
        if sub.replaces is not None:
            _, old = self.subscription(sub.replaces)
            if reached_device(after):
                sub.replaces = None
                sub.primary, old.primary = old.primary, False
                if old.state.is_live:
                    _move(old, SubscriptionState.DELETED, at, day)
                return Progress(sub, before, after, retired=old)
            if not after.is_live:
                return Progress(sub, before, after, kept=old)
            return Progress(sub, before, after)
        first_device_failed = sub.primary and not after.is_live and not reached_device(before)
        if first_device_failed and not line.is_closed and not line.live_subscriptions:
            line.status = LineStatus.CLOSED
            line.closed_on = day
            return Progress(sub, before, after, closed_line=line)
        return Progress(sub, before, after)

    # -------------------------------------------------------------- allocations
    def set_allocation(
        self, member_id: str, allocation: Allocation, plans: list[Plan]
    ) -> Allocation:
        """Replace a member's allocation after checking it against every plan in force.

        ``plans`` is the current plan and, when a change is scheduled, the next one: an
        allocation must hold under both so the cycle boundary never breaks a promise.
        """
        member = self.active_member(member_id)
        proposed = dict(self.allocations)
        proposed[member.id] = allocation
        for plan in plans:
            self._check_allocations(plan, proposed, self.oversubscription_allowed)
        self.allocations[member.id] = allocation
        return allocation

    def set_oversubscription(self, allowed: bool, plans: list[Plan]) -> None:
        """The owner opts in or out of promising more than the pool holds."""
        if not allowed:
            for plan in plans:
                self._check_allocations(plan, self.allocations, False)
        self.oversubscription_allowed = allowed

    def set_time_zone(self, time_zone: str) -> None:
        """Move the family to another IANA time zone; quiet hours follow the wall clock."""
        self.time_zone = check_time_zone(time_zone)

    def set_money_cap(self, money_cap: Money | None, plan: Plan) -> None:
        if money_cap is not None:
            _check_money(money_cap, plan, "family money cap")
        self.money_cap = money_cap

    def _check_allocations(
        self, plan: Plan, allocations: dict[MemberId, Allocation], oversubscribe: bool
    ) -> None:
        promised: dict[tuple[Resource, Zone], int] = {}
        for member_id, allocation in allocations.items():
            member = self.members[member_id]
            if not member.is_active:
                continue
            _check_allocation(member, allocation, plan)
            for key, limit in allocation.limits.items():
                promised[key] = promised.get(key, 0) + (limit.quota or 0)
        if oversubscribe:
            return
        for (resource, zone_name), total in promised.items():
            allowance = plan.allowance(resource, zone_name)
            if allowance is not None and total > allowance:
                raise Oversubscribed(
                    f"quotas for {resource} in {zone_name} add up to "
                    f"{format_amount(resource, total)} but plan {plan.name!r} pools only "
                    f"{format_amount(resource, allowance)}; lower a quota or allow "
                    "oversubscription"
                )

    # -------------------------------------------------------------------- plans
    def schedule_plan_change(self, current: Plan, new: Plan) -> None:
        """Move to ``new`` from the next cycle on, if the family fits it."""
        self._require_plan(current)
        if new.currency != self.currency:
            raise RuleViolation(
                f"plan {new.name!r} is billed in {new.currency}, this family in {self.currency}"
            )
        if new.code == self.plan_code:
            self.pending_plan_code = None
            return
        if len(self.active_members) > new.max_members:
            raise PlanLimitExceeded(
                f"plan {new.name!r} allows {new.max_members} members, the family has "
                f"{len(self.active_members)}"
            )
        if len(self.counted_lines) > new.max_lines:
            raise PlanLimitExceeded(
                f"plan {new.name!r} allows {new.max_lines} lines, the family has "
                f"{len(self.counted_lines)}"
            )
        self._check_allocations(new, self.allocations, self.oversubscription_allowed)
        if self.money_cap is not None:
            _check_money(self.money_cap, new, "family money cap")
        self.pending_plan_code = new.code

    def start_next_cycle(
        self, plan: Plan, carried: Mapping[tuple[Resource, Zone], int] | None = None
    ) -> Cycle:
        """Open the next cycle on the plan now in force (the pending one, if any), with
        *carried* units of rollover added to its pools."""
        expected = self.pending_plan_code or self.plan_code
        if plan.code != expected:
            raise RuleViolation(f"the next cycle runs on plan {expected!r}, not {plan.code!r}")
        self.plan_code = plan.code
        self.pending_plan_code = None
        self.cycle = Cycle.open(
            self.cycle.number + 1, self.cycle.end, self.cycle_day, plan, carried
        )
        return self.cycle

    def _plans_in_force(self, plan: Plan, next_plan: Plan | None) -> list[Plan]:
        """The current plan and the scheduled one: what a change must fit."""
        self._require_plan(plan)
        if self.pending_plan_code is None:
            return [plan]
        if next_plan is None or next_plan.code != self.pending_plan_code:
            raise RuleViolation(
                f"plan {self.pending_plan_code!r} starts next cycle; check against it as well"
            )
        return [plan, next_plan]

    def _require_plan(self, plan: Plan) -> None:
        if plan.code != self.plan_code:
            raise RuleViolation(f"family is on plan {self.plan_code!r}, not {plan.code!r}")


_NO_ALLOCATION = Allocation()
"""A member without an allocation shares freely (one shared value: allocations are immutable)."""


def _check_money(amount: Money, plan: Plan, what: str) -> None:
    if amount.currency != plan.currency:
        raise InvalidAmount(f"{what} is in {amount.currency} but the plan bills in {plan.currency}")
    if amount.is_negative:
        raise InvalidAmount(f"{what} cannot be negative")


def _check_allocation(member: Member, allocation: Allocation, plan: Plan) -> None:
    for resource, zone_name in allocation.limits:
        if not plan.covers(resource, zone_name):
            raise AllocationRejected(
                f"plan {plan.name!r} does not cover {resource} in zone {zone_name!r}"
            )
    hotspot = allocation.hotspot_quota
    if hotspot and not plan.hotspot.allowed:
        raise AllocationRejected(f"plan {plan.name!r} does not allow hotspot use")
    limit = plan.hotspot.sub_quota
    if hotspot is not None and limit is not None and hotspot > limit:
        raise AllocationRejected(
            f"hotspot sub-quota {format_amount(Resource.DATA, hotspot)} for {member.name!r} "
            f"exceeds the plan's {format_amount(Resource.DATA, limit)}"
        )
    if allocation.money_cap is not None:
        _check_money(allocation.money_cap, plan, f"money cap of {member.name!r}")


def _move(sub: Subscription, state: SubscriptionState, at: datetime, day: date) -> None:
    """Move *sub* to *state* at the instant *at*, the family's day *day*: on a device it
    is in service (from its first such day), deleted or failed it is not any more."""
    sub.state = state
    sub.state_changed_at = at
    if reached_device(state):
        sub.enter_service(day)
    elif not state.is_live:
        sub.leave_service(day)
    if not state.is_pending:  # the order is over: its code and deadline are history
        sub.order_expires_at = None
        sub.confirmation_code = None
