"""Signing webhook bodies with HMAC-SHA256, and checking a signature as a receiver should.

The header is ``Famsim-Signature: t=<unix seconds>,v1=<hex digest>``, the digest being
HMAC-SHA256 under the endpoint's secret of ``f"{t}."`` followed by the exact body bytes.
Signing the time with the body lets a receiver refuse an old request replayed later;
comparing in constant time keeps the digest from leaking byte by byte. This module needs
only the standard library, so a receiver written in Python may copy or import it.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

SIGNATURE_HEADER = "Famsim-Signature"
DEFAULT_TOLERANCE = timedelta(minutes=5)
SCHEME = "v1"


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, at: datetime) -> str:
    """The ``Famsim-Signature`` header value for *body* sent at *at*."""
    timestamp = int(at.timestamp())
    return f"t={timestamp},{SCHEME}={_digest(secret, timestamp, body)}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    now: datetime,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> bool:
    """True when *header* signs exactly *body* with *secret* within *tolerance* of *now*.

    False (never an exception) for a malformed header, a wrong secret, a changed body or a
    timestamp too far from *now* either way. Several ``v1=`` values are allowed (any one
    may match), so a sender could sign with an old and a new secret during a rotation.
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            return False
        if name == "t":
            if timestamp is not None or not value.isdigit() or len(value) > 12:
                return False
            timestamp = int(value)
        elif name == SCHEME:
            candidates.append(value.strip())
    if timestamp is None or not candidates:
        return False
    sent = datetime.fromtimestamp(timestamp, UTC)
    if abs(now - sent) > tolerance:
        return False
    expected = _digest(secret, timestamp, body)
    # Compare every candidate (no early exit) in constant time.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected.encode(), candidate.encode())
    return matched
