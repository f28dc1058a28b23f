"""``famsim smdp``: the built-in SM-DP+ (stock, import, list, serve)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from famsim.domain.errors import InvalidInput
from famsim.domain.esim.smdp import AlreadyStocked, consecutive_iccids
from famsim.domain.identifiers import Iccid
from famsim.entrypoints.cli import render
from famsim.entrypoints.cli.common import JsonOption, opened

# --------------------------------------------------------------------------- smdp
smdp_app = typer.Typer(
    help="The built-in SM-DP+ (ES2+ simulator): stock, list, serve.", no_args_is_help=True
)


@smdp_app.command("stock")
def smdp_stock(
    profile_type: Annotated[str, typer.Option("--type", help="Profile type, e.g. phone-5g.")],
    first_iccid: Annotated[str, typer.Option(help="ICCID of the first profile.")],
    count: Annotated[int, typer.Option(min=1, max=100_000, help="How many profiles.")] = 1,
) -> None:
    """Add COUNT profiles of a type, with consecutive ICCIDs from FIRST_ICCID, all or none."""
    iccids = consecutive_iccids(Iccid.parse(first_iccid), count)
    with opened() as famsim:
        famsim.smdp().run(
            lambda inventory, _: inventory.add_all([(i, profile_type) for i in iccids])
        )
    render.console.print(
        f"added {count} {profile_type.strip()} profile(s): {iccids[0]} .. {iccids[-1]}"
    )


@smdp_app.command("import")
def smdp_import(
    path: Annotated[Path, typer.Argument(help="CSV with columns iccid and profile_type.")],
) -> None:
    """Add the profiles of an inventory file: every row is checked first, all or none."""
    with opened() as famsim:
        rows = famsim.read_profile_file(path)
        stock = [(iccid, profile_type) for iccid, profile_type, _ in rows]
        try:
            famsim.smdp().run(lambda inventory, _: inventory.add_all(stock))
        except AlreadyStocked as exc:
            raise InvalidInput(f"{path}: line {rows[exc.position][2]}: {exc}") from None
    kinds = Counter(profile_type for _, profile_type, _ in rows)
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    render.console.print(f"imported {len(rows)} profile(s) from {path}: {summary}")


@smdp_app.command("list")
def smdp_list(as_json: JsonOption = False) -> None:
    """Profiles of the built-in SM-DP+ by type and state."""
    with opened() as famsim:
        counts = famsim.smdp().run(
            lambda inventory, _: Counter(
                (p.profile_type, p.state.value) for p in inventory.profiles.values()
            )
        )
    rows = [
        {"profile_type": kind, "state": state, "profiles": n}
        for (kind, state), n in sorted(counts.items())
    ]
    if as_json:
        render.print_json(rows)
        return
    render.smdp_inventory(rows)


@smdp_app.command("serve")
def smdp_serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8700,
) -> None:
    """Serve ES2+ (plain HTTP: put TLS in front, or keep it on loopback)."""
    import uvicorn  # only when serving

    with opened() as famsim:
        service = famsim.smdp()
        render.console.print(
            f"famsim SM-DP+ {service.smdp_address}: ES2+ on http://{host}:{port}"
            "/gsma/rsp2/es2plus/ (Ctrl-C stops)"
        )
        uvicorn.run(famsim.smdp_http_app(service), host=host, port=port, log_level="warning")
