"""Lines (a number) and the subscriptions (SIM identities) that share it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from famsim.domain.errors import InvalidInput
from famsim.domain.identifiers import Eid, Iccid, Imei, Imsi, Msisdn
from famsim.domain.ids import LineId, MemberId, SubscriptionId
from famsim.domain.plan import DeviceKind


class SimType(StrEnum):
    ESIM = "esim"
    PHYSICAL = "physical"


class LineStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"  # for good: its number went back to the operator's pool


class SubscriptionState(StrEnum):
    """Where a SIM is in its life, as the operator sees it.

    An eSIM goes ordered -> released (its activation code can be used) -> downloaded ->
    installed -> enabled / disabled on the device, and ends deleted, or in error when the
    download failed, was refused or expired. A physical SIM is enabled from the start.
    """

    ORDERED = "ordered"
    RELEASED = "released"
    DOWNLOADED = "downloaded"
    INSTALLED = "installed"
    ENABLED = "enabled"
    DISABLED = "disabled"
    DELETED = "deleted"
    ERROR = "error"

    @property
    def is_live(self) -> bool:
        """Whether the network may still see this SIM (and charging must know it)."""
        return self not in (SubscriptionState.DELETED, SubscriptionState.ERROR)

    @property
    def is_pending(self) -> bool:
        """Ordered but not yet on a device: the order can still be cancelled or expire."""
        return self in _PENDING


_PENDING = frozenset({SubscriptionState.ORDERED, SubscriptionState.RELEASED})


@dataclass(slots=True)
class Subscription:
    """One SIM identity (ICCID + IMSI) in one device, eSIM or physical.

    The EID is the eUICC's identity, so only an eSIM subscription can carry one; it is
    empty until the profile is bound to a device.

    An ordered eSIM also carries its order: the profile type, the matching ID of its
    activation code, the confirmation code (kept only until the profile is downloaded, so
    it can be shown again meanwhile) and when the order expires. ``replaces`` names the
    subscription a device change will retire once this one is installed.

    ``in_service_on`` is the first day the SIM was in service (a line fee is due for it
    from then), ``out_of_service_on`` the day it stopped (exclusive: the last day in
    service is the day before). The family sets both (see Family.report); a SIM never on
    a device has neither, and a suspended line's SIMs are still in service.
    """

    id: SubscriptionId
    iccid: Iccid
    imsi: Imsi
    sim_type: SimType
    device_kind: DeviceKind
    primary: bool
    eid: Eid | None = None
    imei: Imei | None = None
    state: SubscriptionState = SubscriptionState.ENABLED
    state_changed_at: datetime | None = None
    profile_type: str | None = None
    matching_id: str | None = None
    confirmation_code: str | None = None
    order_expires_at: datetime | None = None
    replaces: SubscriptionId | None = None
    in_service_on: date | None = None
    out_of_service_on: date | None = None

    def __post_init__(self) -> None:
        if self.sim_type is SimType.PHYSICAL and self.eid is not None:
            raise InvalidInput(
                f"subscription {self.iccid}: a physical SIM has no EID (only an eSIM does)"
            )

    def enter_service(self, day: date) -> None:
        """The SIM is on a device from *day* on; only its first day counts (a profile
        enabled after being installed, or switched off and on, stays in service)."""
        if self.in_service_on is None and self.out_of_service_on is None:
            self.in_service_on = day

    def leave_service(self, day: date) -> None:
        """The SIM stopped on *day* (deleted, or its line closed), if it was ever in
        service; a day before it entered (clocks disagreeing) counts as that day."""
        if self.in_service_on is not None and self.out_of_service_on is None:
            self.out_of_service_on = max(day, self.in_service_on)

    def in_service_during(self, start: date, end: date) -> bool:
        """Whether the SIM was in service on at least one day of [start, end)."""
        if self.in_service_on is None:
            return False
        until = end if self.out_of_service_on is None else min(self.out_of_service_on, end)
        return max(self.in_service_on, start) < until


@dataclass(slots=True)
class Line:
    """A number (MSISDN) owned by a member: one primary subscription plus companions.

    Companions (a watch, a tablet) have their own ICCID and IMSI but share the number and
    are charged to the same member's allocation. A data-only line gets no voice or SMS.
    """

    id: LineId
    msisdn: Msisdn
    member_id: MemberId
    data_only: bool = False
    status: LineStatus = LineStatus.ACTIVE
    suspended_reason: str | None = None
    subscriptions: list[Subscription] = field(default_factory=list)
    closed_on: date | None = None

    @property
    def primary(self) -> Subscription:
        return next(s for s in self.subscriptions if s.primary)

    @property
    def companions(self) -> list[Subscription]:
        """The line's other live devices (a watch, a tablet); not a pending replacement."""
        return [
            s
            for s in self.subscriptions
            if not s.primary and s.replaces is None and s.state.is_live
        ]

    @property
    def live_subscriptions(self) -> list[Subscription]:
        return [s for s in self.subscriptions if s.state.is_live]

    @property
    def is_closed(self) -> bool:
        return self.status is LineStatus.CLOSED

    @property
    def is_active(self) -> bool:
        return self.status is LineStatus.ACTIVE
