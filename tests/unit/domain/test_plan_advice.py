"""Plan advice (``famsim.domain.billing.advice``): every figure checked to the minor unit on
the sample HK plan and test plans built beside it, plus properties (the advised plan never
costs more than the current one; advising is deterministic; a cycle priced by advice is
what rating charges for the same facts)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from famsim.adapters.catalog import load_catalog, sample_catalog_path
from famsim.domain.billing.advice import CycleUse, advise, cost_on, refusal
from famsim.domain.billing.rating import BillableSim, CycleFacts, OverageUse, rate
from famsim.domain.errors import InvalidAmount, InvalidInput
from famsim.domain.money import Money
from famsim.domain.plan import DeviceKind, HotspotRule, OverageRate, Plan, RoamingZone
from famsim.domain.units import HOME, Resource, Zone

pytestmark = pytest.mark.unit

GB = 10**9
MINUTE = 60
CHINA = Zone("greater-china")
DATA, VOICE, SMS = Resource.DATA, Resource.VOICE, Resource.SMS
CATALOG = load_catalog(sample_catalog_path())
HK = next(p for p in CATALOG if p.code == "hk-family-5g-100")
RU = next(p for p in CATALOG if p.code == "ru-semya-40")
CHINA_MCCS = frozenset({"460", "461", "455", "466"})
# The demo family's SIMs: four phones, a watch, a tablet (on five lines, four members).
DEMO_SIMS = {DeviceKind.PHONE: 4, DeviceKind.WATCH: 1, DeviceKind.TABLET: 1}
# HK$: 398.00 + 20.00 + 4 x 88.00 + 38.00 + 58.00
HK_FEES = 39_800 + 2_000 + 4 * 8_800 + 3_800 + 5_800
assert HK_FEES == 86_600
LINE_FEES = 4 * 8_800 + 3_800 + 5_800  # 44,800: the test plans keep the HK line fees


def hkd(minor: int) -> Money:
    return Money(minor, "HKD")


def variant(code: str, **changes: object) -> Plan:
    """The sample HK plan with another code and the given changes."""
    return replace(HK, code=code, name=code, **changes)  # type: ignore[arg-type]


def with_data(pool: int | None, zone: Zone = HOME, plan: Plan = HK) -> dict[object, object]:
    return {**plan.allowances, (DATA, zone): pool}


# A 30 GB plan for HK$298.00: cheaper for a light family, dearer for a heavy one.
HK30 = variant("hk-family-5g-30", monthly_fee=hkd(29_800), allowances=with_data(30 * GB))
HK30_FEES = 29_800 + 2_000 + LINE_FEES  # 76,600
# Unlimited home data for HK$498.00.
HK_UNLIMITED = variant("hk-unlimited", monthly_fee=hkd(49_800), allowances=with_data(None))
# Home only (no roaming at all) for HK$198.00.
HOME_ONLY = variant(
    "hk-home-only",
    monthly_fee=hkd(19_800),
    roaming_zones=(),
    allowances={k: v for k, v in HK.allowances.items() if k[1] == HOME},
    overage={k: v for k, v in HK.overage.items() if k[1] == HOME},
)
HOME_ONLY_FEES = 19_800 + 2_000 + LINE_FEES


def use(
    usage: dict[tuple[Resource, Zone], int] | None = None,
    *,
    number: int = 1,
    members: int = 4,
    lines: int = 5,
    sims: dict[DeviceKind, int] | None = None,
    **changes: object,
) -> CycleUse:
    base: dict[str, object] = {
        "number": number,
        "plan_code": HK.code,
        "currency": "HKD",
        "days": 30,
        "usage": usage or {},
        "sims": DEMO_SIMS if sims is None else sims,
        "members": members,
        "lines": lines,
    }
    return CycleUse(**(base | changes))  # type: ignore[arg-type]


LIGHT = {(DATA, HOME): 20 * GB, (VOICE, HOME): 500 * MINUTE, (SMS, HOME): 40}


# ================================================================================ cost_on
def test_a_cycle_within_the_pools_costs_the_fees() -> None:
    assert cost_on(HK, use(LIGHT)) == HK_FEES
    assert cost_on(HK30, use(LIGHT)) == HK30_FEES == 76_600


def test_usage_beyond_the_pool_is_priced_with_the_overage_rate() -> None:
    # 40 GB on the 30 GB plan: 10 GB at HK$30.00 a GB
    assert cost_on(HK30, use({(DATA, HOME): 40 * GB})) == HK30_FEES + 30_000
    # roaming: 12 GB of 10 GB in greater-china at HK$68.00; 320 of 300 min at HK$2.00;
    # 101 of 100 SMS at HK$1.50
    roaming = {(DATA, CHINA): 12 * GB, (VOICE, CHINA): 320 * MINUTE, (SMS, CHINA): 101}
    assert cost_on(HK, use(roaming)) == HK_FEES + 13_600 + 4_000 + 150


def test_overage_is_rounded_up_once_per_zone() -> None:
    # one byte beyond 30 GB: HK$30.00 x 1 / 10^9 rounds up to one cent
    assert cost_on(HK30, use({(DATA, HOME): 30 * GB + 1})) == HK30_FEES + 1
    # 6,666,666 bytes: 19.999998 cents -> 20
    assert cost_on(HK30, use({(DATA, HOME): 30 * GB + 6_666_666})) == HK30_FEES + 20


def test_tax_is_the_subtotals_basis_points_rounded_half_up() -> None:
    cycle = use({(DATA, HOME): 30 * GB + 6_666_666})  # subtotal 76,620
    # 2.5 %: 1,915.5 -> 1,916
    assert cost_on(HK30, cycle, 250) == 76_620 + 1_916
    # 20 %: 15,324
    assert cost_on(HK30, cycle, 2_000) == 76_620 + 15_324
    with pytest.raises(InvalidAmount):
        cost_on(HK30, cycle, 10_001)


def test_a_zone_with_no_charged_units_needs_no_cover() -> None:
    # an emergency call while roaming is free: the use has no charged units there
    assert cost_on(HOME_ONLY, use({(DATA, HOME): GB, (VOICE, CHINA): 0})) == HOME_ONLY_FEES


def test_an_unlimited_pool_has_no_overage() -> None:
    heavy = use({(DATA, HOME): 400 * GB})
    assert cost_on(HK_UNLIMITED, heavy) == 49_800 + 2_000 + LINE_FEES
    assert cost_on(HK, heavy) == HK_FEES + 300 * 3_000  # 300 GB beyond the 100 GB pool
    # home voice is unlimited on the sample plan (and sells no overage)
    assert cost_on(HK, use({(VOICE, HOME): 10**7})) == HK_FEES


def test_line_fees_count_every_sim_by_device_kind() -> None:
    sims = {DeviceKind.PHONE: 2, DeviceKind.WATCH: 2, DeviceKind.OTHER: 1}
    assert cost_on(HK, use(sims=sims)) == 39_800 + 2_000 + 2 * 8_800 + 2 * 3_800 + 5_800


def test_too_many_members_or_lines_cannot_be_carried() -> None:
    duo = variant("hk-duo", monthly_fee=hkd(100), max_members=2)
    four_lines = variant("hk-four-lines", monthly_fee=hkd(100), max_lines=4)
    assert cost_on(duo, use(LIGHT)) is None
    assert refusal(duo, use(LIGHT)) == "4 members, the plan allows 2"
    assert cost_on(four_lines, use(LIGHT)) is None
    assert refusal(four_lines, use(LIGHT)) == "5 lines, the plan allows 4"
    assert cost_on(four_lines, use(LIGHT, lines=4)) == 100 + 2_000 + LINE_FEES
    assert refusal(HK, use(LIGHT)) is None


def test_another_currency_cannot_be_carried() -> None:
    assert cost_on(RU, use(LIGHT)) is None
    assert refusal(RU, use(LIGHT)) == "priced in RUB, the family pays in HKD"


def test_a_zone_the_plan_does_not_cover_cannot_be_carried() -> None:
    roamed = use({**LIGHT, (DATA, CHINA): GB})
    assert cost_on(HOME_ONLY, roamed) is None
    assert refusal(HOME_ONLY, roamed) == "the plan has no zone greater-china"
    assert cost_on(HOME_ONLY, use(LIGHT)) == HOME_ONLY_FEES
    # roaming in one cycle of two is enough to rule the plan out
    advice = advise([use(LIGHT), use({(DATA, CHINA): GB}, number=2)], [HK, HOME_ONLY], HK.code)
    assert [(r.code, r.cycle_number) for r in advice.refused] == [("hk-home-only", 2)]
    assert advice.advised is not None
    assert advice.advised.code == HK.code
    # a zone the plan has but not for this resource
    no_china_sms = variant(
        "hk-no-china-sms",
        allowances={k: v for k, v in HK.allowances.items() if k != (SMS, CHINA)},
        overage={k: v for k, v in HK.overage.items() if k != (SMS, CHINA)},
    )
    assert refusal(no_china_sms, use({(SMS, CHINA): 1})) == (
        "the plan does not cover sms in greater-china"
    )


def test_zones_are_matched_by_their_countries_when_known() -> None:
    asia = RoamingZone(Zone("asia"), CHINA_MCCS | {"440", "450"})
    on_asia = variant(
        "hk-asia",
        roaming_zones=(asia,),
        allowances={(DATA, HOME): 100 * GB, (DATA, asia.name): 2 * GB},
        overage={(DATA, asia.name): OverageRate(hkd(5_000), GB)},
    )
    mccs = {HOME: HK.home_mccs, CHINA: CHINA_MCCS}
    roamed = use({(DATA, HOME): GB, (DATA, CHINA): 3 * GB}, zone_mccs=mccs)
    # greater-china's four MCCs are all in asia: 1 GB beyond asia's 2 GB at HK$50.00
    assert cost_on(on_asia, roamed) == HK_FEES + 5_000
    # without the MCCs, zones go by name and asia is not greater-china
    assert refusal(on_asia, use({(DATA, CHINA): 3 * GB})) == "the plan has no zone greater-china"

    china = RoamingZone(Zone("china"), frozenset({"460", "461"}))
    mainland_only = variant(
        "hk-china",
        roaming_zones=(china,),
        allowances={(DATA, HOME): 100 * GB, (DATA, china.name): 2 * GB},
        overage={},
    )
    assert refusal(mainland_only, roamed) == "the plan does not reach greater-china (MCC 455, 466)"

    split = variant(
        "hk-split",
        roaming_zones=(china, RoamingZone(Zone("islands"), frozenset({"455", "466"}))),
        allowances={(DATA, HOME): 100 * GB, (DATA, Zone("china")): None},
        overage={},
    )
    assert refusal(split, roamed) == (
        "greater-china spans the plan's zones china, islands; "
        "where each unit was used is not recorded"
    )


def test_usage_beyond_a_pool_with_no_overage_rate_cannot_be_carried() -> None:
    capped = variant(
        "hk-capped",
        allowances=with_data(50 * GB),
        overage={k: v for k, v in HK.overage.items() if k != (DATA, HOME)},
    )
    assert cost_on(capped, use({(DATA, HOME): 50 * GB})) == HK_FEES
    assert refusal(capped, use({(DATA, HOME): 50 * GB + 5})) == (
        "5 B of data in home beyond the pool, which the plan sells no overage for: "
        "the network would have refused them"
    )


def test_a_hotspot_needs_a_plan_that_allows_it() -> None:
    no_hotspot = variant("hk-no-hotspot", hotspot=HotspotRule(allowed=False))
    assert cost_on(no_hotspot, use(LIGHT)) == HK_FEES
    assert refusal(no_hotspot, use(LIGHT, tethered=GB)) == (
        "the family used a hotspot, which the plan does not allow"
    )


def test_a_cycle_use_refuses_nonsense() -> None:
    with pytest.raises(InvalidInput):
        use(number=0)
    with pytest.raises(InvalidInput):
        use(days=0)
    with pytest.raises(InvalidAmount):
        use({(DATA, HOME): -1})
    with pytest.raises(InvalidAmount):
        use(members=-1)
    with pytest.raises(InvalidAmount):
        use(paid=-1)
    with pytest.raises(InvalidInput):
        use(zone_mccs={CHINA: frozenset()})


# ================================================================================= advise
def test_a_light_family_is_advised_the_cheaper_plan() -> None:
    uses = [use(LIGHT, number=n) for n in (1, 2, 3)]
    advice = advise(uses, [*CATALOG, HK30, HK_UNLIMITED], HK.code)
    assert advice.currency == "HKD"
    assert advice.cycles == (1, 2, 3)
    assert [(p.code, p.total) for p in advice.plans] == [
        ("hk-family-5g-30", 3 * 76_600),
        ("hk-family-5g-100", 3 * 86_600),
        ("hk-unlimited", 3 * 96_600),
    ]
    assert advice.current is not None
    assert advice.current.per_cycle == (86_600, 86_600, 86_600)
    assert advice.advised is not None
    assert advice.advised.code == "hk-family-5g-30"
    assert advice.change
    assert (advice.saving_total, advice.saving_per_cycle) == (30_000, 10_000)
    assert advice.reason is None
    assert advice.refused == ()  # the RUB and USD plans are not compared at all
    assert advice.paid_total is None


def test_a_heavy_family_stays_and_is_told_why() -> None:
    uses = [use({(DATA, HOME): 60 * GB}, number=n) for n in (4, 5)]
    advice = advise(uses, [HK, HK30, HK_UNLIMITED], HK.code)
    # the 30 GB plan: 30 GB beyond at HK$30.00 -> 76,600 + 90,000 a cycle
    assert [(p.code, p.total) for p in advice.plans] == [
        ("hk-family-5g-100", 2 * 86_600),
        ("hk-unlimited", 2 * 96_600),
        ("hk-family-5g-30", 2 * 166_600),
    ]
    assert advice.advised == advice.current
    assert not advice.change
    assert (advice.saving_total, advice.saving_per_cycle) == (0, 0)
    assert advice.reason == "the current plan is the cheapest for this use"


def test_a_very_heavy_family_is_advised_unlimited_data() -> None:
    uses = [use({(DATA, HOME): 400 * GB}, number=1)]
    advice = advise(uses, [HK, HK30, HK_UNLIMITED], HK.code)
    assert advice.advised is not None
    assert advice.advised.code == "hk-unlimited"
    # 86,600 + 300 GB x 3,000 against 96,600
    assert advice.saving_total == 986_600 - 96_600 == 890_000


def test_the_saving_per_cycle_is_the_average_rounded_down() -> None:
    uses = [
        use({(DATA, HOME): 30 * GB + 1}, number=1),  # 76,601: saves 9,999
        use(LIGHT, number=2),  # saves 10,000
        use(LIGHT, number=3),  # saves 10,000
    ]
    advice = advise(uses, [HK, HK30], HK.code)
    assert advice.saving_total == 29_999
    assert advice.saving_per_cycle == 9_999  # 9,999.67 rounded down


def test_a_plan_that_cannot_carry_one_cycle_is_out() -> None:
    duo = variant("hk-duo", monthly_fee=hkd(100), max_members=2)
    uses = [use(LIGHT, number=1, members=2), use(LIGHT, number=2, members=3)]
    advice = advise(uses, [HK, HK30, duo], HK.code)
    assert [p.code for p in advice.plans] == ["hk-family-5g-30", "hk-family-5g-100"]
    assert [(r.code, r.cycle_number, r.reason) for r in advice.refused] == [
        ("hk-duo", 2, "3 members, the plan allows 2")
    ]


def test_a_tie_keeps_the_current_plan() -> None:
    twin = variant("hk-a-twin")  # same prices, a code that sorts first
    advice = advise([use(LIGHT)], [HK, twin], HK.code)
    assert [p.code for p in advice.plans] == ["hk-a-twin", "hk-family-5g-100"]
    assert advice.advised is not None
    assert advice.advised.code == HK.code
    assert advice.saving_total == 0
    assert advice.reason == "hk-a-twin would have cost the same: the current plan stays"


def test_a_tie_between_cheaper_plans_goes_by_code() -> None:
    twin = variant("hk-family-5g-30b", monthly_fee=hkd(29_800), allowances=with_data(30 * GB))
    advice = advise([use(LIGHT)], [twin, HK, HK30], HK.code)
    assert advice.advised is not None
    assert advice.advised.code == "hk-family-5g-30"


def test_reasons_when_there_is_nothing_to_compare() -> None:
    alone = advise([use(LIGHT)], CATALOG, HK.code)
    assert alone.reason == "the catalog has no other plan in HKD"
    duo = variant("hk-duo", monthly_fee=hkd(100), max_members=2)
    refused = advise([use(LIGHT)], [HK, duo], HK.code)
    assert refused.reason == "no other plan in HKD could have carried the family"
    assert not refused.change


def test_a_current_plan_that_could_not_carry_the_use() -> None:
    capped = variant(
        "hk-capped",
        monthly_fee=hkd(9_900),
        allowances=with_data(50 * GB),
        overage={k: v for k, v in HK.overage.items() if k != (DATA, HOME)},
    )
    advice = advise([use({(DATA, HOME): 60 * GB})], [HK, capped], "hk-capped")
    assert advice.current is None
    assert advice.advised is not None
    assert advice.advised.code == HK.code
    assert advice.change
    assert (advice.saving_total, advice.saving_per_cycle) == (None, None)
    assert advice.reason is not None
    assert advice.reason.startswith("the current plan could not have carried this use (cycle 1")

    gone = advise([use(LIGHT)], [HK30], "hk-retired")
    assert gone.reason == "the current plan 'hk-retired' is not in the catalog in HKD"
    assert gone.advised is not None
    assert gone.advised.code == HK30.code


def test_tax_applies_to_every_plan_alike() -> None:
    advice = advise([use(LIGHT)], [HK, HK30], HK.code, tax_basis_points=2_000)
    # 86,600 x 1.2 = 103,920; 76,600 x 1.2 = 91,920
    assert [(p.code, p.total) for p in advice.plans] == [
        ("hk-family-5g-30", 91_920),
        ("hk-family-5g-100", 103_920),
    ]
    assert advice.saving_total == 12_000


def test_what_was_paid_is_summed_when_known() -> None:
    paid = advise(
        [use(LIGHT, number=1, paid=90_000), use(LIGHT, number=2, paid=91_000)], [HK], HK.code
    )
    assert paid.paid_total == 181_000
    unknown = advise([use(LIGHT, number=1, paid=90_000), use(LIGHT, number=2)], [HK], HK.code)
    assert unknown.paid_total is None


def test_advise_refuses_nonsense() -> None:
    with pytest.raises(InvalidInput):
        advise([], [HK], HK.code)
    with pytest.raises(InvalidInput):
        advise([use(LIGHT), use(LIGHT)], [HK], HK.code)  # cycle 1 twice
    with pytest.raises(InvalidAmount):
        advise([use(LIGHT), use(LIGHT, number=2, currency="RUB")], [HK], HK.code)
    with pytest.raises(InvalidInput):
        advise([use(LIGHT)], [HK, HK], HK.code)
    with pytest.raises(InvalidAmount):
        advise([use(LIGHT)], [HK], HK.code, tax_basis_points=-1)


# ============================================================================= properties
COVERED_KEYS = [
    ((DATA, HOME), 200 * GB),
    ((VOICE, HOME), 10**6),
    ((SMS, HOME), 1_000),
    ((DATA, CHINA), 20 * GB),
    ((VOICE, CHINA), 40_000),
    ((SMS, CHINA), 300),
]

usages = st.fixed_dictionaries(
    {}, optional={key: st.integers(0, top) for key, top in COVERED_KEYS}
).map(dict)

cycle_uses = st.builds(
    lambda usage, members, lines, phones, watches, tethered: (
        usage,
        members,
        lines,
        {DeviceKind.PHONE: phones, DeviceKind.WATCH: watches},
        tethered,
    ),
    usages,
    st.integers(1, 6),
    st.integers(1, 10),
    st.integers(0, 6),
    st.integers(0, 3),
    st.integers(0, 5 * GB),
)


@st.composite
def hk_variants(draw: st.DrawFn, index: int) -> Plan:
    pool = draw(st.sampled_from([None, 0, 10 * GB, 30 * GB, 100 * GB, 250 * GB]))
    return variant(
        f"hk-test-{index}",
        monthly_fee=hkd(draw(st.integers(0, 100_000))),
        management_fee=hkd(draw(st.integers(0, 5_000))),
        allowances=with_data(pool),
        max_members=draw(st.integers(1, 6)),
        max_lines=draw(st.integers(1, 10)),
        hotspot=HotspotRule(allowed=draw(st.booleans())),
    )


catalogs = st.integers(0, 5).flatmap(
    lambda n: st.tuples(*(hk_variants(i) for i in range(n))).map(list)
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(cycle_uses, min_size=1, max_size=4),
    catalogs,
    st.integers(0, 2_500),
    st.randoms(use_true_random=False),
)
def test_the_advised_plan_never_costs_more_and_advice_is_deterministic(
    drawn: list[tuple[dict[tuple[Resource, Zone], int], int, int, dict[DeviceKind, int], int]],
    extra: list[Plan],
    tax: int,
    shuffler: random.Random,
) -> None:
    uses = [
        use(usage, number=i + 1, members=m, lines=lines, sims=sims, tethered=t)
        for i, (usage, m, lines, sims, t) in enumerate(drawn)
    ]
    catalog = [*CATALOG, *extra]
    advice = advise(uses, catalog, HK.code, tax)
    shuffled = list(catalog)
    shuffler.shuffle(shuffled)
    assert advise(list(reversed(uses)), shuffled, HK.code, tax) == advice

    totals = [(p.total, p.code) for p in advice.plans]
    assert totals == sorted(totals)
    for plan_cost in advice.plans:
        plan = next(p for p in catalog if p.code == plan_cost.code)
        assert plan_cost.per_cycle == tuple(cost_on(plan, u, tax) for u in uses)
    for refused in advice.refused:
        plan = next(p for p in catalog if p.code == refused.code)
        assert any(cost_on(plan, u, tax) is None for u in uses)
    if advice.current is not None:
        assert advice.advised is not None
        assert advice.advised.total <= advice.current.total
        assert advice.advised.total == min(p.total for p in advice.plans)
        assert advice.saving_total == advice.current.total - advice.advised.total >= 0
        assert advice.change == (advice.advised.total < advice.current.total)


@settings(max_examples=150, deadline=None)
@given(usages, st.integers(0, 6), st.integers(0, 3), st.integers(0, 2_500))
def test_a_one_member_family_costs_what_rating_charges(
    usage: dict[tuple[Resource, Zone], int], phones: int, watches: int, tax: int
) -> None:
    """With one member (whose quota is the pool) family overage is member overage, so
    advice and rating must agree to the minor unit."""
    sims = {DeviceKind.PHONE: phones, DeviceKind.WATCH: watches}
    cycle = use(usage, members=1, lines=1, sims=sims)
    start = date(2026, 11, 1)
    billable = [
        BillableSim("m", f"+8529123{i:04d}", kind, start)
        for i, kind in enumerate([DeviceKind.PHONE] * phones + [DeviceKind.WATCH] * watches)
    ]
    overage = []
    for (resource, zone), units in usage.items():
        pool = HK.allowance(resource, zone)
        if pool is not None and units > pool:
            overage.append(OverageUse("m", resource, zone, units - pool))
    facts = CycleFacts(
        "f",
        1,
        start,
        date(2026, 12, 1),
        HK,
        ("m",),
        sims=billable,
        overage=overage,
        tax_basis_points=tax,
    )
    assert cost_on(HK, cycle, tax) == rate(facts).total
