"""Writing an aggregate back as a difference of rows, keyed by each table's primary key.

Repositories map a domain object to ``{table name: {primary key: row}}``, keep that mapping
as read, and on flush hand both to :func:`write_changes`, which inserts, updates (and, for
tables whose rows may disappear, deletes) only what changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from enum import Enum
from functools import cache
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, bindparam, delete, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert

from famsim.adapters.sql.bulk import BulkStatement, compile_bulk

Row = dict[str, Any]
E = TypeVar("E", bound=Enum)
Rows = dict[tuple[Any, ...], Row]


@cache
def primary_key(table: Table) -> tuple[str, ...]:
    return tuple(column.name for column in table.primary_key.columns)


def dicts(result: Any) -> list[Row]:
    """A result's rows as dictionaries, the column names looked up once, not per row."""
    names = tuple(result.keys())
    return [dict(zip(names, row, strict=True)) for row in result.all()]  # one fetchall


def keyed(table: Table, rows: Iterable[Row]) -> Rows:
    """*rows* by their primary key, a tuple (a family's load and flush key 30 rows each)."""
    names = primary_key(table)
    if len(names) == 1:
        name = names[0]
        return {(row[name],): row for row in rows}
    key = _key_of(table)
    return {key(row): row for row in rows}


@cache
def _key_of(table: Table) -> Callable[[Row], tuple[Any, ...]]:
    """A row's composite primary key as a tuple, by itemgetter (C speed)."""
    return itemgetter(*primary_key(table))


def by_value(kind: type[E]) -> Callable[[Any], E]:
    """``kind(value)`` at a dictionary's speed, for reading stored enum values.

    An Enum's own lookup by value costs about a microsecond, and loading a batch of
    families and ledgers makes hundreds of thousands; an unknown value still goes to
    ``kind(value)``, which raises ValueError (or finds an alias) as before.
    """
    members: dict[Any, E] = {member.value: member for member in kind}

    def lookup(value: Any) -> E:
        found = members.get(value)
        return found if found is not None else kind(value)

    return lookup


def write_changes(
    connection: Connection, table: Table, changes: Iterable[tuple[Rows, Rows]]
) -> None:
    """For each (before, after) pair, e.g. one per family of a unit of work: update the rows
    that changed, then insert the rows of ``after`` that ``before`` lacks.

    All the updates go first, then all the inserts, each kind as one executemany per set
    of columns, so a batch of families costs a few statements, not a few per family.
    Updates go first so a row can give up a unique value that a new row takes in the same
    change (a closed line's number serving a new line); no command updates a row to point
    at a row it inserts in the same table.
    """
    names = primary_key(table)
    updated: dict[tuple[str, ...], list[Row]] = {}
    added: dict[tuple[str, ...], list[Row]] = {}
    for before, after in changes:
        for key, row in after.items():
            old = before.get(key)
            if old is None:
                added.setdefault(tuple(row), []).append(row)
            elif old != row:
                keyed_row = row | {f"k_{n}": v for n, v in zip(names, key, strict=True)}
                updated.setdefault(tuple(row), []).append(keyed_row)
    for columns, rows in updated.items():
        _statement(connection.dialect, table, "update", columns).execute(connection, rows)
    for columns, rows in added.items():
        _statement(connection.dialect, table, "insert", columns).execute(connection, rows)


def delete_missing(
    connection: Connection, table: Table, changes: Iterable[tuple[Rows, Rows]]
) -> None:
    """Delete the rows of each ``before`` that its ``after`` no longer has."""
    names = primary_key(table)
    gone = [
        {f"k_{n}": v for n, v in zip(names, key, strict=True)}
        for before, after in changes
        for key in before.keys() - after.keys()
    ]
    _statement(connection.dialect, table, "delete", ()).execute(connection, gone)


_STATEMENTS: dict[tuple[str, str, str, tuple[str, ...]], BulkStatement] = {}


def _statement(
    dialect: Dialect, table: Table, kind: str, columns: tuple[str, ...]
) -> BulkStatement:
    """INSERT, UPDATE (by primary key, bound as ``k_<column>``) or DELETE (likewise) of
    *columns* in *table*, compiled once per dialect."""
    key = (dialect.name, table.name, kind, columns)
    if key not in _STATEMENTS:
        match = [c == bindparam(f"k_{c.name}") for c in table.primary_key.columns]
        if kind == "insert":
            made = compile_bulk(insert(table), dialect, columns)
        elif kind == "update":
            made = compile_bulk(update(table).where(*match), dialect, columns)
        else:
            made = compile_bulk(delete(table).where(*match), dialect)
        _STATEMENTS[key] = made
    return _STATEMENTS[key]


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
