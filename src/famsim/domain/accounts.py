"""Family users' accounts, their sign-in rules, sessions and the operator's API keys.

An account lets one member of one family sign in: a login (an e-mail address or a phone
number), an argon2 password hash, optionally a sealed TOTP secret, and the count of
failed sign-ins that locks it for a while. The rules here are pure: the service layer
hashes, seals and stores; this module decides what a login looks like, what a password
must be, when an account is locked and when a session or a key still holds.

Secrets never live here in clear: sessions and API keys are known by the SHA-256 of the
token the caller holds, so a copy of the database signs nobody in.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from famsim.domain.access import Scope
from famsim.domain.errors import InvalidIdentifier, InvalidInput
from famsim.domain.identifiers import Msisdn
from famsim.domain.sealed import Sealed

MAX_LOGIN = 254  # RFC 5321's limit on a forward path; also the column's width
MAX_LOCAL_PART = 64
MIN_PASSWORD = 10
MAX_PASSWORD = 256  # argon2 would take more, but nobody types it and it costs memory
MAX_KEY_NAME = 100
API_KEY_PREFIX = "fsk"


# --------------------------------------------------------------------------- logins
def normalize_login(text: str) -> str:
    """The one stored spelling of a login: a lower-cased e-mail address or E.164 number.

    Two spellings of the same address or number must find the same account, so logins
    are compared only in this form. Raises :class:`InvalidInput` saying what is wrong.
    """
    cleaned = text.strip()
    if not cleaned:
        raise InvalidInput("a login is needed: an e-mail address or a phone number")
    if "@" in cleaned:
        return _email(cleaned)
    if cleaned[0] == "+" or cleaned[0].isdigit():
        try:
            return Msisdn.parse(cleaned).e164
        except InvalidIdentifier as exc:
            raise InvalidInput(
                f"login {cleaned!r} is not a valid phone number: {exc.reason}"
            ) from None
    raise InvalidInput(
        f"login {cleaned!r} is neither an e-mail address nor a phone number"
        " in international form (+852 ...)"
    )


def _email(text: str) -> str:
    """A simple, deliberate check: enough to catch typing mistakes, not RFC 5322."""
    address = text.lower()
    if len(address) > MAX_LOGIN:
        raise InvalidInput(f"an e-mail address has at most {MAX_LOGIN} characters")
    if any(ch.isspace() for ch in address):
        raise InvalidInput(f"e-mail address {text!r} must not contain spaces")
    if address.count("@") != 1:
        raise InvalidInput(f"e-mail address {text!r} must contain exactly one @")
    local, domain = address.split("@")
    if not local:
        raise InvalidInput(f"e-mail address {text!r} has nothing before the @")
    if len(local) > MAX_LOCAL_PART:
        raise InvalidInput(
            f"e-mail address {text!r}: at most {MAX_LOCAL_PART} characters before the @"
        )
    labels = domain.split(".")
    if len(labels) < 2 or not all(labels):
        raise InvalidInput(
            f"e-mail address {text!r} needs a domain with a dot after the @ (e.g. example.com)"
        )
    return address


# ------------------------------------------------------------------------ passwords
def check_password_strength(password: str, login: str | None = None) -> None:
    """Refuse passwords that are easy to guess, saying why (nothing is returned).

    Long passphrases are welcome; what is refused is short, single-class or built from
    the login itself, which is what guessing tools try first.
    """
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"a password has at most {MAX_PASSWORD} characters")
    if len(set(password)) == 1:
        raise InvalidInput("a password must not repeat one character")
    classes = {_char_class(ch) for ch in password}
    if len(classes) < 2:
        raise InvalidInput(
            "a password must mix at least two kinds of characters"
            " (lower-case, upper-case, digits, others)"
        )
    if login:
        name = login.lower().split("@")[0].lstrip("+")
        if len(name) >= 4 and name in password.lower():
            raise InvalidInput("a password must not contain the login")


def _char_class(ch: str) -> str:
    if ch.islower():
        return "lower"
    if ch.isupper():
        return "upper"
    if ch.isdigit():
        return "digit"
    return "other"


# --------------------------------------------------------------------------- policy
@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """How many failures lock an account and for how long; how long sessions last.

    ``ip_failures_per_minute`` bounds guessing across many logins from one address,
    which per-account lockout alone does not stop.
    """

    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    session_ttl: timedelta = timedelta(hours=12)
    token_ttl: timedelta = timedelta(days=30)
    ip_failures_per_minute: int = 20

    def __post_init__(self) -> None:
        """A zero or negative limit would lock everyone out or nobody: refuse it."""
        if self.max_failures < 1:
            raise InvalidInput("the login policy needs max_failures of at least 1")
        if self.ip_failures_per_minute < 1:
            raise InvalidInput("the login policy needs ip_failures_per_minute of at least 1")
        for name in ("lockout", "session_ttl", "token_ttl"):
            if getattr(self, name) <= timedelta(0):
                raise InvalidInput(f"the login policy's {name} must be positive")

    def ttl(self, kind: SessionKind) -> timedelta:
        """Browser cookies last a working day; app tokens a month (the app keeps them)."""
        return self.session_ttl if kind is SessionKind.COOKIE else self.token_ttl


class SessionKind(StrEnum):
    COOKIE = "cookie"
    BEARER = "bearer"


# -------------------------------------------------------------------------- account
@dataclass(frozen=True, slots=True)
class Account:
    """One member's means of signing in. Changes give a new value (``dataclasses.replace``).

    ``password_hash`` is None for an account that cannot sign in with a password yet;
    ``totp`` is the sealed TOTP secret once the member confirmed it (second factor on).
    """

    id: str
    login: str
    family_id: str
    member_id: str
    password_hash: str | None
    totp: Sealed | None
    failed_logins: int
    locked_until: datetime | None
    created_at: datetime

    @property
    def totp_enabled(self) -> bool:
        return self.totp is not None

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def retry_after_s(self, now: datetime) -> int:
        """Whole seconds until the lock ends (at least 1 while locked, 0 when not)."""
        if self.locked_until is None or now >= self.locked_until:
            return 0
        return max(1, math.ceil((self.locked_until - now).total_seconds()))

    def lock_expired(self, now: datetime) -> Account:
        """A lock that has run out is forgotten with the failures that caused it."""
        if self.locked_until is not None and now >= self.locked_until:
            return replace(self, failed_logins=0, locked_until=None)
        return self

    def failed(self, now: datetime, policy: LoginPolicy) -> Account:
        """Count one failed sign-in; the one reaching the limit locks the account."""
        account = self.lock_expired(now)
        count = account.failed_logins + 1
        locked_until = now + policy.lockout if count >= policy.max_failures else None
        return replace(account, failed_logins=count, locked_until=locked_until)

    def succeeded(self) -> Account:
        return replace(self, failed_logins=0, locked_until=None)


# ------------------------------------------------------------------------- sessions
@dataclass(frozen=True, slots=True)
class LoginSession:
    """A signed-in session as stored: the token's hash, never the token."""

    token_sha256: str
    account_id: str
    kind: SessionKind
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def is_valid(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


def new_token() -> str:
    """A bearer secret: 256 random bits, URL-safe (cookies, headers, query strings)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What is stored for a token or a key: its SHA-256, hex.

    A plain hash (not argon2) is right here: the token is 256 random bits, so there is
    nothing to guess, and every request must look it up quickly.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------- API keys
@dataclass(frozen=True, slots=True)
class ApiKey:
    """An operator API key as stored: the visible prefix tells keys apart in listings."""

    id: str
    prefix: str
    name: str
    scopes: frozenset[Scope]
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


def parse_scopes(scopes: Iterable[Scope | str]) -> frozenset[Scope]:
    """Scopes by name; an unknown one is refused by name, with the known ones listed."""
    parsed: set[Scope] = set()
    for scope in scopes:
        try:
            parsed.add(Scope(scope))
        except ValueError:
            known = ", ".join(s.value for s in Scope)
            raise InvalidInput(f"unknown scope {str(scope)!r}; known scopes: {known}") from None
    if not parsed:
        raise InvalidInput("an API key needs at least one scope")
    return frozenset(parsed)


def clean_key_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidInput("an API key needs a name (who or what uses it)")
    if len(cleaned) > MAX_KEY_NAME:
        raise InvalidInput(f"an API key's name has at most {MAX_KEY_NAME} characters")
    return cleaned


def new_api_key() -> tuple[str, str]:
    """(prefix, full key text) for a new key: ``fsk_<prefix>_<secret>``.

    The prefix is shown in listings so an operator can tell which key leaked or which one
    to revoke without anyone keeping the secret part.
    """
    prefix = secrets.token_hex(4)
    return prefix, f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"


def looks_like_api_key(text: str) -> bool:
    return text.startswith(f"{API_KEY_PREFIX}_") and text.count("_") >= 2
