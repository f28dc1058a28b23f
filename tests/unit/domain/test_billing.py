"""Rating a closed cycle and splitting its bill: every figure checked to the minor unit."""

from __future__ import annotations

from datetime import date

import pytest

from famsim.adapters.catalog import load_catalog, sample_catalog_path
from famsim.domain.billing.rating import (
    BillableSim,
    ChargeKind,
    CycleFacts,
    OverageUse,
    rate,
)
from famsim.domain.billing.split import SplitPolicy, SplitRule, apportion, split
from famsim.domain.errors import InvalidAmount
from famsim.domain.money import Money
from famsim.domain.plan import DeviceKind, Plan
from famsim.domain.units import HOME, Resource, Zone

GB = 10**9
START, END = date(2026, 11, 1), date(2026, 12, 1)  # 30 days
OWNER, ADULT, CHILD = "owner", "adult", "child"
CHINA = Zone("greater-china")


@pytest.fixture(scope="module")
def hk() -> Plan:
    return next(p for p in load_catalog(sample_catalog_path()) if p.code == "hk-family-5g-100")


def facts(plan: Plan, **changes: object) -> CycleFacts:
    base: dict[str, object] = {
        "family_id": "f1",
        "cycle_number": 1,
        "start": START,
        "end": END,
        "plan": plan,
        "members": (OWNER, ADULT, CHILD),
    }
    return CycleFacts(**(base | changes))  # type: ignore[arg-type]


def test_a_quiet_cycle_is_the_plan_and_management_fees(hk: Plan) -> None:
    rated = rate(facts(hk))
    assert [(c.kind, c.minor) for c in rated.charges] == [
        (ChargeKind.PLAN_FEE, 39_800),
        (ChargeKind.MANAGEMENT_FEE, 2_000),
    ]
    assert (rated.subtotal, rated.tax, rated.total) == (41_800, 0, 41_800)


def test_line_fees_by_device_kind_and_days_in_service(hk: Plan) -> None:
    sims = [
        BillableSim(OWNER, "+85291230001", DeviceKind.PHONE, date(2026, 10, 3)),
        BillableSim(CHILD, "+85294560004", DeviceKind.WATCH, date(2026, 10, 3)),
        # joined on the 21st: 10 of 30 days of HK$58.00 = 19.333... -> 19.33
        BillableSim(ADULT, "+85261230002", DeviceKind.TABLET, date(2026, 11, 21)),
        # closed on the 16th: 15 of 30 days of HK$88.00 = 44.00
        BillableSim(ADULT, "+85261230009", DeviceKind.PHONE, START, date(2026, 11, 16)),
        # gone before the cycle: nothing
        BillableSim(ADULT, "+85261230010", DeviceKind.PHONE, date(2026, 9, 1), START),
    ]
    rated = rate(facts(hk, sims=sims))
    lines = [
        (c.member_id, c.detail["msisdn"], c.minor)
        for c in rated.charges
        if c.kind is ChargeKind.LINE_FEE
    ]
    assert lines == [
        (OWNER, "+85291230001", 8_800),
        (ADULT, "+85261230002", 1_933),
        (ADULT, "+85261230009", 4_400),
        (CHILD, "+85294560004", 3_800),
    ]
    assert rated.total == 41_800 + 8_800 + 1_933 + 4_400 + 3_800


def test_proration_rounds_half_up() -> None:
    from famsim.domain.billing.rating import _half_up

    assert (_half_up(5, 2), _half_up(7, 3), _half_up(8, 3), _half_up(0, 7)) == (3, 2, 3, 0)


def test_overage_home_and_roaming_priced_once_per_zone(hk: Plan) -> None:
    overage = [
        # 1.5 GB at HK$30.00 per GB = 45.00, from two records of the same zone
        OverageUse(ADULT, Resource.DATA, HOME, GB),
        OverageUse(ADULT, Resource.DATA, HOME, GB // 2),
        # 1 byte over in China is a whole minor unit: 68.00 per GB rounded up -> 0.01
        OverageUse(CHILD, Resource.DATA, CHINA, 1),
        # 90 s of voice in China at 2.00 a minute = 3.00
        OverageUse(CHILD, Resource.VOICE, CHINA, 90),
    ]
    rated = rate(facts(hk, overage=overage))
    got = [
        (c.kind, c.member_id, c.detail["resource"], c.minor) for c in rated.charges if c.member_id
    ]
    assert got == [
        (ChargeKind.OVERAGE, ADULT, "data", 4_500),
        (ChargeKind.ROAMING, CHILD, "data", 1),
        (ChargeKind.ROAMING, CHILD, "voice", 300),
    ]


def test_money_caps_credit_what_overshoot_went_beyond(hk: Plan) -> None:
    overage = [
        OverageUse(ADULT, Resource.DATA, HOME, 4 * GB),  # 120.00, capped at 50.00
        OverageUse(CHILD, Resource.DATA, HOME, 2 * GB),  # 60.00, no member cap
    ]
    rated = rate(
        facts(
            hk,
            overage=overage,
            member_caps={ADULT: Money(5_000, "HKD")},
            family_cap=Money(10_000, "HKD"),
        )
    )
    credits = [(c.member_id, c.minor) for c in rated.charges if c.kind is ChargeKind.CAP_CREDIT]
    assert credits == [(ADULT, -7_000), (None, -1_000)]  # 50 + 60 = 110 > 100: 10 more
    overage_paid = sum(
        c.minor
        for c in rated.charges
        if c.kind in (ChargeKind.OVERAGE, ChargeKind.ROAMING, ChargeKind.CAP_CREDIT)
    )
    assert overage_paid == 10_000
    assert rated.own_charges(ADULT) == 5_000


def test_tax_on_the_subtotal_rounded_half_up(hk: Plan) -> None:
    rated = rate(facts(hk, tax_basis_points=725))  # 7.25 % of 418.00 = 30.305 -> 30.31
    assert rated.tax == 3_031
    assert rated.charges[-1].kind is ChargeKind.TAX
    assert rated.total == 41_800 + 3_031


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"end": START}, "end after it starts"),
        ({"tax_basis_points": 10_001}, "basis points"),
        ({"overage": [OverageUse("stranger", Resource.DATA, HOME, 1)]}, "not in the family"),
        ({"overage": [OverageUse(ADULT, Resource.DATA, HOME, -1)]}, "negative"),
    ],
    ids=["empty-cycle", "tax-over-100", "stranger", "negative-units"],
)
def test_impossible_facts_are_refused(hk: Plan, changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidAmount, match=message):
        rate(facts(hk, **changes))


# ------------------------------------------------------------------------------ split
MEMBERS = (OWNER, ADULT, CHILD)


def test_the_owner_pays_all() -> None:
    assert split(10_001, MEMBERS, OWNER, SplitPolicy()) == {OWNER: 10_001, ADULT: 0, CHILD: 0}


def test_equal_shares_give_the_odd_minor_units_to_the_first_members() -> None:
    assert split(10_001, MEMBERS, OWNER, SplitPolicy(SplitRule.EQUAL)) == {
        OWNER: 3_334,
        ADULT: 3_334,
        CHILD: 3_333,
    }


def test_shares_by_usage_follow_each_members_own_charges() -> None:
    shares = split(
        60_000, MEMBERS, OWNER, SplitPolicy(SplitRule.BY_USAGE), {OWNER: 1, ADULT: 2, CHILD: 0}
    )
    assert shares == {OWNER: 20_000, ADULT: 40_000, CHILD: 0}
    nobody = split(3, MEMBERS, OWNER, SplitPolicy(SplitRule.BY_USAGE), {})
    assert nobody == {OWNER: 1, ADULT: 1, CHILD: 1}


def test_custom_percentages() -> None:
    policy = SplitPolicy(SplitRule.CUSTOM, {OWNER: 5_000, ADULT: 3_333, CHILD: 1_667})
    assert split(100, MEMBERS, OWNER, policy) == {OWNER: 50, ADULT: 33, CHILD: 17}


@pytest.mark.parametrize(
    ("rule", "custom", "message"),
    [
        (SplitRule.CUSTOM, {OWNER: 5_000}, "add up to 100"),
        (SplitRule.CUSTOM, None, "each member"),
        (SplitRule.CUSTOM, {OWNER: 12_000, ADULT: -2_000}, "negative"),
        (SplitRule.EQUAL, {OWNER: 10_000}, "only for a custom split"),
    ],
    ids=["not-100", "none", "negative", "not-custom"],
)
def test_bad_policies_are_refused(
    rule: SplitRule, custom: dict[str, int] | None, message: str
) -> None:
    with pytest.raises(InvalidAmount, match=message):
        SplitPolicy(rule, custom)


def test_a_credit_is_split_with_its_sign() -> None:
    assert apportion(-5, [1, 1]) == [-3, -2]
