"""What the web dashboard shows (``famsim.service.dashboard``), on the in-memory unit of
work with the demo family and a clock the test moves: forecasts at the current pace, the
pools in reading order, members' detail by the privacy rules, and the bill so far."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from famsim.adapters.memory import MemoryStore, MemoryUnitOfWork
from famsim.demo import create_demo_family
from famsim.domain.access import Principal, Scope
from famsim.domain.errors import Forbidden, NotFound
from famsim.domain.members import Role
from famsim.domain.units import Resource
from famsim.service import commands as c
from famsim.service.access import FamilyReads
from famsim.service.charging import ChargingRequest, ChargingService, RequestType, ServiceUse
from famsim.service.dashboard import Dashboard, cycle_bounds
from famsim.service.messagebus import MessageBus

pytestmark = pytest.mark.unit

GB = 10**9
OWNER, ADULT, TEEN, CHILD = "Chan Tai Man", "Wong Mei Ling", "Chan Ka Ho", "Chan Ka Yan"
SECOND_ADULT = "Lee Siu Fung"
OWNER_LINE, ADULT_LINE = "+85291230001", "+85261230002"
CHINA = "46000"  # a serving network in the plan's greater-china zone
# The conftest clock says 2026-01-31: the cycle runs from that midnight in Hong Kong.
CYCLE_START = datetime(2026, 1, 30, 16, 0, tzinfo=UTC)
CYCLE_END = datetime(2026, 2, 27, 16, 0, tzinfo=UTC)


class Now:
    def __init__(self) -> None:
        self.current = CYCLE_START + timedelta(days=1)

    def __call__(self) -> datetime:
        return self.current


@dataclass
class World:
    dashboard: Dashboard
    family_id: str
    ids: dict[str, str]
    now: Now
    charging: ChargingService
    uow: Callable[[], MemoryUnitOfWork]

    def member(self, name: str) -> Principal:
        return Principal.member(f"account-{name}", self.family_id, self.ids[name])

    def use_data(self, subscriber: str, units: int, session: str, plmn: str | None = None) -> None:
        """*units* of data used in one session, at the clock's now."""
        for number, kind, use in (
            (0, RequestType.INITIAL, ServiceUse(Resource.DATA, requested=units)),
            (1, RequestType.TERMINATION, ServiceUse(Resource.DATA, used=units)),
        ):
            answer = self.charging.handle(
                ChargingRequest(session, number, kind, subscriber, (use,), serving_plmn=plmn)
            )
            assert answer.outcome == "success"


STAFF_ALL = Principal.staff("key-all", frozenset(Scope))


@pytest.fixture
def world(memory_store: MemoryStore, memory_bus: MessageBus) -> World:
    family_id = create_demo_family(memory_bus)
    memory_bus.handle(c.AddMember(family_id, SECOND_ADULT, Role.ADULT))

    def uow() -> MemoryUnitOfWork:
        return MemoryUnitOfWork(memory_store)

    now = Now()
    with uow() as u:
        family = u.families.get(family_id)
    ids = {m.name: m.id for m in family.members.values()}
    return World(
        Dashboard(uow, FamilyReads(uow), now),
        family_id,
        ids,
        now,
        ChargingService(uow, now=now),
        uow,
    )


def pool(family: dict[str, object], resource: str, zone: str = "home") -> dict[str, object]:
    pools = family["pools"]
    assert isinstance(pools, list)
    return next(p for p in pools if (p["resource"], p["zone"]) == (resource, zone))


# =================================================================================== home
def test_the_cycle_bounds_are_midnights_in_the_familys_zone(world: World) -> None:
    home = world.dashboard.home(world.member(OWNER), world.family_id)
    assert cycle_bounds(home) == (CYCLE_START, CYCLE_END)
    assert (home["elapsed_days"], home["days_left"]) == (1, 27)
    assert home["now"] == world.now.current.isoformat()


def test_pools_are_in_reading_order(world: World) -> None:
    home = world.dashboard.home(world.member(OWNER), world.family_id)
    order = [(p["resource"], p["zone"]) for p in home["pools"]]
    assert order == [
        ("data", "home"),
        ("data", "greater-china"),
        ("voice", "home"),
        ("voice", "greater-china"),
        ("sms", "home"),
        ("sms", "greater-china"),
    ]


def test_no_forecast_in_the_first_hour(world: World) -> None:
    world.now.current = CYCLE_START + timedelta(minutes=59)
    world.use_data(OWNER_LINE, GB, "early")
    home = world.dashboard.home(world.member(OWNER), world.family_id)
    assert all(p["forecast"] is None for p in home["pools"])
    owner = next(m for m in home["members"] if m["name"] == OWNER)
    assert [m["forecast"] for m in owner["meters"]] == [None]
    assert home["elapsed_days"] == 0


def test_a_forecast_after_an_hour(world: World) -> None:
    world.now.current = CYCLE_START + timedelta(hours=2)
    world.use_data(OWNER_LINE, GB, "two-hours")
    home = world.dashboard.home(world.member(OWNER), world.family_id)
    forecast = pool(home, "data")["forecast"]
    assert forecast is not None
    hours = (CYCLE_END - CYCLE_START) // timedelta(hours=1)
    assert forecast["projected"] == GB * hours // 2  # 1 GB per 2 hours, the whole cycle
    assert forecast["runs_out_at"] is not None  # 336 GB at this pace, of 100 GB


def test_runs_out_when_the_pace_exceeds_the_pool(world: World) -> None:
    world.use_data(OWNER_LINE, 10 * GB, "heavy")  # 10 GB on day one: 280 GB by the end
    home = world.dashboard.home(world.member(OWNER), world.family_id)
    data = pool(home, "data")
    assert data["used"] == 10 * GB
    assert data["forecast"] == {
        "projected": 280 * GB,
        "runs_out_at": (CYCLE_START + timedelta(days=10)).isoformat(),  # 100 GB at 10 a day
    }
    assert data["series"] == [("2026-01-31", 10 * GB)]


def test_no_run_out_when_the_pace_fits(world: World) -> None:
    world.use_data(OWNER_LINE, 3 * GB, "light")  # 84 GB by the end, of 100 GB
    home = world.dashboard.home(world.member(OWNER), world.family_id)
    assert pool(home, "data")["forecast"] == {"projected": 84 * GB, "runs_out_at": None}
    voice = pool(home, "voice")
    assert voice["total"] is None
    assert voice["forecast"] == {"projected": 0, "runs_out_at": None}


def test_the_series_is_cumulative_by_day(world: World) -> None:
    world.use_data(OWNER_LINE, GB, "day1")
    world.now.current += timedelta(days=1)
    world.use_data(OWNER_LINE, 2 * GB, "day2")
    world.now.current += timedelta(days=2)
    home = world.dashboard.home(world.member(OWNER), world.family_id)
    assert pool(home, "data")["series"] == [("2026-01-31", GB), ("2026-02-01", 3 * GB)]


def test_a_pools_series_ends_at_what_the_pool_shows_used(world: World) -> None:
    world.use_data(ADULT_LINE, 5 * GB, "abroad", plmn=CHINA)  # 1 GB past her 4 GB quota
    home = world.dashboard.home(world.member(OWNER), world.family_id)
    abroad = pool(home, "data", "greater-china")
    assert abroad["series"][-1][1] == abroad["used"]


def test_members_meters_show_their_bounds(world: World) -> None:
    home = world.dashboard.home(world.member(OWNER), world.family_id)
    child = next(m for m in home["members"] if m["name"] == CHILD)
    data = next(m for m in child["meters"] if m["resource"] == "data")
    assert (data["used"], data["quota"], data["hard_cap"], data["bound"]) == (
        0,
        3 * GB,
        3 * GB,
        3 * GB,
    )


def test_a_member_without_limits_is_bounded_by_the_pool(world: World) -> None:
    world.use_data(OWNER_LINE, GB, "owner")
    home = world.dashboard.home(world.member(OWNER), world.family_id)
    owner = next(m for m in home["members"] if m["name"] == OWNER)
    assert [(m["resource"], m["zone"], m["bound"]) for m in owner["meters"]] == [
        ("data", "home", 100 * GB)
    ]


def test_a_child_sees_no_pools_and_no_one_elses_usage(world: World) -> None:
    world.use_data(OWNER_LINE, GB, "owner")
    home = world.dashboard.home(world.member(CHILD), world.family_id)
    assert home["pools"] is None
    assert home["alerts"] == []
    for member in home["members"]:
        if member["name"] == CHILD:
            assert member["meters"]
        else:
            assert member["meters"] == []
            assert "usage" not in member


def test_an_adult_sees_the_pools_but_not_the_owners_usage(world: World) -> None:
    world.use_data(OWNER_LINE, GB, "owner")
    home = world.dashboard.home(world.member(ADULT), world.family_id)
    assert pool(home, "data")["used"] == GB  # the pool, all members together
    owner = next(m for m in home["members"] if m["name"] == OWNER)
    assert owner["meters"] == []
    ward = next(m for m in home["members"] if m["name"] == CHILD)
    assert ward["meters"]


def test_someone_outside_the_family_learns_nothing(world: World) -> None:
    stranger = Principal.member("account-x", "another-family", "member-x")
    with pytest.raises(NotFound):
        world.dashboard.home(stranger, world.family_id)
    with pytest.raises(NotFound):
        world.dashboard.member(stranger, world.family_id, world.ids[OWNER])
    with pytest.raises(NotFound):
        world.dashboard.bill(stranger, world.family_id)


# ================================================================================= member
@pytest.mark.parametrize(
    ("viewer", "target"),
    [
        (ADULT, SECOND_ADULT),
        (SECOND_ADULT, ADULT),
        (ADULT, OWNER),
        (OWNER, ADULT),  # the owner sees an adult's totals, not its detail
        (ADULT, TEEN),  # not her ward
        (CHILD, TEEN),
        (CHILD, OWNER),
    ],
    ids=[
        "adult-adult",
        "adult-adult-reverse",
        "adult-owner",
        "owner-adult",
        "adult-other-child",
        "child-child",
        "child-owner",
    ],
)
def test_member_detail_is_refused_without_a_right_to_it(
    world: World, viewer: str, target: str
) -> None:
    with pytest.raises(Forbidden, match="not shared"):
        world.dashboard.member(world.member(viewer), world.family_id, world.ids[target])


@pytest.mark.parametrize(
    ("viewer", "target"),
    [(OWNER, CHILD), (OWNER, TEEN), (ADULT, CHILD), (CHILD, CHILD), (ADULT, ADULT)],
    ids=["owner-child", "owner-teen", "guardian-ward", "child-self", "adult-self"],
)
def test_member_detail_for_those_who_may_see_it(world: World, viewer: str, target: str) -> None:
    found = world.dashboard.member(world.member(viewer), world.family_id, world.ids[target])
    assert found["member"]["name"] == target
    assert "lines" in found["member"]
    assert found["member"]["by_day"] == []


def test_consent_opens_an_adults_detail(world: World) -> None:
    world.use_data(ADULT_LINE, GB, "adult")
    with world.uow() as uow:
        uow.consents.grant(world.ids[ADULT], world.ids[SECOND_ADULT], world.now())
        uow.commit()
    found = world.dashboard.member(world.member(SECOND_ADULT), world.family_id, world.ids[ADULT])
    assert found["member"]["by_day"] == [
        {"day": "2026-01-31", "resource": "data", "zone": "home", "units": GB, "from_pool": GB}
    ]
    with pytest.raises(Forbidden):  # a consent goes one way, to one person
        world.dashboard.member(world.member(OWNER), world.family_id, world.ids[ADULT])


def test_staff_see_member_detail_with_usage_read_only(world: World) -> None:
    assert world.dashboard.member(STAFF_ALL, world.family_id, world.ids[ADULT])
    no_usage = Principal.staff("key-families", frozenset({Scope.FAMILIES_READ}))
    with pytest.raises(Forbidden):
        world.dashboard.member(no_usage, world.family_id, world.ids[ADULT])


# =================================================================================== bill
def test_the_bill_adds_up_to_its_total(world: World) -> None:
    world.use_data(ADULT_LINE, 5 * GB, "abroad", plmn=CHINA)  # 1 GB past her 4 GB quota
    bill = world.dashboard.bill(world.member(OWNER), world.family_id)
    assert sum(item["minor"] for item in bill["lines"]) == bill["total_minor"]
    kinds = [item["kind"] for item in bill["lines"]]
    assert kinds[0] == "plan"
    assert kinds.count("line") == 6  # four phones, a watch and a tablet
    overage = [item for item in bill["lines"] if item["kind"] == "overage"]
    assert [item["label"] for item in overage] == [ADULT]
    assert overage[0]["minor"] > 0
    assert bill["family"]["currency"] == "HKD"
    assert bill["money_cap_minor"] == 50_000
    assert bill["cycle"] == {"number": 1, "start": "2026-01-31", "end": "2026-02-28"}
    assert bill["invoices"] == []


def test_the_bill_without_usage_is_fees_only(world: World) -> None:
    bill = world.dashboard.bill(world.member(OWNER), world.family_id)
    assert {item["kind"] for item in bill["lines"]} <= {"plan", "management", "line"}
    assert sum(item["minor"] for item in bill["lines"]) == bill["total_minor"]
    assert all(item["minor"] > 0 for item in bill["lines"])


@pytest.mark.parametrize("viewer", [ADULT, SECOND_ADULT, TEEN, CHILD])
def test_only_the_owner_reads_the_bill(world: World, viewer: str) -> None:
    with pytest.raises(Forbidden):
        world.dashboard.bill(world.member(viewer), world.family_id)


def test_staff_read_the_bill_with_families_read(world: World) -> None:
    owners = world.dashboard.bill(world.member(OWNER), world.family_id)
    assert world.dashboard.bill(STAFF_ALL, world.family_id) == owners
    reader = Principal.staff("key-families", frozenset({Scope.FAMILIES_READ}))
    assert world.dashboard.bill(reader, world.family_id) == owners
    with pytest.raises(Forbidden):
        world.dashboard.bill(
            Principal.staff("key-plans", frozenset({Scope.PLANS_READ})), world.family_id
        )
