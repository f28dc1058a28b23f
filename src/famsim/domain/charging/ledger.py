"""A family's charging ledger for one cycle: counters, live reservations, usage records.

The ledger is the state the granting rule reads and the only place units move: a grant
holds units (``reserved``), a commit turns reported units into ``used`` and an immutable
:class:`UsageRecord`, a release or an expiry gives reserved units back. Every move updates
the pool, the member's pool and overage counters and the tethered counter together, so the
invariants of ARCHITECTURE.md hold after each call, not just eventually.

Overage money is derived, never stored: a member's spend is the plan's overage price of
all the overage units it used in the cycle (priced once, rounded up once), plus the money
reserved by its live grants. Units reported beyond a grant (overshoot) are booked and
recorded, never dropped: into the pool while the pool and the member's quota have room,
as overage after that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from famsim.domain.allocation import Allocation
from famsim.domain.charging.grants import (
    ChargingRules,
    Grant,
    GrantRequest,
    Held,
    Standing,
    decide,
    decide_free,
)
from famsim.domain.charging.thresholds import ThresholdCrossed, new_alerts
from famsim.domain.errors import InvalidAmount, RuleViolation
from famsim.domain.ids import FamilyId, MemberId, SubscriptionId
from famsim.domain.money import Money
from famsim.domain.plan import Plan
from famsim.domain.units import Resource, Zone

Key = tuple[Resource, Zone]
AlertKey = tuple[MemberId | None, Resource, Zone]
ServiceKey = tuple[Resource, Zone, bool]
"""A charged service within a session: resource, zone and whether it is tethered."""
CounterKey = tuple[MemberId | None, str, Resource, Zone]
"""Which counter: member (None for the family pool), kind (pool, overage, tethered), key."""
TETHERED_ZONE = Zone("*")
"""The tethered counter spans all zones; its key uses this zone."""


@dataclass(slots=True)
class Counter:
    used: int = 0
    reserved: int = 0

    def held(self) -> Held:
        return Held(self.used, self.reserved)


@dataclass(slots=True)
class MemberLedger:
    """One member's units in the cycle, split by where they came from."""

    pool: dict[Key, Counter] = field(default_factory=dict)
    overage: dict[Key, Counter] = field(default_factory=dict)
    tethered: Counter = field(default_factory=Counter)
    overage_reserved_minor: int = 0

    # get first: setdefault would build a Counter on every call (a hot path)
    def pool_counter(self, key: Key) -> Counter:
        found = self.pool.get(key)
        if found is None:
            found = self.pool[key] = Counter()
        return found

    def overage_counter(self, key: Key) -> Counter:
        found = self.overage.get(key)
        if found is None:
            found = self.overage[key] = Counter()
        return found


@dataclass(frozen=True, slots=True)
class Reservation:
    """Units granted to one service of one session and not yet reported."""

    member_id: MemberId
    subscription_id: SubscriptionId
    from_pool: int
    from_overage: int
    price_minor: int
    expires_at: datetime
    free: int = 0
    """Units at zero rate (an always-allowed destination); they hold no counter."""

    @property
    def units(self) -> int:
        return self.from_pool + self.from_overage + self.free


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """Committed usage: immutable, the ledger that billing and dashboards read.

    ``from_pool`` + ``from_overage`` + ``free`` == ``units``; ``free`` units went to an
    always-allowed destination and cost nothing; ``overshoot`` is the part of ``units``
    that was used beyond what had been granted (already included in the split).
    """

    family_id: FamilyId
    cycle_number: int
    session_id: str
    member_id: MemberId
    subscription_id: SubscriptionId
    resource: Resource
    zone: Zone
    tethered: bool
    units: int
    from_pool: int
    from_overage: int
    overshoot: int
    at: datetime
    free: int = 0


def _alert_order(key: AlertKey) -> tuple[str, str, str]:
    """Pools first, then members by id: alerts come out in a stable order.

    The resource as itself, not ``.value``: a StrEnum member compares as its value, and
    the enum's ``value`` property costs more than the rest of this key.
    """
    member_id, resource, zone = key
    return (member_id or "", resource, zone)


@dataclass(slots=True)
class Changes:
    """What moved in a ledger since it was last saved, so storage writes only that.

    A ledger lives across many requests in a charging worker; rewriting (or even diffing)
    all of its rows per request would cost more than the rules themselves.
    """

    counters: set[CounterKey] = field(default_factory=set)
    money: set[MemberId] = field(default_factory=set)
    reservations: set[tuple[str, ServiceKey]] = field(default_factory=set)
    alerts: list[tuple[AlertKey, int]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.counters or self.money or self.reservations or self.alerts)


@dataclass(slots=True)
class FamilyLedger:
    family_id: FamilyId
    cycle_number: int
    plan: Plan
    pools: dict[Key, Counter] = field(default_factory=dict)
    members: dict[MemberId, MemberLedger] = field(default_factory=dict)
    reservations: dict[tuple[str, ServiceKey], Reservation] = field(default_factory=dict)
    alerted: dict[AlertKey, set[int]] = field(default_factory=dict)
    """Threshold levels already alerted, per pool (member None) or member quota."""
    version: int = 0
    """The stored version this ledger was read at (storage bumps it on every save)."""
    changes: Changes = field(default_factory=Changes)
    used_moved: set[AlertKey] = field(default_factory=set)
    """Pool and member-quota counters whose ``used`` grew since the last threshold check."""

    def take_changes(self) -> Changes:
        """What moved since the last call; storage calls it when it saves the ledger."""
        changes, self.changes = self.changes, Changes()
        return changes

    def counter(self, key: CounterKey) -> Counter:
        """A counter by its key (see :data:`CounterKey`)."""
        member_id, kind, resource, zone = key
        if member_id is None:
            return self.pool((resource, zone))
        member = self.member(member_id)
        if kind == "tethered":
            return member.tethered
        if kind == "pool":
            return member.pool_counter((resource, zone))
        return member.overage_counter((resource, zone))

    # ------------------------------------------------------------------ reading
    def member(self, member_id: MemberId) -> MemberLedger:
        # get first: setdefault would build a MemberLedger on every call (a hot path)
        found = self.members.get(member_id)
        if found is None:
            found = self.members[member_id] = MemberLedger()
        return found

    def pool(self, key: Key) -> Counter:
        found = self.pools.get(key)
        if found is None:
            found = self.pools[key] = Counter()
        return found

    def overage_money_used(self, member_id: MemberId) -> Money:
        """The member's overage spend committed so far: each zone's units priced once."""
        used = self._money_of(self.member(member_id), reserved=False)
        return Money(used, self.plan.currency)

    def overage_money(self, member_id: MemberId) -> Money:
        """Committed plus reserved overage money of one member."""
        return Money(self._money_of(self.member(member_id)), self.plan.currency)

    def family_overage_money(self) -> Money:
        total = sum(self._money_of(member) for member in self.members.values())
        return Money(total, self.plan.currency)

    def _money_of(self, member: MemberLedger, *, reserved: bool = True) -> int:
        """Committed overage priced once per zone (plus reserved money), in minor units.

        Integers rather than Money: this runs for every member on every grant.
        """
        total = member.overage_reserved_minor if reserved else 0
        for key, counter in member.overage.items():
            if counter.used:
                rate = self.plan.overage.get(key)
                if rate is not None:
                    total += rate.charge(counter.used).minor
        return total

    def standing(
        self,
        member_id: MemberId,
        resource: Resource,
        zone: Zone,
        *,
        family_money: bool = True,
        member_money: bool = True,
    ) -> Standing:
        """Where the member stands for (resource, zone).

        The money figures sum every member's overage, so a caller that has no cap to check
        them against may skip them (``family_money`` / ``member_money`` False: zero).
        """
        key = (resource, zone)
        member = self.member(member_id)
        currency = self.plan.currency
        return Standing(
            pool_total=self.plan.allowance(resource, zone),
            pool=self.pool(key).held(),
            member_pool=member.pool_counter(key).held(),
            member_overage=member.overage_counter(key).held(),
            member_tethered=member.tethered.held(),
            family_overage_money=(
                self.family_overage_money() if family_money else Money.zero(currency)
            ),
            member_overage_money=(
                self.overage_money(member_id) if member_money else Money.zero(currency)
            ),
        )

    # ------------------------------------------------------------------ moving
    def grant(
        self,
        *,
        session_id: str,
        member_id: MemberId,
        subscription_id: SubscriptionId,
        request: GrantRequest,
        allocation: Allocation,
        family_money_cap: Money | None,
        rules: ChargingRules,
        now: datetime,
        free: bool = False,
    ) -> Grant:
        """Decide a grant and hold its units; any earlier grant of this service is released.

        ``free``: the destination is always allowed, so the units are granted at zero rate
        whatever the limits say (:func:`decide_free`).
        """
        service = (request.resource, request.zone, request.tethered)
        self.release(session_id, service)
        if free:
            grant = decide_free(request, plan=self.plan, rules=rules)
        else:
            grant = decide(
                request,
                plan=self.plan,
                allocation=allocation,
                family_money_cap=family_money_cap,
                standing=self.standing(
                    member_id,
                    request.resource,
                    request.zone,
                    # decide() reads the money only against a cap: none, no sums to make
                    family_money=family_money_cap is not None,
                    member_money=allocation.money_cap is not None,
                ),
                rules=rules,
            )
        if grant.units:
            reservation = Reservation(
                member_id=member_id,
                subscription_id=subscription_id,
                from_pool=grant.from_pool,
                from_overage=grant.from_overage,
                price_minor=grant.overage_price.minor,
                expires_at=now + timedelta(seconds=grant.validity_seconds),
                free=grant.free,
            )
            self._hold(service, reservation, +1)
            self.reservations[(session_id, service)] = reservation
            self.changes.reservations.add((session_id, service))
        return grant

    def release(self, session_id: str, service: ServiceKey) -> Reservation | None:
        """Give back what a service still holds (session end, re-grant, expiry)."""
        reservation = self.reservations.pop((session_id, service), None)
        if reservation is not None:
            self._hold(service, reservation, -1)
            self.changes.reservations.add((session_id, service))
        return reservation

    def expire(self, now: datetime) -> list[tuple[str, ServiceKey, Reservation]]:
        """Release every reservation whose validity has passed."""
        expired = [
            (session_id, service, reservation)
            for (session_id, service), reservation in self.reservations.items()
            if reservation.expires_at <= now
        ]
        for session_id, service, _ in expired:
            self.release(session_id, service)
        return expired

    def commit(
        self,
        *,
        session_id: str,
        service: ServiceKey,
        used: int,
        member_id: MemberId,
        subscription_id: SubscriptionId,
        allocation: Allocation,
        now: datetime,
        free: bool = False,
    ) -> UsageRecord | None:
        """Book ``used`` units reported for a service and release its reservation.

        Units within the grant are booked as granted (zero-rated first, then pool, then
        overage); units beyond it are overshoot, booked into the pool while the pool and
        the member's quota have room and as overage after that, and recorded as overshoot
        either way. With ``free`` (the destination is always allowed) overshoot is booked
        at zero rate too.
        """
        if isinstance(used, bool) or not isinstance(used, int) or used < 0:
            raise InvalidAmount(f"used units must be a whole non-negative number, got {used!r}")
        held = self.reservations.get((session_id, service))
        if held is not None and held.member_id != member_id:
            raise RuleViolation(f"session {session_id!r} holds units for another member")
        reservation = self.release(session_id, service)
        if used == 0:
            return None
        resource, zone, tethered = service
        key = (resource, zone)
        granted_free = reservation.free if reservation else 0
        granted_pool = reservation.from_pool if reservation else 0
        granted_overage = reservation.from_overage if reservation else 0
        in_free = min(used, granted_free)
        in_pool = min(used - in_free, granted_pool)
        in_overage = min(used - in_free - in_pool, granted_overage)
        overshoot = used - in_free - in_pool - in_overage
        if overshoot and free:
            in_free += overshoot
        elif overshoot:
            # The room left once this commit's own pool units are booked (its reservation
            # was released above, so the room counts them as free).
            room = self._pool_room(member_id, key, allocation)
            room = None if room is None else max(room - in_pool, 0)
            extra_pool = overshoot if room is None else min(overshoot, room)
            in_pool += extra_pool
            in_overage += overshoot - extra_pool
        member = self.member(member_id)
        self.pool(key).used += in_pool
        member.pool_counter(key).used += in_pool
        member.overage_counter(key).used += in_overage
        touched = self.changes.counters
        if in_pool:
            touched.add((None, "pool", resource, zone))
            touched.add((member_id, "pool", resource, zone))
            self.used_moved.add((None, resource, zone))
            self.used_moved.add((member_id, resource, zone))
        if in_overage:
            touched.add((member_id, "overage", resource, zone))
        if tethered and used > in_free:
            member.tethered.used += used - in_free
            touched.add((member_id, "tethered", Resource.DATA, TETHERED_ZONE))
        return UsageRecord(
            family_id=self.family_id,
            cycle_number=self.cycle_number,
            session_id=session_id,
            member_id=member_id,
            subscription_id=subscription_id,
            resource=resource,
            zone=zone,
            tethered=tethered,
            units=used,
            from_pool=in_pool,
            from_overage=in_overage,
            overshoot=overshoot,
            at=now,
            free=in_free,
        )

    def threshold_alerts(
        self,
        allocations: Mapping[MemberId, Allocation],
        levels: Sequence[int],
        now: datetime,
    ) -> list[ThresholdCrossed]:
        """New alerts for pools and member quotas whose committed usage reached a level.

        Each level of each counter alerts once per cycle, however many requests cross it
        and however often one is retransmitted.
        """
        events: list[ThresholdCrossed] = []
        if not self.used_moved:
            return events  # nothing committed since the last check: nothing can cross
        # Only counters whose usage grew since the last check can have crossed a level.
        moved, self.used_moved = self.used_moved, set()
        # First find the counters that reached a level not alerted yet. That is rare, and
        # this runs after every commit, so the usual case builds no tuples, sets or sorted
        # lists (new_alerts and the stable order are for the counters that did cross).
        crossed: list[tuple[AlertKey, int, int]] = []
        for alert_key in moved:
            member_id, resource, zone = alert_key
            key = (resource, zone)
            if member_id is None:
                total = self.plan.allowance(resource, zone)
            else:
                allocation = allocations.get(member_id)
                total = allocation.limit(resource, zone).quota if allocation else None
            if total is None or total <= 0:
                continue  # no limit, no levels (see levels_reached)
            used = (
                self.pool(key).used
                if member_id is None
                else self.member(member_id).pool_counter(key).used
            )
            reached = [level for level in levels if used * 100 >= level * total]
            seen = self.alerted.get(alert_key)
            if reached and (seen is None or not seen.issuperset(reached)):
                crossed.append((alert_key, used, total))
        for alert_key, used, total in sorted(crossed, key=lambda c: _alert_order(c[0])):
            member_id, resource, zone = alert_key
            seen = self.alerted.setdefault(alert_key, set())
            for level in new_alerts(used, total, levels, seen):
                seen.add(level)
                self.changes.alerts.append((alert_key, level))
                events.append(
                    ThresholdCrossed(
                        self.family_id,
                        member_id,
                        resource,
                        zone,
                        level,
                        used,
                        total,
                        self.cycle_number,
                        now,
                    )
                )
        return events

    def _pool_room(self, member_id: MemberId, key: Key, allocation: Allocation) -> int | None:
        total = self.plan.allowance(*key)
        pool = self.pool(key)
        room = None if total is None else max(total - pool.used - pool.reserved, 0)
        quota = allocation.limit(*key).quota
        if quota is not None:
            mine = self.member(member_id).pool_counter(key)
            left = max(quota - mine.used - mine.reserved, 0)
            room = left if room is None else min(room, left)
        return room

    def _hold(self, service: ServiceKey, reservation: Reservation, sign: int) -> None:
        resource, zone, tethered = service
        key = (resource, zone)
        member = self.member(reservation.member_id)
        member_id = reservation.member_id
        touched = self.changes.counters  # only what moved: each key is a row to write
        # Counters that would move by zero are left alone (each look-up hashes the key):
        # a grant is nearly always all pool or all overage.
        if reservation.from_pool:
            self.pool(key).reserved += sign * reservation.from_pool
            member.pool_counter(key).reserved += sign * reservation.from_pool
            touched.add((None, "pool", resource, zone))
            touched.add((member_id, "pool", resource, zone))
        if reservation.from_overage:
            member.overage_counter(key).reserved += sign * reservation.from_overage
            touched.add((member_id, "overage", resource, zone))
        if reservation.price_minor:
            member.overage_reserved_minor += sign * reservation.price_minor
            self.changes.money.add(member_id)
        charged = reservation.from_pool + reservation.from_overage  # free units hold nothing
        if tethered and charged:
            member.tethered.reserved += sign * charged
            touched.add((member_id, "tethered", Resource.DATA, TETHERED_ZONE))
