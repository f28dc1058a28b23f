"""Quiet-hours windows over generated values: the canonical text reads back to the same
window, and coverage agrees with a brute-force reading of the week."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from famsim.domain.safety import QuietHours
from famsim.domain.units import Resource

pytestmark = pytest.mark.unit

times = st.builds(time, st.integers(0, 23), st.integers(0, 59))


@st.composite
def quiet_hours(draw: st.DrawFn) -> QuietHours:
    start, end = draw(times), draw(times)
    assume(start != end)
    return QuietHours(
        draw(st.frozensets(st.integers(0, 6), min_size=1)),
        start,
        end,
        draw(st.frozensets(st.sampled_from(list(Resource)), min_size=1)),
    )


@given(quiet_hours())
def test_canonical_text_round_trips(window: QuietHours) -> None:
    text = str(window)
    assert QuietHours.parse(text) == window
    assert str(QuietHours.parse(text)) == text  # the canonical text is a fixed point


@given(quiet_hours(), st.integers(0, 7 * 24 * 60 - 1), st.sampled_from(list(Resource)))
def test_covers_matches_minute_by_minute_reading(
    window: QuietHours, minute_of_week: int, resource: Resource
) -> None:
    """A window that starts on day d covers the minutes from d+start up to its length."""
    monday = datetime(2026, 1, 5)
    at = monday + timedelta(minutes=minute_of_week)
    start = window.start.hour * 60 + window.start.minute
    end = window.end.hour * 60 + window.end.minute
    length = (end - start) % (24 * 60)
    week = 7 * 24 * 60
    expected = resource in window.resources and any(
        (minute_of_week - (day * 24 * 60 + start)) % week < length for day in window.days
    )
    assert window.covers(at, resource) is expected
