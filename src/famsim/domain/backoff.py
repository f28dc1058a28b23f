"""How long to wait before retrying a delivery that failed (webhooks, SM-DP+ callbacks)."""

from __future__ import annotations

from datetime import timedelta


def backoff(failures: int, first: timedelta, longest: timedelta) -> timedelta:
    """The wait after the *failures*-th failed attempt: *first*, doubling, at most *longest*.

    Exponential so a receiver that is down for long is not hammered, capped so one that
    comes back hears within minutes.
    """
    if failures < 1:
        return timedelta(0)
    if failures > 20:  # 2**19 times the first wait is far past any cap: keep numbers small
        return longest
    return min(first * (1 << (failures - 1)), longest)
