"""Properties of forecast-driven rebalancing (``famsim.domain.rebalance``) over generated
families on the sample Hong Kong plan: quotas within the pool, hard caps, counters, the
owner's bounds, earlier cycles and any instant of the cycle.

For every draw: each (resource, zone)'s quotas add up to what they did; no quota that goes
down ends below the member's used plus reserved, its minimum or its forecast; none that
goes up ends above its maximum, its hard cap or its forecast; nobody both gives and
receives; exactly min(spare, need) moves; the same moves whatever the input order; none
with the policy off; and the family's own allocation rules still hold afterwards.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from famsim.adapters.catalog import load_catalog, sample_catalog_path
from famsim.domain.allocation import Allocation, Limit
from famsim.domain.charging.ledger import Counter, MemberLedger
from famsim.domain.family import Family
from famsim.domain.ids import MemberId
from famsim.domain.members import Role
from famsim.domain.rebalance import (
    Bounds,
    Key,
    MemberForecast,
    PastCycle,
    RebalancePolicy,
    apply,
    forecast_members,
    need,
    plan_moves,
    spare,
)
from famsim.domain.units import HOME, Resource, Zone

pytestmark = pytest.mark.unit

PLAN = next(p for p in load_catalog(sample_catalog_path()) if p.code == "hk-family-5g-100")
CHINA = Zone("greater-china")
# Pooled pairs of the plan (voice at home is unlimited: no pool to stay within).
KEYS: list[Key] = sorted(PLAN.allowances)
LARGEST = {key: PLAN.allowance(*key) or 50_000 for key in KEYS}
START = datetime(2026, 1, 30, 16, 0, tzinfo=UTC)
END = datetime(2026, 2, 27, 16, 0, tzinfo=UTC)
SETTINGS = settings(max_examples=300, deadline=None)


@dataclass
class Draw:
    family: Family
    allocations: dict[MemberId, Allocation]
    ledgers: dict[MemberId, MemberLedger]
    past: list[PastCycle]
    policy: RebalancePolicy
    now: datetime


@st.composite
def draws(draw: Callable[[st.SearchStrategy[Any]], Any]) -> Draw:
    family = Family.create(
        name="Chan family", plan=PLAN, owner_name="Chan Tai Man", today=date(2026, 1, 31)
    )
    for n in range(draw(st.integers(2, PLAN.max_members - 1))):
        family.add_member(PLAN, name=f"Adult {n}", role=Role.ADULT, today=date(2026, 1, 31))
    members = sorted(family.members)
    allocations: dict[MemberId, Allocation] = {}
    ledgers: dict[MemberId, MemberLedger] = {}
    bounds: dict[MemberId, dict[Key, Bounds]] = {}
    past: list[dict[MemberId, dict[Key, int]]] = [{} for _ in range(draw(st.integers(0, 3)))]
    # One or two pairs per family, so that members share them and quota can move.
    keys = draw(st.lists(st.sampled_from(KEYS), unique=True, min_size=1, max_size=2))
    for member in members:
        limits: dict[Key, Limit] = {}
        ledger = MemberLedger()
        for key in [k for k in keys if draw(st.integers(0, 5))]:  # mostly every pair
            # At most a fifth of the pool each: the members' quotas fit in it, as the family
            # requires. Counters, caps and bounds are drawn near the quota, so they collide.
            quota = draw(st.integers(0, LARGEST[key] // PLAN.max_members))
            cap = draw(st.none() | st.integers(quota, 2 * quota + 10))
            if draw(st.integers(0, 5)) == 0:
                limits[key] = Limit(quota=None, hard_cap=cap)  # a cap alone: no quota to move
                continue
            limits[key] = Limit(quota=quota, hard_cap=cap)
            used = draw(st.integers(0, quota))
            reserved = draw(st.integers(0, quota - used)) if draw(st.booleans()) else 0
            ledger.pool[key] = Counter(used, reserved)
            if draw(st.booleans()):
                ledger.overage[key] = Counter(draw(st.integers(0, quota + 10)), 0)
            if not draw(st.integers(0, 2)):
                low = draw(st.integers(0, 2 * quota + 10))
                high = draw(st.none() | st.integers(low, 3 * quota + 20))
                bounds.setdefault(member, {})[key] = Bounds(low, high)
            for cycle in past:
                if draw(st.booleans()):
                    cycle.setdefault(member, {})[key] = draw(st.integers(0, 3 * quota + 10))
        allocations[member] = Allocation(limits=limits)
        if draw(st.integers(0, 4)):  # now and then a member with no counters at all
            ledgers[member] = ledger
    family.allocations = dict(allocations)
    # Any instant from the cycle's start to a day after its end (the first hour included).
    now = START + timedelta(days=draw(st.integers(0, 28)), seconds=draw(st.integers(0, 86_399)))
    return Draw(family, allocations, ledgers, list(past), RebalancePolicy(True, bounds), now)


def _forecasts(d: Draw) -> list[MemberForecast]:
    return forecast_members(d.allocations, d.ledgers, START, END, d.now, d.past)


def _quotas(allocations: dict[MemberId, Allocation]) -> dict[tuple[MemberId, Key], int]:
    return {
        (member, key): limit.quota
        for member, allocation in allocations.items()
        for key, limit in allocation.limits.items()
        if limit.quota is not None
    }


@SETTINGS
@given(draws())
def test_forecasts_are_sane(d: Draw) -> None:
    for f in _forecasts(d):
        assert f.projected >= f.used
        assert (f.runs_out_at is None) == (f.projected <= f.quota)
        if f.runs_out_at is not None:
            assert START <= f.runs_out_at <= END
            assert f.runs_out_at >= min(d.now, END)
        if d.now >= END:
            assert f.projected == f.used  # the cycle is over: nothing more is coming


@SETTINGS
@given(draws())
def test_moves_keep_every_rule(d: Draw) -> None:
    forecasts = _forecasts(d)
    moves = plan_moves(forecasts, d.policy)
    after = apply(d.allocations, moves)
    before_q, after_q = _quotas(d.allocations), _quotas(after)
    assert before_q.keys() == after_q.keys()
    for key in KEYS:
        assert sum(q for (_, k), q in before_q.items() if k == key) == sum(
            q for (_, k), q in after_q.items() if k == key
        )
    by_member = {(f.member_id, f.key): f for f in forecasts}
    for (member, key), new in after_q.items():
        old = before_q[(member, key)]
        if new == old:
            continue
        f = by_member[(member, key)]  # only forecast members move
        b = d.policy.bounds_for(member, *key)
        limit = after[member].limits[key]
        assert limit.hard_cap == d.allocations[member].limits[key].hard_cap
        if new < old:
            assert new >= f.used + f.reserved
            assert new >= b.min_quota
            assert new >= f.projected  # a donor keeps what it is forecast to need
        else:
            assert b.max_quota is None or new <= b.max_quota
            assert limit.hard_cap is None or new <= limit.hard_cap
            assert new <= f.projected  # never more than it is forecast to need
    for key in KEYS:
        givers = {m.from_member for m in moves if (m.resource, m.zone) == key}
        takers = {m.to_member for m in moves if (m.resource, m.zone) == key}
        assert not givers & takers
        group = [f for f in forecasts if f.key == key]
        total_spare = sum(spare(f, d.policy.bounds_for(f.member_id, *key)) for f in group)
        total_need = sum(need(f, d.policy.bounds_for(f.member_id, *key)) for f in group)
        moved = sum(m.units for m in moves if (m.resource, m.zone) == key)
        assert moved == min(total_spare, total_need)
    assert all(m.units > 0 for m in moves)


@SETTINGS
@given(draws())
def test_the_family_rules_still_hold(d: Draw) -> None:
    d.family._check_allocations(PLAN, d.allocations, False)  # as drawn: within the pools
    after = apply(d.allocations, plan_moves(_forecasts(d), d.policy))
    d.family._check_allocations(PLAN, after, False)  # the family's own check, unchanged


@SETTINGS
@given(draws(), st.randoms(use_true_random=False))
def test_the_same_moves_whatever_the_order(d: Draw, rng: random.Random) -> None:
    forecasts = _forecasts(d)
    shuffled = list(forecasts)
    rng.shuffle(shuffled)
    assert plan_moves(shuffled, d.policy) == plan_moves(forecasts, d.policy)
    members = list(d.allocations.items())
    rng.shuffle(members)
    assert forecast_members(dict(members), d.ledgers, START, END, d.now, d.past) == forecasts


@SETTINGS
@given(draws())
def test_nothing_moves_with_the_policy_off(d: Draw) -> None:
    off = RebalancePolicy(False, d.policy.bounds)
    assert plan_moves(_forecasts(d), off) == []


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.sampled_from([MemberId(f"m{n}") for n in range(6)]),
            st.integers(0, 100),  # used
            st.integers(0, 100),  # reserved
            st.integers(0, 100),  # quota
            st.none() | st.integers(0, 200),  # hard cap above the quota by this much
            st.integers(0, 300),  # projected
            st.none() | st.integers(0, 10),  # runs out on day
        ),
        unique_by=lambda t: t[0],
    ),
    st.dictionaries(
        st.sampled_from([MemberId(f"m{n}") for n in range(6)]),
        st.tuples(st.integers(0, 150), st.none() | st.integers(0, 150)).map(
            lambda t: Bounds(t[0], None if t[1] is None else t[0] + t[1])
        ),
    ),
)
def test_any_forecasts_keep_the_rules(
    rows: list[tuple[Any, ...]], bounds: dict[MemberId, Bounds]
) -> None:
    """Forecasts as a caller might build them, held above the quota included."""
    forecasts = [
        MemberForecast(
            member,
            Resource.SMS,
            HOME,
            used,
            reserved,
            quota,
            None if extra is None else quota + extra,
            projected,
            None if day is None else START + timedelta(days=day),
        )
        for member, used, reserved, quota, extra, projected, day in rows
    ]
    policy = RebalancePolicy(True, {m: {(Resource.SMS, HOME): b} for m, b in bounds.items()})
    moves = plan_moves(forecasts, policy)
    allocations = {
        f.member_id: Allocation(limits={f.key: Limit(f.quota, f.hard_cap)}) for f in forecasts
    }
    after = _quotas(apply(allocations, moves))
    assert sum(after.values()) == sum(f.quota for f in forecasts)
    for f in forecasts:
        new, b = after[(f.member_id, f.key)], policy.bounds_for(f.member_id, *f.key)
        if new < f.quota:
            assert new >= max(f.held, b.min_quota, f.projected)
        if new > f.quota:
            assert new <= min(v for v in (b.max_quota, f.hard_cap, f.projected) if v is not None)
    assert plan_moves(list(reversed(forecasts)), policy) == moves
    assert all(m.units > 0 for m in moves)
