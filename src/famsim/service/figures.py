"""The charging engine's figures as the operator console shows them: answers counted as
they leave, by outcome, with the rate over the last minute.

Counted in memory by the process that answers (the API server's committer, the traffic
simulator's gateway): the console shows this server's engine at work, not a history;
the history is the usage records.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from famsim.service.charging import ChargingAnswer

WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class FiguresSnapshot:
    answers: int
    by_outcome: dict[str, int]
    refused_services: int
    granted_units: dict[str, int]
    per_second: float  # over the last minute (a rate to show, not a balance)


class ChargingFigures:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._outcomes: Counter[str] = Counter()
        self._granted: Counter[str] = Counter()
        self._refused = 0
        self._recent: deque[float] = deque()

    def record(self, answer: ChargingAnswer) -> None:
        now = self._clock()
        with self._lock:
            self._outcomes[answer.outcome] += 1
            for service in answer.services:
                if service.outcome == "success":
                    self._granted[service.resource] += service.granted
                else:
                    self._refused += 1
            self._recent.append(now)
            self._forget(now)

    def snapshot(self) -> FiguresSnapshot:
        now = self._clock()
        with self._lock:
            self._forget(now)
            return FiguresSnapshot(
                answers=sum(self._outcomes.values()),
                by_outcome=dict(self._outcomes),
                refused_services=self._refused,
                granted_units=dict(self._granted),
                per_second=len(self._recent) / WINDOW_S,
            )

    def _forget(self, now: float) -> None:
        while self._recent and self._recent[0] < now - WINDOW_S:
            self._recent.popleft()
