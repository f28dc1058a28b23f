"""The traffic simulator: families' devices using their lines, charged by famsim live.

It plays the network. Each simulated device (a subscriber with a persona, see
:mod:`famsim.domain.traffic`) makes data sessions, calls and text messages, and the
simulator asks famsim for credit exactly as a packet core or an IMS would, through one
port, a :data:`ChargingGateway`: an INITIAL request asking for units, UPDATEs reporting
what was used and asking for more, a TERMINATION with the last units used; a text message
is one EVENT. It obeys the answers: a refusal or a zero grant ends the session, a smaller
grant than asked is all the device uses before it asks again, a grant with a final-unit
action is the last, and a grant is reported before its validity time runs out.

Time is simulated (:class:`VirtualClock`). The simulator walks it on a fixed grid of
``resolution`` seconds from its start: everything due in a slot goes to the gateway as a
batch (a follow-up due in the same slot goes in a next batch), so for one seed, start and
set of answers the requests are always the same, in the same order, however the caller
steps (on the grid) and however fast the clock runs. No device is simulated past its
family's cycle end: closing a cycle is billing's business.
"""

from __future__ import annotations

import heapq
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from famsim.domain.errors import FamsimError, InvalidInput
from famsim.domain.identifiers import Eid, Iccid, Imei
from famsim.domain.ids import FamilyId
from famsim.domain.lines import SimType, SubscriptionState
from famsim.domain.members import Role
from famsim.domain.money import Money
from famsim.domain.plan import DeviceKind
from famsim.domain.traffic import Activity, Persona, device_traffic, persona
from famsim.domain.units import Resource
from famsim.service import commands as c
from famsim.service import views
from famsim.service.charging import (
    ChargingAnswer,
    ChargingRequest,
    ChargingService,
    Outcome,
    RequestType,
    ServiceUse,
)
from famsim.service.messagebus import MessageBus
from famsim.service.ports import UnitOfWork

log = logging.getLogger(__name__)

ChargingGateway = Callable[[Sequence[ChargingRequest]], list[ChargingAnswer]]
"""The simulator's one way into famsim: a batch of requests in, one answer each out."""

REJECTED = "rejected"
"""The outcome the gateway gives a request famsim refused to process (a malformed one)."""
DEFAULT_RESOLUTION = 30
"""Seconds of simulated time per slot: requests due in one slot share a batch."""
REPORT_SECONDS = 600
"""A data session asks for about this many seconds' worth of bytes at a time."""
VOICE_SLICE = 300
"""A call asks for at most this many seconds at a time."""
_GENERATE_SECONDS = 86_400
_MAX_WAIT = 0.25  # seconds of real time between checks of the stop event


def service_gateway(service: ChargingService) -> ChargingGateway:
    """A gateway onto a :class:`ChargingService` in this process.

    One batch is one ``handle_batch`` (one transaction). A request famsim refuses to
    process (its exception in place of an answer) gets an answer with outcome
    :data:`REJECTED`, as a network would get an error code; a storage failure raises.
    """

    def send(requests: Sequence[ChargingRequest]) -> list[ChargingAnswer]:
        results = service.handle_batch(requests)
        return [_answer(r, result) for r, result in zip(requests, results, strict=True)]

    return send


def submitting_gateway(
    submit: Callable[[ChargingRequest], Future[ChargingAnswer]],
) -> ChargingGateway:
    """A gateway onto a group committer's ``submit`` (a server's own engine): the
    requests share its durable commits with every other client of that server."""

    def send(requests: Sequence[ChargingRequest]) -> list[ChargingAnswer]:
        futures = [submit(request) for request in requests]
        answers = []
        for request, future in zip(requests, futures, strict=True):
            try:
                answers.append(future.result())
            except FamsimError as exc:
                answers.append(_answer(request, exc))
        return answers

    return send


def _answer(request: ChargingRequest, result: ChargingAnswer | Exception) -> ChargingAnswer:
    """The answer, or for a request famsim refused to process, a :data:`REJECTED` one."""
    if isinstance(result, ChargingAnswer):
        return result
    log.warning("charging refused %s: %s", request.session_id, result)
    return ChargingAnswer(request.session_id, request.request_number, REJECTED, None)


# ---------------------------------------------------------------------------- time
class VirtualClock:
    """Simulated time: ``start + real seconds elapsed x speed``.

    ``speed`` is simulated seconds per real second (60: an hour a minute); 0 means as fast
    as possible: time then stands still except when the simulator moves it
    (:meth:`advance_to`). It is the service's Clock port (``today()``, the UTC date) and
    its ``now`` is an instant source, so ``bootstrap(settings, clock=clock, now=clock.now)``
    dates new families and stamps usage (``App.charging``) in simulated time. Safe to
    share between threads.
    """

    def __init__(
        self,
        start: datetime,
        speed: float = 0.0,
        *,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if start.tzinfo is None or start.utcoffset() is None:
            raise InvalidInput("the simulated start needs a time zone (e.g. UTC)")
        if not math.isfinite(speed) or speed < 0:
            raise InvalidInput(f"speed must be 0 (as fast as possible) or positive, not {speed}")
        self._speed = float(speed)
        self._timer = timer
        self._lock = threading.Lock()
        self._start = start.astimezone(UTC)
        self._origin = timer()
        self._manual = self._start

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def paced(self) -> bool:
        """True when time runs by itself (speed > 0)."""
        return self._speed > 0

    @property
    def start(self) -> datetime:
        return self._start

    def now(self) -> datetime:
        """The simulated instant (aware, UTC)."""
        with self._lock:
            if not self.paced:
                return self._manual
            elapsed = (self._timer() - self._origin) * self._speed
            return self._start + timedelta(seconds=elapsed)

    def today(self) -> date:
        return self.now().date()

    def advance_to(self, instant: datetime) -> None:
        """Move an unpaced clock forward to ``instant`` (never back); paced: nothing."""
        with self._lock:
            if not self.paced and instant > self._manual:
                self._manual = instant.astimezone(UTC)

    def restart(self, at: datetime | None = None) -> None:
        """Begin again at ``at`` (default: the start) from this real instant: e.g. after
        setting up families, so a paced run starts where it was meant to."""
        with self._lock:
            if at is not None:
                if at.tzinfo is None or at.utcoffset() is None:
                    raise InvalidInput("the simulated start needs a time zone (e.g. UTC)")
                self._start = at.astimezone(UTC)
            self._origin = self._timer()
            self._manual = self._start

    def real_seconds_until(self, instant: datetime) -> float:
        """Real seconds before a paced clock reaches ``instant`` (0 if it has, or unpaced)."""
        if not self.paced:
            return 0.0
        ahead = (instant - self.now()).total_seconds()
        return max(0.0, ahead / self._speed)


# -------------------------------------------------------------------------- devices
@dataclass(frozen=True, slots=True)
class Device:
    """One simulated device: a subscriber (IMSI, or MSISDN for a line's primary SIM) used
    the way ``persona`` says, in the family's time zone, inside the family's cycle.

    ``cycle_end`` is when the simulation of this device stops at the latest (aware);
    ``cycle_start`` (aware, None: no bound) when it may begin. ``contacts`` are the family
    numbers it calls and messages.
    """

    subscriber: str
    persona: Persona
    time_zone: str
    cycle_end: datetime
    cycle_start: datetime | None = None
    family: str = ""
    member: str = ""
    contacts: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """What the device's traffic is drawn from (with the seed): subscriber and persona."""
        return f"{self.subscriber}/{self.persona.name}"


def cycle_bounds(view: Mapping[str, Any]) -> tuple[datetime, datetime]:
    """The current cycle of a family view as instants: local midnights of its dates."""
    zone = ZoneInfo(view["time_zone"])
    cycle = view["cycle"]
    start, end = (
        datetime.combine(date.fromisoformat(cycle[k]), datetime.min.time(), zone).astimezone(UTC)
        for k in ("start", "end")
    )
    return start, end


def devices_of(view: Mapping[str, Any], *, adult: str = "traveller") -> list[Device]:
    """Personas for an existing family's devices (a family view, see views.family_view).

    A watch is a ``child_watch``, a tablet or other device a ``tablet``; a phone is a
    ``teen_streamer`` for a child, ``parent_voice`` for the owner (whose phone also
    carries a ``laptop_hotspot``), and ``adult`` (default ``traveller``) for other adults.
    Closed and suspended lines, removed members, SIMs not on a device (ordered, disabled,
    deleted ...) and replacements not yet in use are left out. A child calls its
    guardians; everyone else the family's other numbers.
    """
    start, end = cycle_bounds(view)
    members = {m["id"]: m for m in view["members"] if m["status"] == "active"}
    lines = [
        line
        for line in view["lines"]
        if line["status"] == "active" and line["member_id"] in members
    ]
    numbers_of: dict[str, list[str]] = {}
    for line in lines:
        if not line["data_only"]:
            numbers_of.setdefault(line["member_id"], []).append(line["msisdn"])
    devices = []
    for line in lines:
        member = members[line["member_id"]]
        role = Role(member["role"])
        if role is Role.CHILD and member["guardian_id"] in numbers_of:
            contacts = tuple(numbers_of[member["guardian_id"]])
        else:
            contacts = tuple(n for m, ns in numbers_of.items() if m != member["id"] for n in ns)
        for sub in line["subscriptions"]:
            if SubscriptionState(sub["state"]) not in _ON_A_DEVICE or sub["replaces"]:
                continue  # not (yet, or any more) on a device; a new device not yet in use
            for name in _personas_for(DeviceKind(sub["device_kind"]), role, adult):
                devices.append(
                    Device(
                        subscriber=sub["imsi"],
                        persona=persona(name),
                        time_zone=view["time_zone"],
                        cycle_end=end,
                        cycle_start=start,
                        family=view["name"],
                        member=member["name"],
                        contacts=contacts,
                    )
                )
    return devices


_ON_A_DEVICE = frozenset(
    {SubscriptionState.DOWNLOADED, SubscriptionState.INSTALLED, SubscriptionState.ENABLED}
)


def _personas_for(kind: DeviceKind, role: Role, adult: str) -> tuple[str, ...]:
    if kind is DeviceKind.WATCH:
        return ("child_watch",)
    if kind is not DeviceKind.PHONE:
        return ("tablet",)
    if role is Role.CHILD:
        return ("teen_streamer",)
    if role is Role.OWNER:
        return ("parent_voice", "laptop_hotspot")
    return (adult,)


def family_devices(
    uow_factory: Callable[[], UnitOfWork], family: str, *, adult: str = "traveller"
) -> list[Device]:
    """The devices of a family (by id or exact name) as it stands, see :func:`devices_of`."""
    family_id = views.resolve_family(uow_factory(), family)
    return devices_of(views.family_detail(uow_factory(), family_id), adult=adult)


# --------------------------------------------------------------- simulated families
SIM_PLAN = "hk-family-5g-100"
MAX_SIM_FAMILIES = 999


def sim_family_name(number: int) -> str:
    return f"Sim family {number:03d}"


def sim_adult_persona(number: int) -> str:
    """The other adult of a simulated family: a traveller in odd, a caller in even ones."""
    return "traveller" if number % 2 else "parent_voice"


@dataclass(frozen=True, slots=True)
class _SimLine:
    slot: int
    member: str
    kind: DeviceKind
    data_only: bool = False


def _sim_layout(number: int) -> tuple[list[tuple[str, Role, str | None]], list[_SimLine]]:
    n = f"{number:03d}"
    owner, adult, teen, child = (f"Sim {who} {n}" for who in ("Owner", "Adult", "Teen", "Child"))
    members = [(adult, Role.ADULT, None), (teen, Role.CHILD, owner), (child, Role.CHILD, adult)]
    lines = [
        _SimLine(1, owner, DeviceKind.PHONE),
        _SimLine(2, adult, DeviceKind.PHONE),
        _SimLine(3, teen, DeviceKind.PHONE),
        _SimLine(4, child, DeviceKind.WATCH),
        _SimLine(5, owner, DeviceKind.TABLET, data_only=True),
    ]
    return [(owner, Role.OWNER, None), *members], lines


def _sim_ids(number: int, slot: int) -> tuple[str, c.SubscriptionSpec]:
    """The number and SIM of one slot of a simulated family.

    Ranges apart from the demo's (ICCIDs 8985200001230/240..., +852 9123/9012 ....):
    ICCID 8985200001250nnnns, IMSI 4540012500nnnns, number +852 9125 nnns.
    """
    k = number * 10 + slot
    spec = c.SubscriptionSpec(
        iccid=str(Iccid.from_body(f"8985200001250{k:05d}")),
        imsi=f"4540012500{k:05d}",
        sim_type=SimType.ESIM,
        device_kind=DeviceKind.PHONE,
        eid=str(Eid.from_body(f"8904903200001000000000250{k:05d}")),
        imei=str(Imei.from_body(f"353322125{k:05d}")),
    )
    return f"+8529125{k:04d}", spec


def simulated_families(
    bus: MessageBus, uow_factory: Callable[[], UnitOfWork], count: int
) -> list[FamilyId]:
    """Sim family 001 .. ``count`` on the sample HK plan, made through service commands.

    Each has an owner (a phone, also used as a laptop hotspot, and a data-only tablet), an
    adult (a phone), a teenager (a phone) and a younger child (a watch with its own
    number). Idempotent: a family that exists by name is reused, and anything it lacks of
    this layout is added. Returns the families' ids, in order.
    """
    if not 0 <= count <= MAX_SIM_FAMILIES:
        raise InvalidInput(f"between 0 and {MAX_SIM_FAMILIES} simulated families, not {count}")
    existing: dict[str, FamilyId] = {}
    with uow_factory() as uow:
        for summary in uow.families.summaries():
            existing.setdefault(summary.name, summary.id)
    found = []
    for number in range(1, count + 1):
        name = sim_family_name(number)
        members, lines = _sim_layout(number)
        family_id = existing.get(name)
        if family_id is None:
            family_id = bus.handle(
                c.CreateFamily(
                    name=name,
                    plan_code=SIM_PLAN,
                    owner_name=members[0][0],
                    money_cap=Money.parse("500.00", "HKD"),
                )
            )
        view = views.family_detail(uow_factory(), family_id)
        have = {m["name"] for m in view["members"] if m["status"] == "active"}
        for member, role, guardian in members[1:]:
            if member not in have:
                bus.handle(c.AddMember(family_id, member, role, guardian_id=guardian))
        numbers = {line["msisdn"] for line in view["lines"]}
        for line in lines:
            msisdn, spec = _sim_ids(number, line.slot)
            if msisdn not in numbers:
                spec = replace(spec, device_kind=line.kind)
                bus.handle(c.AddLine(family_id, line.member, msisdn, spec, line.data_only))
        found.append(family_id)
    return found


def simulated_devices(
    uow_factory: Callable[[], UnitOfWork], family_ids: Sequence[FamilyId]
) -> list[Device]:
    """The devices of simulated families (from :func:`simulated_families`, in its order)."""
    return [
        device
        for number, family_id in enumerate(family_ids, start=1)
        for device in family_devices(uow_factory, family_id, adult=sim_adult_persona(number))
    ]


# ---------------------------------------------------------------------------- stats
@dataclass(slots=True)
class PersonaStats:
    requests: int = 0
    sessions: int = 0
    refused: int = 0
    """Sessions ended by a refusal or a zero grant."""
    granted: Counter[str] = field(default_factory=Counter)
    used: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class SimulationStats:
    """What the simulator sent and got back.

    ``answers`` counts answers by outcome: a service's (``success``, ``limit_reached``,
    ``roaming_not_allowed`` ...), or the whole answer's when it is not a success
    (``user_unknown``, ``line_suspended``, ``rejected``). ``granted`` and ``used`` are
    units per resource (bytes, seconds, messages); ``used`` is what devices reported.
    """

    requests: int = 0
    batches: int = 0
    sessions: int = 0
    refused: int = 0
    requests_by_type: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    granted: Counter[str] = field(default_factory=Counter)
    used: Counter[str] = field(default_factory=Counter)
    personas: dict[str, PersonaStats] = field(default_factory=dict)
    simulated_to: datetime | None = None

    def copy(self) -> SimulationStats:
        return SimulationStats(
            self.requests,
            self.batches,
            self.sessions,
            self.refused,
            Counter(self.requests_by_type),
            Counter(self.answers),
            Counter(self.granted),
            Counter(self.used),
            {
                name: PersonaStats(
                    p.requests, p.sessions, p.refused, Counter(p.granted), Counter(p.used)
                )
                for name, p in self.personas.items()
            },
            self.simulated_to,
        )

    def persona(self, name: str) -> PersonaStats:
        found = self.personas.get(name)
        if found is None:
            found = self.personas[name] = PersonaStats()
        return found


# ------------------------------------------------------------------------ simulator
class _Step(Enum):
    START = "start"
    REPORT = "report"
    CLOSE = "close"


@dataclass(slots=True)
class _Session:
    id: str
    device: Device
    activity: Activity
    number: int = 0
    """The next request number."""
    consumed: int = 0
    """Units used and reported so far."""
    granted: int = 0
    """Units of the grant being used."""
    final: bool = False
    """The grant being used is the last (it came with a final-unit action)."""

    def used_by(self, instant: datetime) -> int:
        """Units the activity would have used by ``instant`` at its even pace."""
        a = self.activity
        if a.seconds <= 0:
            return a.units
        elapsed = min(max(int((instant - a.start).total_seconds()), 0), a.seconds)
        return a.units * elapsed // a.seconds

    def done_by(self, units: int) -> datetime:
        """The first whole second by which ``units`` in all are used."""
        a = self.activity
        seconds = -(-units * a.seconds // a.units)  # ceiling
        return a.start + timedelta(seconds=min(seconds, a.seconds))


@dataclass(order=True, slots=True)
class _Event:
    at: datetime
    order: int
    step: _Step = field(compare=False)
    session: _Session = field(compare=False)


class TrafficSimulator:
    """Simulated devices charged through a gateway, on a virtual clock.

    ``start`` defaults to the clock's now, ``end`` (exclusive) to no end but the devices'
    cycle ends; nothing runs before a device's cycle start or into its cycle end. Call
    :meth:`step` or :meth:`run` from one thread at a time, or :meth:`run_in_background`.
    """

    def __init__(
        self,
        devices: Sequence[Device],
        gateway: ChargingGateway,
        clock: VirtualClock,
        seed: int = 1,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        resolution: int = DEFAULT_RESOLUTION,
    ) -> None:
        if resolution <= 0:
            raise InvalidInput("the resolution is a positive number of seconds")
        self.devices = tuple(devices)
        keys = [d.key for d in self.devices]
        if len(set(keys)) != len(keys):
            raise InvalidInput("a device (subscriber and persona) is listed twice")
        self.seed = seed
        self._gateway = gateway
        self.clock = clock
        self.start = (start or clock.now()).astimezone(UTC)
        self.end = end.astimezone(UTC) if end is not None else None
        if self.end is not None and self.end < self.start:
            raise InvalidInput("the simulation cannot end before it starts")
        self.resolution = timedelta(seconds=resolution)
        self.error: BaseException | None = None
        self._position = self.start
        self._generated = self.start
        self._events: list[_Event] = []
        self._order = 0
        self._stats = SimulationStats(simulated_to=self.start)
        self._lock = threading.Lock()

    # --------------------------------------------------------------------- public
    @property
    def position(self) -> datetime:
        """How far the simulation has gone: everything before this instant was sent."""
        return self._position

    @property
    def stats(self) -> SimulationStats:
        """A copy of the statistics so far (safe to read while it runs in the background)."""
        with self._lock:
            return self._stats.copy()

    @property
    def finish(self) -> datetime:
        """Where a run without ``until`` stops: the end, or the last device's cycle end."""
        if self.end is not None:
            return self.end
        return max((self._stop(d) for d in self.devices), default=self.start)

    def step(self, until: datetime) -> int:
        """Send every request due before ``until``; returns how many were sent.

        The simulation moves slot by slot on its grid; stepping to instants on the grid
        (or to the end) gives the same requests whichever steps are taken.
        """
        until = until.astimezone(UTC)
        sent = 0
        while self._position < until:
            slot_end = min(self._next_grid_point(self._position), until)
            self._generate(slot_end)
            while self._events and self._events[0].at < slot_end:
                sent += self._send_batch(slot_end)
            self._position = slot_end
            self.clock.advance_to(slot_end)
            with self._lock:
                self._stats.simulated_to = slot_end
        return sent

    def run(
        self,
        until: datetime | None = None,
        *,
        progress: Callable[[SimulationStats], None] | None = None,
        stop: threading.Event | None = None,
        report_every: timedelta = timedelta(hours=1),
    ) -> SimulationStats:
        """Simulate up to ``until`` (default :attr:`finish`) and return the statistics.

        On a paced clock it waits for simulated time to reach each slot before sending
        it (catching up at once when behind); unpaced it goes as fast as it can.
        ``progress`` gets the statistics after each slot (paced) or each ``report_every``
        of simulated time; setting ``stop`` ends the run after the current slot.
        """
        end = self.finish if until is None else until.astimezone(UTC)
        slots = 1 if self.clock.paced else max(1, report_every // self.resolution)
        chunk = slots * self.resolution  # whole slots: the same requests as any other steps
        while self._position < end and not (stop is not None and stop.is_set()):
            target = min(self._position + chunk, end)
            if self.clock.paced and not self._wait_for(target, stop):
                break
            self.step(target)
            if progress is not None:
                progress(self.stats)
        return self.stats

    def run_in_background(
        self, stop: threading.Event, until: datetime | None = None
    ) -> threading.Thread:
        """Run in a daemon thread until ``until`` (default :attr:`finish`) or ``stop`` is
        set; returns the started thread. A failure ends it and is kept in :attr:`error`."""

        def target() -> None:
            try:
                self.run(until, stop=stop)
            except BaseException as exc:  # kept for the caller; the thread just ends
                self.error = exc
                log.exception("the traffic simulator stopped")

        thread = threading.Thread(target=target, name="famsim-simulator", daemon=True)
        thread.start()
        return thread

    # -------------------------------------------------------------------- private
    def _next_grid_point(self, instant: datetime) -> datetime:
        slots = (instant - self.start) // self.resolution + 1
        return self.start + slots * self.resolution

    def _wait_for(self, target: datetime, stop: threading.Event | None) -> bool:
        """Sleep until the paced clock reaches ``target``; False if stopped meanwhile."""
        while (wait := self.clock.real_seconds_until(target)) > 0:
            pause = min(wait, _MAX_WAIT)
            if stop is not None:
                if stop.wait(pause):
                    return False
            else:
                time.sleep(pause)
        return True

    def _begin(self, device: Device) -> datetime:
        if device.cycle_start is None:
            return self.start
        return max(self.start, device.cycle_start.astimezone(UTC))

    def _stop(self, device: Device) -> datetime:
        end = device.cycle_end.astimezone(UTC)
        return end if self.end is None else min(end, self.end)

    def _generate(self, until: datetime) -> None:
        """Queue the activities of every device that start before ``until`` (by days)."""
        while self._generated < until:
            chunk_end = self._generated + timedelta(seconds=_GENERATE_SECONDS)
            for device in self.devices:
                stop = self._stop(device)
                begin = max(self._generated, self._begin(device))
                activities = device_traffic(
                    device.persona,
                    seed=self.seed,
                    device_key=device.key,
                    time_zone=device.time_zone,
                    start=begin,
                    end=min(chunk_end, stop),
                    stop=stop,
                    contacts=device.contacts,
                )
                seen: Counter[tuple[datetime, Resource]] = Counter()
                for activity in activities:
                    # The same activity always gets the same id: a rerun of a window is a
                    # retransmission to famsim, answered from what it stored, never charged
                    # twice.
                    at = int(activity.start.timestamp())
                    n = seen[activity.start, activity.resource]
                    seen[activity.start, activity.resource] += 1
                    session_id = f"sim{self.seed}-{device.key}-{at}-{activity.resource}{n}"
                    self._push(activity.start, _Step.START, _Session(session_id, device, activity))
            self._generated = chunk_end

    def _push(self, at: datetime, step: _Step, session: _Session) -> None:
        self._order += 1
        heapq.heappush(self._events, _Event(at, self._order, step, session))

    def _send_batch(self, slot_end: datetime) -> int:
        """One batch: every event due before ``slot_end`` now, each session's at most once."""
        due: list[_Event] = []
        while self._events and self._events[0].at < slot_end:
            due.append(heapq.heappop(self._events))
        requests = [self._request(event) for event in due]
        self.clock.advance_to(due[-1].at)
        answers = self._gateway(requests)
        if len(answers) != len(requests):
            raise FamsimError(f"the gateway answered {len(answers)} of {len(requests)} requests")
        with self._lock:
            self._stats.batches += 1
            for event, request, answer in zip(due, requests, answers, strict=True):
                self._count(event.session, request, answer)
        for event, request, answer in zip(due, requests, answers, strict=True):
            self._follow(event, request, answer)
        return len(requests)

    def _request(self, event: _Event) -> ChargingRequest:
        session, activity = event.session, event.session.activity
        resource, tethered = activity.resource, activity.tethered
        if event.step is _Step.START and resource is Resource.SMS:
            kind = RequestType.EVENT
            use = ServiceUse(resource, requested=1)
        elif event.step is _Step.START:
            kind = RequestType.INITIAL
            use = ServiceUse(resource, tethered, requested=self._ask(session))
        elif event.step is _Step.CLOSE:
            kind = RequestType.TERMINATION
            use = ServiceUse(resource, tethered)
        else:
            used = min(session.granted, max(0, session.used_by(event.at) - session.consumed))
            session.consumed += used
            session.granted = 0
            last = event.at >= activity.end or session.consumed >= activity.units
            if last or session.final:
                kind = RequestType.TERMINATION
                use = ServiceUse(resource, tethered, used=used)
            else:
                kind = RequestType.UPDATE
                use = ServiceUse(resource, tethered, requested=self._ask(session), used=used)
        request = ChargingRequest(
            session_id=session.id,
            request_number=session.number,
            request_type=kind,
            subscriber=session.device.subscriber,
            services=(use,),
            serving_plmn=activity.serving_plmn,
            destination=activity.destination,
        )
        session.number += 1
        return request

    @staticmethod
    def _ask(session: _Session) -> int:
        activity = session.activity
        left = activity.units - session.consumed
        if activity.resource is Resource.VOICE:
            return max(1, min(left, VOICE_SLICE))
        pace = activity.units * REPORT_SECONDS // max(activity.seconds, 1)
        return max(1, min(left, pace))

    def _follow(self, event: _Event, request: ChargingRequest, answer: ChargingAnswer) -> None:
        """Obey the answer: use the grant and report, or end the session."""
        session = event.session
        if request.request_type in (RequestType.TERMINATION, RequestType.EVENT):
            return
        service = answer.services[0] if answer.services else None
        if (
            answer.outcome != Outcome.SUCCESS
            or service is None
            or service.outcome != "success"
            or service.granted <= 0
        ):
            if request.request_type is RequestType.UPDATE:
                self._push(event.at, _Step.CLOSE, session)  # the network ends the session
            return
        session.granted = service.granted
        session.final = service.final_action is not None
        report = min(session.done_by(session.consumed + service.granted), session.activity.end)
        if service.validity_seconds > 0:
            report = min(report, event.at + timedelta(seconds=service.validity_seconds))
        report = max(report, event.at + timedelta(seconds=1))
        self._push(report, _Step.REPORT, session)

    def _count(self, session: _Session, request: ChargingRequest, answer: ChargingAnswer) -> None:
        stats = self._stats
        persona = stats.persona(session.device.persona.name)
        use = request.services[0]
        resource = use.resource.value
        stats.requests += 1
        persona.requests += 1
        stats.requests_by_type[request.request_type.value] += 1
        if request.request_type in (RequestType.INITIAL, RequestType.EVENT):
            stats.sessions += 1
            persona.sessions += 1
        if use.used:
            stats.used[resource] += use.used
            persona.used[resource] += use.used
        service = answer.services[0] if answer.services else None
        if answer.outcome != Outcome.SUCCESS or service is None:
            outcome = str(answer.outcome)
        else:
            outcome = service.outcome
        stats.answers[outcome] += 1
        granted = service.granted if service is not None else 0
        if granted:
            stats.granted[resource] += granted
            persona.granted[resource] += granted
            if request.request_type is RequestType.EVENT:  # a message is used as granted
                stats.used[resource] += granted
                persona.used[resource] += granted
        if request.request_type is not RequestType.TERMINATION and (
            granted <= 0 or outcome != "success"
        ):
            stats.refused += 1
            persona.refused += 1
