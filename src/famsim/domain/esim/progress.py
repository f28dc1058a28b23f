"""What the SM-DP+ tells the operator about a download: HandleDownloadProgressInfo values.

Every simulated device step of the built-in SM-DP+ (and every refusal that still changes
or counts something) yields one :class:`ProgressNotification`; the service stores it with
the profile change in one transaction and a sender delivers it to the operator's
``handleDownloadProgressInfo`` callback afterwards (SGP.22 5.3.5, ``shared/docs/esim.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from famsim.domain.esim.status import StatusCode
from famsim.domain.identifiers import Eid, Iccid


class NotificationPoint(IntEnum):
    """Where a ``handleDownloadProgressInfo`` callback comes from (``notificationPointId``).

    1-4 are SGP.22's (5.3.5). 101-103 are **famsim's private points**, not the spec's: after
    installation the eUICC's own notifications (a profile enabled, disabled or deleted on
    the device) reach the SM-DP+, and famsim forwards them on the same callback so the
    operator learns of them. They are numbered above 100 so they can never be mistaken for
    a value the spec defines (or a later version adds next to 1-4); a receiver that is not
    famsim's should ignore them.
    """

    ELIGIBILITY_CHECK = 1
    """Eligibility and retry limit check (an expired order fails here)."""
    CONFIRMATION_FAILURE = 2
    """A wrong confirmation code (counted; at the limit the profile goes to Error)."""
    BPP_DOWNLOAD = 3
    """The bound profile package was downloaded (or the download failed or was rejected)."""
    BPP_INSTALLATION = 4
    """The profile was installed on the eUICC (or the installation failed)."""
    PROFILE_ENABLED = 101
    """famsim's: the installed profile was enabled on the device."""
    PROFILE_DISABLED = 102
    """famsim's: the installed profile was disabled on the device."""
    PROFILE_DELETED = 103
    """famsim's: the installed profile was deleted from the device (it cannot come back)."""


@dataclass(frozen=True, slots=True)
class ProgressNotification:
    """One progress report on one profile: where, when, and whether it went well.

    ``status`` (the spec's subject/reason code) and ``message`` explain a failure; a
    success carries neither.
    """

    iccid: Iccid
    eid: Eid | None
    profile_type: str
    at: datetime
    point: NotificationPoint
    success: bool
    status: StatusCode | None = None
    message: str | None = None
