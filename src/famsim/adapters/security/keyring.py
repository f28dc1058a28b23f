"""Sealing data at rest with AES-256-GCM (cryptography), under keys that can be rotated.

A key ring holds named keys; the first is current and seals everything new, the others
still open what they sealed until :func:`famsim.service` re-seals it (rotation). Every
sealed value has its own random 96-bit nonce and is bound to a context (the AAD, e.g.
``kyc:<member id>``), so a ciphertext copied to another row does not open there.

Keys come from ``FAMSIM_DATA_KEYS`` (``id:base64,id:base64``, current first) or, in
development, from a file in the data directory created on first use with mode 0600.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from famsim.domain.errors import FamsimError, InvalidInput
from famsim.service.ports import Sealed

KEY_BYTES = 32
NONCE_BYTES = 12
KEY_FILE = "data-keys"


class SealBroken(FamsimError):
    """A sealed value does not open: wrong key, wrong context or altered bytes."""


class KeyRing:
    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise InvalidInput("a key ring needs at least one key")
        seen: set[str] = set()
        for key_id, key in keys:
            if not key_id or not key_id.isalnum() or len(key_id) > 32:
                raise InvalidInput(f"key id {key_id!r}: 1 to 32 letters or digits")
            if key_id in seen:
                raise InvalidInput(f"key id {key_id!r} appears twice")
            if len(key) != KEY_BYTES:
                raise InvalidInput(f"key {key_id!r} must be {KEY_BYTES} bytes, not {len(key)}")
            seen.add(key_id)
        self._keys = {key_id: AESGCM(key) for key_id, key in keys}
        self._current = keys[0][0]

    @property
    def current_key_id(self) -> str:
        return self._current

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def seal(self, plaintext: bytes, context: str) -> Sealed:
        nonce = os.urandom(NONCE_BYTES)
        cipher = self._keys[self._current]
        return Sealed(self._current, nonce, cipher.encrypt(nonce, plaintext, context.encode()))

    def open(self, sealed: Sealed, context: str) -> bytes:
        cipher = self._keys.get(sealed.key_id)
        if cipher is None:
            raise SealBroken(f"no key {sealed.key_id!r} in the key ring (was it removed?)")
        try:
            return cipher.decrypt(sealed.nonce, sealed.ciphertext, context.encode())
        except InvalidTag:
            raise SealBroken(f"a value sealed for {context!r} does not open") from None

    def needs_reseal(self, sealed: Sealed) -> bool:
        return sealed.key_id != self._current


def parse_keys(text: str) -> KeyRing:
    """``id:base64,id:base64`` (current first) as a key ring; errors name the key."""
    keys: list[tuple[str, bytes]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        key_id, sep, encoded = part.partition(":")
        if not sep:
            raise InvalidInput(f"data key {part[:8]!r}...: expected id:base64")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f"data key {key_id!r}: not base64") from None
        keys.append((key_id.strip(), key))
    return KeyRing(keys)


def new_key_entry(key_id: str) -> str:
    """A fresh ``id:base64`` entry for FAMSIM_DATA_KEYS (32 random bytes)."""
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


def load_or_create(path: Path) -> KeyRing:
    """The development key ring kept in *path*, created (mode 0600) if missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(new_key_entry("k1") + "\n")
    return parse_keys(path.read_text(encoding="utf-8").replace("\n", ","))
