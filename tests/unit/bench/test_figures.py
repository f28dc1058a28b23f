"""The benchmarks' shared percentile: nearest rank, a value some request had."""

from __future__ import annotations

import pytest

from famsim.bench.figures import percentile


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([], 99, 0.0),
        ([7.0], 50, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        ([4.0, 3.0, 2.0, 1.0], 75, 3.0),
        ([float(v) for v in range(1, 101)], 99, 99.0),
        ([float(v) for v in range(1, 101)], 100, 100.0),
        ([float(v) for v in range(1, 1001)], 99, 990.0),
    ],
)
def test_nearest_rank(values: list[float], p: int, expected: float) -> None:
    assert percentile(values, p) == expected
