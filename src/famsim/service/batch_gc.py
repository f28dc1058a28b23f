"""Batch jobs and CPython's cyclic garbage collector: let a batch's objects die young.

A batch job (closing the billing cycles of hundreds of families in one transaction)
makes a few hundred thousand objects and drops them at the batch's end, by reference
counting: nothing of it is cyclic garbage. With CPython 3.11's default thresholds, a
young collection runs every 700 allocations, so a batch's objects live through two of
them, are promoted to the oldest generation, and grow it past the quarter that triggers
a full collection: a walk over every object of the process, once per batch. Measured
with bench/billing.py (10,000 families): about a third of the whole run.

While a batch job runs, :func:`young_batches` raises the youngest generation's threshold
(10,000 allocations), so a batch's objects are freed before they are ever promoted. The
setting is the process's; it is restored when the last job running leaves, and cyclic
garbage is still collected meanwhile, only less often.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 10_000
"""Allocations between young collections while a batch job runs (CPython's default: 700)."""


class _Jobs:
    """How many batch jobs run now, and the thresholds to restore after the last."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.saved: tuple[int, int, int] = gc.get_threshold()


_jobs = _Jobs()


@contextmanager
def young_batches(threshold: int = YOUNG_THRESHOLD) -> Iterator[None]:
    """Run the body with young collections at most every *threshold* allocations."""
    with _jobs.lock:
        if _jobs.running == 0:
            _jobs.saved = gc.get_threshold()
            young, middle, old = _jobs.saved
            gc.set_threshold(max(young, threshold), middle, old)
        _jobs.running += 1
    try:
        yield
    finally:
        with _jobs.lock:
            _jobs.running -= 1
            if _jobs.running == 0:
                gc.set_threshold(*_jobs.saved)
