"""Fixtures for end-to-end tests of the installed ``famsim`` command.

Every test runs the real console script (``famsim`` next to the interpreter) as a
subprocess, with ``FAMSIM_DATA_DIR`` pointing at a private directory and every other
``FAMSIM_*`` variable removed, so the user's own data and settings are never touched.

    famsim_command   session   path of the installed console script
    make_cli         function  Cli for a given data directory (default: the test's tmp_path)
    initialised_dir  module    a data directory after ``famsim init`` (never modify it:
                               copy it with ``copy_data_dir``)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from e2e.cli_runner import Cli, Result


@pytest.fixture(scope="session")
def famsim_command() -> Path:
    command = Path(sys.executable).parent / "famsim"
    if not command.exists():
        pytest.fail(
            f"the famsim console script is not installed at {command}: "
            "run `pip install -e .` in the venv",
            pytrace=False,
        )
    return command


@pytest.fixture
def make_cli(famsim_command: Path, tmp_path: Path) -> Callable[..., Cli]:
    def make(data_dir: Path | None = None, **extra_env: str) -> Cli:
        return Cli(famsim_command, data_dir or tmp_path / "data", extra_env)

    return make


@pytest.fixture(scope="module")
def initialised_dir(
    famsim_command: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Result]:
    """A data directory right after ``famsim init``, with the output of that init."""
    data_dir = tmp_path_factory.mktemp("initialised") / "data"
    result = Cli(famsim_command, data_dir).ok("init")
    return data_dir, result
