"""SQLite after a SIGKILL: nothing half-written, nothing committed lost, the file intact.

Each test prepares a database, then runs famsim in a child process (``sys.executable -c``)
that kills itself (or is killed) with SIGKILL at a chosen moment, and reopens the file.
"""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from famsim.adapters.sql.engine import make_engine
from famsim.adapters.sql.unit_of_work import SqlUnitOfWork
from famsim.bootstrap import bootstrap
from famsim.config import Settings
from famsim.domain.family import Family
from famsim.domain.identifiers import Imsi, Msisdn
from famsim.service import commands as c
from famsim.service.commands import LoadPlans

pytestmark = pytest.mark.integration

HK = "hk-family-5g-100"
NEW_NUMBER = "+85291239999"
CHILD_TIMEOUT_S = 60
ACKNOWLEDGED_BEFORE_KILL = 25

# Shared by the child scripts: a unit of work on the database, the family loaded for update
# and a new line (number NEW_NUMBER, valid ICCID and IMSI) added to the owner.
_PRELUDE = """
import os, signal, sys
from sqlalchemy import event
from famsim.adapters.sql.engine import make_engine
from famsim.adapters.sql.unit_of_work import SqlUnitOfWork
from famsim.domain.identifiers import Iccid, Imsi, Msisdn
from famsim.domain.ids import SubscriptionId, new_id
from famsim.domain.lines import SimType, Subscription
from famsim.domain.plan import DeviceKind

url, family_id, number = sys.argv[1:4]
engine = make_engine(url)

@event.listens_for(engine, "connect")
def tiny_cache(dbapi_connection, _record):
    # A page cache this small spills changed pages into the WAL before the commit, so a
    # crash leaves uncommitted frames behind for recovery to ignore.
    dbapi_connection.execute("PRAGMA cache_size = 1")

uow = SqlUnitOfWork(engine)
uow.__enter__()
family = uow.families.get(family_id, for_update=True)
family.add_line(
    uow.plans.get(family.plan_code),
    member_id=family.owner_id,
    msisdn=Msisdn.parse(number),
    primary=Subscription(
        id=SubscriptionId(new_id()),
        iccid=Iccid.from_body("898520000123099999"),
        imsi=Imsi.parse("454001230099999"),
        sim_type=SimType.ESIM,
        device_kind=DeviceKind.PHONE,
        primary=True,
    ),
    data_only=False,
)
"""


def _snapshot(family: Family) -> dict[str, Any]:
    state = {f.name: getattr(family, f.name) for f in dataclasses.fields(family)}
    state["members"] = list(family.members.items())
    state["lines"] = list(family.lines.items())
    return state


@pytest.fixture
def database(sqlite_url: str, tmp_path: Path, sample_plans: list[Any], clock: Any) -> str:
    """An SQLite file with the catalog and one family with one member; returns the family id.

    The app is closed before the test goes on, so no connection of this process is open
    when the child runs (the last close also checkpoints the WAL away).
    """
    app = bootstrap(Settings(database_url=sqlite_url, data_dir=tmp_path), clock)
    try:
        app.initialise()
        app.bus.handle(LoadPlans(tuple(sample_plans)))
        family_id: str = app.bus.handle(c.CreateFamily("Tsang family", HK, "Tsang Wing"))
    finally:
        app.close()
    return family_id


@pytest.fixture
def reopened(sqlite_url: str) -> Iterator[Engine]:
    """A new engine on the database file, for after the crash."""
    engine = make_engine(sqlite_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _run_child(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )


def _read(engine: Engine, family_id: str) -> Family:
    with SqlUnitOfWork(engine) as uow:
        return uow.families.get(family_id)


def _integrity(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(text("PRAGMA integrity_check"))]


def test_a_flushed_but_uncommitted_line_is_gone_after_sigkill(
    sqlite_url: str, database: str, reopened: Engine, tmp_path: Path
) -> None:
    before = _snapshot(_read(reopened, database))
    reopened.dispose()
    script = (
        _PRELUDE
        + """
uow.families.flush()
# Inside the transaction the line is written: storage already knows its number.
print("visible", uow.families.owner_of_msisdn(Msisdn.parse(number)) == family_id, flush=True)
print("wal", os.path.getsize(url.removeprefix("sqlite:///") + "-wal"), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    )
    result = _run_child(script, sqlite_url, database, NEW_NUMBER)

    assert result.returncode == -signal.SIGKILL, result.stderr
    report = dict(line.split() for line in result.stdout.splitlines())
    assert report["visible"] == "True"  # the flush really wrote the rows...
    assert int(report["wal"]) > 0  # ...and spilled them into the WAL, uncommitted

    assert _integrity(reopened) == ["ok"]
    assert _snapshot(_read(reopened, database)) == before
    with SqlUnitOfWork(reopened) as uow:
        assert uow.families.owner_of_msisdn(Msisdn.parse(NEW_NUMBER)) is None
    with reopened.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM lines")).scalar_one() == 0
        assert connection.execute(text("SELECT count(*) FROM subscriptions")).scalar_one() == 0


def test_a_committed_line_survives_sigkill_right_after_commit(
    sqlite_url: str, database: str, reopened: Engine
) -> None:
    script = (
        _PRELUDE
        + """
uow.commit()
print("committed", family.version, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    )
    result = _run_child(script, sqlite_url, database, NEW_NUMBER)

    assert result.returncode == -signal.SIGKILL, result.stderr
    assert result.stdout.split() == ["committed", "1"]
    assert _integrity(reopened) == ["ok"]
    family = _read(reopened, database)
    assert family.version == 1
    (line,) = family.lines.values()
    assert line.msisdn == Msisdn.parse(NEW_NUMBER)
    assert line.member_id == family.owner_id
    assert [s.imsi for s in line.subscriptions] == [Imsi.parse("454001230099999")]


def test_every_acknowledged_commit_survives_a_kill_mid_stream(
    sqlite_url: str, database: str, reopened: Engine
) -> None:
    """A writer commits change after change; killed at an arbitrary point, it loses none."""
    script = """
    import sys
    from famsim.adapters.clock import SystemClock
    from famsim.bootstrap import bootstrap
    from famsim.config import Settings
    from famsim.domain.members import Role
    from famsim.service import commands as c

    url, family_id = sys.argv[1:3]
    app = bootstrap(Settings(database_url=url), SystemClock())
    for i in range(1, 4):
        app.bus.handle(c.AddMember(family_id, f"Member {i}", Role.ADULT))
        print(i, flush=True)
    for i in range(4, 100_000):  # then one small committed change after another
        app.bus.handle(c.SetAllocation(family_id, "Member 1", hotspot_quota=i))
        print(i, flush=True)
    """
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), sqlite_url, database],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(CHILD_TIMEOUT_S, child.kill)  # never hang on readline()
    watchdog.start()
    try:
        assert child.stdout is not None
        assert child.stderr is not None
        acknowledged = 0
        while acknowledged < ACKNOWLEDGED_BEFORE_KILL:
            line = child.stdout.readline()
            if not line:
                break
            acknowledged = int(line)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=CHILD_TIMEOUT_S)
        errors = child.stderr.read()
    finally:
        watchdog.cancel()
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()

    assert acknowledged == ACKNOWLEDGED_BEFORE_KILL, errors
    assert child.returncode == -signal.SIGKILL
    assert _integrity(reopened) == ["ok"]
    family = _read(reopened, database)
    # Every commit the child acknowledged is there (it may have committed more since), and
    # the last one is whole: the allocation it wrote matches the version it counted.
    assert family.version >= acknowledged
    member = family.member("Member 1")
    assert family.allocation(member.id).hotspot_quota == family.version
    assert [m.name for m in family.members.values()] == [
        "Tsang Wing",
        "Member 1",
        "Member 2",
        "Member 3",
    ]
