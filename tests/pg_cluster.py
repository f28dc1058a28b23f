"""Throwaway PostgreSQL clusters for the test suite, from Debian's server binaries.

A cluster lives in a fresh temporary directory, listens on 127.0.0.1 on a free
port (and on a Unix socket inside that directory), trusts every local
connection and runs with durability switched off: it exists only for one test
session and is deleted afterwards.

``initdb`` refuses to run as root, so when we are root the directory is given
to Debian's ``postgres`` system user and the server programs run through
``runuser -u postgres --``; otherwise they run as the current user.

No postmaster may outlive the process that started it: :meth:`PgCluster.stop`
is idempotent and falls back to SIGKILL, and every running cluster is also
stopped by an :mod:`atexit` hook, as a backup for a forgotten ``stop()``.

This module does not import pytest; ``tests/conftest.py`` wraps it in fixtures.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

PG_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "postgres"  # the cluster's superuser, and the system user we run as when root
MAINTENANCE_DB = "postgres"
HOST = "127.0.0.1"

# Settings that trade durability for speed: the data is thrown away anyway.
_SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
_START_ATTEMPTS = 3  # a free port can be taken by someone else before the server binds it
_COMMAND_TIMEOUT = 120.0


class PgClusterError(RuntimeError):
    """The throwaway cluster could not be created, started or used."""


def find_pg_bindir(root: Path = PG_ROOT) -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has ``pg_ctl``, or None."""
    candidates: list[tuple[tuple[int, ...], Path]] = []
    for pg_ctl in root.glob("*/bin/pg_ctl"):
        version = pg_ctl.parent.parent.name
        if re.fullmatch(r"\d+(\.\d+)*", version) and os.access(pg_ctl, os.X_OK):
            candidates.append((tuple(int(part) for part in version.split(".")), pg_ctl.parent))
    return max(candidates)[1] if candidates else None


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, but belongs to somebody else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust kill(0)
    # The state follows the command name, which is in parentheses and may hold spaces.
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _is_postgres_process(pid: int) -> bool:
    """Whether ``pid`` runs the postgres program (so a recycled pid is never killed)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().startswith("postgres")
    except OSError:
        # Either the process is gone, or there is no /proc to ask (then assume it is ours).
        return not Path("/proc/self").exists()


def _running_as_root() -> bool:
    return os.geteuid() == 0


# Clusters started and not yet stopped, for the atexit backup (stop_all_clusters).
_live_clusters: set[PgCluster] = set()
_live_lock = threading.Lock()


class PgCluster:
    """One throwaway PostgreSQL cluster. Create it with :meth:`start`."""

    def __init__(
        self, bindir: Path, base: Path, *, as_postgres_user: bool, durable: bool = False
    ) -> None:
        self.bindir = bindir
        self.durable = durable  # keep fsync and synchronous commit on (benchmarks)
        self.base = base  # everything lives below: data/, the socket and the log
        self.datadir = base / "data"
        self.socketdir = base
        self.logfile = base / "postgres.log"
        self.port = 0
        self.postmaster_pid: int | None = None
        self._as_postgres_user = as_postgres_user

    # -- lifecycle -------------------------------------------------------------

    @classmethod
    def start(cls, bindir: Path | None = None, *, durable: bool = False) -> PgCluster:
        """initdb a new cluster in a temporary directory and start it.

        Tests trade durability for speed; ``durable=True`` keeps PostgreSQL's defaults
        (fsync, synchronous commit), as a benchmark of durable commits needs.

        Raises :class:`PgClusterError` when the binaries are missing or the
        server cannot be started; nothing is left behind in that case.
        """
        bindir = bindir or find_pg_bindir()
        if bindir is None or not (bindir / "pg_ctl").exists():
            raise PgClusterError(
                f"no PostgreSQL server binaries under {PG_ROOT}/*/bin "
                "(on Debian: apt-get install postgresql, or run scripts/ensure-postgres.sh)"
            )
        as_root = _running_as_root()
        if as_root:
            try:
                pwd.getpwnam(SUPERUSER)
            except KeyError:
                raise PgClusterError(
                    f"running as root, but there is no '{SUPERUSER}' system user to run "
                    "initdb as (Debian's postgresql package creates it)"
                ) from None
        # As root, keep to /tmp: $TMPDIR may sit somewhere the postgres user cannot reach.
        base = Path(tempfile.mkdtemp(prefix="famsim-pg-", dir="/tmp" if as_root else None))
        cluster = cls(bindir, base, as_postgres_user=as_root, durable=durable)
        with _live_lock:
            _live_clusters.add(cluster)
        try:
            if as_root:
                shutil.chown(base, user=SUPERUSER, group=SUPERUSER)
            cluster._initdb()
            cluster._start_server()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def stop(self) -> None:
        """Stop the server at once and delete its directory. Safe to call twice."""
        with _live_lock:
            if self not in _live_clusters:
                return
            _live_clusters.discard(self)
        try:
            if self.datadir.joinpath("postmaster.pid").exists():
                self._run(
                    "pg_ctl", "stop", "-D", str(self.datadir), "-m", "immediate", "-w",
                    check=False, timeout=60,
                )  # fmt: skip
        finally:
            self._kill_postmaster()
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.postmaster_pid is not None and pid_alive(self.postmaster_pid)

    # -- databases -------------------------------------------------------------

    def url(self, dbname: str = MAINTENANCE_DB) -> str:
        """The SQLAlchemy URL of database ``dbname`` in this cluster."""
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/{dbname}"

    def connect(self, dbname: str = MAINTENANCE_DB) -> psycopg.Connection[TupleRow]:
        """A plain psycopg connection, in autocommit mode (needed for CREATE DATABASE)."""
        return psycopg.connect(
            host=HOST,
            port=self.port,
            user=SUPERUSER,
            dbname=dbname,
            autocommit=True,
            connect_timeout=10,
        )

    def create_database(self, name: str) -> str:
        """Create database ``name``; return its SQLAlchemy URL."""
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, terminating its connections first (PostgreSQL 13+)."""
        with self.connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    # -- internals -------------------------------------------------------------

    def _run(
        self, program: str, *args: str, check: bool = True, timeout: float = _COMMAND_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / program), *args]
        if self._as_postgres_user:
            command = [shutil.which("runuser") or "/usr/sbin/runuser", "-u", SUPERUSER, "--"]
            command += [str(self.bindir / program), *args]
        # A clean environment: no PG* variable of the caller's may point us elsewhere.
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["LC_ALL"] = "C"
        result = subprocess.run(
            command,
            cwd=self.base,  # the postgres user may not be allowed into our working directory
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise PgClusterError(
                f"{shlex.join(command)} exited with status {result.returncode}\n"
                f"{result.stdout}{result.stderr}{self._log_tail()}"
            )
        return result

    def _initdb(self) -> None:
        options = ["-A", "trust", "-U", SUPERUSER, "--encoding", "UTF8", "--no-locale"]
        help_text = self._run("initdb", "--help").stdout
        options += [flag for flag in ("--no-sync", "--no-instructions") if flag in help_text]
        self._run("initdb", "-D", str(self.datadir), *options)

    def _start_server(self) -> None:
        for attempt in range(1, _START_ATTEMPTS + 1):
            self.port = free_port()
            server_options = [
                f"-c listen_addresses={HOST}",
                f"-p {self.port}",
                f"-k {shlex.quote(str(self.socketdir))}",
                *(
                    f"-c {name}={value}"
                    for name, value in ({} if self.durable else _SERVER_SETTINGS).items()
                ),
            ]
            # -l is required: without it the postmaster inherits our output pipes
            # and subprocess.run would wait for it forever.
            result = self._run(
                "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.datadir),
                "-l", str(self.logfile), "-o", " ".join(server_options),
                check=False,
            )  # fmt: skip
            self.postmaster_pid = self._read_postmaster_pid()
            if result.returncode == 0 and self.postmaster_pid is not None:
                return
            log = self._log_tail()
            self._kill_postmaster()
            if attempt < _START_ATTEMPTS and "could not bind" in log:
                continue  # somebody took the port in the meantime: try another one
            raise PgClusterError(
                f"pg_ctl start failed (status {result.returncode})\n"
                f"{result.stdout}{result.stderr}{log}"
            )

    def _read_postmaster_pid(self) -> int | None:
        try:
            first_line = self.datadir.joinpath("postmaster.pid").read_text().split("\n", 1)[0]
            return int(first_line)
        except (OSError, ValueError):
            return None

    def _kill_postmaster(self) -> None:
        """Make sure the postmaster is gone: SIGKILL it if pg_ctl did not stop it."""
        pid = self.postmaster_pid or self._read_postmaster_pid()
        if pid is None or not _is_postgres_process(pid):
            self.postmaster_pid = None
            return
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        self.postmaster_pid = None

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return ""
        return "--- server log (tail) ---\n" + "\n".join(text.splitlines()[-lines:]) + "\n"


def stop_all_clusters() -> None:
    """Stop every cluster that was started and not stopped (the atexit backup)."""
    with _live_lock:
        clusters = list(_live_clusters)
    for cluster in clusters:
        with contextlib.suppress(Exception):
            cluster.stop()


atexit.register(stop_all_clusters)
