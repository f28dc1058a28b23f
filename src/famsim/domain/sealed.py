"""A value sealed at rest (authenticated encryption), as the domain holds it.

The domain keeps sealed values (a TOTP secret, identity data) without ever seeing a key:
sealing and opening happen behind the service's ``Sealer`` port. The type lives here, not
with the port, so domain objects such as :class:`famsim.domain.accounts.Account` can carry
one without importing the service layer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sealed:
    """A value sealed at rest: which key, the nonce, the ciphertext (with its tag)."""

    key_id: str
    nonce: bytes
    ciphertext: bytes
