"""executemany straight on the DB-API cursor, for the few statements of the charging path.

SQLAlchemy Core spends more time preparing each row of an executemany (building the
parameter dictionary, running bind processors through its generic machinery) than SQLite
spends writing it. The charging writer sends thousands of rows a second through five
statements, so for those (and only those) this module compiles each statement once per
dialect from the table metadata, keeps the bind processors of the columns that need one
(datetimes on SQLite, JSON), and hands plain tuples to the driver's ``executemany``. The
SQL still comes from SQLAlchemy, so it matches the schema and the dialect; no library
offers this trade-off ready-made, hence this small hand-written layer.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import Boolean, Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement


@dataclass(frozen=True, slots=True)
class BulkStatement:
    """A statement compiled for one dialect, with its parameter order and converters."""

    sql: str
    names: tuple[str, ...]
    converters: tuple[Callable[[Any], Any] | None, ...]
    named: bool

    def execute(self, connection: Connection, rows: Sequence[dict[str, Any]]) -> int:
        """Run the statement once per row, in the connection's current transaction; the
        rows it touched in all (both drivers sum executemany's row counts)."""
        if not rows:
            return 0
        converting = [(i, name, f) for i, (name, f) in enumerate(self._pairs()) if f]
        params: list[Any]
        if self.named:
            params = list(rows)
            if converting:
                params = [dict(row) for row in rows]
                for _, name, convert in converting:
                    _convert_column(params, name, convert)
        else:
            pick = itemgetter(*self.names)  # C speed: a tuple in parameter order
            if not converting:
                params = (
                    [pick(row) for row in rows]
                    if len(self.names) > 1
                    else [(row[self.names[0]],) for row in rows]
                )
            else:
                params = (
                    [list(pick(row)) for row in rows]
                    if len(self.names) > 1
                    else [[row[self.names[0]]] for row in rows]
                )
                for i, _, convert in converting:
                    _convert_column(params, i, convert)
        return self._run(connection, params)

    def execute_tuples(
        self, connection: Connection, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> int:
        """As :meth:`execute`, for rows given as tuples of *columns* (in that order).

        The charging writer builds its most numerous rows (usage records, counters) so: a
        tuple costs less to build than a dictionary, and on a positional driver (SQLite)
        it goes to the driver as it is, or picked into parameter order in C.
        """
        if not rows:
            return 0
        if self.named:
            return self.execute(connection, [dict(zip(columns, row, strict=True)) for row in rows])
        converting = [(i, f) for i, f in enumerate(self.converters) if f]
        params: list[Any]
        if tuple(columns) == self.names:
            params = [list(row) for row in rows] if converting else list(rows)
        else:
            pick = itemgetter(*(list(columns).index(name) for name in self.names))
            if len(self.names) == 1:
                params = [[pick(row)] for row in rows]
            else:
                params = (
                    [list(pick(row)) for row in rows] if converting else [pick(row) for row in rows]
                )
        for i, convert in converting:
            _convert_column(params, i, convert)
        return self._run(connection, params)

    def _run(self, connection: Connection, params: list[Any]) -> int:
        if not connection.in_transaction():
            # The driver would begin one by itself, unseen by SQLAlchemy, whose commit
            # would then have nothing to commit: begin it here, as any statement would.
            connection.begin()
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        driver_error = connection.dialect.loaded_dbapi.Error
        try:
            cursor.executemany(self.sql, params)
            return int(cursor.rowcount)
        except driver_error as exc:
            # Wrapped as SQLAlchemy wraps it (IntegrityError, OperationalError, ...), so the
            # unit of work reports a unique key or a busy database the same either way.
            raise DBAPIError.instance(self.sql, None, exc, driver_error) from exc
        finally:
            cursor.close()

    def _pairs(self) -> list[tuple[str, Callable[[Any], Any] | None]]:
        return list(zip(self.names, self.converters, strict=True))


def _convert_column(params: list[Any], column: Any, convert: Callable[[Any], Any]) -> None:
    """Convert one column (an index or a name) of every row in place.

    Results are kept for the one executemany: a batch's rows share a few timestamps, and
    converting a datetime costs more than looking it up. A column at a time, in one loop,
    because a function call per value cost more than the conversions it saved.
    """
    if not isinstance(params[0][column], Hashable):
        # A JSON document: each differs, none can be a key, so convert each (raising and
        # catching a TypeError per row, as a look-up would, cost more than the dumps)
        for row in params:
            row[column] = convert(row[column])
        return
    seen: dict[Any, Any] = {}
    for row in params:
        value = row[column]
        try:
            row[column] = seen[value]
        except KeyError:
            row[column] = seen[value] = convert(value)
        except TypeError:  # unhashable after all (a column of mixed values)
            row[column] = convert(value)


def compile_bulk(
    statement: ClauseElement, dialect: Dialect, columns: Sequence[str] | None = None
) -> BulkStatement:
    """Compile *statement* for *dialect* once; its bind parameters become the row keys.

    For an INSERT, *columns* says which columns each row gives (the others take their
    defaults, e.g. an autoincrement id).
    """
    compiled = statement.compile(
        dialect=dialect, column_keys=list(columns) if columns is not None else None
    )
    named = dialect.paramstyle in ("named", "pyformat")
    names = tuple(compiled.positiontup or compiled.binds)  # type: ignore[attr-defined]
    converters = []
    for name in names:
        bind = compiled.binds[name]  # type: ignore[attr-defined]
        # Booleans go to the driver as they are: sqlite3 stores True as 1 and psycopg
        # sends a bool, just as SQLAlchemy's processor would (the rows come from famsim's
        # own code, so its strictness check has nothing to catch). One call a value saved.
        is_bool = isinstance(bind.type, Boolean)
        converters.append(None if is_bool else bind.type._cached_bind_processor(dialect))
    return BulkStatement(compiled.string, names, tuple(converters), named)
