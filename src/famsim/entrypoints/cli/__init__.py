"""The ``famsim`` command line (Typer + rich)."""

from __future__ import annotations

import os
import sys

import typer

from famsim.domain.errors import FamsimError
from famsim.entrypoints.cli.app import app

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1


def main() -> None:
    """Run the CLI; expected failures print one line and exit 2, never a traceback."""
    try:
        code = app(prog_name="famsim", standalone_mode=False)
    except typer.TyperException as exc:  # usage errors (Typer's bundled click raises these)
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # type: ignore[attr-defined]  # a bare group: its help is the answer
            sys.exit(EXIT_USER_ERROR)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        print(f"famsim: error: {_one_line(exc.format_message())}{hint}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", EXIT_USER_ERROR))
    except typer.Abort:
        print("famsim: aborted", file=sys.stderr)
        sys.exit(EXIT_INTERNAL_ERROR)
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
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(text: str) -> str:
    return " ".join(text.split())
