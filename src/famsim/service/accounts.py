"""Signing family users in and out, their second factor, and the operator's API keys.

Sign-in is where guessing happens, so every path is built to tell an attacker nothing and
to slow it down: an unknown login and a wrong password give the same answer after the
same argon2 work; failures lock the account after ``LoginPolicy.max_failures``; one
address failing too often in a minute is refused before anything is checked; and every
attempt, good or bad, goes to the audit log with its address and user agent.

Tokens (sessions, API keys) are random and handed out once; only their SHA-256 is kept.
Two pieces of state live in this object, not in the database, and are therefore per
process: the per-address failure counts and a TOTP setup waiting for its first code (and
the last code step used per account, so a code cannot be replayed).
"""

from __future__ import annotations

import hmac
import math
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pyotp

from famsim.domain.access import Principal, PrincipalKind, Scope
from famsim.domain.accounts import (
    Account,
    ApiKey,
    LoginPolicy,
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
from famsim.domain.audit import MAX_SUBJECT, AuditEvent
from famsim.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyAttempts,
    Unauthenticated,
)
from famsim.domain.ids import new_id
from famsim.service.ports import PasswordHasher, Sealer, UnitOfWork

WRONG_CREDENTIALS = "wrong login or password"
CODE_REQUIRED = "a one-time code from the authenticator app is required"
WRONG_CODE = "the one-time code is wrong, expired or already used"
TOTP_SETUP_VALIDITY = timedelta(minutes=10)
IP_WINDOW = timedelta(minutes=1)
MAX_TRACKED_ADDRESSES = 10_000  # bounds the memory an attacker can make us spend
MAX_USER_AGENT = 200
MAX_TOKEN = 512  # longer than any token or key we issue: refused without a lookup
ISSUER = "famsim"
DEFAULT_POLICY = LoginPolicy()


class SecondFactorRequired(Unauthenticated):
    """The password was right, but the account has TOTP on and no code came with it."""

    def __init__(self) -> None:
        super().__init__(CODE_REQUIRED)


@dataclass(frozen=True, slots=True)
class IssuedSession:
    """A new session: the token (shown once, never stored) and who it signs in."""

    token: str
    kind: SessionKind
    expires_at: datetime
    principal: Principal


@dataclass(frozen=True, slots=True)
class TotpSetup:
    """What the authenticator app needs: the base32 secret and the otpauth:// URI."""

    secret: str
    uri: str


class _AddressFailures:
    """Failed sign-ins per client address in the last minute (a sliding window)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._failures: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def wait_s(self, ip: str, now: datetime) -> int:
        """Seconds to wait before this address may try again (0: it may try now)."""
        with self._lock:
            seen = self._failures.get(ip)
            if seen is None:
                return 0
            self._prune(seen, now)
            if len(seen) < self._limit:
                return 0
            return max(1, math.ceil((seen[0] + IP_WINDOW - now).total_seconds()))

    def add(self, ip: str, now: datetime) -> None:
        with self._lock:
            if ip not in self._failures and len(self._failures) >= MAX_TRACKED_ADDRESSES:
                for other in list(self._failures):
                    self._prune(self._failures[other], now)
                    if not self._failures[other]:
                        del self._failures[other]
                while len(self._failures) >= MAX_TRACKED_ADDRESSES:
                    del self._failures[next(iter(self._failures))]  # the longest tracked
            self._failures.setdefault(ip, deque()).append(now)

    @staticmethod
    def _prune(seen: deque[datetime], now: datetime) -> None:
        while seen and seen[0] <= now - IP_WINDOW:
            seen.popleft()


class AccountService:
    """Accounts, sign-in, sessions, TOTP and API keys (one instance per process)."""

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        passwords: PasswordHasher,
        sealer: Sealer,
        now: Callable[[], datetime],
        *,
        policy: LoginPolicy = DEFAULT_POLICY,
    ) -> None:
        self._uow = uow
        self._passwords = passwords
        self._sealer = sealer
        self._now = now
        self.policy = policy
        self._addresses = _AddressFailures(policy.ip_failures_per_minute)
        self._dummy: str | None = None
        self._pending_totp: dict[str, tuple[str, datetime]] = {}
        self._last_step: dict[str, int] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ accounts
    def create_account(
        self,
        family_id: str,
        member_id: str,
        login: str,
        password: str,
        *,
        actor: str = "operator",
    ) -> Account:
        """An account for an active member of the family, signing in with *password*.

        *member_id* may also be the member's name (as people type it on the command line).
        """
        normalized = normalize_login(login)
        check_password_strength(password, normalized)
        now = self._now()
        password_hash = self._passwords.hash(password)  # before the transaction: it is slow
        with self._uow() as uow:
            family = uow.families.get(family_id)
            member = family.active_member(member_id)
            if uow.accounts.by_login(normalized) is not None:
                raise Conflict(f"the login {normalized!r} is already taken")
            if uow.accounts.by_member(member.id) is not None:
                raise Conflict(f"member {member.name!r} already has an account")
            account = Account(
                id=new_id(),
                login=normalized,
                family_id=family.id,
                member_id=member.id,
                password_hash=password_hash,
                totp=None,
                failed_logins=0,
                locked_until=None,
                created_at=now,
            )
            uow.accounts.add(account)
            uow.audit.record(
                AuditEvent(
                    now, family.id, actor, "account.created", account.id, {"login": normalized}
                )
            )
            uow.commit()
        return account

    def account_by_login(self, login: str) -> Account:
        """The account with this login (any spelling of it); NotFound otherwise."""
        normalized = normalize_login(login)
        with self._uow() as uow:
            account = uow.accounts.by_login(normalized)
        if account is None:
            raise NotFound(f"no account with the login {normalized!r}")
        return account

    # ------------------------------------------------------------------- sign-in
    def login(
        self,
        login: str,
        password: str,
        *,
        kind: SessionKind,
        totp: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> IssuedSession:
        """Sign in with a password (and a TOTP code when the account has one).

        Raises Unauthenticated (the same message for an unknown login and a wrong
        password), SecondFactorRequired, or TooManyAttempts (locked account, or too many
        failures from *ip*). Every attempt is audited as ``login``.
        """
        kind = SessionKind(kind)
        now = self._now()
        attempt = _Attempt(ip, (user_agent or "")[:MAX_USER_AGENT] or None, kind)
        try:
            normalized: str | None = normalize_login(login)
        except InvalidInput:
            normalized = None
        shown = (normalized or login.strip() or "(empty)")[:MAX_SUBJECT]
        if ip is not None and (wait := self._addresses.wait_s(ip, now)):
            self._record_unknown(shown, attempt, "rate_limited", now)
            raise TooManyAttempts(
                f"too many failed sign-ins from this address; try again in {wait} s", wait
            )
        with self._uow() as uow:
            account = uow.accounts.by_login(normalized, for_update=True) if normalized else None
            if account is None:
                self._passwords.verify(self._dummy_hash(), password)  # same work as a real one
                uow.audit.record(attempt.event(now, None, "unknown", shown, "unknown_login"))
                uow.commit()
                self._failed_from(ip, now)
                raise Unauthenticated(WRONG_CREDENTIALS)
            account = account.lock_expired(now)
            if account.is_locked(now):
                uow.audit.record(attempt.on(account, now, "locked"))
                uow.commit()
                raise self._locked(account, now)
            stored = account.password_hash
            if stored is None:
                self._passwords.verify(self._dummy_hash(), password)
            if stored is None or not self._passwords.verify(stored, password):
                self._fail(uow, account, attempt, "wrong_password", now)
                raise Unauthenticated(WRONG_CREDENTIALS)
            if not uow.families.get(account.family_id).member(account.member_id).is_active:
                uow.audit.record(attempt.on(account, now, "member_removed"))
                uow.commit()
                raise Unauthenticated("this member has left the family; the account is closed")
            if account.totp is not None:
                if not totp:
                    uow.accounts.save(account)
                    uow.audit.record(attempt.on(account, now, "code_required"))
                    uow.commit()
                    raise SecondFactorRequired()
                if not self._code_ok(account, totp, now):
                    self._fail(uow, account, attempt, "wrong_code", now)
                    raise Unauthenticated(WRONG_CODE)
            account = self._refreshed(account.succeeded(), password)
            token = new_token()
            expires_at = now + self.policy.ttl(kind)
            uow.sessions.add(token_hash(token), account.id, kind, now, expires_at)
            uow.accounts.save(account)
            uow.audit.record(attempt.on(account, now, "ok"))
            uow.commit()
        principal = Principal(
            PrincipalKind.MEMBER,
            account.id,
            account.family_id,
            account.member_id,
            second_factor=account.totp is not None,
        )
        return IssuedSession(token, kind, expires_at, principal)

    def _fail(
        self, uow: UnitOfWork, account: Account, attempt: _Attempt, result: str, now: datetime
    ) -> None:
        """Count a failure on the account (and the address); raise if it now locks."""
        account = account.failed(now, self.policy)
        uow.accounts.save(account)
        locked = account.is_locked(now)
        uow.audit.record(attempt.on(account, now, result, locked_now=locked))
        uow.commit()
        self._failed_from(attempt.ip, now)
        if locked:
            raise self._locked(account, now)

    def _locked(self, account: Account, now: datetime) -> TooManyAttempts:
        wait = account.retry_after_s(now)
        minutes = math.ceil(wait / 60)
        return TooManyAttempts(
            f"too many failed sign-ins: this account is locked for {minutes} more minute"
            f"{'s' if minutes != 1 else ''}",
            wait,
        )

    def _failed_from(self, ip: str | None, now: datetime) -> None:
        if ip is not None:
            self._addresses.add(ip, now)

    def _record_unknown(self, shown: str, attempt: _Attempt, result: str, now: datetime) -> None:
        with self._uow() as uow:
            uow.audit.record(attempt.event(now, None, "unknown", shown, result))
            uow.commit()

    def _dummy_hash(self) -> str:
        """A hash of nothing anyone knows, verified when there is no real one to verify."""
        if self._dummy is None:
            self._dummy = self._passwords.hash(secrets.token_urlsafe(16))
        return self._dummy

    def _refreshed(self, account: Account, password: str) -> Account:
        """On a good sign-in: rehash with today's parameters, re-seal under today's key."""
        if account.password_hash and self._passwords.needs_rehash(account.password_hash):
            account = replace(account, password_hash=self._passwords.hash(password))
        if account.totp is not None and self._sealer.needs_reseal(account.totp):
            context = totp_context(account.id)
            secret = self._sealer.open(account.totp, context)
            account = replace(account, totp=self._sealer.seal(secret, context))
        return account

    # ------------------------------------------------------------------ sessions
    def authenticate(self, token: str) -> Principal:
        """Who a session token (cookie or bearer) signs in; Unauthenticated otherwise."""
        if not token or len(token) > MAX_TOKEN:
            raise Unauthenticated("not signed in")
        now = self._now()
        with self._uow() as uow:
            session = uow.sessions.get(token_hash(token))
            if session is None or not session.is_valid(now):
                raise Unauthenticated("the session has ended or expired; sign in again")
            account = uow.accounts.get(session.account_id)
        if account is None:
            raise Unauthenticated("the session's account no longer exists; sign in again")
        return Principal(
            PrincipalKind.MEMBER,
            account.id,
            account.family_id,
            account.member_id,
            second_factor=account.totp is not None,
        )

    def authenticate_key(self, key: str) -> Principal:
        """The staff principal of an operator API key; Unauthenticated otherwise."""
        if not key or len(key) > MAX_TOKEN or not looks_like_api_key(key):
            raise Unauthenticated("not a famsim API key (fsk_...)")
        with self._uow() as uow:
            found = uow.api_keys.by_hash(token_hash(key))
        if found is None or not found.is_active:
            raise Unauthenticated("unknown or revoked API key")
        return Principal.staff(found.id, found.scopes)

    def logout(self, token: str) -> None:
        """End the session of *token* (an unknown or ended one: nothing to do)."""
        if not token or len(token) > MAX_TOKEN:
            return
        now = self._now()
        with self._uow() as uow:
            session = uow.sessions.get(token_hash(token))
            if session is None or session.revoked_at is not None:
                return
            uow.sessions.revoke(session.token_sha256, now)
            account = uow.accounts.get(session.account_id)
            if account is not None:
                uow.audit.record(
                    AuditEvent(
                        now,
                        account.family_id,
                        account.id,
                        "logout",
                        account.id,
                        {"kind": session.kind.value},
                    )
                )
            uow.commit()

    def change_password(
        self, principal: Principal, old: str, new: str, *, keep_token: str | None = None
    ) -> None:
        """Change the caller's password; every other session ends (all but *keep_token*).

        A wrong current password counts as a failed sign-in, so a stolen session cannot
        be used to guess it.
        """
        now = self._now()
        with self._uow() as uow:
            account = self._own(uow, principal, for_update=True).lock_expired(now)
            if account.is_locked(now):
                raise self._locked(account, now)
            attempt = _Attempt(None, None, None)
            if account.password_hash is None or not self._passwords.verify(
                account.password_hash, old
            ):
                self._fail(uow, account, attempt, "wrong_current_password", now)
                raise Unauthenticated("the current password is wrong")
            if new == old:
                raise InvalidInput("the new password must differ from the current one")
            check_password_strength(new, account.login)
            account = replace(account.succeeded(), password_hash=self._passwords.hash(new))
            uow.accounts.save(account)
            keep = token_hash(keep_token) if keep_token else None
            ended = uow.sessions.revoke_all(account.id, now, keep=keep)
            uow.audit.record(
                AuditEvent(
                    now,
                    account.family_id,
                    account.id,
                    "account.password_changed",
                    account.id,
                    {"sessions_ended": ended},
                )
            )
            uow.commit()

    # ---------------------------------------------------------------------- TOTP
    def start_totp(self, principal: Principal) -> TotpSetup:
        """A new TOTP secret for the caller's authenticator app, active once confirmed.

        The secret waits here (for ten minutes) until :meth:`confirm_totp` receives a
        code from it, so a setup abandoned half-way never locks anyone out.
        """
        now = self._now()
        with self._uow() as uow:
            account = self._own(uow, principal)
        if account.totp is not None:
            raise Conflict("two-step sign-in is already on; turn it off first to change it")
        secret = pyotp.random_base32()
        with self._lock:
            self._pending_totp[account.id] = (secret, now + TOTP_SETUP_VALIDITY)
        uri = pyotp.TOTP(secret).provisioning_uri(name=account.login, issuer_name=ISSUER)
        return TotpSetup(secret, uri)

    def confirm_totp(self, principal: Principal, code: str) -> None:
        """Turn TOTP on with the first code from the app; the secret is sealed at rest."""
        now = self._now()
        with self._lock:
            pending = self._pending_totp.get(principal.id)
        if pending is None or now >= pending[1]:
            raise NotFound("no two-step sign-in setup is waiting (or it expired); start again")
        secret = pending[0]
        with self._uow() as uow:
            account = self._own(uow, principal, for_update=True)
            if account.totp is not None:
                raise Conflict("two-step sign-in is already on")
            if not self._step_ok(account.id, secret, code, now):
                raise InvalidInput(f"{WRONG_CODE}: enter the code the app shows now")
            sealed = self._sealer.seal(secret.encode("ascii"), totp_context(account.id))
            uow.accounts.save(replace(account, totp=sealed))
            uow.audit.record(
                AuditEvent(now, account.family_id, account.id, "account.totp_on", account.id, {})
            )
            uow.commit()
        with self._lock:
            self._pending_totp.pop(principal.id, None)

    def disable_totp(self, principal: Principal, code: str) -> None:
        """Turn TOTP off; it takes a current code, so a stolen session alone cannot."""
        now = self._now()
        with self._uow() as uow:
            account = self._own(uow, principal, for_update=True).lock_expired(now)
            if account.totp is None:
                raise Conflict("two-step sign-in is not on")
            if account.is_locked(now):
                raise self._locked(account, now)
            if not self._code_ok(account, code, now):
                self._fail(uow, account, _Attempt(None, None, None), "wrong_code", now)
                raise Unauthenticated(WRONG_CODE)
            uow.accounts.save(replace(account, totp=None))
            uow.audit.record(
                AuditEvent(now, account.family_id, account.id, "account.totp_off", account.id, {})
            )
            uow.commit()

    def _code_ok(self, account: Account, code: str, now: datetime) -> bool:
        assert account.totp is not None
        secret = self._sealer.open(account.totp, totp_context(account.id)).decode("ascii")
        return self._step_ok(account.id, secret, code, now)

    def _step_ok(self, account_id: str, secret: str, code: str, now: datetime) -> bool:
        """The code of this 30 s step or its neighbours (clock drift), each used once."""
        code = "".join(code.split())
        if len(code) != 6 or not code.isdigit():
            return False
        otp = pyotp.TOTP(secret)
        current = otp.timecode(now)
        with self._lock:
            last = self._last_step.get(account_id, -1)
            for step in (current - 1, current, current + 1):
                if step > last and hmac.compare_digest(otp.generate_otp(step), code):
                    self._last_step[account_id] = step
                    return True
        return False

    # ------------------------------------------------------------------- API keys
    def create_api_key(
        self, name: str, scopes: Iterable[Scope | str], *, actor: str = "operator"
    ) -> tuple[str, ApiKey]:
        """A new operator key: the key text (shown this once, never stored) and its record."""
        cleaned = clean_key_name(name)
        granted = parse_scopes(scopes)
        prefix, text = new_api_key()
        key = ApiKey(new_id(), prefix, cleaned, granted, self._now())
        with self._uow() as uow:
            uow.api_keys.add(key, token_hash(text))
            uow.audit.record(
                AuditEvent(
                    key.created_at,
                    None,
                    actor,
                    "apikey.created",
                    key.id,
                    {"name": cleaned, "prefix": prefix, "scopes": _scope_list(granted)},
                )
            )
            uow.commit()
        return text, key

    def revoke_api_key(self, key_id: str, *, actor: str = "operator") -> ApiKey:
        """Revoke a key by id (or by its unique visible prefix); revoking twice is harmless."""
        now = self._now()
        with self._uow() as uow:
            key = uow.api_keys.get(key_id)
            if key is None:
                matches = [k for k in uow.api_keys.listing() if k.prefix == key_id]
                if len(matches) != 1:
                    raise NotFound(f"no API key {key_id!r}")
                key = matches[0]
            if key.revoked_at is not None:
                return key
            uow.api_keys.revoke(key.id, now)
            uow.audit.record(
                AuditEvent(now, None, actor, "apikey.revoked", key.id, {"prefix": key.prefix})
            )
            uow.commit()
        return replace(key, revoked_at=now)

    def api_keys(self) -> list[ApiKey]:
        """Every key, revoked ones too, oldest first."""
        with self._uow() as uow:
            return uow.api_keys.listing()

    # -------------------------------------------------------------------- history
    def login_history(
        self, principal: Principal, limit: int = 100, *, account_id: str | None = None
    ) -> list[AuditEvent]:
        """Sign-in attempts on an account, oldest first.

        A member sees its own account's only; staff with ``audit:read`` name the account.
        """
        if principal.is_staff:
            if not principal.has(Scope.AUDIT_READ):
                raise Forbidden("reading sign-in history takes the audit:read scope")
            if account_id is None:
                raise InvalidInput("name the account whose sign-in history to read")
            wanted = account_id
        else:
            if account_id is not None and account_id != principal.id:
                raise Forbidden("a member sees only its own sign-in history")
            wanted = principal.id
        with self._uow() as uow:
            return uow.accounts.login_events(wanted, limit)

    # ------------------------------------------------------------------- helpers
    def _own(self, uow: UnitOfWork, principal: Principal, *, for_update: bool = False) -> Account:
        if principal.is_staff:
            raise Forbidden("only a family member's own session may change its account")
        account = uow.accounts.get(principal.id, for_update=for_update)
        if account is None:
            raise Unauthenticated("the account no longer exists; sign in again")
        return account


@dataclass(frozen=True, slots=True)
class _Attempt:
    """The facts of one sign-in attempt the audit log keeps."""

    ip: str | None
    user_agent: str | None
    kind: SessionKind | None

    def event(
        self,
        at: datetime,
        family_id: str | None,
        actor: str,
        subject: str,
        result: str,
        *,
        locked_now: bool = False,
    ) -> AuditEvent:
        detail: dict[str, str | int | bool | None] = {
            "result": result,
            "ip": self.ip,
            "user_agent": self.user_agent,
        }
        if self.kind is not None:
            detail["kind"] = self.kind.value
        if locked_now:
            detail["locked"] = True
        return AuditEvent(at, family_id, actor, "login", subject, detail)

    def on(
        self, account: Account, at: datetime, result: str, *, locked_now: bool = False
    ) -> AuditEvent:
        return self.event(
            at, account.family_id, account.id, account.id, result, locked_now=locked_now
        )


def totp_context(account_id: str) -> str:
    """Where a TOTP secret is sealed (its AAD): the secret opens for this account only."""
    return f"totp:{account_id}"


def _scope_list(scopes: frozenset[Scope]) -> str:
    return ",".join(sorted(s.value for s in scopes))
