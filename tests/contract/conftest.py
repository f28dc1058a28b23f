"""Fixtures for the storage contract: one suite, every implementation of the storage ports.

``uow_factory`` is parametrized over the implementations:

  memory       MemoryUnitOfWork over one MemoryStore
  sqlite       SqlUnitOfWork over a migrated SQLite file (famsim.bootstrap)
  postgresql   SqlUnitOfWork over a fresh, migrated PostgreSQL database (famsim.bootstrap)

Each value is a zero-argument callable returning a fresh unit of work on the same store or
database, with the shipped sample plans already saved and committed. It also tells the
tests which backend it is (``.backend``), for the few places where the contract is reached
differently (SQLite serialises writers with BEGIN IMMEDIATE instead of row locks).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from famsim.adapters.memory import MemoryStore, MemoryUnitOfWork
from famsim.bootstrap import bootstrap
from famsim.config import Settings
from famsim.domain.plan import Plan
from famsim.service.messagebus import MessageBus
from famsim.service.ports import UnitOfWork

BACKENDS = ("memory", "sqlite", "postgresql")
_URL_FIXTURES = {"sqlite": "sqlite_url", "postgresql": "fresh_postgres_url"}


@dataclass
class UowFactory:
    """A zero-argument callable making units of work on one store; knows its backend."""

    backend: str
    make: Callable[[], UnitOfWork]

    def __call__(self) -> UnitOfWork:
        return self.make()


@pytest.fixture(params=BACKENDS)
def uow_factory(
    request: pytest.FixtureRequest, tmp_path: Path, clock: Any, sample_plans: list[Plan]
) -> Iterator[UowFactory]:
    backend: str = request.param
    if backend == "memory":
        store = MemoryStore()
        factory = UowFactory(backend, lambda: MemoryUnitOfWork(store))
        _save_plans(factory, sample_plans)
        yield factory
        return
    url: str = request.getfixturevalue(_URL_FIXTURES[backend])
    app = bootstrap(Settings(database_url=url, data_dir=tmp_path), clock)
    try:
        app.initialise()
        factory = UowFactory(backend, app.uow)
        _save_plans(factory, sample_plans)
        yield factory
    finally:
        app.close()  # dispose the pool before the database is dropped


def _save_plans(factory: UowFactory, plans: list[Plan]) -> None:
    with factory() as uow:
        for plan in plans:
            uow.plans.save(plan)
        uow.commit()


@pytest.fixture
def bus(uow_factory: UowFactory, clock: Any) -> MessageBus:
    """The service's message bus over the backend under test."""
    return MessageBus(uow_factory, clock)


@pytest.fixture
def hk_plan(sample_plans: list[Plan]) -> Plan:
    return next(plan for plan in sample_plans if plan.code == "hk-family-5g-100")


@pytest.fixture
def next_plan(uow_factory: Any, hk_plan: Plan) -> Plan:
    """A second HKD plan in the catalog, for a pending plan change."""
    plan = dataclasses.replace(hk_plan, code="hk-family-5g-200", name="Family Share 5G 200GB")
    with uow_factory() as uow:
        uow.plans.save(plan)
        uow.commit()
    return plan
