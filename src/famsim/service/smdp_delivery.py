"""Delivering the SM-DP+'s stored progress notifications to the operator, retried.

The sender takes the due notifications from the outbox (:class:`SmdpStore`), hands each
body to a *destination* and records the outcome: delivered, or failed with the next
attempt after an exponential back-off (1 s, 2 s, 4 s ... capped at 5 minutes). The
destination is any ``Callable[[bytes], None]`` that raises on failure: an HTTP POST to the
operator's ``handleDownloadProgressInfo`` (``famsim.adapters.es2plus.notifier``), or the
operator's receiver called in-process when both run in one process.

Delivery is at least once: a body may arrive twice (a crash after sending, before marking;
two senders on one database), always with the same ``functionCallIdentifier``, which the
receiver deduplicates on. Notifications of one profile go out in order: the store hands
out only the oldest pending one per ICCID, so an operator never hears "installed" before
"downloaded".
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from famsim.domain.errors import FamsimError
from famsim.domain.identifiers import Iccid
from famsim.service.background import Repeater, describe
from famsim.service.ports import SmdpStore
from famsim.service.smdp_outbox import StoredNotification, retry_delay

Destination = Callable[[bytes], None]
"""Where bodies go: called with the JSON body, returns when delivered, raises otherwise."""

DEFAULT_BATCH = 100
DEFAULT_IDLE_S = 30.0
MAX_ERROR_CHARS = 200  # the outbox's last_error column


class DeliveryFailed(FamsimError):
    """A destination could not deliver a body (an HTTP status other than 2xx, no answer)."""


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What one attempt did: delivered, or failed and when it will be tried again."""

    id: int
    iccid: Iccid
    function_call_id: str
    point: int
    delivered: bool
    attempts: int
    error: str | None = None
    next_attempt_at: datetime | None = None


def body_bytes(notification: StoredNotification) -> bytes:
    """The bytes sent for a stored body: compact JSON, the same on every attempt."""
    return json.dumps(notification.body, separators=(",", ":"), ensure_ascii=False).encode()


class NotificationSender:
    """Sends due notifications now (:meth:`deliver_due`) or from a background thread.

    The thread wakes when :meth:`wake` is called (the SM-DP+ service calls it after a call
    stored notifications), when the earliest retry falls due, and at least every *idle_s*
    seconds (another process may have stored some).
    """

    def __init__(
        self,
        store: SmdpStore,
        destination: Destination,
        now: Callable[[], datetime],
        *,
        batch: int = DEFAULT_BATCH,
        idle_s: float = DEFAULT_IDLE_S,
    ) -> None:
        self._store = store
        self._destination = destination
        self._now = now
        self._batch = batch
        self._lock = threading.Lock()  # one pass at a time in this process
        self._repeater = Repeater("famsim-smdp-notifications", self._one_pass, now, idle_s)

    # ------------------------------------------------------------------ one pass
    def deliver_due(self, now: datetime | None = None) -> list[DeliveryResult]:
        """Try every notification due at *now* (default: the clock) once; say what happened."""
        with self._lock:
            at = now or self._now()
            results: list[DeliveryResult] = []
            tried: set[int] = set()
            while True:
                due = [n for n in self._store.due(at, self._batch) if n.id not in tried]
                if not due:
                    return results
                for notification in due:
                    tried.add(notification.id)
                    results.append(self._attempt(notification, at))

    def _attempt(self, notification: StoredNotification, at: datetime) -> DeliveryResult:
        attempts = notification.attempts + 1
        common = (notification.id, notification.iccid, notification.function_call_id)
        try:
            self._destination(body_bytes(notification))
        except Exception as exc:  # any failure of the destination is retried later
            error = _describe(exc)
            retry_at = at + retry_delay(attempts)
            self._store.mark_failed(notification.id, at, error, retry_at)
            return DeliveryResult(
                *common, notification.point, False, attempts, error, next_attempt_at=retry_at
            )
        self._store.mark_delivered(notification.id, at)
        return DeliveryResult(*common, notification.point, True, attempts)

    # ------------------------------------------------------------------ in the background
    def wake(self) -> None:
        """Look for due notifications now (cheap; safe from any thread)."""
        self._repeater.wake()

    def start(self) -> None:
        self._repeater.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread after its current attempt (an HTTP timeout bounds that)."""
        self._repeater.stop(timeout_s)

    def __enter__(self) -> NotificationSender:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _one_pass(self) -> datetime | None:
        self.deliver_due()
        return self._store.next_attempt_at()


def _describe(exc: Exception) -> str:
    return describe(exc, MAX_ERROR_CHARS)
