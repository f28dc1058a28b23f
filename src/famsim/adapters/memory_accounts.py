"""Accounts, sessions and API keys in memory, for service tests (see adapters.memory).

Like the other in-memory registries, each repository keeps its changes pending until the
unit of work commits (``MemoryUnitOfWork`` copies them into the store) and forgets them
on rollback. Uniqueness of logins and members is checked when an account is added and
again at commit, under the store's lock, as a unique index would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from threading import RLock

from famsim.domain.accounts import Account, ApiKey, LoginSession, SessionKind
from famsim.domain.audit import AuditEvent, latest
from famsim.domain.errors import Conflict


@dataclass
class AccountTables:
    """The rows a database would hold for accounts, sessions and API keys."""

    accounts: dict[str, Account] = field(default_factory=dict)
    sessions: dict[str, LoginSession] = field(default_factory=dict)
    api_keys: dict[str, tuple[ApiKey, str]] = field(default_factory=dict)  # id -> (key, hash)


class MemoryAccountRepository:
    def __init__(
        self, tables: AccountTables, lock: RLock, audit: Callable[[], list[AuditEvent]]
    ) -> None:
        self._tables = tables
        self._lock = lock
        self._audit = audit
        self.pending: dict[str, Account] = {}

    def _merged(self) -> dict[str, Account]:
        return self._tables.accounts | self.pending

    def add(self, account: Account) -> None:
        with self._lock:
            self.check_unique(account, self._merged())
            self.pending[account.id] = account

    @staticmethod
    def check_unique(account: Account, others: dict[str, Account]) -> None:
        for other in others.values():
            if other.id == account.id:
                continue
            if other.login == account.login:
                raise Conflict(f"the login {account.login!r} is already taken")
            if other.member_id == account.member_id:
                raise Conflict("this member already has an account")

    def get(self, account_id: str, *, for_update: bool = False) -> Account | None:
        with self._lock:
            return self._merged().get(account_id)

    def by_login(self, login: str, *, for_update: bool = False) -> Account | None:
        return self._find(lambda a: a.login == login)

    def by_member(self, member_id: str) -> Account | None:
        return self._find(lambda a: a.member_id == member_id)

    def _find(self, test: Callable[[Account], bool]) -> Account | None:
        with self._lock:
            return next((a for a in self._merged().values() if test(a)), None)

    def save(self, account: Account) -> None:
        with self._lock:
            if account.id in self._merged():
                self.pending[account.id] = account

    def with_totp(self) -> list[Account]:
        with self._lock:
            return [a for a in self._merged().values() if a.totp is not None]

    def login_events(self, account_id: str, limit: int = 100) -> list[AuditEvent]:
        with self._lock:
            events = [e for e in self._audit() if e.action == "login" and e.subject == account_id]
        return latest(events, limit)


class MemorySessionRepository:
    def __init__(self, tables: AccountTables, lock: RLock) -> None:
        self._tables = tables
        self._lock = lock
        self.pending: dict[str, LoginSession] = {}

    def add(
        self,
        token_sha256: str,
        account_id: str,
        kind: SessionKind,
        created_at: datetime,
        expires_at: datetime,
    ) -> None:
        with self._lock:
            if token_sha256 in self._tables.sessions or token_sha256 in self.pending:
                raise Conflict("this session exists already")
            self.pending[token_sha256] = LoginSession(
                token_sha256, account_id, kind, created_at, expires_at
            )

    def get(self, token_sha256: str) -> LoginSession | None:
        with self._lock:
            return self.pending.get(token_sha256) or self._tables.sessions.get(token_sha256)

    def revoke(self, token_sha256: str, at: datetime) -> None:
        session = self.get(token_sha256)
        if session is not None and session.revoked_at is None:
            self.pending[token_sha256] = dataclasses.replace(session, revoked_at=at)

    def revoke_all(self, account_id: str, at: datetime, *, keep: str | None = None) -> int:
        with self._lock:
            live = [
                s
                for s in (self._tables.sessions | self.pending).values()
                if s.account_id == account_id
                and s.revoked_at is None
                and s.expires_at > at
                and s.token_sha256 != keep
            ]
            for session in live:
                self.pending[session.token_sha256] = dataclasses.replace(session, revoked_at=at)
        return len(live)


class MemoryApiKeyRepository:
    def __init__(self, tables: AccountTables, lock: RLock) -> None:
        self._tables = tables
        self._lock = lock
        self.pending: dict[str, tuple[ApiKey, str]] = {}

    def _merged(self) -> dict[str, tuple[ApiKey, str]]:
        return self._tables.api_keys | self.pending

    def add(self, key: ApiKey, key_sha256: str) -> None:
        with self._lock:
            if any(k.id == key.id or h == key_sha256 for k, h in self._merged().values()):
                raise Conflict("this API key exists already")
            self.pending[key.id] = (key, key_sha256)

    def by_hash(self, key_sha256: str) -> ApiKey | None:
        with self._lock:
            return next((k for k, h in self._merged().values() if h == key_sha256), None)

    def get(self, key_id: str) -> ApiKey | None:
        with self._lock:
            found = self._merged().get(key_id)
        return found[0] if found else None

    def listing(self) -> list[ApiKey]:
        with self._lock:
            keys = [k for k, _ in self._merged().values()]
        return sorted(keys, key=lambda k: (k.created_at, k.id))

    def revoke(self, key_id: str, at: datetime) -> None:
        with self._lock:
            found = self._merged().get(key_id)
            if found is not None and found[0].revoked_at is None:
                self.pending[key_id] = (dataclasses.replace(found[0], revoked_at=at), found[1])


class MemoryAccountRegistries:
    """The three repositories of one unit of work, committed or dropped together."""

    def __init__(
        self, tables: AccountTables, lock: RLock, audit: Callable[[], list[AuditEvent]]
    ) -> None:
        self._tables = tables
        self.accounts = MemoryAccountRepository(tables, lock, audit)
        self.sessions = MemorySessionRepository(tables, lock)
        self.api_keys = MemoryApiKeyRepository(tables, lock)

    def check(self) -> None:
        """Before anything is written (store lock held): logins and members still unique."""
        merged = self._tables.accounts | self.accounts.pending
        for account in self.accounts.pending.values():
            MemoryAccountRepository.check_unique(account, merged)

    def commit(self) -> None:
        """Copy the pending rows into the store (store lock held)."""
        self._tables.accounts.update(self.accounts.pending)
        self._tables.sessions.update(self.sessions.pending)
        self._tables.api_keys.update(self.api_keys.pending)
