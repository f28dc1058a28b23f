"""The auto-rebalance run (``famsim.service.rebalancing``) on the in-memory unit of work with
the demo family, usage charged through the charging service at instants the test chooses:
the quotas that move, the order of the commands on a full pool, the audit trail, the
outbox events, the forecasts, and what stops a run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from famsim.adapters.memory import MemoryStore, MemoryUnitOfWork
from famsim.demo import create_demo_family
from famsim.domain.allocation import Limit
from famsim.domain.audit import AuditEvent
from famsim.domain.ids import MemberId
from famsim.domain.outbox import OutboxEvent
from famsim.domain.rebalance import Bounds, RebalancePolicy
from famsim.domain.units import HOME, Resource, Zone
from famsim.service import commands as c
from famsim.service.charging import ChargingRequest, ChargingService, RequestType, ServiceUse
from famsim.service.messagebus import MessageBus
from famsim.service.rebalancing import cycle_instants, forecasts, rebalance

pytestmark = pytest.mark.unit

GB = 10**9
DATA, SMS = Resource.DATA, Resource.SMS
CHINA = Zone("greater-china")
OWNER, ADULT, TEEN, CHILD = "Chan Tai Man", "Wong Mei Ling", "Chan Ka Ho", "Chan Ka Yan"
OWNER_LINE, TEEN_LINE = "+85291230001", "+85251230003"
# The conftest clock says 2026-01-31: the cycle runs 28 days from that midnight in Hong Kong.
CYCLE_START = datetime(2026, 1, 30, 16, 0, tzinfo=UTC)
CYCLE_END = datetime(2026, 2, 27, 16, 0, tzinfo=UTC)
DAY10 = CYCLE_START + timedelta(days=10)
ON = RebalancePolicy(enabled=True)


class Now:
    def __init__(self) -> None:
        self.current = DAY10

    def __call__(self) -> datetime:
        return self.current


@dataclass
class World:
    bus: MessageBus
    family_id: str
    ids: dict[str, MemberId]
    now: Now
    charging: ChargingService
    uow: Callable[[], MemoryUnitOfWork]

    def use(self, subscriber: str, resource: Resource, units: int, session: str) -> None:
        """*units* used in one session at the clock's now (an event for SMS)."""
        if resource is SMS:
            steps = [(0, RequestType.EVENT, ServiceUse(SMS, requested=units))]
        else:
            steps = [
                (0, RequestType.INITIAL, ServiceUse(resource, requested=units)),
                (1, RequestType.TERMINATION, ServiceUse(resource, used=units)),
            ]
        for number, kind, use in steps:
            answer = self.charging.handle(
                ChargingRequest(session, number, kind, subscriber, (use,), destination=None)
            )
            assert answer.outcome == "success"
            assert answer.services[0].outcome == "success"

    def set_limits(self, name: str, limits: dict[tuple[Resource, Zone], Limit]) -> None:
        """Replace one member's limits, keeping the rest of its allocation."""
        with self.uow() as u:
            allocation = u.families.get(self.family_id).allocation(self.ids[name])
        self.bus.handle(
            c.SetAllocation(
                self.family_id,
                self.ids[name],
                limits=limits,
                hotspot_quota=allocation.hotspot_quota,
                exhaustion=allocation.exhaustion,
                money_cap=allocation.money_cap,
                roaming_allowed=allocation.roaming_allowed,
            )
        )

    def limit(self, name: str, resource: Resource = DATA, zone: Zone = HOME) -> Limit:
        with self.uow() as u:
            return u.families.get(self.family_id).allocation(self.ids[name]).limit(resource, zone)

    def audit(self, action: str) -> list[AuditEvent]:
        with self.uow() as u:
            return [e for e in u.audit.for_family(self.family_id) if e.action == action]

    def outbox(self, kind: str) -> list[OutboxEvent]:
        with self.uow() as u:
            return [e for e in u.outbox.for_family(self.family_id) if e.kind == kind]

    def family_cycle_end(self) -> date:
        with self.uow() as u:
            return u.families.get(self.family_id).cycle.end

    def rebalance(self, policy: RebalancePolicy = ON) -> list[dict[str, object]]:
        return rebalance(self.uow, self.bus.handle, self.family_id, policy, self.now())


@pytest.fixture
def world(memory_store: MemoryStore, memory_bus: MessageBus) -> World:
    family_id = create_demo_family(memory_bus)

    def uow() -> MemoryUnitOfWork:
        return MemoryUnitOfWork(memory_store)

    with uow() as u:
        family = u.families.get(family_id)
    ids = {m.name: m.id for m in family.members.values()}
    now = Now()
    return World(memory_bus, family_id, ids, now, ChargingService(uow, now=now), uow)


def _teen_runs_out_parent_does_not(world: World, owner_quota: int) -> None:
    """The owner gets a home data quota and uses little of it; the teen (20 GB, cap 25 GB)
    has used 10 GB by day 10 of 28: 28 GB at this pace."""
    world.set_limits(OWNER, {(DATA, HOME): Limit(quota=owner_quota)})
    world.use(OWNER_LINE, DATA, 3 * GB, "owner-1")
    world.use(TEEN_LINE, DATA, 10 * GB, "teen-1")


# ========================================================================== the moves
def test_the_teen_gets_the_parents_spare_up_to_the_hard_cap(world: World) -> None:
    _teen_runs_out_parent_does_not(world, 30 * GB)
    moves = world.rebalance()
    # The owner is forecast at 8.4 GB of 30; the teen at 28 GB, capped at 25 GB.
    assert moves == [
        {
            "from_member": world.ids[OWNER],
            "to_member": world.ids[TEEN],
            "resource": "data",
            "zone": "home",
            "units": 5 * GB,
        }
    ]
    assert world.limit(OWNER) == Limit(quota=25 * GB)
    assert world.limit(TEEN) == Limit(quota=25 * GB, hard_cap=25 * GB)
    # Nothing else of either allocation changed (the teen's throttle, hotspot, roaming).
    with world.uow() as u:
        teen = u.families.get(world.family_id).allocation(world.ids[TEEN])
    assert (teen.hotspot_quota, teen.exhaustion.value, teen.roaming_allowed) == (
        2 * GB,
        "throttle",
        False,
    )


def test_every_move_is_audited_and_notified(world: World) -> None:
    _teen_runs_out_parent_does_not(world, 30 * GB)
    world.rebalance()
    (audited,) = world.audit("allocation.rebalanced")
    assert audited.actor == "famsim:rebalance"
    assert audited.subject == world.ids[TEEN]
    assert dict(audited.detail) == {
        "from_member": world.ids[OWNER],
        "to_member": world.ids[TEEN],
        "resource": "data",
        "zone": "home",
        "units": 5 * GB,
        "cycle_number": 1,
        "from_projected": -(-3 * GB * 28 // 10),
        "to_projected": 28 * GB,
        "to_runs_out_at": (CYCLE_START + timedelta(days=20)).isoformat(),
        "as_of": DAY10.isoformat(),
    }
    # The allocation changes themselves went through the command, with its own audit.
    changed = [e for e in world.audit("allocation.changed") if e.actor == "famsim:rebalance"]
    assert [e.subject for e in changed] == [world.ids[OWNER], world.ids[TEEN]]
    (event,) = world.outbox("rebalanced")
    assert event.created_at == DAY10
    assert event.payload == {
        "from_member": world.ids[OWNER],
        "to_member": world.ids[TEEN],
        "resource": "data",
        "zone": "home",
        "units": 5 * GB,
        "family_id": world.family_id,
        "cycle_number": 1,
        "from_quota": 25 * GB,
        "to_quota": 25 * GB,
        "to_runs_out_at": (CYCLE_START + timedelta(days=20)).isoformat(),
        "at": DAY10.isoformat(),
    }


def test_a_full_pool_is_rebalanced_lowering_first(world: World) -> None:
    """Quotas add up to the whole 100 GB pool: raising the teen first would be refused."""
    _teen_runs_out_parent_does_not(world, 77 * GB)  # 77 + 20 (teen) + 3 (child) = 100
    moves = world.rebalance()
    assert sum(int(str(m["units"])) for m in moves) == 5 * GB
    assert world.limit(OWNER).quota == 72 * GB  # the owner's spare is the larger: it gives
    assert world.limit(TEEN).quota == 25 * GB
    assert world.limit(CHILD).quota == 3 * GB


def test_a_member_giving_one_pair_and_receiving_another_on_full_pools(world: World) -> None:
    """The owner gives home data and receives home SMS, the child gives SMS down to the
    owner's minimum for her; both pools are promised in full."""
    world.set_limits(OWNER, {(DATA, HOME): Limit(quota=77 * GB), (SMS, HOME): Limit(quota=450)})
    world.use(OWNER_LINE, DATA, 3 * GB, "owner-data")
    world.use(TEEN_LINE, DATA, 10 * GB, "teen-data")
    world.use(OWNER_LINE, SMS, 200, "owner-sms")  # 560 at this pace, of 450
    policy = RebalancePolicy(True, {world.ids[CHILD]: {(SMS, HOME): Bounds(min_quota=20)}})
    moves = world.rebalance(policy)
    assert [(m["from_member"], m["to_member"], m["resource"], m["units"]) for m in moves] == [
        (world.ids[OWNER], world.ids[TEEN], "data", 5 * GB),
        (world.ids[CHILD], world.ids[OWNER], "sms", 30),
    ]
    assert world.limit(OWNER, SMS) == Limit(quota=480)
    assert world.limit(CHILD, SMS) == Limit(quota=20, hard_cap=50)
    assert world.limit(OWNER) == Limit(quota=72 * GB)
    assert len(world.audit("allocation.rebalanced")) == len(world.outbox("rebalanced")) == 2


def test_bounds_and_reservations_hold_back_a_donor(world: World) -> None:
    _teen_runs_out_parent_does_not(world, 30 * GB)
    # A live grant of the owner's: 24 GB reserved and not yet reported.
    answer = world.charging.handle(
        ChargingRequest(
            "owner-open",
            0,
            RequestType.INITIAL,
            OWNER_LINE,
            (ServiceUse(DATA, requested=24 * GB),),
        )
    )
    assert answer.services[0].granted == 24 * GB
    # The owner keeps used 3 + reserved 24 = 27 GB: 3 GB to give; the child's 3 GB
    # quota is held at the owner's minimum of 2 GB for her: 1 GB more.
    policy = RebalancePolicy(True, {world.ids[CHILD]: {(DATA, HOME): Bounds(min_quota=2 * GB)}})
    moves = world.rebalance(policy)
    assert [(m["from_member"], m["units"]) for m in moves] == [
        (world.ids[OWNER], 3 * GB),
        (world.ids[CHILD], 1 * GB),
    ]
    assert world.limit(OWNER).quota == 27 * GB
    assert world.limit(CHILD).quota == 2 * GB
    assert world.limit(TEEN).quota == 24 * GB


# ===================================================================== nothing moves
def test_nothing_when_the_policy_is_off(world: World) -> None:
    _teen_runs_out_parent_does_not(world, 30 * GB)
    assert world.rebalance(RebalancePolicy(enabled=False)) == []
    assert world.limit(TEEN).quota == 20 * GB
    assert world.audit("allocation.rebalanced") == []
    assert world.outbox("rebalanced") == []


def test_nothing_in_the_cycles_first_hour(world: World) -> None:
    world.now.current = CYCLE_START + timedelta(minutes=50)
    _teen_runs_out_parent_does_not(world, 30 * GB)
    assert world.rebalance() == []
    assert world.limit(OWNER).quota == 30 * GB
    assert world.outbox("rebalanced") == []


def test_nothing_when_nobody_will_run_out(world: World) -> None:
    world.set_limits(OWNER, {(DATA, HOME): Limit(quota=30 * GB)})
    world.use(TEEN_LINE, DATA, 2 * GB, "teen-light")
    assert world.rebalance() == []
    assert world.audit("allocation.changed")[-1].actor == "operator"  # only the test's own


# ========================================================================= forecasts
def test_forecasts_say_when_a_quota_runs_out(world: World) -> None:
    _teen_runs_out_parent_does_not(world, 30 * GB)
    found = {
        (f["member_id"], f["resource"], f["zone"]): f
        for f in forecasts(world.uow, world.family_id, DAY10)
    }
    teen = found[(world.ids[TEEN], "data", "home")]
    assert teen["projected"] == 28 * GB
    assert teen["runs_out_at"] == (CYCLE_START + timedelta(days=20)).isoformat()
    assert found[(world.ids[OWNER], "data", "home")]["runs_out_at"] is None
    child_sms = found[(world.ids[CHILD], "sms", "home")]
    assert (child_sms["used"], child_sms["quota"], child_sms["projected"]) == (0, 50, 0)
    assert (world.ids[ADULT], "data", "greater-china") in found


def test_earlier_cycles_are_blended_in(world: World) -> None:
    world.use(TEEN_LINE, DATA, 18 * GB, "teen-cycle-1")  # cycle 1: 18 GB in all
    with world.uow() as u:
        family = u.families.get(world.family_id, for_update=True)
        family.start_next_cycle(u.plans.get(family.plan_code))
        u.commit()
        start, end = cycle_instants(family)
    assert (start, end - start) == (CYCLE_END, timedelta(days=28))
    world.now.current = start + timedelta(days=7)
    world.use(TEEN_LINE, DATA, 4 * GB, "teen-cycle-2")  # 16 GB at this pace
    at = world.now.current

    def teen(history: int) -> int:
        rows = forecasts(world.uow, world.family_id, at, history=history)
        return next(
            int(f["projected"])
            for f in rows
            if (f["member_id"], f["resource"]) == (world.ids[TEEN], "data")
        )

    assert teen(0) == 16 * GB
    # 21 days left at 1/4 of this cycle's rate (4 GB / 7 days) + 3/4 of the past's (18 GB /
    # 28 days): 21 * (1/7 + 13.5/28) GB = 13.125 GB, after 4 GB.
    assert teen(3) == 4 * GB + 13_125_000_000


# ================================================================== the owner's policy
def test_the_auto_pass_rebalances_only_families_whose_owner_turned_it_on(world: World) -> None:
    from famsim.service.rebalancing import AutoRebalance

    _teen_runs_out_parent_does_not(world, 30 * GB)
    auto = AutoRebalance(world.uow, world.bus.handle, world.now)
    assert auto.run_due() == []  # off: nobody asked for it
    with world.uow() as u:
        u.billing.set_rebalance_policy(world.family_id, ON)
        u.commit()
    [move] = auto.run_due()
    assert (move["from_member"], move["to_member"], move["units"]) == (
        world.ids[OWNER],
        world.ids[TEEN],
        5 * GB,
    )
    assert auto.run_due() == []  # the teen's need is met (up to its hard cap)


def test_will_run_out_on_day_d_is_said_once_per_day_forecast(world: World) -> None:
    from famsim.service.rebalancing import RUNS_OUT, AutoRebalance

    _teen_runs_out_parent_does_not(world, 30 * GB)
    auto = AutoRebalance(world.uow, world.bus.handle, world.now)
    [alert] = auto.alert_due()
    assert (alert["member_id"], alert["resource"], alert["zone"]) == (
        world.ids[TEEN],
        "data",
        "home",
    )
    assert alert["runs_out_on"] < world.family_cycle_end().isoformat()
    assert auto.alert_due() == []  # said already
    assert [e.payload["runs_out_on"] for e in world.outbox(RUNS_OUT)] == [alert["runs_out_on"]]
