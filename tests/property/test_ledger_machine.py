"""Hypothesis state machine: FamilyLedger keeps the charging invariants after every step.

Three members share a tiny variant of the sample Hong Kong plan (data at home 1000 bytes +
HKD 1.00 per 100 bytes, SMS at home 5 + HKD 0.50 each, greater-china data 500 bytes +
HKD 2.00 per 100 bytes, hotspot sub-quota 600 bytes). Rules grant, commit (0 to twice the
reserved units, so overshoot happens), release, expire, commit without a reservation and
replace a member's allocation (possibly below what it already used). The machine keeps its
own list of usage records (no retransmissions are modelled) and checks the counters against
the live reservations and the records after every step; a grant must never push past a limit
that held before it (ARCHITECTURE.md invariants 1, 2, 3 and 5).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from famsim.adapters.catalog import load_catalog, sample_catalog_path
from famsim.domain.allocation import Allocation, Limit
from famsim.domain.charging.grants import ChargingRules, GrantRequest, Quantum
from famsim.domain.charging.ledger import FamilyLedger, Key, ServiceKey, UsageRecord
from famsim.domain.ids import FamilyId, MemberId, SubscriptionId
from famsim.domain.money import Money
from famsim.domain.plan import HotspotRule, OverageRate, Plan
from famsim.domain.units import HOME, Resource, Zone

pytestmark = pytest.mark.unit

DATA, VOICE, SMS = Resource.DATA, Resource.VOICE, Resource.SMS
GC = Zone("greater-china")


def hkd(minor: int) -> Money:
    return Money(minor, "HKD")


_HK = next(p for p in load_catalog(sample_catalog_path()) if p.code == "hk-family-5g-100")
PLAN: Plan = replace(
    _HK,
    allowances={(DATA, HOME): 1000, (SMS, HOME): 5, (VOICE, HOME): None, (DATA, GC): 500},
    overage={
        (DATA, HOME): OverageRate(hkd(100), 100),
        (SMS, HOME): OverageRate(hkd(50), 1),
        (DATA, GC): OverageRate(hkd(200), 100),
    },
    hotspot=HotspotRule(True, 600),
)
RULES = ChargingRules(quanta={DATA: Quantum(300, 60), VOICE: Quantum(60, 60), SMS: Quantum(1, 60)})
MEMBERS = [MemberId(f"m{i}") for i in range(3)]
SESSIONS = ["s0", "s1", "s2"]
SERVICES: list[ServiceKey] = [(DATA, HOME, False), (DATA, HOME, True), (SMS, HOME, False)]
SERVICES.append((DATA, GC, False))
KEYS: list[Key] = [(DATA, HOME), (SMS, HOME), (DATA, GC)]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def sub(member: MemberId) -> SubscriptionId:
    return SubscriptionId(f"sub-{member}")


@st.composite
def limits(draw: st.DrawFn) -> Limit:
    quota = draw(st.none() | st.integers(0, 1200))
    hard_cap = draw(st.none() | st.integers(0, 600).map(lambda extra: (quota or 0) + extra))
    return Limit(quota=quota, hard_cap=hard_cap)


ALLOCATIONS = st.builds(
    Allocation,
    limits=st.dictionaries(st.sampled_from(KEYS), limits(), max_size=3),
    hotspot_quota=st.none() | st.integers(0, 700),
    money_cap=st.none() | st.integers(0, 800).map(hkd),
    roaming_allowed=st.booleans(),
)


def _within(value: int, limit: int | None) -> bool:
    return limit is None or value <= limit


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger = FamilyLedger(FamilyId("f-prop"), 1, PLAN)
        self.records: list[UsageRecord] = []
        self.allocations: dict[MemberId, Allocation] = dict.fromkeys(MEMBERS, Allocation())
        self.family_cap: Money | None = None
        self.now = T0

    @initialize(cap=st.none() | st.integers(0, 1500).map(hkd))
    def set_family_cap(self, cap: Money | None) -> None:
        self.family_cap = cap

    # ------------------------------------------------------------------ limits
    def _limits(self, member: MemberId, key: Key) -> dict[str, tuple[int, int | None]]:
        """(held, limit) for every limit a grant of ``key`` to ``member`` must respect."""
        ledger, allocation = self.ledger, self.allocations[member]
        m = ledger.members.get(member)
        pool_c = m.pool.get(key) if m else None
        over_c = m.overage.get(key) if m else None
        mine = (pool_c.used + pool_c.reserved) if pool_c else 0
        bought = (over_c.used + over_c.reserved) if over_c else 0
        tethered = (m.tethered.used + m.tethered.reserved) if m else 0
        pool = ledger.pools.get(key)
        limit = allocation.limit(*key)
        hotspot = [v for v in (allocation.hotspot_quota, PLAN.hotspot.sub_quota) if v is not None]
        cap = allocation.money_cap
        member_cap = None if cap is None else cap.minor
        return {
            "quota": (mine, limit.quota),
            "hard_cap": (mine + bought, limit.hard_cap),
            "pool": ((pool.used + pool.reserved) if pool else 0, PLAN.allowance(*key)),
            "hotspot": (tethered, min(hotspot) if hotspot else None),
            "family_money": (
                ledger.family_overage_money().minor,
                None if self.family_cap is None else self.family_cap.minor,
            ),
            "member_money": (ledger.overage_money(member).minor, member_cap),
        }

    # ------------------------------------------------------------------ rules
    @rule(
        member=st.sampled_from(MEMBERS),
        session=st.sampled_from(SESSIONS),
        service=st.sampled_from(SERVICES),
        requested=st.none() | st.integers(1, 500),
    )
    def grant(
        self, member: MemberId, session: str, service: ServiceKey, requested: int | None
    ) -> None:
        resource, zone, tethered = service
        key = (resource, zone)
        before = self._limits(member, key)
        grant = self.ledger.grant(
            session_id=session,
            member_id=member,
            subscription_id=sub(member),
            request=GrantRequest(resource, zone, tethered, requested),
            allocation=self.allocations[member],
            family_money_cap=self.family_cap,
            rules=RULES,
            now=self.now,
        )
        # (f) the grant adds up and is priced at the plan's rate.
        assert grant.units == grant.from_pool + grant.from_overage
        assert min(grant.units, grant.from_pool, grant.from_overage) >= 0
        rate = PLAN.overage.get(key)
        expected = rate.charge(grant.from_overage) if rate and grant.from_overage else hkd(0)
        assert grant.overage_price == expected
        if requested is not None:
            assert grant.units <= requested
        held = self.ledger.reservations.get((session, service))
        if grant.units:
            assert held is not None
            assert (held.member_id, held.from_pool, held.from_overage) == (
                member,
                grant.from_pool,
                grant.from_overage,
            )
            assert held.price_minor == grant.overage_price.minor
        else:
            assert held is None
        # (e) a grant never pushes past a limit that held before it.
        after = self._limits(member, key)
        for name, (was, limit) in before.items():
            if limit is not None and was <= limit:
                assert after[name][0] <= limit, (name, was, after[name][0], limit, grant)

    @precondition(lambda self: bool(self.ledger.reservations))
    @rule(data=st.data())
    def commit(self, data: st.DataObject) -> None:
        session, service = data.draw(st.sampled_from(sorted(self.ledger.reservations)))
        reservation = self.ledger.reservations[(session, service)]
        used = data.draw(st.integers(0, 2 * reservation.units))
        self._commit(session, service, reservation.member_id, used)
        assert (session, service) not in self.ledger.reservations

    @rule(
        member=st.sampled_from(MEMBERS),
        session=st.sampled_from(SESSIONS),
        service=st.sampled_from(SERVICES),
        used=st.integers(0, 400),
    )
    def commit_unreserved(
        self, member: MemberId, session: str, service: ServiceKey, used: int
    ) -> None:
        """A report for a service that holds nothing (never granted, or expired)."""
        reservation = self.ledger.reservations.get((session, service))
        if reservation is not None:
            member = reservation.member_id
        record = self._commit(session, service, member, used)
        if reservation is None and record is not None:
            assert record.overshoot == used

    def _commit(
        self, session: str, service: ServiceKey, member: MemberId, used: int
    ) -> UsageRecord | None:
        reservation = self.ledger.reservations.get((session, service))
        record = self.ledger.commit(
            session_id=session,
            service=service,
            used=used,
            member_id=member,
            subscription_id=sub(member),
            allocation=self.allocations[member],
            now=self.now,
        )
        if used == 0:
            assert record is None
            return None
        assert record is not None
        assert (record.session_id, record.member_id, record.units) == (session, member, used)
        assert (record.resource, record.zone, record.tethered) == service
        assert record.from_pool + record.from_overage == record.units
        assert min(record.from_pool, record.from_overage, record.overshoot) >= 0
        granted = reservation.units if reservation else 0
        assert record.overshoot == max(used - granted, 0)
        self.records.append(record)
        return record

    @precondition(lambda self: bool(self.ledger.reservations))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        session, service = data.draw(st.sampled_from(sorted(self.ledger.reservations)))
        assert self.ledger.release(session, service) is not None
        assert (session, service) not in self.ledger.reservations

    @rule(seconds=st.integers(0, 90))
    def expire(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        live = dict(self.ledger.reservations)
        expired = self.ledger.expire(self.now)
        assert {(s, svc) for s, svc, _ in expired} == {
            k for k, r in live.items() if r.expires_at <= self.now
        }
        assert all(r.expires_at > self.now for r in self.ledger.reservations.values())

    @rule(member=st.sampled_from(MEMBERS), allocation=ALLOCATIONS)
    def change_allocation(self, member: MemberId, allocation: Allocation) -> None:
        self.allocations[member] = allocation

    # ------------------------------------------------------------------ invariants
    @invariant()
    def counters_are_never_negative(self) -> None:  # (a)
        for counter in self.ledger.pools.values():
            assert counter.used >= 0
            assert counter.reserved >= 0
        for m in self.ledger.members.values():
            for counter in [*m.pool.values(), *m.overage.values(), m.tethered]:
                assert counter.used >= 0
                assert counter.reserved >= 0
            assert m.overage_reserved_minor >= 0

    @invariant()
    def reserved_matches_live_reservations(self) -> None:  # (b)
        live = [(svc, r) for (_, svc), r in self.ledger.reservations.items()]
        for key in KEYS:
            on_key = [r for svc, r in live if svc[:2] == key]
            assert self.ledger.pool(key).reserved == sum(r.from_pool for r in on_key)
            for member in MEMBERS:
                mine = [r for r in on_key if r.member_id == member]
                ml = self.ledger.member(member)
                assert ml.pool_counter(key).reserved == sum(r.from_pool for r in mine)
                assert ml.overage_counter(key).reserved == sum(r.from_overage for r in mine)
        for member in MEMBERS:
            mine = [(svc, r) for svc, r in live if r.member_id == member]
            ml = self.ledger.member(member)
            assert ml.tethered.reserved == sum(r.units for svc, r in mine if svc[2])
            assert ml.overage_reserved_minor == sum(r.price_minor for _, r in mine)

    @invariant()
    def used_matches_the_records(self) -> None:  # (c): nothing committed is lost
        for key in KEYS:
            on_key = [r for r in self.records if (r.resource, r.zone) == key]
            assert self.ledger.pool(key).used == sum(r.from_pool for r in on_key)
            for member in MEMBERS:
                mine = [r for r in on_key if r.member_id == member]
                ml = self.ledger.member(member)
                assert ml.pool_counter(key).used == sum(r.from_pool for r in mine)
                assert ml.overage_counter(key).used == sum(r.from_overage for r in mine)
        for member in MEMBERS:
            tethered = [r for r in self.records if r.member_id == member and r.tethered]
            assert self.ledger.member(member).tethered.used == sum(r.units for r in tethered)

    @invariant()
    def pools_hold_within_total_plus_overshoot(self) -> None:  # (d)
        for key in KEYS:
            total = PLAN.allowance(*key)
            if total is None:
                continue
            overshoot = sum(r.overshoot for r in self.records if (r.resource, r.zone) == key)
            pool = self.ledger.pool(key)
            assert pool.used + pool.reserved <= total + overshoot

    @invariant()
    def pools_never_exceed_their_total(self) -> None:  # (d), strictly
        """Overshoot beyond a full pool is booked as overage, so no pool ever overdraws."""
        for key in KEYS:
            total = PLAN.allowance(*key)
            if total is not None:
                pool = self.ledger.pool(key)
                assert pool.used + pool.reserved <= total


LedgerMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestLedgerMachine = LedgerMachine.TestCase
