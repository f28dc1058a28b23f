"""How a subscription moves through its life on the operator's side, from reported steps.

The SM-DP+ reports a download's progress (ES2+ HandleDownloadProgressInfo) and the
operator's own actions (an order released, cancelled or expired) report steps too. Steps
can arrive twice, late or out of order (a callback retried after a later one got
through), so each is read as "the subscription has reached at least this stage": a step
behind the current state changes nothing, a step ahead moves there directly (the stages
in between are implied), and nothing revives a subscription that is deleted or in error.
"""

from __future__ import annotations

from famsim.domain.esim.status import CONFIRMATION_ATTEMPTS_EXCEEDED, StatusCode
from famsim.domain.lines import SubscriptionState

_S = SubscriptionState

# The download stages in the order a profile passes them.
_STAGE = {_S.ORDERED: 0, _S.RELEASED: 1, _S.DOWNLOADED: 2, _S.INSTALLED: 3}
# Once installed, the device switches the profile on and off as the user likes.
_ON_DEVICE = frozenset({_S.INSTALLED, _S.ENABLED, _S.DISABLED})


def next_state(current: SubscriptionState, reported: SubscriptionState) -> SubscriptionState | None:
    """The state after *reported* is applied to *current*, or None if it changes nothing.

    None means the step is a repeat or stale (behind the current state, or a failure
    reported for a profile that was installed meanwhile); the caller acknowledges it and
    moves on.
    """
    if not current.is_live or reported is current:
        return None
    if reported is _S.DELETED:
        return reported
    if reported is _S.ERROR:
        # A failure after installation is a stale report of an earlier attempt.
        return reported if current in _STAGE and current is not _S.INSTALLED else None
    if reported in _STAGE:
        if current in _STAGE and _STAGE[reported] > _STAGE[current]:
            return reported
        return None
    # ENABLED / DISABLED: the profile is on a device, whatever steps were missed.
    if current is _S.ORDERED:
        return None  # no activation code yet: cannot be on a device
    return reported if current in _ON_DEVICE or current in _STAGE else None


def reached_device(state: SubscriptionState) -> bool:
    """Installed (or further): the device has the profile, a device change may complete."""
    return state in _ON_DEVICE


# HandleDownloadProgressInfo's notification points (SGP.22 ES2+, see esim.md), and the
# private ones famsim's SM-DP+ uses to forward the eUICC's own notifications.
ELIGIBILITY_CHECK = 1
CONFIRMATION_FAILURE = 2
BPP_DOWNLOAD = 3
BPP_INSTALLATION = 4
PROFILE_ENABLED = 101
PROFILE_DISABLED = 102
PROFILE_DELETED = 103

_ON_SUCCESS = {
    BPP_DOWNLOAD: _S.DOWNLOADED,
    BPP_INSTALLATION: _S.INSTALLED,
    PROFILE_ENABLED: _S.ENABLED,
    PROFILE_DISABLED: _S.DISABLED,
    PROFILE_DELETED: _S.DELETED,
}
_FAILURE_ENDS_ORDER = frozenset({ELIGIBILITY_CHECK, BPP_DOWNLOAD, BPP_INSTALLATION})


def reported_state(
    point: int, success: bool, status: StatusCode | None = None
) -> SubscriptionState | None:
    """The state a progress notification reports, or None if it reports no new state.

    A failed eligibility check (the order expired), download or installation ends the
    order in error; so does a confirmation failure once the attempts are used up (a single
    wrong code only counts). Unknown points are noted and change nothing.
    """
    if success:
        return _ON_SUCCESS.get(point)
    if point in _FAILURE_ENDS_ORDER:
        return _S.ERROR
    if point == CONFIRMATION_FAILURE and status is not None:
        exceeded = (status.subject_code, status.reason_code) == (
            CONFIRMATION_ATTEMPTS_EXCEEDED.subject_code,
            CONFIRMATION_ATTEMPTS_EXCEEDED.reason_code,
        )
        return _S.ERROR if exceeded else None
    return None
