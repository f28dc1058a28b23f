"""``famsim simulate``: simulated families use their lines; famsim charges them live.

The traffic simulator (famsim.service.simulator) plays the network against a famsim on
this database, in this process: every request goes through the charging service, as a
gateway's would, and usage is stamped with simulated time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from famsim.bootstrap import bootstrap
from famsim.domain.errors import InvalidInput
from famsim.domain.units import Resource, format_amount
from famsim.entrypoints.cli import render
from famsim.service import views
from famsim.service.simulator import (
    MAX_SIM_FAMILIES,
    Device,
    SimulationStats,
    TrafficSimulator,
    VirtualClock,
    family_devices,
    service_gateway,
    simulated_devices,
    simulated_families,
)

MAX_DAYS = 366


def simulate(
    families: Annotated[
        int,
        typer.Option(
            min=0,
            max=MAX_SIM_FAMILIES,
            help="Simulated families to create or reuse: Sim family 001, 002 ...",
        ),
    ] = 1,
    family: Annotated[
        list[str] | None,
        typer.Option(
            "--family",
            help="Also simulate this existing family (id or exact name); repeatable.",
        ),
    ] = None,
    days: Annotated[
        float, typer.Option(help="Simulated days (fractions allowed), up to 366.")
    ] = 1.0,
    speed: Annotated[
        float,
        typer.Option(help="Simulated seconds per real second; 0: as fast as possible."),
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the traffic: same seed, same traffic.")] = 1,
    start: Annotated[
        str | None,
        typer.Option(
            help="Simulated start, ISO 8601 (e.g. 2026-02-02T08:00+08:00; UTC without an "
            "offset); default: now."
        ),
    ] = None,
) -> None:
    """Simulate families' phones, watches, tablets and hotspots, charged live by famsim.

    Personas (a teenager streaming, a parent calling, a child's watch, a tablet, a
    traveller roaming in mainland China, a laptop on the owner's hotspot) follow daily
    rhythms in the family's time zone; famsim's answers are obeyed, and no family is
    simulated past its cycle end. See docs/simulator.md.
    """
    if not 0 < days <= MAX_DAYS:
        raise InvalidInput(f"--days must be more than 0 and at most {MAX_DAYS}, not {days:g}")
    if not 0 <= speed < float("inf"):
        raise InvalidInput(f"--speed must be 0 (as fast as possible) or positive, not {speed:g}")
    if families == 0 and not family:
        raise InvalidInput("nothing to simulate: give --families N or --family NAME")
    begin = _parse_start(start) if start is not None else datetime.now(UTC)
    end = begin + timedelta(days=days)
    clock = VirtualClock(begin, speed)
    # New families are dated, and usage stamped, in simulated time.
    famsim = bootstrap(clock=clock, now=clock.now)
    try:
        famsim.require_schema()
        # Named families first: a typo in one changes nothing.
        named = [views.resolve_family(famsim.uow(), ref) for ref in family or []]
        ids = simulated_families(famsim.bus, famsim.uow, families)
        devices = simulated_devices(famsim.uow, ids)
        others = [family_id for family_id in dict.fromkeys(named) if family_id not in ids]
        for family_id in others:
            devices += family_devices(famsim.uow, family_id)
        simulator = TrafficSimulator(
            devices, service_gateway(famsim.charging), clock, seed, start=begin, end=end
        )
        count = len(ids) + len(others)
        render.console.print(
            f"Simulating {count} {'family' if count == 1 else 'families'} "
            f"({len(devices)} devices) from {_when(begin)} to {_when(end)}, seed {seed}, "
            + ("as fast as possible" if speed == 0 else f"speed x{speed:g}"),
            soft_wrap=True,
            markup=False,
        )
        _note_cycle_ends(devices, end)
        clock.restart()
        stats, elapsed, stopped = _run(simulator, begin, end)
    finally:
        famsim.close()
    _summary(stats, elapsed, stopped)


def _parse_start(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"invalid --start {text!r}: expected ISO 8601, e.g. 2026-02-02T08:00+08:00"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _when(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _note_cycle_ends(devices: list[Device], end: datetime) -> None:
    stops = {d.family: d.cycle_end for d in devices if d.cycle_end < end}
    for name, cycle_end in sorted(stops.items()):
        render.console.print(
            f"{name}: its cycle ends {_when(cycle_end)}; simulated up to then only",
            soft_wrap=True,
            markup=False,
        )


def _run(
    simulator: TrafficSimulator, begin: datetime, end: datetime
) -> tuple[SimulationStats, float, bool]:
    total = (end - begin).total_seconds()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[requests]} requests"),
        TimeElapsedColumn(),
    )
    real_start = time.perf_counter()
    stopped = False
    # The bar goes to stderr: stdout keeps the summary, for people and scripts alike.
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(_when(begin), total=total, requests=0)

        def progress(stats: SimulationStats) -> None:
            now = stats.simulated_to or begin
            bar.update(
                task,
                completed=(now - begin).total_seconds(),
                description=_when(now),
                requests=stats.requests,
            )

        try:
            simulator.run(end, progress=progress)
        except KeyboardInterrupt:
            stopped = True
    return simulator.stats, time.perf_counter() - real_start, stopped


def _summary(stats: SimulationStats, elapsed: float, stopped: bool) -> None:
    console = render.console
    if stopped:
        console.print(f"Stopped at {_when(stats.simulated_to or datetime.now(UTC))}.")
    requests = Table(title="Requests", title_justify="left")
    for column in ("type", "count"):
        requests.add_column(column)
    for kind in ("initial", "update", "termination", "event"):
        requests.add_row(kind, str(stats.requests_by_type.get(kind, 0)))
    requests.add_row("all", str(stats.requests))
    console.print(requests)

    answers = Table(title="Answers by outcome", title_justify="left")
    for column in ("outcome", "count"):
        answers.add_column(column)
    for outcome, count in sorted(stats.answers.items()):
        answers.add_row(outcome, str(count))
    console.print(answers)

    units = Table(title="Units", title_justify="left")
    for column in ("resource", "granted", "used"):
        units.add_column(column)
    for resource in Resource:
        units.add_row(
            resource.value,
            format_amount(resource, stats.granted.get(resource.value, 0)),
            format_amount(resource, stats.used.get(resource.value, 0)),
        )
    console.print(units)

    personas = Table(title="Personas", title_justify="left")
    personas.add_column("persona", no_wrap=True)
    for column in ("sessions", "requests", "refused", "data", "voice", "sms"):
        personas.add_column(column, no_wrap=True)
    for name, p in sorted(stats.personas.items()):
        personas.add_row(
            name,
            str(p.sessions),
            str(p.requests),
            str(p.refused),
            *(format_amount(r, p.used.get(r.value, 0)) for r in Resource),
        )
    console.print(personas)
    rate = stats.requests / elapsed if elapsed > 0 else 0.0
    console.print(
        f"{stats.requests} requests in {stats.batches} batches, {elapsed:.1f} s: "
        f"{rate:.0f} requests per real second"
    )
