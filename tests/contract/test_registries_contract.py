"""The operator's registries behave alike in memory, on SQLite and on PostgreSQL.

SIM stock (``uow.sims``), the MSISDN pool (``uow.numbers``), the audit log (``uow.audit``)
and received ES2+ notifications (``uow.es2_received``), each in the unit of work's
transaction: committed together, forgotten together.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from famsim.domain.audit import AuditEvent
from famsim.domain.errors import InvalidInput, RuleViolation
from famsim.domain.esim.stock import (
    AlreadyInStock,
    OutOfStock,
    SimNotFree,
    SimNotInStock,
    StockedSim,
    StockState,
)
from famsim.domain.family import Family
from famsim.domain.identifiers import Iccid, Imsi, Msisdn
from famsim.domain.lines import SimType
from famsim.domain.numbers import (
    DEFAULT_HOLD,
    DEFAULT_QUARANTINE,
    NumberState,
    NumberUnavailable,
)
from famsim.domain.plan import Plan
from famsim.service.ports import FamilyNotFound

pytestmark = pytest.mark.integration

NOW = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)


def iccid(n: int) -> Iccid:
    return Iccid.from_body(f"89852000099{n:07d}")


def imsi(n: int) -> Imsi:
    return Imsi.parse(f"45400990{n:07d}")


def esim(n: int, profile_type: str = "phone-5g") -> StockedSim:
    return StockedSim(iccid(n), imsi(n), SimType.ESIM, profile_type)


def card(n: int) -> StockedSim:
    return StockedSim(iccid(n), imsi(n), SimType.PHYSICAL, None)


def number(n: int) -> Msisdn:
    return Msisdn.parse(f"+8529123{n:04d}")


def stock(uow_factory: Any, sims: list[StockedSim]) -> None:
    with uow_factory() as uow:
        uow.sims.add_all(sims, NOW)
        uow.commit()


def add_range(uow_factory: Any, first: int, last: int) -> int:
    with uow_factory() as uow:
        added: int = uow.numbers.add_range(number(first), number(last), NOW)
        uow.commit()
    return added


def in_uow(uow_factory: Any, work: Callable[[Any], Any]) -> Any:
    """Run *work* in a unit of work and commit it; its answer is returned."""
    with uow_factory() as uow:
        answer = work(uow)
        uow.commit()
    return answer


def read(uow_factory: Any, work: Callable[[Any], Any]) -> Any:
    with uow_factory() as uow:
        return work(uow)


@pytest.fixture
def family(uow_factory: Any, hk_plan: Plan) -> Family:
    """A stored family, for audit events to name."""
    stored = Family.create(name="Audited", plan=hk_plan, owner_name="Ann", today=NOW.date())
    with uow_factory() as uow:
        uow.families.add(stored)
        uow.commit()
    return stored


def until_dry(attempt: Callable[[], bool], dry: Callable[[], bool]) -> None:
    """Call *attempt* until it reports nothing left and a fresh read agrees.

    A refusal while the other thread's uncommitted change holds the last rows is expected
    (they are skipped, as SKIP LOCKED does); the thread then tries again.
    """
    for _ in range(200):
        if attempt() is False and dry():
            return
    raise AssertionError("the pool never ran dry")


# ------------------------------------------------------------------------- SIM stock
def test_a_delivery_reads_back(uow_factory: Any) -> None:
    sims = [esim(1), esim(2, "watch"), card(3)]
    stock(uow_factory, sims)

    assert [read(uow_factory, lambda u, s=s: u.sims.get(s.iccid)) for s in sims] == sims
    assert read(uow_factory, lambda u: u.sims.get(iccid(9))) is None
    assert read(uow_factory, lambda u: u.sims.counts()) == [
        ("esim", "phone-5g", "free", 1),
        ("esim", "watch", "free", 1),
        ("physical", None, "free", 1),
    ]


@pytest.mark.parametrize(
    ("delivery", "position", "text"),
    [
        ([esim(10), esim(11), esim(1)], 2, f"ICCID {iccid(1)} is already in stock"),
        (
            [esim(10), StockedSim(iccid(11), imsi(1), SimType.ESIM, "x")],
            1,
            f"IMSI {imsi(1)} is already in stock (ICCID {iccid(1)})",
        ),
        ([esim(10), esim(11), esim(10)], 2, f"ICCID {iccid(10)} is twice in the delivery"),
        (
            [card(10), StockedSim(iccid(11), imsi(10), SimType.PHYSICAL, None)],
            1,
            f"IMSI {imsi(10)} is twice in the delivery",
        ),
    ],
)
def test_a_delivery_is_stocked_whole_or_not_at_all(
    uow_factory: Any, delivery: list[StockedSim], position: int, text: str
) -> None:
    stock(uow_factory, [esim(1)])
    with uow_factory() as uow:
        with pytest.raises(AlreadyInStock) as refused:
            uow.sims.add_all(delivery, NOW)
        assert refused.value.position == position
        assert text in str(refused.value)
        assert uow.sims.get(iccid(10)) is None  # nothing of it, even in this unit of work
        uow.commit()
    assert read(uow_factory, lambda u: u.sims.counts()) == [("esim", "phone-5g", "free", 1)]


def test_already_stocked_names_every_offender_in_order(uow_factory: Any) -> None:
    stock(uow_factory, [esim(1), card(2)])
    delivery = [esim(5), card(2), StockedSim(iccid(6), imsi(1), SimType.ESIM, "x"), esim(7)]

    refused = read(uow_factory, lambda u: u.sims.already_stocked(delivery))

    assert [(r.position, str(r)) for r in refused] == [
        (1, f"ICCID {iccid(2)} is already in stock"),
        (2, f"IMSI {imsi(1)} is already in stock (ICCID {iccid(1)})"),
    ]
    assert read(uow_factory, lambda u: u.sims.already_stocked([esim(5)])) == []


def test_a_delivery_without_commit_is_not_stocked(uow_factory: Any) -> None:
    with uow_factory() as uow:
        uow.sims.add_all([esim(1)], NOW)
        assert uow.sims.get(iccid(1)) == esim(1)
    assert read(uow_factory, lambda u: u.sims.get(iccid(1))) is None
    stock(uow_factory, [esim(1)])  # and it can be stocked afterwards


def test_take_gives_the_lowest_free_iccid_of_the_type_once(uow_factory: Any) -> None:
    stock(uow_factory, [esim(3), esim(1), esim(2, "watch"), esim(4), card(5)])

    first = in_uow(uow_factory, lambda u: u.sims.take("phone-5g", NOW))
    second = in_uow(uow_factory, lambda u: u.sims.take("phone-5g", NOW))
    third = in_uow(uow_factory, lambda u: u.sims.take("phone-5g", NOW))

    assert [first.iccid, second.iccid, third.iccid] == [iccid(1), iccid(3), iccid(4)]
    assert first == StockedSim(iccid(1), imsi(1), SimType.ESIM, "phone-5g", StockState.ASSIGNED)
    assert read(uow_factory, lambda u: u.sims.get(iccid(1))) == first
    with pytest.raises(OutOfStock, match="no free eSIM profile of type 'phone-5g' in stock"):
        in_uow(uow_factory, lambda u: u.sims.take("phone-5g", NOW))
    with pytest.raises(OutOfStock, match="no eSIM profile of type 'tablet' was ever stocked"):
        in_uow(uow_factory, lambda u: u.sims.take("tablet", NOW))


def test_take_within_one_unit_of_work_never_repeats(uow_factory: Any) -> None:
    stock(uow_factory, [esim(1), esim(2)])
    with uow_factory() as uow:
        taken = {uow.sims.take("phone-5g", NOW).iccid, uow.sims.take("phone-5g", NOW).iccid}
        with pytest.raises(OutOfStock):
            uow.sims.take("phone-5g", NOW)
        uow.commit()
    assert taken == {iccid(1), iccid(2)}


def test_a_take_rolled_back_gives_the_sim_again(uow_factory: Any) -> None:
    stock(uow_factory, [esim(1)])
    with uow_factory() as uow:
        assert uow.sims.take("phone-5g", NOW).iccid == iccid(1)
        uow.rollback()
        assert uow.sims.get(iccid(1)) == esim(1)
    assert in_uow(uow_factory, lambda u: u.sims.take("phone-5g", NOW)).iccid == iccid(1)


def test_take_iccid(uow_factory: Any) -> None:
    stock(uow_factory, [card(1), esim(2)])

    taken = in_uow(uow_factory, lambda u: u.sims.take_iccid(iccid(1), NOW))

    assert taken == StockedSim(iccid(1), imsi(1), SimType.PHYSICAL, None, StockState.ASSIGNED)
    with pytest.raises(SimNotFree, match=f"SIM {iccid(1)} is assigned, not free"):
        in_uow(uow_factory, lambda u: u.sims.take_iccid(iccid(1), NOW))
    with pytest.raises(SimNotInStock, match=f"ICCID {iccid(9)} is not in the operator's"):
        in_uow(uow_factory, lambda u: u.sims.take_iccid(iccid(9), NOW))
    assert in_uow(uow_factory, lambda u: u.sims.take_iccid(iccid(2), NOW)).profile_type == (
        "phone-5g"
    )


def test_a_retired_sim_is_never_given_out_again(uow_factory: Any) -> None:
    stock(uow_factory, [esim(1), esim(2)])
    in_uow(uow_factory, lambda u: u.sims.take("phone-5g", NOW))

    with pytest.raises(RuleViolation, match="only an assigned SIM can be retired"):
        in_uow(uow_factory, lambda u: u.sims.retire(iccid(2), NOW))
    in_uow(uow_factory, lambda u: u.sims.retire(iccid(1), NOW))
    with pytest.raises(RuleViolation, match="is retired"):
        in_uow(uow_factory, lambda u: u.sims.retire(iccid(1), NOW))
    with pytest.raises(SimNotInStock):
        in_uow(uow_factory, lambda u: u.sims.retire(iccid(9), NOW))

    assert read(uow_factory, lambda u: u.sims.get(iccid(1))).state is StockState.RETIRED
    assert in_uow(uow_factory, lambda u: u.sims.take("phone-5g", NOW)).iccid == iccid(2)
    with pytest.raises(SimNotFree, match="is retired"):
        in_uow(uow_factory, lambda u: u.sims.take_iccid(iccid(1), NOW))
    assert read(uow_factory, lambda u: u.sims.counts()) == [
        ("esim", "phone-5g", "assigned", 1),
        ("esim", "phone-5g", "retired", 1),
    ]


def test_two_open_units_of_work_take_different_sims(uow_factory: Any) -> None:
    """Both take before either commits (SQLite cannot: one writer at a time, see below)."""
    if uow_factory.backend == "sqlite":
        pytest.skip("SQLite opens one writing transaction at a time (BEGIN IMMEDIATE)")
    stock(uow_factory, [esim(1), esim(2)])
    with uow_factory() as left, uow_factory() as right:
        a = left.sims.take("phone-5g", NOW)
        b = right.sims.take("phone-5g", NOW)
        with pytest.raises(OutOfStock):
            right.sims.take("phone-5g", NOW)  # the other's SIM is skipped, not shared
        left.commit()
        right.commit()
    assert {a.iccid, b.iccid} == {iccid(1), iccid(2)}


def test_threads_taking_at_once_never_share_a_sim(uow_factory: Any) -> None:
    stock(uow_factory, [esim(n) for n in range(1, 9)])
    taken: list[Iccid] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def take() -> bool:
        try:
            taken.append(in_uow(uow_factory, lambda u: u.sims.take("phone-5g", NOW)).iccid)
        except OutOfStock:
            return False
        return True

    def dry() -> bool:
        return read(uow_factory, lambda u: u.sims.counts()) == [("esim", "phone-5g", "assigned", 8)]

    def work() -> None:
        try:
            start.wait(timeout=10)
            until_dry(take, dry)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert sorted(taken, key=str) == [iccid(n) for n in range(1, 9)]


# ----------------------------------------------------------------------- number pool
def test_a_range_adds_free_numbers(uow_factory: Any) -> None:
    assert add_range(uow_factory, 0, 9) == 10
    assert add_range(uow_factory, 10, 10) == 1  # adjacent ranges are fine

    assert read(uow_factory, lambda u: u.numbers.counts(NOW)) == {
        NumberState.FREE: 11,
        NumberState.HELD: 0,
        NumberState.ASSIGNED: 0,
        NumberState.QUARANTINED: 0,
    }
    listed = read(uow_factory, lambda u: u.numbers.listing(NOW, limit=3))
    assert listed == [(number(n), NumberState.FREE, None) for n in range(3)]
    assert read(uow_factory, lambda u: u.numbers.state_of(number(10), NOW)) is NumberState.FREE
    assert read(uow_factory, lambda u: u.numbers.state_of(number(11), NOW)) is None


def test_overlapping_ranges_are_refused(uow_factory: Any) -> None:
    add_range(uow_factory, 10, 19)
    for first, last in ((0, 10), (19, 25), (12, 14), (0, 30)):
        with pytest.raises(InvalidInput, match=r"overlaps the range .* already in the pool"):
            add_range(uow_factory, first, last)
    with pytest.raises(InvalidInput, match="the first number is after the last"):
        add_range(uow_factory, 5, 4)
    assert sum(read(uow_factory, lambda u: u.numbers.counts(NOW)).values()) == 10


def test_an_offer_holds_distinct_free_numbers(uow_factory: Any) -> None:
    add_range(uow_factory, 0, 9)

    offer = in_uow(uow_factory, lambda u: u.numbers.offer(3, NOW))

    assert len(offer.numbers) == len(set(offer.numbers)) == 3
    assert offer.held_until == NOW + DEFAULT_HOLD
    assert list(offer.numbers) == sorted(offer.numbers, key=str)
    for held in offer.numbers:
        assert read(uow_factory, lambda u, m=held: u.numbers.state_of(m, NOW)) is NumberState.HELD
    assert read(uow_factory, lambda u: u.numbers.listing(NOW, NumberState.HELD)) == [
        (held, NumberState.HELD, NOW + DEFAULT_HOLD) for held in offer.numbers
    ]
    assert read(uow_factory, lambda u: u.numbers.counts(NOW))[NumberState.HELD] == 3


def test_offers_never_share_a_number_until_the_pool_runs_dry(uow_factory: Any) -> None:
    add_range(uow_factory, 0, 9)
    offers = [in_uow(uow_factory, lambda u: u.numbers.offer(3, NOW)) for _ in range(4)]

    numbers = [n for offer in offers for n in offer.numbers]
    assert sorted(numbers, key=str) == [number(n) for n in range(10)]
    assert [len(offer.numbers) for offer in offers] == [3, 3, 3, 1]  # up to count
    assert len({offer.offer_id for offer in offers}) == 4
    with pytest.raises(NumberUnavailable, match="no free number in the pool"):
        in_uow(uow_factory, lambda u: u.numbers.offer(1, NOW))


def test_no_ranges_no_offer(uow_factory: Any) -> None:
    with pytest.raises(NumberUnavailable, match="no number ranges"):
        in_uow(uow_factory, lambda u: u.numbers.offer(1, NOW))
    with pytest.raises(InvalidInput, match="an offer has 1 to"):
        in_uow(uow_factory, lambda u: u.numbers.offer(0, NOW))


def test_a_hold_ends_by_itself(uow_factory: Any) -> None:
    add_range(uow_factory, 0, 1)
    offer = in_uow(uow_factory, lambda u: u.numbers.offer(2, NOW, timedelta(minutes=5)))
    over = NOW + timedelta(minutes=5)

    assert read(uow_factory, lambda u: u.numbers.state_of(number(0), over)) is NumberState.FREE
    with pytest.raises(NumberUnavailable, match=re.escape(f"the hold on {number(0)} expired at")):
        in_uow(uow_factory, lambda u: u.numbers.assign(number(0), offer.offer_id, over))

    again = in_uow(uow_factory, lambda u: u.numbers.offer(2, over))
    assert set(again.numbers) == set(offer.numbers)
    with pytest.raises(NumberUnavailable, match="held by another offer"):
        in_uow(uow_factory, lambda u: u.numbers.assign(number(0), offer.offer_id, over))


def test_assigning_one_offered_number_frees_the_others(uow_factory: Any) -> None:
    add_range(uow_factory, 0, 4)
    offer = in_uow(uow_factory, lambda u: u.numbers.offer(3, NOW))
    chosen, *others = offer.numbers

    in_uow(uow_factory, lambda u: u.numbers.assign(chosen, offer.offer_id, LATER))

    assert read(uow_factory, lambda u: u.numbers.state_of(chosen, LATER)) is NumberState.ASSIGNED
    for other in others:
        state = read(uow_factory, lambda u, m=other: u.numbers.state_of(m, LATER))
        assert state is NumberState.FREE
        with pytest.raises(NumberUnavailable, match="not one of the numbers offered"):
            in_uow(uow_factory, lambda u, m=other: u.numbers.assign(m, offer.offer_id, LATER))
    with pytest.raises(NumberUnavailable, match="already assigned"):
        in_uow(uow_factory, lambda u: u.numbers.assign(chosen, offer.offer_id, LATER))
    assert read(uow_factory, lambda u: u.numbers.counts(LATER)) == {
        NumberState.FREE: 4,
        NumberState.HELD: 0,
        NumberState.ASSIGNED: 1,
        NumberState.QUARANTINED: 0,
    }


def test_assign_refuses_a_number_held_for_someone_else(uow_factory: Any) -> None:
    add_range(uow_factory, 0, 1)
    mine = in_uow(uow_factory, lambda u: u.numbers.offer(1, NOW))
    theirs = in_uow(uow_factory, lambda u: u.numbers.offer(1, NOW))

    with pytest.raises(NumberUnavailable, match="held by another offer"):
        in_uow(uow_factory, lambda u: u.numbers.assign(theirs.numbers[0], mine.offer_id, NOW))
    with pytest.raises(NumberUnavailable, match="held by an offer to someone else until"):
        in_uow(uow_factory, lambda u: u.numbers.assign(theirs.numbers[0], None, NOW))
    with pytest.raises(NumberUnavailable, match="held by another offer"):
        in_uow(uow_factory, lambda u: u.numbers.assign(theirs.numbers[0], "no-such-offer", NOW))


def test_release_quarantines_until_the_time_returned(uow_factory: Any) -> None:
    add_range(uow_factory, 0, 0)
    in_uow(uow_factory, lambda u: u.numbers.assign(number(0), None, NOW))

    until = in_uow(uow_factory, lambda u: u.numbers.release(number(0), LATER))

    assert until == LATER + DEFAULT_QUARANTINE
    assert read(uow_factory, lambda u: u.numbers.listing(LATER)) == [
        (number(0), NumberState.QUARANTINED, until)
    ]
    with pytest.raises(NumberUnavailable, match=f"in quarantine until {until.date()}"):
        in_uow(uow_factory, lambda u: u.numbers.assign(number(0), None, LATER))
    with pytest.raises(NumberUnavailable, match="no free number"):
        in_uow(uow_factory, lambda u: u.numbers.offer(1, LATER))
    with pytest.raises(NumberUnavailable, match="nothing to release"):
        in_uow(uow_factory, lambda u: u.numbers.release(number(0), LATER))

    assert read(uow_factory, lambda u: u.numbers.state_of(number(0), until)) is NumberState.FREE
    offer = in_uow(uow_factory, lambda u: u.numbers.offer(1, until))
    assert offer.numbers == (number(0),)
    in_uow(uow_factory, lambda u: u.numbers.assign(number(0), offer.offer_id, until))


def test_a_ported_in_number_is_not_managed(uow_factory: Any) -> None:
    add_range(uow_factory, 0, 0)
    ported = Msisdn.parse("+85261234567")

    in_uow(uow_factory, lambda u: u.numbers.assign(ported, None, NOW))

    assert read(uow_factory, lambda u: u.numbers.state_of(ported, NOW)) is None
    assert in_uow(uow_factory, lambda u: u.numbers.release(ported, NOW)) is None
    with pytest.raises(NumberUnavailable, match="not in the operator's ranges"):
        in_uow(uow_factory, lambda u: u.numbers.assign(ported, "some-offer", NOW))
    assert sum(read(uow_factory, lambda u: u.numbers.counts(NOW)).values()) == 1


def test_unhold_frees_the_offer(uow_factory: Any) -> None:
    add_range(uow_factory, 0, 2)
    offer = in_uow(uow_factory, lambda u: u.numbers.offer(2, NOW))

    in_uow(uow_factory, lambda u: u.numbers.unhold(offer.offer_id, LATER))
    in_uow(uow_factory, lambda u: u.numbers.unhold("unknown-offer", LATER))  # nothing to do

    assert read(uow_factory, lambda u: u.numbers.counts(LATER))[NumberState.FREE] == 3
    with pytest.raises(NumberUnavailable, match="not one of the numbers offered"):
        in_uow(uow_factory, lambda u: u.numbers.assign(offer.numbers[0], offer.offer_id, LATER))


def test_listing_filters_by_effective_state(uow_factory: Any) -> None:
    add_range(uow_factory, 0, 5)
    in_uow(uow_factory, lambda u: u.numbers.assign(number(0), None, NOW))
    in_uow(uow_factory, lambda u: u.numbers.assign(number(1), None, NOW))
    in_uow(uow_factory, lambda u: u.numbers.release(number(1), NOW, timedelta(days=1)))
    short = in_uow(uow_factory, lambda u: u.numbers.offer(4, NOW, timedelta(minutes=1)))

    def listed(state: NumberState | None, at: datetime) -> list[Any]:
        return read(uow_factory, lambda u: u.numbers.listing(at, state))  # type: ignore[no-any-return]

    assert listed(NumberState.ASSIGNED, NOW) == [(number(0), NumberState.ASSIGNED, None)]
    assert listed(NumberState.QUARANTINED, NOW) == [
        (number(1), NumberState.QUARANTINED, NOW + timedelta(days=1))
    ]
    assert [m for m, _, _ in listed(NumberState.HELD, NOW)] == list(short.numbers)
    assert listed(NumberState.FREE, NOW) == []
    assert [m for m, _, _ in listed(NumberState.FREE, LATER)] == [number(n) for n in range(2, 6)]
    day_after = NOW + timedelta(days=1)
    assert [s for _, s, _ in listed(None, day_after)] == [NumberState.ASSIGNED] + [
        NumberState.FREE
    ] * 5
    assert len(read(uow_factory, lambda u: u.numbers.listing(NOW, limit=2))) == 2


def test_a_rolled_back_unit_of_work_leaves_the_pool_as_it_was(uow_factory: Any) -> None:
    add_range(uow_factory, 0, 2)
    with uow_factory() as uow:
        uow.numbers.add_range(number(100), number(109), NOW)
        offer = uow.numbers.offer(2, NOW)
        uow.numbers.assign(offer.numbers[0], offer.offer_id, NOW)
        uow.rollback()
        assert uow.numbers.counts(NOW)[NumberState.FREE] == 3
    assert read(uow_factory, lambda u: u.numbers.counts(NOW)) == {
        NumberState.FREE: 3,
        NumberState.HELD: 0,
        NumberState.ASSIGNED: 0,
        NumberState.QUARANTINED: 0,
    }
    assert add_range(uow_factory, 100, 109) == 10


def test_threads_offering_at_once_never_share_a_number(uow_factory: Any) -> None:
    add_range(uow_factory, 0, 19)
    offered: list[Msisdn] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def offer() -> bool:
        try:
            offered.extend(in_uow(uow_factory, lambda u: u.numbers.offer(2, NOW)).numbers)
        except NumberUnavailable:
            return False
        return True

    def dry() -> bool:
        return read(uow_factory, lambda u: u.numbers.counts(NOW))[NumberState.FREE] == 0

    def work() -> None:
        try:
            start.wait(timeout=10)
            until_dry(offer, dry)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert sorted(offered, key=str) == [number(n) for n in range(20)]


# ------------------------------------------------------------------------- audit log
def event(at: datetime, family_id: str | None, action: str, **detail: Any) -> AuditEvent:
    return AuditEvent(at, family_id, "operator:test", action, "+85291230000", detail)


def test_audit_events_read_back_oldest_first(uow_factory: Any, family: Family) -> None:
    first = event(NOW, family.id, "number.assigned", offer="x", count=2, ok=True, gone=None)
    second = event(LATER, family.id, "esim.ordered")
    operator = event(NOW + timedelta(seconds=30), None, "stock.imported", sims=3)
    in_uow(uow_factory, lambda u: u.audit.record(second))
    in_uow(uow_factory, lambda u: [u.audit.record(e) for e in (first, operator)])

    assert read(uow_factory, lambda u: u.audit.for_family(family.id)) == [first, second]
    assert read(uow_factory, lambda u: u.audit.for_family(family.id, limit=1)) == [second]
    assert read(uow_factory, lambda u: u.audit.recent()) == [first, operator, second]
    assert read(uow_factory, lambda u: u.audit.recent(limit=2)) == [operator, second]
    assert read(uow_factory, lambda u: u.audit.for_family("no-such-family")) == []


def test_audit_events_are_forgotten_with_a_rollback(uow_factory: Any, family: Family) -> None:
    with uow_factory() as uow:
        uow.audit.record(event(NOW, family.id, "esim.ordered"))
        assert [e.action for e in uow.audit.for_family(family.id)] == ["esim.ordered"]
        uow.rollback()
        assert uow.audit.for_family(family.id) == []
        uow.audit.record(event(LATER, family.id, "esim.cancelled"))
        uow.commit()
    with uow_factory() as uow:
        uow.audit.record(event(LATER, family.id, "never.committed"))
    assert [e.action for e in read(uow_factory, lambda u: u.audit.recent())] == ["esim.cancelled"]


def test_an_audit_event_may_name_a_family_added_in_the_same_unit_of_work(
    uow_factory: Any, hk_plan: Plan
) -> None:
    new = Family.create(name="Fresh", plan=hk_plan, owner_name="Ada", today=NOW.date())
    with uow_factory() as uow:
        uow.audit.record(event(NOW, new.id, "family.created"))  # before the family, even
        uow.families.add(new)
        uow.commit()
    assert [e.action for e in read(uow_factory, lambda u: u.audit.for_family(new.id))] == [
        "family.created"
    ]


def test_an_audit_event_naming_no_family_fails_the_commit(uow_factory: Any) -> None:
    with uow_factory() as uow:
        uow.audit.record(event(NOW, "no-such-family", "esim.ordered"))
        with pytest.raises(FamilyNotFound, match="no-such-family"):
            uow.commit()
    assert read(uow_factory, lambda u: u.audit.recent()) == []


# ------------------------------------------------------------- received notifications
def first_time(uow: Any, call_id: str, requester: str = "smdp.example") -> bool:
    answer: bool = uow.es2_received.first_time(
        requester, call_id, iccid=iccid(1), point=3, outcome="Executed-Success", now=NOW
    )
    return answer


def test_a_notification_is_new_once(uow_factory: Any) -> None:
    with uow_factory() as uow:
        assert first_time(uow, "call-1") is True
        assert first_time(uow, "call-1") is False
        uow.commit()
    with uow_factory() as uow:
        assert first_time(uow, "call-1") is False
        assert first_time(uow, "call-2") is True
        assert first_time(uow, "call-1", requester="other.example") is True
        uow.commit()
    with uow_factory() as uow:
        assert first_time(uow, "call-2") is False


def test_a_rolled_back_notification_is_new_again(uow_factory: Any) -> None:
    with uow_factory() as uow:
        assert first_time(uow, "call-1") is True
    with uow_factory() as uow:
        assert first_time(uow, "call-1") is True
        uow.rollback()
        assert first_time(uow, "call-1") is True
        uow.commit()
    with uow_factory() as uow:
        assert first_time(uow, "call-1") is False
