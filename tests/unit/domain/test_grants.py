"""decide(): the least of every limit, the pool-then-overage split, denials, final actions.

Most cases run on the sample Hong Kong plan (HKD): data at home is a 100 GB pool with
overage at HKD 30.00 per GB (3000 minor units per 10**9 bytes, so 1 byte costs 1 cent
rounded up and HKD 30.00 buys exactly 1 GB), voice at home is unlimited without an overage
rate, SMS at home is 500 + HKD 0.50 each, greater-china has data 10 GB + HKD 68.00/GB,
voice 300 min + HKD 2.00/min and SMS 100 + HKD 1.50 each; hotspot sub-quota 20 GB.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest

from famsim.domain.allocation import Allocation, ExhaustionAction, Limit
from famsim.domain.charging.grants import (
    DEFAULT_QUANTA,
    FINAL_UNIT_ACTION,
    ChargingRules,
    Denial,
    FinalUnitAction,
    Grant,
    GrantRequest,
    Held,
    Quantum,
    Standing,
    decide,
)
from famsim.domain.errors import InvalidAmount
from famsim.domain.money import Money
from famsim.domain.plan import HotspotRule, OverageRate, Plan
from famsim.domain.units import HOME, Resource, Zone

pytestmark = pytest.mark.unit

GB = 10**9
MB = 10**6
DATA, VOICE, SMS = Resource.DATA, Resource.VOICE, Resource.SMS
GC = Zone("greater-china")
EUROPE = Zone("europe")
EMPTY = Held()
RULES = ChargingRules()
TOP_UP = "https://top-up.example/member"
OPERATOR_PAGE = "https://operator.example/limit"


def hkd(minor: int) -> Money:
    return Money(minor, "HKD")


def standing(
    *,
    pool_total: int | None = 100 * GB,
    pool: Held = EMPTY,
    member_pool: Held = EMPTY,
    member_overage: Held = EMPTY,
    tethered: Held = EMPTY,
    family_money: int = 0,
    member_money: int = 0,
) -> Standing:
    """A Standing in HKD; by default a fresh 100 GB pool and nothing spent."""
    return Standing(
        pool_total=pool_total,
        pool=pool,
        member_pool=member_pool,
        member_overage=member_overage,
        member_tethered=tethered,
        family_overage_money=hkd(family_money),
        member_overage_money=hkd(member_money),
    )


EXHAUSTED = standing(pool=Held(used=100 * GB))
"""The home data pool fully used: everything further is overage."""


def same_plan(plan: Plan) -> Plan:
    return plan


def free_data_overage(plan: Plan) -> Plan:
    rates = dict(plan.overage)
    rates[(DATA, HOME)] = OverageRate(hkd(0), GB)
    return replace(plan, overage=rates)


def no_data_overage(plan: Plan) -> Plan:
    rates = {key: rate for key, rate in plan.overage.items() if key != (DATA, HOME)}
    return replace(plan, overage=rates)


def no_hotspot(plan: Plan) -> Plan:
    return replace(plan, hotspot=HotspotRule(allowed=False))


def no_sms_roaming(plan: Plan) -> Plan:
    allowances = {key: v for key, v in plan.allowances.items() if key != (SMS, GC)}
    rates = {key: rate for key, rate in plan.overage.items() if key != (SMS, GC)}
    return replace(plan, allowances=allowances, overage=rates)


def run(
    plan: Plan,
    request: GrantRequest,
    *,
    allocation: Allocation | None = None,
    family_cap: Money | None = None,
    at: Standing | None = None,
    rules: ChargingRules = RULES,
) -> Grant:
    return decide(
        request,
        plan=plan,
        allocation=allocation if allocation is not None else Allocation(),
        family_money_cap=family_cap,
        standing=at if at is not None else standing(),
        rules=rules,
    )


def assert_no_units(grant: Grant) -> None:
    assert (grant.units, grant.from_pool, grant.from_overage) == (0, 0, 0)
    assert grant.overage_price == hkd(0)
    assert not grant.granted


@pytest.fixture(scope="module")
def hk(sample_plans: list[Plan]) -> Plan:
    return next(p for p in sample_plans if p.code == "hk-family-5g-100")


# --- which bound binds ------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    request: GrantRequest
    units: int
    from_pool: int
    from_overage: int
    price_minor: int
    final: bool
    allocation: Allocation = field(default_factory=Allocation)
    family_cap: int | None = None
    at: Standing = field(default_factory=standing)
    plan: Callable[[Plan], Plan] = same_plan
    rules: ChargingRules = RULES


def data(
    requested: int | None = None, *, zone: Zone = HOME, tethered: bool = False
) -> GrantRequest:
    return GrantRequest(DATA, zone, tethered=tethered, requested=requested)


BOUND_CASES = [
    Case("quantum", data(), 10 * MB, 10 * MB, 0, 0, final=False),
    Case(
        "quantum-from-rules",
        data(),
        4096,
        4096,
        0,
        0,
        final=False,
        rules=ChargingRules(quanta={**DEFAULT_QUANTA, DATA: Quantum(4096, 60)}),
    ),
    Case("requested-unbounded", data(1234), 1234, 1234, 0, 0, final=False),
    Case(
        "requested-below-finite-limits",
        data(GB),
        GB,
        GB,
        0,
        0,
        final=False,
        family_cap=0,
    ),
    Case(
        "quota",
        data(3 * GB),
        GB,
        GB,
        0,
        0,
        final=True,
        allocation=Allocation(limits={(DATA, HOME): Limit(quota=5 * GB)}),
        family_cap=0,
        at=standing(member_pool=Held(used=4 * GB)),
    ),
    Case(
        "quota-then-overage",
        data(3 * GB),
        2 * GB,
        GB,
        GB,
        3000,
        final=True,
        allocation=Allocation(limits={(DATA, HOME): Limit(quota=5 * GB)}),
        family_cap=3000,
        at=standing(member_pool=Held(used=3 * GB, reserved=GB)),
    ),
    Case(
        "pool",
        data(GB),
        GB // 2,
        GB // 2,
        0,
        0,
        final=True,
        family_cap=0,
        at=standing(pool=Held(used=99 * GB, reserved=GB // 2)),
    ),
    Case(
        "pool-below-quota",
        data(GB),
        GB // 2,
        GB // 2,
        0,
        0,
        final=True,
        allocation=Allocation(limits={(DATA, HOME): Limit(quota=50 * GB)}),
        family_cap=0,
        at=standing(pool=Held(used=99 * GB + GB // 2)),
    ),
    Case(
        "hard-cap",
        data(2 * GB),
        GB,
        GB,
        0,
        0,
        final=True,
        allocation=Allocation(limits={(DATA, HOME): Limit(hard_cap=3 * GB)}),
        at=standing(member_pool=Held(used=GB), member_overage=Held(used=GB)),
    ),
    Case(
        "hard-cap-over-unbounded-overage",
        data(2 * GB),
        GB // 2,
        0,
        GB // 2,
        1500,
        final=True,
        allocation=Allocation(limits={(DATA, HOME): Limit(quota=GB, hard_cap=3 * GB)}),
        at=standing(
            pool=Held(used=100 * GB),
            member_pool=Held(used=GB),
            member_overage=Held(used=GB, reserved=GB // 2),
        ),
    ),
    Case(
        "hotspot-allocation",
        data(GB, tethered=True),
        GB // 2,
        GB // 2,
        0,
        0,
        final=True,
        allocation=Allocation(hotspot_quota=2 * GB),
        at=standing(tethered=Held(used=GB, reserved=GB // 2)),
    ),
    Case(
        "hotspot-plan-sub-quota-below-allocation",
        data(GB, tethered=True),
        100 * MB,
        100 * MB,
        0,
        0,
        final=True,
        allocation=Allocation(hotspot_quota=50 * GB),
        at=standing(tethered=Held(used=19 * GB, reserved=900 * MB)),
    ),
    Case(
        "hotspot-plan-sub-quota-alone",
        data(GB, tethered=True),
        GB // 2,
        GB // 2,
        0,
        0,
        final=True,
        at=standing(tethered=Held(used=19 * GB + GB // 2)),
    ),
    Case(
        "untethered-ignores-hotspot",
        data(GB),
        GB,
        GB,
        0,
        0,
        final=False,
        allocation=Allocation(hotspot_quota=GB // 2),
        at=standing(tethered=Held(used=30 * GB)),
    ),
    Case(
        "family-money-cap",
        data(GB),
        GB // 2,
        0,
        GB // 2,
        1500,
        final=True,
        family_cap=1500,
        at=EXHAUSTED,
    ),
    Case(
        "member-money-cap",
        data(GB),
        GB // 5,
        0,
        GB // 5,
        600,
        final=True,
        allocation=Allocation(money_cap=hkd(600)),
        at=EXHAUSTED,
    ),
    Case(
        "both-caps-family-binds",
        data(GB),
        3 * GB // 10,
        0,
        3 * GB // 10,
        900,
        final=True,
        allocation=Allocation(money_cap=hkd(2000)),
        family_cap=10_000,
        at=standing(pool=Held(used=100 * GB), family_money=9100, member_money=500),
    ),
    Case(
        "both-caps-member-binds",
        data(GB),
        GB // 10,
        0,
        GB // 10,
        300,
        final=True,
        allocation=Allocation(money_cap=hkd(2000)),
        family_cap=10_000,
        at=standing(pool=Held(used=100 * GB), family_money=1000, member_money=1700),
    ),
    Case(
        "money-cap-rounds-affordable-units-down",
        data(GB),
        333_333,
        0,
        333_333,
        1,
        final=True,
        family_cap=1,
        at=EXHAUSTED,
    ),
    Case(
        "money-cap-larger-than-request",
        data(GB),
        GB,
        GB // 2,
        GB // 2,
        1500,
        final=False,
        family_cap=3000,
        at=standing(pool=Held(used=99 * GB + GB // 2)),
    ),
    Case(
        "free-overage-is-unbounded-despite-zero-caps",
        data(5 * GB),
        5 * GB,
        0,
        5 * GB,
        0,
        final=False,
        allocation=Allocation(money_cap=hkd(0)),
        family_cap=0,
        at=EXHAUSTED,
        plan=free_data_overage,
    ),
    Case(
        "free-overage-after-the-pool",
        data(3 * GB),
        3 * GB,
        GB,
        2 * GB,
        0,
        final=False,
        family_cap=0,
        at=standing(pool=Held(used=99 * GB)),
        plan=free_data_overage,
    ),
    Case(
        "no-overage-rate-pool-binds-without-caps",
        data(3 * GB),
        GB,
        GB,
        0,
        0,
        final=True,
        at=standing(pool=Held(used=99 * GB)),
        plan=no_data_overage,
    ),
    Case(
        "no-overage-rate-voice-quota-on-unlimited-pool",
        GrantRequest(VOICE, HOME, requested=600),
        100,
        100,
        0,
        0,
        final=True,
        allocation=Allocation(limits={(VOICE, HOME): Limit(quota=600)}),
        at=standing(pool_total=None, pool=Held(used=10**7), member_pool=Held(used=500)),
    ),
    Case(
        "sms-pool-then-overage",
        GrantRequest(SMS, HOME, requested=5),
        5,
        2,
        3,
        150,
        final=False,
        at=standing(pool_total=500, pool=Held(used=490, reserved=8)),
    ),
    Case(
        "roaming-data-pool-then-priced-overage",
        data(2 * GB, zone=GC),
        2 * GB,
        GB,
        GB,
        6800,
        final=True,
        family_cap=6800,
        at=standing(pool_total=10 * GB, pool=Held(used=9 * GB)),
    ),
    Case(
        "roaming-voice-rounds-up",
        GrantRequest(VOICE, GC, requested=61),
        61,
        0,
        61,
        204,
        final=False,
        at=standing(pool_total=18_000, pool=Held(used=18_000)),
    ),
]


@pytest.mark.parametrize("case", BOUND_CASES, ids=[c.id for c in BOUND_CASES])
def test_the_least_bound_decides_the_grant(hk: Plan, case: Case) -> None:
    family_cap = None if case.family_cap is None else hkd(case.family_cap)
    grant = run(
        case.plan(hk),
        case.request,
        allocation=case.allocation,
        family_cap=family_cap,
        at=case.at,
        rules=case.rules,
    )
    assert grant.granted
    assert (grant.units, grant.from_pool, grant.from_overage) == (
        case.units,
        case.from_pool,
        case.from_overage,
    )
    assert grant.overage_price == hkd(case.price_minor)
    assert type(grant.overage_price.minor) is int
    assert (grant.final_action is not None) is case.final
    if case.final:
        assert grant.final_action is FinalUnitAction.TERMINATE  # the default exhaustion: block


@pytest.mark.parametrize(
    ("requested", "final"),
    [(GB - 1, False), (GB, True), (GB + 1, True)],
)
def test_final_action_exactly_when_the_grant_takes_all_that_is_left(
    hk: Plan, requested: int, final: bool
) -> None:
    grant = run(
        hk,
        data(requested),
        allocation=Allocation(limits={(DATA, HOME): Limit(quota=2 * GB)}),
        family_cap=hkd(0),
        at=standing(member_pool=Held(used=GB)),
    )
    assert grant.units == min(requested, GB)
    assert (grant.final_action is FinalUnitAction.TERMINATE) is final
    assert (grant.final_action is None) is not final


def test_validity_comes_from_the_resource_quantum(hk: Plan) -> None:
    rules = ChargingRules(quanta={**DEFAULT_QUANTA, VOICE: Quantum(120, 900)})
    voice = run(hk, GrantRequest(VOICE, HOME), at=standing(pool_total=None), rules=rules)
    assert (voice.units, voice.validity_seconds) == (120, 900)
    sms = run(hk, GrantRequest(SMS, HOME), at=standing(pool_total=500), rules=rules)
    assert (sms.units, sms.validity_seconds) == (1, 3600)


@pytest.mark.parametrize(("units", "seconds"), [(0, 60), (-1, 60), (10, 0), (10, -5)])
def test_quantum_needs_positive_units_and_validity(units: int, seconds: int) -> None:
    with pytest.raises(InvalidAmount):
        Quantum(units, seconds)


# --- the pool-then-overage split, priced exactly ----------------------------------------


@pytest.mark.parametrize(
    ("resource", "zone", "overage_units", "price_minor"),
    [
        (DATA, HOME, 1, 1),  # 0.000003 cents, rounded up to one cent
        (DATA, HOME, 333_333, 1),  # 0.9999990 cents
        (DATA, HOME, 333_334, 2),  # 1.000002 cents
        (DATA, HOME, GB, 3000),
        (DATA, HOME, GB + 1, 3001),
        (DATA, HOME, 7 * GB, 21_000),
        (DATA, GC, 1, 1),
        (DATA, GC, GB, 6800),
        (VOICE, GC, 1, 4),  # 3.33 cents -> 4
        (VOICE, GC, 60, 200),
        (VOICE, GC, 61, 204),
        (SMS, HOME, 3, 150),
        (SMS, GC, 2, 300),
    ],
)
def test_overage_price_is_exact_integer_minor_units(
    hk: Plan, resource: Resource, zone: Zone, overage_units: int, price_minor: int
) -> None:
    pool_left = 5  # a few units still in the pool: they come first, free
    total = 1000 * GB
    grant = run(
        hk,
        GrantRequest(resource, zone, requested=pool_left + overage_units),
        at=standing(pool_total=total, pool=Held(used=total - pool_left)),
    )
    assert (grant.from_pool, grant.from_overage) == (pool_left, overage_units)
    assert grant.units == grant.from_pool + grant.from_overage
    assert grant.overage_price == hkd(price_minor)
    assert grant.overage_price == hk.overage[(resource, zone)].charge(overage_units)
    assert type(grant.overage_price.minor) is int


def test_no_overage_while_the_pool_can_give(hk: Plan) -> None:
    grant = run(hk, data(3 * GB), family_cap=hkd(100_000), at=standing(pool=Held(used=90 * GB)))
    assert (grant.from_pool, grant.from_overage, grant.overage_price) == (3 * GB, 0, hkd(0))


def test_member_quota_used_up_makes_the_rest_overage_even_with_pool_left(hk: Plan) -> None:
    grant = run(
        hk,
        data(GB),
        allocation=Allocation(limits={(DATA, HOME): Limit(quota=2 * GB)}),
        at=standing(member_pool=Held(used=2 * GB), pool=Held(used=2 * GB)),
    )
    assert (grant.from_pool, grant.from_overage, grant.overage_price) == (0, GB, hkd(3000))


@pytest.mark.parametrize(
    ("money_left_minor", "units"),
    [(0, 0), (3, 0), (4, 1), (6, 1), (7, 2), (200, 60), (203, 60), (204, 61)],
)
def test_affordable_units_never_cost_more_than_the_money_left(
    hk: Plan, money_left_minor: int, units: int
) -> None:
    """Voice roaming: HKD 2.00 per 60 s, so a second costs 4 cents once rounded up."""
    grant = run(
        hk,
        GrantRequest(VOICE, GC, requested=1000),
        family_cap=hkd(money_left_minor + 500),
        at=standing(pool_total=18_000, pool=Held(used=18_000), family_money=500),
    )
    assert grant.units == units
    assert grant.overage_price.minor <= money_left_minor
    if units:
        assert grant.final_action is FinalUnitAction.TERMINATE
    else:
        assert grant.denial is Denial.LIMIT_REACHED


# --- unlimited pools ---------------------------------------------------------------------


def test_unlimited_pool_grants_what_is_asked_without_final_action(hk: Plan) -> None:
    unlimited = standing(pool_total=None, pool=Held(used=10**9, reserved=10**6))
    asked = run(hk, GrantRequest(VOICE, HOME, requested=100_000), at=unlimited)
    assert (asked.units, asked.from_pool, asked.from_overage) == (100_000, 100_000, 0)
    assert asked.final_action is None
    assert asked.redirect_url is None
    quantum = run(hk, GrantRequest(VOICE, HOME), at=unlimited)
    assert (quantum.units, quantum.final_action) == (300, None)


def test_unlimited_us_sms_pool(sample_plans: list[Plan]) -> None:
    us = next(p for p in sample_plans if p.code == "us-family-share-50")
    grant = decide(
        GrantRequest(SMS, HOME, requested=10_000),
        plan=us,
        allocation=Allocation(money_cap=Money(0, "USD")),
        family_money_cap=Money(0, "USD"),
        standing=Standing(
            None, Held(used=10**6), EMPTY, EMPTY, EMPTY, Money(0, "USD"), Money(0, "USD")
        ),
        rules=RULES,
    )
    assert (grant.units, grant.from_pool, grant.final_action) == (10_000, 10_000, None)
    assert grant.overage_price == Money(0, "USD")


def test_unlimited_pool_with_a_hard_cap_ends_at_the_cap(hk: Plan) -> None:
    grant = run(
        hk,
        GrantRequest(VOICE, HOME, requested=1000),
        allocation=Allocation(limits={(VOICE, HOME): Limit(hard_cap=3600)}),
        at=standing(pool_total=None, member_pool=Held(used=3000)),
    )
    assert (grant.units, grant.final_action) == (600, FinalUnitAction.TERMINATE)


# --- denials ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DenialCase:
    id: str
    request: GrantRequest
    reason: Denial
    allocation: Allocation = field(default_factory=Allocation)
    family_cap: int | None = None
    at: Standing = field(default_factory=standing)
    plan: Callable[[Plan], Plan] = same_plan


NO_ROAMING = Allocation(roaming_allowed=False)
NO_HOTSPOT = Allocation(hotspot_quota=0)

DENIAL_CASES = [
    DenialCase(
        "voice-on-data-only-line",
        GrantRequest(VOICE, HOME, requested=60, data_only_line=True),
        Denial.SERVICE_NOT_ON_LINE,
    ),
    DenialCase(
        "sms-on-data-only-line",
        GrantRequest(SMS, HOME, data_only_line=True),
        Denial.SERVICE_NOT_ON_LINE,
    ),
    DenialCase(
        "data-only-line-beats-every-other-denial",
        GrantRequest(SMS, EUROPE, data_only_line=True),
        Denial.SERVICE_NOT_ON_LINE,
        allocation=NO_ROAMING,
    ),
    DenialCase("unknown-zone", data(zone=EUROPE), Denial.ZONE_NOT_COVERED),
    DenialCase(
        "resource-not-covered-in-zone",
        GrantRequest(SMS, GC, requested=1),
        Denial.ZONE_NOT_COVERED,
        plan=no_sms_roaming,
    ),
    DenialCase(
        "zone-not-covered-before-roaming",
        data(zone=EUROPE),
        Denial.ZONE_NOT_COVERED,
        allocation=NO_ROAMING,
    ),
    DenialCase("roaming-switched-off", data(GB, zone=GC), Denial.ROAMING_NOT_ALLOWED, NO_ROAMING),
    DenialCase(
        "roaming-before-hotspot",
        data(GB, zone=GC, tethered=True),
        Denial.ROAMING_NOT_ALLOWED,
        allocation=Allocation(roaming_allowed=False, hotspot_quota=0),
    ),
    DenialCase(
        "plan-forbids-hotspot",
        data(GB, tethered=True),
        Denial.HOTSPOT_NOT_ALLOWED,
        plan=no_hotspot,
    ),
    DenialCase(
        "allocation-hotspot-zero", data(GB, tethered=True), Denial.HOTSPOT_NOT_ALLOWED, NO_HOTSPOT
    ),
    DenialCase(
        "hotspot-before-limit",
        data(GB, tethered=True),
        Denial.HOTSPOT_NOT_ALLOWED,
        allocation=NO_HOTSPOT,
        family_cap=0,
        at=EXHAUSTED,
    ),
    DenialCase(
        "pool-empty-no-money",
        data(GB),
        Denial.LIMIT_REACHED,
        family_cap=0,
        at=EXHAUSTED,
    ),
    DenialCase(
        "pool-empty-no-overage-rate",
        data(GB),
        Denial.LIMIT_REACHED,
        at=EXHAUSTED,
        plan=no_data_overage,
    ),
    DenialCase(
        "quota-used-no-money",
        data(),
        Denial.LIMIT_REACHED,
        allocation=Allocation(limits={(DATA, HOME): Limit(quota=GB)}, money_cap=hkd(0)),
        at=standing(member_pool=Held(used=GB // 2, reserved=GB // 2)),
    ),
    DenialCase(
        "hard-cap-reached-despite-free-overage",
        data(),
        Denial.LIMIT_REACHED,
        allocation=Allocation(limits={(DATA, HOME): Limit(hard_cap=GB)}),
        at=standing(member_pool=Held(used=GB // 2), member_overage=Held(reserved=GB // 2)),
        plan=free_data_overage,
    ),
    DenialCase(
        "hotspot-sub-quota-used",
        data(tethered=True),
        Denial.LIMIT_REACHED,
        at=standing(tethered=Held(used=20 * GB)),
    ),
    DenialCase(
        "plan-hotspot-sub-quota-zero",
        data(tethered=True),
        Denial.LIMIT_REACHED,
        plan=lambda p: replace(p, hotspot=HotspotRule(allowed=True, sub_quota=0)),
    ),
    DenialCase(
        "sms-pool-used-member-cap-zero",
        GrantRequest(SMS, HOME),
        Denial.LIMIT_REACHED,
        allocation=Allocation(money_cap=hkd(0)),
        at=standing(pool_total=500, pool=Held(used=499, reserved=1)),
    ),
    DenialCase(
        "money-left-buys-less-than-one-unit",
        GrantRequest(SMS, HOME),
        Denial.LIMIT_REACHED,
        family_cap=1049,
        at=standing(pool_total=500, pool=Held(used=500), family_money=1000),
    ),
    DenialCase(
        "family-spent-beyond-cap",
        data(GB),
        Denial.LIMIT_REACHED,
        family_cap=3000,
        at=standing(pool=Held(used=100 * GB), family_money=4500),
    ),
    DenialCase(
        "member-spent-beyond-cap",
        data(GB),
        Denial.LIMIT_REACHED,
        allocation=Allocation(money_cap=hkd(1000)),
        family_cap=1_000_000,
        at=standing(pool=Held(used=100 * GB), member_money=1200, family_money=1200),
    ),
    DenialCase(
        "pool-overdrawn-beyond-total",
        data(GB),
        Denial.LIMIT_REACHED,
        family_cap=0,
        at=standing(pool=Held(used=101 * GB, reserved=GB)),
    ),
]


@pytest.mark.parametrize("case", DENIAL_CASES, ids=[c.id for c in DENIAL_CASES])
def test_denials_grant_nothing_at_no_price(hk: Plan, case: DenialCase) -> None:
    family_cap = None if case.family_cap is None else hkd(case.family_cap)
    grant = run(
        case.plan(hk), case.request, allocation=case.allocation, family_cap=family_cap, at=case.at
    )
    assert grant.denial is case.reason
    assert_no_units(grant)
    assert grant.validity_seconds == DEFAULT_QUANTA[case.request.resource].validity_seconds
    if case.reason is Denial.LIMIT_REACHED:
        assert grant.final_action is FinalUnitAction.TERMINATE
    else:
        assert grant.final_action is None
        assert grant.redirect_url is None


def test_data_on_a_data_only_line_is_granted(hk: Plan) -> None:
    grant = run(hk, GrantRequest(DATA, HOME, requested=MB, data_only_line=True))
    assert (grant.granted, grant.units) == (True, MB)


def test_spent_beyond_cap_still_lets_the_pool_give(hk: Plan) -> None:
    grant = run(
        hk,
        data(GB),
        family_cap=hkd(3000),
        at=standing(pool=Held(used=100 * GB - MB), family_money=9000),
    )
    assert (grant.units, grant.from_pool, grant.from_overage) == (MB, MB, 0)
    assert grant.final_action is FinalUnitAction.TERMINATE


# --- final-unit actions and redirect URLs --------------------------------------------------


LAST_GB = standing(pool=Held(used=99 * GB))


@pytest.mark.parametrize(
    ("exhaustion", "action"),
    [
        (ExhaustionAction.BLOCK, FinalUnitAction.TERMINATE),
        (ExhaustionAction.THROTTLE, FinalUnitAction.RESTRICT_ACCESS),
        (ExhaustionAction.REDIRECT, FinalUnitAction.REDIRECT),
    ],
)
def test_exhaustion_maps_to_the_final_unit_action(
    hk: Plan, exhaustion: ExhaustionAction, action: FinalUnitAction
) -> None:
    assert FINAL_UNIT_ACTION[exhaustion] is action
    allocation = Allocation(exhaustion=exhaustion, money_cap=hkd(0))
    last = run(hk, data(2 * GB), allocation=allocation, at=LAST_GB)
    assert (last.units, last.final_action) == (GB, action)
    denied = run(hk, data(), allocation=allocation, at=EXHAUSTED)
    assert (denied.denial, denied.final_action) == (Denial.LIMIT_REACHED, action)
    more = run(hk, data(GB // 2), allocation=allocation, at=LAST_GB)
    assert (more.units, more.final_action, more.redirect_url) == (GB // 2, None, None)


@pytest.mark.parametrize(
    ("member_url", "default_url", "expected"),
    [
        (TOP_UP, OPERATOR_PAGE, TOP_UP),
        (TOP_UP, None, TOP_UP),
        (None, OPERATOR_PAGE, OPERATOR_PAGE),
        (None, None, None),
    ],
)
def test_redirect_url_falls_back_to_the_operator_default(
    hk: Plan, member_url: str | None, default_url: str | None, expected: str | None
) -> None:
    rules = ChargingRules(default_redirect_url=default_url)
    allocation = Allocation(
        exhaustion=ExhaustionAction.REDIRECT, redirect_url=member_url, money_cap=hkd(0)
    )
    last = run(hk, data(2 * GB), allocation=allocation, at=LAST_GB, rules=rules)
    assert (last.final_action, last.redirect_url) == (FinalUnitAction.REDIRECT, expected)
    denied = run(hk, data(), allocation=allocation, at=EXHAUSTED, rules=rules)
    assert (denied.final_action, denied.redirect_url) == (FinalUnitAction.REDIRECT, expected)


@pytest.mark.parametrize("exhaustion", [ExhaustionAction.BLOCK, ExhaustionAction.THROTTLE])
def test_no_redirect_url_unless_the_action_is_redirect(
    hk: Plan, exhaustion: ExhaustionAction
) -> None:
    rules = ChargingRules(default_redirect_url=OPERATOR_PAGE)
    allocation = Allocation(exhaustion=exhaustion, redirect_url=TOP_UP, money_cap=hkd(0))
    last = run(hk, data(2 * GB), allocation=allocation, at=LAST_GB, rules=rules)
    denied = run(hk, data(), allocation=allocation, at=EXHAUSTED, rules=rules)
    assert last.final_action is not None
    assert (last.redirect_url, denied.redirect_url) == (None, None)


def test_denials_other_than_limit_reached_carry_no_redirect(hk: Plan) -> None:
    rules = ChargingRules(default_redirect_url=OPERATOR_PAGE)
    allocation = Allocation(
        exhaustion=ExhaustionAction.REDIRECT, redirect_url=TOP_UP, roaming_allowed=False
    )
    grant = run(hk, data(zone=GC), allocation=allocation, rules=rules)
    assert grant.denial is Denial.ROAMING_NOT_ALLOWED
    assert (grant.final_action, grant.redirect_url) == (None, None)


# --- children --------------------------------------------------------------------------------


def test_child_default_allocation_blocks_roaming(hk: Plan) -> None:
    child = Allocation.default_for_child("HKD")
    assert (child.roaming_allowed, child.money_cap) == (False, hkd(0))
    grant = run(hk, data(MB, zone=GC), allocation=child, at=standing(pool_total=10 * GB))
    assert grant.denial is Denial.ROAMING_NOT_ALLOWED
    assert_no_units(grant)


def test_child_default_allocation_buys_no_overage(hk: Plan) -> None:
    child = Allocation.default_for_child("HKD")
    last = run(hk, data(2 * GB), allocation=child, at=LAST_GB)  # no family cap at all
    assert (last.units, last.from_overage, last.overage_price) == (GB, 0, hkd(0))
    assert last.final_action is FinalUnitAction.TERMINATE
    denied = run(hk, data(), allocation=child, at=EXHAUSTED)
    assert denied.denial is Denial.LIMIT_REACHED
    sms = run(
        hk,
        GrantRequest(SMS, HOME, requested=3),
        allocation=child,
        at=standing(pool_total=500, pool=Held(used=499)),
    )
    assert (sms.units, sms.from_overage, sms.final_action) == (1, 0, FinalUnitAction.TERMINATE)


def test_child_may_use_overage_the_plan_gives_free(hk: Plan) -> None:
    child = Allocation.default_for_child("HKD")
    grant = run(free_data_overage(hk), data(GB), allocation=child, at=EXHAUSTED)
    assert (grant.units, grant.from_overage, grant.overage_price) == (GB, GB, hkd(0))


# --- request validation ------------------------------------------------------------------------


@pytest.mark.parametrize("requested", [0, -1, -(10**9), 1.5, 10.0, True, False, "10"])
def test_request_refuses_non_positive_or_non_integer_units(requested: object) -> None:
    with pytest.raises(InvalidAmount):
        GrantRequest(DATA, HOME, requested=requested)  # type: ignore[arg-type]


@pytest.mark.parametrize("resource", [VOICE, SMS])
def test_only_data_can_be_tethered(resource: Resource) -> None:
    with pytest.raises(InvalidAmount):
        GrantRequest(resource, HOME, tethered=True)


def test_valid_requests() -> None:
    assert GrantRequest(DATA, HOME, tethered=True, requested=1).requested == 1
    assert GrantRequest(SMS, GC).requested is None


# --- known bug ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "family_cap", "pool"),
    [
        # 1 byte at HKD 30.00/GB costs 1 cent: the only cent left; 333,333 bytes were "available"
        (GrantRequest(DATA, HOME, requested=1), 1, Held(used=100 * GB)),
        # 1 s at HKD 2.00/min costs 4 cents of the 7 left; 3 cents buy no further second
        (GrantRequest(VOICE, GC, requested=1), 7, Held(used=18_000)),
    ],
    ids=["data-1-byte", "voice-1-second"],
)
def test_grant_that_spends_the_last_money_carries_the_final_action(
    hk: Plan, request_: GrantRequest, family_cap: int, pool: Held
) -> None:
    total = pool.used
    grant = run(hk, request_, family_cap=hkd(family_cap), at=standing(pool_total=total, pool=pool))
    assert grant.units == 1
    after = standing(
        pool_total=total,
        pool=pool,
        member_overage=Held(reserved=grant.from_overage),
        family_money=grant.overage_price.minor,
        member_money=grant.overage_price.minor,
    )
    following = run(hk, replace(request_, requested=None), family_cap=hkd(family_cap), at=after)
    assert following.denial is Denial.LIMIT_REACHED  # nothing was left after this grant...
    assert grant.final_action is FinalUnitAction.TERMINATE  # ...so it was the last one
