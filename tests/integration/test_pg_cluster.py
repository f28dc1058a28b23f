"""The database fixtures work, and the throwaway PostgreSQL cluster cleans up after itself."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from pg_cluster import PgCluster, find_pg_bindir, pid_alive

pytestmark = pytest.mark.integration

TESTS_DIR = Path(__file__).resolve().parents[1]


def _scalar(url: str, query: str) -> object:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(query)).scalar_one()
    finally:
        engine.dispose()


def test_database_url_answers_select_1(database_url: str) -> None:
    assert _scalar(database_url, "select 1") == 1


def test_postgres_url_is_postgresql_13_or_newer(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://")
    assert postgres_url.endswith("/famsim_test")
    version = int(str(_scalar(postgres_url, "SHOW server_version_num")))
    assert version >= 130000


def test_fresh_postgres_url_is_a_new_database(
    fresh_postgres_url: str, postgres_url: str, postgres_cluster: PgCluster
) -> None:
    assert fresh_postgres_url != postgres_url
    dbname = fresh_postgres_url.rsplit("/", 1)[1]
    assert _scalar(fresh_postgres_url, "select current_database()") == dbname
    tables = "select count(*) from pg_tables where schemaname = 'public'"
    assert _scalar(fresh_postgres_url, tables) == 0


@pytest.fixture
def pg_bindir(postgres_cluster: PgCluster) -> Path:
    """The binaries' directory; requesting the cluster applies its skip/fail policy."""
    return postgres_cluster.bindir


def test_stop_leaves_no_postmaster(pg_bindir: Path) -> None:
    cluster = PgCluster.start(pg_bindir)
    pid = cluster.postmaster_pid
    assert pid is not None
    assert cluster.running
    cluster.stop()
    cluster.stop()  # idempotent
    assert not pid_alive(pid)
    assert not cluster.base.exists()


def test_atexit_stops_a_forgotten_cluster(pg_bindir: Path) -> None:
    """A process that starts a cluster and exits without stop() leaves nothing running."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(TESTS_DIR)!r})
        from pathlib import Path
        from pg_cluster import PgCluster
        cluster = PgCluster.start(Path({str(pg_bindir)!r}))
        print(cluster.postmaster_pid, cluster.base, flush=True)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    pid_text, base = result.stdout.split()
    assert not pid_alive(int(pid_text))
    assert not Path(base).exists()


def test_find_pg_bindir_picks_the_newest_version(tmp_path: Path) -> None:
    for version in ("9.6", "13", "15", "notaversion"):
        bindir = tmp_path / version / "bin"
        bindir.mkdir(parents=True)
        (bindir / "pg_ctl").touch(mode=0o755)
    assert find_pg_bindir(tmp_path) == tmp_path / "15" / "bin"
    assert find_pg_bindir(tmp_path / "missing") is None
