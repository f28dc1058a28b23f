"""Billing benchmark: ``famsim bench billing`` / ``.venv/bin/python bench/billing.py``.

What it measures: closing one billing cycle of ``--families`` families (default 10,000)
that used ``--records`` usage records (default 1,000,000) into invoices, with
``BillingService.close_due`` as famsim runs it: batches of 200 families read and rated in
a read-only snapshot, then, under the lock, checked unchanged, numbered, stored with the
members' shares, the next cycles opened, audited - one transaction a batch - and, from
2,000 families due, shared among worker processes (``--workers``, default
FAMSIM_BILLING_WORKERS: one a CPU; ``--workers 1`` for a single process). Target on the
2-core machine: <= 10 s for the default size.

Next to it, in the same run and on the same database, the raw SQL baseline: one
aggregate over the same usage records (SUM of units and of overage units GROUP BY
family, member, resource and zone), fetched whole on the DB-API connection. The ratio
famsim / raw shows what closing costs over merely summing what was used.

The set-up (not timed): the sample plan ``hk-family-5g-100``; one template family built
by the domain and stored by famsim's repository (owner, two adults and a child, a phone
line each and a watch on the owner's line, every SIM in service from the cycle start;
"Adult 1" has a 2 GB home data quota and no share of the roaming pool, so usage beyond
it is overage); the other families are bulk-inserted copies of its rows (fresh ids and
SIM identities). The usage records are generated per family, pool first while the pool
and the member's quota have room, overage after, and the ledger's counters (family pool,
member pool, member overage) are written as exactly the sums of those records: rating
reads the counters, the records are the history. A sample family and its ledger are
loaded through famsim's repositories before the timed run.

Afterwards it checks that every family got its invoice and that a sample invoice's
overage and roaming lines equal the overage units of its records priced by hand.

Run: ``famsim bench billing`` or ``.venv/bin/python bench/billing.py`` (``--help``); with
``--postgres-url`` (or ``FAMSIM_BENCH_POSTGRES_URL``) also on a scratch database of that
PostgreSQL server. Prints figures only; the target is judged by people, not asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, func, insert, select

from famsim.adapters.sql import schema as t
from famsim.adapters.sql.bulk import BulkStatement, compile_bulk
from famsim.bench.charging import scratch_postgres
from famsim.bootstrap import App, bootstrap
from famsim.config import Settings
from famsim.domain.allocation import Allocation, Limit
from famsim.domain.billing.rating import ChargeKind
from famsim.domain.family import Family
from famsim.domain.identifiers import Iccid, Imsi, Msisdn
from famsim.domain.ids import SubscriptionId, new_id
from famsim.domain.lines import SimType, Subscription
from famsim.domain.members import Role
from famsim.domain.plan import DeviceKind, Plan
from famsim.domain.units import HOME, Resource, Zone
from famsim.service.billing import PARALLEL_FROM
from famsim.service.commands import LoadPlans

PLAN_CODE = "hk-family-5g-100"
TARGET_SECONDS = 10.0
TARGET_FAMILIES = 10_000
TARGET_RECORDS = 1_000_000
CYCLE_START = date(2026, 11, 1)
CLOSE_AT = datetime(2026, 12, 1, 0, 30, tzinfo=ZoneInfo("Asia/Hong_Kong"))
"""Half an hour into the family's first day after the cycle: every family is due."""
ROAMING = Zone("greater-china")
GB = 10**9
MB = 10**6
QUOTA = 2 * GB
"""Adult 1's home data quota: most families' Adult 1 goes past it into overage."""
MAX_FAMILIES = 200_000  # 4 lines each: the +852 92xxxxxx numbers last for 800,000 lines
FAMILIES_PER_CHUNK = 1_000
LOAD_CACHE_KIB = 512 * 1024
SEED = 20261101

MEMBERS = ("Owner", "Adult 1", "Adult 2", "Child")
MEMBER_WEIGHTS = (30, 30, 25, 15)
SERVICES: tuple[tuple[Resource, Zone], ...] = (
    (Resource.DATA, HOME),
    (Resource.VOICE, HOME),
    (Resource.SMS, HOME),
    (Resource.DATA, ROAMING),
    (Resource.VOICE, ROAMING),
    (Resource.SMS, ROAMING),
)
SERVICE_WEIGHTS = (60, 20, 8, 7, 3, 2)
ROAMING_OFF = {ROAMING: HOME}  # a child may not roam: its usage stays at home
CYCLE_MINUTES = 30 * 24 * 60


def _units(rng: random.Random, resource: Resource, zone: Zone) -> int:
    """One record's units: a data session, a call or a few messages."""
    if resource is Resource.DATA:
        return rng.randint(MB, (300 if zone == HOME else 100) * MB)
    if resource is Resource.VOICE:
        return rng.randint(10, 600)
    return rng.randint(1, 3)


# ----------------------------------------------------------------------------- setup
def _msisdn(line: int) -> str:
    return f"+8529{2_000_000 + line:07d}"


def _iccid(sim: int) -> str:
    return Iccid.from_body(f"8985201{sim:012d}").digits


def _imsi(sim: int) -> str:
    return f"45401{sim:010d}"


def _template(app: App, plan: Plan) -> Family:
    """Family 0, built by the domain and stored by famsim's repository."""
    family = Family.create(name="Family 0", plan=plan, owner_name=MEMBERS[0], today=CYCLE_START)
    members = [family.owner]
    for name in MEMBERS[1:]:
        role = Role.CHILD if name == "Child" else Role.ADULT
        guardian = family.owner_id if role is Role.CHILD else None
        members.append(
            family.add_member(plan, name=name, role=role, today=CYCLE_START, guardian_id=guardian)
        )
    sim = 0
    for line, member in enumerate(members):
        added = family.add_line(
            plan,
            member_id=member.id,
            msisdn=Msisdn.parse(_msisdn(line)),
            data_only=False,
            primary=_subscription(sim, DeviceKind.PHONE, primary=True),
            today=CYCLE_START,
        )
        sim += 1
        if member.role is Role.OWNER:
            family.add_companion(
                added.id, _subscription(sim, DeviceKind.WATCH, primary=False), CYCLE_START
            )
            sim += 1
    family.set_allocation(
        members[1].id,
        Allocation(
            limits={(Resource.DATA, HOME): Limit(quota=QUOTA), (Resource.DATA, ROAMING): Limit(0)}
        ),
        [plan],
    )
    with app.uow() as uow:
        uow.families.add(family)
        uow.commit()
    return family


def _subscription(sim: int, kind: DeviceKind, *, primary: bool) -> Subscription:
    return Subscription(
        id=SubscriptionId(new_id()),
        iccid=Iccid.parse(_iccid(sim)),
        imsi=Imsi.parse(_imsi(sim)),
        sim_type=SimType.ESIM,
        device_kind=kind,
        primary=primary,
    )


_FAMILY_TABLES: tuple[Table, ...] = (
    t.families,
    t.cycles,
    t.members,
    t.lines,
    t.subscriptions,
    t.allocations,
    t.allocation_limits,
    t.pools,
)
"""The rows of a family aggregate, in foreign-key order."""


def _template_rows(connection: Connection, family_id: str) -> dict[str, list[dict[str, Any]]]:
    rows = {}
    for table in _FAMILY_TABLES:
        key = table.c.id if table is t.families else table.c.family_id
        query = select(table).where(key == family_id)
        if "position" in table.c:
            query = query.order_by(table.c.position)  # an owner before the child it guards
        rows[table.name] = [dict(r) for r in connection.execute(query).mappings()]
    return rows


@dataclass
class Roster:
    """One family as the usage generator needs it."""

    family_id: str
    members: list[str]  # ids, in MEMBERS order
    sims: dict[str, list[str]]  # member id -> subscription ids
    quota: dict[tuple[str, Resource, Zone], int] = field(default_factory=dict)


class Cloner:
    """Copies of the template family's rows with fresh ids and SIM identities."""

    def __init__(self, template: Family, rows: dict[str, list[dict[str, Any]]]) -> None:
        self.template = template
        self.rows = rows
        self.lines = len(rows[t.lines.name])
        self.sims = len(rows[t.subscriptions.name])
        self.ids = [template.id, *template.members, *template.lines]
        self.ids += [s.id for line in template.lines.values() for s in line.subscriptions]
        self.numbers = [line.msisdn.e164 for line in template.lines.values()]
        subscriptions = [s for line in template.lines.values() for s in line.subscriptions]
        self.iccids = [s.iccid.digits for s in subscriptions]
        self.imsis = [s.imsi.digits for s in subscriptions]

    def mapping(self, k: int) -> dict[Any, Any]:
        """Template value -> the k-th family's value, for every id and identifier."""
        mapped: dict[Any, Any] = {old: new_id() for old in self.ids}
        for j, number in enumerate(self.numbers):
            mapped[number] = _msisdn(k * self.lines + j)
        for j, (iccid, imsi) in enumerate(zip(self.iccids, self.imsis, strict=True)):
            mapped[iccid] = _iccid(k * self.sims + j)
            mapped[imsi] = _imsi(k * self.sims + j)
        return mapped

    def clone(self, k: int, into: dict[str, list[dict[str, Any]]]) -> Roster:
        mapped = self.mapping(k)
        for table, rows in self.rows.items():
            for row in rows:
                copy = {c: mapped.get(v, v) if isinstance(v, str) else v for c, v in row.items()}
                if table == t.families.name:
                    copy["name"] = f"Family {k}"
                into[table].append(copy)
        return self.roster(mapped)

    def roster(self, mapped: dict[Any, Any]) -> Roster:
        family = self.template
        members = [mapped[m.id] for m in family.members.values()]
        sims: dict[str, list[str]] = {m: [] for m in members}
        for line in family.lines.values():
            for sub in line.subscriptions:
                sims[mapped[line.member_id]].append(mapped[sub.id])
        quota = {
            (mapped[member_id], resource, zone): limit.quota
            for member_id, allocation in family.allocations.items()
            for (resource, zone), limit in allocation.limits.items()
            if limit.quota is not None
        }
        return Roster(mapped[family.id], members, sims, quota)


def _usage(
    roster: Roster, count: int, plan: Plan, rng: random.Random, start: datetime, number: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """*count* usage records of one family's cycle and the ledger counters they add up to.

    Units come from the pool while the pool and the member's quota have room, the rest is
    overage: the split the charging engine books (``FamilyLedger.commit``).
    """
    fid = roster.family_id
    who = rng.choices(range(len(roster.members)), MEMBER_WEIGHTS, k=count)
    what = rng.choices(SERVICES, SERVICE_WEIGHTS, k=count)
    when = sorted(rng.randrange(CYCLE_MINUTES) for _ in range(count))
    pool: dict[tuple[Resource, Zone], int] = {}
    member_pool: dict[tuple[str, Resource, Zone], int] = {}
    overage: dict[tuple[str, Resource, Zone], int] = {}
    records = []
    for i in range(count):
        member = roster.members[who[i]]
        resource, zone = what[i]
        if MEMBERS[who[i]] == "Child":
            zone = ROAMING_OFF.get(zone, zone)
        units = _units(rng, resource, zone)
        key = (member, resource, zone)
        total = plan.allowance(resource, zone)
        room = None if total is None else total - pool.get((resource, zone), 0)
        quota = roster.quota.get(key)
        if quota is not None:
            left = quota - member_pool.get(key, 0)
            room = left if room is None else min(room, left)
        in_pool = units if room is None else max(0, min(units, room))
        if in_pool:
            pool[(resource, zone)] = pool.get((resource, zone), 0) + in_pool
            member_pool[key] = member_pool.get(key, 0) + in_pool
        if units - in_pool:
            overage[key] = overage.get(key, 0) + units - in_pool
        sims = roster.sims[member]
        records.append(
            {
                "family_id": fid,
                "cycle_number": number,
                "session_id": f"{fid[:8]}-{i}",
                "member_id": member,
                "subscription_id": sims[i % len(sims)],
                "resource": resource.value,
                "zone": zone,
                "tethered": False,
                "units": units,
                "from_pool": in_pool,
                "from_overage": units - in_pool,
                "overshoot": 0,
                "at": start + timedelta(minutes=when[i]),
                "free": 0,
            }
        )

    def counter(scope: str, kind: str, resource: Resource, zone: Zone, used: int) -> dict[str, Any]:
        return {
            "family_id": fid,
            "cycle_number": number,
            "scope": scope,
            "kind": kind,
            "resource": resource.value,
            "zone": zone,
            "used": used,
            "reserved": 0,
        }

    counters = [counter("", "pool", r, z, used) for (r, z), used in pool.items()]
    counters += [counter(m, "pool", r, z, used) for (m, r, z), used in member_pool.items()]
    counters += [counter(m, "overage", r, z, used) for (m, r, z), used in overage.items()]
    return records, counters


class Loader:
    """Bulk inserts on one connection: compiled once, executemany (COPY on PostgreSQL)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.statements: dict[str, BulkStatement] = {}
        self.record_columns = [c.name for c in t.usage_records.columns if c.name != "id"]

    def insert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if table.name not in self.statements:
            columns = [c.name for c in table.columns if c.name in rows[0]]
            self.statements[table.name] = compile_bulk(
                insert(table), self.connection.dialect, columns
            )
        self.statements[table.name].execute(self.connection, rows)

    def records(self, rows: list[dict[str, Any]]) -> None:
        if self.connection.dialect.name != "postgresql":
            self.insert(t.usage_records, rows)
            return
        cursor = self.connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        names = self.record_columns
        with cursor.copy(f"COPY usage_records ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[n] for n in names])
        cursor.close()


@contextmanager
def _loading(connection: Connection) -> Iterator[None]:
    """On SQLite, for the bulk load only: a page cache that holds the usage index (random
    family ids land all over it) and no fsync (scratch data); then famsim's own settings
    again (``synchronous=FULL``, the default cache) and the WAL checkpointed, so the timed
    run starts from a settled file."""
    if connection.dialect.name != "sqlite":
        yield
        return
    driver: Any = connection.connection.driver_connection  # autocommit outside BEGIN
    default = driver.execute("PRAGMA cache_size").fetchone()[0]
    driver.execute(f"PRAGMA cache_size = {-LOAD_CACHE_KIB}")
    driver.execute("PRAGMA synchronous = OFF")
    try:
        yield
    finally:
        driver.execute(f"PRAGMA cache_size = {int(default)}")
        driver.execute("PRAGMA synchronous = FULL")
        driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@dataclass
class Setup:
    plan: Plan
    families: list[str]
    records: int
    lines: int
    sims: int
    seconds: float


def set_up(app: App, families: int, records: int) -> Setup:
    started = time.perf_counter()
    app.bus.handle(LoadPlans(tuple(app.read_catalog())))
    with app.uow() as uow:
        plan = uow.plans.get(PLAN_CODE)
    template = _template(app, plan)
    with app.engine.connect() as connection:
        cloner = Cloner(template, _template_rows(connection, template.id))
    zone = ZoneInfo(template.time_zone)
    start = datetime.combine(CYCLE_START, clock_time(), zone).astimezone(UTC)
    number = template.cycle.number
    rng = random.Random(SEED)  # noqa: S311 (reproducible usage, not secrets)
    ids: list[str] = []
    with app.engine.connect() as connection, _loading(connection):
        loader = Loader(connection)
        for first in range(0, families, FAMILIES_PER_CHUNK):
            rows: dict[str, list[dict[str, Any]]] = {table.name: [] for table in _FAMILY_TABLES}
            usage: list[dict[str, Any]] = []
            counters: list[dict[str, Any]] = []
            for k in range(first, min(families, first + FAMILIES_PER_CHUNK)):
                if k == 0:
                    roster = cloner.roster({i: i for i in cloner.ids})  # stored already
                else:
                    roster = cloner.clone(k, rows)
                ids.append(roster.family_id)
                count = records // families + (1 if k < records % families else 0)
                made, adds_up = _usage(roster, count, plan, rng, start, number)
                usage += made
                counters += adds_up
            with connection.begin():
                for table in _FAMILY_TABLES:
                    loader.insert(table, rows[table.name])
                loader.insert(t.charging_counters, counters)
                loader.records(usage)
    return Setup(
        plan,
        ids,
        records,
        cloner.lines,
        cloner.sims,
        time.perf_counter() - started,
    )


# ---------------------------------------------------------------------------- checks
def _record_sums(connection: Connection, family_id: str) -> dict[tuple[str, str, str], int]:
    """(member, resource, zone) -> overage units of the family's records, by SQL."""
    u = t.usage_records.c
    query = (
        select(u.member_id, u.resource, u.zone, func.sum(u.from_overage))
        .where(u.family_id == family_id)
        .group_by(u.member_id, u.resource, u.zone)
    )
    return {(m, r, z): int(units) for m, r, z, units in connection.execute(query) if units}


def check_loads(app: App, setup: Setup) -> str:
    """A sample family and its ledger, loaded by famsim's repositories, as generated."""
    sample = setup.families[len(setup.families) // 2]
    with app.uow() as uow:
        family = uow.families.get(sample)
        ledger = uow.ledgers.get(family.id, family.cycle.number, setup.plan)
    with app.engine.connect() as connection:
        expected = _record_sums(connection, sample)
    found = {
        (member_id, resource.value, zone): counter.used
        for member_id, member in ledger.members.items()
        for (resource, zone), counter in member.overage.items()
        if counter.used
    }
    sims = len(family.subscriptions())
    if found != expected or len(family.members) != len(MEMBERS) or sims != setup.sims:
        raise SystemExit(
            f"set-up check failed for family {sample}: ledger overage {found} "
            f"against the records' {expected}; {len(family.members)} members, {sims} SIMs"
        )
    return (
        f"{family.name} loads through famsim's repositories ({len(family.members)} members, "
        f"{len(family.lines)} lines, {sims} SIMs; ledger overage = its records' sums)"
    )


def _hand_priced(plan: Plan, units: int, resource: str, zone: str) -> int:
    """The overage price of *units*: the plan's price per block, rounded up once."""
    rate = plan.overage[(Resource(resource), Zone(zone))]
    return -(-units * rate.price.minor // rate.per)


def check_invoices(app: App, setup: Setup, issued: int) -> tuple[bool, str]:
    """Every family invoiced once; a sample invoice's overage lines priced by hand."""
    with app.engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(t.invoices)).scalar_one()
        u = t.usage_records.c
        sample = connection.execute(
            select(u.family_id)
            .where(u.from_overage > 0)
            .group_by(u.family_id)
            .order_by(func.count(func.distinct(u.zone)).desc(), u.family_id)
            .limit(1)
        ).scalar()
        expected: dict[tuple[str, str, str], int] = {}
        if sample is not None:
            expected = _record_sums(connection, sample)
    wanted = len(setup.families)
    counted = f"{stored:,} invoices stored, {issued:,} issued for {wanted:,} families"
    if sample is None:
        return stored == issued == wanted, f"{counted}; no record has overage to check"
    [invoice] = app.billing().invoices(sample)
    priced = {key: _hand_priced(setup.plan, units, *key[1:]) for key, units in expected.items()}
    lines = {
        (line.member_id or "", str(line.detail["resource"]), str(line.detail["zone"])): line.minor
        for line in invoice.lines
        if line.kind in (ChargeKind.OVERAGE, ChargeKind.ROAMING)
    }
    units = {
        (line.member_id or "", str(line.detail["resource"]), str(line.detail["zone"])): int(
            line.detail["units"]
        )
        for line in invoice.lines
        if line.kind in (ChargeKind.OVERAGE, ChargeKind.ROAMING)
    }
    ok = stored == issued == wanted and lines == priced and units == expected
    total = sum(lines.values())
    verdict = "ok" if ok else f"MISMATCH (invoice {lines} {units}, by hand {priced} {expected})"
    return ok, (
        f"{counted}; sample invoice {invoice.number}: {len(lines)} overage/roaming lines, "
        f"{total / 100:,.2f} {invoice.currency}, against its records' overage priced by "
        f"hand: {verdict}"
    )


# ------------------------------------------------------------------------- the runs
@dataclass
class Figures:
    label: str
    families: int
    records: int
    seconds: float
    invoices: int = 0

    def row(self) -> str:
        rate = f"{self.invoices / self.seconds:,.0f}" if self.invoices and self.seconds else "-"
        return (
            f"| {self.label} | {self.families:,} | {self.records:,} | "
            f"{self.seconds:,.3f} | {rate} |"
        )


def _target(families: int, records: int, ours: Figures) -> str:
    wanted = f"target <= {TARGET_SECONDS:.0f} s for {TARGET_FAMILIES:,} families and "
    wanted += f"{TARGET_RECORDS:,} records"
    if (families, records) == (TARGET_FAMILIES, TARGET_RECORDS):
        met = "met" if ours.seconds <= TARGET_SECONDS else "NOT met"
        return f"{wanted}: {met} ({ours.seconds:,.2f} s)"
    projected = ours.seconds * TARGET_FAMILIES / families
    return (
        f"{wanted}: not this run's size (at its rate, {TARGET_FAMILIES:,} take {projected:,.1f} s)"
    )


def raw_aggregate(execute: Callable[[str, tuple[Any, ...]], list[Any]], number: int) -> int:
    """The baseline: the usage of the cycle summed per family, member, resource and zone."""
    rows = execute(
        "SELECT family_id, member_id, resource, zone, SUM(units), SUM(from_overage) "
        "FROM usage_records WHERE cycle_number = {} "
        "GROUP BY family_id, member_id, resource, zone",
        (number,),
    )
    return len(rows)


def _sqlite_execute(path: str) -> Callable[[str, tuple[Any, ...]], list[Any]]:
    def execute(sql: str, params: tuple[Any, ...]) -> list[Any]:
        conn = sqlite3.connect(path)
        try:
            return conn.execute(sql.format("?"), params).fetchall()
        finally:
            conn.close()

    return execute


def _postgres_execute(url: str) -> Callable[[str, tuple[Any, ...]], list[Any]]:
    def execute(sql: str, params: tuple[Any, ...]) -> list[Any]:
        import psycopg  # only when PostgreSQL is benchmarked

        with psycopg.connect(url) as conn:
            return conn.execute(sql.format("%s"), params).fetchall()

    return execute


def run(
    database: str,
    url: str,
    directory: Path,
    families: int,
    records: int,
    execute: Callable[[str, tuple[Any, ...]], list[Any]],
    workers: int = 0,
) -> bool:
    app = bootstrap(Settings(database_url=url, data_dir=directory))
    try:
        app.initialise()
        print(
            f"billing benchmark on {database}: plan {PLAN_CODE}, cycle from {CYCLE_START}, "
            f"closed at {CLOSE_AT.isoformat()}, {os.cpu_count()} CPUs",
            flush=True,
        )
        setup = set_up(app, families, records)
        print(
            f"setup: {families:,} families of {len(MEMBERS)} members, {setup.lines} lines and "
            f"{setup.sims} SIMs (1 by the domain, the others bulk copies), {records:,} usage "
            f"records and their ledger counters in {setup.seconds:.1f} s",
            flush=True,
        )
        print(f"  {check_loads(app, setup)}", flush=True)

        started = time.perf_counter()
        groups = raw_aggregate(execute, 1)
        raw = Figures(
            f"raw SQL aggregate ({groups:,} groups, baseline)",
            families,
            records,
            time.perf_counter() - started,
        )
        count = workers or app.settings.effective_billing_workers
        service = app.billing(workers=count)
        started = time.perf_counter()
        issued = service.close_due(CLOSE_AT)
        fanned = count > 1 and families >= PARALLEL_FROM
        how = f"{count} worker processes" if fanned else "1 process"
        ours = Figures(
            f"famsim BillingService.close_due ({how})",
            families,
            records,
            time.perf_counter() - started,
            len(issued),
        )
        print()
        print("| run | families | records | seconds | invoices/s |")
        print("|---|---|---|---|---|")
        print(raw.row())
        print(ours.row())
        ratio = ours.seconds / raw.seconds if raw.seconds else 0.0
        print(f"\nfamsim / raw: {ratio:,.1f}x the raw aggregate's time")
        print(_target(families, records, ours))
        ok, line = check_invoices(app, setup, len(issued))
        print(f"check: {line}", flush=True)
        return ok
    finally:
        app.close()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--families", type=int, default=TARGET_FAMILIES, help="families to invoice")
    p.add_argument("--records", type=int, default=TARGET_RECORDS, help="usage records in the cycle")
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="processes closing cycles (default 0: FAMSIM_BILLING_WORKERS, one a CPU; "
        f"famsim fans out from {PARALLEL_FROM:,} families due)",
    )
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("FAMSIM_BENCH_POSTGRES_URL", ""),
        help="SQLAlchemy URL of a PostgreSQL server (a role that may create databases); "
        "default $FAMSIM_BENCH_POSTGRES_URL; without it PostgreSQL is skipped",
    )
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if not 1 <= args.families <= MAX_FAMILIES:
        raise SystemExit(f"--families must be between 1 and {MAX_FAMILIES:,}")
    if args.records < 0:
        raise SystemExit("--records cannot be negative")
    ok = True
    with tempfile.TemporaryDirectory(prefix="famsim-bench-billing-") as tmp:
        directory = Path(tmp)
        db = directory / "famsim.db"
        ok &= run(
            "SQLite (WAL, synchronous=FULL)",
            f"sqlite:///{db}",
            directory,
            args.families,
            args.records,
            _sqlite_execute(str(db)),
            args.workers,
        )
        if args.postgres_url:
            print()
            with scratch_postgres(args.postgres_url) as (engine_url, raw_url):
                ok &= run(
                    "PostgreSQL",
                    engine_url,
                    directory,
                    args.families,
                    args.records,
                    _postgres_execute(raw_url),
                    args.workers,
                )
        else:
            print("\nPostgreSQL: skipped (give --postgres-url or FAMSIM_BENCH_POSTGRES_URL)")
    if not ok:
        raise SystemExit("the correctness check failed (see above)")


if __name__ == "__main__":
    main()
