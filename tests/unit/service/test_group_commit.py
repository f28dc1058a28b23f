"""GroupCommitter over the in-memory store: the writer thread is the only user of the units
of work, so the store needs no locking beyond its own.

The committer is checked against a plain :class:`ChargingService` fed the same requests on
a twin store (the oracle), and its batching is made deterministic with a service whose
``handle_batch`` waits for the test's permission: the test holds the writer inside one
batch while it queues the next requests, then lets it go.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest

from demo_charging import (
    CHILD,
    DATA,
    EVENT,
    INITIAL,
    OWNER,
    RULES,
    SMS,
    SPOUSE,
    T0,
    TEEN,
    TERMINATION,
    UPDATE,
    VOICE,
)
from famsim.adapters.memory import MemoryStore, MemoryUnitOfWork
from famsim.demo import create_demo_family
from famsim.domain.errors import FamsimError, InvalidAmount, InvalidIdentifier
from famsim.domain.ids import FamilyId
from famsim.domain.plan import Plan
from famsim.domain.units import Resource
from famsim.service.charging import (
    ChargingAnswer,
    ChargingRequest,
    ChargingService,
    RequestType,
    ServiceUse,
)
from famsim.service.commands import LoadPlans
from famsim.service.group_commit import GroupCommitClosed, GroupCommitter
from famsim.service.messagebus import MessageBus

pytestmark = pytest.mark.unit

GUARD_S = 30  # a deadlock guard only: no assertion depends on how long anything takes


class _Clock:
    def today(self) -> date:
        return date(2026, 1, 31)


class StorageDown(Exception):
    """What a failing database commit raises in these tests."""


@dataclass
class Switch:
    """Makes the commits of :class:`FlakyUnitOfWork` fail while ``failing`` is set."""

    failing: bool = False
    failed: int = 0


class FlakyUnitOfWork(MemoryUnitOfWork):
    def __init__(self, store: MemoryStore, switch: Switch) -> None:
        super().__init__(store)
        self._switch = switch

    def commit(self) -> None:
        if self._switch.failing:
            self._switch.failed += 1
            raise StorageDown("the disk is gone")
        super().commit()


@dataclass
class Store:
    store: MemoryStore
    family_id: str
    switch: Switch = field(default_factory=Switch)

    def uow(self) -> MemoryUnitOfWork:
        return FlakyUnitOfWork(self.store, self.switch)

    def state(self) -> tuple[Any, ...]:
        """Counters, reservations and usage of the family, comparable across stores."""
        family = self.store.families[FamilyId(self.family_id)]
        ledger = self.store.ledgers.get((self.family_id, family.cycle.number))
        if ledger is None:
            return ((), (), ())
        names = {m.id: m.name for m in family.members.values()}
        counters = tuple(
            sorted(
                (
                    names.get(member_id, "") if member_id else "",
                    kind,
                    res.value,
                    zone,
                    c.used,
                    c.reserved,
                )
                for member_id, kind, res, zone, c in _counters(ledger)
            )
        )
        held = tuple(
            sorted(
                (sid, svc[0].value, svc[1], svc[2], names[r.member_id], r.from_pool, r.from_overage)
                for (sid, svc), r in ledger.reservations.items()
            )
        )
        usage = tuple(
            sorted(
                (r.session_id, names[r.member_id], r.resource.value, r.zone, r.units, r.overshoot)
                for r in self.store.usage
            )
        )
        return counters, held, usage


def _counters(ledger: Any) -> list[tuple[Any, str, Resource, str, Any]]:
    out = [(None, "pool", key[0], key[1], c) for key, c in ledger.pools.items()]
    for member_id, m in ledger.members.items():
        out += [(member_id, "pool", k[0], k[1], c) for k, c in m.pool.items()]
        out += [(member_id, "overage", k[0], k[1], c) for k, c in m.overage.items()]
        out.append((member_id, "tethered", DATA, "*", m.tethered))
    return [row for row in out if row[4].used or row[4].reserved]


def _new_store(sample_plans: list[Plan]) -> Store:
    store = MemoryStore()
    bus = MessageBus(lambda: MemoryUnitOfWork(store), _Clock())
    bus.handle(LoadPlans(tuple(sample_plans)))
    return Store(store, str(create_demo_family(bus)))


@pytest.fixture
def twins(sample_plans: list[Plan]) -> tuple[Store, Store]:
    """Two stores holding the same demo family: one for the committer, one for the oracle."""
    return _new_store(sample_plans), _new_store(sample_plans)


class SteppedService(ChargingService):
    """A ChargingService whose batches start only when the test allows (``step``/``free``).

    Every batch is announced on ``arrivals`` before it waits, so the test knows the writer
    is held inside that batch and that whatever it submits now queues behind it.
    """

    def __init__(self, uow_factory: Callable[[], MemoryUnitOfWork]) -> None:
        super().__init__(uow_factory, lambda: T0, RULES)
        self.arrivals: queue.Queue[list[ChargingRequest]] = queue.Queue()
        self._permits = threading.Semaphore(0)
        self._free = False

    def handle_batch(self, requests: Sequence[ChargingRequest]) -> list[ChargingAnswer | Exception]:
        self.arrivals.put(list(requests))
        if not self._free and not self._permits.acquire(timeout=GUARD_S):
            raise RuntimeError("the test never let this batch run")
        return super().handle_batch(requests)

    def next_batch(self) -> list[ChargingRequest]:
        return self.arrivals.get(timeout=GUARD_S)

    def step(self) -> None:
        self._permits.release()

    def free(self) -> None:
        self._free = True
        self._permits.release()


def req(
    session: str,
    number: int,
    kind: RequestType,
    subscriber: str,
    *uses: ServiceUse,
    plmn: str | None = None,
) -> ChargingRequest:
    return ChargingRequest(session, number, kind, subscriber, uses, plmn)


def data(requested: int | None = None, used: int | None = None) -> ServiceUse:
    return ServiceUse(DATA, requested=requested, used=used)


def mixed_requests() -> list[ChargingRequest]:
    """Several members and sessions interleaved, with denials, an event and a retransmission."""
    return [
        req("s1", 0, INITIAL, OWNER, data()),
        req("s2", 0, INITIAL, SPOUSE, data(), plmn="46000"),
        req("s3", 0, INITIAL, TEEN, data(), plmn="46000"),  # roaming_not_allowed
        req("s1", 1, UPDATE, OWNER, data(used=700_000)),
        req("c1", 0, INITIAL, CHILD, data(requested=2 * 10**9)),
        req("e1", 0, EVENT, OWNER, ServiceUse(SMS)),
        req("s1", 1, UPDATE, OWNER, data(used=700_000)),  # retransmission
        req("c1", 1, UPDATE, CHILD, data(requested=2 * 10**9, used=2 * 10**9)),
        req("s2", 1, TERMINATION, SPOUSE, data(used=1_200_000), plmn="46000"),
        req("c1", 2, UPDATE, CHILD, data(requested=10**9, used=10**9)),  # limit_reached
        req("s1", 2, TERMINATION, OWNER, data(used=1_000_000)),
        req("c1", 3, TERMINATION, CHILD, data()),
    ]


def oracle(store: Store, requests: Sequence[ChargingRequest]) -> list[ChargingAnswer]:
    service = ChargingService(store.uow, lambda: T0, RULES)
    return [service.handle(r) for r in requests]


def results(futures: Sequence[Future[ChargingAnswer]]) -> list[ChargingAnswer]:
    return [f.result(timeout=GUARD_S) for f in futures]


# ----------------------------------------------------------------------------- answers
def test_answers_equal_those_of_a_plain_service_on_a_twin_store(
    twins: tuple[Store, Store],
) -> None:
    mine, theirs = twins
    requests = mixed_requests()
    service = SteppedService(mine.uow)
    committer = GroupCommitter(service, max_batch=4)
    try:
        first = committer.submit(requests[0])
        assert service.next_batch() == [requests[0]]  # the writer is held in batch 1
        rest = [committer.submit(r) for r in requests[1:]]
        service.free()
        answers = results([first, *rest])
    finally:
        committer.close()

    expected = oracle(theirs, requests)
    assert answers == expected
    assert [a.services[0].outcome for a in answers if a.services][:3] == [
        "success",
        "success",
        "roaming_not_allowed",
    ]
    assert "limit_reached" in {s.outcome for a in answers for s in a.services}
    assert answers[6] == answers[3]  # the retransmission got the stored answer
    assert mine.state() == theirs.state()
    assert len(mine.state()[2]) == 6  # s1 x2, e1, c1 x2, s2: the retransmission added none
    # 12 requests: the one held, then the eleven queued behind it in batches of at most 4.
    sizes = [1, 4, 4, 3]
    assert (committer.batches, committer.requests) == (len(sizes), len(requests))
    seen = [len(b) for b in [[requests[0]], *_drain(service.arrivals)]]
    assert seen == sizes


def _drain(arrivals: queue.Queue[list[ChargingRequest]]) -> list[list[ChargingRequest]]:
    out = []
    while not arrivals.empty():
        out.append(arrivals.get_nowait())
    return out


def test_a_future_resolves_only_once_its_answer_is_stored(twins: tuple[Store, Store]) -> None:
    mine, _ = twins
    stored_when_resolved: list[bool] = []

    def check(future: Future[ChargingAnswer]) -> None:
        answer = future.result()
        key = (answer.session_id, answer.request_number)
        with mine.store.lock:
            stored_when_resolved.append(key in mine.store.answers)

    with GroupCommitter(ChargingService(mine.uow, lambda: T0, RULES)) as committer:
        futures = []
        for n, request in enumerate(mixed_requests()[:6]):
            future = committer.submit(request)
            future.add_done_callback(check)
            futures.append(future)
            if n % 2:
                future.result(timeout=GUARD_S)
        results(futures)
    assert stored_when_resolved == [True] * 6


def test_concurrent_submits_from_several_threads_all_resolve(
    twins: tuple[Store, Store],
) -> None:
    """Six threads, twenty sessions each, on members without limits: order cannot change
    any answer, so each must equal the oracle's."""
    mine, theirs = twins
    threads_n, sessions_n = 6, 20
    plan: dict[int, list[ChargingRequest]] = {}
    for t in range(threads_n):
        subscriber = OWNER if t % 2 else SPOUSE
        plan[t] = []
        for n in range(sessions_n):
            sid = f"t{t}-{n}"
            plan[t] += [
                req(sid, 0, INITIAL, subscriber, data()),
                req(sid, 1, UPDATE, subscriber, data(used=400_000 + t)),
                req(sid, 2, TERMINATION, subscriber, data(used=1_000 + n)),
            ]
    got: dict[int, list[ChargingAnswer]] = {}
    errors: list[BaseException] = []

    with GroupCommitter(ChargingService(mine.uow, lambda: T0, RULES), max_batch=8) as committer:

        def run(t: int) -> None:
            try:
                got[t] = [committer.handle(r) for r in plan[t]]
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(t,)) for t in range(threads_n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=GUARD_S * 4)
        assert not any(thread.is_alive() for thread in threads), "a submitter hung"
    if errors:
        raise errors[0]

    total = threads_n * sessions_n * 3
    assert committer.requests == total
    assert 1 <= committer.batches <= committer.requests
    everything = [r for t in range(threads_n) for r in plan[t]]
    expected = dict(zip(everything, oracle(theirs, everything), strict=True))
    for t in range(threads_n):
        assert got[t] == [expected[r] for r in plan[t]]
    assert mine.state() == theirs.state()
    assert len(mine.store.usage) == threads_n * sessions_n * 2


# ----------------------------------------------------------------------------- failures
def test_a_malformed_request_fails_alone_in_its_batch(twins: tuple[Store, Store]) -> None:
    mine, theirs = twins
    opener = req("s1", 0, INITIAL, OWNER, data())
    good = [
        req("s1", 1, UPDATE, OWNER, data(used=300_000)),
        req("s2", 0, INITIAL, SPOUSE, data()),
        req("e1", 0, EVENT, OWNER, ServiceUse(SMS)),
    ]
    bad: list[tuple[ChargingRequest, type[FamsimError]]] = [
        (req("x1", 0, INITIAL, "12", data()), InvalidIdentifier),
        (req("x2", 0, INITIAL, OWNER, data(), plmn="4600x"), InvalidAmount),
        # raises in the ledger, after the data service of the same request was booked
        (req("s1", 2, UPDATE, OWNER, data(used=5), ServiceUse(VOICE, used=-1)), InvalidAmount),
    ]
    batch = [bad[0][0], good[0], bad[1][0], good[1], bad[2][0], good[2]]
    service = SteppedService(mine.uow)
    with GroupCommitter(service) as committer:
        first = committer.submit(opener)
        assert service.next_batch() == [opener]
        futures = [committer.submit(r) for r in batch]
        service.free()
        first.result(timeout=GUARD_S)
        for future in futures:
            future.exception(timeout=GUARD_S)  # wait for every one of them
        assert service.next_batch() == batch  # one batch for all six

    for request, error in bad:
        future = futures[batch.index(request)]
        assert isinstance(future.exception(), error), (request, future.exception())
    answers = [futures[batch.index(r)].result() for r in good]
    assert answers == oracle(theirs, [opener, *good])[1:]
    assert [a.outcome for a in answers] == ["success"] * 3
    assert mine.state() == theirs.state()
    with mine.uow() as uow:
        assert uow.ledgers.answer("s1", 2) is None  # the failing request left nothing
        assert uow.ledgers.answer("s1", 1) == answers[0].to_dict()
    assert committer.requests == 1 + len(batch)


def test_a_failing_commit_fails_its_whole_batch_and_the_writer_goes_on(
    twins: tuple[Store, Store],
) -> None:
    mine, theirs = twins
    opener = req("s1", 0, INITIAL, OWNER, data())
    doomed = [
        req("s1", 1, UPDATE, OWNER, data(used=500_000)),
        req("s2", 0, INITIAL, SPOUSE, data()),
        req("e1", 0, EVENT, OWNER, ServiceUse(SMS)),
    ]
    later = req("s3", 0, INITIAL, TEEN, data())
    service = SteppedService(mine.uow)
    with GroupCommitter(service) as committer:
        first = committer.submit(opener)
        assert service.next_batch() == [opener]
        futures = [committer.submit(r) for r in doomed]
        service.step()  # the opener commits
        assert first.result(timeout=GUARD_S).outcome == "success"
        assert service.next_batch() == doomed
        before = mine.state()
        mine.switch.failing = True
        service.step()
        errors = [f.exception(timeout=GUARD_S) for f in futures]
        mine.switch.failing = False
        assert all(isinstance(e, StorageDown) for e in errors), errors
        assert mine.switch.failed >= 1
        assert mine.state() == before  # nothing of the batch was committed
        with mine.uow() as uow:
            assert [uow.ledgers.answer(r.session_id, r.request_number) for r in doomed] == [
                None
            ] * 3
        assert (committer.batches, committer.requests) == (1, 1)

        # The writer keeps serving; resent, the failed requests are charged once, now.
        service.free()
        again = [committer.handle(r) for r in [*doomed, later]]

    assert again == oracle(theirs, [opener, *doomed, later])[1:]
    assert mine.state() == theirs.state()
    assert (committer.batches, committer.requests) == (5, 5)


# ----------------------------------------------------------------------------- lifecycle
def test_close_answers_what_was_queued_then_refuses(twins: tuple[Store, Store]) -> None:
    mine, theirs = twins
    requests = mixed_requests()
    committer = GroupCommitter(ChargingService(mine.uow, lambda: T0, RULES))
    futures = [committer.submit(r) for r in requests]
    committer.close()

    assert all(f.done() for f in futures)  # queued before close: answered by close
    assert [f.result() for f in futures] == oracle(theirs, requests)
    assert committer.requests == len(requests)
    with pytest.raises(GroupCommitClosed):
        committer.submit(requests[0])
    with pytest.raises(GroupCommitClosed):
        committer.handle(req("late", 0, INITIAL, OWNER, data()))
    committer.close()  # closing twice is harmless
    with mine.uow() as uow:
        assert uow.ledgers.answer("late", 0) is None


def test_context_manager_closes(twins: tuple[Store, Store]) -> None:
    mine, _ = twins
    with GroupCommitter(ChargingService(mine.uow, lambda: T0, RULES)) as committer:
        future = committer.submit(req("s1", 0, INITIAL, OWNER, data()))
    assert future.done()
    assert future.result().services[0].granted == 1_000_000
    with pytest.raises(GroupCommitClosed):
        committer.submit(req("s1", 1, UPDATE, OWNER, data()))


@pytest.mark.parametrize("max_batch", [0, -1])
def test_max_batch_below_one_is_refused(twins: tuple[Store, Store], max_batch: int) -> None:
    mine, _ = twins
    with pytest.raises(ValueError, match="at least one"):
        GroupCommitter(ChargingService(mine.uow, lambda: T0, RULES), max_batch=max_batch)


def test_max_batch_of_one_commits_each_request_alone(twins: tuple[Store, Store]) -> None:
    mine, theirs = twins
    requests = mixed_requests()[:5]
    service = SteppedService(mine.uow)
    with GroupCommitter(service, max_batch=1) as committer:
        first = committer.submit(requests[0])
        service.next_batch()
        rest = [committer.submit(r) for r in requests[1:]]
        service.free()
        answers = results([first, *rest])
    assert answers == oracle(theirs, requests)
    assert (committer.batches, committer.requests) == (5, 5)


def test_a_cancelled_future_is_skipped(twins: tuple[Store, Store]) -> None:
    mine, theirs = twins
    opener = req("s1", 0, INITIAL, OWNER, data())
    kept_1 = req("s1", 1, UPDATE, OWNER, data(used=100_000))
    dropped = req("s2", 0, INITIAL, SPOUSE, data())
    kept_2 = req("e1", 0, EVENT, OWNER, ServiceUse(SMS))
    service = SteppedService(mine.uow)
    with GroupCommitter(service) as committer:
        first = committer.submit(opener)
        assert service.next_batch() == [opener]
        f1, f2, f3 = (committer.submit(r) for r in (kept_1, dropped, kept_2))
        assert f2.cancel()
        service.free()
        answers = results([first, f1, f3])
        assert service.next_batch() == [kept_1, kept_2]  # the cancelled one never ran

    assert f2.cancelled()
    assert answers == oracle(theirs, [opener, kept_1, kept_2])
    assert mine.state() == theirs.state()
    with mine.uow() as uow:
        assert uow.ledgers.answer("s2", 0) is None
    assert committer.requests == 3
