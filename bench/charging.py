"""Charging benchmark: UPDATE requests through ChargingService, against raw SQL doing the same.

Each UPDATE reports the units of the last grant as used and gets a new grant, in one unit
of work: find the family by IMSI, load and lock it, load its ledger, check the stored
answers (retransmissions), commit the used units, grant again, write the changed counter
and reservation rows, a usage record and the answer, commit (fsync). Two shapes of load:

* one hot family: owner + 5 adults, one line each, every request on the same family;
* N families (``--families``, default 200) with one line each, requests spread over all.

Sessions are opened with an INITIAL first (not counted), then UPDATEs cycle over the
sessions (members, or families), single-threaded; only the UPDATEs are timed. The plan is
the sample US plan (50 GB pool, enlarged only when ``--ops`` needs more) with 10 MB data
quanta, so no request runs out of units.

The baseline, measured in the same run on the same database and the same sessions, is
the same writes by hand on the raw DB-API connection (sqlite3 or psycopg), one
transaction per event: UPDATE the family pool counter (only if used + reserved stays
within the pool) and the member's pool counter, UPDATE the reservation, INSERT a usage
record, INSERT the answer, COMMIT (fsync). It knows every key in advance, so it reads
nothing: the gap is what finding and loading the family and its ledger, the domain rules,
the diffing and SQLAlchemy cost.

SQLite: a file in a temporary directory, WAL and ``synchronous=FULL`` as famsim configures
it. PostgreSQL only when FAMSIM_BENCH_POSTGRES_URL is set (a SQLAlchemy URL such as
``postgresql+psycopg://user:pw@host/postgres`` of a role allowed to create databases): a
scratch database is created for the run and dropped afterwards.

Run: `make bench` or `.venv/bin/python bench/charging.py [--ops N] [--families N]`. Prints
figures only; budgets are judged by people reading them, not asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from famsim.adapters.catalog import load_catalog, sample_catalog_path
from famsim.bootstrap import App, bootstrap
from famsim.config import Settings
from famsim.domain.charging.grants import ChargingRules, Quantum
from famsim.domain.identifiers import Iccid, Imei
from famsim.domain.members import Role
from famsim.domain.plan import Plan
from famsim.domain.units import HOME, Resource
from famsim.service import commands as c
from famsim.service.charging import (
    ChargingAnswer,
    ChargingRequest,
    ChargingService,
    RequestType,
    ServiceAnswer,
    ServiceUse,
)

BASE_PLAN = "us-family-share-50"
BENCH_PLAN = "bench-us-family-share"
DATA_QUANTUM = Quantum(10_000_000, 3600)
RULES = ChargingRules(
    quanta={
        Resource.DATA: DATA_QUANTUM,
        Resource.VOICE: Quantum(60, 3600),
        Resource.SMS: Quantum(1, 3600),
    }
)
WARMUP = 20  # uncounted UPDATEs before each timed run (statement caches, page cache)
HOT_MEMBERS = 6
MAX_LINES = 800_000  # +852 92xxxxxx numbers stay valid up to here


class _Clock:
    def today(self) -> date:
        return datetime.now(UTC).date()


def _now() -> datetime:
    return datetime.now(UTC)


# ----------------------------------------------------------------------------- setup
class _Identities:
    """Unique, valid identifiers for the n-th line of the run."""

    def __init__(self) -> None:
        self.count = 0

    def next(self) -> tuple[str, c.SubscriptionSpec]:
        n = self.count
        if n >= MAX_LINES:
            raise SystemExit(f"at most {MAX_LINES} lines per run")
        self.count += 1
        spec = c.SubscriptionSpec(
            iccid=str(Iccid.from_body(f"8985200{n:012d}")),
            imsi=f"45400{n:010d}",
            imei=str(Imei.from_body(f"3533221{n:07d}")),
        )
        return f"+8529{2_000_000 + n:07d}", spec


def _bench_plan(app: App, pool_units: int) -> None:
    """The US sample plan, its home data pool raised to *pool_units* if that is more."""
    base = next(p for p in load_catalog(sample_catalog_path()) if p.code == BASE_PLAN)
    pool = base.allowances[(Resource.DATA, HOME)]
    allowances = dict(base.allowances)
    allowances[(Resource.DATA, HOME)] = max(pool or 0, pool_units)
    plan: Plan = dataclasses.replace(
        base, code=BENCH_PLAN, name="Bench family share", allowances=allowances
    )
    app.bus.handle(c.LoadPlans((plan,)))


def _family(app: App, ids: _Identities, name: str, members: int) -> list[str]:
    """Create a family of *members* (owner + adults), one line each; returns the IMSIs."""
    family = app.bus.handle(c.CreateFamily(name=name, plan_code=BENCH_PLAN, owner_name="Owner"))
    names = ["Owner"]
    for i in range(1, members):
        names.append(f"Adult {i}")
        app.bus.handle(c.AddMember(family, names[-1], Role.ADULT))
    imsis = []
    for member in names:
        msisdn, spec = ids.next()
        app.bus.handle(c.AddLine(family, member, msisdn, spec))
        imsis.append(spec.imsi)
    return imsis


# -------------------------------------------------------------------------- sessions
@dataclass
class _Session:
    session_id: str
    imsi: str
    number: int = 0
    granted: int = 0


def _granted(answer: ChargingAnswer) -> int:
    service: ServiceAnswer = answer.services[0]
    if service.outcome != "success" or not service.granted:
        raise RuntimeError(f"session {answer.session_id}: no grant ({service.outcome})")
    return service.granted


def _open(service: ChargingService, sessions: Sequence[_Session]) -> None:
    for s in sessions:
        answer = service.handle(
            ChargingRequest(
                s.session_id, 0, RequestType.INITIAL, s.imsi, (ServiceUse(Resource.DATA),)
            )
        )
        s.granted = _granted(answer)


def _engine_update(service: ChargingService) -> Callable[[_Session], None]:
    def update(s: _Session) -> None:
        s.number += 1
        answer = service.handle(
            ChargingRequest(
                s.session_id,
                s.number,
                RequestType.UPDATE,
                s.imsi,
                (ServiceUse(Resource.DATA, used=s.granted),),
            )
        )
        s.granted = _granted(answer)

    return update


# -------------------------------------------------------------------------- raw store
_POOL = (
    "UPDATE charging_counters SET used = used + ?, reserved = reserved - ? + ? "
    "WHERE family_id = ? AND cycle_number = ? AND scope = '' AND kind = 'pool' "
    "AND resource = 'data' AND zone = 'home' AND used + reserved + ? <= ?"
)
_MEMBER = (
    "UPDATE charging_counters SET used = used + ?, reserved = reserved - ? + ? "
    "WHERE family_id = ? AND cycle_number = ? AND scope = ? AND kind = 'pool' "
    "AND resource = 'data' AND zone = 'home'"
)
_RESERVATION = (
    "UPDATE reservations SET from_pool = ?, expires_at = ? "
    "WHERE family_id = ? AND cycle_number = ? AND session_id = ? AND resource = 'data' "
    "AND zone = 'home' AND tethered = ?"
)
_USAGE = (
    "INSERT INTO usage_records (family_id, cycle_number, session_id, member_id, "
    "subscription_id, resource, zone, tethered, units, from_pool, from_overage, overshoot, at) "
    "VALUES (?, ?, ?, ?, ?, 'data', 'home', ?, ?, ?, 0, 0, ?)"
)
_ANSWER = (
    "INSERT INTO charging_answers (session_id, request_number, family_id, answer, at) "
    "VALUES (?, ?, ?, ?, ?)"
)
_KEYS = (
    "SELECT family_id, cycle_number, member_id, subscription_id FROM reservations "
    "WHERE session_id = ?"
)


class _Raw:
    """The hand-written transaction on the raw DB-API connection of one dialect."""

    def __init__(self, *, sqlite_file: Path | None = None, postgres_url: str = "") -> None:
        self.sqlite = sqlite_file is not None
        if sqlite_file is not None:
            self.conn: Any = sqlite3.connect(sqlite_file, isolation_level=None)
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = FULL")
        else:
            self.conn = psycopg.connect(postgres_url)

    def sql(self, text: str) -> str:
        return text if self.sqlite else text.replace("?", "%s")

    def time(self, at: datetime) -> Any:
        # SQLAlchemy keeps SQLite datetimes as naive UTC text in this format.
        return at.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else at

    def keys(self, session_id: str) -> tuple[str, int, str, str]:
        cur = self.conn.execute(self.sql(_KEYS), (session_id,))
        row = cur.fetchone()
        if not self.sqlite:
            self.conn.rollback()
        return row[0], row[1], row[2], row[3]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self.sqlite:
            self.conn.execute("BEGIN IMMEDIATE")
            yield
            self.conn.execute("COMMIT")
        else:
            yield  # psycopg opens the transaction at the first statement
            self.conn.commit()

    def close(self) -> None:
        self.conn.close()


def _raw_update(
    raw: _Raw, sessions: Sequence[_Session], pool_total: int
) -> Callable[[_Session], None]:
    keys = {s.session_id: raw.keys(s.session_id) for s in sessions}
    pool, member, reservation = raw.sql(_POOL), raw.sql(_MEMBER), raw.sql(_RESERVATION)
    usage, answer_sql = raw.sql(_USAGE), raw.sql(_ANSWER)
    units = DATA_QUANTUM.units

    def update(s: _Session) -> None:
        s.number += 1
        family_id, cycle, member_id, subscription_id = keys[s.session_id]
        used, now = s.granted, _now()
        answer = ChargingAnswer(
            s.session_id,
            s.number,
            "success",
            HOME,
            (ServiceAnswer("data", False, "success", units, DATA_QUANTUM.validity_seconds),),
        )
        at = raw.time(now)
        with raw.transaction():
            cur = raw.conn.execute(pool, (used, used, units, family_id, cycle, units, pool_total))
            if cur.rowcount != 1:
                raise RuntimeError("the pool has no room left: raise the pool")
            cur = raw.conn.execute(member, (used, used, units, family_id, cycle, member_id))
            rows = cur.rowcount
            cur = raw.conn.execute(
                reservation,
                (
                    units,
                    raw.time(now + timedelta(seconds=DATA_QUANTUM.validity_seconds)),
                    family_id,
                    cycle,
                    s.session_id,
                    False,
                ),
            )
            if rows + cur.rowcount != 2:
                raise RuntimeError(f"session {s.session_id}: member counter or reservation missing")
            raw.conn.execute(
                usage,
                (
                    family_id,
                    cycle,
                    s.session_id,
                    member_id,
                    subscription_id,
                    False,
                    used,
                    used,
                    at,
                ),
            )
            raw.conn.execute(
                answer_sql,
                (s.session_id, s.number, family_id, json.dumps(answer.to_dict()), at),
            )
        s.granted = units

    return update


# --------------------------------------------------------------------------- timing
def _run(
    label: str, ops: int, sessions: Sequence[_Session], update: Callable[[_Session], None]
) -> float:
    for i in range(WARMUP):
        update(sessions[i % len(sessions)])
    timings = []
    clock = time.perf_counter
    start = clock()
    for i in range(ops):
        t0 = clock()
        update(sessions[i % len(sessions)])
        timings.append(clock() - t0)
    rate = ops / (clock() - start)
    timings.sort()
    p50 = timings[len(timings) // 2]
    p99 = timings[max(0, -(-len(timings) * 99 // 100) - 1)]
    print(f"  {label:<46} {rate:>8,.0f} ops/s  p50 {p50 * 1e3:6.3f} ms  p99 {p99 * 1e3:7.3f} ms")
    return rate


def _scenario(
    title: str,
    app: App,
    raw: _Raw,
    service: ChargingService,
    sessions: list[_Session],
    ops: int,
    pool_total: int,
) -> None:
    print(f"{title}: {len(sessions)} sessions, {ops} UPDATEs")
    _open(service, sessions)
    base = _run(
        "raw DB-API, same writes (baseline)", ops, sessions, _raw_update(raw, sessions, pool_total)
    )
    ours = _run("famsim ChargingService.handle", ops, sessions, _engine_update(service))
    print(f"  engine/raw: {ours / base:.2f} ({base / ours:.1f}x slower than the baseline)")


def _bench(
    database: str, url: str, directory: Path, connect: Callable[[], _Raw], args: Any
) -> None:
    app = bootstrap(Settings(database_url=url, data_dir=directory), _Clock())
    app.initialise()
    # Per family: its UPDATEs in both runs, warm-ups and the open grants, with room to spare.
    per_family = 2 * (args.ops + WARMUP) + HOT_MEMBERS
    pool_total = max(50 * 10**9, (per_family + 100) * DATA_QUANTUM.units)
    _bench_plan(app, pool_total)
    service = ChargingService(app.uow, _now, RULES)
    raw = connect()
    ids = _Identities()
    try:
        print(
            f"charging benchmark on {database}: US sample plan, {pool_total / 1e9:,.0f} GB pool, "
            f"{DATA_QUANTUM.units // 10**6} MB quanta"
        )
        start = time.perf_counter()
        hot = _family(app, ids, "Hot family", HOT_MEMBERS)
        many = [_family(app, ids, f"Family {i}", 1)[0] for i in range(args.families)]
        took = time.perf_counter() - start
        print(
            f"setup: 1 family of {HOT_MEMBERS} + {args.families} families of 1, "
            f"{ids.count} lines, through the bus in {took:.1f} s "
            f"({took / (1 + args.families) * 1e3:.1f} ms per family)"
        )
        _scenario(
            f"(a) one hot family, {HOT_MEMBERS} members",
            app,
            raw,
            service,
            [_Session(f"hot;{i}", imsi) for i, imsi in enumerate(hot)],
            args.ops,
            pool_total,
        )
        _scenario(
            f"(b) {args.families} families, one line each",
            app,
            raw,
            service,
            [_Session(f"many;{i}", imsi) for i, imsi in enumerate(many)],
            args.ops,
            pool_total,
        )
    finally:
        raw.close()
        app.close()


@contextmanager
def _postgres_database(url: str) -> Iterator[tuple[str, str]]:
    """A scratch database on the server of *url*: (SQLAlchemy URL, libpq URL), then dropped."""
    parsed = make_url(url)
    name = f"famsim_bench_{os.getpid()}"
    admin = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        scratch = parsed.set(database=name)
        yield (
            scratch.set(drivername="postgresql+psycopg").render_as_string(hide_password=False),
            scratch.set(drivername="postgresql").render_as_string(hide_password=False),
        )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000, help="timed UPDATEs per run")
    parser.add_argument("--families", type=int, default=200, help="families in run (b)")
    args = parser.parse_args()
    if args.ops < 1 or not 1 <= args.families < MAX_LINES - HOT_MEMBERS:
        parser.error(f"--ops must be >= 1 and --families between 1 and {MAX_LINES - 7}")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        db = directory / "famsim.db"
        _bench(
            "SQLite (WAL, synchronous=FULL)",
            f"sqlite:///{db}",
            directory,
            lambda: _Raw(sqlite_file=db),
            args,
        )
        postgres = os.environ.get("FAMSIM_BENCH_POSTGRES_URL")
        if postgres:
            print()
            with _postgres_database(postgres) as (engine_url, raw_url):
                _bench(
                    "PostgreSQL",
                    engine_url,
                    directory,
                    lambda: _Raw(postgres_url=raw_url),
                    args,
                )
        else:
            print("\nPostgreSQL: skipped (set FAMSIM_BENCH_POSTGRES_URL to run it)")


if __name__ == "__main__":
    main()
