"""Background delivery shared by the SM-DP+'s notification sender and the webhooks: a
thread that runs one pass, then sleeps until the next retry falls due, a wake-up, or an
idle timeout."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from famsim.domain.errors import FamsimError

log = logging.getLogger(__name__)
SOONEST_S = 0.05  # never spin: a retry due "now" still waits this long


def describe(exc: Exception, limit: int) -> str:
    """One line about a failed attempt, for the stored ``last_error``."""
    text = str(exc) if isinstance(exc, FamsimError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:limit]


class Repeater:
    """Runs *one_pass* in a thread until stopped.

    *one_pass* does the work and returns when the next retry falls due (None: none
    waiting); the thread then sleeps until that time, a :meth:`wake`, or *idle_s* (other
    processes may have queued work). A failing pass is logged and tried again.
    """

    def __init__(
        self,
        name: str,
        one_pass: Callable[[], datetime | None],
        now: Callable[[], datetime],
        idle_s: float,
    ) -> None:
        self._name = name
        self._one_pass = one_pass
        self._now = now
        self._idle_s = idle_s
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Run a pass now (cheap; safe from any thread)."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        thread.start()
        self._thread = thread  # only once started: stop() may follow a Ctrl-C at any point

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread after its current pass (the HTTP timeout bounds that)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        thread.join(timeout_s)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()  # before the pass: a wake during it is not lost
            wait = self._idle_s
            try:
                upcoming = self._one_pass()
                if upcoming is not None:
                    due_in = (upcoming - self._now()).total_seconds()
                    wait = min(wait, max(due_in, SOONEST_S))
            except Exception:  # the database may be away for a while: keep trying
                log.exception("%s: a delivery pass failed; retrying", self._name)
            self._wake.wait(wait)
