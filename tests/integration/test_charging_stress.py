"""Charging under contention: many threads, one small pool, SQLite and PostgreSQL.

Threads run fifty data sessions each (INITIAL, one to three UPDATEs, TERMINATION) for
three adults of a family on a 50 MB plan without overage, on SQLite and on PostgreSQL
(``sql_app``), two ways: four threads calling one ``ChargingService`` directly (a unit of
work per request, under the family lock), and eight threads submitting through one
:class:`GroupCommitter` (batches). Reports sometimes overshoot their grant. An observer
thread reads the pool while they run (on SQLite its read transactions contend with the
writer, so a request or a whole batch may fail with Conflict: the threads then resend the
same request, as a network element would).

Afterwards: the pool never went past its total except by recorded overshoot, nothing is
left reserved, the counters equal the usage records, every report that was answered is
in them once, every acknowledged answer is stored in ``charging_answers`` exactly as
sent, and the committer did batch (fewer transactions than requests).
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable
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
from famsim.service.group_commit import GroupCommitter

pytestmark = pytest.mark.integration

DATA, VOICE, SMS = Resource.DATA, Resource.VOICE, Resource.SMS
POOL = 50_000_000
RULES = ChargingRules(
    quanta={DATA: Quantum(1_000_000, 60), VOICE: Quantum(60, 60), SMS: Quantum(1, 60)}
)
T0 = datetime(2026, 2, 3, 12, 0, tzinfo=UTC)
SESSIONS = 50
MAX_RETRIES = 200
JOIN_GUARD_S = 240  # a hang guard, not a performance assertion
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
    denials: int = 0
    acknowledged: list[tuple[ChargingRequest, ChargingAnswer]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


Handle = Callable[[ChargingRequest], ChargingAnswer]


def _send(handle: Handle, request: ChargingRequest, tally: Tally) -> ChargingAnswer:
    for _ in range(MAX_RETRIES):
        try:
            answer = handle(request)
        except Conflict:  # rolled back (the whole batch, with group commit): resend it
            tally.retries += 1
            time.sleep(0.001)
            continue
        assert answer.outcome == "success", answer
        tally.denials += sum(s.outcome == "limit_reached" for s in answer.services)
        tally.acknowledged.append((request, answer))
        return answer
    raise AssertionError(f"{request} still conflicting after {MAX_RETRIES} tries")


def _worker(worker: int, handle: Handle, imsis: list[str], tally: Tally, seed: int) -> None:
    rng = random.Random(seed)
    try:
        for n in range(SESSIONS):
            sid = f"gc-{worker}-{n}"
            imsi = rng.choice(imsis)
            number = 0
            initial = ChargingRequest(sid, number, RequestType.INITIAL, imsi, (ServiceUse(DATA),))
            answer = _send(handle, initial, tally)
            updates = rng.randint(1, 3)
            for step in range(updates + 1):
                granted = answer.services[0].granted
                extra = rng.choice((0, 0, 0, rng.randint(1, 200_000))) if granted else 0
                used = granted + extra
                number += 1
                kind = RequestType.TERMINATION if step == updates else RequestType.UPDATE
                request = ChargingRequest(
                    sid, number, kind, imsi, (ServiceUse(DATA, used=used or None),)
                )
                answer = _send(handle, request, tally)
                tally.used += used
                tally.overshoot += extra
    except BaseException as exc:  # collected, re-raised by the test
        tally.errors.append(exc)


def _observe(
    app: App, family_id: str, plan: Plan, stop: threading.Event, samples: list[tuple[int, int]]
) -> None:
    """Sample the pool counter while the threads run; a failure is the sample (-1, -1)."""
    try:
        while not stop.is_set():
            try:
                with app.uow() as uow:
                    family = uow.families.get(family_id)
                    ledger = uow.ledgers.get(family.id, family.cycle.number, plan)
                    pool = ledger.pool((DATA, HOME))
                    samples.append((pool.used, pool.reserved))
            except Conflict:
                pass  # SQLite: the writer holds the lock; read again
            time.sleep(0.005)
    except Exception:
        samples.append((-1, -1))
        raise


@pytest.mark.parametrize(("via", "threads"), [("service", 4), ("group_commit", 8)])
def test_small_pool_under_concurrent_sessions(
    sql_app: App, sample_plans: list[Plan], via: str, threads: int
) -> None:
    hk = next(p for p in sample_plans if p.code == "hk-family-5g-100")
    tiny = replace(hk, code="tiny", allowances={(DATA, HOME): POOL}, overage={})
    sql_app.bus.handle(c.LoadPlans((tiny,)))
    family_id = sql_app.bus.handle(c.CreateFamily("Group family", "tiny", ADULTS[0]))
    for name in ADULTS[1:]:
        sql_app.bus.handle(c.AddMember(family_id, name, Role.ADULT))
    imsis = []
    for i, name in enumerate(ADULTS, start=1):
        spec = _sub(i)
        sql_app.bus.handle(c.AddLine(family_id, name, f"+8529789{i:04d}", spec))
        imsis.append(spec.imsi)

    service = ChargingService(sql_app.uow, lambda: T0, RULES)
    committer = GroupCommitter(service)
    handle = committer.handle if via == "group_commit" else service.handle
    tallies = [Tally() for _ in range(threads)]
    workers = [
        threading.Thread(target=_worker, args=(w, handle, imsis, tallies[w], 2000 + w))
        for w in range(threads)
    ]
    stop = threading.Event()
    samples: list[tuple[int, int]] = []
    observer = threading.Thread(target=_observe, args=(sql_app, family_id, tiny, stop, samples))
    observer.start()
    try:
        for t in workers:
            t.start()
        for t in workers:
            t.join(timeout=JOIN_GUARD_S)
    finally:
        stop.set()
        observer.join(timeout=30)
        committer.close()
    assert not any(t.is_alive() for t in workers), "a submitting thread hung"
    errors = [e for t in tallies for e in t.errors]
    if errors:
        raise errors[0]
    assert (-1, -1) not in samples, "the observer failed (see the thread's traceback)"
    # Invariant 1 at every sampled instant: without overage the pool never holds more.
    assert all(used + reserved <= POOL for used, reserved in samples), max(samples)

    acknowledged = [pair for t in tallies for pair in t.acknowledged]
    if via == "group_commit":
        assert committer.requests >= len(acknowledged)
        assert committer.batches < committer.requests, "no two requests ever shared a batch"

    with sql_app.uow() as uow:
        family = uow.families.get(family_id)
        ledger = uow.ledgers.get(family.id, family.cycle.number, tiny)
        records = list(uow.ledgers.usage(family.id, family.cycle.number))
        stored = {
            (r.session_id, r.request_number): uow.ledgers.answer(r.session_id, r.request_number)
            for r, _ in acknowledged
        }

    # Every acknowledged answer is durable, exactly as it was sent.
    for request, answer in acknowledged:
        key = (request.session_id, request.request_number)
        found = stored[key]
        assert found is not None, key
        assert found == answer.to_dict(), key
        assert ChargingAnswer.from_dict(found) == answer

    reported = sum(t.used for t in tallies)
    overshoot = sum(t.overshoot for t in tallies)
    pool = ledger.pool((DATA, HOME))
    recorded_overshoot = sum(r.overshoot for r in records)
    # The pool never went past its total except by recorded overshoot.
    assert pool.used <= POOL + recorded_overshoot
    assert recorded_overshoot <= overshoot
    assert pool.used > POOL // 2, "the scenario should have drained much of the pool"
    assert sum(t.denials for t in tallies) > 0, "the pool should have run out"
    # Nothing left reserved.
    assert ledger.reservations == {}
    assert pool.reserved == 0
    for m in ledger.members.values():
        assert all(x.reserved == 0 for x in m.pool.values())
        assert all(x.reserved == 0 for x in m.overage.values())
    # Every answered report is in the usage records, once.
    assert sum(r.units for r in records) == reported
    per_session: dict[str, int] = defaultdict(int)
    for r in records:
        per_session[r.session_id] += r.units
    answered_used: dict[str, int] = defaultdict(int)
    for request, _ in acknowledged:
        answered_used[request.session_id] += request.services[0].used or 0
    assert dict(per_session) == {k: v for k, v in answered_used.items() if v}
    # Counters equal the usage records.
    by_member: dict[Any, int] = defaultdict(int)
    by_member_overage: dict[Any, int] = defaultdict(int)
    for r in records:
        assert r.units == r.from_pool + r.from_overage + r.free
        by_member[r.member_id] += r.from_pool
        by_member_overage[r.member_id] += r.from_overage
    assert pool.used == sum(r.from_pool for r in records)
    assert set(by_member) <= set(ledger.members)
    for member_id, m in ledger.members.items():
        assert m.pool_counter((DATA, HOME)).used == by_member[member_id]
        assert m.overage_counter((DATA, HOME)).used == by_member_overage[member_id]
    print(
        f"{sql_app.database} via {via}: {committer.requests} requests in "
        f"{committer.batches} batches, "
        f"{sum(t.retries for t in tallies)} conflict retries, {len(samples)} samples"
    )
