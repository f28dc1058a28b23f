"""The built-in SM-DP+'s outbox: progress notifications stored with the change that caused
them, then delivered to the operator at least once.

Storing a notification in the same transaction as the profile change means neither is
ever saved without the other: after a crash the operator is still told, and never told of
a change that did not happen. Each notification gets its ``functionCallIdentifier`` once,
when stored, and keeps it on every retry, so the receiver can drop duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from famsim.domain.backoff import backoff
from famsim.domain.esim.progress import ProgressNotification
from famsim.domain.identifiers import Iccid

FIRST_RETRY = timedelta(seconds=1)
LONGEST_RETRY = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class OutgoingNotification:
    """A notification to store: the domain's report plus the callback's identifiers.

    ``requester`` becomes ``header.functionRequesterIdentifier`` (the SM-DP+'s address).
    """

    function_call_id: str
    requester: str
    notification: ProgressNotification


@dataclass(frozen=True, slots=True)
class StoredNotification:
    """One row of the outbox; ``body`` is the HandleDownloadProgressInfo JSON as sent."""

    id: int
    iccid: Iccid
    function_call_id: str
    body: dict[str, Any]
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None

    @property
    def point(self) -> int:
        """The body's ``notificationPointId`` (1-4, or famsim's 101-103)."""
        return int(self.body["notificationPointId"])


def retry_delay(failures: int) -> timedelta:
    """How long to wait after the *failures*-th failed attempt: 1 s, 2 s, 4 s ... 5 min."""
    return backoff(failures, FIRST_RETRY, LONGEST_RETRY)
