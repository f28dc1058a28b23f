"""Accounts, sessions and API keys in SQL, on the unit of work's connection.

Writes go straight to the database (the transaction is the buffer). Tokens and keys are
stored as SHA-256 hex only; the TOTP secret as the key ring's ciphertext, its nonce in
front (one length byte, the nonce, the ciphertext) because the schema gives it one column.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, insert, select, update
from sqlalchemy.exc import IntegrityError

from famsim.adapters.sql import schema as t
from famsim.domain.access import Scope
from famsim.domain.accounts import Account, ApiKey, LoginSession, SessionKind
from famsim.domain.audit import AuditEvent, latest
from famsim.domain.errors import Conflict
from famsim.domain.sealed import Sealed

_ACCOUNTS = t.accounts.c
_SESSIONS = t.sessions.c
_KEYS = t.api_keys.c
_AUDIT = t.audit_events.c


def pack_sealed(sealed: Sealed) -> bytes:
    """Nonce and ciphertext in one value: a length byte, the nonce, the ciphertext."""
    return bytes([len(sealed.nonce)]) + sealed.nonce + sealed.ciphertext


def unpack_sealed(key_id: str, packed: bytes) -> Sealed:
    size = packed[0]
    return Sealed(key_id, bytes(packed[1 : 1 + size]), bytes(packed[1 + size :]))


def _account(row: Any) -> Account:
    totp = None
    if row.totp_secret is not None and row.totp_key_id is not None:
        totp = unpack_sealed(row.totp_key_id, row.totp_secret)
    return Account(
        id=row.id,
        login=row.login,
        family_id=row.family_id,
        member_id=row.member_id,
        password_hash=row.password_hash,
        totp=totp,
        failed_logins=row.failed_logins,
        locked_until=row.locked_until,
        created_at=row.created_at,
    )


def _account_row(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "login": account.login,
        "family_id": account.family_id,
        "member_id": account.member_id,
        "password_hash": account.password_hash,
        "totp_key_id": account.totp.key_id if account.totp else None,
        "totp_secret": pack_sealed(account.totp) if account.totp else None,
        "failed_logins": account.failed_logins,
        "locked_until": account.locked_until,
        "created_at": account.created_at,
    }


class SqlAccountRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, account: Account) -> None:
        if self.by_login(account.login) is not None:
            raise Conflict(f"the login {account.login!r} is already taken")
        if self.by_member(account.member_id) is not None:
            raise Conflict("this member already has an account")
        try:
            with self._connection.begin_nested():  # a failed insert leaves the rest intact
                self._connection.execute(insert(t.accounts), _account_row(account))
        except IntegrityError:
            raise Conflict(
                f"the login {account.login!r} or its member was taken meanwhile"
            ) from None

    def get(self, account_id: str, *, for_update: bool = False) -> Account | None:
        return self._one(select(t.accounts).where(_ACCOUNTS.id == account_id), for_update)

    def by_login(self, login: str, *, for_update: bool = False) -> Account | None:
        return self._one(select(t.accounts).where(_ACCOUNTS.login == login), for_update)

    def by_member(self, member_id: str) -> Account | None:
        return self._one(select(t.accounts).where(_ACCOUNTS.member_id == member_id), False)

    def _one(self, query: Select[Any], for_update: bool) -> Account | None:
        if for_update:
            query = query.with_for_update()  # SQLite ignores it: one writer at a time there
        row = self._connection.execute(query).first()
        return _account(row) if row is not None else None

    def save(self, account: Account) -> None:
        row = _account_row(account)
        del row["id"], row["created_at"]
        self._connection.execute(update(t.accounts).where(_ACCOUNTS.id == account.id).values(**row))

    def with_totp(self) -> list[Account]:
        query = select(t.accounts).where(_ACCOUNTS.totp_secret.is_not(None))
        return [_account(row) for row in self._connection.execute(query)]

    def login_events(self, account_id: str, limit: int = 100) -> list[AuditEvent]:
        query = (
            select(t.audit_events)
            .where(_AUDIT.action == "login", _AUDIT.subject == account_id)
            .order_by(_AUDIT.at.desc(), _AUDIT.id.desc())
            .limit(max(limit, 0))
        )
        events = [
            AuditEvent(
                at=row.at,
                family_id=row.family_id,
                actor=row.actor,
                action=row.action,
                subject=row.subject,
                detail=dict(row.detail),
            )
            for row in self._connection.execute(query)
        ]
        return latest(reversed(events), limit)


def _session(row: Any) -> LoginSession:
    return LoginSession(
        token_sha256=row.token_sha256,
        account_id=row.account_id,
        kind=SessionKind(row.kind),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


class SqlSessionRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(
        self,
        token_sha256: str,
        account_id: str,
        kind: SessionKind,
        created_at: datetime,
        expires_at: datetime,
    ) -> None:
        self._connection.execute(
            insert(t.sessions),
            {
                "token_sha256": token_sha256,
                "account_id": account_id,
                "kind": kind.value,
                "created_at": created_at,
                "expires_at": expires_at,
                "revoked_at": None,
            },
        )

    def get(self, token_sha256: str) -> LoginSession | None:
        row = self._connection.execute(
            select(t.sessions).where(_SESSIONS.token_sha256 == token_sha256)
        ).first()
        return _session(row) if row is not None else None

    def revoke(self, token_sha256: str, at: datetime) -> None:
        self._connection.execute(
            update(t.sessions)
            .where(_SESSIONS.token_sha256 == token_sha256, _SESSIONS.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    def revoke_all(self, account_id: str, at: datetime, *, keep: str | None = None) -> int:
        statement = update(t.sessions).where(
            _SESSIONS.account_id == account_id,
            _SESSIONS.revoked_at.is_(None),
            _SESSIONS.expires_at > at,
        )
        if keep is not None:
            statement = statement.where(_SESSIONS.token_sha256 != keep)
        return self._connection.execute(statement.values(revoked_at=at)).rowcount


def _api_key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        prefix=row.prefix,
        name=row.name,
        scopes=frozenset(Scope(s) for s in row.scopes),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


class SqlApiKeyRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, key: ApiKey, key_sha256: str) -> None:
        self._connection.execute(
            insert(t.api_keys),
            {
                "id": key.id,
                "key_sha256": key_sha256,
                "prefix": key.prefix,
                "name": key.name,
                "scopes": sorted(s.value for s in key.scopes),
                "created_at": key.created_at,
                "revoked_at": key.revoked_at,
            },
        )

    def by_hash(self, key_sha256: str) -> ApiKey | None:
        row = self._connection.execute(
            select(t.api_keys).where(_KEYS.key_sha256 == key_sha256)
        ).first()
        return _api_key(row) if row is not None else None

    def get(self, key_id: str) -> ApiKey | None:
        row = self._connection.execute(select(t.api_keys).where(_KEYS.id == key_id)).first()
        return _api_key(row) if row is not None else None

    def listing(self) -> list[ApiKey]:
        rows = self._connection.execute(select(t.api_keys).order_by(_KEYS.created_at, _KEYS.id))
        return [_api_key(row) for row in rows]

    def revoke(self, key_id: str, at: datetime) -> None:
        self._connection.execute(
            update(t.api_keys)
            .where(_KEYS.id == key_id, _KEYS.revoked_at.is_(None))
            .values(revoked_at=at)
        )
