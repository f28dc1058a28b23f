"""Closing billing cycles in worker processes, on SQLite and on PostgreSQL.

``App.billing(workers=2, parallel_from=10)`` shares the due families among two spawned
processes, each closing every other family read-first. Thirty families with usage
(``famsim.bench.billing.set_up``) are closed that way: each gets exactly one invoice,
numbered INV-2026-000001..000030 without a gap or a repeat, a second run issues nothing,
and the invoices equal, family by family, those of a second database holding the same
families and usage, closed in the calling process (``workers=1``).

``set_up`` gives the families fresh random ids on every run, so the two databases are
compared by family name ("Family k") and member name, never by id or invoice number.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from famsim.adapters.sql import schema as t
from famsim.bench.billing import CLOSE_AT, set_up
from famsim.bootstrap import App, _CloseInWorkers, bootstrap
from famsim.config import Settings
from famsim.domain.billing.invoice import Invoice
from famsim.domain.billing.rating import ChargeKind

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FAMILIES = 30
RECORDS = 3_000
WORKERS = 2
PARALLEL_FROM = 10

Comparable = tuple[Any, ...]


@pytest.fixture(params=["sqlite", "postgresql"])
def two_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty databases of one kind: the one closed by workers, and the reference."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/workers.db", f"sqlite:///{tmp_path}/reference.db"
        return
    workers: str = request.getfixturevalue("fresh_postgres_url")
    cluster = request.getfixturevalue("postgres_cluster")
    name = f"famsim_t_{uuid.uuid4().hex[:16]}"
    reference: str = cluster.create_database(name)
    try:
        yield workers, reference
    finally:
        cluster.drop_database(name)


def _app(url: str, directory: Path) -> App:
    directory.mkdir(parents=True, exist_ok=True)
    app = bootstrap(Settings(database_url=url, data_dir=directory))
    app.initialise()
    set_up(app, families=FAMILIES, records=RECORDS)
    return app


def _names(app: App) -> dict[str, str]:
    """Family id -> family name."""
    with app.uow() as uow:
        return {s.id: s.name for s in uow.families.summaries()}


def _stored_invoices(app: App) -> list[tuple[str, str, int]]:
    """(number, family id, cycle) of every invoice stored, by number."""
    i = t.invoices.c
    with app.engine.connect() as connection:
        rows = connection.execute(
            select(i.number, i.family_id, i.cycle_number).order_by(i.number)
        ).all()
    return [(row.number, row.family_id, row.cycle_number) for row in rows]


def _comparable(invoice: Invoice, names: dict[str, str]) -> Comparable:
    """What an invoice says, with family and members named instead of identified."""

    def who(member_id: str | None) -> str | None:
        return None if member_id is None else invoice.member_names.get(member_id, "?")

    return (
        names[invoice.family_id],
        invoice.cycle_number,
        invoice.period_start,
        invoice.period_end,
        invoice.plan_code,
        invoice.currency,
        invoice.issued_at,
        invoice.split_rule,
        invoice.subtotal,
        invoice.tax,
        invoice.total,
        tuple(
            (line.kind, who(line.member_id), line.minor, tuple(sorted(line.detail.items())))
            for line in invoice.lines
        ),
        tuple((who(member), minor) for member, minor in invoice.shares),
    )


def _by_name(invoices: Sequence[Invoice], names: dict[str, str]) -> dict[str, Comparable]:
    found: dict[str, Comparable] = {}
    for invoice in invoices:
        name = names[invoice.family_id]
        assert name not in found, f"{name} was invoiced twice"
        found[name] = _comparable(invoice, names)
    return found


class _CountingFanOut:
    """The service's fan-out, counted (it runs in this process; the closing in workers)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[int] = []

    def __call__(self, families: Sequence[str], when: datetime, actor: str) -> list[Invoice]:
        self.calls.append(len(families))
        result: list[Invoice] = self.inner(families, when, actor)
        return result


def test_worker_processes_close_every_family_once_as_one_process_would(
    two_databases: tuple[str, str], tmp_path: Path
) -> None:
    workers_url, reference_url = two_databases
    app = _app(workers_url, tmp_path / "workers")
    reference = _app(reference_url, tmp_path / "reference")
    try:
        service = app.billing(workers=WORKERS, parallel_from=PARALLEL_FROM)
        assert isinstance(service._fan_out, _CloseInWorkers)
        fan_out = _CountingFanOut(service._fan_out)
        service._fan_out = fan_out

        started = time.perf_counter()
        issued = service.close_due(CLOSE_AT)
        seconds = time.perf_counter() - started
        print(f"\n{FAMILIES} families closed by {WORKERS} workers in {seconds:.2f} s")
        assert fan_out.calls == [FAMILIES]  # handed to the workers, all at once

        names = _names(app)
        assert sorted(names.values()) == sorted(f"Family {k}" for k in range(FAMILIES))
        expected_numbers = [f"INV-2026-{n:06d}" for n in range(1, FAMILIES + 1)]
        # what close_due returned: one invoice a family, gap-free numbers
        assert sorted(i.number for i in issued) == expected_numbers
        assert sorted(i.family_id for i in issued) == sorted(names)
        assert {i.cycle_number for i in issued} == {1}
        # what was stored: the same
        stored = _stored_invoices(app)
        assert [number for number, _, _ in stored] == expected_numbers
        assert sorted(family for _, family, _ in stored) == sorted(names)
        assert sorted((i.number, i.family_id, i.cycle_number) for i in issued) == stored
        # each family's stored invoice is the one returned, and its next cycle is open
        returned = {i.family_id: i for i in issued}
        for family_id in names:
            assert service.invoices(family_id) == [returned[family_id]]
        with app.uow() as uow:
            assert {f.cycle.number for f in uow.families.get_many(list(names))} == {2}

        # closing again issues nothing (through the workers again)
        assert service.close_due(CLOSE_AT) == []
        assert fan_out.calls == [FAMILIES, FAMILIES]
        assert _stored_invoices(app) == stored

        # the same families and usage closed in one process give the same invoices
        alone = reference.billing(workers=1)
        assert alone._fan_out is None
        expected = alone.close_due(CLOSE_AT)
        reference_names = _names(reference)
        assert sorted(i.number for i in expected) == expected_numbers
        got = _by_name(issued, names)
        want = _by_name(expected, reference_names)
        assert got.keys() == want.keys() == set(names.values())
        for name in sorted(want):
            assert got[name] == want[name], name
        # and the usage was billed: most families have overage lines
        assert (
            sum(1 for i in issued if any(line.kind is ChargeKind.OVERAGE for line in i.lines)) > 0
        )
    finally:
        app.close()
        reference.close()
