"""Plan advice for a stored family (``famsim.service.plan_advice``), on the in-memory unit
of work with the demo family: usage charged through the charging service, cycles rolled
over, cheaper plans added beside the sample catalog, figures checked to the minor unit."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from famsim.adapters.memory import MemoryStore, MemoryUnitOfWork
from famsim.demo import DEMO_PLAN, create_demo_family
from famsim.domain.errors import InvalidInput
from famsim.domain.money import Money
from famsim.domain.plan import Plan
from famsim.domain.units import HOME, Resource
from famsim.service.charging import ChargingRequest, ChargingService, RequestType, ServiceUse
from famsim.service.messagebus import MessageBus
from famsim.service.plan_advice import plan_advice
from famsim.service.ports import FamilyNotFound

pytestmark = pytest.mark.unit

GB = 10**9
OWNER_LINE, ADULT_LINE = "+85291230001", "+85261230002"
CHINA = "46000"  # a serving network in the plan's greater-china zone
NOW = datetime(2026, 2, 1, 4, 0, tzinfo=UTC)
# The demo family on the sample HK plan: HK$398.00 + 20.00 + four phones at 88.00, a
# watch at 38.00 and a tablet at 58.00.
HK_TOTAL = 39_800 + 2_000 + 4 * 8_800 + 3_800 + 5_800
HK30_TOTAL = 29_800 + 2_000 + 4 * 8_800 + 3_800 + 5_800
assert (HK_TOTAL, HK30_TOTAL) == (86_600, 76_600)


@dataclass
class World:
    family_id: str
    charging: ChargingService
    uow: Callable[[], MemoryUnitOfWork]
    sessions: int = 0

    def use_data(self, subscriber: str, units: int, plmn: str | None = None) -> None:
        """*units* of data used in one session."""
        self.sessions += 1
        session = f"session-{self.sessions}"
        for number, kind, use in (
            (0, RequestType.INITIAL, ServiceUse(Resource.DATA, requested=units)),
            (1, RequestType.TERMINATION, ServiceUse(Resource.DATA, used=units)),
        ):
            answer = self.charging.handle(
                ChargingRequest(session, number, kind, subscriber, (use,), serving_plmn=plmn)
            )
            assert answer.outcome == "success"

    def next_cycle(self) -> None:
        with self.uow() as uow:
            family = uow.families.get(self.family_id, for_update=True)
            family.start_next_cycle(uow.plans.get(family.plan_code))
            uow.commit()

    def advice(self, **kwargs: int) -> dict[str, object]:
        result = plan_advice(self.uow, self.family_id, **kwargs)
        assert json.loads(json.dumps(result)) == result  # JSON-ready
        return result


@pytest.fixture
def world(memory_store: MemoryStore, memory_bus: MessageBus) -> World:
    family_id = create_demo_family(memory_bus)

    def uow() -> MemoryUnitOfWork:
        return MemoryUnitOfWork(memory_store)

    with uow() as u:
        hk = u.plans.get(DEMO_PLAN)
        allowances = {**hk.allowances, (Resource.DATA, HOME): 30 * GB}
        u.plans.save(
            replace(
                hk,
                code="hk-family-5g-30",
                name="Family Share 5G 30GB",
                monthly_fee=Money(29_800, "HKD"),
                allowances=allowances,
            )
        )
        u.plans.save(home_only(hk))
        u.commit()
    return World(family_id, ChargingService(uow, now=lambda: NOW), uow)


def home_only(hk: Plan) -> Plan:
    """HK$198.00, no roaming at all."""
    return replace(
        hk,
        code="hk-home-only",
        name="Home only",
        monthly_fee=Money(19_800, "HKD"),
        roaming_zones=(),
        allowances={k: v for k, v in hk.allowances.items() if k[1] == HOME},
        overage={k: v for k, v in hk.overage.items() if k[1] == HOME},
    )


def plan_totals(result: dict[str, object]) -> list[tuple[str, int]]:
    plans = result["plans"]
    assert isinstance(plans, list)
    return [(p["code"], p["total_minor"]) for p in plans]


def test_before_a_cycle_closes_the_current_cycle_so_far_is_compared(world: World) -> None:
    world.use_data(OWNER_LINE, 5 * GB)
    result = world.advice()
    assert result["basis"] == "current cycle so far"
    assert result["current_plan"] == DEMO_PLAN
    assert result["pending_plan"] is None
    assert result["cycles"] == [
        {
            "number": 1,
            "plan": DEMO_PLAN,
            "days": 28,  # created on 2026-01-31: cycles start on the 28th
            "members": 4,
            "lines": 5,
            "sims": {"phone": 4, "watch": 1, "tablet": 1},
            "usage": [{"resource": "data", "zone": "home", "units": 5 * GB}],
            "tethered": 0,
            "paid_minor": None,
        }
    ]
    assert plan_totals(result) == [
        ("hk-home-only", 19_800 + 2_000 + 4 * 8_800 + 3_800 + 5_800),
        ("hk-family-5g-30", HK30_TOTAL),
        (DEMO_PLAN, HK_TOTAL),
    ]
    assert result["advised"] == {
        "code": "hk-home-only",
        "name": "Home only",
        "total_minor": 66_600,
        "per_cycle_minor": [66_600],
    }
    assert result["change"] is True
    assert result["saving_minor"] == {"total": 20_000, "per_cycle": 20_000}
    assert result["reason"] is None
    assert result["refused"] == []
    assert result["paid_minor"] is None
    assert result["family"] == {"id": world.family_id, "name": "Chan family", "currency": "HKD"}


def test_roaming_rules_out_a_plan_that_does_not_reach_there(world: World) -> None:
    world.use_data(OWNER_LINE, 5 * GB)
    world.use_data(ADULT_LINE, GB, plmn=CHINA)
    result = world.advice()
    assert result["refused"] == [
        {
            "code": "hk-home-only",
            "name": "Home only",
            "cycle": 1,
            "reason": "the plan does not reach greater-china (MCC 455, 460, 461, 466)",
        }
    ]
    assert result["advised"]["code"] == "hk-family-5g-30"  # type: ignore[index]
    assert result["saving_minor"] == {"total": 10_000, "per_cycle": 10_000}


def test_past_cycles_are_compared_and_the_running_one_left_out(world: World) -> None:
    world.use_data(OWNER_LINE, 40 * GB)  # cycle 1: 10 GB beyond 30 GB
    world.next_cycle()
    world.use_data(OWNER_LINE, 5 * GB)  # cycle 2
    world.next_cycle()
    world.use_data(OWNER_LINE, 90 * GB)  # cycle 3, running: not compared
    result = world.advice()
    assert result["basis"] == "past cycles"
    cycles = result["cycles"]
    assert isinstance(cycles, list)
    assert [(c["number"], c["days"]) for c in cycles] == [(1, 28), (2, 28)]
    assert [c["usage"][0]["units"] for c in cycles] == [40 * GB, 5 * GB]
    # the 30 GB plan: 76,600 + 10 GB x HK$30.00, then 76,600
    assert plan_totals(result) == [
        ("hk-home-only", 2 * 66_600),
        (DEMO_PLAN, 2 * HK_TOTAL),
        ("hk-family-5g-30", 106_600 + 76_600),
    ]
    assert result["advised"]["code"] == "hk-home-only"  # type: ignore[index]

    # only the last closed cycle
    last = world.advice(cycles=1)
    assert [c["number"] for c in last["cycles"]] == [2]  # type: ignore[union-attr]
    assert plan_totals(last) == [
        ("hk-home-only", 66_600),
        ("hk-family-5g-30", 76_600),
        (DEMO_PLAN, HK_TOTAL),
    ]


def test_a_heavy_family_stays(world: World) -> None:
    world.use_data(OWNER_LINE, 60 * GB)
    world.use_data(ADULT_LINE, GB, plmn=CHINA)  # rules out the home-only plan
    result = world.advice()
    # 76,600 + 30 GB x 3,000 on the 30 GB plan against 86,600
    assert plan_totals(result) == [(DEMO_PLAN, HK_TOTAL), ("hk-family-5g-30", 166_600)]
    assert result["advised"]["code"] == DEMO_PLAN  # type: ignore[index]
    assert result["change"] is False
    assert result["saving_minor"] == {"total": 0, "per_cycle": 0}
    assert result["reason"] == "the current plan is the cheapest for this use"


def test_tax_applies_to_every_plan(world: World) -> None:
    world.use_data(OWNER_LINE, 5 * GB)
    world.use_data(ADULT_LINE, GB, plmn=CHINA)
    result = world.advice(tax_basis_points=2_000)
    assert result["tax_basis_points"] == 2_000
    assert plan_totals(result) == [("hk-family-5g-30", 91_920), (DEMO_PLAN, 103_920)]
    assert result["saving_minor"] == {"total": 12_000, "per_cycle": 12_000}


def test_bad_requests(world: World) -> None:
    with pytest.raises(InvalidInput):
        world.advice(cycles=0)
    with pytest.raises(FamilyNotFound):
        plan_advice(world.uow, "no-such-family")
