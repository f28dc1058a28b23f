"""Hypothesis: decide() never grants beyond any limit, and is the least of them all.

Random allocations, standings (within or already beyond every total), family money caps
and requests on the sample Hong Kong plan. Amounts are drawn both as round multiples of a
per-resource step (so pool, quota, caps and money interact) and as arbitrary integers (so
rounding of overage prices shows up).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from famsim.adapters.catalog import load_catalog, sample_catalog_path
from famsim.domain.allocation import Allocation, ExhaustionAction, Limit
from famsim.domain.charging.grants import (
    FINAL_UNIT_ACTION,
    ChargingRules,
    Denial,
    FinalUnitAction,
    Grant,
    GrantRequest,
    Held,
    Standing,
    decide,
)
from famsim.domain.money import Money
from famsim.domain.plan import HotspotRule, OverageRate, Plan
from famsim.domain.units import HOME, Resource, Zone

pytestmark = pytest.mark.unit

GB = 10**9
DATA, VOICE, SMS = Resource.DATA, Resource.VOICE, Resource.SMS
GC = Zone("greater-china")
HK_PLAN: Plan = next(p for p in load_catalog(sample_catalog_path()) if p.code == "hk-family-5g-100")
KEYS = [(DATA, HOME), (DATA, GC), (VOICE, HOME), (VOICE, GC), (SMS, HOME), (SMS, GC)]
STEP = {DATA: 10**8, VOICE: 30, SMS: 1}  # 0.1 GB (HKD 3.00 at home), half a minute, 1 SMS
RULES = ChargingRules(default_redirect_url="https://operator.example/limit")
TOP_UP = "https://top-up.example/member"
SETTINGS = settings(max_examples=300, deadline=None)

Scenario = tuple[Plan, GrantRequest, Allocation, Money | None, Standing]


def hkd(minor: int) -> Money:
    return Money(minor, "HKD")


def amounts(resource: Resource) -> st.SearchStrategy[int]:
    step = STEP[resource]
    return st.one_of(
        st.integers(0, 40).map(lambda k: k * step),
        st.integers(0, 40 * step),
    )


def held(resource: Resource) -> st.SearchStrategy[Held]:
    return st.one_of(st.just(Held()), st.builds(Held, amounts(resource), amounts(resource)))


MONEY = st.one_of(
    st.integers(0, 40).map(lambda k: k * 300),  # multiples of HKD 3.00
    st.integers(0, 20),  # a few cents: rounding of overage prices matters
    st.integers(0, 12_000),
).map(hkd)
SPENT = st.one_of(st.just(hkd(0)), MONEY)


def caps(spent: Money) -> st.SearchStrategy[Money | None]:
    """No cap, any cap (maybe below what is spent), or a cap a few cents above it."""
    return st.one_of(st.none(), MONEY, st.integers(0, 10).map(lambda k: spent + hkd(k)))


def plans(key: tuple[Resource, Zone]) -> st.SearchStrategy[Plan]:
    """The sample plan, mostly; else one changed where this request is concerned."""
    rates = dict(HK_PLAN.overage)
    free = {**rates, key: OverageRate(hkd(0), rates[key].per if key in rates else 1)}
    priced = {k: rate for k, rate in rates.items() if k != key}
    return st.one_of(
        st.just(HK_PLAN),
        st.just(HK_PLAN),
        st.builds(
            lambda sub_quota: replace(HK_PLAN, hotspot=HotspotRule(True, sub_quota)),
            st.none() | amounts(DATA),
        ),
        st.just(replace(HK_PLAN, hotspot=HotspotRule(allowed=False))),
        st.just(replace(HK_PLAN, overage=free)),
        st.just(replace(HK_PLAN, overage=priced)),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    resource, zone = draw(st.sampled_from(KEYS))
    plan = draw(plans((resource, zone)))
    amount = amounts(resource)
    tethered = resource is DATA and draw(st.booleans())
    requested = draw(
        st.one_of(
            st.none(),
            st.integers(1, 10),
            st.integers(1, 1000),
            st.integers(1, 40 * STEP[resource]),
        )
    )
    data_only_line = draw(st.integers(0, 9)) == 0
    request = GrantRequest(resource, zone, tethered, requested, data_only_line)

    quota = draw(st.none() | amount)
    hard_cap = None if draw(st.booleans()) else (quota or 0) + draw(amount)
    limits = {}
    if quota is not None or hard_cap is not None:
        limits[(resource, zone)] = Limit(quota=quota, hard_cap=hard_cap)
    if draw(st.booleans()):  # a limit on another pair must not matter
        other = next(k for k in KEYS if k != (resource, zone))
        limits[other] = Limit(quota=0, hard_cap=0)
    family_spent, member_spent = draw(SPENT), draw(SPENT)
    allocation = Allocation(
        limits=limits,
        hotspot_quota=draw(st.none() | amounts(DATA)),
        exhaustion=draw(st.sampled_from(ExhaustionAction)),
        redirect_url=draw(st.sampled_from([None, TOP_UP])),
        money_cap=draw(caps(member_spent)),
        roaming_allowed=draw(st.integers(0, 4)) > 0,
    )
    family_cap = draw(caps(family_spent))
    pool = draw(held(resource))
    pool_total = draw(
        st.one_of(
            st.none(),
            st.just(plan.allowance(resource, zone)),
            st.just(pool.total),  # used up exactly
            amount,
        )
    )
    standing = Standing(
        pool_total=pool_total,
        pool=pool,
        member_pool=draw(held(resource)),
        member_overage=draw(held(resource)),
        member_tethered=draw(held(DATA)),
        family_overage_money=family_spent,
        member_overage_money=member_spent,
    )
    return plan, request, allocation, family_cap, standing


def run(scenario: Scenario) -> Grant:
    plan, request, allocation, family_cap, standing = scenario
    return decide(
        request,
        plan=plan,
        allocation=allocation,
        family_money_cap=family_cap,
        standing=standing,
        rules=RULES,
    )


def advanced(scenario: Scenario, grant: Grant) -> Scenario:
    """The same member asking again for a quantum, with this grant reserved."""
    plan, request, allocation, family_cap, standing = scenario

    def plus(counter: Held, units: int) -> Held:
        return Held(counter.used, counter.reserved + units)

    after = replace(
        standing,
        pool=plus(standing.pool, grant.from_pool),
        member_pool=plus(standing.member_pool, grant.from_pool),
        member_overage=plus(standing.member_overage, grant.from_overage),
        member_tethered=plus(standing.member_tethered, grant.units if request.tethered else 0),
        family_overage_money=standing.family_overage_money + grant.overage_price,
        member_overage_money=standing.member_overage_money + grant.overage_price,
    )
    return plan, replace(request, requested=None), allocation, family_cap, after


def expected_denial(plan: Plan, request: GrantRequest, allocation: Allocation) -> Denial | None:
    """The denials decided before any counting, in their order."""
    if request.data_only_line and request.resource is not DATA:
        return Denial.SERVICE_NOT_ON_LINE
    if request.zone != HOME and not allocation.roaming_allowed:
        return Denial.ROAMING_NOT_ALLOWED  # every variant covers every resource in both zones
    if request.tethered and (not plan.hotspot.allowed or allocation.hotspot_quota == 0):
        return Denial.HOTSPOT_NOT_ALLOWED
    return None


def left(limit: int | None, held_: int) -> int | None:
    return None if limit is None else max(limit - held_, 0)


def least(*values: int | None) -> int | None:
    finite = [v for v in values if v is not None]
    return min(finite) if finite else None


def model_available(scenario: Scenario) -> int | None:
    """An independent reading of the rule: what the member could still get (None: no end)."""
    plan, request, allocation, family_cap, s = scenario
    limit = allocation.limit(request.resource, request.zone)
    pool_room = least(left(limit.quota, s.member_pool.total), left(s.pool_total, s.pool.total))
    rate = plan.overage.get((request.resource, request.zone))
    budgets = [
        max(cap.minor - spent.minor, 0)
        for cap, spent in (
            (family_cap, s.family_overage_money),
            (allocation.money_cap, s.member_overage_money),
        )
        if cap is not None
    ]
    overage: int | None
    if rate is None:
        overage = 0
    elif rate.price.minor == 0 or not budgets:
        overage = None
    else:  # the largest u with ceil(u * price / per) <= budget
        overage = min(budgets) * rate.per // rate.price.minor
    both = None if pool_room is None or overage is None else pool_room + overage
    hotspot = None
    if request.tethered:
        hotspot = least(
            left(allocation.hotspot_quota, s.member_tethered.total),
            left(plan.hotspot.sub_quota, s.member_tethered.total),
        )
    total = s.member_pool.total + s.member_overage.total
    return least(both, left(limit.hard_cap, total), hotspot)


def assert_exact_money(grant: Grant) -> None:
    assert type(grant.overage_price.minor) is int
    assert grant.overage_price.currency == "HKD"
    for name, value in grant.limits.items():
        assert value is None or type(value) is int, name
    assert all(type(n) is int for n in (grant.units, grant.from_pool, grant.from_overage))


def within(before: int, added: int, limit: int) -> bool:
    """``before + added <= limit``, or nothing added when ``before`` was already past it."""
    return before + added <= max(limit, before)


@SETTINGS
@given(scenarios())
def test_grant_respects_every_bound(scenario: Scenario) -> None:
    plan, request, allocation, family_cap, s = scenario
    grant = run(scenario)
    assert_exact_money(grant)
    assert grant.units >= 0
    assert grant.from_pool >= 0
    assert grant.from_overage >= 0
    assert grant.validity_seconds == RULES.quanta[request.resource].validity_seconds
    action = FINAL_UNIT_ACTION[allocation.exhaustion]
    redirect = (
        (allocation.redirect_url or RULES.default_redirect_url)
        if action is FinalUnitAction.REDIRECT
        else None
    )

    reason = expected_denial(plan, request, allocation)
    if reason is not None or grant.denial is not None:
        assert grant.denial is (reason or Denial.LIMIT_REACHED)
        assert (grant.units, grant.from_pool, grant.from_overage) == (0, 0, 0)
        assert grant.overage_price == hkd(0)
        if grant.denial is Denial.LIMIT_REACHED:
            assert model_available(scenario) == 0
            assert (grant.final_action, grant.redirect_url) == (action, redirect)
        else:
            assert (grant.final_action, grant.redirect_url) == (None, None)
        return

    wanted = request.requested or RULES.quanta[request.resource].units
    available = model_available(scenario)
    assert 0 < grant.units <= wanted
    assert grant.units == (wanted if available is None else min(wanted, available))
    assert grant.from_pool + grant.from_overage == grant.units

    limit = allocation.limit(request.resource, request.zone)
    if limit.quota is not None:
        assert within(s.member_pool.total, grant.from_pool, limit.quota)
    if s.pool_total is not None:
        assert within(s.pool.total, grant.from_pool, s.pool_total)
    if limit.hard_cap is not None:
        member_total = s.member_pool.total + s.member_overage.total
        assert within(member_total, grant.units, limit.hard_cap)
    if request.tethered:
        for hotspot_limit in (allocation.hotspot_quota, plan.hotspot.sub_quota):
            if hotspot_limit is not None:
                assert within(s.member_tethered.total, grant.units, hotspot_limit)
    else:
        assert "hotspot" not in grant.limits or grant.limits["hotspot"] is None

    price = grant.overage_price.minor
    if family_cap is not None:
        assert within(s.family_overage_money.minor, price, family_cap.minor)
    if allocation.money_cap is not None:
        assert within(s.member_overage_money.minor, price, allocation.money_cap.minor)
    rate = plan.overage.get((request.resource, request.zone))
    if rate is None:
        assert grant.from_overage == 0
        assert grant.overage_price == hkd(0)
    else:
        assert grant.overage_price == rate.charge(grant.from_overage)

    # Taking everything available is always final; a smaller grant can be final too when
    # its rounded-up overage price spends the last money (see the follow-up properties).
    if grant.units == available:
        assert grant.final_action is not None
    assert grant.final_action in (None, action)
    assert grant.redirect_url == (redirect if grant.final_action else None)


@SETTINGS
@given(scenarios())
def test_final_action_means_the_next_request_is_refused(scenario: Scenario) -> None:
    grant = run(scenario)
    if grant.denial not in (None, Denial.LIMIT_REACHED):
        return
    following = run(advanced(scenario, grant))
    if grant.final_action is not None:
        assert following.denial is Denial.LIMIT_REACHED
        assert following.final_action is grant.final_action
    elif grant.overage_price.minor == 0:
        # nothing was bought, so no rounding of a price can have eaten the money left
        assert following.granted
        assert following.units > 0


# A 1-byte overage grant at HKD 30.00/GB costs 1 cent (rounded up): the last cent left.
_LAST_CENT: Scenario = (
    HK_PLAN,
    GrantRequest(DATA, HOME, requested=1),
    Allocation(),
    hkd(1),
    Standing(100 * GB, Held(used=100 * GB), Held(), Held(), Held(), hkd(0), hkd(0)),
)
# One roaming second at HKD 2.00/min costs 4 cents of the member's 7: 3 cents buy nothing.
_LAST_SECOND: Scenario = (
    HK_PLAN,
    GrantRequest(VOICE, GC, requested=1),
    Allocation(money_cap=hkd(7)),
    None,
    Standing(18_000, Held(used=18_000), Held(), Held(), Held(), hkd(0), hkd(0)),
)


@SETTINGS
@given(scenarios())
@example(scenario=_LAST_CENT)
@example(scenario=_LAST_SECOND)
def test_no_final_action_means_more_units_follow(scenario: Scenario) -> None:
    grant = run(scenario)
    if not grant.granted or grant.final_action is not None:
        return
    following = run(advanced(scenario, grant))
    assert following.granted
    assert following.units > 0
