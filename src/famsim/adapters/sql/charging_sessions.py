"""Open charging sessions in SQL (``charging_sessions``): a row from the answered INITIAL
to the answered TERMINATION.

Part of the ledger repository's unit of work: changes are kept until its flush, then
written with one statement a kind (sessions opened, sessions closed) for the whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from famsim.adapters.sql import schema as t
from famsim.adapters.sql.bulk import BulkStatement, compile_bulk

_OPEN_AMONG = select(t.charging_sessions.c.session_id).where(
    t.charging_sessions.c.session_id.in_(bindparam("ids", expanding=True))
)
_STATEMENTS: dict[tuple[str, str], BulkStatement] = {}


def _statement(dialect: Dialect, which: str) -> BulkStatement:
    key = (dialect.name, which)
    if key not in _STATEMENTS:
        if which == "open":
            # A session opened again (an INITIAL with a new number) keeps its first row.
            insert = (postgresql if dialect.name == "postgresql" else sqlite).insert
            statement: Any = insert(t.charging_sessions).on_conflict_do_nothing(
                index_elements=["session_id"]
            )
            columns: list[str] | None = [c.name for c in t.charging_sessions.columns]
        else:
            statement = delete(t.charging_sessions).where(
                t.charging_sessions.c.session_id == bindparam("k_session_id")
            )
            columns = None
        _STATEMENTS[key] = compile_bulk(statement, dialect, columns)
    return _STATEMENTS[key]


class SqlOpenSessions:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        # session id -> (family id, opened at) when opened, None when closed, in this unit
        self._changes: dict[str, tuple[str, datetime] | None] = {}

    def among(self, session_ids: Sequence[str]) -> set[str]:
        found = {s for s in session_ids if self._changes.get(s) is not None}
        unknown = sorted({s for s in session_ids if s not in self._changes})
        if unknown:
            rows = self._connection.execute(_OPEN_AMONG, {"ids": unknown}).scalars()
            found.update(rows)
        return found

    def open(self, session_id: str, family_id: str, at: datetime) -> None:
        self._changes[session_id] = (family_id, at)

    def close(self, session_id: str) -> None:
        self._changes[session_id] = None

    def flush(self) -> None:
        if not self._changes:
            return
        opened = [
            {"session_id": s, "family_id": change[0], "opened_at": change[1]}
            for s, change in self._changes.items()
            if change is not None
        ]
        closed = [{"k_session_id": s} for s, change in self._changes.items() if change is None]
        dialect = self._connection.dialect
        _statement(dialect, "close").execute(self._connection, closed)
        _statement(dialect, "open").execute(self._connection, opened)
        self._changes = {}
