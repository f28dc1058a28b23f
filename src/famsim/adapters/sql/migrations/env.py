"""Alembic environment: runs on the connection famsim hands over, or on FAMSIM_DATABASE_URL."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from famsim.adapters.sql.engine import make_engine
from famsim.adapters.sql.schema import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    url = os.environ.get("FAMSIM_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set FAMSIM_DATABASE_URL to the database to migrate")
    engine = make_engine(url)
    with engine.connect() as conn:
        _run_on(conn)
        conn.commit()
    engine.dispose()


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite can only ALTER by copying tables
        compare_type=True,
    )
    if connection.dialect.name != "sqlite" or connection.in_transaction():
        with context.begin_transaction():
            context.run_migrations()
        return
    # SQLite's documented way to change a table by copying it (sqlite.org/lang_altertable,
    # "other kinds of table schema changes"): foreign keys off, outside any transaction,
    # while the copy replaces the table; then prove every reference still holds before
    # committing, and turn them on again.
    _pragma(connection, "PRAGMA foreign_keys = OFF")
    try:
        with context.begin_transaction():
            context.run_migrations()
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"migration left rows without their parent: {broken[:5]}")
        if connection.in_transaction():
            connection.commit()  # the pragma below would be ignored inside a transaction
    finally:
        if connection.in_transaction():
            connection.rollback()
        _pragma(connection, "PRAGMA foreign_keys = ON")


def _pragma(connection: Connection, statement: str) -> None:
    """Run a PRAGMA on the driver's connection, outside SQLAlchemy's transaction (SQLite
    ignores ``foreign_keys`` inside one)."""
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(statement)


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run against a database")
run()
