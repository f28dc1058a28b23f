"""Plans: zones, coverage, allowances, overage pricing and the checks made at construction."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from famsim.domain.errors import InvalidAmount, InvalidInput
from famsim.domain.money import Money
from famsim.domain.plan import (
    DeviceKind,
    HotspotRule,
    InvalidPlan,
    OverageRate,
    Plan,
    RoamingZone,
)
from famsim.domain.units import HOME, Resource, Zone

pytestmark = pytest.mark.unit

DATA, VOICE, SMS = Resource.DATA, Resource.VOICE, Resource.SMS
GC = Zone("greater-china")
WORLD = Zone("world")
GB = 10**9


def hkd(text: str) -> Money:
    return Money.parse(text, "HKD")


def make_plan(**overrides: Any) -> Plan:
    """A small valid HKD plan; keyword arguments replace any field."""
    fields: dict[str, Any] = {
        "code": "test-plan",
        "name": "Test plan",
        "currency": "HKD",
        "home_mccs": frozenset({"454"}),
        "monthly_fee": hkd("100.00"),
        "management_fee": hkd("0.00"),
        "line_fees": {kind: hkd("10.00") for kind in DeviceKind},
        "allowances": {(DATA, HOME): 10 * GB, (VOICE, HOME): None, (DATA, GC): GB},
        "overage": {
            (DATA, HOME): OverageRate(hkd("30.00"), GB),
            (DATA, WORLD): OverageRate(hkd("100.00"), GB),
        },
        "roaming_zones": (
            RoamingZone(GC, frozenset({"460", "461"})),
            RoamingZone(WORLD, frozenset({"262", "234"})),
        ),
    }
    fields.update(overrides)
    return Plan(**fields)


@pytest.fixture
def hk(sample_plans: list[Plan]) -> Plan:
    return next(p for p in sample_plans if p.code == "hk-family-5g-100")


# --- the sample catalog --------------------------------------------------------------


def test_sample_catalog_has_three_plans_in_three_currencies(sample_plans: list[Plan]) -> None:
    assert {p.code: p.currency for p in sample_plans} == {
        "hk-family-5g-100": "HKD",
        "ru-semya-40": "RUB",
        "us-family-share-50": "USD",
    }


def test_hk_sample_plan_facts(hk: Plan) -> None:
    assert hk.monthly_fee == Money(39800, "HKD")
    assert hk.management_fee == Money(2000, "HKD")
    assert hk.line_fee(DeviceKind.PHONE) == Money(8800, "HKD")
    assert hk.line_fee(DeviceKind.WATCH) == Money(3800, "HKD")
    assert (hk.max_members, hk.max_lines) == (5, 8)
    assert hk.hotspot == HotspotRule(allowed=True, sub_quota=20 * GB)
    assert hk.zones == (HOME, GC)


@pytest.mark.parametrize(
    ("mcc", "zone"),
    [("454", HOME), ("460", GC), ("461", GC), ("455", GC), ("466", GC), ("262", None)],
)
def test_zone_for_mcc_on_hk_plan(hk: Plan, mcc: str, zone: Zone | None) -> None:
    assert hk.zone_for_mcc(mcc) == zone


def test_hk_allowances(hk: Plan) -> None:
    assert hk.allowance(DATA, HOME) == 100 * GB
    assert hk.allowance(VOICE, HOME) is None  # unlimited
    assert hk.allowance(SMS, HOME) == 500
    assert hk.allowance(DATA, GC) == 10 * GB
    assert hk.allowance(VOICE, GC) == 300 * 60
    assert hk.allowance(SMS, GC) == 100
    assert all(hk.covers(r, z) for r in Resource for z in hk.zones)
    assert not hk.covers(DATA, Zone("europe"))
    assert hk.allowance(DATA, Zone("europe")) == 0


def test_hk_overage_rounds_up_to_the_next_cent(hk: Plan) -> None:
    data_home = hk.overage[(DATA, HOME)]
    assert data_home == OverageRate(Money(3000, "HKD"), GB)
    assert data_home.charge(1) == Money(1, "HKD")
    assert data_home.charge(GB) == Money(3000, "HKD")
    assert hk.overage[(VOICE, GC)].charge(1) == Money(4, "HKD")  # 2.00 per 60 s -> 3.33.. -> 4


def test_other_sample_plans(sample_plans: list[Plan]) -> None:
    ru = next(p for p in sample_plans if p.code == "ru-semya-40")
    us = next(p for p in sample_plans if p.code == "us-family-share-50")
    assert ru.zone_for_mcc("250") == HOME
    assert ru.zone_for_mcc("257") == Zone("cis")
    assert ru.zone_for_mcc("454") is None
    assert us.zone_for_mcc("311") == HOME
    assert us.zone_for_mcc("302") == Zone("canada-mexico")
    assert us.allowance(SMS, HOME) is None
    assert us.covers(SMS, HOME)
    assert not us.covers(SMS, Zone("europe"))


# --- zones and coverage on a plan built directly -------------------------------------


def test_zones_are_home_first_then_catalog_order() -> None:
    assert make_plan().zones == (HOME, GC, WORLD)


@pytest.mark.parametrize(
    ("mcc", "zone"),
    [("454", HOME), ("460", GC), ("461", GC), ("262", WORLD), ("234", WORLD), ("310", None)],
)
def test_zone_for_mcc_direct(mcc: str, zone: Zone | None) -> None:
    assert make_plan().zone_for_mcc(mcc) == zone


def test_covers_and_allowance() -> None:
    plan = make_plan()
    # In allowances: covered, with its amount (None = unlimited).
    assert plan.covers(DATA, HOME)
    assert plan.allowance(DATA, HOME) == 10 * GB
    assert plan.covers(VOICE, HOME)
    assert plan.allowance(VOICE, HOME) is None
    # Overage only: covered, pay as you go, so the pool is 0.
    assert plan.covers(DATA, WORLD)
    assert plan.allowance(DATA, WORLD) == 0
    # Neither: not covered at all.
    assert not plan.covers(SMS, HOME)
    assert plan.allowance(SMS, HOME) == 0
    assert not plan.covers(VOICE, GC)


def test_zero_allowance_is_covered() -> None:
    plan = make_plan(allowances={(DATA, HOME): 0})
    assert plan.covers(DATA, HOME)
    assert plan.allowance(DATA, HOME) == 0


def test_plan_is_immutable() -> None:
    plan = make_plan()
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.max_members = 9  # type: ignore[misc]


def test_replace_builds_a_checked_copy() -> None:
    plan = dataclasses.replace(make_plan(), code="test-plan-2", max_members=3)
    assert (plan.code, plan.max_members) == ("test-plan-2", 3)
    with pytest.raises(InvalidPlan):
        dataclasses.replace(plan, max_members=0)


# --- overage rates -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "per", "units", "minor"),
    [
        ("30.00", GB, 0, 0),
        ("30.00", GB, 1, 1),  # 3000 / 10^9 of a cent, rounded up to one cent
        ("30.00", GB, GB - 1, 3000),
        ("30.00", GB, GB, 3000),
        ("30.00", GB, GB + 1, 3001),
        ("30.00", GB, 2 * GB, 6000),
        ("30.00", GB, 1_500_000_000, 4500),
        ("2.00", 60, 1, 4),
        ("2.00", 60, 30, 100),
        ("2.00", 60, 61, 204),
        ("0.50", 1, 3, 150),
        ("0.00", GB, 5 * GB, 0),
    ],
)
def test_charge_rounds_up_to_the_next_minor_unit(
    price: str, per: int, units: int, minor: int
) -> None:
    assert OverageRate(hkd(price), per).charge(units) == Money(minor, "HKD")


def test_charge_is_exact_for_huge_usage() -> None:
    """Integer arithmetic: no float would get 10^18 bytes at 30.00/GB exactly right + 1 cent."""
    rate = OverageRate(hkd("30.00"), GB)
    assert rate.charge(10**18 + 1) == Money(3000 * 10**9 + 1, "HKD")


def test_charge_in_zero_decimal_currency() -> None:
    rate = OverageRate(Money.parse("100", "JPY"), GB)
    assert rate.charge(1) == Money(1, "JPY")
    assert rate.charge(GB // 2) == Money(50, "JPY")


@given(
    price=st.integers(min_value=0, max_value=10**6),
    per=st.integers(min_value=1, max_value=10**12),
    units=st.integers(min_value=0, max_value=10**15),
)
def test_charge_is_the_ceiling(price: int, per: int, units: int) -> None:
    charged = OverageRate(Money(price, "HKD"), per).charge(units).minor
    assert charged * per >= units * price
    assert (charged - 1) * per < units * price or charged == 0


def test_affordable_units() -> None:
    rate = OverageRate(hkd("30.00"), GB)
    assert rate.affordable_units(hkd("30.00")) == GB
    assert rate.affordable_units(hkd("0.01")) == GB // 3000
    assert rate.affordable_units(hkd("0.00")) == 0
    assert rate.affordable_units(hkd("-5.00")) == 0
    assert OverageRate(hkd("2.00"), 60).affordable_units(hkd("1.00")) == 30


@given(
    price=st.integers(min_value=1, max_value=10**6),
    per=st.integers(min_value=1, max_value=10**12),
    budget=st.integers(min_value=0, max_value=10**9),
)
def test_affordable_units_stay_within_the_budget(price: int, per: int, budget: int) -> None:
    rate = OverageRate(Money(price, "HKD"), per)
    units = rate.affordable_units(Money(budget, "HKD"))
    assert rate.charge(units).minor <= budget
    assert rate.charge(units + 1).minor > budget


def test_free_rate_has_no_affordable_limit() -> None:
    with pytest.raises(InvalidAmount, match="free"):
        OverageRate(hkd("0.00"), GB).affordable_units(hkd("10.00"))


def test_affordable_units_refuses_a_budget_in_another_currency() -> None:
    with pytest.raises(InvalidAmount):
        OverageRate(hkd("30.00"), GB).affordable_units(Money(100, "USD"))


@pytest.mark.parametrize("per", [0, -1])
def test_overage_per_must_be_positive(per: int) -> None:
    with pytest.raises(InvalidAmount, match="positive"):
        OverageRate(hkd("1.00"), per)


def test_overage_price_cannot_be_negative() -> None:
    with pytest.raises(InvalidAmount, match="negative"):
        OverageRate(hkd("-1.00"), GB)


# --- hotspot and roaming zones -------------------------------------------------------


def test_hotspot_rule() -> None:
    assert HotspotRule(allowed=True).sub_quota is None
    assert HotspotRule(allowed=False, sub_quota=0).sub_quota == 0
    with pytest.raises(InvalidPlan, match="negative"):
        HotspotRule(allowed=True, sub_quota=-1)
    with pytest.raises(InvalidPlan, match="not allowed"):
        HotspotRule(allowed=False, sub_quota=GB)


@pytest.mark.parametrize(
    ("name", "mccs", "message"),
    [
        (HOME, frozenset({"460"}), "home"),
        (GC, frozenset(), "no MCC"),
        (GC, frozenset({"46"}), "3 digits"),
        (GC, frozenset({"4600"}), "3 digits"),
        (GC, frozenset({"46a"}), "3 digits"),
    ],
)
def test_bad_roaming_zone(name: Zone, mccs: frozenset[str], message: str) -> None:
    with pytest.raises(InvalidPlan, match=message):
        RoamingZone(name, mccs)


def test_invalid_plan_is_an_invalid_input() -> None:
    assert issubclass(InvalidPlan, InvalidInput)


# --- InvalidPlan cases ---------------------------------------------------------------


def test_direct_plan_is_valid() -> None:
    plan = make_plan()
    assert plan.code == "test-plan"
    assert plan.line_fee(DeviceKind.TABLET) == hkd("10.00")


@pytest.mark.parametrize(
    "overrides",
    [
        {"monthly_fee": Money(100, "USD")},
        {"management_fee": Money(100, "USD")},
        {"line_fees": {**{k: hkd("1.00") for k in DeviceKind}, DeviceKind.WATCH: Money(1, "USD")}},
        {"overage": {(DATA, HOME): OverageRate(Money(3000, "USD"), GB)}},
        {"currency": "USD"},
    ],
)
def test_mixed_currency_is_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidPlan, match="is in"):
        make_plan(**overrides)


def test_negative_price_is_refused() -> None:
    with pytest.raises(InvalidPlan, match="negative price"):
        make_plan(monthly_fee=hkd("-1.00"))


def test_mcc_in_two_roaming_zones_is_refused() -> None:
    zones = (RoamingZone(GC, frozenset({"460"})), RoamingZone(WORLD, frozenset({"460", "262"})))
    with pytest.raises(InvalidPlan, match="MCC 460 is in both"):
        make_plan(roaming_zones=zones, overage={})


def test_home_mcc_in_a_roaming_zone_is_refused() -> None:
    zones = (RoamingZone(GC, frozenset({"454", "460"})), RoamingZone(WORLD, frozenset({"262"})))
    with pytest.raises(InvalidPlan, match="MCC 454 is in both 'home'"):
        make_plan(roaming_zones=zones)


def test_zone_named_home_is_refused() -> None:
    with pytest.raises(InvalidPlan, match="home"):
        make_plan(roaming_zones=(RoamingZone(HOME, frozenset({"460"})),))


def test_zone_defined_twice_is_refused() -> None:
    zones = (
        RoamingZone(GC, frozenset({"460"})),
        RoamingZone(GC, frozenset({"461"})),
        RoamingZone(WORLD, frozenset({"262"})),
    )
    with pytest.raises(InvalidPlan, match="defined twice"):
        make_plan(roaming_zones=zones)


def test_allowance_for_an_unknown_zone_is_refused() -> None:
    with pytest.raises(InvalidPlan, match="allowance for unknown zone 'europe'"):
        make_plan(allowances={(DATA, HOME): GB, (DATA, Zone("europe")): GB})


def test_overage_for_an_unknown_zone_is_refused() -> None:
    with pytest.raises(InvalidPlan, match="overage rate for unknown zone 'europe'"):
        make_plan(overage={(DATA, Zone("europe")): OverageRate(hkd("1.00"), GB)})


def test_negative_allowance_is_refused() -> None:
    with pytest.raises(InvalidPlan, match="negative"):
        make_plan(allowances={(DATA, HOME): -1})


@pytest.mark.parametrize("missing", list(DeviceKind))
def test_missing_line_fee_is_refused(missing: DeviceKind) -> None:
    fees = {kind: hkd("10.00") for kind in DeviceKind if kind is not missing}
    with pytest.raises(InvalidPlan, match=f"line fee missing for {missing.value}"):
        make_plan(line_fees=fees)


@pytest.mark.parametrize(
    "code", ["", "HK-plan", "-plan", ".plan", "plan code", "plan/1", "p" * 65, "plän"]
)
def test_bad_code_is_refused(code: str) -> None:
    with pytest.raises(InvalidPlan, match="plan code"):
        make_plan(code=code)


@pytest.mark.parametrize("code", ["a", "hk-family-5g-100", "plan_2.0", "9lives", "p" * 64])
def test_good_codes(code: str) -> None:
    assert make_plan(code=code).code == code


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidPlan, match="no name"):
        make_plan(name=name)


@pytest.mark.parametrize("home", [frozenset(), frozenset({"45"}), frozenset({"454", "x54"})])
def test_bad_home_mccs_are_refused(home: frozenset[str]) -> None:
    with pytest.raises(InvalidPlan):
        make_plan(home_mccs=home)


@pytest.mark.parametrize(("members", "lines"), [(0, 10), (5, 0), (-1, 1)])
def test_limits_must_be_at_least_one(members: int, lines: int) -> None:
    with pytest.raises(InvalidPlan, match=">= 1"):
        make_plan(max_members=members, max_lines=lines)


@pytest.mark.parametrize(
    "overrides",
    [
        {"code": "hk\n"},
        {"home_mccs": frozenset({"454\n"})},
    ],
)
def test_trailing_newline_is_refused_in_codes_and_mccs(overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidPlan):
        make_plan(**overrides)


def test_trailing_newline_is_refused_in_a_roaming_zone_mcc() -> None:
    with pytest.raises(InvalidPlan, match="not 3 digits"):
        RoamingZone(GC, frozenset({"460\n"}))


# --- child safety: emergency numbers and time zone -----------------------------------


def test_sample_plans_carry_their_markets_emergency_numbers_and_time_zone(
    sample_plans: list[Plan],
) -> None:
    found = {p.code: (p.time_zone, p.emergency_numbers) for p in sample_plans}
    assert found == {
        "hk-family-5g-100": ("Asia/Hong_Kong", {"999", "112"}),
        "ru-semya-40": ("Europe/Moscow", {"112", "101", "102", "103", "104"}),
        "us-family-share-50": ("America/New_York", {"911", "112"}),
    }


def test_plan_defaults_no_emergency_numbers_and_utc() -> None:
    plan = make_plan()
    assert (plan.emergency_numbers, plan.time_zone) == (frozenset(), "UTC")


def test_emergency_numbers_are_stored_canonical() -> None:
    plan = make_plan(emergency_numbers=frozenset({"9 9 9", "+852 2527 7177"}))
    assert plan.emergency_numbers == {"999", "+85225277177"}


def test_bad_emergency_number_or_time_zone_is_refused() -> None:
    with pytest.raises(InvalidPlan, match=r"'test-plan'.*'9'"):
        make_plan(emergency_numbers=frozenset({"9"}))
    with pytest.raises(InvalidInput, match="unknown time zone 'Hong Kong'"):
        make_plan(time_zone="Hong Kong")
