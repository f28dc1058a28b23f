"""The SQL unit of work: one connection, one transaction, repositories bound to it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from famsim.adapters.sql.accounts import (
    SqlAccountRepository,
    SqlApiKeyRepository,
    SqlSessionRepository,
)
from famsim.adapters.sql.billing import SqlBilling
from famsim.adapters.sql.engine import READ_ONLY
from famsim.adapters.sql.ledger_repository import SqlLedgerRepository
from famsim.adapters.sql.outbox import SqlOutbox
from famsim.adapters.sql.people import SqlConsents, SqlInvitations, SqlKyc
from famsim.adapters.sql.registries import (
    SqlAuditLog,
    SqlNumberPool,
    SqlReceivedNotifications,
    SqlSimStock,
)
from famsim.adapters.sql.repository import SqlFamilyRepository, SqlPlanRepository
from famsim.adapters.sql.webhooks import SqlWebhooks
from famsim.domain.errors import Conflict, FamsimError
from famsim.service.ports import IdentifierTaken, StorageUnavailable


class SqlUnitOfWork:
    """Opens a connection and a transaction on enter.

    A *read_only* one never commits; on SQLite its transaction is a deferred snapshot, so
    reading (a batch job's expensive part) goes on while another process writes.

    Leaving without :meth:`commit` rolls everything back, so a failed command (or a crash)
    writes nothing at all. After a commit or rollback, the next statement starts a new
    transaction.
    """

    families: SqlFamilyRepository
    plans: SqlPlanRepository
    ledgers: SqlLedgerRepository
    sims: SqlSimStock
    numbers: SqlNumberPool
    audit: SqlAuditLog
    es2_received: SqlReceivedNotifications
    accounts: SqlAccountRepository
    sessions: SqlSessionRepository
    api_keys: SqlApiKeyRepository
    outbox: SqlOutbox
    webhooks: SqlWebhooks
    invitations: SqlInvitations
    kyc: SqlKyc
    consents: SqlConsents

    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        self._engine = engine
        self._read_only = read_only
        self._connection: Connection | None = None

    def __enter__(self) -> Self:
        try:
            self._connection = self._engine.connect()
            if self._read_only:
                self._connection.execution_options(**{READ_ONLY: True})
        except OperationalError as exc:
            url = self._engine.url.render_as_string(hide_password=True)
            raise StorageUnavailable(f"cannot open the database {url}: {exc.orig}") from None
        try:
            # Begin now, not at the first statement: on SQLite this is BEGIN IMMEDIATE,
            # where waiting for another writer happens, and a timeout belongs here.
            self._connection.begin()
        except OperationalError as exc:
            self._connection.close()
            self._connection = None
            raise _busy(exc) from None
        self._fresh_repositories()
        return self

    def _fresh_repositories(self) -> None:
        assert self._connection is not None
        self.families = SqlFamilyRepository(self._connection)
        self.plans = SqlPlanRepository(self._connection)
        self.ledgers = SqlLedgerRepository(self._connection)
        self.sims = SqlSimStock(self._connection)
        self.numbers = SqlNumberPool(self._connection)
        self.audit = SqlAuditLog(self._connection)
        self.es2_received = SqlReceivedNotifications(self._connection)
        self.accounts = SqlAccountRepository(self._connection)
        self.sessions = SqlSessionRepository(self._connection)
        self.api_keys = SqlApiKeyRepository(self._connection)
        self.outbox = SqlOutbox(self._connection)
        self.webhooks = SqlWebhooks(self._connection)
        self.invitations = SqlInvitations(self._connection)
        self.kyc = SqlKyc(self._connection)
        self.consents = SqlConsents(self._connection)
        self.billing = SqlBilling(self._connection)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._connection is not None
        try:
            self._connection.rollback()
        finally:
            self._connection.close()
            self._connection = None

    def commit(self) -> None:
        assert self._connection is not None
        if self._read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        try:
            self.families.flush()
            self.ledgers.flush()
            # invitations, identities and consents point at members added just now
            self.invitations.flush()
            self.kyc.flush()
            self.consents.flush()
            self.audit.flush()  # after the families: an event may name one added just now
            self.outbox.flush()  # likewise
            self.billing.flush()  # invoices name families (and an invoice is its cycle's)
            self._connection.commit()
        except IntegrityError as exc:
            self.rollback()
            raise _conflict(exc) from exc
        except OperationalError as exc:
            self.rollback()
            raise _busy(exc) from exc
        except BaseException:
            self.rollback()
            raise

    def rollback(self) -> None:
        """Undo everything since the last commit, including what the repositories track."""
        assert self._connection is not None
        self._connection.rollback()
        self._fresh_repositories()


def _busy(exc: OperationalError) -> FamsimError:
    text = str(exc.orig).lower()
    if "locked" in text or "busy" in text or "could not serialize" in text:
        return Conflict("the database is busy with another change; try again")
    return StorageUnavailable(f"the database failed: {exc.orig}")


def _conflict(exc: IntegrityError) -> Conflict:
    """Name the identifier a unique key refused, without leaking SQL to the caller."""
    text = str(exc.orig).lower()
    for column, what in (("msisdn", "number"), ("iccid", "ICCID"), ("imsi", "IMSI")):
        if column in text:
            return IdentifierTaken(f"this {what} is already in use by another line")
    return Conflict("the change conflicts with data stored meanwhile; try again")
