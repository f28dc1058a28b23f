"""Running the installed ``famsim`` command in tests, and checking its error contract.

Imported by tests/e2e/conftest.py and the e2e test modules as ``e2e.cli_runner`` (tests/
is on the path, and tests/e2e is a namespace package).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DB_NAME = "famsim.db"
TIMEOUT_S = 60


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def describe(self) -> str:
        return (
            f"famsim {' '.join(self.args)} -> exit {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"
        )


class Cli:
    """Runs ``famsim`` on one data directory and checks the command-line contract."""

    def __init__(self, command: Path, data_dir: Path, extra_env: dict[str, str] | None = None):
        self.command = command
        self.data_dir = data_dir
        env = {k: v for k, v in os.environ.items() if not k.startswith("FAMSIM_")}
        env["FAMSIM_DATA_DIR"] = str(data_dir)
        env["COLUMNS"] = "200"  # wide enough that rich tables do not wrap names
        env["NO_COLOR"] = "1"
        env.update(extra_env or {})
        self.env = env

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_NAME

    def run(self, *args: str) -> Result:
        proc = subprocess.run(
            [str(self.command), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        result = Result(tuple(args), proc.returncode, proc.stdout, proc.stderr)
        assert "Traceback" not in result.stdout + result.stderr, result.describe()
        return result

    def ok(self, *args: str) -> Result:
        """Run a command that must succeed."""
        result = self.run(*args)
        assert result.returncode == 0, result.describe()
        return result

    def json(self, *args: str) -> Any:
        """Run a command with ``--json`` that must succeed, and parse its output."""
        return self.ok(*args, "--json").json()

    def error(self, *args: str) -> str:
        """Run a command that must fail with the one-line user error; return the message."""
        result = self.run(*args)
        assert result.returncode == 2, result.describe()
        assert result.stdout == "", result.describe()
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.describe()
        assert result.stderr.endswith("\n"), result.describe()
        assert lines[0].startswith("famsim: error: "), result.describe()
        return lines[0].removeprefix("famsim: error: ")

    def fails(self, *args: str) -> str:
        """Like :meth:`error`, and the database must be exactly as it was before."""
        before = self.snapshot()
        message = self.error(*args)
        assert self.snapshot() == before, f"database changed by famsim {' '.join(args)}"
        return message

    def snapshot(self) -> list[str] | None:
        """Every table of the SQLite database as SQL statements (None: no database file)."""
        if not self.db_path.exists():
            return None
        connection = sqlite3.connect(self.db_path)
        try:
            return list(connection.iterdump())
        finally:
            connection.close()


def copy_data_dir(source: Path, target: Path) -> Path:
    """A private copy of a prepared data directory (the database and its WAL files)."""
    shutil.copytree(source, target, dirs_exist_ok=True)
    return target
