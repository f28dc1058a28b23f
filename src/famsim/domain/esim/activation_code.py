"""SGP.22 activation codes (section 4.1): what a phone scans or types to fetch a profile.

``AC_Format "$" SMDP-Address "$" AC_Token [ "$" SMDP-OID [ "$" CC-Required-Flag ] ]``,
at most 255 characters, ``LPA:`` in front when it goes into a QR code. famsim generates
strictly (upper case, so a QR stays in alphanumeric mode and small; only the allowed
alphabet; a ``$`` only when a later field follows) and parses leniently (an ``LPA:``
prefix, surrounding white space, lower case), as the spec asks of both sides. No library
implements this format, so it is written here.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from famsim.domain.errors import InvalidInput

AC_FORMAT = "1"
MAX_LENGTH = 255
QR_PREFIX = "LPA:"
MATCHING_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LABEL = re.compile(r"[A-Z0-9](?:[A-Z0-9-]{0,61}[A-Z0-9])?")
_MATCHING_ID = re.compile(r"[0-9A-Z-]*")
_OID = re.compile(r"[0-2](?:\.(?:0|[1-9][0-9]*))+")


class InvalidActivationCode(InvalidInput):
    """An activation code (or one of its parts) breaks SGP.22 4.1; the message names the part."""


@dataclass(frozen=True, slots=True)
class ActivationCode:
    """The parts of an activation code, each already checked and in canonical (upper) case."""

    smdp_address: str
    matching_id: str
    smdp_oid: str | None = None
    confirmation_code_required: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "smdp_address", _address(self.smdp_address))
        object.__setattr__(self, "matching_id", _matching_id(self.matching_id))
        if self.smdp_oid is not None:
            object.__setattr__(self, "smdp_oid", _oid(self.smdp_oid))
        if len(self.text) > MAX_LENGTH:
            raise InvalidActivationCode(
                f"activation code is {len(self.text)} characters long; SGP.22 allows {MAX_LENGTH}"
            )

    @property
    def text(self) -> str:
        """The code as typed into a phone: ``1$SMDP.EXAMPLE.COM$04386-AGYFT-A74Y8-3F815``."""
        fields = [AC_FORMAT, self.smdp_address, self.matching_id]
        if self.smdp_oid is not None or self.confirmation_code_required:
            fields.append(self.smdp_oid or "")
        if self.confirmation_code_required:
            fields.append("1")
        return "$".join(fields)

    @property
    def qr_payload(self) -> str:
        """What the QR code holds: the text behind ``LPA:``."""
        return QR_PREFIX + self.text

    def __str__(self) -> str:
        return self.text

    @classmethod
    def parse(cls, text: str) -> ActivationCode:
        """Read a code as scanned or typed: an ``LPA:`` prefix, spaces and case are forgiven."""
        cleaned = text.strip()
        if cleaned[: len(QR_PREFIX)].upper() == QR_PREFIX:
            cleaned = cleaned[len(QR_PREFIX) :]
        fields = cleaned.split("$")
        if fields[0] != AC_FORMAT:
            raise InvalidActivationCode(
                f"activation code {text!r}: it must start with format {AC_FORMAT!r} "
                f'("{AC_FORMAT}$<SM-DP+ address>$<matching ID>")'
            )
        if not 3 <= len(fields) <= 5:
            raise InvalidActivationCode(
                f"activation code {text!r}: expected 3 to 5 fields separated by '$', "
                f"found {len(fields)}"
            )
        oid = fields[3] if len(fields) > 3 and fields[3] else None
        flag = fields[4] if len(fields) > 4 else ""
        if flag not in ("", "1"):
            raise InvalidActivationCode(
                f"activation code {text!r}: the confirmation-code flag must be '1' or absent, "
                f"not {flag!r}"
            )
        return cls(fields[1], fields[2], oid, flag == "1")


def new_matching_id() -> str:
    """A fresh matching ID: 20 random characters of the allowed alphabet, in groups of five.

    About 103 bits of randomness, from :mod:`secrets`: a matching ID is what lets a phone
    download a profile, so it must not be guessable.
    """
    chars = "".join(secrets.choice(MATCHING_ID_ALPHABET) for _ in range(20))
    return "-".join(chars[i : i + 5] for i in range(0, 20, 5))


def new_confirmation_code(digits: int = 8) -> str:
    """A numeric confirmation code, given to the user apart from the QR code."""
    if not 4 <= digits <= 16:
        raise InvalidInput("a confirmation code has 4 to 16 digits")
    return "".join(secrets.choice("0123456789") for _ in range(digits))


def confirmation_code_hash(code: str) -> str:
    """SHA-256 of the code (hex): all an SM-DP+ keeps of it (SGP.22 4.1)."""
    return hashlib.sha256(code.strip().encode("utf-8")).hexdigest()


def _address(value: str) -> str:
    address = value.strip().rstrip(".").upper()
    if not address or len(address) > 253:
        raise InvalidActivationCode(
            f"SM-DP+ address {value!r}: a host name of 1 to 253 characters is needed"
        )
    for label in address.split("."):
        if not _LABEL.fullmatch(label):
            raise InvalidActivationCode(
                f"SM-DP+ address {value!r}: {label!r} is not a host name label "
                "(letters, digits and inner hyphens, at most 63)"
            )
    return address


def _matching_id(value: str) -> str:
    matching_id = value.strip().upper()
    if not _MATCHING_ID.fullmatch(matching_id):
        bad = sorted({c for c in matching_id if c not in MATCHING_ID_ALPHABET + "-"})
        raise InvalidActivationCode(
            f"matching ID {value!r}: only 0-9, A-Z and '-' are allowed, not {''.join(bad)!r}"
        )
    return matching_id


def _oid(value: str) -> str:
    oid = value.strip()
    if not _OID.fullmatch(oid):
        raise InvalidActivationCode(
            f"SM-DP+ OID {value!r}: expected a dotted object identifier such as 1.3.6.1.4.1.31746"
        )
    return oid
