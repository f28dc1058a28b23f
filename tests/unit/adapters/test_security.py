"""Sealing at rest (AES-GCM key ring) and password hashes (argon2)."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from famsim.adapters.security.keyring import (
    SealBroken,
    load_or_create,
    new_key_entry,
    parse_keys,
)
from famsim.adapters.security.passwords import Argon2Passwords
from famsim.domain.errors import InvalidInput
from famsim.service.ports import Sealed

pytestmark = pytest.mark.unit
ZERO_KEY = base64.b64encode(bytes(32)).decode()  # fixed: test ids must match across workers


def test_seal_and_open_bound_to_their_context() -> None:
    ring = parse_keys(new_key_entry("k1"))
    sealed = ring.seal(b"Chan Tai Man|A1234563", "kyc:m1")
    assert b"Chan" not in sealed.ciphertext
    assert ring.open(sealed, "kyc:m1") == b"Chan Tai Man|A1234563"
    with pytest.raises(SealBroken):
        ring.open(sealed, "kyc:m2")  # copied to another row
    altered = Sealed(
        sealed.key_id, sealed.nonce, bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    )
    with pytest.raises(SealBroken):
        ring.open(altered, "kyc:m1")
    assert ring.seal(b"x", "c").nonce != ring.seal(b"x", "c").nonce


def test_rotation_old_keys_open_new_key_seals() -> None:
    first, second = new_key_entry("k1"), new_key_entry("k2")
    sealed = parse_keys(first).seal(b"secret", "ctx")
    both = parse_keys(f"{second},{first}")
    assert both.current_key_id == "k2"
    assert both.open(sealed, "ctx") == b"secret"
    assert both.needs_reseal(sealed)
    resealed = both.seal(both.open(sealed, "ctx"), "ctx")
    assert resealed.key_id == "k2"
    assert not both.needs_reseal(resealed)
    with pytest.raises(SealBroken, match="no key 'k2'"):
        parse_keys(first).open(resealed, "ctx")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("k1", "id:base64"),
        ("k1:not base64!", "not base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "32 bytes"),
        ("k1:" + ZERO_KEY + ",k1:" + ZERO_KEY, "twice"),
        ("", "at least one key"),
    ],
)
def test_bad_key_settings_say_what_is_wrong(text: str, needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle):
        parse_keys(text)


def test_the_development_key_file_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    first = load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    sealed = first.seal(b"x", "c")
    assert load_or_create(path).open(sealed, "c") == b"x"


def test_passwords() -> None:
    passwords = Argon2Passwords()
    stored = passwords.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert passwords.verify(stored, "correct horse battery staple")
    assert not passwords.verify(stored, "wrong")
    assert not passwords.verify("not a hash", "wrong")
    assert not passwords.needs_rehash(stored)
