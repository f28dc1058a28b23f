"""``famsim demo``: everything set up on embedded SQLite, then the web UI served with
the demo family's traffic simulated live.

First run: the catalog, the operator's stock, the demo family (its cycle begun
:data:`~famsim.demo.HISTORY_DAYS` days ago, those days filled in by the traffic
simulator), the demo sign-ins and an operator key. Every run: the server on
``--host:--port`` and, unless ``--speed 0``, the simulator playing the family's phones,
watch and tablet through the charging engine, ``--speed`` times faster than real time.
The network side (charging, usage, forecasts) then lives on that fast clock; sign-ins
stay on the real one.
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from famsim.bootstrap import App, bootstrap
from famsim.config import Settings
from famsim.demo import (
    DEMO_FAMILY,
    DEMO_LOGINS,
    DEMO_NUMBERS,
    HISTORY_DAYS,
    create_demo_accounts,
    create_demo_family,
    demo_operator_key,
    demo_stock,
)
from famsim.domain.errors import FamsimError
from famsim.domain.identifiers import Msisdn
from famsim.entrypoints.cli import render
from famsim.entrypoints.cli.common import opened
from famsim.service import commands as c
from famsim.service import inventory, views
from famsim.service.simulator import (
    TrafficSimulator,
    VirtualClock,
    cycle_bounds,
    devices_of,
    service_gateway,
    submitting_gateway,
)

LOGINS_FILE = "demo-logins.json"
MAX_SPEED = 86_400.0


def demo(
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    speed: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=MAX_SPEED,
            help="Simulated seconds per real second (120: an hour in 30 s); 0: no traffic.",
        ),
    ] = 120.0,
    seed: Annotated[int, typer.Option(help="The traffic simulator's seed.")] = 1,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the web UI after setting up.")
    ] = True,
) -> None:
    """Set up the demo (database, catalog, stock, the demo family and its sign-ins) and
    serve the web UI with the family's traffic simulated live."""
    began = time.monotonic()
    with opened(initialised=False) as famsim:
        family_id, fresh = _set_up(famsim)
        if fresh:
            _fill_history(famsim.settings, family_id, seed)
        key = _operator_key(famsim)
        detail = views.family_detail(famsim.uow(), family_id)
    url = f"http://{host}:{port}/"
    logins = _write_logins(famsim.settings, url, key)
    render.console.print(f"famsim demo: database {famsim.database}\n")
    render.family_detail(detail)
    _print_logins(famsim, logins, serve)
    if serve:
        _serve(famsim.settings, family_id, host, port, speed, seed, began)


def _set_up(famsim: App) -> tuple[str, bool]:
    """The demo's data, made once; returns the family's id and whether it is new."""
    famsim.initialise()
    if not famsim.has_plans():
        famsim.bus.handle(c.LoadPlans(tuple(famsim.read_catalog())))
    existing = [f for f in views.list_families(famsim.uow()) if f["name"] == DEMO_FAMILY]
    if existing:
        family_id = existing[0]["id"]
    else:
        # The cycle begins HISTORY_DAYS ago: a family made on a clock set back that far.
        began = datetime.now(UTC) - timedelta(days=HISTORY_DAYS)
        earlier = bootstrap(famsim.settings, now=lambda: began)
        try:
            family_id = create_demo_family(earlier.bus)
        finally:
            earlier.close()
    if not inventory.sim_counts(famsim.uow):
        _stock(famsim)
    create_demo_accounts(famsim.accounts(), family_id)
    return family_id, not existing


def _stock(famsim: App) -> None:
    """The demo operator's SIM stock, the same eSIMs at the built-in SM-DP+, and numbers."""
    now = datetime.now(UTC)
    stock = demo_stock()
    inventory.stock_sims(famsim.uow, stock, now, "demo")
    profiles = [(s.iccid, s.profile_type) for s in stock if s.profile_type is not None]
    famsim.smdp().run(lambda smdp, _: smdp.add_all(profiles))
    first, last = (Msisdn.parse(n) for n in DEMO_NUMBERS)
    inventory.add_number_range(famsim.uow, first, last, now, "demo")


def _fill_history(settings: Settings, family_id: str, seed: int) -> None:
    """The family's usage from its cycle's start until now, simulated as fast as it goes."""
    began = time.monotonic()
    scratch = bootstrap(settings)
    try:
        view = views.family_detail(scratch.uow(), family_id)
    finally:
        scratch.close()
    start, _ = cycle_bounds(view)
    clock = VirtualClock(start)
    past = bootstrap(settings, now=clock.now)
    try:
        simulator = TrafficSimulator(
            devices_of(view), service_gateway(past.charging), clock, seed, start=start
        )
        stats = simulator.run(datetime.now(UTC))
    finally:
        past.close()
    render.console.print(
        f"famsim demo: filled in {HISTORY_DAYS} days of the family's usage "
        f"({stats.requests} charging requests) in {time.monotonic() - began:.1f} s"
    )


def _operator_key(famsim: App) -> str:
    """The demo's operator key: the one written last time if it still works, else new."""
    path = famsim.settings.data_dir / LOGINS_FILE
    try:
        key = str(json.loads(path.read_text(encoding="utf-8"))["operator"]["api_key"])
        famsim.accounts().authenticate_key(key)
        return key
    except (OSError, ValueError, KeyError, TypeError, FamsimError):
        return demo_operator_key(famsim.accounts())


def _write_logins(settings: Settings, url: str, key: str) -> dict[str, Any]:
    """The demo's sign-ins, for people and for tests, readable by this user only."""
    logins: dict[str, Any] = {"url": url}
    for person in DEMO_LOGINS:
        logins[person.role] = {
            "member": person.member,
            "login": person.login,
            "password": person.password,
        }
    logins["operator"] = {"api_key": key}
    path: Path = settings.data_dir / LOGINS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(logins, out, indent=2)
    return logins


def _print_logins(famsim: App, logins: dict[str, Any], serving: bool) -> None:
    lines = [""]
    if serving:
        lines.append(f"Open {logins['url']} and sign in as")
    else:
        lines.append(f"`famsim demo` serves the web UI at {logins['url']}; sign in as")
    for person in DEMO_LOGINS:
        lines.append(f"  {person.role:<8} {person.member:<14} {person.login:<30} {person.password}")
    lines.append(f"  operator API key (console): {logins['operator']['api_key']}")
    lines.append(f"(also in {famsim.settings.data_dir / LOGINS_FILE})")
    render.console.print("\n".join(lines), soft_wrap=True, markup=False)


def _serve(
    settings: Settings,
    family_id: str,
    host: str,
    port: int,
    speed: float,
    seed: int,
    began: float,
) -> None:
    import uvicorn  # only when serving

    from famsim.entrypoints.http.app import create_api

    clock = VirtualClock(_resume_at(settings, family_id), speed) if speed > 0 else None
    famsim = bootstrap(settings, now=clock.now if clock is not None else None)
    stop = threading.Event()
    try:
        api = create_api(famsim, charging_process=False)  # the child would not share the clock
        if clock is not None:
            devices = devices_of(views.family_detail(famsim.uow(), family_id))
            gateway = submitting_gateway(api.state.services.committer.submit)
            TrafficSimulator(devices, gateway, clock, seed).run_in_background(stop)
            render.console.print(
                f"Traffic simulated at {speed:g}x (an hour every {3600 / speed:.0f} s)."
            )
        render.console.print(
            f"Serving on http://{host}:{port}/ (ready in {time.monotonic() - began:.1f} s)"
            " - Ctrl-C stops"
        )
        closer = famsim.billing().scheduled(60.0)  # the fast clock ends cycles sooner
        rebalancer = famsim.auto_rebalance().scheduled(60.0)
        closer.start()
        rebalancer.start()
        try:
            uvicorn.run(api, host=host, port=port, log_level="warning")
        finally:
            rebalancer.stop()
            closer.stop()
    finally:
        stop.set()
        famsim.close()


def _resume_at(settings: Settings, family_id: str) -> datetime:
    """Where the fast clock picks up: now, or later if a previous run went ahead of it."""
    famsim = bootstrap(settings)
    try:
        with famsim.uow() as uow:
            family = uow.families.get(family_id)
            last = max(
                (r.at for r in uow.ledgers.usage(family.id, family.cycle.number)), default=None
            )
    finally:
        famsim.close()
    now = datetime.now(UTC)
    return max(now, last) if last is not None else now
