"""Can this device take the SIM we are about to order? Checked before any order is placed.

An eSIM needs a device with an eUICC, which has an EID; a physical SIM needs none and must
not be given one. The IMEI, when given, must pass its Luhn check; and an operator may keep
a list of approved models (Type Allocation Codes, the IMEI's first 8 digits), in which case
the IMEI is required and its TAC must be on the list. Each refusal says which rule failed,
so the owner knows whether to fix a typo or pick another device.
"""

from __future__ import annotations

from dataclasses import dataclass

from famsim.domain.errors import InvalidInput
from famsim.domain.identifiers import Eid, Imei
from famsim.domain.lines import SimType

TAC_LENGTH = 8


class DeviceRefused(InvalidInput):
    """The device cannot take this SIM; ``rule`` names the check (eid, imei, tac)."""

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class TacAllowList:
    """The operator's approved device models, by Type Allocation Code (8 digits each)."""

    tacs: frozenset[str]

    def __post_init__(self) -> None:
        bad = sorted(
            t for t in self.tacs if len(t) != TAC_LENGTH or not t.isascii() or not t.isdigit()
        )
        if bad:
            raise InvalidInput(f"a TAC is 8 digits; not {', '.join(repr(t) for t in bad[:3])}")

    def allows(self, imei: Imei) -> bool:
        return imei.tac in self.tacs


@dataclass(frozen=True, slots=True)
class CheckedDevice:
    """What passed the check, in canonical form, ready for the subscription."""

    sim_type: SimType
    eid: Eid | None
    imei: Imei | None


def check_device(
    sim_type: SimType,
    *,
    eid: str | None,
    imei: str | None,
    allowed: TacAllowList | None = None,
) -> CheckedDevice:
    """Check a device for a SIM of *sim_type*; raises :class:`DeviceRefused` or an
    identifier error naming the failed check (format, length, checksum)."""
    eid_text = (eid or "").strip() or None
    imei_text = (imei or "").strip() or None
    if sim_type is SimType.ESIM:
        if eid_text is None:
            raise DeviceRefused(
                "eid",
                "an eSIM needs the device's EID (Settings > About): without one the "
                "device has no eUICC and cannot download a profile",
            )
        checked_eid: Eid | None = Eid.parse(eid_text)
    else:
        if eid_text is not None:
            raise DeviceRefused(
                "eid", "a physical SIM is not downloaded to an eUICC: leave the EID out"
            )
        checked_eid = None
    checked_imei = Imei.parse(imei_text) if imei_text is not None else None
    if allowed is not None:
        if checked_imei is None:
            raise DeviceRefused(
                "imei", "the operator approves devices by model: the device's IMEI is needed"
            )
        if not allowed.allows(checked_imei):
            raise DeviceRefused(
                "tac",
                f"device model {checked_imei.tac} (the IMEI's TAC) is not on the operator's "
                "list of approved devices",
            )
    return CheckedDevice(sim_type, checked_eid, checked_imei)
