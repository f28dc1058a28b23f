"""Personas and the traffic they make: rhythms, volumes, determinism, windows and cuts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from famsim.domain.errors import InvalidInput
from famsim.domain.traffic import (
    PERSONAS,
    Activity,
    Persona,
    device_traffic,
    persona,
)
from famsim.domain.units import Resource

pytestmark = pytest.mark.unit

DATA, VOICE, SMS = Resource.DATA, Resource.VOICE, Resource.SMS
HK = "Asia/Hong_Kong"
MONDAY = datetime(2026, 2, 1, 16, 0, tzinfo=UTC)  # Monday 2 February 2026, 00:00 in Hong Kong
PARENTS = ("+85291230001", "+85261230002")


def traffic(
    name: str, days: int = 28, *, seed: int = 1, key: str = "dev", contacts: tuple[str, ...] = ()
) -> list[Activity]:
    return device_traffic(
        PERSONAS[name],
        seed=seed,
        device_key=key,
        time_zone=HK,
        start=MONDAY,
        end=MONDAY + timedelta(days=days),
        contacts=contacts,
    )


def local_hour(activity: Activity) -> int:
    return activity.start.astimezone(ZoneInfo(HK)).hour


def total(activities: list[Activity], resource: Resource) -> int:
    return sum(a.units for a in activities if a.resource is resource)


# --- the registry ----------------------------------------------------------------------


def test_the_six_personas_are_registered_by_name() -> None:
    assert set(PERSONAS) == {
        "teen_streamer",
        "parent_voice",
        "child_watch",
        "tablet",
        "traveller",
        "laptop_hotspot",
    }
    for name, found in PERSONAS.items():
        assert found.name == name
        assert len(found.hourly_weights) == 24
        assert persona(name) is found


def test_an_unknown_persona_names_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="teen_streamer"):
        persona("gamer")


@pytest.mark.parametrize(
    "change",
    [
        {"hourly_weights": (10,) * 23},
        {"hourly_weights": (101,) + (0,) * 23},
        {"weekend_weights": (-1,) * 24},
        {"data_bytes_per_active_hour": -1},
        {"calls_per_day": 2, "mean_call_seconds": 0},
        {"tethered_percent": 150},
        {"roaming_plmn": "CN"},
        {"name": ""},
    ],
    ids=[
        "23-weights",
        "weight-over-100",
        "negative-weekend",
        "negative-bytes",
        "calls-without-length",
        "share-over-100",
        "plmn-not-digits",
        "no-name",
    ],
)
def test_a_persona_is_checked(change: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        replace(PERSONAS["tablet"], **change)


# --- rhythms and volumes ---------------------------------------------------------------


def test_the_teen_streams_in_the_evening_not_at_school() -> None:
    sessions = [a for a in traffic("teen_streamer") if a.resource is DATA]
    evening = [a for a in sessions if 19 <= local_hour(a) <= 23]
    school = [a for a in sessions if 9 <= local_hour(a) <= 11 and a.start.weekday() < 5]
    assert len(evening) > 40
    assert school == []
    per_day = total(sessions, DATA) / 28
    assert 2 * 10**9 < per_day < 6 * 10**9  # GBs a day: video


def test_the_parent_mostly_calls_in_office_hours_and_uses_little_data() -> None:
    activities = traffic("parent_voice")
    calls = [a for a in activities if a.resource is VOICE]
    office = [a for a in calls if 9 <= local_hour(a) <= 17]
    assert len(office) > 0.7 * len(calls)
    assert 150 < len(calls) < 300  # about 8 a day
    assert total(activities, DATA) / 28 < 300 * 10**6
    assert total(activities, VOICE) / len(calls) == pytest.approx(180, rel=0.3)


def test_the_watch_uses_tiny_data_and_calls_the_parents_after_school() -> None:
    activities = traffic("child_watch", contacts=PARENTS)
    assert total(activities, DATA) / 28 < 10 * 10**6
    talks = [a for a in activities if a.resource in (VOICE, SMS)]
    assert talks
    assert {a.destination for a in talks} <= set(PARENTS)
    weekday_talks = [a for a in talks if a.start.astimezone(ZoneInfo(HK)).weekday() < 5]
    after_school = [a for a in weekday_talks if 15 <= local_hour(a) <= 19]
    assert len(after_school) > 0.6 * len(weekday_talks)


def test_the_tablet_is_data_only_and_busier_at_weekends() -> None:
    activities = traffic("tablet")
    assert {a.resource for a in activities} == {DATA}
    zone = ZoneInfo(HK)
    weekend = [a for a in activities if a.start.astimezone(zone).weekday() >= 5]
    weekday = [a for a in activities if a.start.astimezone(zone).weekday() < 5]
    assert total(weekend, DATA) / 8 > total(weekday, DATA) / 20


def test_the_traveller_does_everything_on_a_chinese_network() -> None:
    activities = traffic("traveller")
    assert {a.resource for a in activities} == {DATA, VOICE, SMS}
    assert {a.serving_plmn for a in activities} == {"46000"}
    assert all(a.serving_plmn is None for a in traffic("parent_voice"))


def test_the_laptop_is_tethered_in_working_hours_on_weekdays_only() -> None:
    activities = traffic("laptop_hotspot")
    assert activities
    assert all(a.resource is DATA and a.tethered for a in activities)
    assert all(9 <= local_hour(a) <= 16 for a in activities)
    assert all(a.start.astimezone(ZoneInfo(HK)).weekday() < 5 for a in activities)
    assert not any(a.tethered for a in traffic("teen_streamer"))


def test_outside_numbers_are_readable_e164() -> None:
    calls = [a for a in traffic("parent_voice", contacts=PARENTS) if a.resource is VOICE]
    outside = {a.destination for a in calls} - set(PARENTS)
    assert outside
    assert all(d is not None and d.startswith("+85228") and len(d) == 12 for d in outside)


@pytest.mark.parametrize("name", sorted(PERSONAS), ids=sorted(PERSONAS))
def test_expected_volumes_match_what_is_generated(name: str) -> None:
    found = PERSONAS[name]
    activities = traffic(name, days=56)
    weekday = found.expected_per_day()
    weekend = found.expected_per_day(weekend=True)
    for resource in Resource:
        expected = (40 * weekday[resource] + 16 * weekend[resource]) / 56
        made = total(activities, resource) / 56
        assert made == pytest.approx(expected, rel=0.35, abs=2), resource


# --- determinism, windows, cuts --------------------------------------------------------


def test_the_same_seed_and_device_give_the_same_traffic() -> None:
    assert traffic("teen_streamer", seed=7) == traffic("teen_streamer", seed=7)
    assert traffic("teen_streamer", seed=7) != traffic("teen_streamer", seed=8)
    assert traffic("teen_streamer", key="a") != traffic("teen_streamer", key="b")


def test_a_window_is_the_sum_of_its_parts() -> None:
    whole = traffic("parent_voice", days=3)
    split = MONDAY + timedelta(hours=31, minutes=17)

    def part(start: datetime, end: datetime) -> list[Activity]:
        return device_traffic(
            PERSONAS["parent_voice"], seed=1, device_key="dev", time_zone=HK, start=start, end=end
        )

    assert part(MONDAY, split) + part(split, MONDAY + timedelta(days=3)) == whole


def test_stop_cuts_what_runs_into_it_in_proportion() -> None:
    activities = traffic("teen_streamer", days=1)
    running = next(a for a in activities if a.resource is DATA and a.seconds >= 1200)
    stop = running.start + timedelta(seconds=running.seconds // 2)
    cut = device_traffic(
        PERSONAS["teen_streamer"],
        seed=1,
        device_key="dev",
        time_zone=HK,
        start=MONDAY,
        end=MONDAY + timedelta(days=1),
        stop=stop,
    )
    assert all(a.end < stop for a in cut)
    assert all(a.start < stop for a in cut)
    shortened = next(a for a in cut if a.start == running.start and a.resource is DATA)
    assert shortened.seconds == running.seconds // 2 - 1
    assert shortened.units == running.units * shortened.seconds // running.seconds


def test_a_naive_window_is_refused() -> None:
    with pytest.raises(InvalidInput):
        device_traffic(
            PERSONAS["tablet"],
            seed=1,
            device_key="d",
            time_zone=HK,
            start=datetime(2026, 2, 2),
            end=MONDAY,
        )


def test_weights_follow_the_weekday() -> None:
    laptop: Persona = PERSONAS["laptop_hotspot"]
    assert laptop.weights_on(date(2026, 2, 2)) == laptop.hourly_weights  # a Monday
    assert not any(laptop.weights_on(date(2026, 2, 7)))  # a Saturday


# --- property --------------------------------------------------------------------------

ZONES = ["Asia/Hong_Kong", "Europe/Moscow", "America/New_York", "UTC"]


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(PERSONAS)),
    seed=st.integers(min_value=0, max_value=2**32),
    zone=st.sampled_from(ZONES),
    offset=st.integers(min_value=0, max_value=400 * 86_400),
    length=st.integers(min_value=0, max_value=3 * 86_400),
    cut=st.one_of(st.none(), st.integers(min_value=0, max_value=3 * 86_400)),
)
def test_generated_traffic_is_whole_non_negative_and_inside_the_window(
    name: str, seed: int, zone: str, offset: int, length: int, cut: int | None
) -> None:
    start = datetime(2025, 6, 1, tzinfo=UTC) + timedelta(seconds=offset)
    end = start + timedelta(seconds=length)
    stop = None if cut is None else start + timedelta(seconds=cut)
    found = PERSONAS[name]
    activities = device_traffic(
        found,
        seed=seed,
        device_key="prop",
        time_zone=zone,
        start=start,
        end=end,
        stop=stop,
        contacts=PARENTS,
    )
    assert [a.start for a in activities] == sorted(a.start for a in activities)
    for a in activities:
        assert start <= a.start < end
        assert stop is None or a.end < stop
        assert isinstance(a.units, int)
        assert isinstance(a.seconds, int)
        assert a.units > 0
        assert a.seconds >= 0
        if a.resource is SMS:
            assert (a.units, a.seconds) == (1, 0)
        elif a.resource is VOICE:
            assert a.units == a.seconds > 0
        else:
            assert a.units <= found.data_bytes_per_active_hour * 3 // 2
            assert a.seconds <= 55 * 60
        assert a.serving_plmn == found.roaming_plmn
        assert a.tethered == (found.tethered_percent == 100)
