"""Commands: what a caller asks famsim to do, as plain immutable values.

Entrypoints build these from their input (CLI options, JSON bodies) and hand them to the
message bus. Identifiers arrive as text and are validated in the handler, so every
entrypoint gets the same checks and the same error messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from famsim.domain.allocation import ExhaustionAction, Limit
from famsim.domain.lines import SimType
from famsim.domain.members import Role
from famsim.domain.money import Money
from famsim.domain.plan import DeviceKind, Plan
from famsim.domain.units import Resource, Zone


class Command:
    """Marker base class of all commands."""


@dataclass(frozen=True, slots=True)
class SubscriptionSpec:
    """The SIM identity of one device, as given by the caller."""

    iccid: str
    imsi: str
    sim_type: SimType = SimType.ESIM
    device_kind: DeviceKind = DeviceKind.PHONE
    eid: str | None = None
    imei: str | None = None


@dataclass(frozen=True, slots=True)
class LoadPlans(Command):
    """Add plans to the catalog, or replace those with the same code."""

    plans: tuple[Plan, ...]


@dataclass(frozen=True, slots=True)
class CreateFamily(Command):
    name: str
    plan_code: str
    owner_name: str
    money_cap: Money | None = None
    oversubscription_allowed: bool = False
    time_zone: str | None = None  # IANA name; None: the plan's time zone


@dataclass(frozen=True, slots=True)
class SetTimeZone(Command):
    """Move the family to another IANA time zone (where its quiet hours are read)."""

    family_id: str
    time_zone: str
    actor: str = "operator"  # who asked, for the audit trail


@dataclass(frozen=True, slots=True)
class AddMember(Command):
    family_id: str
    name: str
    role: Role
    guardian_id: str | None = None
    actor: str = "operator"  # who asked, for the audit trail


@dataclass(frozen=True, slots=True)
class RemoveMember(Command):
    family_id: str
    member_id: str
    actor: str = "operator"  # who asked, for the audit trail


@dataclass(frozen=True, slots=True)
class AssignGuardian(Command):
    """Give a child another guardian (e.g. before the current one leaves the family)."""

    family_id: str
    child_id: str
    guardian_id: str
    actor: str = "operator"  # who asked, for the audit trail


@dataclass(frozen=True, slots=True)
class AddLine(Command):
    family_id: str
    member_id: str
    msisdn: str
    subscription: SubscriptionSpec
    data_only: bool = False


@dataclass(frozen=True, slots=True)
class AddCompanion(Command):
    """A watch or tablet joins an existing line (found by its number) and shares it."""

    family_id: str
    msisdn: str
    subscription: SubscriptionSpec


@dataclass(frozen=True, slots=True)
class SetAllocation(Command):
    """Replace a member's allocation whole.

    ``always_allowed`` are numbers as typed (E.164 with ``+``, or short codes) and
    ``quiet_hours`` windows as text (``"Mon-Fri 08:30-15:30"``); the handler validates
    both, like every identifier.
    """

    family_id: str
    member_id: str
    limits: dict[tuple[Resource, Zone], Limit] = field(default_factory=dict)
    hotspot_quota: int | None = None
    exhaustion: ExhaustionAction = ExhaustionAction.BLOCK
    redirect_url: str | None = None
    money_cap: Money | None = None
    roaming_allowed: bool = True
    always_allowed: tuple[str, ...] = ()
    quiet_hours: tuple[str, ...] = ()
    actor: str = "operator"  # who asked, for the audit trail


@dataclass(frozen=True, slots=True)
class ChangePlan(Command):
    """Move the family to another plan from its next cycle on."""

    family_id: str
    plan_code: str
    actor: str = "operator"  # who asked, for the audit trail


@dataclass(frozen=True, slots=True)
class SuspendLine(Command):
    family_id: str
    msisdn: str
    reason: str
    actor: str = "operator"  # who asked, for the audit trail


@dataclass(frozen=True, slots=True)
class ResumeLine(Command):
    family_id: str
    msisdn: str
    actor: str = "operator"  # who asked, for the audit trail
