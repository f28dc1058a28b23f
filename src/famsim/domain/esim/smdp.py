"""The built-in SM-DP+'s rules: its profile inventory and the ES2+ functions on it.

What an SM-DP+ must do, independent of HTTP and storage: hand out a profile of the
ordered type (or the ICCID asked for), link it to a device's EID, confirm it with a
matching ID and an optional confirmation code (kept only as SHA-256, with a limit on wrong
attempts), release it, let the device download and install it before the order expires,
and cancel what is not yet downloaded. Every refusal carries the ES2+ status code the
spec gives (``shared/docs/esim.md``), so the HTTP layer only translates.

The device's side is simulated here too (download, install, the end user's rejection, a
failure, and once installed enable, disable, delete); each step, and each refusal that
still changes or counts something, leaves a :class:`ProgressNotification` in
``SmdpInventory.notifications`` for the operator's HandleDownloadProgressInfo callback.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from famsim.domain.errors import FamsimError, InvalidInput
from famsim.domain.esim.activation_code import (
    ActivationCode,
    confirmation_code_hash,
    new_matching_id,
)
from famsim.domain.esim.profile_state import ProfileAction, ProfileState, next_state
from famsim.domain.esim.progress import NotificationPoint, ProgressNotification
from famsim.domain.esim.status import (
    CONFIRMATION_ATTEMPTS_EXCEEDED,
    CONFIRMATION_CODE_REFUSED,
    DEVICE_FAILURE,
    EID_DIFFERS,
    END_USER_REJECTED,
    INVALID_TRANSITION,
    MATCHING_ID_CONFLICT,
    NO_PROFILE_OF_TYPE,
    ORDER_EXPIRED,
    PROFILE_IN_USE,
    PROFILE_UNKNOWN,
    StatusCode,
)
from famsim.domain.identifiers import Eid, Iccid

DEFAULT_ORDER_VALIDITY = timedelta(days=7)
DEFAULT_CONFIRMATION_ATTEMPTS = 3


class SmdpRefusal(FamsimError):
    """An ES2+ function the SM-DP+ refuses; ``status`` is the spec's subject/reason code."""

    def __init__(self, status: StatusCode, message: str) -> None:
        self.status = status
        super().__init__(message)


class AlreadyStocked(SmdpRefusal):
    """A profile of a delivery is in the inventory already (or twice in the delivery)."""

    def __init__(self, position: int, iccid: Iccid) -> None:
        self.position = position
        self.iccid = iccid
        super().__init__(PROFILE_IN_USE, f"ICCID {iccid} is already in the SM-DP+ inventory")


def consecutive_iccids(first: Iccid, count: int) -> list[Iccid]:
    """*count* ICCIDs from *first* on, the account numbers counting up (check digits new)."""
    if count < 1:
        raise InvalidInput("at least one ICCID is needed")
    body = first.digits[:-1]
    last = str(int(body) + count - 1).zfill(len(body))
    if len(last) > len(body) or last[:2] != body[:2]:
        raise InvalidInput(f"{count} ICCIDs from {first} run past the last account number")
    return [Iccid.from_body(str(int(body) + n).zfill(len(body))) for n in range(count)]


class FinalStatus(StrEnum):
    """CancelOrder's finalProfileStatusIndicator: back to the inventory, or retired."""

    AVAILABLE = "Available"
    UNAVAILABLE = "Unavailable"


class DeviceAction(StrEnum):
    """Device steps whose name the state log keeps, beside the SGP.22 3.1.6 moves.

    The 3.1.6 table ends at Installed (or Error): what the eUICC does with an installed
    profile afterwards does not change the SM-DP+'s state. famsim still logs it, with the
    state unchanged (Installed -> Installed), so the log is the one place that knows
    whether a profile is enabled, disabled or deleted on its device: a deleted profile
    cannot be enabled again, and this survives a restart without a new column.
    ``reject`` is the end user declining the profile; it is the table's ``fail`` move
    (to Error) logged under its own name.
    """

    REJECT = "reject"
    ENABLE = "enable"
    DISABLE = "disable"
    DELETE = "delete"


LogAction = ProfileAction | DeviceAction
"""What a state log entry records: a move of the 3.1.6 table, or a device step."""


def log_action(name: str) -> LogAction:
    """The action a stored log entry names (stores read their ``action`` column with it)."""
    try:
        return ProfileAction(name)
    except ValueError:
        return DeviceAction(name)


@dataclass(frozen=True, slots=True)
class Transition:
    at: datetime
    action: LogAction
    before: ProfileState
    after: ProfileState


@dataclass(slots=True)
class SmdpProfile:
    """One profile in the SM-DP+'s inventory and where it is in its life."""

    iccid: Iccid
    profile_type: str
    state: ProfileState = ProfileState.AVAILABLE
    eid: Eid | None = None
    matching_id: str | None = None
    confirmation_code_sha256: str | None = None
    failed_confirmations: int = 0
    order_expires_at: datetime | None = None
    history: list[Transition] = field(default_factory=list)

    def move(
        self, action: ProfileAction, at: datetime, *, logged_as: DeviceAction | None = None
    ) -> ProfileState:
        """Make a move of the 3.1.6 table (or raise); log it as *logged_as* if given."""
        before = self.state
        self.state = next_state(str(self.iccid), before, action)
        self.history.append(Transition(at, logged_as or action, before, self.state))
        return self.state

    @property
    def on_device(self) -> DeviceAction | None:
        """The last of enable, disable, delete done to this installed profile, if any.

        None for an installed profile the device has not touched since (SGP.22 installs a
        profile disabled).
        """
        for change in reversed(self.history):
            if change.action is ProfileAction.INSTALL:
                break  # only steps since the (last) installation count
            if change.action in _ON_DEVICE:
                return DeviceAction(change.action)
        return None

    def device_step(self, action: DeviceAction, at: datetime) -> None:
        """Log an enable, disable or delete of the installed profile (state unchanged)."""
        current = self.on_device
        allowed = {
            DeviceAction.ENABLE: (None, DeviceAction.DISABLE),
            DeviceAction.DISABLE: (DeviceAction.ENABLE,),
            DeviceAction.DELETE: (None, DeviceAction.ENABLE, DeviceAction.DISABLE),
        }[action]
        if self.state is not ProfileState.INSTALLED or current not in allowed:
            where = (
                f"{self.state.value}"
                if self.state is not ProfileState.INSTALLED
                else f"Installed and {_DEVICE_STATUS[current]} on the device"
            )
            raise SmdpRefusal(
                INVALID_TRANSITION,
                f"profile {self.iccid} is {where}: {action.value} is not allowed now",
            )
        self.history.append(Transition(at, action, self.state, self.state))


_ON_DEVICE = (DeviceAction.ENABLE, DeviceAction.DISABLE, DeviceAction.DELETE)
_DEVICE_STATUS: dict[DeviceAction | None, str] = {
    None: "not yet enabled",
    DeviceAction.ENABLE: "enabled",
    DeviceAction.DISABLE: "disabled",
    DeviceAction.DELETE: "deleted",
}


@dataclass(frozen=True, slots=True)
class Confirmation:
    """ConfirmOrder's answer: what the operator turns into an activation code."""

    eid: Eid | None
    matching_id: str
    smdp_address: str
    activation_code: ActivationCode


class SmdpInventory:
    """Profiles by ICCID; every ES2+ function and device step as a method."""

    def __init__(
        self,
        smdp_address: str,
        *,
        order_validity: timedelta = DEFAULT_ORDER_VALIDITY,
        confirmation_attempts: int = DEFAULT_CONFIRMATION_ATTEMPTS,
    ) -> None:
        if confirmation_attempts < 1:
            raise InvalidInput("at least one confirmation attempt must be allowed")
        self.smdp_address = ActivationCode(smdp_address, "").smdp_address  # checked once
        self.order_validity = order_validity
        self.confirmation_attempts = confirmation_attempts
        self.profiles: dict[Iccid, SmdpProfile] = {}
        self.touched: set[Iccid] = set()
        """Profiles a call looked at or changed since the owner last cleared this: storage
        saves them, refused calls included (a wrong confirmation code still counts)."""
        self.notifications: list[ProgressNotification] = []
        """Progress reports for the operator since the owner last cleared this: storage
        keeps them with the touched profiles, for delivery afterwards."""

    # ------------------------------------------------------------------ inventory
    def add(self, iccid: Iccid, profile_type: str) -> SmdpProfile:
        kind = profile_type.strip()
        if not kind:
            raise InvalidInput("a profile needs a profile type")
        if iccid in self.profiles:
            raise SmdpRefusal(PROFILE_IN_USE, f"profile {iccid} is already in the inventory")
        profile = SmdpProfile(iccid, kind)
        self.profiles[iccid] = profile
        self.touched.add(iccid)
        return profile

    def add_all(self, stock: Sequence[tuple[Iccid, str]]) -> None:
        """Add a delivery of profiles whole or not at all: every one is checked first.

        Raises :class:`AlreadyStocked` (with the position of the first offender) when an
        ICCID is in the inventory already or twice in *stock*.
        """
        seen: set[Iccid] = set()
        for position, (iccid, profile_type) in enumerate(stock):
            if not profile_type.strip():
                raise InvalidInput("a profile needs a profile type")
            if iccid in self.profiles or iccid in seen:
                raise AlreadyStocked(position, iccid)
            seen.add(iccid)
        for iccid, profile_type in stock:
            self.add(iccid, profile_type)

    def available(self, profile_type: str) -> int:
        return sum(
            1
            for p in self.profiles.values()
            if p.profile_type == profile_type and p.state is ProfileState.AVAILABLE
        )

    # ------------------------------------------------------------------ ES2+ functions
    def download_order(
        self,
        *,
        now: datetime,
        eid: Eid | None = None,
        iccid: Iccid | None = None,
        profile_type: str | None = None,
    ) -> SmdpProfile:
        """Reserve a profile: the ICCID asked for, or the first available of the type."""
        if iccid is not None:
            profile = self._profile(iccid)
            if profile_type is not None and profile.profile_type != profile_type:
                raise SmdpRefusal(
                    NO_PROFILE_OF_TYPE,
                    f"profile {iccid} is of type {profile.profile_type!r}, not {profile_type!r}",
                )
            if profile.state is not ProfileState.AVAILABLE:
                raise SmdpRefusal(
                    PROFILE_IN_USE, f"profile {iccid} is {profile.state.value}, not Available"
                )
        elif profile_type is not None:
            candidates = sorted(
                (
                    p
                    for p in self.profiles.values()
                    if p.profile_type == profile_type and p.state is ProfileState.AVAILABLE
                ),
                key=lambda p: str(p.iccid),
            )
            if not candidates:
                raise SmdpRefusal(
                    NO_PROFILE_OF_TYPE, f"no profile of type {profile_type!r} is available"
                )
            profile = candidates[0]
            self.touched.add(profile.iccid)
        else:
            raise InvalidInput("DownloadOrder needs an ICCID or a profile type")
        profile.move(ProfileAction.ORDER_FOR_EID if eid else ProfileAction.ORDER, now)
        profile.eid = eid
        profile.order_expires_at = now + self.order_validity
        return profile

    def confirm_order(
        self,
        *,
        now: datetime,
        iccid: Iccid,
        release: bool,
        eid: Eid | None = None,
        matching_id: str | None = None,
        confirmation_code: str | None = None,
    ) -> Confirmation:
        """Confirm an order: bind the EID, fix the matching ID, keep the code's hash."""
        profile = self._profile(iccid)
        self._check_eid(profile, eid)
        wanted = ActivationCode(self.smdp_address, matching_id or "").matching_id
        if wanted:
            holder = self._by_matching_id(wanted)
            if holder is not None and holder is not profile:
                raise SmdpRefusal(
                    MATCHING_ID_CONFLICT, f"matching ID {wanted} belongs to another order"
                )
        action = ProfileAction.CONFIRM_AND_RELEASE if release else ProfileAction.CONFIRM
        profile.move(action, now)
        profile.eid = eid or profile.eid
        profile.matching_id = wanted or self._fresh_matching_id()
        if confirmation_code:
            profile.confirmation_code_sha256 = confirmation_code_hash(confirmation_code)
        profile.failed_confirmations = 0
        profile.order_expires_at = now + self.order_validity
        code = ActivationCode(
            self.smdp_address,
            profile.matching_id,
            confirmation_code_required=profile.confirmation_code_sha256 is not None,
        )
        return Confirmation(profile.eid, profile.matching_id, self.smdp_address, code)

    def release_profile(self, *, now: datetime, iccid: Iccid) -> SmdpProfile:
        profile = self._profile(iccid)
        profile.move(ProfileAction.RELEASE, now)
        return profile

    def cancel_order(
        self,
        *,
        now: datetime,
        iccid: Iccid,
        final: FinalStatus,
        eid: Eid | None = None,
        matching_id: str | None = None,
    ) -> SmdpProfile:
        """Give an order up; an Available profile goes back to the inventory, cleared."""
        profile = self._profile(iccid)
        self._check_eid(profile, eid)
        if matching_id is not None and profile.matching_id not in (None, matching_id.upper()):
            raise SmdpRefusal(
                MATCHING_ID_CONFLICT, f"matching ID {matching_id} is not this order's"
            )
        action = (
            ProfileAction.CANCEL_TO_AVAILABLE
            if final is FinalStatus.AVAILABLE
            else ProfileAction.CANCEL_TO_UNAVAILABLE
        )
        profile.move(action, now)
        profile.eid = profile.matching_id = profile.confirmation_code_sha256 = None
        profile.failed_confirmations = 0
        profile.order_expires_at = None
        return profile

    # ------------------------------------------------------------------ the device's side
    def download_code(
        self,
        *,
        now: datetime,
        activation_code: ActivationCode,
        eid: Eid,
        confirmation_code: str | None = None,
    ) -> SmdpProfile:
        """A device downloads with an activation code; it must name this SM-DP+."""
        if activation_code.smdp_address != self.smdp_address:
            raise InvalidInput(
                f"activation code names SM-DP+ {activation_code.smdp_address}, "
                f"this is {self.smdp_address}"
            )
        if not activation_code.matching_id:
            raise InvalidInput("activation code has no matching ID")
        return self.download(
            now=now,
            matching_id=activation_code.matching_id,
            eid=eid,
            confirmation_code=confirmation_code,
        )

    def download(
        self,
        *,
        now: datetime,
        matching_id: str,
        eid: Eid,
        confirmation_code: str | None = None,
    ) -> SmdpProfile:
        """A device asks for the profile of an activation code (simulated LPA download).

        Refused, and the profile put in Error, when the order has expired (notification
        point 1) or when the confirmation code was wrong too many times (point 2); a wrong
        code below the limit is refused and counted (point 2), the profile stays Released.
        A download that works is point 3. Refusals that change nothing (an unknown matching
        ID, another device's EID, a profile not released) notify nobody.
        """
        profile = self._by_matching_id(matching_id.strip().upper())
        if profile is None:
            raise SmdpRefusal(PROFILE_UNKNOWN, f"no order has matching ID {matching_id!r}")
        self._check_eid(profile, eid)
        if profile.state is not ProfileState.RELEASED:
            profile.move(ProfileAction.DOWNLOAD, now)  # raises the invalid transition
        if profile.order_expires_at is not None and now >= profile.order_expires_at:
            profile.move(ProfileAction.FAIL, now)
            raise self._failed(
                profile,
                now,
                NotificationPoint.ELIGIBILITY_CHECK,
                SmdpRefusal(ORDER_EXPIRED, f"the order for {profile.iccid} has expired"),
                eid,
            )
        if profile.confirmation_code_sha256 is not None:
            given = confirmation_code_hash(confirmation_code or "")
            if not hmac.compare_digest(given, profile.confirmation_code_sha256):
                profile.failed_confirmations += 1
                attempts = f"{profile.failed_confirmations} of {self.confirmation_attempts}"
                if profile.failed_confirmations >= self.confirmation_attempts:
                    profile.move(ProfileAction.FAIL, now)
                    refusal = SmdpRefusal(
                        CONFIRMATION_ATTEMPTS_EXCEEDED,
                        f"wrong confirmation code for {profile.iccid} ({attempts} attempts): "
                        "the profile is in Error",
                    )
                else:
                    refusal = SmdpRefusal(
                        CONFIRMATION_CODE_REFUSED,
                        f"wrong confirmation code for {profile.iccid} ({attempts} attempts)",
                    )
                raise self._failed(
                    profile, now, NotificationPoint.CONFIRMATION_FAILURE, refusal, eid
                )
        profile.move(ProfileAction.DOWNLOAD, now)
        profile.eid = eid
        self._notify(profile, now, NotificationPoint.BPP_DOWNLOAD)
        return profile

    def install(self, *, now: datetime, iccid: Iccid) -> SmdpProfile:
        """The device installed the downloaded profile (point 4)."""
        profile = self._profile(iccid)
        profile.move(ProfileAction.INSTALL, now)
        self._notify(profile, now, NotificationPoint.BPP_INSTALLATION)
        return profile

    def fail(self, *, now: datetime, iccid: Iccid) -> SmdpProfile:
        """The download (of a Released profile, point 3) or the installation (of a
        Downloaded one, point 4) failed on the device: the profile goes to Error."""
        profile = self._profile(iccid)
        point = (
            NotificationPoint.BPP_DOWNLOAD
            if profile.state is ProfileState.RELEASED
            else NotificationPoint.BPP_INSTALLATION
        )
        profile.move(ProfileAction.FAIL, now)
        what = "download" if point is NotificationPoint.BPP_DOWNLOAD else "installation"
        self._notify(
            profile,
            now,
            point,
            status=DEVICE_FAILURE,
            message=f"the {what} of {profile.iccid} failed on the device",
        )
        return profile

    def reject(
        self, *, now: datetime, iccid: Iccid | None = None, matching_id: str | None = None
    ) -> SmdpProfile:
        """The end user declines the profile on the device (SGP.22's endUserRejection).

        A Released or Downloaded profile goes to Error (logged as ``reject``); the operator
        hears point 3 Failed with :data:`END_USER_REJECTED`.
        """
        if iccid is not None:
            profile = self._profile(iccid)
        elif matching_id is not None:
            found = self._by_matching_id(matching_id.strip().upper())
            if found is None:
                raise SmdpRefusal(PROFILE_UNKNOWN, f"no order has matching ID {matching_id!r}")
            profile = found
        else:
            raise InvalidInput("a rejection names the profile by ICCID or matching ID")
        profile.move(ProfileAction.FAIL, now, logged_as=DeviceAction.REJECT)
        self._notify(
            profile,
            now,
            NotificationPoint.BPP_DOWNLOAD,
            status=END_USER_REJECTED,
            message=f"the end user rejected profile {profile.iccid} on the device",
        )
        return profile

    def enable(self, *, now: datetime, iccid: Iccid) -> SmdpProfile:
        """The installed profile was enabled on the device (famsim's point 101)."""
        return self._device_step(iccid, now, DeviceAction.ENABLE, NotificationPoint.PROFILE_ENABLED)

    def disable(self, *, now: datetime, iccid: Iccid) -> SmdpProfile:
        """The enabled profile was disabled on the device (famsim's point 102)."""
        return self._device_step(
            iccid, now, DeviceAction.DISABLE, NotificationPoint.PROFILE_DISABLED
        )

    def delete(self, *, now: datetime, iccid: Iccid) -> SmdpProfile:
        """The installed profile was deleted from the device (famsim's point 103); it stays
        Installed at the SM-DP+ (3.1.6 ends there) but can never be enabled again."""
        return self._device_step(iccid, now, DeviceAction.DELETE, NotificationPoint.PROFILE_DELETED)

    def _device_step(
        self, iccid: Iccid, now: datetime, action: DeviceAction, point: NotificationPoint
    ) -> SmdpProfile:
        profile = self._profile(iccid)
        profile.device_step(action, now)
        self._notify(profile, now, point)
        return profile

    def _notify(
        self,
        profile: SmdpProfile,
        now: datetime,
        point: NotificationPoint,
        *,
        status: StatusCode | None = None,
        message: str | None = None,
        eid: Eid | None = None,
    ) -> None:
        self.notifications.append(
            ProgressNotification(
                iccid=profile.iccid,
                eid=eid or profile.eid,
                profile_type=profile.profile_type,
                at=now,
                point=point,
                success=status is None,
                status=status,
                message=message,
            )
        )

    def _failed(
        self,
        profile: SmdpProfile,
        now: datetime,
        point: NotificationPoint,
        refusal: SmdpRefusal,
        eid: Eid,
    ) -> SmdpRefusal:
        """Note a refusal that changed or counted something for the operator; return it."""
        self._notify(profile, now, point, status=refusal.status, message=str(refusal), eid=eid)
        return refusal

    # ------------------------------------------------------------------ helpers
    def _profile(self, iccid: Iccid) -> SmdpProfile:
        profile = self.profiles.get(iccid)
        if profile is None:
            raise SmdpRefusal(PROFILE_UNKNOWN, f"profile {iccid} is not in the inventory")
        self.touched.add(iccid)
        return profile

    def _by_matching_id(self, matching_id: str) -> SmdpProfile | None:
        found = next((p for p in self.profiles.values() if p.matching_id == matching_id), None)
        if found is not None:
            self.touched.add(found.iccid)
        return found

    def _fresh_matching_id(self) -> str:
        while True:
            candidate = new_matching_id()
            if self._by_matching_id(candidate) is None:
                return candidate

    @staticmethod
    def _check_eid(profile: SmdpProfile, eid: Eid | None) -> None:
        if eid is not None and profile.eid is not None and eid != profile.eid:
            raise SmdpRefusal(
                EID_DIFFERS, f"profile {profile.iccid} is linked to another device (EID)"
            )
