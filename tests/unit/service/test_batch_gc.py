"""young_batches: a batch job's young collections are rarer, and put back after it."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from famsim.service.batch_gc import YOUNG_THRESHOLD, young_batches


@pytest.fixture(autouse=True)
def default_thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def test_the_young_threshold_is_raised_inside_and_restored_after() -> None:
    with young_batches():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_restored_after_an_error() -> None:
    with pytest.raises(RuntimeError), young_batches():
        raise RuntimeError("a batch failed")
    assert gc.get_threshold() == (700, 10, 10)


def test_a_higher_threshold_already_set_is_kept() -> None:
    gc.set_threshold(50_000, 10, 10)
    with young_batches():
        assert gc.get_threshold() == (50_000, 10, 10)
    assert gc.get_threshold() == (50_000, 10, 10)


def test_nested_and_overlapping_jobs_restore_once_the_last_leaves() -> None:
    inside, leave = threading.Event(), threading.Event()

    def other_job() -> None:
        with young_batches():
            inside.set()
            leave.wait(5)

    thread = threading.Thread(target=other_job)
    with young_batches():
        thread.start()
        assert inside.wait(5)
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD  # the other job still runs
    leave.set()
    thread.join(5)
    assert gc.get_threshold() == (700, 10, 10)
    with young_batches(), young_batches():
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.get_threshold() == (700, 10, 10)
