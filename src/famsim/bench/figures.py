"""Figures the benchmarks share."""

from __future__ import annotations

from collections.abc import Sequence


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank *p*-th percentile of *values* (0.0 for none): the smallest value
    with at least *p* % of them at or below it, so a p99 is a latency some request had."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = -(-len(ordered) * p // 100)  # ceil, in integers for integer p
    return ordered[max(0, int(rank) - 1)]
