"""Batches and the hot-family cache of ChargingService, alike on every storage backend.

Runs on the in-memory adapter, SQLite and PostgreSQL. The oracle is the same requests
handled one by one, each by a brand-new ChargingService (so with nothing cached), on a twin
store holding the same family: a batch, a cached family or a second worker must never
answer or book anything differently. Every test ends with invariant 5 of ARCHITECTURE.md:
the counters equal the sums of the usage records.
"""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from demo_charging import (
    CHILD,
    CHILD_MSISDN,
    CHINA,
    DATA,
    EVENT,
    GB,
    GERMANY,
    INITIAL,
    MB,
    OWNER,
    RULES,
    SMS,
    SPOUSE,
    SPOUSE_MSISDN,
    T0,
    TABLET,
    TEEN,
    TERMINATION,
    UNKNOWN,
    UPDATE,
    VOICE,
    WATCH,
    Now,
)
from famsim.adapters.memory import MemoryStore, MemoryUnitOfWork
from famsim.bootstrap import bootstrap
from famsim.config import Settings
from famsim.demo import create_demo_family
from famsim.domain.allocation import ExhaustionAction, Limit
from famsim.domain.charging.ledger import FamilyLedger, UsageRecord
from famsim.domain.errors import InvalidAmount, InvalidIdentifier
from famsim.domain.identifiers import Eid, Iccid, Imei
from famsim.domain.ids import FamilyId, MemberId
from famsim.domain.members import Role
from famsim.domain.money import Money
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
from famsim.service.messagebus import MessageBus
from famsim.service.ports import UnitOfWork

pytestmark = pytest.mark.integration

BACKENDS = ("memory", "sqlite", "postgresql")


class _Clock:
    def today(self) -> Any:
        return T0.date()


@dataclass
class Store:
    """One store (memory, SQLite file or PostgreSQL database) with plans loaded."""

    backend: str
    uow: Callable[[], UnitOfWork]
    bus: MessageBus
    family_id: str = ""

    def ledger(self) -> tuple[FamilyLedger, list[UsageRecord]]:
        with self.uow() as uow:
            family = uow.families.get(self.family_id)
            plan = uow.plans.get(family.plan_code)
            ledger = uow.ledgers.get(family.id, family.cycle.number, plan)
            return ledger, list(uow.ledgers.usage(family.id, family.cycle.number))

    def names(self) -> dict[str, str]:
        with self.uow() as uow:
            family = uow.families.get(self.family_id)
            return {str(m.id): m.name for m in family.members.values()}

    def state(self) -> tuple[Any, ...]:
        """Counters, reservations, usage and outbox with ids replaced by member names."""
        ledger, records = self.ledger()
        names = self.names()

        def who(member_id: Any) -> str:
            return names[str(member_id)] if member_id else ""

        counters: list[tuple[tuple[str, str, Resource, str], int, int]] = [
            (("pool", "", *key), c.used, c.reserved) for key, c in ledger.pools.items()
        ]
        for member_id, m in ledger.members.items():
            name = who(member_id)
            counters += [(("pool", name, *k), c.used, c.reserved) for k, c in m.pool.items()]
            counters += [(("over", name, *k), c.used, c.reserved) for k, c in m.overage.items()]
            counters.append((("teth", name, DATA, "*"), m.tethered.used, m.tethered.reserved))
            counters.append((("money", name, DATA, "*"), m.overage_reserved_minor, 0))
        held = [
            (sid, service, who(r.member_id), r.from_pool, r.from_overage, r.price_minor)
            for (sid, service), r in ledger.reservations.items()
        ]
        usage = [
            (
                r.session_id,
                who(r.member_id),
                r.resource,
                r.zone,
                r.tethered,
                r.units,
                r.from_pool,
                r.from_overage,
                r.overshoot,
            )
            for r in records
        ]
        with self.uow() as uow:
            outbox = [
                (e["kind"], who(e["payload"]["member_id"]), e["payload"]["level"])
                for e in uow.ledgers.outbox(self.family_id)
            ]
        return (
            sorted(x for x in counters if x[1] or x[2]),
            sorted(held),
            sorted(usage),
            sorted(outbox),
            sorted((who(k[0]), *k[1:], tuple(sorted(v))) for k, v in ledger.alerted.items() if v),
        )

    def answer(self, session: str, number: int) -> dict[str, Any] | None:
        with self.uow() as uow:
            return uow.ledgers.answer(session, number)


StoreMaker = Callable[[], Store]


@pytest.fixture(params=BACKENDS)
def new_store(
    request: pytest.FixtureRequest, tmp_path: Path, sample_plans: list[Plan]
) -> Iterator[StoreMaker]:
    """Makes fresh stores of one backend, each with the sample plans (and "tiny") loaded."""
    backend: str = request.param
    cleanup: list[Callable[[], None]] = []
    hk = next(p for p in sample_plans if p.code == "hk-family-5g-100")
    tiny = replace(hk, code="tiny", allowances={(DATA, HOME): TINY_POOL}, overage={})

    def make() -> Store:
        if backend == "memory":
            memory = MemoryStore()
            factory: Callable[[], UnitOfWork] = lambda: MemoryUnitOfWork(memory)  # noqa: E731
        else:
            if backend == "sqlite":
                url = f"sqlite:///{tmp_path}/famsim-{uuid.uuid4().hex[:8]}.db"
            else:
                cluster = request.getfixturevalue("postgres_cluster")
                name = f"famsim_b_{uuid.uuid4().hex[:16]}"
                url = cluster.create_database(name)
                cleanup.append(lambda: cluster.drop_database(name))
            app = bootstrap(Settings(database_url=url, data_dir=tmp_path), _Clock())
            cleanup.append(app.close)  # runs before the drop (cleanup is reversed)
            app.initialise()
            factory = app.uow
        bus = MessageBus(factory, _Clock())
        bus.handle(c.LoadPlans((*sample_plans, tiny)))
        return Store(backend, factory, bus)

    try:
        yield make
    finally:
        for undo in reversed(cleanup):
            undo()


def demo(new_store: StoreMaker) -> Store:
    store = new_store()
    store.family_id = str(create_demo_family(store.bus))
    return store


TINY_POOL = 5 * MB
ADULTS = ("Leung Chi Wai", "Ho Ka Man", "Tsang Wing Yan")


def _sub(n: int) -> c.SubscriptionSpec:
    return c.SubscriptionSpec(
        iccid=str(Iccid.from_body(f"8985200007890{n:05d}")),
        imsi=f"4540078900{n:05d}",
        device_kind=DeviceKind.PHONE,
        eid=str(Eid.from_body(f"8904903200003000000000000{n:05d}")),
        imei=str(Imei.from_body(f"353322330{n:05d}")),
    )


def tiny_family(new_store: StoreMaker) -> tuple[Store, list[str]]:
    """Three adults on a 5 MB plan without overage."""
    store = new_store()
    store.family_id = store.bus.handle(c.CreateFamily("Small pool family", "tiny", ADULTS[0]))
    for name in ADULTS[1:]:
        store.bus.handle(c.AddMember(store.family_id, name, Role.ADULT))
    imsis = []
    for i, name in enumerate(ADULTS, start=1):
        spec = _sub(i)
        store.bus.handle(c.AddLine(store.family_id, name, f"+8529789{i:04d}", spec))
        imsis.append(spec.imsi)
    return store, imsis


def req(
    session: str,
    number: int,
    kind: RequestType,
    subscriber: str,
    *uses: ServiceUse,
    plmn: str | None = None,
) -> ChargingRequest:
    return ChargingRequest(session, number, kind, subscriber, uses, plmn)


def data(
    requested: int | None = None, used: int | None = None, *, tethered: bool = False
) -> ServiceUse:
    return ServiceUse(DATA, tethered=tethered, requested=requested, used=used)


def uncached(store: Store, requests: Sequence[ChargingRequest], now: Now) -> list[Any]:
    """The oracle: every request alone, each by a new service (nothing cached)."""
    out: list[Any] = []
    for request in requests:
        try:
            out.append(ChargingService(store.uow, now, RULES).handle(request))
        except Exception as exc:
            out.append(exc)
    return out


def check_counters_match_records(store: Store) -> None:
    """Invariant 5: every counter's ``used`` equals the sum of the usage records behind it."""
    ledger, records = store.ledger()
    pool: dict[Any, int] = defaultdict(int)
    member_pool: dict[Any, int] = defaultdict(int)
    member_overage: dict[Any, int] = defaultdict(int)
    tethered: dict[Any, int] = defaultdict(int)
    for r in records:
        assert r.units == r.from_pool + r.from_overage, r
        assert 0 <= r.overshoot <= r.units, r
        pool[(r.resource, r.zone)] += r.from_pool
        member_pool[(r.member_id, r.resource, r.zone)] += r.from_pool
        member_overage[(r.member_id, r.resource, r.zone)] += r.from_overage
        if r.tethered:
            tethered[r.member_id] += r.units
    assert {k: v.used for k, v in ledger.pools.items() if v.used} == {
        k: v for k, v in pool.items() if v
    }
    seen_pool, seen_overage, seen_tethered = {}, {}, {}
    for member_id, m in ledger.members.items():
        seen_pool.update({(member_id, *k): x.used for k, x in m.pool.items() if x.used})
        seen_overage.update({(member_id, *k): x.used for k, x in m.overage.items() if x.used})
        if m.tethered.used:
            seen_tethered[member_id] = m.tethered.used
    assert seen_pool == {k: v for k, v in member_pool.items() if v}
    assert seen_overage == {k: v for k, v in member_overage.items() if v}
    assert seen_tethered == {k: v for k, v in tethered.items() if v}


def mixed_sequence() -> list[ChargingRequest]:
    """Five members, nine sessions, every request type, denials and threshold crossings."""
    return [
        req("o1", 0, INITIAL, OWNER, data(), ServiceUse(VOICE)),
        req("w1", 0, INITIAL, SPOUSE, data(), plmn=CHINA),
        req("t1", 0, INITIAL, TEEN, data(), plmn=CHINA),  # roaming_not_allowed
        req("c1", 0, INITIAL, CHILD, data(requested=GB)),
        req("o1", 1, UPDATE, OWNER, data(used=700_000), ServiceUse(VOICE, used=45)),
        req("k1", 0, INITIAL, CHILD, data(tethered=True)),  # hotspot_not_allowed
        req("e1", 0, EVENT, OWNER, ServiceUse(SMS)),
        req("c1", 1, UPDATE, CHILD, data(requested=GB, used=GB // 2 * 3)),  # overshoot, 50 %
        req("tb", 0, INITIAL, TABLET, ServiceUse(VOICE), data()),  # service_not_on_line
        req("x1", 0, INITIAL, UNKNOWN, data()),  # user_unknown
        req("w1", 1, UPDATE, SPOUSE, data(used=800_000), plmn=GERMANY),  # zone_not_covered
        req("wa", 0, INITIAL, WATCH, data(requested=GB)),
        req("c1", 2, UPDATE, CHILD, data(requested=GB, used=GB)),  # 80 %
        req("e2", 0, EVENT, CHILD_MSISDN, ServiceUse(SMS)),
        req("wa", 1, UPDATE, WATCH, data(requested=GB, used=GB // 2)),  # limit reached
        req("o1", 2, TERMINATION, OWNER, data(used=300_000), ServiceUse(VOICE, used=60)),
        req("c1", 3, TERMINATION, CHILD, data(used=GB // 2)),  # 100 %
        req("t1", 1, TERMINATION, TEEN, data(), plmn=CHINA),
        req("wa", 2, TERMINATION, WATCH, data(used=0)),
        req("t2", 0, EVENT, TEEN, ServiceUse(SMS)),
    ]


def outcomes(answers: Sequence[Any]) -> set[str]:
    found = set()
    for a in answers:
        if isinstance(a, ChargingAnswer):
            found.add(str(a.outcome))
            found.update(s.outcome for s in a.services)
    return found


def chunks(items: Sequence[ChargingRequest], size: int) -> Iterator[list[ChargingRequest]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


# ----------------------------------------------------------------------------- (a)
@pytest.mark.parametrize("size", [20, 6, 1], ids=["one-batch", "batches-of-6", "alone"])
def test_batches_answer_and_book_like_requests_one_by_one(new_store: StoreMaker, size: int) -> None:
    mine, twin = demo(new_store), demo(new_store)
    requests = mixed_sequence()
    now = Now(T0)
    service = ChargingService(mine.uow, now, RULES)

    answers: list[Any] = []
    for batch in chunks(requests, size):
        answers += service.handle_batch(batch)
    expected = uncached(twin, requests, now)

    assert not [a for a in expected if isinstance(a, Exception)], expected
    assert answers == expected
    assert {
        "success",
        "roaming_not_allowed",
        "hotspot_not_allowed",
        "service_not_on_line",
        "user_unknown",
        "zone_not_covered",
        "limit_reached",
    } <= outcomes(answers)
    state = mine.state()
    assert state == twin.state()
    assert [level for _, who, level in state[3] if who == "Chan Ka Yan"] == [50, 80, 100]
    assert len(state[2]) == 12  # usage records
    check_counters_match_records(mine)
    check_counters_match_records(twin)


def test_a_batch_over_two_families_books_each_like_requests_one_by_one(
    new_store: StoreMaker,
) -> None:
    def both() -> tuple[Store, Store]:
        small, _ = tiny_family(new_store)
        chans = Store(small.backend, small.uow, small.bus)
        chans.family_id = str(create_demo_family(small.bus))
        return small, chans

    (small, chans), (twin_small, twin_chans) = both(), both()
    imsis = [_sub(i).imsi for i in (1, 2, 3)]
    requests = []
    for n in range(4):
        for i, imsi in enumerate(imsis):
            kind = [INITIAL, UPDATE, UPDATE, TERMINATION][n]
            used = None if n == 0 else 1_300_000 if (i + n) % 2 else 900_000
            requests.append(req(f"t{i}", n, kind, imsi, data(used=used)))
        kind = [INITIAL, UPDATE, UPDATE, TERMINATION][n]
        requests.append(req("o", n, kind, OWNER, data(used=None if n == 0 else 800_000)))
        requests.append(req(f"e{n}", 0, EVENT, CHILD_MSISDN, ServiceUse(SMS)))
    now = Now(T0)
    service = ChargingService(small.uow, now, RULES)

    answers: list[Any] = []
    for batch in chunks(requests, 10):
        answers += service.handle_batch(batch)

    assert answers == uncached(twin_small, requests, now)
    assert "limit_reached" in outcomes(answers)  # the small pool ran out, the Chans' did not
    assert small.state() == twin_small.state()
    assert chans.state() == twin_chans.state()
    assert len(chans.state()[2]) == 3 + 4  # the owner's three reports and four SMS
    for store in (small, chans):
        check_counters_match_records(store)
        assert store.ledger()[0].reservations == {}


# ----------------------------------------------------------------------------- (b)
def test_retransmissions_within_and_across_batches_get_the_stored_answer(
    new_store: StoreMaker,
) -> None:
    mine, twin = demo(new_store), demo(new_store)
    now = Now(T0)
    service = ChargingService(mine.uow, now, RULES)
    first = [
        req("s", 0, INITIAL, OWNER, data()),
        req("s", 1, UPDATE, OWNER, data(used=600_000)),
        req("s", 1, UPDATE, OWNER, data(used=600_000)),  # in the same batch
        req("e", 0, EVENT, OWNER, ServiceUse(SMS)),
        req("e", 0, EVENT, OWNER, ServiceUse(SMS)),
        req("s", 2, UPDATE, OWNER, data(used=1_000_000)),
    ]
    a = service.handle_batch(first)
    assert a[2] == a[1]
    assert a[4] == a[3]
    assert isinstance(a[1], ChargingAnswer)
    assert a[1].services[0].granted == MB
    after_first = mine.state()
    assert [u[5] for u in after_first[2]] == [1, 600_000, 1_000_000]  # (e, s, s) sorted

    second = [
        req("s", 1, UPDATE, OWNER, data(used=600_000)),  # older than the last answered
        req("s", 2, UPDATE, OWNER, data(used=1_000_000)),
        req("e", 0, EVENT, OWNER, ServiceUse(SMS)),
        req("s", 3, TERMINATION, OWNER, data(used=200_000)),
    ]
    b = service.handle_batch(second)
    assert b[:3] == [a[1], a[5], a[3]]
    third = [
        req("s", 3, TERMINATION, OWNER, data(used=200_000)),  # after the session ended
        req("s", 0, INITIAL, OWNER, data()),
    ]
    c_ = service.handle_batch(third)
    assert c_ == [b[3], a[0]]
    # A new service (nothing cached) gets the stored answers too.
    fresh = ChargingService(mine.uow, now, RULES)
    assert fresh.handle_batch([first[1], first[3], second[3]]) == [a[1], a[3], b[3]]

    unique = [first[0], first[1], first[3], first[5], second[3]]
    assert [*a, *b, *c_] == [
        *uncached(twin, first, now),
        *uncached(twin, second, now),
        *uncached(twin, third, now),
    ]
    state = mine.state()
    assert state == twin.state()
    assert [u[5] for u in state[2]] == [1, 200_000, 600_000, 1_000_000]  # charged once each
    assert state[1] == []  # the session ended: nothing held
    for request in unique:
        stored = mine.answer(request.session_id, request.request_number)
        assert stored is not None
    check_counters_match_records(mine)


# ----------------------------------------------------------------------------- (c)
def test_a_failing_request_fails_alone_and_the_rest_commits(new_store: StoreMaker) -> None:
    mine, twin = demo(new_store), demo(new_store)
    now = Now(T0)
    service = ChargingService(mine.uow, now, RULES)
    opening = [req("s", 0, INITIAL, OWNER, data()), req("v", 0, INITIAL, SPOUSE, data())]
    assert all(isinstance(x, ChargingAnswer) for x in service.handle_batch(opening))

    batch = [
        req("s", 1, UPDATE, OWNER, data(used=400_000)),
        req("bad-subscriber", 0, INITIAL, "12", data()),
        req("w", 0, INITIAL, TEEN, data()),
        req("bad-plmn", 0, INITIAL, OWNER, data(), plmn="46O00"),
        # raises in the ledger after its data service was already booked
        req("v", 1, UPDATE, SPOUSE, data(used=300_000), ServiceUse(VOICE, used=-1)),
        req("e", 0, EVENT, CHILD, ServiceUse(SMS)),
        req("s", 2, TERMINATION, OWNER, data(used=500_000)),
    ]
    results = service.handle_batch(batch)

    assert isinstance(results[1], InvalidIdentifier)
    assert isinstance(results[3], InvalidAmount)
    assert isinstance(results[4], InvalidAmount)
    good = [r for i, r in enumerate(batch) if i not in (1, 3, 4)]
    answers = [r for i, r in enumerate(results) if i not in (1, 3, 4)]
    expected = uncached(twin, [*opening, *good], now)[2:]
    assert answers == expected
    assert all(isinstance(a, ChargingAnswer) and a.outcome == "success" for a in answers)
    state = mine.state()
    assert state == twin.state()
    assert mine.answer("v", 1) is None
    held = {(sid, who) for sid, _, who, *_ in state[1]}
    assert ("v", "Wong Mei Ling") in held  # the failed update released nothing
    assert [u[0] for u in state[2]] == ["e", "s", "s"]  # its 300 000 units were not booked

    # Alone, the failing request raises its error; the spouse's session goes on unharmed.
    with pytest.raises(InvalidAmount):
        service.handle(batch[4])
    fixed = req("v", 1, UPDATE, SPOUSE, data(used=300_000), ServiceUse(VOICE, used=1))
    assert service.handle(fixed) == uncached(twin, [fixed], now)[0]
    assert mine.state() == twin.state()
    check_counters_match_records(mine)


def test_a_failing_request_after_a_line_left_the_cached_family(
    memory_store: MemoryStore, memory_bus: MessageBus
) -> None:
    """A cached subscriber whose line is gone makes the batch rerun with fresh owners
    (``_StaleIndex``); a request failing in that rerun must still fail alone.

    Memory only: no command removes a line, so the test edits the stored family directly.
    """
    mine = Store("memory", lambda: MemoryUnitOfWork(memory_store), memory_bus)
    mine.family_id = str(create_demo_family(memory_bus))
    now = Now(T0)
    service = ChargingService(mine.uow, now, RULES)
    assert service.handle(req("v", 0, INITIAL, SPOUSE, data())).outcome == "success"
    assert service.handle(req("s", 0, INITIAL, OWNER, data())).outcome == "success"
    family = memory_store.families[FamilyId(mine.family_id)]
    line = next(x for x in family.lines.values() if str(x.msisdn) == SPOUSE_MSISDN)
    del family.lines[line.id]  # as if the number had been ported out
    family.version += 1

    results = service.handle_batch(
        [
            req("v", 1, UPDATE, SPOUSE, data(used=5)),
            req("s", 1, UPDATE, OWNER, data(used=-1)),
            req("s2", 0, INITIAL, OWNER, data()),
        ]
    )

    assert isinstance(results[0], ChargingAnswer)
    assert results[0].outcome == "user_unknown"
    assert isinstance(results[1], InvalidAmount), results[1]
    assert isinstance(results[2], ChargingAnswer), results[2]
    assert results[2].services[0].granted == MB
    assert mine.answer("s2", 0) == results[2].to_dict()  # the good request committed
    check_counters_match_records(mine)


# ----------------------------------------------------------------------------- (d)
CHILD_LIMITS_HK = "HKD"


def _set_child_data_quota(store: Store, quota: int) -> None:
    """The demo child's allocation with another home data quota (and hard cap)."""
    store.bus.handle(
        c.SetAllocation(
            store.family_id,
            "Chan Ka Yan",
            limits={
                (DATA, HOME): Limit(quota=quota, hard_cap=quota),
                (SMS, HOME): Limit(quota=50, hard_cap=50),
            },
            hotspot_quota=0,
            exhaustion=ExhaustionAction.BLOCK,
            money_cap=Money.zero(CHILD_LIMITS_HK),
            roaming_allowed=False,
        )
    )


def test_a_lowered_quota_refuses_the_next_grant_at_once(new_store: StoreMaker) -> None:
    mine = demo(new_store)
    now = Now(T0)
    service = ChargingService(mine.uow, now, RULES)
    assert service.handle(req("c", 0, INITIAL, CHILD, data(requested=GB))).services[0].granted == GB
    answer = service.handle(req("c", 1, UPDATE, CHILD, data(requested=GB, used=GB)))
    assert answer.services[0].granted == GB  # 1 GB used, 1 GB held, of a 3 GB quota

    _set_child_data_quota(mine, GB + GB // 2)  # below used + reserved

    answer = service.handle(req("c", 2, UPDATE, CHILD, data(requested=GB, used=GB)))
    s = answer.services[0]
    assert (answer.outcome, s.outcome, s.granted) == ("success", "limit_reached", 0)
    watch = service.handle(req("w", 0, INITIAL, WATCH, data(requested=GB)))
    assert (watch.services[0].outcome, watch.services[0].granted) == ("limit_reached", 0)
    ledger, records = mine.ledger()
    child = next(k for k, v in mine.names().items() if v == "Chan Ka Yan")
    counter = ledger.member(MemberId(child)).pool_counter((DATA, HOME))
    # The live reservation was committed as granted, not stranded or counted twice.
    assert (counter.used, counter.reserved) == (2 * GB, 0)
    assert [(r.units, r.from_pool, r.overshoot) for r in records] == [(GB, GB, 0), (GB, GB, 0)]
    assert ledger.reservations == {}

    _set_child_data_quota(mine, 3 * GB)  # raised again: grants resume at once
    again = service.handle(req("c", 3, UPDATE, CHILD, data(requested=GB)))
    assert (again.services[0].outcome, again.services[0].granted) == ("success", GB)
    check_counters_match_records(mine)


@pytest.mark.parametrize("how", ["expire_due", "expire", "own-expire"])
def test_expiry_by_another_worker_is_seen_by_the_cached_one(
    new_store: StoreMaker, how: str
) -> None:
    mine = demo(new_store)
    now = Now(T0)
    service = ChargingService(mine.uow, now, RULES)
    other = service if how == "own-expire" else ChargingService(mine.uow, now, RULES)
    assert service.handle(req("s", 0, INITIAL, OWNER, data())).services[0].granted == MB
    now.advance(61)

    expired = other.expire_due() if how == "expire_due" else other.expire(mine.family_id)
    assert expired == 1
    ledger, _ = mine.ledger()
    assert ledger.pool((DATA, HOME)).reserved == 0

    answer = service.handle(req("s", 1, UPDATE, OWNER, data(used=400_000)))

    assert answer.services[0].granted == MB
    ledger, records = mine.ledger()
    # The grant had expired: the report is overshoot, and only the new grant is held.
    assert [(r.units, r.overshoot) for r in records] == [(400_000, 400_000)]
    assert (ledger.pool((DATA, HOME)).used, ledger.pool((DATA, HOME)).reserved) == (400_000, MB)
    assert [sid for sid, _ in ledger.reservations] == ["s"]
    check_counters_match_records(mine)


def test_a_replaced_plan_applies_at_once(new_store: StoreMaker, sample_plans: list[Plan]) -> None:
    mine, imsis = tiny_family(new_store)
    now = Now(T0)
    service = ChargingService(mine.uow, now, RULES)
    sid = "p"
    service.handle(req(sid, 0, INITIAL, imsis[0], data()))
    service.handle(req(sid, 1, UPDATE, imsis[0], data(used=MB)))  # 1 MB used, 1 MB held
    with mine.uow() as uow:
        tiny = uow.plans.get("tiny")
    mine.bus.handle(c.LoadPlans((replace(tiny, allowances={(DATA, HOME): 2 * MB}),)))

    answer = service.handle(req(sid, 2, UPDATE, imsis[0], data(used=MB)))
    denied = service.handle(req("q", 0, INITIAL, imsis[1], data()))

    assert (answer.services[0].outcome, answer.services[0].granted) == ("limit_reached", 0)
    assert (denied.services[0].outcome, denied.services[0].granted) == ("limit_reached", 0)
    ledger, _ = mine.ledger()
    assert (ledger.pool((DATA, HOME)).used, ledger.pool((DATA, HOME)).reserved) == (2 * MB, 0)
    check_counters_match_records(mine)


# ----------------------------------------------------------------------------- (e)
def test_two_workers_alternate_on_one_small_pool(new_store: StoreMaker) -> None:
    mine, imsis = tiny_family(new_store)
    twin, twin_imsis = tiny_family(new_store)
    assert imsis == twin_imsis
    now = Now(T0)
    workers = [ChargingService(mine.uow, now, RULES), ChargingService(mine.uow, now, RULES)]
    sessions = [f"alt-{n}" for n in range(10)]
    steps = dict.fromkeys(sessions, 0)
    granted = dict.fromkeys(sessions, 0)
    script: list[ChargingRequest] = []
    answers: list[ChargingAnswer] = []
    turn = itertools.count()
    retransmitted = 0

    # Round robin over the sessions: INITIAL, two UPDATEs, TERMINATION, each request to
    # the worker whose turn it is, so every request finds the other worker's change.
    for rnd in range(4):
        for n, sid in enumerate(sessions):
            imsi = imsis[n % len(imsis)]
            kind = [INITIAL, UPDATE, UPDATE, TERMINATION][rnd]
            used = granted[sid] + (150_000 if (n + rnd) % 3 == 0 and granted[sid] else 0)
            request = req(sid, steps[sid], kind, imsi, data(used=used or None))
            steps[sid] += 1
            k = next(turn)
            answer = workers[k % 2].handle(request)
            script.append(request)
            answers.append(answer)
            assert answer.outcome == "success", answer
            granted[sid] = answer.services[0].granted
            ledger, records = mine.ledger()
            pool = ledger.pool((DATA, HOME))
            # Never granted beyond the pool; what is held is exactly the live grants.
            assert pool.used + pool.reserved <= TINY_POOL, (pool, request)
            assert pool.reserved == sum(granted.values()), (pool, granted)
            if k % 7 == 3:  # the other worker gets a retransmission: the stored answer
                before = mine.state()
                assert workers[(k + 1) % 2].handle(request) == answer
                assert mine.state() == before
                retransmitted += 1

    assert retransmitted >= 5
    assert "limit_reached" in outcomes(answers), "the pool should have run out"
    assert answers == uncached(twin, script, now)
    assert mine.state() == twin.state()
    ledger, records = mine.ledger()
    assert ledger.reservations == {}
    assert sum(r.units for r in records) == sum(
        (r.services[0].used or 0) for r in script if r.services[0].used
    )
    assert ledger.pool((DATA, HOME)).used <= TINY_POOL
    check_counters_match_records(mine)


# ----------------------------------------------------------------------------- (f)
def test_a_line_suspended_through_the_bus_is_refused_at_once(new_store: StoreMaker) -> None:
    mine = demo(new_store)
    now = Now(T0)
    service = ChargingService(mine.uow, now, RULES)
    assert service.handle(req("v", 0, INITIAL, SPOUSE, data())).services[0].granted == MB
    assert service.handle(req("o", 0, INITIAL, OWNER, data())).services[0].granted == MB

    mine.bus.handle(c.SuspendLine(mine.family_id, SPOUSE_MSISDN, reason="lost phone"))
    results = service.handle_batch(
        [
            req("v", 1, UPDATE, SPOUSE, data(used=600_000)),
            req("o", 1, UPDATE, OWNER, data(used=100_000)),
            req("v2", 0, INITIAL, SPOUSE_MSISDN, data()),
        ]
    )

    spouse, owner, new = results
    assert isinstance(spouse, ChargingAnswer)
    assert isinstance(new, ChargingAnswer)
    assert isinstance(owner, ChargingAnswer)
    assert (spouse.outcome, spouse.services[0].outcome, spouse.services[0].granted) == (
        "line_suspended",
        "line_suspended",
        0,
    )
    assert (new.outcome, new.services[0].granted) == ("line_suspended", 0)
    assert (owner.outcome, owner.services[0].granted) == ("success", MB)
    ledger, records = mine.ledger()
    assert sorted((r.session_id, r.units) for r in records) == [("o", 100_000), ("v", 600_000)]
    assert [sid for sid, _ in ledger.reservations] == ["o"]  # the spouse's grant released

    mine.bus.handle(c.ResumeLine(mine.family_id, SPOUSE_MSISDN))
    back = service.handle(req("v3", 0, INITIAL, SPOUSE, data()))
    assert (back.outcome, back.services[0].granted) == ("success", MB)
    check_counters_match_records(mine)
