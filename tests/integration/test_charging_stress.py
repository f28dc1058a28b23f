"""Charging under contention: many sessions of one family with a small pool, concurrently.

Four threads run fifty data sessions each (INITIAL, one to three UPDATEs, TERMINATION)
for three adults of a family on a 50 MB plan without overage, through one ChargingService
on SQLite and on PostgreSQL (``sql_app``). Reports sometimes overshoot their grant. After
the run the ledger must show: the pool never went past its total except by recorded
overshoot, nothing left reserved, the counters equal the usage records, and every reported
unit that was answered is in the usage records (nothing answered was lost).
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from famsim.bootstrap import App
from famsim.domain.charging.grants import ChargingRules, Quantum
from famsim.domain.errors import Conflict
from famsim.domain.identifiers import Eid, Iccid, Imei
from famsim.domain.members import Role
from famsim.domain.plan import DeviceKind, Plan
from famsim.domain.units import HOME, Resource
from famsim.service import commands as c
from famsim.service.charging import (
    ChargingAnswer,
    ChargingRequest,
    ChargingService,
    RequestType,
    ServiceUse,
)

pytestmark = pytest.mark.integration

DATA, VOICE, SMS = Resource.DATA, Resource.VOICE, Resource.SMS
POOL = 50_000_000
RULES = ChargingRules(
    quanta={DATA: Quantum(1_000_000, 60), VOICE: Quantum(60, 60), SMS: Quantum(1, 60)}
)
T0 = datetime(2026, 2, 3, 12, 0, tzinfo=UTC)
THREADS = 4
SESSIONS = 50
MAX_RETRIES = 50
ADULTS = ("Leung Chi Wai", "Ho Ka Man", "Tsang Wing Yan")


def _sub(n: int) -> c.SubscriptionSpec:
    return c.SubscriptionSpec(
        iccid=str(Iccid.from_body(f"8985200007890{n:05d}")),
        imsi=f"4540078900{n:05d}",
        device_kind=DeviceKind.PHONE,
        eid=str(Eid.from_body(f"8904903200003000000000000{n:05d}")),
        imei=str(Imei.from_body(f"353322330{n:05d}")),
    )


@dataclass
class Tally:
    used: int = 0
    overshoot: int = 0
    retries: int = 0
    requests: int = 0
    denials: int = 0
    errors: list[BaseException] = field(default_factory=list)


def _send(service: ChargingService, request: ChargingRequest, tally: Tally) -> ChargingAnswer:
    for _ in range(MAX_RETRIES):
        try:
            answer = service.handle(request)
        except Conflict:
            tally.retries += 1
            time.sleep(0.001)
            continue
        tally.requests += 1
        assert answer.outcome == "success", answer
        tally.denials += sum(s.outcome == "limit_reached" for s in answer.services)
        return answer
    raise AssertionError(f"{request} still conflicting after {MAX_RETRIES} tries")


def _worker(
    worker: int, service: ChargingService, imsis: list[str], tally: Tally, seed: int
) -> None:
    rng = random.Random(seed)
    try:
        for n in range(SESSIONS):
            sid = f"stress-{worker}-{n}"
            imsi = rng.choice(imsis)
            number = 0
            answer = _send(
                service,
                ChargingRequest(sid, number, RequestType.INITIAL, imsi, (ServiceUse(DATA),)),
                tally,
            )
            updates = rng.randint(1, 3)
            for step in range(updates + 1):
                granted = answer.services[0].granted
                extra = rng.choice((0, 0, 0, rng.randint(1, 200_000)))
                used = granted + extra if granted else 0
                tally.used += used
                tally.overshoot += extra if granted else 0
                number += 1
                last = step == updates
                kind = RequestType.TERMINATION if last else RequestType.UPDATE
                request = ChargingRequest(
                    sid, number, kind, imsi, (ServiceUse(DATA, used=used or None),)
                )
                answer = _send(service, request, tally)
                if last:
                    break
    except BaseException as exc:  # collected, re-raised by the test
        tally.errors.append(exc)


def _observe(
    app: App, family_id: str, plan: Plan, stop: threading.Event, samples: list[tuple[int, int]]
) -> None:
    """Sample the pool counter while the workers run (read-only units of work).

    A failure is recorded as the sample (-1, -1), which the test reports.
    """
    try:
        while not stop.is_set():
            with app.uow() as uow:
                family = uow.families.get(family_id)
                pool = uow.ledgers.get(family.id, family.cycle.number, plan).pool((DATA, HOME))
                samples.append((pool.used, pool.reserved))
            time.sleep(0.005)
    except Exception:
        samples.append((-1, -1))
        raise


def test_small_pool_under_concurrent_sessions(sql_app: App, sample_plans: list[Plan]) -> None:
    hk = next(p for p in sample_plans if p.code == "hk-family-5g-100")
    tiny = replace(hk, code="tiny", allowances={(DATA, HOME): POOL}, overage={})
    sql_app.bus.handle(c.LoadPlans((tiny,)))
    family_id = sql_app.bus.handle(c.CreateFamily("Stress family", "tiny", ADULTS[0]))
    for name in ADULTS[1:]:
        sql_app.bus.handle(c.AddMember(family_id, name, Role.ADULT))
    imsis = []
    for i, name in enumerate(ADULTS, start=1):
        spec = _sub(i)
        sql_app.bus.handle(c.AddLine(family_id, name, f"+8529789{i:04d}", spec))
        imsis.append(spec.imsi)

    service = ChargingService(sql_app.uow, lambda: T0, RULES)
    tallies = [Tally() for _ in range(THREADS)]
    threads = [
        threading.Thread(target=_worker, args=(w, service, imsis, tallies[w], 1000 + w))
        for w in range(THREADS)
    ]
    stop = threading.Event()
    samples: list[tuple[int, int]] = []
    observer = threading.Thread(target=_observe, args=(sql_app, family_id, tiny, stop, samples))
    started = time.monotonic()
    observer.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    stop.set()
    observer.join(timeout=30)
    elapsed = time.monotonic() - started
    assert not any(t.is_alive() for t in threads), "a worker hung"
    assert samples, "the observer never read the ledger"
    assert (-1, -1) not in samples, "the observer failed (see the thread's traceback)"
    # Invariant 1 at every sampled instant: without overage, overshoot is booked as overage
    # once the pool is full, so the pool itself never holds more than its total.
    assert all(used + reserved <= POOL for used, reserved in samples), max(samples)
    errors = [e for t in tallies for e in t.errors]
    if errors:
        raise errors[0]

    with sql_app.uow() as uow:
        family = uow.families.get(family_id)
        ledger = uow.ledgers.get(family.id, family.cycle.number, tiny)
        records = list(uow.ledgers.usage(family.id, family.cycle.number))

    reported = sum(t.used for t in tallies)
    overshoot = sum(t.overshoot for t in tallies)
    pool = ledger.pool((DATA, HOME))
    # The pool never went past its total except by recorded overshoot.
    assert pool.used + pool.reserved <= POOL + overshoot
    assert pool.used <= POOL + sum(r.overshoot for r in records)
    assert sum(r.overshoot for r in records) <= overshoot
    assert pool.used > POOL // 2, "the scenario should have drained much of the pool"
    assert sum(t.denials for t in tallies) > 0, "the pool should have run out"
    # Nothing left reserved.
    assert ledger.reservations == {}
    assert pool.reserved == 0
    for m in ledger.members.values():
        assert all(x.reserved == 0 for x in m.pool.values())
        assert all(x.reserved == 0 for x in m.overage.values())
    # Every answered report is durable.
    assert sum(r.units for r in records) == reported
    # Counters equal the usage records.
    by_member: dict[Any, int] = defaultdict(int)
    by_member_overage: dict[Any, int] = defaultdict(int)
    for r in records:
        assert r.units == r.from_pool + r.from_overage
        by_member[r.member_id] += r.from_pool
        by_member_overage[r.member_id] += r.from_overage
    assert pool.used == sum(r.from_pool for r in records)
    for member_id, m in ledger.members.items():
        assert m.pool_counter((DATA, HOME)).used == by_member[member_id]
        assert m.overage_counter((DATA, HOME)).used == by_member_overage[member_id]
    assert set(by_member) <= set(ledger.members)
    assert elapsed < 60, f"took {elapsed:.1f}s"
    print(
        f"{sql_app.database}: {sum(t.requests for t in tallies)} requests, "
        f"{sum(t.retries for t in tallies)} conflict retries, "
        f"{sum(t.denials for t in tallies)} limit_reached, {len(samples)} samples, {elapsed:.1f}s"
    )
