"""A profile's life at the SM-DP+ (SGP.22 3.1.6), as a table of allowed moves.

``Available`` profiles wait in the inventory; DownloadOrder takes one (``Allocated``, or
``Linked`` to a device's EID); ConfirmOrder confirms it (``Confirmed``) or releases it at
once (``Released``); ReleaseProfile releases a confirmed one; the device then downloads
(``Downloaded``) and installs it (``Installed``), or fails (``Error``). CancelOrder returns
an order that is not yet downloaded to the inventory (``Available``) or retires the
profile (``Unavailable``). Any other move is refused with 8.2.1/3.5, as the SM-DP+ must.
"""

from __future__ import annotations

from enum import StrEnum

from famsim.domain.errors import RuleViolation
from famsim.domain.esim.status import INVALID_TRANSITION, StatusCode


class ProfileState(StrEnum):
    AVAILABLE = "Available"
    ALLOCATED = "Allocated"
    LINKED = "Linked"
    CONFIRMED = "Confirmed"
    RELEASED = "Released"
    DOWNLOADED = "Downloaded"
    INSTALLED = "Installed"
    ERROR = "Error"
    UNAVAILABLE = "Unavailable"


class ProfileAction(StrEnum):
    ORDER = "order"
    """DownloadOrder without an EID."""
    ORDER_FOR_EID = "order_for_eid"
    """DownloadOrder with the device's EID."""
    CONFIRM = "confirm"
    """ConfirmOrder with releaseFlag false."""
    CONFIRM_AND_RELEASE = "confirm_and_release"
    """ConfirmOrder with releaseFlag true."""
    RELEASE = "release"
    """ReleaseProfile."""
    DOWNLOAD = "download"
    """The device downloaded the bound profile package."""
    INSTALL = "install"
    """The device installed it."""
    FAIL = "fail"
    """Download or installation failed, the user refused, or confirmation attempts ran out."""
    CANCEL_TO_AVAILABLE = "cancel_to_available"
    """CancelOrder with finalProfileStatusIndicator Available."""
    CANCEL_TO_UNAVAILABLE = "cancel_to_unavailable"
    """CancelOrder with finalProfileStatusIndicator Unavailable."""


_S, _A = ProfileState, ProfileAction
_CANCELLABLE = (_S.ALLOCATED, _S.LINKED, _S.CONFIRMED, _S.RELEASED, _S.ERROR)
TRANSITIONS: dict[tuple[ProfileState, ProfileAction], ProfileState] = {
    (_S.AVAILABLE, _A.ORDER): _S.ALLOCATED,
    (_S.AVAILABLE, _A.ORDER_FOR_EID): _S.LINKED,
    (_S.ALLOCATED, _A.CONFIRM): _S.CONFIRMED,
    (_S.LINKED, _A.CONFIRM): _S.CONFIRMED,
    (_S.ALLOCATED, _A.CONFIRM_AND_RELEASE): _S.RELEASED,
    (_S.LINKED, _A.CONFIRM_AND_RELEASE): _S.RELEASED,
    (_S.CONFIRMED, _A.RELEASE): _S.RELEASED,
    (_S.RELEASED, _A.DOWNLOAD): _S.DOWNLOADED,
    (_S.DOWNLOADED, _A.INSTALL): _S.INSTALLED,
    (_S.RELEASED, _A.FAIL): _S.ERROR,
    (_S.DOWNLOADED, _A.FAIL): _S.ERROR,
    **{(state, _A.CANCEL_TO_AVAILABLE): _S.AVAILABLE for state in _CANCELLABLE},
    **{(state, _A.CANCEL_TO_UNAVAILABLE): _S.UNAVAILABLE for state in _CANCELLABLE},
}
"""Every allowed move; anything absent is an invalid transition."""


class InvalidStateTransition(RuleViolation):
    """The profile's state does not allow this ES2+ function (8.2.1/3.5)."""

    status: StatusCode = INVALID_TRANSITION

    def __init__(self, iccid: str, state: ProfileState, action: ProfileAction) -> None:
        self.iccid = iccid
        self.state = state
        self.action = action
        super().__init__(f"profile {iccid} is {state.value}: {action.value} is not allowed now")


def next_state(iccid: str, state: ProfileState, action: ProfileAction) -> ProfileState:
    """Where *action* takes a profile in *state*; raises :class:`InvalidStateTransition`."""
    try:
        return TRANSITIONS[(state, action)]
    except KeyError:
        raise InvalidStateTransition(iccid, state, action) from None
