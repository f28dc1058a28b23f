"""Charging from several processes at once, and a charging process killed mid-stream.

The family (three adults with lines on a 50 MB plan without overage) is set up in the test
process; the charging runs in child processes (``charging_worker.py``), each with its own
bootstrapped App, on SQLite and on PostgreSQL. Afterwards the test process reads the
ledger: the pool never went past its total except by recorded overshoot, the counters
equal the usage records, and every reported unit that was answered is in the records.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from famsim.bootstrap import App, bootstrap
from famsim.config import Settings
from famsim.domain.charging.ledger import FamilyLedger, UsageRecord
from famsim.domain.identifiers import Eid, Iccid, Imei
from famsim.domain.members import Role
from famsim.domain.plan import DeviceKind, Plan
from famsim.domain.units import HOME, Resource
from famsim.service import commands as c
from famsim.service.charging import ChargingRequest, RequestType, ServiceUse

pytestmark = pytest.mark.integration

WORKER = Path(__file__).with_name("charging_worker.py")
DATA = Resource.DATA
POOL = 50_000_000
PROCESSES = 4
SESSIONS = 40
CHILD_TIMEOUT_S = 60
KILL_AFTER_LINES = 50
KILL_AFTER_S = 1.0
MAX_USED_PER_REQUEST = 1_500_000 + 200_000  # the worker's largest request plus overshoot
ADULTS = ("Leung Chi Wai", "Ho Ka Man", "Tsang Wing Yan")


def _sub(n: int) -> c.SubscriptionSpec:
    return c.SubscriptionSpec(
        iccid=str(Iccid.from_body(f"8985200007890{n:05d}")),
        imsi=f"4540078900{n:05d}",
        device_kind=DeviceKind.PHONE,
        eid=str(Eid.from_body(f"8904903200003000000000000{n:05d}")),
        imei=str(Imei.from_body(f"353322330{n:05d}")),
    )


@dataclass(frozen=True)
class Setup:
    url: str
    family_id: str
    plan: Plan
    imsis: list[str]


@pytest.fixture
def family(database_url: str, tmp_path: Path, clock: Any, sample_plans: list[Plan]) -> Setup:
    """The schema, the catalog with the "tiny" plan, and the family; no connection left open."""
    hk = next(p for p in sample_plans if p.code == "hk-family-5g-100")
    tiny = replace(hk, code="tiny", allowances={(DATA, HOME): POOL}, overage={})
    app = bootstrap(Settings(database_url=database_url, data_dir=tmp_path), clock)
    try:
        app.initialise()
        app.bus.handle(c.LoadPlans((*sample_plans, tiny)))
        family_id: str = app.bus.handle(c.CreateFamily("Process family", "tiny", ADULTS[0]))
        for name in ADULTS[1:]:
            app.bus.handle(c.AddMember(family_id, name, Role.ADULT))
        imsis = []
        for i, name in enumerate(ADULTS, start=1):
            spec = _sub(i)
            app.bus.handle(c.AddLine(family_id, name, f"+8529789{i:04d}", spec))
            imsis.append(spec.imsi)
    finally:
        app.close()
    return Setup(database_url, family_id, tiny, imsis)


def _open(setup: Setup, tmp_path: Path) -> App:
    return bootstrap(Settings(database_url=setup.url, data_dir=tmp_path))


def _read(app: App, setup: Setup) -> tuple[FamilyLedger, list[UsageRecord]]:
    with app.uow() as uow:
        family = uow.families.get(setup.family_id)
        ledger = uow.ledgers.get(family.id, family.cycle.number, setup.plan)
        records = list(uow.ledgers.usage(family.id, family.cycle.number))
    return ledger, records


def _assert_counters_match_records(ledger: FamilyLedger, records: list[UsageRecord]) -> None:
    by_member: dict[Any, int] = defaultdict(int)
    by_member_overage: dict[Any, int] = defaultdict(int)
    for r in records:
        assert r.units == r.from_pool + r.from_overage, r
        by_member[r.member_id] += r.from_pool
        by_member_overage[r.member_id] += r.from_overage
    assert set(by_member) <= set(ledger.members)
    assert ledger.pool((DATA, HOME)).used == sum(r.from_pool for r in records)
    for member_id, m in ledger.members.items():
        assert m.pool_counter((DATA, HOME)).used == by_member[member_id], member_id
        assert m.overage_counter((DATA, HOME)).used == by_member_overage[member_id], member_id


def _worker(mode: str, setup: Setup, index: int, arg: str) -> list[str]:
    return [sys.executable, str(WORKER), mode, setup.url, str(index), arg, *setup.imsis]


def test_processes_charge_one_small_pool_consistently(family: Setup, tmp_path: Path) -> None:
    started = time.monotonic()
    children = [
        subprocess.Popen(
            _worker("stress", family, w, str(SESSIONS)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(PROCESSES)
    ]
    outputs = []
    try:
        for child in children:
            out, err = child.communicate(timeout=CHILD_TIMEOUT_S)
            outputs.append((child.returncode, out, err))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    elapsed = time.monotonic() - started
    for returncode, out, err in outputs:
        assert returncode == 0, f"worker failed ({returncode}):\n{out}\n{err}"
    reported = sum(int(out.splitlines()[-1]) for _, out, _ in outputs)
    stats = [out.splitlines()[-2] for _, out, _ in outputs]

    app = _open(family, tmp_path)
    try:
        ledger, records = _read(app, family)
    finally:
        app.close()

    pool = ledger.pool((DATA, HOME))
    recorded_overshoot = sum(r.overshoot for r in records)
    # The pool never went past its total except by recorded overshoot.
    assert pool.used <= POOL + recorded_overshoot
    assert pool.used > POOL // 2, "the scenario should have drained much of the pool"
    # Nothing left reserved.
    assert ledger.reservations == {}
    assert pool.reserved == 0
    for m in ledger.members.values():
        assert all(x.reserved == 0 for x in m.pool.values())
        assert all(x.reserved == 0 for x in m.overage.values())
    # Counters equal the usage records, and every answered report is in them, once.
    _assert_counters_match_records(ledger, records)
    assert sum(r.units for r in records) == reported
    assert {r.session_id.rsplit("-", 1)[0] for r in records} <= {
        f"proc-{w}" for w in range(PROCESSES)
    }
    print(f"{app.database}: {PROCESSES} processes, {elapsed:.1f}s; " + " | ".join(stats))


GROUP_THREADS = 4  # charging_worker.GROUP_THREADS: the crash-group mode's submitting threads


@pytest.mark.parametrize(
    ("mode", "in_flight"),
    [("crash", 1), ("crash-group", GROUP_THREADS)],
    ids=["one-by-one", "group-commit"],
)
def test_every_acknowledged_charge_survives_sigkill(
    family: Setup, tmp_path: Path, mode: str, in_flight: int
) -> None:
    """``in_flight``: how many requests can be committed but not yet logged at the kill
    (one per submitting thread: each waits for its own answer before the next)."""
    log = tmp_path / "acknowledged.log"
    threads = {f"crash-0-t{t}" for t in range(GROUP_THREADS)} if mode == "crash-group" else set()
    child = subprocess.Popen(
        _worker(mode, family, 0, str(log)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + CHILD_TIMEOUT_S
        first_line_at: float | None = None
        while child.poll() is None and time.monotonic() < deadline:
            text = log.read_text() if log.exists() else ""
            lines = text.count("\n")
            if lines and first_line_at is None:
                first_line_at = time.monotonic()
            # With several threads, wait until each of them has had an answer acknowledged.
            every_thread = all(f"{prefix}-" in text for prefix in threads)
            if every_thread and (
                lines >= KILL_AFTER_LINES
                or (first_line_at is not None and time.monotonic() - first_line_at >= KILL_AFTER_S)
            ):
                break
            time.sleep(0.005)
        alive = child.poll() is None
        child.send_signal(signal.SIGKILL)
        _, err = child.communicate(timeout=CHILD_TIMEOUT_S)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert alive, f"the worker ended on its own ({child.returncode}):\n{err}"
    assert child.returncode == -signal.SIGKILL

    # Only whole lines count: a line is written (and fsynced) after its answer.
    text = log.read_text()
    complete = text[: text.rfind("\n") + 1]
    logged: dict[str, int] = defaultdict(int)
    logged_requests = 0
    for line in complete.splitlines():
        sid, _number, reported = line.split()
        logged[sid] += int(reported)
        logged_requests += 1
    assert logged_requests > 0, err

    app = _open(family, tmp_path)
    try:
        ledger, records = _read(app, family)
        recorded: dict[str, int] = defaultdict(int)
        for r in records:
            recorded[r.session_id] += r.units
        # Every acknowledged report is durable...
        for sid, acknowledged in logged.items():
            assert recorded[sid] >= acknowledged, (sid, acknowledged, recorded[sid])
        # ...and nothing more than the requests in flight at the kill was committed.
        unacknowledged = sum(recorded.values()) - sum(logged.values())
        assert 0 <= unacknowledged <= in_flight * MAX_USED_PER_REQUEST
        assert len(set(recorded) - set(logged)) <= in_flight
        assert {sid.rsplit("-", 1)[0] for sid in logged} >= threads  # every thread charged
        _assert_counters_match_records(ledger, records)
        pool = ledger.pool((DATA, HOME))
        assert pool.used <= POOL + sum(r.overshoot for r in records)

        # A fresh App keeps charging the family.
        answer = app.charging.handle(
            ChargingRequest(
                "after-crash", 0, RequestType.INITIAL, family.imsis[0], (ServiceUse(DATA),)
            )
        )
        assert answer.outcome == "success", answer
        answer = app.charging.handle(
            ChargingRequest(
                "after-crash",
                1,
                RequestType.TERMINATION,
                family.imsis[0],
                (ServiceUse(DATA, used=answer.services[0].granted or None),),
            )
        )
        assert answer.outcome == "success", answer
        ledger, records = _read(app, family)
        _assert_counters_match_records(ledger, records)
    finally:
        app.close()
    print(f"{app.database}: {logged_requests} acknowledged before SIGKILL")
