"""Storage benchmark: loading and saving a family aggregate, against raw SQL doing the same.

The repository reads a family whole (8 tables) and writes back only the rows that
changed. The baseline, measured in the same run on the same database file, is the raw
sqlite3 module issuing the same SELECTs and the same one-row UPDATEs with no mapping: the
gap between the two is what the domain mapping and SQLAlchemy cost.

Run: `make bench` or `.venv/bin/python bench/storage.py [--rounds N]`. Prints figures only;
budgets are judged by people reading them, not asserted.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from famsim.adapters.catalog import load_catalog, sample_catalog_path
from famsim.adapters.sql.unit_of_work import SqlUnitOfWork
from famsim.bootstrap import bootstrap
from famsim.config import Settings
from famsim.demo import create_demo_family
from famsim.domain.allocation import Limit
from famsim.domain.units import HOME, Resource
from famsim.service.commands import LoadPlans

TABLES = (
    "families",
    "cycles",
    "members",
    "lines",
    "subscriptions",
    "allocations",
    "allocation_limits",
    "pools",
)


class _Clock:
    def today(self) -> date:
        return date(2026, 11, 22)


def _per_second(label: str, rounds: int, work: Callable[[int], None]) -> float:
    timings = []
    for i in range(rounds):
        start = time.perf_counter()
        work(i)
        timings.append(time.perf_counter() - start)
    mean = statistics.fmean(timings)
    p99 = sorted(timings)[int(len(timings) * 0.99) - 1]
    print(
        f"  {label:<44} {1 / mean:>9,.0f} ops/s  mean {mean * 1e3:6.3f} ms  p99 {p99 * 1e3:6.3f} ms"
    )
    return 1 / mean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=500)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "famsim.db"
        app = bootstrap(Settings(database_url=f"sqlite:///{db}", data_dir=Path(tmp)), _Clock())
        app.initialise()
        app.bus.handle(LoadPlans(tuple(load_catalog(sample_catalog_path()))))
        family_id = create_demo_family(app.bus)
        print(f"storage benchmark: demo family (4 members, 5 lines), SQLite WAL, {rounds} rounds")

        def repo_load(_: int) -> None:
            with SqlUnitOfWork(app.engine) as uow:
                uow.families.get(family_id)

        def repo_update(i: int) -> None:
            with SqlUnitOfWork(app.engine) as uow:
                family = uow.families.get(family_id, for_update=True)
                member = family.member("Chan Ka Ho")
                limit = Limit(quota=10**9 + i % 1000, hard_cap=2 * 10**9)
                allocation = family.allocation(member.id)
                limits = dict(allocation.limits) | {(Resource.DATA, HOME): limit}
                family.allocations[member.id] = type(allocation)(
                    limits=limits,
                    hotspot_quota=allocation.hotspot_quota,
                    exhaustion=allocation.exhaustion,
                    money_cap=allocation.money_cap,
                    roaming_allowed=allocation.roaming_allowed,
                )
                uow.commit()

        raw = sqlite3.connect(db, isolation_level=None)
        raw.execute("PRAGMA synchronous = FULL")

        def raw_load(_: int) -> None:
            raw.execute("BEGIN")
            for table in TABLES:
                column = "id" if table == "families" else "family_id"
                raw.execute(f"SELECT * FROM {table} WHERE {column} = ?", (family_id,)).fetchall()
            raw.execute("COMMIT")

        member_id = next(
            row[0] for row in raw.execute("SELECT id FROM members WHERE name = 'Chan Ka Ho'")
        )

        def raw_update(i: int) -> None:
            raw.execute("BEGIN IMMEDIATE")
            for table in TABLES:
                column = "id" if table == "families" else "family_id"
                raw.execute(f"SELECT * FROM {table} WHERE {column} = ?", (family_id,)).fetchall()
            raw.execute(
                "UPDATE allocation_limits SET quota = ? WHERE member_id = ? AND resource = 'data' "
                "AND zone = 'home'",
                (10**9 + i % 1000, member_id),
            )
            raw.execute("UPDATE families SET version = version + 1 WHERE id = ?", (family_id,))
            raw.execute("COMMIT")

        print("load a family")
        base = _per_second("raw sqlite3, same SELECTs (baseline)", rounds, raw_load)
        ours = _per_second("famsim repository -> Family aggregate", rounds, repo_load)
        print(f"  famsim at {ours / base:.0%} of the baseline rate")
        print("load for update, change one allocation, commit (fsync)")
        base = _per_second("raw sqlite3, same SELECTs + 2 UPDATEs (baseline)", rounds, raw_update)
        ours = _per_second("famsim unit of work, diff-based write", rounds, repo_update)
        print(f"  famsim at {ours / base:.0%} of the baseline rate")
        raw.close()
        app.close()


if __name__ == "__main__":
    main()
