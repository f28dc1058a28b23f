"""Alert thresholds: which levels a counter has reached, exactly, in integers."""

from __future__ import annotations

import pytest

from famsim.domain.charging.thresholds import (
    DEFAULT_LEVELS,
    check_levels,
    levels_reached,
    new_alerts,
)
from famsim.domain.errors import InvalidAmount

pytestmark = pytest.mark.unit

GB = 10**9
ALL = DEFAULT_LEVELS


def test_default_levels_are_valid() -> None:
    assert DEFAULT_LEVELS == (50, 80, 100)
    assert check_levels(DEFAULT_LEVELS) == DEFAULT_LEVELS


# --- levels_reached ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("used", "total", "levels", "expected"),
    [
        (0, 100, ALL, ()),
        (49, 100, ALL, ()),
        (50, 100, ALL, (50,)),  # exactly 50 % is reached
        (79, 100, ALL, (50,)),
        (80, 100, ALL, (50, 80)),
        (99, 100, ALL, (50, 80)),
        (100, 100, ALL, (50, 80, 100)),  # exactly 100 %
        (150, 100, ALL, (50, 80, 100)),  # used above the total
        (10**15, 1, ALL, (50, 80, 100)),
        (1, 3, (50,), ()),  # 33.3 %
        (2, 3, (50,), (50,)),  # 66.7 %: no rounding of 1.5 to 2 needed, 2 * 100 >= 50 * 3
        (1, 2, (50,), (50,)),  # exactly half
        (50 * GB - 1, 100 * GB, ALL, ()),  # one byte short of half of 100 GB
        (50 * GB, 100 * GB, ALL, (50,)),
        (100 * GB - 1, 100 * GB, ALL, (50, 80)),  # 99.999999999 % is not 100 %
        (100 * GB, 100 * GB, ALL, (50, 80, 100)),
        (1, 100, (1,), (1,)),
        (1, 101, (1,), ()),  # 0.99 %
        (100, 100, (100, 50), (100, 50)),  # the order given is kept
        (0, 0, ALL, ()),  # no allowance: nothing to alert on
        (10, 0, ALL, ()),
        (10, -5, ALL, ()),
        (0, None, ALL, ()),  # unlimited
        (10**12, None, ALL, ()),
        (100, 100, (), ()),
    ],
)
def test_levels_reached(
    used: int, total: int | None, levels: tuple[int, ...], expected: tuple[int, ...]
) -> None:
    assert levels_reached(used, total, levels) == expected


def test_levels_reached_accepts_any_sequence() -> None:
    assert levels_reached(80, 100, [50, 80, 100]) == (50, 80)


# --- new_alerts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("used", "total", "alerted", "expected"),
    [
        (80, 100, (), (50, 80)),
        (80, 100, (50,), (80,)),
        (80, 100, (50, 80), ()),
        (100, 100, (50, 80), (100,)),
        (120, 100, (50, 80, 100), ()),
        (49, 100, (), ()),
        (60, 100, (80, 100), (50,)),  # alerted levels not reached yet do not matter
        (100, None, (), ()),
        (100, 0, (), ()),
    ],
)
def test_new_alerts(
    used: int, total: int | None, alerted: tuple[int, ...], expected: tuple[int, ...]
) -> None:
    assert new_alerts(used, total, ALL, alerted) == expected


def test_new_alerts_is_idempotent_once_recorded() -> None:
    alerted: set[int] = set()
    first = new_alerts(85, 100, ALL, alerted)
    alerted.update(first)
    assert first == (50, 80)
    assert new_alerts(85, 100, ALL, alerted) == ()
    assert new_alerts(85, 100, ALL, iter(sorted(alerted))) == ()  # any iterable
    assert new_alerts(100, 100, ALL, alerted) == (100,)


# --- check_levels -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        ([50, 80, 100], (50, 80, 100)),
        ([100, 50, 80], (50, 80, 100)),  # sorted
        ([80, 50, 80, 50, 50], (50, 80)),  # duplicates removed
        ([1], (1,)),
        ([100], (100,)),
        ([1, 100], (1, 100)),
        (range(10, 101, 10), (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)),
    ],
)
def test_check_levels_sorts_and_deduplicates(
    levels: list[int] | range, expected: tuple[int, ...]
) -> None:
    assert check_levels(levels) == expected
    assert check_levels(iter(levels)) == expected  # a one-shot iterable works too


@pytest.mark.parametrize(
    "levels",
    [
        [],
        (),
        [0],
        [101],
        [-50],
        [50, 101],
        [0, 50],
        [True],
        [False],
        [50, True],
        [True, False],
    ],
    ids=repr,
)
def test_check_levels_refuses(levels: list[object]) -> None:
    with pytest.raises(InvalidAmount):
        check_levels(levels)  # type: ignore[arg-type]


@pytest.mark.parametrize("levels", [[50.5], [80, 50.0], [1, True]], ids=repr)
def test_check_levels_refuses_non_integer_levels(levels: list[object]) -> None:
    with pytest.raises(InvalidAmount):
        check_levels(levels)  # type: ignore[arg-type]
