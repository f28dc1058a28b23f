"""Engines for SQLite (embedded default) and PostgreSQL, set up for famsim's transactions.

SQLite: WAL journal (outside readers, such as backups and reports, never block famsim),
foreign keys on, ``synchronous=FULL`` (a commit is on disk before it is acknowledged), and
every famsim transaction opened with ``BEGIN IMMEDIATE``: one transaction at a time, queued
at the start, instead of a read transaction failing halfway when it tries to write.
PostgreSQL: READ COMMITTED, with the family row locked by the repository (``FOR UPDATE`` to
change a family, ``FOR SHARE`` to read one consistently).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_S = 30


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy's "begin" event below (the documented recipe
    # for pysqlite): the driver's own implicit BEGIN is deferred and cannot be IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.close()


READ_ONLY = "famsim_read_only"
"""Execution option of a connection that only reads: on SQLite its transaction begins
DEFERRED, a snapshot that neither waits for nor holds back the one writer."""


def _sqlite_on_begin(connection: Any) -> None:
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def row_locks(connection: Connection) -> bool:
    """Whether reads on *connection* take row locks (``FOR SHARE`` / ``FOR UPDATE``): on
    PostgreSQL, unless the connection only reads. A read-only unit of work takes none:
    its reader checks stamps under the lock later instead (SQLite never needs them:
    BEGIN IMMEDIATE serialises writers, and a deferred read is a snapshot)."""
    return connection.dialect.name != "sqlite" and not connection.get_execution_options().get(
        READ_ONLY
    )


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
