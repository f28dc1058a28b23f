"""Properties of billing: shares always sum to the total; rating is deterministic, adds
up, and never charges overage beyond a money cap."""

from __future__ import annotations

import random
from datetime import date, timedelta
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from famsim.adapters.catalog import load_catalog, sample_catalog_path
from famsim.domain.billing.rating import (
    BillableSim,
    ChargeKind,
    CycleFacts,
    OverageUse,
    rate,
)
from famsim.domain.billing.split import BASIS_POINTS, SplitPolicy, SplitRule, apportion, split
from famsim.domain.money import Money
from famsim.domain.plan import DeviceKind
from famsim.domain.units import Zone

PLANS = {p.code: p for p in load_catalog(sample_catalog_path())}
MEMBERS = ("m0", "m1", "m2", "m3")
START = date(2026, 11, 1)
OVERAGE_KINDS = (ChargeKind.OVERAGE, ChargeKind.ROAMING)


@given(st.integers(-(10**12), 10**12), st.lists(st.integers(0, 10**6), min_size=1, max_size=8))
def test_apportioned_parts_sum_to_the_total_and_stay_within_a_minor_unit(
    total: int, weights: list[int]
) -> None:
    parts = apportion(total, weights)
    assert sum(parts) == total
    whole = sum(weights) or len(weights)
    for part, weight in zip(parts, weights if any(weights) else [1] * len(weights), strict=True):
        exact = Fraction(total * weight, whole)
        assert abs(part - exact) < 1
    assert apportion(total, weights) == parts


@st.composite
def policies(draw: st.DrawFn) -> SplitPolicy:
    rule = draw(st.sampled_from(list(SplitRule)))
    if rule is not SplitRule.CUSTOM:
        return SplitPolicy(rule)
    cuts = sorted(draw(st.lists(st.integers(0, BASIS_POINTS), min_size=3, max_size=3)))
    bounds = [0, *cuts, BASIS_POINTS]
    return SplitPolicy(rule, {m: bounds[i + 1] - bounds[i] for i, m in enumerate(MEMBERS)})


@given(
    st.integers(0, 10**10),
    policies(),
    st.dictionaries(st.sampled_from(MEMBERS), st.integers(0, 10**8)),
)
def test_every_split_sums_to_the_invoice_total(
    total: int, policy: SplitPolicy, usage: dict[str, int]
) -> None:
    shares = split(total, MEMBERS, "m0", policy, usage)
    assert list(shares) == list(MEMBERS)
    assert sum(shares.values()) == total
    assert all(share >= 0 for share in shares.values())


@st.composite
def cycles(draw: st.DrawFn) -> CycleFacts:
    plan = PLANS[draw(st.sampled_from(sorted(PLANS)))]
    length = draw(st.integers(28, 31))
    end = START + timedelta(days=length)
    sims = []
    for n in range(draw(st.integers(0, 6))):
        first = START + timedelta(days=draw(st.integers(-40, length)))
        until = draw(
            st.none() | st.integers(-10, length + 5).map(lambda d: START + timedelta(days=d))
        )
        sims.append(
            BillableSim(
                draw(st.sampled_from(MEMBERS)),
                f"+8529123{n:04d}",
                draw(st.sampled_from(list(DeviceKind))),
                first,
                until,
            )
        )
    keys = sorted(plan.overage, key=lambda k: (k[0].value, k[1]))
    overage = (
        [
            OverageUse(
                draw(st.sampled_from(MEMBERS)), resource, Zone(zone), draw(st.integers(0, 10**11))
            )
            for resource, zone in draw(st.lists(st.sampled_from(keys), max_size=6))
        ]
        if keys
        else []
    )
    money = st.none() | st.integers(0, 50_000).map(lambda m: Money(m, plan.currency))
    return CycleFacts(
        family_id="f",
        cycle_number=1,
        start=START,
        end=end,
        plan=plan,
        members=MEMBERS,
        sims=sims,
        overage=overage,
        member_caps={m: draw(money) for m in MEMBERS},
        family_cap=draw(money),
        tax_basis_points=draw(st.integers(0, 3_000)),
    )


@given(cycles())
def test_rating_adds_up_and_is_deterministic_whatever_the_order_of_the_facts(
    facts: CycleFacts,
) -> None:
    rated = rate(facts)
    assert rated.total == sum(c.minor for c in rated.charges)
    shuffled = list(facts.sims), list(facts.overage)
    random.Random(7).shuffle(shuffled[0])
    random.Random(7).shuffle(shuffled[1])
    assert rate(_copy(facts, *shuffled)) == rated


def _copy(facts: CycleFacts, sims: list[BillableSim], overage: list[OverageUse]) -> CycleFacts:
    return CycleFacts(
        facts.family_id,
        facts.cycle_number,
        facts.start,
        facts.end,
        facts.plan,
        facts.members,
        tuple(sims),
        tuple(overage),
        facts.member_caps,
        facts.family_cap,
        facts.tax_basis_points,
    )


@given(cycles())
def test_no_overage_beyond_a_money_cap_and_no_line_fee_beyond_the_full_fee(
    facts: CycleFacts,
) -> None:
    rated = rate(facts)
    family = 0
    for member in MEMBERS:
        paid = sum(
            c.minor
            for c in rated.charges
            if c.member_id == member
            and (c.kind in OVERAGE_KINDS or c.kind is ChargeKind.CAP_CREDIT)
        )
        cap = facts.member_caps.get(member)
        assert paid >= 0
        if cap is not None:
            assert paid <= cap.minor
        family += paid
    family += sum(
        c.minor for c in rated.charges if c.member_id is None and c.kind is ChargeKind.CAP_CREDIT
    )
    if facts.family_cap is not None:
        assert family <= facts.family_cap.minor
    for charge in rated.charges:
        if charge.kind is ChargeKind.LINE_FEE:
            full = facts.plan.line_fees[DeviceKind(str(charge.detail["device"]))].minor
            assert 0 < charge.minor <= full
    assert rated.tax >= 0
