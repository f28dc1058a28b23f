"""A read-only unit of work: no row locks on PostgreSQL, a deferred snapshot on SQLite.

Billing reads and rates its batches in one before it takes the lock (see
famsim.service.billing); what makes that worth it is that the reading holds nothing back.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from famsim.adapters.sql.unit_of_work import SqlUnitOfWork
from famsim.bench.billing import set_up
from famsim.bootstrap import App, bootstrap
from famsim.config import Settings


def _app(url: str, tmp_path: Path) -> tuple[App, list[str]]:
    app = bootstrap(Settings(database_url=url, data_dir=tmp_path))
    app.initialise()
    return app, set_up(app, 2, 20).families


def test_postgresql_reads_take_no_row_locks(fresh_postgres_url: str, tmp_path: Path) -> None:
    app, families = _app(fresh_postgres_url, tmp_path)
    other = create_engine(fresh_postgres_url)
    lock = text("SELECT id FROM families WHERE id = :id FOR UPDATE NOWAIT")
    try:
        with SqlUnitOfWork(app.engine, read_only=True) as reader:
            reader.families.get_many(families)
            reader.ledgers.stamps(families)
            with other.connect() as connection:  # a writer is not held back
                assert connection.execute(lock, {"id": families[0]}).scalar() == families[0]
                connection.rollback()
        with app.uow() as locked:  # whereas an ordinary read shares the lock
            locked.families.get(families[0])
            with other.connect() as connection, pytest.raises(Exception, match="lock"):
                connection.execute(lock, {"id": families[0]})
    finally:
        other.dispose()
        app.close()


def test_sqlite_reads_a_snapshot_while_a_writer_commits(sqlite_url: str, tmp_path: Path) -> None:
    app, families = _app(sqlite_url, tmp_path)
    try:
        with SqlUnitOfWork(app.engine, read_only=True) as reader:
            before = reader.families.get(families[0]).name
            with app.uow() as writer:  # BEGIN IMMEDIATE does not wait for the reader
                family = writer.families.get(families[1], for_update=True)
                family.name = "Renamed meanwhile"
                writer.commit()
            [seen] = reader.families.get_many([families[1]])
            assert seen.name != "Renamed meanwhile"  # the reader's snapshot
            with pytest.raises(RuntimeError, match="read-only"):
                reader.commit()
        assert before
        with app.uow() as after:
            assert after.families.get(families[1]).name == "Renamed meanwhile"
    finally:
        app.close()
