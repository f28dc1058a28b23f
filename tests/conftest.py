"""Shared pytest fixtures."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests/ holds helper modules (pg_cluster); make them importable whatever the import mode.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from pg_cluster import PgCluster, PgClusterError, find_pg_bindir

# =============================================================================
# Database fixtures: a throwaway PostgreSQL cluster per test session (per
# xdist worker), fresh databases in it, and SQLite files.
#
#   postgres_cluster    session   the running PgCluster (see tests/pg_cluster.py)
#   postgres_url        session   URL of the database famsim_test, shared by the session
#   fresh_postgres_url  function  URL of a new, empty database, dropped afterwards
#   sqlite_url          function  URL of an SQLite file in the test's tmp_path
#   database_url        function  parametrized: sqlite_url, then fresh_postgres_url
#
# Without PostgreSQL's server binaries the PostgreSQL fixtures skip, or fail
# when FAMSIM_REQUIRE_POSTGRES=1 (as `make test` sets it).
# =============================================================================

POSTGRES_TEST_DB = "famsim_test"


def _postgres_required() -> bool:
    return os.environ.get("FAMSIM_REQUIRE_POSTGRES", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PgCluster]:
    """A PostgreSQL cluster started from Debian's binaries, stopped at session end."""
    bindir = find_pg_bindir()
    if bindir is None:
        message = (
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; "
            "install them with scripts/ensure-postgres.sh (or `make postgres`)"
        )
        if _postgres_required():
            pytest.fail(f"FAMSIM_REQUIRE_POSTGRES is set but {message}", pytrace=False)
        pytest.skip(message)
    try:
        cluster = PgCluster.start(bindir)
    except PgClusterError as exc:
        pytest.fail(f"could not start a throwaway PostgreSQL cluster: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()  # never leave a postmaster behind, whatever happened


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: PgCluster) -> str:
    """SQLAlchemy URL of the session's database famsim_test (tests share it)."""
    return postgres_cluster.create_database(POSTGRES_TEST_DB)


@pytest.fixture
def fresh_postgres_url(postgres_cluster: PgCluster) -> Iterator[str]:
    """SQLAlchemy URL of a new, empty database for this test only."""
    name = f"famsim_t_{uuid.uuid4().hex[:16]}"
    url = postgres_cluster.create_database(name)
    try:
        yield url
    finally:
        postgres_cluster.drop_database(name)  # WITH (FORCE): open connections are cut


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """SQLAlchemy URL of an SQLite file (not yet created) in this test's tmp_path."""
    return f"sqlite:///{tmp_path}/famsim.db"


_DATABASE_URL_FIXTURES = {"sqlite": "sqlite_url", "postgresql": "fresh_postgres_url"}


@pytest.fixture(params=list(_DATABASE_URL_FIXTURES))
def database_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty database, once on SQLite and once on PostgreSQL."""
    url: str = request.getfixturevalue(_DATABASE_URL_FIXTURES[request.param])
    return url


# =============================================================================
# End of the database fixtures.
# =============================================================================


# =============================================================================
# famsim fixtures shared by every layer's tests.
#
#   sample_plans   session   the shipped sample catalog, as domain plans
#   clock          function  a FixedClock (settable date) for the service's Clock port
#   memory_bus     function  a MessageBus over the in-memory adapter, sample plans loaded
#   sql_app        function  a bootstrapped App on `database_url` (SQLite, then PostgreSQL),
#                            migrated, sample plans loaded, fixed clock
# =============================================================================

from datetime import date  # noqa: E402

from famsim.adapters.catalog import load_catalog, sample_catalog_path  # noqa: E402
from famsim.adapters.memory import MemoryStore, MemoryUnitOfWork  # noqa: E402
from famsim.bootstrap import App, bootstrap  # noqa: E402
from famsim.config import Settings  # noqa: E402
from famsim.domain.plan import Plan  # noqa: E402
from famsim.service.commands import LoadPlans  # noqa: E402
from famsim.service.messagebus import MessageBus  # noqa: E402


class FixedClock:
    """The service's Clock port with a date the test chooses (and may move)."""

    def __init__(self, today: date) -> None:
        self.current = today

    def today(self) -> date:
        return self.current


@pytest.fixture(scope="session")
def sample_plans() -> list[Plan]:
    return load_catalog(sample_catalog_path())


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(date(2026, 1, 31))


@pytest.fixture
def memory_store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def memory_bus(
    memory_store: MemoryStore, clock: FixedClock, sample_plans: list[Plan]
) -> MessageBus:
    bus = MessageBus(lambda: MemoryUnitOfWork(memory_store), clock)
    bus.handle(LoadPlans(tuple(sample_plans)))
    return bus


@pytest.fixture
def sql_app(
    database_url: str, tmp_path: Path, clock: FixedClock, sample_plans: list[Plan]
) -> Iterator[App]:
    app = bootstrap(Settings(database_url=database_url, data_dir=tmp_path), clock)
    app.initialise()
    app.bus.handle(LoadPlans(tuple(sample_plans)))
    try:
        yield app
    finally:
        app.close()
