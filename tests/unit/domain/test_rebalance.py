"""Forecast-driven rebalancing by example (``famsim.domain.rebalance``): who gives, who
receives, how much, and what stops a move: bounds, used plus reserved, hard caps, the
policy switch and the cycle's first hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from famsim.domain.allocation import Allocation, Limit
from famsim.domain.charging.ledger import Counter, MemberLedger
from famsim.domain.errors import InvalidAmount, InvalidInput, RuleViolation
from famsim.domain.ids import MemberId
from famsim.domain.rebalance import (
    Bounds,
    MemberForecast,
    Move,
    RebalancePolicy,
    apply,
    forecast_members,
    need,
    plan_moves,
    spare,
)
from famsim.domain.units import HOME, Resource, Zone

pytestmark = pytest.mark.unit

GB = 10**9
DATA, SMS = Resource.DATA, Resource.SMS
CHINA = Zone("greater-china")
START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)  # 30 days
DAY10 = START + timedelta(days=10)
PARENT, TEEN, CHILD = MemberId("parent"), MemberId("teen"), MemberId("child")
ON = RebalancePolicy(enabled=True)


def quota(q: int, cap: int | None = None) -> Allocation:
    return Allocation(limits={(DATA, HOME): Limit(quota=q, hard_cap=cap)})


def used(units: int, reserved: int = 0, overage: int = 0) -> MemberLedger:
    ledger = MemberLedger(pool={(DATA, HOME): Counter(units, reserved)})
    if overage:
        ledger.overage[(DATA, HOME)] = Counter(overage, 0)
    return ledger


def forecast(
    member: MemberId,
    q: int,
    projected: int,
    *,
    held: int = 0,
    cap: int | None = None,
    runs_out: datetime | None = None,
) -> MemberForecast:
    return MemberForecast(member, DATA, HOME, held, 0, q, cap, projected, runs_out)


# =========================================================================== forecasts
def test_the_pace_alone_without_past_cycles() -> None:
    (teen,) = forecast_members({TEEN: quota(20 * GB)}, {TEEN: used(10 * GB)}, START, END, DAY10)
    assert (teen.used, teen.quota, teen.projected) == (10 * GB, 20 * GB, 30 * GB)
    # 10 GB in 10 days: the other 10 GB of the quota last 10 days more.
    assert teen.runs_out_at == START + timedelta(days=20)


def test_a_quota_that_lasts_has_no_run_out_date() -> None:
    (parent,) = forecast_members({PARENT: quota(30 * GB)}, {PARENT: used(GB)}, START, END, DAY10)
    assert parent.projected == 3 * GB
    assert parent.runs_out_at is None


def test_past_cycles_weigh_by_the_share_of_the_cycle_remaining() -> None:
    # A third of the way in at 10 GB (a 30 GB pace); the past three cycles averaged 12 GB.
    past = [{TEEN: {(DATA, HOME): 12 * GB}}] * 3
    (teen,) = forecast_members(
        {TEEN: quota(20 * GB)}, {TEEN: used(10 * GB)}, START, END, DAY10, past
    )
    # rest = 20 days at (1/3 * 1 GB/day + 2/3 * 0.4 GB/day) = 20 * 0.6 GB = 12 GB
    assert teen.projected == 22 * GB
    # 10 GB of quota left at 0.6 GB a day: 16 2/3 days after day 10.
    assert teen.runs_out_at == DAY10 + timedelta(seconds=-(-10 * 20 * 86_400 // 12))


def test_past_cycles_a_member_was_not_in_do_not_count() -> None:
    past = [{PARENT: {(DATA, HOME): 99 * GB}}, {TEEN: {}}]  # teen in the 2nd only, used none
    (teen,) = forecast_members(
        {TEEN: quota(20 * GB)}, {TEEN: used(10 * GB)}, START, END, DAY10, past
    )
    # rest = 20 days at (1/3 * 1 GB/day + 2/3 * 0) = 6 2/3 GB, rounded up to the byte
    assert teen.projected == 10 * GB + -(-20 * GB // 3)


def test_overage_counts_in_the_pace_but_not_against_the_quota() -> None:
    # The quota is used up (20 GB from the pool) and 4 GB more were bought as overage.
    (teen,) = forecast_members(
        {TEEN: quota(20 * GB, cap=40 * GB)},
        {TEEN: used(20 * GB, overage=4 * GB)},
        START,
        END,
        START + timedelta(days=12),
    )
    assert teen.used == 20 * GB
    assert teen.projected == 20 * GB + 36 * GB  # 2 GB a day for 18 more days
    assert teen.runs_out_at == START + timedelta(days=12)  # out already


def test_no_forecast_in_the_first_hour_nor_without_a_quota() -> None:
    allocations = {PARENT: Allocation(), TEEN: quota(20 * GB)}
    early = START + timedelta(minutes=59)
    assert forecast_members(allocations, {TEEN: used(GB)}, START, END, early) == []
    (only,) = forecast_members(allocations, {TEEN: used(GB)}, START, END, DAY10)
    assert only.member_id == TEEN


def test_a_member_with_no_counters_is_forecast_at_zero() -> None:
    (parent,) = forecast_members({PARENT: quota(30 * GB)}, {}, START, END, DAY10)
    assert (parent.used, parent.reserved, parent.projected) == (0, 0, 0)


# ============================================================================ planning
def test_a_teen_forecast_to_run_out_gets_the_parents_spare() -> None:
    allocations = {PARENT: quota(30 * GB), TEEN: quota(20 * GB, cap=40 * GB)}
    ledgers = {PARENT: used(3 * GB), TEEN: used(10 * GB)}
    forecasts = forecast_members(allocations, ledgers, START, END, DAY10)
    moves = plan_moves(forecasts, ON)
    # The parent is forecast at 9 GB (21 spare); the teen at 30 GB (10 short).
    assert moves == [Move(PARENT, TEEN, DATA, HOME, 10 * GB)]
    after = apply(allocations, moves)
    assert after[PARENT].limits[(DATA, HOME)] == Limit(quota=20 * GB)
    assert after[TEEN].limits[(DATA, HOME)] == Limit(quota=30 * GB, hard_cap=40 * GB)


def test_nothing_moves_when_the_policy_is_off() -> None:
    forecasts = [forecast(PARENT, 30, 5), forecast(TEEN, 20, 40, runs_out=DAY10)]
    assert plan_moves(forecasts, RebalancePolicy(enabled=False)) == []
    assert plan_moves(forecasts, RebalancePolicy()) == []


def test_nothing_moves_too_early_in_the_cycle() -> None:
    allocations = {PARENT: quota(30 * GB), TEEN: quota(20 * GB)}
    ledgers = {TEEN: used(5 * GB)}
    early = START + timedelta(minutes=30)
    assert plan_moves(forecast_members(allocations, ledgers, START, END, early), ON) == []


def test_a_donor_keeps_its_forecast_and_its_used_plus_reserved() -> None:
    assert spare(forecast(PARENT, 30, 9, held=4), Bounds()) == 21
    assert spare(forecast(PARENT, 30, 9, held=25), Bounds()) == 5
    reserved = MemberForecast(PARENT, DATA, HOME, 4, 22, 30, None, 9, None)
    assert spare(reserved, Bounds()) == 4  # used 4 + reserved 22 = 26 kept


def test_the_owners_minimum_is_kept() -> None:
    policy = RebalancePolicy(True, {PARENT: {(DATA, HOME): Bounds(min_quota=25)}})
    moves = plan_moves([forecast(PARENT, 30, 5), forecast(TEEN, 20, 40, runs_out=DAY10)], policy)
    assert moves == [Move(PARENT, TEEN, DATA, HOME, 5)]


def test_the_owners_maximum_and_the_hard_cap_limit_what_is_received() -> None:
    capped = forecast(TEEN, 20, 40, cap=24, runs_out=DAY10)
    assert need(capped, Bounds()) == 4
    assert need(capped, Bounds(max_quota=22)) == 2
    assert need(forecast(TEEN, 20, 40), Bounds(max_quota=15)) == 0  # already above it
    moves = plan_moves([forecast(PARENT, 30, 5), capped], ON)
    assert moves == [Move(PARENT, TEEN, DATA, HOME, 4)]


def test_the_earliest_to_run_out_is_served_first() -> None:
    soon, later = DAY10 + timedelta(days=1), DAY10 + timedelta(days=5)
    forecasts = [
        forecast(PARENT, 30, 20),  # 10 spare: not enough for both
        forecast(TEEN, 20, 28, runs_out=later),
        forecast(CHILD, 3, 9, runs_out=soon),
    ]
    assert plan_moves(forecasts, ON) == [
        Move(PARENT, CHILD, DATA, HOME, 6),
        Move(PARENT, TEEN, DATA, HOME, 4),
    ]


def test_the_largest_spare_gives_first() -> None:
    forecasts = [
        forecast(PARENT, 30, 20),  # 10 spare
        forecast(CHILD, 10, 2),  # 8 spare
        forecast(TEEN, 20, 34, runs_out=DAY10),  # 14 short
    ]
    assert plan_moves(forecasts, ON) == [
        Move(PARENT, TEEN, DATA, HOME, 10),
        Move(CHILD, TEEN, DATA, HOME, 4),
    ]


def test_each_resource_and_zone_is_balanced_on_its_own() -> None:
    forecasts = [
        forecast(PARENT, 30, 5),
        MemberForecast(TEEN, DATA, CHINA, 0, 0, 4, None, 8, DAY10),  # no donor in China
        MemberForecast(TEEN, SMS, HOME, 0, 0, 50, None, 10, None),
        MemberForecast(CHILD, SMS, HOME, 40, 0, 50, 80, 70, DAY10),
    ]
    assert plan_moves(forecasts, ON) == [Move(TEEN, CHILD, SMS, HOME, 20)]


def test_no_need_or_no_spare_means_no_move() -> None:
    assert plan_moves([forecast(PARENT, 30, 5), forecast(TEEN, 20, 20)], ON) == []
    assert plan_moves([forecast(PARENT, 30, 30), forecast(TEEN, 20, 25)], ON) == []


# =============================================================================== apply
def test_apply_keeps_everything_but_the_quotas() -> None:
    parent = Allocation(
        limits={(DATA, HOME): Limit(quota=30), (SMS, HOME): Limit(quota=10, hard_cap=20)},
        hotspot_quota=5,
        roaming_allowed=False,
    )
    allocations = {PARENT: parent, TEEN: quota(20, cap=40), CHILD: Allocation()}
    after = apply(allocations, [Move(PARENT, TEEN, DATA, HOME, 7)])
    assert after[PARENT].limits == {
        (DATA, HOME): Limit(quota=23),
        (SMS, HOME): Limit(quota=10, hard_cap=20),
    }
    assert (after[PARENT].hotspot_quota, after[PARENT].roaming_allowed) == (5, False)
    assert after[TEEN].limits[(DATA, HOME)] == Limit(quota=27, hard_cap=40)
    assert after[CHILD] is allocations[CHILD]
    assert allocations[PARENT].limits[(DATA, HOME)].quota == 30  # the input is untouched


def test_apply_refuses_impossible_moves() -> None:
    allocations = {PARENT: quota(30), TEEN: quota(20, cap=25), CHILD: Allocation()}
    with pytest.raises(InvalidAmount):
        apply(allocations, [Move(PARENT, TEEN, DATA, HOME, 6)])  # above the teen's cap
    with pytest.raises(InvalidAmount):
        apply(allocations, [Move(TEEN, PARENT, DATA, HOME, 21)])  # below zero
    with pytest.raises(RuleViolation):
        apply(allocations, [Move(PARENT, CHILD, DATA, HOME, 1)])  # the child has no quota
    with pytest.raises(RuleViolation):
        apply(allocations, [Move(PARENT, MemberId("nobody"), DATA, HOME, 1)])


# ========================================================================= the values
def test_values_are_checked() -> None:
    with pytest.raises(InvalidAmount):
        Bounds(min_quota=10, max_quota=5)
    with pytest.raises(InvalidAmount):
        Bounds(min_quota=-1)
    with pytest.raises(InvalidAmount):
        Move(PARENT, TEEN, DATA, HOME, 0)
    with pytest.raises(InvalidInput):
        Move(TEEN, TEEN, DATA, HOME, 1)
    with pytest.raises(InvalidAmount):
        forecast(PARENT, -1, 0)
    with pytest.raises(InvalidInput):
        plan_moves([forecast(PARENT, 30, 5), forecast(PARENT, 30, 5)], ON)


def test_a_policy_is_read_only() -> None:
    bounds = {PARENT: {(DATA, HOME): Bounds(1, 2)}}
    policy = RebalancePolicy(True, bounds)
    bounds[PARENT][(DATA, HOME)] = Bounds(5, 9)
    assert policy.bounds_for(PARENT, DATA, HOME) == Bounds(1, 2)
    assert policy.bounds_for(TEEN, DATA, HOME) == Bounds()
    with pytest.raises(TypeError):
        policy.bounds[TEEN] = {}  # type: ignore[index]


def test_a_move_as_json() -> None:
    assert Move(PARENT, TEEN, DATA, CHINA, 3).to_dict() == {
        "from_member": "parent",
        "to_member": "teen",
        "resource": "data",
        "zone": "greater-china",
        "units": 3,
    }
