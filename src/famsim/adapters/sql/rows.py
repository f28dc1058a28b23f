"""Writing an aggregate back as a difference of rows, keyed by each table's primary key.

Repositories map a domain object to ``{table name: {primary key: row}}``, keep that mapping
as read, and on flush hand both to :func:`write_changes`, which inserts, updates (and, for
tables whose rows may disappear, deletes) only what changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

Row = dict[str, Any]
Rows = dict[tuple[Any, ...], Row]


def primary_key(table: Table) -> tuple[str, ...]:
    return tuple(column.name for column in table.primary_key.columns)


def keyed(table: Table, rows: Iterable[Row]) -> Rows:
    columns = primary_key(table)
    return {tuple(row[name] for name in columns): row for row in rows}


def write_changes(connection: Connection, table: Table, before: Rows, after: Rows) -> None:
    """Update the rows that changed, then insert the rows of ``after`` that ``before`` lacks.

    Updates go first so a row can give up a unique value that a new row takes in the same
    change (a closed line's number serving a new line); no command updates a row to point
    at a row it inserts in the same table.
    """
    for key, row in after.items():
        if key in before and before[key] != row:
            connection.execute(update(table).where(*_match(table, key)).values(**row))
    added = [row for key, row in after.items() if key not in before]
    if added:
        connection.execute(insert(table), added)


def delete_missing(connection: Connection, table: Table, before: Rows, after: Rows) -> None:
    """Delete the rows of ``before`` that ``after`` no longer has."""
    for key in before.keys() - after.keys():
        connection.execute(delete(table).where(*_match(table, key)))


def _match(table: Table, key: tuple[Any, ...]) -> list[Any]:
    return [table.c[name] == value for name, value in zip(primary_key(table), key, strict=True)]


def upsert(dialect: str, table: Table, columns: Sequence[str]) -> Insert:
    """INSERT ... ON CONFLICT (primary key) DO UPDATE SET *columns* (SQLite and PostgreSQL)."""
    keys = [c.name for c in table.primary_key.columns]
    if dialect == "postgresql":
        pg = postgresql.insert(table)
        return pg.on_conflict_do_update(
            index_elements=keys, set_={name: pg.excluded[name] for name in columns}
        )
    lite = sqlite.insert(table)
    return lite.on_conflict_do_update(
        index_elements=keys, set_={name: lite.excluded[name] for name in columns}
    )
