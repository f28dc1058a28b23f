"""Traffic personas and the traffic they make: how the simulator's people use their lines.

A :class:`Persona` is a kind of user (a teenager streaming video, a parent who mostly
calls, a child's watch ...) with a daily rhythm in the family's local time. The generator
(:func:`device_traffic`) turns a persona into the :class:`Activity` of one device in a
window of time: data sessions, calls and text messages, each with whole units (bytes,
seconds, messages), a start instant (aware, UTC) and a duration in whole seconds.

The model, per device and per local calendar day (in the family's time zone):

* **Data.** Each local hour ``h`` is *active* with a chance of ``weights[h]`` percent
  (``hourly_weights`` on weekdays, ``weekend_weights`` on Saturdays and Sundays when the
  persona has them). An active hour holds one data session: it starts at a random second
  of the hour, lasts 10 to 55 minutes and moves ``data_bytes_per_active_hour`` bytes
  scaled by a random factor from 50 % to 150 %. ``tethered_percent`` of the sessions are
  tethered (a laptop on the phone's hotspot).
* **Calls.** Their number per day is binomial with mean ``calls_per_day`` (``2n`` trials
  of one half); each starts at a random second of an hour drawn with the day's weights as
  relative frequencies, and lasts an exponentially distributed time with mean
  ``mean_call_seconds``, at least 5 seconds and at most 2 hours.
* **Text messages.** Like calls, ``sms_per_day`` on average, one message each.
* **Destinations.** ``family_percent`` of calls and messages go to one of the device's
  family contacts (when it has any), the others to an outside number.
* **Roaming.** A persona with a ``roaming_plmn`` does everything on that serving network.

A day's traffic depends only on the seed, the device key and the date, so windows of any
size agree on what happens when: the traffic of [a, c) is that of [a, b) followed by that
of [b, c) (unless cut short by a ``stop``, see :func:`device_traffic`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from famsim.domain.errors import InvalidInput
from famsim.domain.safety import check_time_zone
from famsim.domain.units import Resource

HOURS = 24
SESSION_MINUTES = (10, 55)
"""Shortest and longest data session, in minutes."""
SESSION_SCALE_PERCENT = (50, 150)
"""A session's bytes, as a percentage of the persona's bytes per active hour."""
MIN_CALL_SECONDS = 5
MAX_CALL_SECONDS = 2 * 3600
OUTSIDE_NUMBERS = "+85228"
"""Outside destinations are +852 28xx xxxx (Hong Kong fixed lines), drawn at random."""


@dataclass(frozen=True, slots=True)
class Persona:
    """A kind of user: a daily rhythm and how much of each service it uses.

    ``hourly_weights`` (and ``weekend_weights``, None: the same every day) are 24 whole
    percentages, one per local hour from midnight: the chance that the device is in a data
    session that hour, and the relative frequency of calls and messages across the day.
    """

    name: str
    description: str
    hourly_weights: tuple[int, ...]
    data_bytes_per_active_hour: int
    calls_per_day: int = 0
    mean_call_seconds: int = 0
    sms_per_day: int = 0
    tethered_percent: int = 0
    roaming_plmn: str | None = None
    """The serving network's MCC-MNC while the persona roams (None: at home)."""
    family_percent: int = 0
    """Share of calls and messages that go to the family's own numbers."""
    weekend_weights: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidInput("a persona needs a name")
        for label, weights in (("hourly", self.hourly_weights), ("weekend", self.weekend_weights)):
            if weights is None:
                continue
            if len(weights) != HOURS or any(not _percent(w) for w in weights):
                raise InvalidInput(
                    f"persona {self.name!r}: {label} weights must be 24 whole percentages"
                )
        counts = (
            self.data_bytes_per_active_hour,
            self.calls_per_day,
            self.mean_call_seconds,
            self.sms_per_day,
        )
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in counts):
            raise InvalidInput(f"persona {self.name!r}: amounts must be whole and non-negative")
        if self.calls_per_day and self.mean_call_seconds < MIN_CALL_SECONDS:
            raise InvalidInput(f"persona {self.name!r}: calls need a mean length of 5 s or more")
        if not _percent(self.tethered_percent) or not _percent(self.family_percent):
            raise InvalidInput(f"persona {self.name!r}: shares are whole percentages")
        plmn = self.roaming_plmn
        if plmn is not None and not (plmn.isdigit() and 5 <= len(plmn) <= 6):
            raise InvalidInput(f"persona {self.name!r}: {plmn!r} is not an MCC-MNC")

    def weights_on(self, day: date) -> tuple[int, ...]:
        """The rhythm of a local date: the weekend one on Saturdays and Sundays."""
        if self.weekend_weights is not None and day.weekday() >= 5:
            return self.weekend_weights
        return self.hourly_weights

    def expected_per_day(self, *, weekend: bool = False) -> dict[Resource, int]:
        """The mean units of each resource in one day (rounded down), as the model makes it."""
        weights = self.weekend_weights if weekend and self.weekend_weights else self.hourly_weights
        active_hours_percent = sum(weights)
        return {
            Resource.DATA: self.data_bytes_per_active_hour * active_hours_percent // 100,
            Resource.VOICE: self.calls_per_day * self.mean_call_seconds if any(weights) else 0,
            Resource.SMS: self.sms_per_day if any(weights) else 0,
        }


def _percent(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100


def _hours(text: str) -> tuple[int, ...]:
    """24 weights written as a row of numbers, one per local hour from midnight."""
    return tuple(int(word) for word in text.split())


MB = 10**6

# The rhythms below are rows of 24 percentages; the hours of the day are
#   0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15 16 17 18 19 20 21 22 23
TEEN_STREAMER = Persona(
    name="teen_streamer",
    description="a teenager's phone: video in the evening and late at night, little at school",
    hourly_weights=_hours(
        "30 10  0  0  0  0  0 15  0  0  0  0 20  0  0  0 35 45 50 55 70 85 80 60"
    ),
    weekend_weights=_hours(
        "40 40  0  0  0  0  0  0  0  0 40 40 40 50 50 50 50 50 60 60 85 85 85 70"
    ),
    data_bytes_per_active_hour=500 * MB,
    calls_per_day=2,
    mean_call_seconds=120,
    sms_per_day=10,
    family_percent=30,
)
PARENT_VOICE = Persona(
    name="parent_voice",
    description="a parent's phone: mostly calls in office hours, a little data",
    hourly_weights=_hours(
        " 0  0  0  0  0  0  0 20 30 70 70 70 40 70 70 70 70 50 25 25 25 10 10  0"
    ),
    weekend_weights=_hours(
        " 0  0  0  0  0  0  0  0  0 20 20 20 20 20 20 20 20 20 20 20 20 20  0  0"
    ),
    data_bytes_per_active_hour=30 * MB,
    calls_per_day=8,
    mean_call_seconds=180,
    sms_per_day=4,
    family_percent=25,
)
CHILD_WATCH = Persona(
    name="child_watch",
    description="a child's watch: tiny data, a few calls and messages to the parents after school",
    hourly_weights=_hours(
        " 0  0  0  0  0  0  0 20 10  0  0  0  0  0  0 40 50 50 20 20  0  0  0  0"
    ),
    weekend_weights=_hours(
        " 0  0  0  0  0  0  0  0  0 15 15 15 15 15 15 15 15 15 15  0  0  0  0  0"
    ),
    data_bytes_per_active_hour=2 * MB,
    calls_per_day=3,
    mean_call_seconds=60,
    sms_per_day=3,
    family_percent=100,
)
TABLET = Persona(
    name="tablet",
    description="a data-only tablet at home: evenings and weekends",
    hourly_weights=_hours(
        " 0  0  0  0  0  0  0  0  0  0  0  0  0  0  0  0  0 20 40 60 60 50 20  0"
    ),
    weekend_weights=_hours(
        " 0  0  0  0  0  0  0  0 20 50 50 50 50 40 40 40 40 40 60 60 60 60 30  0"
    ),
    data_bytes_per_active_hour=300 * MB,
)
TRAVELLER = Persona(
    name="traveller",
    description="an adult roaming in mainland China (46000, the HK plan's greater-china zone)",
    hourly_weights=_hours(
        " 5  0  0  0  0  0  0 40 50 30 30 30 50 30 30 30 30 40 50 50 40 30 20 10"
    ),
    data_bytes_per_active_hour=80 * MB,
    calls_per_day=3,
    mean_call_seconds=150,
    sms_per_day=5,
    roaming_plmn="46000",
    family_percent=60,
)
LAPTOP_HOTSPOT = Persona(
    name="laptop_hotspot",
    description="a laptop on a phone's hotspot in working hours on weekdays (tethered data)",
    hourly_weights=_hours(
        " 0  0  0  0  0  0  0  0  0 40 60 60 30 60 60 50 50  0  0  0  0  0  0  0"
    ),
    weekend_weights=(0,) * HOURS,
    data_bytes_per_active_hour=250 * MB,
    tethered_percent=100,
)

PERSONAS: Mapping[str, Persona] = {
    p.name: p for p in (TEEN_STREAMER, PARENT_VOICE, CHILD_WATCH, TABLET, TRAVELLER, LAPTOP_HOTSPOT)
}
"""Every persona by name."""


def persona(name: str) -> Persona:
    """A persona by name; an unknown name raises InvalidInput listing the known ones."""
    found = PERSONAS.get(name)
    if found is None:
        raise InvalidInput(f"no persona {name!r}: one of {', '.join(PERSONAS)}")
    return found


@dataclass(frozen=True, slots=True)
class Activity:
    """One use of a line: a data session, a call, or a text message (``seconds`` 0).

    ``units`` is what the device would use if nothing stopped it: bytes for data, seconds
    for a call (equal to ``seconds``), 1 for a message.
    """

    resource: Resource
    start: datetime
    seconds: int
    units: int
    tethered: bool = False
    destination: str | None = None
    serving_plmn: str | None = None

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)

    def cut_before(self, stop: datetime) -> Activity | None:
        """This activity ended before ``stop`` (its units in proportion), or None if
        nothing of it is left."""
        room = math.ceil((stop - self.start).total_seconds()) - 1  # whole seconds < stop
        if self.resource is Resource.SMS:
            return self if room >= 0 else None
        if room <= 0:
            return None
        if self.seconds <= room:
            return self
        units = self.units * room // self.seconds
        if units <= 0:
            return None
        return Activity(
            self.resource,
            self.start,
            room,
            units,
            self.tethered,
            self.destination,
            self.serving_plmn,
        )


def day_traffic(
    persona: Persona,
    *,
    seed: int,
    device_key: str,
    day: date,
    time_zone: str,
    contacts: Sequence[str] = (),
) -> list[Activity]:
    """Everything one device does on one local date, in start order (see the module)."""
    # Simulation, not security: a seeded stdlib generator makes runs repeatable.
    rng = random.Random(f"{seed}/{device_key}/{day.isoformat()}")  # noqa: S311
    zone = ZoneInfo(check_time_zone(time_zone))
    weights = persona.weights_on(day)
    hour_starts = [datetime.combine(day, time(hour), zone).astimezone(UTC) for hour in range(HOURS)]
    plmn = persona.roaming_plmn
    found: list[Activity] = []
    for hour, weight in enumerate(weights):
        if rng.randrange(100) >= weight or persona.data_bytes_per_active_hour == 0:
            continue
        low, high = SESSION_MINUTES
        seconds = rng.randint(low, high) * 60
        offset = rng.randrange(3600 - seconds + 1)
        scale = rng.randint(*SESSION_SCALE_PERCENT)
        units = max(1, persona.data_bytes_per_active_hour * scale // 100)
        tethered = rng.randrange(100) < persona.tethered_percent
        start = hour_starts[hour] + timedelta(seconds=offset)
        found.append(Activity(Resource.DATA, start, seconds, units, tethered, None, plmn))
    if any(weights):
        for _ in range(_binomial(rng, persona.calls_per_day)):
            start = _instant(rng, hour_starts, weights)
            mean = persona.mean_call_seconds
            seconds = round(rng.expovariate(1 / mean))
            seconds = min(max(seconds, MIN_CALL_SECONDS), MAX_CALL_SECONDS)
            destination = _destination(rng, persona, contacts)
            call = Activity(Resource.VOICE, start, seconds, seconds, False, destination, plmn)
            found.append(call)
        for _ in range(_binomial(rng, persona.sms_per_day)):
            start = _instant(rng, hour_starts, weights)
            destination = _destination(rng, persona, contacts)
            found.append(Activity(Resource.SMS, start, 0, 1, False, destination, plmn))
    kinds = list(Resource)
    found.sort(key=lambda a: (a.start, kinds.index(a.resource)))
    return found


def device_traffic(
    persona: Persona,
    *,
    seed: int,
    device_key: str,
    time_zone: str,
    start: datetime,
    end: datetime,
    stop: datetime | None = None,
    contacts: Sequence[str] = (),
) -> list[Activity]:
    """The activities of one device that start in [start, end), in start order.

    Deterministic for (seed, device_key): the same arguments give the same list. With
    ``stop``, nothing runs up to or past it: activities starting at or after it are left
    out and those running into it are cut to end before it (their units in proportion).
    ``start`` and ``end`` must be aware.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("the traffic window needs aware datetimes")
    if end <= start:
        return []
    zone = ZoneInfo(check_time_zone(time_zone))
    day = start.astimezone(zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    found: list[Activity] = []
    while day <= last:
        for activity in day_traffic(
            persona,
            seed=seed,
            device_key=device_key,
            day=day,
            time_zone=time_zone,
            contacts=contacts,
        ):
            if not start <= activity.start < end:
                continue
            kept = activity.cut_before(stop) if stop is not None else activity
            if kept is not None:
                found.append(kept)
        day += timedelta(days=1)
    return found


def _binomial(rng: random.Random, mean: int) -> int:
    """A count with the given mean: 2*mean fair coin flips."""
    return sum(rng.randrange(2) for _ in range(2 * mean))


def _instant(
    rng: random.Random, hour_starts: Sequence[datetime], weights: Sequence[int]
) -> datetime:
    hour = rng.choices(range(HOURS), weights=weights)[0]
    return hour_starts[hour] + timedelta(seconds=rng.randrange(3600))


def _destination(rng: random.Random, persona: Persona, contacts: Sequence[str]) -> str:
    if contacts and rng.randrange(100) < persona.family_percent:
        return contacts[rng.randrange(len(contacts))]
    return f"{OUTSIDE_NUMBERS}{rng.randrange(10**6):06d}"
