"""The traffic simulator: the charging protocol it speaks, how it obeys answers, its clock
and determinism (with a recording fake gateway), then against famsim itself (in memory)."""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from famsim.adapters.memory import MemoryStore, MemoryUnitOfWork
from famsim.demo import create_demo_family
from famsim.domain.allocation import Limit
from famsim.domain.errors import InvalidInput
from famsim.domain.traffic import PERSONAS
from famsim.domain.units import HOME, Resource
from famsim.service import commands as c
from famsim.service import views
from famsim.service.charging import (
    ChargingAnswer,
    ChargingRequest,
    ChargingService,
    RequestType,
    ServiceAnswer,
    ServiceUse,
)
from famsim.service.messagebus import MessageBus
from famsim.service.simulator import (
    Device,
    SimulationStats,
    TrafficSimulator,
    VirtualClock,
    devices_of,
    family_devices,
    service_gateway,
    simulated_devices,
    simulated_families,
)

pytestmark = pytest.mark.unit

INITIAL, UPDATE, TERMINATION, EVENT = (
    RequestType.INITIAL,
    RequestType.UPDATE,
    RequestType.TERMINATION,
    RequestType.EVENT,
)
HK = "Asia/Hong_Kong"
START = datetime(2026, 2, 2, 0, 0, tzinfo=UTC)  # Monday 08:00 in Hong Kong
DAY = timedelta(days=1)
FAR = START + timedelta(days=60)
MB = 10**6


def device(name: str, subscriber: str = "454001250000011", **kw: object) -> Device:
    fields: dict[str, object] = {"time_zone": HK, "cycle_end": FAR, "contacts": ("+85291250012",)}
    fields.update(kw)
    return Device(subscriber, PERSONAS[name], **fields)  # type: ignore[arg-type]


ALL = [device(name, f"45400125000{n:04d}") for n, name in enumerate(sorted(PERSONAS))]

Grant = Callable[[ChargingRequest, ServiceUse], int]


class Recorder:
    """A fake network core: records every request (and the clock at its batch) and grants
    what ``grant`` says (default: all that was asked)."""

    def __init__(
        self,
        clock: VirtualClock,
        grant: Grant | None = None,
        *,
        validity: int = 3600,
        final: str | None = None,
    ) -> None:
        self.clock = clock
        self.grant = grant or (lambda request, use: use.requested or 0)
        self.validity = validity
        self.final = final
        self.requests: list[ChargingRequest] = []
        self.times: list[datetime] = []
        self.batches = 0

    def __call__(self, requests: Sequence[ChargingRequest]) -> list[ChargingAnswer]:
        self.batches += 1
        now = self.clock.now()
        answers = []
        for request in requests:
            self.requests.append(request)
            self.times.append(now)
            use = request.services[0]
            granted = 0 if request.request_type is TERMINATION else self.grant(request, use)
            wanted = request.request_type is not TERMINATION
            outcome = "limit_reached" if wanted and granted <= 0 else "success"
            service = ServiceAnswer(
                use.resource.value, use.tethered, outcome, granted, self.validity, self.final
            )
            answers.append(
                ChargingAnswer(
                    request.session_id, request.request_number, "success", "home", (service,)
                )
            )
        return answers

    def sessions(self) -> dict[str, list[ChargingRequest]]:
        found: dict[str, list[ChargingRequest]] = defaultdict(list)
        for request in self.requests:
            found[request.session_id].append(request)
        return found


def simulate(
    devices: Sequence[Device] = ALL,
    *,
    seed: int = 1,
    end: datetime = START + DAY,
    grant: Grant | None = None,
    **kw: object,
) -> tuple[Recorder, SimulationStats]:
    clock = VirtualClock(START)
    recorder = Recorder(clock, grant, **kw)  # type: ignore[arg-type]
    simulator = TrafficSimulator(devices, recorder, clock, seed, end=end)
    return recorder, simulator.run()


# --- the protocol ----------------------------------------------------------------------


def test_every_session_is_initial_updates_termination_and_a_message_one_event() -> None:
    recorder, _ = simulate()
    sessions = recorder.sessions()
    assert len(sessions) > 50
    for requests in sessions.values():
        assert [r.request_number for r in requests] == list(range(len(requests)))
        kinds = [r.request_type for r in requests]
        if requests[0].services[0].resource is Resource.SMS:
            assert kinds == [EVENT]
            assert requests[0].services[0].requested == 1
            assert requests[0].destination is not None
        else:
            assert kinds == [INITIAL] + [UPDATE] * (len(kinds) - 2) + [TERMINATION]
        assert len({(r.subscriber, r.serving_plmn, r.destination) for r in requests}) == 1


def test_full_grants_are_used_whole_and_reported() -> None:
    recorder, stats = simulate()
    for requests in recorder.sessions().values():
        for asked, report in itertools.pairwise(requests):
            assert report.services[0].used == asked.services[0].requested
    assert stats.used == stats.granted


def test_only_the_hotspot_is_tethered_and_only_the_traveller_roams() -> None:
    recorder, _ = simulate()
    persona_of = {d.subscriber: d.persona.name for d in ALL}
    tethered = {persona_of[r.subscriber] for r in recorder.requests if r.services[0].tethered}
    roaming = {persona_of[r.subscriber] for r in recorder.requests if r.serving_plmn}
    assert tethered == {"laptop_hotspot"}
    assert roaming == {"traveller"}
    assert {r.serving_plmn for r in recorder.requests if r.serving_plmn} == {"46000"}


def test_statistics_count_what_was_sent_and_answered() -> None:
    recorder, stats = simulate()
    assert stats.requests == len(recorder.requests)
    assert stats.batches == recorder.batches
    for kind in RequestType:
        assert stats.requests_by_type[kind.value] == sum(
            r.request_type is kind for r in recorder.requests
        )
    assert stats.answers == {"success": len(recorder.requests)}
    assert sum(p.requests for p in stats.personas.values()) == stats.requests
    assert set(stats.personas) == set(PERSONAS)
    assert stats.personas["laptop_hotspot"].used["data"] > 0
    assert stats.simulated_to == START + DAY


# --- obeying the answers ---------------------------------------------------------------


def test_a_smaller_grant_limits_use_and_the_device_asks_again() -> None:
    def half(request: ChargingRequest, use: ServiceUse) -> int:
        return max(1, (use.requested or 0) // 2)

    full, _ = simulate([device("teen_streamer")])
    halved, stats = simulate([device("teen_streamer")], grant=half)
    assert len(halved.requests) > len(full.requests)
    for requests in halved.sessions().values():
        for asked, report in itertools.pairwise(requests):
            assert (report.services[0].used or 0) <= half(asked, asked.services[0])
    assert stats.used == stats.granted


def test_a_refused_start_ends_the_session() -> None:
    recorder, stats = simulate(grant=lambda request, use: 0)
    assert recorder.requests
    for requests in recorder.sessions().values():
        assert [r.request_type for r in requests] in ([INITIAL], [EVENT])
    assert stats.answers == {"limit_reached": len(recorder.requests)}
    assert stats.refused == stats.sessions == len(recorder.requests)
    assert not stats.used


def test_a_refused_update_ends_the_session_with_a_termination() -> None:
    def first_only(request: ChargingRequest, use: ServiceUse) -> int:
        return (use.requested or 0) if request.request_type is not UPDATE else 0

    recorder, _ = simulate([device("teen_streamer")], grant=first_only)
    long_ones = [s for s in recorder.sessions().values() if len(s) > 2]
    assert long_ones
    for requests in long_ones:
        assert [r.request_type for r in requests] == [INITIAL, UPDATE, TERMINATION]
        assert not requests[2].services[0].used


def test_a_final_grant_is_the_last() -> None:
    recorder, _ = simulate([device("teen_streamer")], final="terminate")
    for requests in recorder.sessions().values():
        assert [r.request_type for r in requests] in ([INITIAL, TERMINATION], [EVENT])


def test_grants_are_reported_before_their_validity_runs_out() -> None:
    recorder, _ = simulate([device("teen_streamer")], validity=60)
    for requests in recorder.sessions().values():
        for report in requests[1:]:
            assert report.services[0].used is not None
    # a teen's session moves ~8 MB a minute: reports every minute carry about that much
    updates = [r.services[0].used or 0 for r in recorder.requests if r.request_type is UPDATE]
    assert updates
    assert max(updates) <= 750 * MB * 60 // 600


# --- time, cycle ends, determinism -----------------------------------------------------


def test_nothing_is_simulated_outside_the_cycle() -> None:
    cycle_start, cycle_end = START + timedelta(hours=10), START + timedelta(hours=30)
    limited = [
        device(name, f"45400125000{n:04d}", cycle_start=cycle_start, cycle_end=cycle_end)
        for n, name in enumerate(sorted(PERSONAS))
    ]
    recorder, stats = simulate(limited, end=START + 3 * DAY)
    assert recorder.requests
    assert all(cycle_start <= t < cycle_end for t in recorder.times)
    for requests in recorder.sessions().values():  # everything started was ended
        assert requests[-1].request_type in (TERMINATION, EVENT)
    assert stats.simulated_to == START + 3 * DAY


def test_the_same_seed_sends_the_same_requests() -> None:
    first, _ = simulate(seed=7)
    again, _ = simulate(seed=7)
    other, _ = simulate(seed=8)
    assert first.requests == again.requests
    assert first.times == again.times
    assert first.requests != other.requests


def test_steps_on_the_grid_and_a_background_run_send_what_one_run_sends() -> None:
    reference, _ = simulate(seed=3)

    clock = VirtualClock(START)
    stepped = Recorder(clock)
    simulator = TrafficSimulator(ALL, stepped, clock, 3, end=START + DAY)
    at = START
    for minutes in (7, 93, 1, 30, 300, 61):  # multiples of the 30 s grid
        at += timedelta(minutes=minutes)
        simulator.step(at)
    simulator.step(START + DAY)
    assert stepped.requests == reference.requests

    clock = VirtualClock(START)
    background = Recorder(clock)
    simulator = TrafficSimulator(ALL, background, clock, 3, end=START + DAY)
    thread = simulator.run_in_background(threading.Event())
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert simulator.error is None
    assert background.requests == reference.requests


def test_a_paced_run_follows_the_clock_and_sends_the_same_requests() -> None:
    end = START + timedelta(hours=2)
    reference, _ = simulate([device("parent_voice")], end=end)
    clock = VirtualClock(START, speed=4 * 3600)  # two simulated hours in half a second
    recorder = Recorder(clock)
    simulator = TrafficSimulator([device("parent_voice")], recorder, clock, 1, end=end)
    began = time.monotonic()
    simulator.run()
    assert time.monotonic() - began >= 0.4
    assert recorder.requests == reference.requests
    assert all(START <= t <= clock.now() for t in recorder.times)


def test_a_background_run_stops_when_asked() -> None:
    clock = VirtualClock(START, speed=60)  # a minute a second: far from the end
    simulator = TrafficSimulator(ALL, Recorder(clock), clock, 1, end=START + DAY)
    stop = threading.Event()
    thread = simulator.run_in_background(stop)
    time.sleep(0.1)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert simulator.position < START + timedelta(hours=1)


def test_progress_is_reported_as_simulated_time_passes() -> None:
    clock = VirtualClock(START)
    simulator = TrafficSimulator(ALL, Recorder(clock), clock, 1, end=START + DAY)
    seen: list[datetime] = []
    simulator.run(progress=lambda stats: seen.append(stats.simulated_to or START))
    assert seen == sorted(seen)
    assert len(seen) == 24
    assert seen[-1] == START + DAY


def test_a_simulator_needs_distinct_devices_and_a_forward_window() -> None:
    clock = VirtualClock(START)
    with pytest.raises(InvalidInput, match="twice"):
        TrafficSimulator([ALL[0], ALL[0]], Recorder(clock), clock)
    with pytest.raises(InvalidInput, match="before it starts"):
        TrafficSimulator(ALL, Recorder(clock), clock, end=START - DAY)


# --- the virtual clock -----------------------------------------------------------------


class FakeTimer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_paced_clock_runs_at_its_speed() -> None:
    timer = FakeTimer()
    clock = VirtualClock(START, 60, timer=timer)
    assert clock.paced
    timer.now += 2.5
    assert clock.now() == START + timedelta(minutes=2.5)
    assert clock.today() == START.date()
    assert clock.real_seconds_until(START + timedelta(minutes=3.5)) == pytest.approx(1.0)
    clock.advance_to(START + DAY)  # a paced clock is not pushed around
    assert clock.now() == START + timedelta(minutes=2.5)
    clock.restart()
    assert clock.now() == START
    clock.restart(START + DAY)
    timer.now += 1
    assert clock.now() == START + DAY + timedelta(minutes=1)


def test_an_unpaced_clock_moves_only_forward_and_only_when_told() -> None:
    clock = VirtualClock(START.astimezone(UTC))
    assert not clock.paced
    assert clock.now() == START
    clock.advance_to(START + DAY)
    clock.advance_to(START)
    assert clock.now() == START + DAY
    assert clock.real_seconds_until(START + 2 * DAY) == 0


@pytest.mark.parametrize(
    ("start", "speed"),
    [
        (datetime(2026, 2, 2), 0.0),
        (START, -1.0),
        (START, float("nan")),
        (START, float("inf")),
    ],
    ids=["naive-start", "negative-speed", "nan-speed", "infinite-speed"],
)
def test_a_clock_is_checked(start: datetime, speed: float) -> None:
    with pytest.raises(InvalidInput):
        VirtualClock(start, speed)


# --- against famsim (the in-memory adapter) --------------------------------------------


def famsim_on(store: MemoryStore, clock: VirtualClock) -> Callable[..., list[ChargingAnswer]]:
    charging = ChargingService(lambda: MemoryUnitOfWork(store), now=clock.now)
    return service_gateway(charging)


def uow_of(store: MemoryStore) -> Callable[[], MemoryUnitOfWork]:
    return lambda: MemoryUnitOfWork(store)


def test_simulated_families_are_made_once_beside_the_demo_family(
    memory_store: MemoryStore, memory_bus: MessageBus
) -> None:
    create_demo_family(memory_bus)
    ids = simulated_families(memory_bus, uow_of(memory_store), 2)
    assert simulated_families(memory_bus, uow_of(memory_store), 2) == ids
    assert simulated_families(memory_bus, uow_of(memory_store), 3)[:2] == ids
    names = [f["name"] for f in views.list_families(MemoryUnitOfWork(memory_store))]
    assert sorted(names) == ["Chan family", "Sim family 001", "Sim family 002", "Sim family 003"]
    view = views.family_detail(MemoryUnitOfWork(memory_store), ids[0])
    assert [(m["name"], m["role"]) for m in view["members"]] == [
        ("Sim Owner 001", "owner"),
        ("Sim Adult 001", "adult"),
        ("Sim Teen 001", "child"),
        ("Sim Child 001", "child"),
    ]
    kinds = sorted(s["device_kind"] for line in view["lines"] for s in line["subscriptions"])
    assert kinds == ["phone", "phone", "phone", "tablet", "watch"]
    devices = simulated_devices(uow_of(memory_store), ids)
    assert [d.persona.name for d in devices[:6]] == [
        "parent_voice",
        "laptop_hotspot",
        "traveller",
        "teen_streamer",
        "child_watch",
        "tablet",
    ]
    assert devices[8].persona.name == "parent_voice"  # the adult of an even family


def test_the_demo_familys_devices_get_personas_by_role_and_device(
    memory_store: MemoryStore, memory_bus: MessageBus
) -> None:
    family_id = create_demo_family(memory_bus)
    devices = devices_of(views.family_detail(MemoryUnitOfWork(memory_store), family_id))
    assert [(d.member, d.subscriber, d.persona.name) for d in devices] == [
        ("Chan Tai Man", "454001230000001", "parent_voice"),
        ("Chan Tai Man", "454001230000001", "laptop_hotspot"),
        ("Wong Mei Ling", "454001230000002", "traveller"),
        ("Chan Ka Ho", "454001230000003", "teen_streamer"),
        ("Chan Ka Yan", "454001230000004", "teen_streamer"),
        ("Chan Ka Yan", "454001230000005", "child_watch"),
        ("Wong Mei Ling", "454001230000006", "tablet"),
    ]
    watch = devices[5]
    assert watch.contacts == ("+85261230002",)  # her guardian, Wong Mei Ling
    assert watch.time_zone == HK
    assert watch.cycle_end == datetime(2026, 2, 27, 16, 0, tzinfo=UTC)  # 28 Feb in HK


def test_suspended_lines_are_not_simulated(
    memory_store: MemoryStore, memory_bus: MessageBus
) -> None:
    family_id = create_demo_family(memory_bus)
    memory_bus.handle(c.SuspendLine(family_id, "+85251230003", "lost phone"))
    devices = family_devices(uow_of(memory_store), "Chan family")
    assert "454001230000003" not in {d.subscriber for d in devices}


def test_usage_lands_on_the_right_members_zones_and_hotspot(
    memory_store: MemoryStore, memory_bus: MessageBus
) -> None:
    ids = simulated_families(memory_bus, uow_of(memory_store), 1)
    devices = simulated_devices(uow_of(memory_store), ids)
    clock = VirtualClock(START)
    simulator = TrafficSimulator(devices, famsim_on(memory_store, clock), clock, 5, end=START + DAY)
    stats = simulator.run()
    assert stats.answers["success"] == stats.requests

    with MemoryUnitOfWork(memory_store) as uow:
        family = uow.families.get(ids[0])
        records = uow.ledgers.usage(ids[0], family.cycle.number)
    owner_of = {
        s.id: family.members[line.member_id].name
        for line in family.lines.values()
        for s in line.subscriptions
    }
    by_member: dict[str, set[tuple[str, str, bool]]] = defaultdict(set)
    for r in records:
        by_member[owner_of[r.subscription_id]].add((r.resource.value, r.zone, r.tethered))
        assert START <= r.at < START + DAY  # stamped with simulated time
    assert set(by_member) == {"Sim Owner 001", "Sim Adult 001", "Sim Teen 001", "Sim Child 001"}
    assert {zone for _, zone, _ in by_member["Sim Adult 001"]} == {"greater-china"}
    assert {zone for m, s in by_member.items() if m != "Sim Adult 001" for _, zone, _ in s} == {
        "home"
    }
    tethered = {m for m, s in by_member.items() if any(t for *_, t in s)}
    assert tethered == {"Sim Owner 001"}
    used = sum(r.units for r in records if r.resource is Resource.DATA)
    assert used == stats.used["data"]


def test_famsims_refusals_are_obeyed_when_a_cap_is_reached(
    memory_store: MemoryStore, memory_bus: MessageBus
) -> None:
    ids = simulated_families(memory_bus, uow_of(memory_store), 1)
    cap = 300 * MB
    memory_bus.handle(
        c.SetAllocation(
            ids[0], "Sim Teen 001", limits={(Resource.DATA, HOME): Limit(quota=cap, hard_cap=cap)}
        )
    )
    teen = [d for d in simulated_devices(uow_of(memory_store), ids) if d.member == "Sim Teen 001"]
    clock = VirtualClock(START)
    gateway = famsim_on(memory_store, clock)
    exchanges: list[tuple[ChargingRequest, ChargingAnswer]] = []

    def recording(requests: Sequence[ChargingRequest]) -> list[ChargingAnswer]:
        answers = gateway(requests)
        exchanges.extend(zip(requests, answers, strict=True))
        return answers

    stats = TrafficSimulator(teen, recording, clock, 5, end=START + DAY).run()
    assert stats.answers["limit_reached"] > 0
    assert stats.personas["teen_streamer"].refused > 0
    with MemoryUnitOfWork(memory_store) as uow:
        family = uow.families.get(ids[0])
        records = uow.ledgers.usage(ids[0], family.cycle.number)
    data = sum(r.units for r in records if r.resource is Resource.DATA)
    assert data == cap  # all of it, and not a byte more
    assert not any(r.overshoot for r in records)
    refused: set[str] = set()
    for request, answer in exchanges:
        if request.session_id in refused:  # after a refusal, only the session's end
            assert request.request_type is TERMINATION
            assert not request.services[0].used
        if request.request_type is not TERMINATION and not answer.services[0].granted:
            refused.add(request.session_id)
    data_refusals = [
        r
        for r, a in exchanges
        if r.services[0].resource is Resource.DATA
        and a.services
        and a.services[0].outcome == "limit_reached"
    ]
    assert len(data_refusals) > 1  # later sessions try again, and are refused again


def test_the_simulation_stops_at_the_familys_cycle_end(
    memory_store: MemoryStore, memory_bus: MessageBus
) -> None:
    ids = simulated_families(memory_bus, uow_of(memory_store), 1)
    devices = simulated_devices(uow_of(memory_store), ids)
    cycle_end = devices[0].cycle_end  # 28 February, 00:00 in Hong Kong
    start = cycle_end - timedelta(hours=20)
    clock = VirtualClock(start)
    gateway = famsim_on(memory_store, clock)
    stats = TrafficSimulator(devices, gateway, clock, 2, end=start + 2 * DAY).run()
    assert stats.requests > 0
    with MemoryUnitOfWork(memory_store) as uow:
        family = uow.families.get(ids[0])
        records = uow.ledgers.usage(ids[0], family.cycle.number)
        pools = views.family_detail(uow, ids[0])["cycle"]["pools"]
    assert records
    assert all(start <= r.at < cycle_end for r in records)
    assert all(p["reserved"] == 0 for p in pools)  # every session was closed


def test_same_seed_same_requests_against_famsim(sample_plans: list[object]) -> None:
    def run() -> list[ChargingRequest]:
        store = MemoryStore()
        clock = VirtualClock(START)
        bus = MessageBus(uow_of(store), clock)  # the virtual clock dates the families
        bus.handle(c.LoadPlans(tuple(sample_plans)))  # type: ignore[arg-type]
        ids = simulated_families(bus, uow_of(store), 1)
        devices = simulated_devices(uow_of(store), ids)
        assert devices[0].cycle_start == datetime(2026, 2, 1, 16, 0, tzinfo=UTC)
        sent: list[ChargingRequest] = []
        gateway = famsim_on(store, clock)

        def recording(requests: Sequence[ChargingRequest]) -> list[ChargingAnswer]:
            sent.extend(requests)
            return gateway(requests)

        TrafficSimulator(devices, recording, clock, 11, end=START + DAY / 2).run()
        return sent

    first = run()
    assert first
    assert run() == first


def test_submitting_gateway_answers_in_order_and_rejects_what_famsim_refuses() -> None:
    """Through a committer's submit: each answer in its request's place; a request famsim
    refuses to process comes back REJECTED instead of ending the simulation."""
    from concurrent.futures import Future

    from famsim.service.charging import ChargingAnswer, ChargingRequest, RequestType
    from famsim.service.simulator import REJECTED, submitting_gateway

    def submit(request: ChargingRequest) -> Future[ChargingAnswer]:
        future: Future[ChargingAnswer] = Future()
        if request.session_id == "bad":
            future.set_exception(InvalidInput("no such subscriber format"))
        else:
            future.set_result(
                ChargingAnswer(request.session_id, request.request_number, "success", "home")
            )
        return future

    requests = [
        ChargingRequest(name, 0, RequestType.INITIAL, "+85291230001", ())
        for name in ("a", "bad", "c")
    ]
    answers = submitting_gateway(submit)(requests)
    assert [(a.session_id, a.outcome) for a in answers] == [
        ("a", "success"),
        ("bad", REJECTED),
        ("c", "success"),
    ]
