"""The ``famsim`` command line (Typer + rich)."""

from __future__ import annotations

import os
import sys

from famsim.domain.errors import FamsimError
from famsim.entrypoints.cli.app import app

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1


def main() -> None:
    """Run the CLI; expected failures print one line and exit 2, never a traceback."""
    try:
        app(prog_name="famsim")
    except FamsimError as exc:
        print(f"famsim: error: {_one_line(str(exc))}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except Exception as exc:  # a bug: still one line, the traceback on request
        if os.environ.get("FAMSIM_DEBUG"):
            raise
        print(
            f"famsim: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
            "(set FAMSIM_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        sys.exit(EXIT_INTERNAL_ERROR)


def _one_line(text: str) -> str:
    return " ".join(text.split())
