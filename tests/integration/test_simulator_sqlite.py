"""The traffic simulator against famsim on SQLite: the demo family and a simulated one, in
virtual time, in the foreground and in a background thread (as `famsim demo` runs it)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from famsim.bootstrap import App, bootstrap
from famsim.config import Settings
from famsim.demo import create_demo_family
from famsim.domain.plan import Plan
from famsim.service import views
from famsim.service.charging import ChargingService
from famsim.service.commands import LoadPlans
from famsim.service.simulator import (
    TrafficSimulator,
    VirtualClock,
    devices_of,
    service_gateway,
    simulated_devices,
    simulated_families,
)

pytestmark = pytest.mark.integration

START = datetime(2026, 2, 2, 0, 0, tzinfo=UTC)  # Monday 08:00 in Hong Kong


def app_on(sqlite_url: str, tmp_path: Path, clock: VirtualClock, plans: list[Plan]) -> App:
    app = bootstrap(Settings(database_url=sqlite_url, data_dir=tmp_path), clock)
    app.initialise()
    app.bus.handle(LoadPlans(tuple(plans)))
    return app


def pools(app: App, family_id: str) -> dict[tuple[str, str], int]:
    detail = views.family_detail(app.uow(), family_id)
    return {(p["resource"], p["zone"]): p["used"] for p in detail["cycle"]["pools"]}


def test_a_day_of_the_demo_family_and_a_simulated_one_on_sqlite(
    sqlite_url: str, tmp_path: Path, sample_plans: list[Plan]
) -> None:
    clock = VirtualClock(START)
    app = app_on(sqlite_url, tmp_path, clock, sample_plans)
    try:
        demo = create_demo_family(app.bus)
        ids = simulated_families(app.bus, app.uow, 1)
        devices = simulated_devices(app.uow, ids)
        devices += devices_of(views.family_detail(app.uow(), demo))
        charging = ChargingService(app.uow, now=clock.now)
        simulator = TrafficSimulator(
            devices, service_gateway(charging), clock, 7, end=START + timedelta(days=1)
        )
        stats = simulator.run()

        assert stats.requests > 100
        assert stats.answers["success"] == stats.requests
        for family_id in (demo, ids[0]):
            used = pools(app, family_id)
            assert used["data", "home"] > 0
            assert used["data", "greater-china"] > 0  # the traveller
            assert used["voice", "home"] > 0
            with app.uow() as uow:
                family = uow.families.get(family_id)
                records = uow.ledgers.usage(family_id, family.cycle.number)
            assert all(START <= r.at < START + timedelta(days=1) for r in records)
            assert any(r.tethered for r in records)
        total = sum(
            used
            for family_id in (demo, ids[0])
            for (resource, _), used in pools(app, family_id).items()
            if resource == "data"
        )
        assert total == stats.used["data"]
    finally:
        app.close()


def test_a_background_run_at_speed_charges_the_demo_family(
    sqlite_url: str, tmp_path: Path, sample_plans: list[Plan]
) -> None:
    # Two simulated hours of a Monday evening in Hong Kong, in about half a second.
    evening = datetime(2026, 2, 2, 11, 0, tzinfo=UTC)
    clock = VirtualClock(evening, speed=4 * 3600)
    app = app_on(sqlite_url, tmp_path, clock, sample_plans)
    try:
        demo = create_demo_family(app.bus)
        devices = devices_of(views.family_detail(app.uow(), demo))
        simulator = TrafficSimulator(
            devices,
            service_gateway(ChargingService(app.uow, now=clock.now)),
            clock,
            1,
            start=evening,
            end=evening + timedelta(hours=2),
        )
        clock.restart()
        stop = threading.Event()
        thread = simulator.run_in_background(stop)
        thread.join(timeout=30)
        assert not thread.is_alive()
        assert simulator.error is None
        assert simulator.position == evening + timedelta(hours=2)
        assert simulator.stats.requests > 0
        used = pools(app, demo)
        assert used["data", "home"] + used["data", "greater-china"] == simulator.stats.used["data"]
        assert used["data", "home"] > 0
    finally:
        app.close()
