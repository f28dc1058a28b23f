"""Charging benchmark: UPDATE requests through the engine, against raw SQL doing the same.

Each UPDATE reports the units of the session's last grant as used and gets a new grant:
find the family by IMSI, lock it, check the stored answers (retransmissions), commit the
used units, grant again by the domain rules (quota, hard cap, pool, money caps, hotspot,
thresholds), write the changed counters, the reservation, a usage record and the answer,
commit durably, answer. Two shapes of load:

* (a) one hot family: owner + 5 adults, one line each, many sessions per member;
* (b) N families (``--families``, default 10,000), one line and one session each.

Figures per shape, all on the same database and sessions:

* raw baseline: the same writes by hand on the DB-API connection (sqlite3 or psycopg),
  one transaction per event: UPDATE the family pool counter (only if it stays within the
  pool) and the member's counter, UPDATE the reservation, INSERT a usage record, INSERT
  the answer, COMMIT. It knows every key in advance and reads nothing;
* the engine one request per transaction (``ChargingService.handle``, no batching);
* the engine with group commit: ``--in-flight`` requests outstanding at any time (as a
  network element with many sessions keeps them), batched by one writer thread into one
  transaction each; latency is from submit to the durable answer;
* the engine paced at 80 % of the group-commit rate (open loop: requests are sent on a
  timetable whatever the answers do; latency counts from the scheduled send time).

Before the engine's timed runs, one untimed UPDATE per session warms the worker (every
family in memory) and ``gc.freeze()`` takes that working set out of the cyclic garbage
collector, as a long-running server does after start-up: otherwise a full collection over
10,000 cached families stalls one batch for half a second now and then.

Durable means: SQLite in WAL with ``synchronous=FULL``; PostgreSQL with fsync and
synchronous_commit on (the server's defaults). On PostgreSQL the engine and the baseline
run in ``--workers`` processes at once (default 4), each on its own share of the sessions.

Run: ``famsim bench charging`` or ``.venv/bin/python bench/charging.py`` (``--help``).
Prints figures only; budgets are judged by people reading them, not asserted.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import sqlite3
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from famsim.bench.figures import percentile
from famsim.bootstrap import App, bootstrap
from famsim.config import Settings
from famsim.domain.charging.grants import ChargingRules, Quantum
from famsim.domain.family import Family
from famsim.domain.identifiers import Iccid, Imei, Imsi, Msisdn
from famsim.domain.ids import SubscriptionId, new_id
from famsim.domain.lines import SimType, Subscription
from famsim.domain.members import Role
from famsim.domain.plan import DeviceKind, Plan
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
from famsim.service.group_commit import SWITCH_INTERVAL, GroupCommitter

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
HOT_MEMBERS = 6
MAX_LINES = 800_000  # +852 92xxxxxx numbers stay valid up to here
FAMILIES_PER_COMMIT = 500


class _Clock:
    def today(self) -> date:
        return datetime.now(UTC).date()


def _now() -> datetime:
    return datetime.now(UTC)


# ----------------------------------------------------------------------------- setup
class Identities:
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


def bench_plan(app: App, pool_units: int) -> Plan:
    """The US sample plan, its home data pool raised to *pool_units* if that is more."""
    base = next(p for p in app.read_catalog() if p.code == BASE_PLAN)
    pool = base.allowances[(Resource.DATA, HOME)]
    allowances = dict(base.allowances)
    allowances[(Resource.DATA, HOME)] = max(pool or 0, pool_units)
    plan = replace(base, code=BENCH_PLAN, name="Bench family share", allowances=allowances)
    app.bus.handle(c.LoadPlans((plan,)))
    return plan


def _hot_family(app: App, ids: Identities) -> list[str]:
    """Owner + adults, one line each, through the message bus; returns the IMSIs."""
    family = app.bus.handle(c.CreateFamily(name="Hot", plan_code=BENCH_PLAN, owner_name="Owner"))
    names = ["Owner"] + [f"Adult {i}" for i in range(1, HOT_MEMBERS)]
    for name in names[1:]:
        app.bus.handle(c.AddMember(family, name, Role.ADULT))
    imsis = []
    for name in names:
        msisdn, spec = ids.next()
        app.bus.handle(c.AddLine(family, name, msisdn, spec))
        imsis.append(spec.imsi)
    return imsis


def many_families(app: App, ids: Identities, count: int, plan: Plan) -> list[str]:
    """*count* one-line families, built by the domain and stored in large units of work.

    The message bus would take one transaction per command; for ten thousand families
    the benchmark stores them FAMILIES_PER_COMMIT at a time through the same repository.
    """
    imsis: list[str] = []
    today = _Clock().today()
    while len(imsis) < count:
        with app.uow() as uow:
            for _ in range(min(FAMILIES_PER_COMMIT, count - len(imsis))):
                family = Family.create(
                    name=f"Family {len(imsis)}", plan=plan, owner_name="Owner", today=today
                )
                msisdn, spec = ids.next()
                family.add_line(
                    plan,
                    member_id=family.owner_id,
                    msisdn=Msisdn.parse(msisdn),
                    data_only=False,
                    primary=Subscription(
                        id=SubscriptionId(new_id()),
                        iccid=Iccid.parse(spec.iccid),
                        imsi=Imsi.parse(spec.imsi),
                        sim_type=SimType.ESIM,
                        device_kind=DeviceKind.PHONE,
                        primary=True,
                        imei=Imei.parse(spec.imei) if spec.imei else None,
                    ),
                )
                uow.families.add(family)
                imsis.append(spec.imsi)
            uow.commit()
    return imsis


# -------------------------------------------------------------------------- sessions
@dataclass
class Session:
    session_id: str
    imsi: str
    number: int = 0
    granted: int = 0


def _granted(answer: ChargingAnswer) -> int:
    service: ServiceAnswer = answer.services[0]
    if service.outcome != "success" or not service.granted:
        raise RuntimeError(f"session {answer.session_id}: no grant ({service.outcome})")
    return service.granted


def _initial(s: Session) -> ChargingRequest:
    return ChargingRequest(
        s.session_id, 0, RequestType.INITIAL, s.imsi, (ServiceUse(Resource.DATA),)
    )


def _update(s: Session) -> ChargingRequest:
    s.number += 1
    return ChargingRequest(
        s.session_id,
        s.number,
        RequestType.UPDATE,
        s.imsi,
        (ServiceUse(Resource.DATA, used=s.granted),),
    )


def _open(committer: GroupCommitter, sessions: Sequence[Session]) -> None:
    futures = [(s, committer.submit(_initial(s))) for s in sessions]
    for s, future in futures:
        s.granted = _granted(future.result())


# --------------------------------------------------------------------------- figures
@dataclass
class Run:
    ops: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    batches: int = 0

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def percentile(self, p: int) -> float:
        return percentile(self.latencies, p)

    @classmethod
    def merged(cls, runs: Sequence[Run]) -> Run:
        """Workers running side by side: ops add up, time is the slowest worker's."""
        return cls(
            ops=sum(r.ops for r in runs),
            seconds=max(r.seconds for r in runs),
            latencies=[x for r in runs for x in r.latencies],
            batches=sum(r.batches for r in runs),
        )


def _line(label: str, run: Run, extra: str = "") -> str:
    return (
        f"  {label:<50} {run.rate:>9,.0f} ops/s  p50 {run.percentile(50) * 1e3:6.2f} ms"
        f"  p99 {run.percentile(99) * 1e3:6.2f} ms{extra}"
    )


# ----------------------------------------------------------------------- engine runs
def sequential(service: ChargingService, sessions: Sequence[Session], ops: int) -> Run:
    """One request per transaction, one at a time (no batching)."""
    latencies = []
    clock = time.perf_counter
    start = clock()
    for i in range(ops):
        s = sessions[i % len(sessions)]
        t0 = clock()
        s.granted = _granted(service.handle(_update(s)))
        latencies.append(clock() - t0)
    return Run(ops, clock() - start, latencies)


class _Driver:
    """Keeps requests in flight through a committer and records when each was answered.

    Sessions take turns (a deque of idle ones), so requests spread over every session;
    a session never has two requests in flight, as on a real network.
    """

    def __init__(self, committer: GroupCommitter, sessions: Sequence[Session], ops: int) -> None:
        self.committer = committer
        self.idle = deque(sessions)
        self.ops = ops
        self.sent = 0
        self.answered = 0
        self.latencies: list[float] = []
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.resend = True

    def send(self, s: Session, since: float) -> None:
        future = self.committer.submit(_update(s))
        future.add_done_callback(lambda f: self._answered(f.result, s, since))

    def take(self) -> Session | None:
        with self.lock:
            if self.sent >= self.ops or not self.idle:
                return None
            self.sent += 1
            return self.idle.popleft()

    def _answered(self, result: Callable[[], ChargingAnswer], s: Session, since: float) -> None:
        try:
            s.granted = _granted(result())
        except BaseException as exc:  # reported by the caller; stop the run
            self.errors.append(exc)
            self.done.set()
            return
        now = time.perf_counter()
        with self.lock:
            self.latencies.append(now - since)
            self.answered += 1
            self.idle.append(s)
            if self.answered >= self.ops:
                self.done.set()
        if self.resend:
            following = self.take()
            if following is not None:
                self.send(following, time.perf_counter())

    def wait(self) -> None:
        self.done.wait()
        if self.errors:
            raise RuntimeError(f"a request failed: {self.errors[0]!r}") from self.errors[0]


def closed_loop(
    committer: GroupCommitter, sessions: Sequence[Session], ops: int, in_flight: int
) -> Run:
    """*in_flight* requests outstanding at all times until *ops* are answered."""
    driver = _Driver(committer, sessions, ops)
    batches = committer.batches
    start = time.perf_counter()
    for _ in range(min(in_flight, ops, len(sessions))):
        s = driver.take()
        if s is not None:
            driver.send(s, time.perf_counter())
    driver.wait()
    return Run(ops, time.perf_counter() - start, driver.latencies, committer.batches - batches)


def paced(committer: GroupCommitter, sessions: Sequence[Session], ops: int, rate: float) -> Run:
    """Requests sent on a timetable at *rate* per second (open loop).

    Latency counts from the scheduled send time, so a request that waited for a free
    session or for the interpreter is charged the wait (no coordinated omission).
    """
    driver = _Driver(committer, sessions, ops)
    driver.resend = False
    batches = committer.batches
    start = time.perf_counter()
    scheduled = 0
    while scheduled < ops and not driver.errors:
        due = min(ops, int((time.perf_counter() - start) * rate) + 1)
        while scheduled < due:
            s = driver.take()
            if s is None:
                break  # every session busy: try again at the next tick
            driver.send(s, start + scheduled / rate)
            scheduled += 1
        time.sleep(0.001)  # a tick: everything due by then goes out together
    driver.wait()
    return Run(ops, time.perf_counter() - start, driver.latencies, committer.batches - batches)


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


class Raw:
    """The hand-written transaction on the raw DB-API connection of one dialect."""

    def __init__(self, *, sqlite_file: str = "", postgres_url: str = "") -> None:
        self.sqlite = bool(sqlite_file)
        if self.sqlite:
            self.conn: Any = sqlite3.connect(sqlite_file, isolation_level=None)
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = FULL")
        else:
            import psycopg  # only when PostgreSQL is benchmarked

            self.conn = psycopg.connect(postgres_url)

    def sql(self, text: str) -> str:
        return text if self.sqlite else text.replace("?", "%s")

    def time(self, at: datetime) -> Any:
        # SQLAlchemy keeps SQLite datetimes as naive UTC text in this format.
        return at.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else at

    def keys(self, session_id: str) -> tuple[str, int, str, str]:
        row = self.conn.execute(self.sql(_KEYS), (session_id,)).fetchone()
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


def raw_updates(raw: Raw, sessions: Sequence[Session], ops: int, pool_total: int) -> Run:
    """The baseline: the same writes by hand, one transaction per event."""
    keys = {s.session_id: raw.keys(s.session_id) for s in sessions}
    pool, member, reservation = raw.sql(_POOL), raw.sql(_MEMBER), raw.sql(_RESERVATION)
    usage, answer_sql = raw.sql(_USAGE), raw.sql(_ANSWER)
    units = DATA_QUANTUM.units
    latencies = []
    clock = time.perf_counter
    start = clock()
    for i in range(ops):
        s = sessions[i % len(sessions)]
        t0 = clock()
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
        expires = raw.time(now + timedelta(seconds=DATA_QUANTUM.validity_seconds))
        with raw.transaction():
            cur = raw.conn.execute(pool, (used, used, units, family_id, cycle, units, pool_total))
            if cur.rowcount != 1:
                raise RuntimeError("the pool has no room left: raise the pool")
            cur = raw.conn.execute(member, (used, used, units, family_id, cycle, member_id))
            rows = cur.rowcount
            cur = raw.conn.execute(
                reservation, (units, expires, family_id, cycle, s.session_id, False)
            )
            if rows + cur.rowcount != 2:
                raise RuntimeError(f"session {s.session_id}: member counter or reservation missing")
            raw.conn.execute(
                usage,
                (family_id, cycle, s.session_id, member_id, subscription_id, False, used, used, at),
            )
            raw.conn.execute(
                answer_sql, (s.session_id, s.number, family_id, json.dumps(answer.to_dict()), at)
            )
        s.granted = units
        latencies.append(clock() - t0)
    run = Run(ops, clock() - start, latencies)
    # Not timed: these writes bypassed famsim, so tell its workers their copies are stale
    # (famsim's own writers bump the stamp with every write).
    with raw.transaction():
        raw.conn.execute("UPDATE families SET charging_version = charging_version + 1")
    return run


# ------------------------------------------------------------- PostgreSQL workers
@dataclass(frozen=True)
class WorkerJob:
    mode: str  # "raw" or "engine"
    url: str
    raw_url: str
    sessions: tuple[Session, ...]
    ops: int
    in_flight: int
    pool_total: int
    max_batch: int


def run_worker(job: WorkerJob) -> tuple[Run, list[Session]]:
    """One worker process: its own connection (raw) or its own App and group committer."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    sessions = [replace(s) for s in job.sessions]
    if job.mode == "raw":
        raw = Raw(postgres_url=job.raw_url)
        try:
            return raw_updates(raw, sessions, job.ops, job.pool_total), sessions
        finally:
            raw.close()
    app = bootstrap(Settings(database_url=job.url), _Clock())
    service = ChargingService(app.uow, _now, RULES)
    try:
        with GroupCommitter(service, max_batch=job.max_batch) as committer:
            _warm_up(committer, sessions, job.in_flight)
            return closed_loop(committer, sessions, job.ops, job.in_flight), sessions
    finally:
        app.close()


def _in_workers(
    jobs: Sequence[WorkerJob],
) -> tuple[Run, list[Session]]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(len(jobs)) as pool:
        results = pool.map(run_worker, jobs)
    return Run.merged([r for r, _ in results]), [s for _, ss in results for s in ss]


# ---------------------------------------------------------------------------- driver
@dataclass
class Options:
    ops: int = 20_000
    families: int = 10_000
    sessions_per_member: int = 64
    in_flight: int = 256
    max_batch: int = 64
    workers: int = 4


def _shape(
    title: str,
    app: App,
    sessions: list[Session],
    options: Options,
    pool_total: int,
    *,
    raw: Callable[[], Raw] | None,
    postgres: tuple[str, str] | None,
) -> None:
    print(f"{title}: {len(sessions):,} sessions, {options.ops:,} UPDATEs per run")
    service = ChargingService(app.uow, _now, RULES)
    with GroupCommitter(service, max_batch=options.max_batch) as committer:
        _open(committer, sessions)
    if postgres is None:
        assert raw is not None
        connection = raw()
        try:
            base = raw_updates(connection, sessions, options.ops, pool_total)
        finally:
            connection.close()
        print(_line("raw SQL, one transaction per event (baseline)", base))
        with GroupCommitter(service, max_batch=options.max_batch) as committer:
            _warm_up(committer, sessions, options.in_flight)
            alone = sequential(service, sessions, min(options.ops, 2_000))
            print(_line("engine, one request per transaction", alone))
            ours = closed_loop(committer, sessions, options.ops, options.in_flight)
            batch = ours.ops / max(ours.batches, 1)
            print(
                _line(
                    f"engine, group commit, {options.in_flight} in flight",
                    ours,
                    f"  ({batch:,.0f} per commit)",
                )
            )
            target = 0.8 * ours.rate
            steady = paced(committer, sessions, options.ops, target)
            print(_line(f"engine, group commit, paced at 80 % ({target:,.0f}/s)", steady))
    else:
        url, raw_url = postgres
        workers = options.workers
        shares = [tuple(sessions[i::workers]) for i in range(workers)]
        per_worker = options.ops // workers

        def jobs(mode: str) -> list[WorkerJob]:
            return [
                WorkerJob(
                    mode,
                    url,
                    raw_url,
                    share,
                    per_worker,
                    max(1, options.in_flight // workers),
                    pool_total,
                    options.max_batch,
                )
                for share in shares
            ]

        base, after = _in_workers(jobs("raw"))
        _carry(sessions, after)
        shares = [tuple(sessions[i::workers]) for i in range(workers)]
        print(_line(f"raw SQL, one transaction per event, {workers} workers (baseline)", base))
        ours, after = _in_workers(jobs("engine"))
        _carry(sessions, after)
        print(
            _line(
                f"engine, group commit, {workers} workers",
                ours,
                f"  ({ours.ops / max(ours.batches, 1):,.0f} per commit)",
            )
        )
    print(f"  engine (group commit) / raw baseline: {ours.rate / base.rate:.2f}")


def _warm_up(committer: GroupCommitter, sessions: Sequence[Session], in_flight: int) -> None:
    """Not timed: one UPDATE per session, so the worker holds every family in memory, as a
    worker that has served for a while does; then the loaded objects leave the cyclic
    garbage collector's care (``gc.freeze``), as a long-running server does after
    start-up, so a full collection over 10,000 families does not stall a batch."""
    closed_loop(committer, sessions, len(sessions), in_flight)
    gc.collect()
    gc.freeze()


def _carry(sessions: list[Session], after: Sequence[Session]) -> None:
    """Take over the session state the worker processes left (request numbers, grants)."""
    by_id = {s.session_id: s for s in after}
    for s in sessions:
        done = by_id[s.session_id]
        s.number, s.granted = done.number, done.granted


def run(
    database: str,
    url: str,
    directory: Path,
    options: Options,
    *,
    raw: Callable[[], Raw] | None = None,
    postgres: tuple[str, str] | None = None,
) -> None:
    sys.setswitchinterval(SWITCH_INTERVAL)
    app = bootstrap(Settings(database_url=url, data_dir=directory), _Clock())
    app.initialise()
    hot_sessions = HOT_MEMBERS * options.sessions_per_member
    # Enough pool for every run's UPDATEs plus the open grants, with room to spare.
    pool_total = max(50 * 10**9, (6 * options.ops + 2 * hot_sessions) * DATA_QUANTUM.units)
    plan = bench_plan(app, pool_total)
    ids = Identities()
    try:
        print(
            f"charging benchmark on {database}: US sample plan, {pool_total / 1e12:,.1f} TB "
            f"pool, {DATA_QUANTUM.units // 10**6} MB quanta, {os.cpu_count()} CPUs"
        )
        start = time.perf_counter()
        hot = _hot_family(app, ids)
        many = many_families(app, ids, options.families, plan)
        print(
            f"setup: 1 family of {HOT_MEMBERS} (through the bus) + {options.families:,} "
            f"families of 1 (bulk), {ids.count:,} lines in {time.perf_counter() - start:.1f} s"
        )
        _shape(
            f"(a) one hot family, {HOT_MEMBERS} members",
            app,
            [Session(f"hot;{i}", hot[i % HOT_MEMBERS]) for i in range(hot_sessions)],
            options,
            pool_total,
            raw=raw,
            postgres=postgres,
        )
        _shape(
            f"(b) {options.families:,} families, one line each",
            app,
            [Session(f"many;{i}", imsi) for i, imsi in enumerate(many)],
            options,
            pool_total,
            raw=raw,
            postgres=postgres,
        )
    finally:
        app.close()


@contextmanager
def scratch_postgres(url: str) -> Iterator[tuple[str, str]]:
    """A scratch database on the server of *url*: (SQLAlchemy URL, libpq URL), then dropped."""
    import psycopg
    from sqlalchemy.engine import make_url

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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--ops", type=int, default=Options.ops, help="timed UPDATEs per run")
    p.add_argument("--families", type=int, default=Options.families, help="families in (b)")
    p.add_argument("--in-flight", type=int, default=Options.in_flight)
    p.add_argument("--max-batch", type=int, default=Options.max_batch)
    p.add_argument("--workers", type=int, default=Options.workers, help="processes on PostgreSQL")
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("FAMSIM_BENCH_POSTGRES_URL", ""),
        help="SQLAlchemy URL of a PostgreSQL server (a role that may create databases); "
        "default $FAMSIM_BENCH_POSTGRES_URL; without it PostgreSQL is skipped",
    )
    p.add_argument("--skip-sqlite", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.ops < 100 or not 1 <= args.families < MAX_LINES - HOT_MEMBERS:
        raise SystemExit(f"--ops must be >= 100 and --families between 1 and {MAX_LINES - 7}")
    if args.in_flight < 1 or args.max_batch < 1 or args.workers < 1:
        raise SystemExit("--in-flight, --max-batch and --workers must be at least 1")
    options = Options(
        ops=args.ops,
        families=args.families,
        in_flight=args.in_flight,
        max_batch=args.max_batch,
        workers=args.workers,
    )
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        if not args.skip_sqlite:
            db = directory / "famsim.db"
            run(
                "SQLite (WAL, synchronous=FULL)",
                f"sqlite:///{db}",
                directory,
                options,
                raw=lambda: Raw(sqlite_file=str(db)),
            )
        if args.postgres_url:
            print()
            with scratch_postgres(args.postgres_url) as (engine_url, raw_url):
                run("PostgreSQL", engine_url, directory, options, postgres=(engine_url, raw_url))
        else:
            print("\nPostgreSQL: skipped (give --postgres-url or FAMSIM_BENCH_POSTGRES_URL)")


if __name__ == "__main__":
    main()
