"""Child safety rules: numbers that are always allowed, and quiet hours.

A guardian must be reachable, and so must the emergency services, whatever a child's quota,
money cap or quiet hours say: calls and messages to an *always-allowed* number are never
denied and are charged at zero. *Quiet hours* are windows of the week (school time, night)
during which a member's data, calls or messages are refused, except to always-allowed numbers.

Everything here is pure: :func:`screen` is what the charging engine asks before the normal
quota rules, with the current time in UTC and the family's time zone. Quiet hours are
wall-clock times in that zone (``zoneinfo``), so "22:00" stays 22:00 across a DST change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, time
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from famsim.domain.errors import InvalidInput
from famsim.domain.identifiers import Msisdn
from famsim.domain.units import Resource

# ------------------------------------------------------------------------ numbers
SHORT_CODE_DIGITS = (2, 8)
"""Short codes (emergency and service numbers: 999, 112, 911, 101) have 2 to 8 digits."""

_IGNORED = str.maketrans("", "", " -()\t")
_SHORT_CODE = re.compile(rf"[0-9]{{{SHORT_CODE_DIGITS[0]},{SHORT_CODE_DIGITS[1]}}}")
_DIGITS = re.compile(r"[0-9]+")


def normalize_number(text: str) -> str:
    """A dialable destination in canonical form: E.164 (``+85291234567``) or a short code.

    Allow lists are typed by people and matched against what the network reports, so both
    sides go through this one function. An international number must start with ``+`` and
    is validated by the MSISDN rules (phonenumbers); a short code is 2 to 8 digits, kept
    as written (leading zeros matter: ``000`` is Australia's emergency number). Spaces,
    dashes and parentheses are ignored. Anything else raises InvalidInput saying why.
    """
    if not isinstance(text, str):
        raise InvalidInput(f"a phone number must be text, got {text!r}")
    compact = text.translate(_IGNORED)
    if not compact:
        raise InvalidInput("a phone number must not be empty")
    if compact.startswith("+"):
        return Msisdn.parse(compact).e164
    if _SHORT_CODE.fullmatch(compact):
        return compact
    if _DIGITS.fullmatch(compact):
        low, high = SHORT_CODE_DIGITS
        raise InvalidInput(
            f"invalid number {text!r}: a short code has {low} to {high} digits; "
            "write a full number as + and the country code, e.g. +85291234567"
        )
    raise InvalidInput(
        f"invalid number {text!r}: expected +<country code><number> or a short code "
        f"such as 112 (only digits, spaces, dashes and parentheses)"
    )


def normalize_numbers(texts: Iterable[str]) -> frozenset[str]:
    """Every number of ``texts`` in canonical form (see :func:`normalize_number`)."""
    return frozenset(normalize_number(text) for text in texts)


@lru_cache(maxsize=4096)
def _destination_forms(destination: str) -> frozenset[str]:
    """The canonical forms a reported destination may stand for; empty if it is unreadable.

    Networks report called numbers with or without the ``+``; a bare string of digits is
    tried both as a short code and as an E.164 number. Cached: it runs on every charging
    request for voice and SMS, and phonenumbers' validation is not free.
    """
    forms: set[str] = set()
    with suppress(InvalidInput):
        forms.add(normalize_number(destination))
    compact = destination.translate(_IGNORED) if isinstance(destination, str) else ""
    if _DIGITS.fullmatch(compact):
        with suppress(InvalidInput):
            forms.add(normalize_number("+" + compact))
    return frozenset(forms)


# ---------------------------------------------------------------------- time zones
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*")
# Names a machine's zone directory may hold that are not portable IANA zones: a family
# stored with one of them would keep different time on another server.
_NOT_PORTABLE = frozenset({"localtime", "posixrules", "Factory"})
MAX_ZONE_NAME = 64


@lru_cache(maxsize=256)
def zone_info(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (e.g. ``Asia/Hong_Kong``); InvalidInput if unknown.

    Cached, because :func:`screen` converts every charging request's time with it.
    """
    if (
        not isinstance(name, str)
        or len(name) > MAX_ZONE_NAME
        or not _ZONE_NAME.fullmatch(name)
        or name in _NOT_PORTABLE
        or name.startswith(("posix/", "right/"))
    ):
        raise InvalidInput(f"unknown time zone {name!r}: {_zone_hint(name)}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(f"unknown time zone {name!r}: {_zone_hint(name)}") from None


def check_time_zone(name: str) -> str:
    """``name`` if it is a known IANA time zone, else InvalidInput (for value types)."""
    zone_info(name)
    return name


def _zone_hint(name: object) -> str:
    if isinstance(name, str):
        wanted = name.casefold()
        for known in sorted(available_timezones()):
            if known.casefold() == wanted:
                return f"did you mean {known!r}?"
    return "use an IANA name such as 'Asia/Hong_Kong', 'Europe/Moscow' or 'UTC'"


# -------------------------------------------------------------------- quiet hours
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL_DAY_NAMES = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
_DAYS: dict[str, int] = {name.casefold(): n for n, name in enumerate(DAY_NAMES)} | {
    name: n for n, name in enumerate(_FULL_DAY_NAMES)
}
DAILY = "daily"
ALL_DAYS = frozenset(range(7))
ALL_RESOURCES = frozenset(Resource)
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_EXAMPLE = "e.g. 'Mon-Fri 08:30-15:30' or 'daily 22:00-06:30 data,voice'"


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A weekly window of wall-clock time in the family's time zone, for some resources.

    ``days`` are weekdays (0 = Monday .. 6 = Sunday) on which the window *starts*. The
    window runs from ``start`` (included) to ``end`` (excluded); an ``end`` earlier than
    ``start`` runs past midnight into the next day, so "Fri 22:00-07:00" covers Saturday
    06:00 but "Sat 22:00-07:00" is not needed for it. ``start == end`` is refused: it would
    mean either nothing or the whole day, and nobody should have to guess which.
    """

    days: frozenset[int]
    start: time
    end: time
    resources: frozenset[Resource] = field(default=ALL_RESOURCES)

    def __post_init__(self) -> None:
        object.__setattr__(self, "days", frozenset(self.days))
        object.__setattr__(self, "resources", frozenset(self.resources))
        if not self.days:
            raise InvalidInput("quiet hours need at least one day")
        for day in self.days:
            if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
                raise InvalidInput(f"quiet hours: day {day!r} is not 0 (Monday) to 6 (Sunday)")
        for what, value in (("start", self.start), ("end", self.end)):
            if not isinstance(value, time):
                raise InvalidInput(f"quiet hours: {what} {value!r} is not a time of day")
            if value.tzinfo is not None:
                raise InvalidInput(
                    f"quiet hours: {what} is wall-clock time in the family's time zone, "
                    "without a zone of its own"
                )
            if value.second or value.microsecond:
                raise InvalidInput(f"quiet hours: {what} {value} must be whole minutes")
        if self.start == self.end:
            raise InvalidInput(
                f"quiet hours {_hhmm(self.start)}-{_hhmm(self.end)}: start and end must differ"
            )
        if not self.resources:
            raise InvalidInput("quiet hours need at least one of data, voice, sms")
        for resource in self.resources:
            if not isinstance(resource, Resource):
                raise InvalidInput(f"quiet hours: {resource!r} is not data, voice or sms")

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """Read ``"DAYS HH:MM-HH:MM [RESOURCES]"``, as owners type it.

        DAYS is ``daily`` or a comma-separated list of days (``Mon``, ``monday``) and
        ranges (``Mon-Fri``; ``Sun-Thu`` wraps round the weekend). RESOURCES is a
        comma-separated list of data, voice and sms (default: all three). Case is ignored;
        ``24:00`` is accepted as an end time and means midnight.
        """
        if not isinstance(text, str):
            raise InvalidInput(f"quiet hours must be text, got {text!r}")
        parts = text.split()
        if len(parts) not in (2, 3):
            raise InvalidInput(
                f"invalid quiet hours {text!r}: expected days, times and optionally "
                f"resources, {_EXAMPLE}"
            )
        days = _parse_days(parts[0], text)
        start, end = _parse_times(parts[1], text)
        resources = _parse_resources(parts[2], text) if len(parts) == 3 else ALL_RESOURCES
        try:
            return cls(days, start, end, resources)
        except InvalidInput as exc:
            raise InvalidInput(f"invalid quiet hours {text!r}: {exc}") from None

    def __str__(self) -> str:
        """The canonical text: ``QuietHours.parse(str(q)) == q`` for every window."""
        text = f"{_format_days(self.days)} {_hhmm(self.start)}-{_hhmm(self.end)}"
        if self.resources != ALL_RESOURCES:
            text += " " + ",".join(r.value for r in Resource if r in self.resources)
        return text

    @property
    def wraps(self) -> bool:
        """True when the window runs past midnight into the next day."""
        return self.end < self.start

    def covers(self, local: datetime, resource: Resource) -> bool:
        """Whether wall-clock time ``local`` (in the family's zone) is quiet for ``resource``.

        Only the wall-clock reading counts: an aware ``local`` is read as it is written,
        not converted (convert to the family's zone first; :func:`screen` does).
        """
        if resource not in self.resources:
            return False
        now = local.time().replace(tzinfo=None)
        day = local.weekday()
        if not self.wraps:
            return day in self.days and self.start <= now < self.end
        started_today = day in self.days and now >= self.start
        started_yesterday = (day - 1) % 7 in self.days and now < self.end
        return started_today or started_yesterday


def _hhmm(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


def _day(name: str, text: str) -> int:
    found = _DAYS.get(name.casefold())
    if found is None:
        raise InvalidInput(
            f"invalid quiet hours {text!r}: unknown day {name!r} "
            f"(use {', '.join(DAY_NAMES)}, ranges such as Mon-Fri, or '{DAILY}')"
        )
    return found


def _parse_days(part: str, text: str) -> frozenset[int]:
    if part.casefold() == DAILY:
        return ALL_DAYS
    days: set[int] = set()
    for item in part.split(","):
        if not item:
            raise InvalidInput(f"invalid quiet hours {text!r}: empty day in {part!r}")
        if "-" not in item:
            days.add(_day(item, text))
            continue
        first_name, _, last_name = item.partition("-")
        first, last = _day(first_name, text), _day(last_name, text)
        if first == last:
            raise InvalidInput(
                f"invalid quiet hours {text!r}: day range {item!r} starts and ends on the "
                f"same day (write the day alone, or '{DAILY}')"
            )
        days.update((first + offset) % 7 for offset in range((last - first) % 7 + 1))
    return frozenset(days)


def _parse_time(value: str, text: str, *, is_end: bool) -> time:
    match = _TIME.fullmatch(value)
    if match:
        hour, minute = int(match.group(1)), int(match.group(2))
        if is_end and (hour, minute) == (24, 0):
            return time(0, 0)
        if hour < 24 and minute < 60:
            return time(hour, minute)
    raise InvalidInput(
        f"invalid quiet hours {text!r}: {'end' if is_end else 'start'} time {value!r} "
        "is not HH:MM (00:00 to 23:59)"
    )


def _parse_times(part: str, text: str) -> tuple[time, time]:
    start, dash, end = part.partition("-")
    if not dash:
        raise InvalidInput(
            f"invalid quiet hours {text!r}: times {part!r} must be START-END, e.g. 08:30-15:30"
        )
    return _parse_time(start, text, is_end=False), _parse_time(end, text, is_end=True)


def _parse_resources(part: str, text: str) -> frozenset[Resource]:
    resources: set[Resource] = set()
    for name in part.split(","):
        try:
            resources.add(Resource(name.casefold()))
        except ValueError:
            raise InvalidInput(
                f"invalid quiet hours {text!r}: unknown resource {name!r} "
                "(use data, voice, sms, comma-separated)"
            ) from None
    return frozenset(resources)


def _format_days(days: frozenset[int]) -> str:
    """``daily``, or runs of consecutive days (3 or more as a range), Monday first.

    A run may wrap round the week (``Sun-Thu``); a run of two is written as a list
    (``Sat,Sun``), which reads better than a range.
    """
    if days == ALL_DAYS:
        return DAILY
    # Start scanning just after a day that is not listed, so no run is cut in two.
    gap = min(d for d in range(7) if d not in days)
    runs: list[list[int]] = []
    for offset in range(1, 8):
        day = (gap + offset) % 7
        if day not in days:
            continue
        if runs and (runs[-1][-1] + 1) % 7 == day:
            runs[-1].append(day)
        else:
            runs.append([day])
    runs.sort(key=lambda run: run[0])
    items: list[str] = []
    for run in runs:
        if len(run) >= 3:
            items.append(f"{DAY_NAMES[run[0]]}-{DAY_NAMES[run[-1]]}")
        else:
            items.extend(DAY_NAMES[day] for day in run)
    return ",".join(items)


# ---------------------------------------------------------------------- screening
class Screening(StrEnum):
    """What the safety rules say about one request, before any quota rule is applied."""

    CHARGED = "charged"
    """No safety rule applies: the normal quota, pool and money rules decide."""
    FREE = "free"
    """An always-allowed destination: never denied and charged at zero."""
    QUIET_HOURS = "quiet_hours"
    """Inside the member's quiet hours: refused."""


def screen(
    *,
    resource: Resource,
    destination: str | None,
    always_allowed: frozenset[str],
    quiet_hours: Sequence[QuietHours],
    at: datetime,
    time_zone: str,
) -> Screening:
    """Apply the safety rules to one request for ``resource`` at instant ``at``.

    ``destination`` is the called or messaged number as the network reports it (None for
    data); ``always_allowed`` holds canonical numbers (from ``Family.always_allowed``).
    An always-allowed destination is FREE at any time, quiet or not: a child must always
    reach a guardian or 112. Otherwise a quiet-hours window covering the family's local
    time refuses the request. ``at`` must be aware (UTC); a naive time is a bug (whose
    clock?) and raises ValueError. A destination that is not a readable number matches
    nothing rather than failing a call.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"screen() needs an aware UTC datetime, got naive {at!r}")
    if (
        destination is not None
        and always_allowed
        and not _destination_forms(destination).isdisjoint(always_allowed)
    ):
        return Screening.FREE
    if quiet_hours:
        local = at.astimezone(zone_info(time_zone))
        if any(window.covers(local, resource) for window in quiet_hours):
            return Screening.QUIET_HOURS
    return Screening.CHARGED
