"""``famsim keys``: the keys that seal identity data at rest, and their rotation.

Rotation in three steps: ``famsim keys new`` prints a fresh key; put it first in
FAMSIM_DATA_KEYS (or first in the development key file), keeping the old ones after it;
``famsim keys rotate`` re-seals everything under it. The old keys can then be removed.
"""

from __future__ import annotations

from typing import Annotated

import typer

from famsim.domain.errors import InvalidInput
from famsim.entrypoints.cli import render
from famsim.entrypoints.cli.common import opened

keys_app = typer.Typer(help="Data keys: a new key, and re-sealing under it.", no_args_is_help=True)


@keys_app.command("new")
def keys_new(
    key_id: Annotated[
        str | None, typer.Option("--id", help="Key id (letters and digits); default: the time.")
    ] = None,
) -> None:
    """Print a new `id:base64` key to put FIRST in FAMSIM_DATA_KEYS (keep the old ones)."""
    if key_id is not None and not (key_id.isalnum() and key_id.isascii() and len(key_id) <= 32):
        raise InvalidInput(f"key id {key_id!r}: 1 to 32 letters or digits")
    with opened(initialised=False) as famsim:
        entry = famsim.new_data_key(key_id)
    print(entry)


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-seal every identity record under the current (first) key."""
    with opened() as famsim:
        key_id = famsim.sealer().current_key_id
        count = famsim.invitations().rotate_keys()
    noun = "record" if count == 1 else "records"
    render.console.print(f"re-sealed {count} identity {noun} under key {key_id}", soft_wrap=True)
