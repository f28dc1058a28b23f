"""The pure rules of accounts: logins, password strength, lockout, sessions, API keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from famsim.domain.access import Scope
from famsim.domain.accounts import (
    Account,
    LoginPolicy,
    LoginSession,
    SessionKind,
    check_password_strength,
    clean_key_name,
    looks_like_api_key,
    new_api_key,
    new_token,
    normalize_login,
    parse_scopes,
    token_hash,
)
from famsim.domain.errors import InvalidInput

NOW = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)


def account(**changes: object) -> Account:
    values: dict[str, object] = {
        "id": "a1",
        "login": "ann@example.com",
        "family_id": "f1",
        "member_id": "m1",
        "password_hash": "$argon2id$...",
        "totp": None,
        "failed_logins": 0,
        "locked_until": None,
        "created_at": NOW,
    }
    values.update(changes)
    return Account(**values)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- logins
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ann@Example.COM", "ann@example.com"),
        ("  ann.chan+tag@mail.example.hk ", "ann.chan+tag@mail.example.hk"),
        ("+852 9123 4567", "+85291234567"),
        ("0085291234567", "+85291234567"),
    ],
)
def test_logins_have_one_spelling(text: str, expected: str) -> None:
    assert normalize_login(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "a login is needed"),
        ("ann", "neither an e-mail address nor a phone number"),
        ("ann@@example.com", "exactly one @"),
        ("a@b@example.com", "exactly one @"),
        ("@example.com", "nothing before the @"),
        ("ann@example", "a domain with a dot"),
        ("ann@example.", "a domain with a dot"),
        ("ann@.example.com", "a domain with a dot"),
        ("ann chan@example.com", "must not contain spaces"),
        ("x" * 65 + "@example.com", "at most 64 characters before the @"),
        ("a@" + "b" * 250 + ".com", "at most 254 characters"),
        ("+852 12", "not a valid phone number"),
        ("91234567", "not a valid phone number"),
    ],
)
def test_bad_logins_are_refused_saying_why(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        normalize_login(text)


# ------------------------------------------------------------------------ passwords
@pytest.mark.parametrize(
    "password", ["correct horse 1", "Tr0ub4dor&3x", "lowercaseandDIGITS", "ünïcödé passphrase"]
)
def test_reasonable_passwords_pass(password: str) -> None:
    check_password_strength(password)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Short1!", "at least 10 characters"),
        ("aaaaaaaaaaaa", "must not repeat one character"),
        ("onlylowercaseletters", "at least two kinds"),
        ("12345678901234", "at least two kinds"),
        ("x" * 200 + "Y" * 57, "at most 256 characters"),
    ],
)
def test_weak_passwords_are_refused_saying_why(password: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        check_password_strength(password)


def test_a_password_may_not_contain_the_login() -> None:
    with pytest.raises(InvalidInput, match="must not contain the login"):
        check_password_strength("Annchan2026!", "annchan@example.com")
    check_password_strength("Annchan2026!", "bob@example.com")


# --------------------------------------------------------------------------- policy
def test_policy_defaults_and_ttls() -> None:
    policy = LoginPolicy()
    assert (policy.max_failures, policy.lockout) == (5, timedelta(minutes=15))
    assert policy.ttl(SessionKind.COOKIE) == timedelta(hours=12)
    assert policy.ttl(SessionKind.BEARER) == timedelta(days=30)
    assert policy.ip_failures_per_minute == 20


@pytest.mark.parametrize(
    "changes",
    [
        {"max_failures": 0},
        {"ip_failures_per_minute": 0},
        {"lockout": timedelta(0)},
        {"session_ttl": timedelta(seconds=-1)},
    ],
)
def test_a_policy_that_locks_everyone_or_nobody_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        LoginPolicy(**changes)  # type: ignore[arg-type]


# -------------------------------------------------------------------------- lockout
def test_the_failure_reaching_the_limit_locks_for_the_lockout() -> None:
    policy = LoginPolicy(max_failures=3, lockout=timedelta(minutes=15))
    a = account()
    for _ in range(2):
        a = a.failed(NOW, policy)
        assert not a.is_locked(NOW)
    a = a.failed(NOW, policy)
    assert a.failed_logins == 3
    assert a.is_locked(NOW)
    assert a.retry_after_s(NOW) == 900
    assert a.retry_after_s(NOW + timedelta(seconds=899, microseconds=1)) == 1
    assert not a.is_locked(NOW + timedelta(minutes=15))
    assert a.retry_after_s(NOW + timedelta(minutes=15)) == 0


def test_an_expired_lock_is_forgotten_with_its_failures() -> None:
    policy = LoginPolicy(max_failures=2)
    a = account().failed(NOW, policy).failed(NOW, policy)
    later = NOW + policy.lockout
    assert a.lock_expired(later).failed_logins == 0
    assert a.lock_expired(later).locked_until is None
    assert a.lock_expired(NOW) == a  # still locked: unchanged
    again = a.failed(later, policy)
    assert (again.failed_logins, again.locked_until) == (1, None)


def test_success_resets_the_count() -> None:
    a = account(failed_logins=4).succeeded()
    assert (a.failed_logins, a.locked_until) == (0, None)


# ------------------------------------------------------------------------- sessions
def test_a_session_holds_until_it_expires_or_is_revoked() -> None:
    session = LoginSession("h", "a1", SessionKind.COOKIE, NOW, NOW + timedelta(hours=1))
    assert session.is_valid(NOW)
    assert not session.is_valid(NOW + timedelta(hours=1))
    revoked = LoginSession("h", "a1", SessionKind.COOKIE, NOW, NOW + timedelta(hours=1), NOW)
    assert not revoked.is_valid(NOW)


def test_tokens_are_random_and_stored_as_sha256_hex() -> None:
    token = new_token()
    assert len(token) >= 43
    assert token != new_token()
    digest = token_hash(token)
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert token not in digest
    assert token_hash(token) == digest


# ------------------------------------------------------------------------- API keys
def test_api_keys_carry_a_visible_prefix() -> None:
    prefix, text = new_api_key()
    assert text.startswith(f"fsk_{prefix}_")
    assert len(prefix) == 8
    assert looks_like_api_key(text)
    assert not looks_like_api_key(new_token())


def test_scopes_by_name_and_unknown_ones_named() -> None:
    assert parse_scopes(["charging", Scope.PLANS_READ]) == {Scope.CHARGING, Scope.PLANS_READ}
    with pytest.raises(InvalidInput, match=r"unknown scope 'billing'.*known scopes: plans:read"):
        parse_scopes(["charging", "billing"])
    with pytest.raises(InvalidInput, match="at least one scope"):
        parse_scopes([])


def test_key_names_are_trimmed_and_bounded() -> None:
    assert clean_key_name("  billing   gateway ") == "billing gateway"
    with pytest.raises(InvalidInput, match="needs a name"):
        clean_key_name("   ")
    with pytest.raises(InvalidInput, match="at most 100"):
        clean_key_name("x" * 101)
