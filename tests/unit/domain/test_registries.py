"""The operator's registries' pure rules: stocked SIMs, number ranges and states, audit events."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from famsim.domain.audit import AuditEvent, latest
from famsim.domain.errors import InvalidInput
from famsim.domain.esim.stock import (
    AlreadyInStock,
    OutOfStock,
    SimNotFree,
    SimNotInStock,
    StockedSim,
    StockState,
    check_delivery,
    check_retire,
    check_take,
    out_of_stock,
)
from famsim.domain.identifiers import Iccid, Imsi, Msisdn
from famsim.domain.lines import SimType
from famsim.domain.numbers import (
    MAX_RANGE,
    NumberRange,
    NumberState,
    NumberUnavailable,
    PooledNumber,
    check_offer_count,
)

NOW = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
ICCID = Iccid.from_body("898520000990000001")
IMSI = Imsi.parse("454009900000001")


def m(text: str) -> Msisdn:
    return Msisdn.parse(text)


# ------------------------------------------------------------------------ stock
def test_an_esim_needs_a_profile_type_and_a_card_has_none() -> None:
    assert StockedSim(ICCID, IMSI, SimType.ESIM, "watch").state is StockState.FREE
    assert StockedSim(ICCID, IMSI, SimType.PHYSICAL, None).profile_type is None
    with pytest.raises(InvalidInput, match="needs a profile type"):
        StockedSim(ICCID, IMSI, SimType.ESIM, None)
    with pytest.raises(InvalidInput, match="needs a profile type"):
        StockedSim(ICCID, IMSI, SimType.ESIM, "  ")
    with pytest.raises(InvalidInput, match="has no profile type"):
        StockedSim(ICCID, IMSI, SimType.PHYSICAL, "watch")
    with pytest.raises(InvalidInput, match="blanks around it"):
        StockedSim(ICCID, IMSI, SimType.ESIM, " watch")
    with pytest.raises(InvalidInput, match="at most 64"):
        StockedSim(ICCID, IMSI, SimType.ESIM, "x" * 65)


def test_a_delivery_names_its_first_repeat() -> None:
    other = Iccid.from_body("898520000990000002")
    sims = [
        StockedSim(ICCID, IMSI, SimType.PHYSICAL, None),
        StockedSim(other, IMSI, SimType.PHYSICAL, None),
    ]
    with pytest.raises(AlreadyInStock, match="IMSI 454009900000001 is twice") as refused:
        check_delivery(sims)
    assert refused.value.position == 1
    with pytest.raises(InvalidInput, match="must be free"):
        check_delivery([StockedSim(ICCID, IMSI, SimType.PHYSICAL, None, StockState.ASSIGNED)])


def test_take_and_retire_rules() -> None:
    free = StockedSim(ICCID, IMSI, SimType.PHYSICAL, None)
    assigned = StockedSim(ICCID, IMSI, SimType.PHYSICAL, None, StockState.ASSIGNED)
    assert check_take(free, ICCID) is free
    assert check_retire(assigned, ICCID) is assigned
    with pytest.raises(SimNotInStock):
        check_take(None, ICCID)
    with pytest.raises(SimNotFree, match="is assigned, not free"):
        check_take(assigned, ICCID)
    with pytest.raises(SimNotInStock):
        check_retire(None, ICCID)
    assert isinstance(out_of_stock("x", ever_stocked=True), OutOfStock)
    assert str(out_of_stock("x", ever_stocked=False)) == (
        "no eSIM profile of type 'x' was ever stocked"
    )


# ----------------------------------------------------------------------- ranges
def test_a_range_lists_its_numbers_in_order() -> None:
    block = NumberRange(m("+85291230098"), m("+85291230102"))
    assert block.size == 5
    expected = ["+85291230098", "+85291230099", "+85291230100", "+85291230101", "+85291230102"]
    assert list(block.e164s()) == expected
    assert [str(n) for n in block.numbers()] == expected
    assert str(block) == "+85291230098 .. +85291230102"


@pytest.mark.parametrize(
    ("first", "last", "reason"),
    [
        ("+85291230010", "+85291230009", "the first number is after the last"),
        ("+85291230000", "+14155550100", "the same country code"),
        ("+85291230000", "+852912300000", None),  # not a valid HK number: refused on parse
    ],
)
def test_bad_ranges_are_refused(first: str, last: str, reason: str | None) -> None:
    with pytest.raises(InvalidInput, match=reason):
        NumberRange(m(first), m(last))


def test_a_range_has_at_most_max_range_numbers() -> None:
    NumberRange(m("+85291200000"), m("+85291299999"))  # exactly 100,000
    with pytest.raises(InvalidInput, match="at most 100,000"):
        NumberRange(m("+85291200000"), m("+85291300000"))
    assert MAX_RANGE == 100_000


def test_a_range_holding_an_invalid_number_names_it() -> None:
    block = NumberRange(m("+85244439999"), m("+85244450000"))  # 4444 xxxx is not assigned
    with pytest.raises(InvalidInput, match=r"holds \+85244440000, which is not a valid number"):
        block.numbers()


def test_overlaps() -> None:
    a = NumberRange(m("+85291230010"), m("+85291230019"))
    assert a.overlaps(NumberRange(m("+85291230019"), m("+85291230025")))
    assert a.overlaps(NumberRange(m("+85291230000"), m("+85291230010")))
    assert a.overlaps(NumberRange(m("+85291230012"), m("+85291230013")))
    assert not a.overlaps(NumberRange(m("+85291230020"), m("+85291230029")))
    assert not a.overlaps(NumberRange(m("+85291230000"), m("+85291230009")))


# ----------------------------------------------------------------- number states
def test_holds_and_quarantines_end_by_time() -> None:
    held = PooledNumber("+85291230000").held("offer", NOW + timedelta(minutes=10))
    assert held.effective(NOW) is NumberState.HELD
    assert held.until(NOW) == NOW + timedelta(minutes=10)
    assert held.effective(NOW + timedelta(minutes=10)) is NumberState.FREE
    assert held.until(NOW + timedelta(minutes=10)) is None

    resting = PooledNumber("+85291230000", NumberState.ASSIGNED).released(NOW, timedelta(days=2))
    assert resting.effective(NOW + timedelta(days=1)) is NumberState.QUARANTINED
    assert resting.effective(NOW + timedelta(days=2)) is NumberState.FREE


def test_assignment_refusals_say_why() -> None:
    held = PooledNumber("+85291230000").held("mine", NOW + timedelta(minutes=10))
    assigned = PooledNumber("+85291230000", NumberState.ASSIGNED)
    quarantined = assigned.released(NOW, timedelta(days=90))
    cases = [
        (assigned, "mine", NOW, "already assigned"),
        (quarantined, None, NOW, "in quarantine until 2026-05-01"),
        (held, "theirs", NOW, "held by another offer"),
        (held, None, NOW, "held by an offer to someone else until 2026-01-31 10:10 UTC"),
        (held, "mine", NOW + timedelta(minutes=10), "expired at 2026-01-31 10:10 UTC"),
        (PooledNumber("+85291230000"), "mine", NOW, "not one of the numbers offered"),
    ]
    for number, offer_id, at, reason in cases:
        with pytest.raises(NumberUnavailable, match=re.escape(reason)):
            number.assigned(offer_id, at)
    assert held.assigned("mine", NOW).state is NumberState.ASSIGNED
    assert PooledNumber("+85291230000").assigned(None, NOW).state is NumberState.ASSIGNED
    assert quarantined.assigned(None, NOW + timedelta(days=90)).state is NumberState.ASSIGNED
    with pytest.raises(NumberUnavailable, match="nothing to release"):
        held.released(NOW, timedelta(days=1))
    with pytest.raises(InvalidInput, match="cannot be negative"):
        assigned.released(NOW, timedelta(days=-1))
    assert assigned.released(NOW, timedelta(0)).effective(NOW) is NumberState.FREE


def test_an_offer_has_one_to_twenty_numbers() -> None:
    check_offer_count(1)
    check_offer_count(20)
    for bad in (0, 21, -1):
        with pytest.raises(InvalidInput, match="an offer has 1 to 20 numbers"):
            check_offer_count(bad)


# ------------------------------------------------------------------------ audit
def test_audit_events_keep_plain_values_only() -> None:
    event = AuditEvent(NOW, None, "smdp", "esim.installed", "8985", {"a": 1, "b": None})
    assert event.detail == {"a": 1, "b": None}
    with pytest.raises(TypeError):
        event.detail["c"] = 2  # type: ignore[index]
    with pytest.raises(InvalidInput, match="detail 'x'"):
        AuditEvent(NOW, None, "smdp", "esim.installed", "8985", {"x": 1.5})  # type: ignore[dict-item]
    with pytest.raises(InvalidInput, match="needs a actor"):
        AuditEvent(NOW, None, " ", "esim.installed", "8985", {})
    with pytest.raises(InvalidInput, match="aware UTC"):
        AuditEvent(datetime(2026, 1, 1), None, "smdp", "x", "y", {})


def test_latest_keeps_the_tail_in_time_order() -> None:
    events = [
        AuditEvent(NOW + timedelta(seconds=s), None, "a", f"e{s}", "s", {}) for s in (3, 1, 2)
    ]
    assert [e.action for e in latest(events, 2)] == ["e2", "e3"]
    assert latest(events, 0) == []
