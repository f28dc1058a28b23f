"""What every group of commands shares: opening famsim, the usual options."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from famsim.bootstrap import App, bootstrap
from famsim.service import views

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
FamilyArg = Annotated[str, typer.Argument(help="Family id or exact family name.")]


@contextmanager
def opened(*, initialised: bool = True) -> Iterator[App]:
    famsim = bootstrap()
    try:
        if initialised:
            famsim.require_schema()
        yield famsim
    finally:
        famsim.close()


def family_id_of(famsim: App, ref: str) -> str:
    return views.resolve_family(famsim.uow(), ref)


# --------------------------------------------------------------------------- init
