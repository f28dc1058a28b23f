"""The forecast at the current pace: straight lines, rounded up, dates of running out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from famsim.domain.forecast import at_pace

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)


def test_half_way_doubles() -> None:
    forecast = at_pace(10, 100, START, END, START + timedelta(days=15))
    assert forecast is not None
    assert forecast.projected == 20
    assert forecast.runs_out_at is None


def test_runs_out_on_the_day_the_pace_reaches_the_total() -> None:
    forecast = at_pace(40, 100, START, END, START + timedelta(days=10))
    assert forecast is not None
    assert forecast.projected == 120
    assert forecast.runs_out_at == START + timedelta(days=25)


def test_used_up_already_runs_out_now() -> None:
    now = START + timedelta(days=3)
    forecast = at_pace(100, 100, START, END, now)
    assert forecast is not None
    assert forecast.runs_out_at == now


def test_too_early_and_unlimited() -> None:
    assert at_pace(5, 100, START, END, START + timedelta(minutes=5)) is None
    forecast = at_pace(5, None, START, END, START + timedelta(days=1))
    assert forecast is not None
    assert forecast.runs_out_at is None


@given(
    used=st.integers(0, 10**12),
    total=st.integers(1, 10**12),
    hours=st.integers(1, 30 * 24),
)
def test_never_below_what_is_used_nor_early(used: int, total: int, hours: int) -> None:
    now = START + timedelta(hours=hours)
    forecast = at_pace(used, total, START, END, now)
    assert forecast is not None
    assert forecast.projected >= used
    if forecast.runs_out_at is not None:
        assert forecast.runs_out_at <= END or used >= total
        assert forecast.runs_out_at >= START
