"""Child safety rules: number normalisation, quiet-hours windows and screen()."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from famsim.domain.errors import InvalidInput
from famsim.domain.safety import (
    ALL_RESOURCES,
    QuietHours,
    Screening,
    check_time_zone,
    normalize_number,
    screen,
    zone_info,
)
from famsim.domain.units import Resource

pytestmark = pytest.mark.unit

DATA, VOICE, SMS = Resource.DATA, Resource.VOICE, Resource.SMS
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
HK = "Asia/Hong_Kong"
NY = "America/New_York"
GUARDIAN = "+85291230001"


def local(day: int, hh: int, mm: int = 0) -> datetime:
    """A naive wall-clock time on weekday ``day`` of the week of Monday 2026-01-05."""
    return datetime(2026, 1, 5 + day, hh, mm)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ---------------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("999", "999"),
        ("112", "112"),
        ("911", "911"),
        ("000", "000"),  # Australia: leading zeros are part of a short code
        ("12345678", "12345678"),
        (" 1-0-1 ", "101"),
        ("(112)", "112"),
        ("+85291234567", "+85291234567"),
        ("+852 9123-4567", "+85291234567"),
        ("+1 (201) 555-0123", "+12015550123"),
        ("+7 495 123-45-67", "+74951234567"),
    ],
)
def test_normalize_number(text: str, expected: str) -> None:
    assert normalize_number(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", ["empty"]),
        ("  ", ["empty"]),
        ("9", ["short code has 2 to 8 digits"]),
        ("85291234567", ["short code has 2 to 8 digits", "country code"]),
        ("+852", ["MSISDN"]),
        ("+85212", ["MSISDN"]),
        ("call mum", ["'call mum'", "short code"]),
        ("112#", ["'112#'"]),
        ("+852 9123 4567 ext 2", ["MSISDN"]),
    ],
)
def test_normalize_number_refuses_with_a_reason(text: str, words: list[str]) -> None:
    with pytest.raises(InvalidInput) as info:
        normalize_number(text)
    for word in words:
        assert word in str(info.value)


# ------------------------------------------------------------------- time zones
def test_time_zones_are_iana_names() -> None:
    assert check_time_zone(HK) == HK
    assert zone_info("UTC") == ZoneInfo("UTC")
    for bad in ("Mars/Olympus", "", "../etc/passwd", "/etc/localtime", "localtime", "America"):
        with pytest.raises(InvalidInput, match="unknown time zone"):
            check_time_zone(bad)


def test_a_miscapitalised_time_zone_gets_a_suggestion() -> None:
    with pytest.raises(InvalidInput, match="did you mean 'Asia/Hong_Kong'"):
        check_time_zone("asia/hong_kong")


# ------------------------------------------------------------------ quiet hours
@pytest.mark.parametrize(
    ("text", "days", "start", "end", "resources"),
    [
        (
            "Mon-Fri 08:30-15:30",
            {MON, TUE, WED, THU, FRI},
            time(8, 30),
            time(15, 30),
            ALL_RESOURCES,
        ),
        (
            "Sun-Thu 21:00-07:00 data,voice",
            {SUN, MON, TUE, WED, THU},
            time(21),
            time(7),
            {DATA, VOICE},
        ),
        ("daily 22:00-06:30", set(range(7)), time(22), time(6, 30), ALL_RESOURCES),
        ("Sat,Sun 23:00-08:00 data", {SAT, SUN}, time(23), time(8), {DATA}),
        ("Wed 13:00-14:00 sms", {WED}, time(13), time(14), {SMS}),
    ],
)
def test_parse_and_canonical_text(
    text: str, days: set[int], start: time, end: time, resources: set[Resource]
) -> None:
    window = QuietHours.parse(text)
    assert window == QuietHours(frozenset(days), start, end, frozenset(resources))
    assert str(window) == text
    assert QuietHours.parse(str(window)) == window


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("mon-fri 8:30-15:30", "Mon-Fri 08:30-15:30"),
        ("MONDAY,tuesday,Wed 08:00-09:00", "Mon-Wed 08:00-09:00"),
        ("DAILY 22:00-24:00", "daily 22:00-00:00"),
        ("Mon-Sun 22:00-06:00", "daily 22:00-06:00"),
        ("Fri-Mon 20:00-23:00", "Fri-Mon 20:00-23:00"),
        ("Sat-Sun 09:00-10:00 SMS,Data", "Sat,Sun 09:00-10:00 data,sms"),
        ("Sun,Mon,Wed 09:00-10:00", "Wed,Sun,Mon 09:00-10:00"),
        ("Mon,Mon-Tue 09:00-10:00 data,voice,sms", "Mon,Tue 09:00-10:00"),
    ],
)
def test_lenient_input_canonical_output(text: str, canonical: str) -> None:
    window = QuietHours.parse(text)
    assert str(window) == canonical
    assert QuietHours.parse(canonical) == window


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", ["expected days, times"]),
        ("Mon-Fri", ["expected days, times"]),
        ("Mon-Fri 08:00-09:00 data extra", ["expected days, times"]),
        ("Mo-Fr 08:00-09:00", ["unknown day 'Mo'"]),
        ("Mon-Mon 08:00-09:00", ["'Mon-Mon'", "same day"]),
        ("Mon,,Tue 08:00-09:00", ["empty day"]),
        ("Mon 8-9", ["start time '8'", "HH:MM"]),
        ("Mon 0800-0900", ["start time '0800'", "HH:MM"]),
        ("Mon 08:00", ["'08:00'", "START-END"]),
        ("Mon 25:00-09:00", ["start time '25:00'"]),
        ("Mon 08:00-09:60", ["end time '09:60'"]),
        ("Mon 24:00-09:00", ["start time '24:00'"]),
        ("Mon 08:00-08:00", ["start and end must differ"]),
        ("Mon 08:00-09:00 video", ["unknown resource 'video'"]),
    ],
)
def test_parse_names_the_bad_part(text: str, words: list[str]) -> None:
    with pytest.raises(InvalidInput) as info:
        QuietHours.parse(text)
    for word in words:
        assert word in str(info.value)


def test_constructor_checks() -> None:
    with pytest.raises(InvalidInput, match="at least one day"):
        QuietHours(frozenset(), time(8), time(9))
    with pytest.raises(InvalidInput, match=r"0 \(Monday\) to 6"):
        QuietHours(frozenset({7}), time(8), time(9))
    with pytest.raises(InvalidInput, match="whole minutes"):
        QuietHours(frozenset({MON}), time(8, 0, 30), time(9))
    with pytest.raises(InvalidInput, match="wall-clock"):
        QuietHours(frozenset({MON}), time(8, tzinfo=UTC), time(9))
    with pytest.raises(InvalidInput, match="at least one of data"):
        QuietHours(frozenset({MON}), time(8), time(9), frozenset())


def test_covers_a_window_within_a_day_is_half_open() -> None:
    school = QuietHours.parse("Mon-Fri 08:30-15:30")
    assert not school.covers(local(MON, 8, 29), DATA)
    assert school.covers(local(MON, 8, 30), DATA)
    assert school.covers(local(FRI, 15, 29), VOICE)
    assert not school.covers(local(FRI, 15, 30), VOICE)
    assert not school.covers(local(SAT, 10), DATA)


def test_covers_past_midnight_belongs_to_the_start_day() -> None:
    night = QuietHours.parse("Sun-Thu 21:00-07:00 data,voice")
    assert night.covers(local(SUN, 21), DATA)
    assert night.covers(local(MON, 6, 59), DATA)  # Sunday's night
    assert not night.covers(local(MON, 7), DATA)
    assert night.covers(local(THU, 23), VOICE)
    assert night.covers(local(FRI, 6), VOICE)  # Thursday's night runs into Friday morning
    assert not night.covers(local(FRI, 21), DATA)  # Friday is not a start day
    assert not night.covers(local(SAT, 6), DATA)  # nor was Friday night
    assert not night.covers(local(SUN, 6), DATA)  # nor Saturday night
    assert not night.covers(local(MON, 2), SMS)  # SMS is not quiet


def test_covers_reads_wall_clock_of_aware_times_as_written() -> None:
    night = QuietHours.parse("daily 22:00-06:00")
    assert night.covers(datetime(2026, 1, 5, 23, tzinfo=ZoneInfo(HK)), DATA)
    assert not night.covers(datetime(2026, 1, 5, 12, tzinfo=UTC), DATA)


# ---------------------------------------------------------------------- screen
def check(
    *,
    resource: Resource = VOICE,
    destination: str | None = "+85291239999",
    always_allowed: frozenset[str] = frozenset({GUARDIAN, "999", "112"}),
    quiet: tuple[str, ...] = ("Mon-Fri 08:30-15:30",),
    at: datetime,
    zone: str = HK,
) -> Screening:
    return screen(
        resource=resource,
        destination=destination,
        always_allowed=always_allowed,
        quiet_hours=[QuietHours.parse(text) for text in quiet],
        at=at,
        time_zone=zone,
    )


# Monday 2026-01-05 10:00 in Hong Kong (UTC+8) is 02:00 UTC: school time.
SCHOOL = utc("2026-01-05T02:00:00")
EVENING = utc("2026-01-05T11:00:00")  # 19:00 in Hong Kong


def test_outside_quiet_hours_normal_rules_apply() -> None:
    assert check(at=EVENING) is Screening.CHARGED
    assert check(at=EVENING, resource=DATA, destination=None) is Screening.CHARGED
    assert check(at=SCHOOL, quiet=()) is Screening.CHARGED


def test_quiet_hours_are_read_in_the_family_time_zone() -> None:
    assert check(at=SCHOOL) is Screening.QUIET_HOURS
    assert check(at=SCHOOL, resource=DATA, destination=None) is Screening.QUIET_HOURS
    # The same instant is 02:00 on Monday in UTC: before school.
    assert check(at=SCHOOL, zone="UTC") is Screening.CHARGED


def test_always_allowed_beats_quiet_hours() -> None:
    for destination in (GUARDIAN, "999", "112", "+852 9123 0001"):
        assert check(at=SCHOOL, destination=destination) is Screening.FREE
        assert check(at=EVENING, destination=destination) is Screening.FREE


def test_destination_without_the_plus_matches() -> None:
    assert check(at=SCHOOL, destination="85291230001") is Screening.FREE
    assert check(at=SCHOOL, destination="852 9123 0001") is Screening.FREE


def test_garbage_destination_matches_nothing_and_never_raises() -> None:
    for destination in ("", "unknown", "+", "+852", "9", "sip:mum@example.org", "1" * 30):
        assert check(at=SCHOOL, destination=destination) is Screening.QUIET_HOURS
        assert check(at=EVENING, destination=destination) is Screening.CHARGED


def test_data_has_no_destination_so_is_never_free() -> None:
    assert check(at=EVENING, resource=DATA, destination=None) is Screening.CHARGED


def test_screen_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        check(at=datetime(2026, 1, 5, 2))


def test_screen_accepts_any_aware_time() -> None:
    assert check(at=SCHOOL.astimezone(ZoneInfo(NY))) is Screening.QUIET_HOURS


def test_dst_start_in_new_york_follows_the_wall_clock() -> None:
    """Clocks go from 02:00 EST to 03:00 EDT on Sunday 2026-03-08: 07:00 is 11:00 UTC that
    morning, but 12:00 UTC the morning before. Quiet hours end at 07:00 local both days."""
    night = ("daily 22:00-07:00",)
    saturday_0630 = utc("2026-03-07T11:30:00")  # 06:30 EST
    sunday_0730 = utc("2026-03-08T11:30:00")  # the same UTC time: 07:30 EDT
    assert check(at=saturday_0630, quiet=night, zone=NY) is Screening.QUIET_HOURS
    assert check(at=sunday_0730, quiet=night, zone=NY) is Screening.CHARGED
    assert check(at=utc("2026-03-08T10:59:00"), quiet=night, zone=NY) is Screening.QUIET_HOURS
    assert check(at=utc("2026-03-08T11:00:00"), quiet=night, zone=NY) is Screening.CHARGED
    # 22:00 EDT that evening is 02:00 UTC the next day.
    assert check(at=utc("2026-03-09T01:59:00"), quiet=night, zone=NY) is Screening.CHARGED
    assert check(at=utc("2026-03-09T02:00:00"), quiet=night, zone=NY) is Screening.QUIET_HOURS


def test_dst_end_in_new_york_repeated_hour_is_quiet_both_times() -> None:
    """On Sunday 2026-11-01, 01:00-02:00 happens twice (EDT, then EST)."""
    window = ("Sun 01:00-02:00",)
    first = utc("2026-11-01T05:30:00")  # 01:30 EDT
    second = first + timedelta(hours=1)  # 01:30 EST
    assert check(at=first, quiet=window, zone=NY) is Screening.QUIET_HOURS
    assert check(at=second, quiet=window, zone=NY) is Screening.QUIET_HOURS
    assert check(at=second + timedelta(hours=1), quiet=window, zone=NY) is Screening.CHARGED


def test_screening_values() -> None:
    assert [s.value for s in Screening] == ["charged", "free", "quiet_hours"]
