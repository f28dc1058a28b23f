"""Lines (a number) and the subscriptions (SIM identities) that share it."""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass(slots=True)
class Subscription:
    """One SIM identity (ICCID + IMSI) in one device, eSIM or physical.

    The EID is the eUICC's identity, so only an eSIM subscription can carry one; it is
    empty until the profile is bound to a device.
    """

    id: SubscriptionId
    iccid: Iccid
    imsi: Imsi
    sim_type: SimType
    device_kind: DeviceKind
    primary: bool
    eid: Eid | None = None
    imei: Imei | None = None

    def __post_init__(self) -> None:
        if self.sim_type is SimType.PHYSICAL and self.eid is not None:
            raise InvalidInput(
                f"subscription {self.iccid}: a physical SIM has no EID (only an eSIM does)"
            )


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

    @property
    def primary(self) -> Subscription:
        return next(s for s in self.subscriptions if s.primary)

    @property
    def companions(self) -> list[Subscription]:
        return [s for s in self.subscriptions if not s.primary]

    @property
    def is_active(self) -> bool:
        return self.status is LineStatus.ACTIVE
