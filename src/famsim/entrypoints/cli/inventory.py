"""``famsim inventory`` and ``famsim numbers``: the operator's SIM stock and number pool."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from famsim.domain.errors import InvalidInput
from famsim.domain.esim.stock import AlreadyInStock, StockedSim
from famsim.domain.identifiers import Iccid, Imsi, Msisdn
from famsim.domain.lines import SimType
from famsim.domain.numbers import MAX_OFFER, NumberState
from famsim.entrypoints.cli import render
from famsim.entrypoints.cli.common import JsonOption, opened
from famsim.service import inventory

ACTOR = "operator:cli"
MAX_REPORTED = 20  # offending lines named in one message; the rest are counted

inventory_app = typer.Typer(
    help="The operator's SIM stock: eSIM profiles and physical cards.", no_args_is_help=True
)
numbers_app = typer.Typer(
    help="The operator's MSISDN pool: ranges, offers, states.", no_args_is_help=True
)


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------------ inventory
@inventory_app.command("import")
def inventory_import(
    path: Annotated[
        Path,
        typer.Argument(
            help="CSV with columns iccid, imsi, sim_type (esim|physical), profile_type."
        ),
    ],
) -> None:
    """Stock the SIMs of a delivery file: every row is checked first, then all or none."""
    with opened() as famsim:
        rows = famsim.read_sim_file(path)
        sims = [sim for sim, _ in rows]
        refused = inventory.stock_conflicts(famsim.uow, sims)
        if refused:
            raise InvalidInput(_stocked_report(path, refused, [line for _, line in rows]))
        try:
            inventory.stock_sims(famsim.uow, sims, _now(), ACTOR)
        except AlreadyInStock as exc:  # stocked by someone else since the check
            raise InvalidInput(f"{path}: line {rows[exc.position][1]}: {exc}") from None
    render.console.print(f"stocked {len(sims)} SIM(s) from {path}: {_summary(sims)}")


def _stocked_report(path: Path, refused: list[AlreadyInStock], lines: list[int]) -> str:
    named = "; ".join(f"line {lines[r.position]}: {r}" for r in refused[:MAX_REPORTED])
    more = len(refused) - MAX_REPORTED
    rest = f"; and {more} more" if more > 0 else ""
    return f"{path}: {len(refused)} SIM(s) already in stock, nothing stocked: {named}{rest}"


def _summary(sims: list[StockedSim]) -> str:
    kinds: dict[str, int] = {}
    for sim in sims:
        kind = sim.profile_type or "physical"
        kinds[kind] = kinds.get(kind, 0) + 1
    return ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))


@inventory_app.command("add-sim")
def inventory_add_sim(
    iccid: Annotated[str, typer.Option(help="ICCID printed on the card (19-20 digits).")],
    imsi: Annotated[str, typer.Option(help="IMSI of the card.")],
) -> None:
    """Stock one physical SIM card."""
    sim = StockedSim(Iccid.parse(iccid), Imsi.parse(imsi), SimType.PHYSICAL, None)
    with opened() as famsim:
        try:
            inventory.stock_sims(famsim.uow, [sim], _now(), ACTOR)
        except AlreadyInStock as exc:
            raise InvalidInput(str(exc)) from None
    render.console.print(f"stocked physical SIM {sim.iccid} (IMSI {sim.imsi})")


@inventory_app.command("list")
def inventory_list(as_json: JsonOption = False) -> None:
    """SIMs in stock by type, profile type and state."""
    with opened() as famsim:
        rows = inventory.sim_counts(famsim.uow)
    if as_json:
        render.print_json(rows)
        return
    table = Table(title="SIM stock", title_justify="left")
    for column in ("type", "profile type", "state", "SIMs"):
        table.add_column(column, justify="right" if column == "SIMs" else "left")
    for row in rows:
        table.add_row(
            str(row["sim_type"]),
            str(row["profile_type"] or "-"),
            str(row["state"]),
            str(row["sims"]),
        )
    render.console.print(table)
    if not rows:
        render.console.print("No SIMs in stock yet: add some with `famsim inventory import`.")


# -------------------------------------------------------------------------- numbers
@numbers_app.command("add-range")
def numbers_add_range(
    first: Annotated[str, typer.Argument(help="First number, E.164 (+85291230000).")],
    last: Annotated[str, typer.Argument(help="Last number, E.164, same length.")],
) -> None:
    """Add the numbers FIRST to LAST (inclusive) to the pool, all free."""
    first_number, last_number = Msisdn.parse(first), Msisdn.parse(last)
    with opened() as famsim:
        added = inventory.add_number_range(famsim.uow, first_number, last_number, _now(), ACTOR)
    render.console.print(f"added {added} number(s): {first_number} .. {last_number}")


@numbers_app.command("list")
def numbers_list(
    state: Annotated[NumberState | None, typer.Option(help="Only numbers in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Numbers of the pool in order, with their state and when a hold or quarantine ends."""
    with opened() as famsim:
        counts, listed = inventory.number_listing(famsim.uow, _now(), state, limit)
    rows = [
        {"msisdn": str(n), "state": s.value, "until": until.isoformat() if until else None}
        for n, s, until in listed
    ]
    if as_json:
        render.print_json(rows)
        return
    table = Table(title="Numbers", title_justify="left")
    for column in ("number", "state", "until"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(str(row["msisdn"]), str(row["state"]), _when(row["until"]))
    render.console.print(table)
    render.console.print(", ".join(f"{n} {s.value}" for s, n in counts.items()))


def _when(iso: str | None) -> str:
    return "-" if iso is None else f"{datetime.fromisoformat(iso):%Y-%m-%d %H:%M} UTC"


@numbers_app.command("offer")
def numbers_offer(
    count: Annotated[int, typer.Option(min=1, max=MAX_OFFER, help="How many numbers.")] = 3,
    as_json: JsonOption = False,
) -> None:
    """Hold a few free numbers at random for a picker, as a family owner would see them."""
    with opened() as famsim:
        offer = inventory.offer_numbers(famsim.uow, count, _now(), ACTOR)
    if as_json:
        render.print_json(
            {
                "offer_id": offer.offer_id,
                "numbers": [str(n) for n in offer.numbers],
                "held_until": offer.held_until.isoformat(),
            }
        )
        return
    render.console.print(
        f"offer {offer.offer_id}, held until {offer.held_until:%Y-%m-%d %H:%M:%S} UTC:",
        soft_wrap=True,
    )
    for number in offer.numbers:
        render.console.print(f"  {number}  ({number.display})", markup=False)
