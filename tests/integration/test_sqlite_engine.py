"""The SQLite engine's settings, and writers to one family serialised on both databases."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert
from sqlalchemy.exc import IntegrityError

from famsim.adapters.sql import engine as sql_engine
from famsim.adapters.sql import migrate
from famsim.adapters.sql import schema as t
from famsim.adapters.sql.engine import make_engine
from famsim.adapters.sql.unit_of_work import SqlUnitOfWork
from famsim.bootstrap import App
from famsim.domain.errors import Conflict, FamsimError
from famsim.domain.family import Family
from famsim.domain.members import Role
from famsim.domain.plan import Plan
from famsim.service import commands as c

pytestmark = pytest.mark.integration

HK = "hk-family-5g-100"


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def migrated(engine: Engine, sample_plans: list[Plan], clock: Any) -> Family:
    """The engine's database migrated, the sample plans and one family stored."""
    migrate.upgrade(engine)
    hk = next(plan for plan in sample_plans if plan.code == HK)
    family = Family.create(name="Yip family", plan=hk, owner_name="Yip", today=clock.today())
    with SqlUnitOfWork(engine) as uow:
        for plan in sample_plans:
            uow.plans.save(plan)
        uow.families.add(family)
        uow.commit()
    return family


def _pragmas(dbapi_connection: Any) -> tuple[Any, ...]:
    cursor = dbapi_connection.cursor()
    try:
        return tuple(
            cursor.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "foreign_keys", "synchronous")
        )
    finally:
        cursor.close()


EXPECTED_PRAGMAS = ("wal", 1, 2)  # synchronous 2 = FULL


def test_every_pooled_connection_has_the_pragmas(engine: Engine) -> None:
    # Held at once, so the pool has to open distinct connections.
    raw = [engine.raw_connection() for _ in range(4)]
    try:
        assert len({id(r.dbapi_connection) for r in raw}) == 4
        for connection in raw:
            assert _pragmas(connection.dbapi_connection) == EXPECTED_PRAGMAS
    finally:
        for connection in raw:
            connection.close()
    engine.dispose()  # new connections after a dispose get them too
    with engine.connect() as connection:
        assert _pragmas(connection.connection.dbapi_connection) == EXPECTED_PRAGMAS


def test_a_foreign_key_violation_is_refused(engine: Engine, migrated: Family) -> None:
    member = {
        "id": "m" * 32,
        "family_id": "no-such-family",
        "name": "Ghost",
        "role": "adult",
        "status": "active",
        "joined_on": migrated.created_on,
        "position": 9,
    }
    with engine.connect() as connection, pytest.raises(IntegrityError, match="FOREIGN KEY"):
        connection.execute(insert(t.members).values(**member))


def test_a_foreign_key_violation_through_a_unit_of_work_is_a_conflict(
    engine: Engine, migrated: Family, sample_plans: list[Plan], clock: Any
) -> None:
    """A family on a plan that is not in the catalog never reaches the tables."""
    ghost = dataclasses.replace(sample_plans[0], code="not-in-the-catalog")
    family = Family.create(name="Orphans", plan=ghost, owner_name="Nobody", today=clock.today())
    with SqlUnitOfWork(engine) as uow:
        uow.families.add(family)
        with pytest.raises(Conflict):
            uow.commit()
    with SqlUnitOfWork(engine) as uow:
        assert [s.id for s in uow.families.summaries()] == [migrated.id]


def test_a_second_writer_waits_for_the_first(
    engine: Engine, migrated: Family, sample_plans: list[Plan], clock: Any
) -> None:
    """BEGIN IMMEDIATE: the second writer queues for the lock instead of failing halfway."""
    hk = next(plan for plan in sample_plans if plan.code == HK)
    first_has_lock = threading.Event()
    order: list[str] = []
    errors: list[BaseException] = []

    def second() -> None:
        try:
            first_has_lock.wait(timeout=10)
            with SqlUnitOfWork(engine) as uow:
                family = uow.families.get(migrated.id, for_update=True)
                order.append(f"second read version {family.version}")
                family.add_member(hk, name="Second", role=Role.ADULT, today=clock.today())
                uow.commit()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    with SqlUnitOfWork(engine) as uow:
        family = uow.families.get(migrated.id, for_update=True)
        first_has_lock.set()
        time.sleep(0.3)  # the second writer is now waiting on the lock
        family.add_member(hk, name="First", role=Role.ADULT, today=clock.today())
        uow.commit()
        order.append("first committed")
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert errors == []
    assert order == ["first committed", "second read version 1"]
    with SqlUnitOfWork(engine) as uow:
        stored = uow.families.get(migrated.id)
    assert [m.name for m in stored.members.values()] == ["Yip", "First", "Second"]
    assert stored.version == 2


def test_a_writer_that_times_out_on_the_lock_gets_a_famsim_error(
    sqlite_url: str, migrated: Family, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_engine, "SQLITE_BUSY_TIMEOUT_S", 0.2)
    impatient = make_engine(sqlite_url)
    try:
        with SqlUnitOfWork(impatient) as holder:
            holder.families.get(migrated.id, for_update=True)
            with pytest.raises(FamsimError), SqlUnitOfWork(impatient) as waiter:
                waiter.families.get(migrated.id, for_update=True)
    finally:
        impatient.dispose()


# ------------------------------------------------------------- concurrent writers, both DBs
THREADS = 2
COMMANDS_PER_THREAD = 20


def test_concurrent_writers_to_one_family_lose_nothing(sql_app: App, clock: Any) -> None:
    """Two threads each add 20 members to one family through the service.

    SQLite serialises the writers with BEGIN IMMEDIATE, PostgreSQL with SELECT ... FOR
    UPDATE: every command either commits or is refused with a famsim error, and the stored
    family holds exactly the members of the commands that succeeded.
    """
    with sql_app.uow() as uow:
        hk = uow.plans.get(HK)
        uow.plans.save(dataclasses.replace(hk, code="hk-family-big", max_members=100))
        uow.commit()
    family_id = sql_app.bus.handle(
        c.CreateFamily(name="Crowd", plan_code="hk-family-big", owner_name="Owner")
    )
    succeeded: list[str] = []
    refused: list[FamsimError] = []
    unexpected: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def work(tag: int) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            start.wait(timeout=10)
        for i in range(COMMANDS_PER_THREAD):
            name = f"Member {tag}-{i}"
            try:
                sql_app.bus.handle(c.AddMember(family_id, name, Role.ADULT))
            except FamsimError as exc:
                with lock:
                    refused.append(exc)
            except BaseException as exc:
                with lock:
                    unexpected.append(exc)
            else:
                with lock:
                    succeeded.append(name)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)

    assert unexpected == []
    assert len(succeeded) + len(refused) == THREADS * COMMANDS_PER_THREAD
    with sql_app.uow() as uow:
        stored = uow.families.get(family_id)
    names = [m.name for m in stored.active_members]
    assert len(names) == 1 + len(succeeded)
    assert sorted(names[1:]) == sorted(succeeded)
    assert stored.version == len(succeeded)
    # Both databases serialise writers on one family, so nobody even has to retry.
    assert refused == []


def test_a_family_read_without_lock_is_one_committed_version(
    fresh_postgres_url: str, sample_plans: list[Plan], clock: Any
) -> None:
    engine = make_engine(fresh_postgres_url)
    try:
        migrate.upgrade(engine)
        hk = next(plan for plan in sample_plans if plan.code == HK)
        family = Family.create(name="Mak family", plan=hk, owner_name="Mak", today=clock.today())
        with SqlUnitOfWork(engine) as uow:
            uow.plans.save(hk)
            uow.families.add(family)
            uow.commit()

        reading = threading.Event()
        writers: list[threading.Thread] = []

        def add_member() -> None:
            with SqlUnitOfWork(engine) as writer:
                changed = writer.families.get(family.id, for_update=True)
                changed.add_member(hk, name="Meanwhile", role=Role.ADULT, today=clock.today())
                writer.commit()

        @event.listens_for(engine, "before_cursor_execute")
        def write_between_statements(*args: Any) -> None:
            # Once the reader has read the family row and is about to read its members,
            # another unit of work tries to add a member and commit. It must wait for the
            # reader (a shared lock on the family row), so the reader sees one version.
            statement = args[2]
            if reading.is_set() and not writers and "FROM members" in statement:
                writer = threading.Thread(target=add_member)
                writers.append(writer)
                writer.start()
                writer.join(timeout=1.0)

        with SqlUnitOfWork(engine) as reader:
            reading.set()
            seen = reader.families.get(family.id)
            assert writers
            assert writers[0].is_alive(), "the writer did not wait for the reader"
        writers[0].join(timeout=30)
        assert not writers[0].is_alive()
        assert seen.version == 0
        assert [m.name for m in seen.members.values()] == ["Mak"]
        with SqlUnitOfWork(engine) as uow:
            after = uow.families.get(family.id)
        assert after.version == 1
        assert [m.name for m in after.members.values()] == ["Mak", "Meanwhile"]
    finally:
        engine.dispose()
