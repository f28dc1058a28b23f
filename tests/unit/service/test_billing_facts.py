"""billable_sims: the SIMs of a family that owe a line fee for a period, as billing reads them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest
from tests.unit.domain.test_family import msisdn, sub

from famsim.domain.billing.rating import BillableSim, ChargeKind, CycleFacts, rate
from famsim.domain.family import Family
from famsim.domain.lines import SimType, Subscription, SubscriptionState
from famsim.domain.members import Role
from famsim.domain.plan import DeviceKind, Plan
from famsim.service.billing_facts import billable_sims

pytestmark = pytest.mark.unit

S = SubscriptionState
START, END = date(2026, 1, 15), date(2026, 2, 15)  # a cycle: end exclusive
CREATED = date(2026, 1, 10)


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 4, 0, tzinfo=UTC)  # noon in Hong Kong


@pytest.fixture
def hk(sample_plans: list[Plan]) -> Plan:
    return next(p for p in sample_plans if p.code == "hk-family-5g-100")


def card(n: int, device: DeviceKind = DeviceKind.PHONE, *, primary: bool = True) -> Subscription:
    return sub(n, device, primary=primary, sim=SimType.PHYSICAL)


def esim(n: int, device: DeviceKind = DeviceKind.PHONE, *, primary: bool = True) -> Subscription:
    return dataclasses.replace(
        sub(n, device, primary=primary), state=S.ORDERED, profile_type="phone-5g"
    )


def install(family: Family, s: Subscription, day: date) -> None:
    family.record_release(
        s.iccid, matching_id="M-1", confirmation_code=None, expires_at=at(day), at=at(day)
    )
    family.report(s.iccid, S.INSTALLED, at(day))


@pytest.fixture
def family(hk: Plan) -> Family:
    """Lines and SIMs whose service begins and ends before, in and after the cycle."""
    family = Family.create(name="Chan family", plan=hk, owner_name="Chan Tai Man", today=CREATED)
    owner = family.owner_id
    adult = family.add_member(hk, name="Wong Mei Ling", role=Role.ADULT, today=CREATED)
    # 1. the owner's phone since before the cycle, changed to a new one on Jan 20
    phone = family.add_line(
        hk, member_id=owner, msisdn=msisdn(1), primary=card(1), data_only=False, today=CREATED
    )
    new_phone = dataclasses.replace(esim(2, primary=False), replaces=phone.primary.id)
    family.start_device_change(phone.primary.id, new_phone)
    install(family, new_phone, date(2026, 1, 20))
    # 2. a watch on the owner's line from Feb 1, and a tablet order never downloaded
    family.add_companion(phone.id, card(3, DeviceKind.WATCH, primary=False), date(2026, 2, 1))
    tablet = esim(4, DeviceKind.TABLET, primary=False)
    family.add_companion(phone.id, tablet)
    # 3. the adult's line, closed on Jan 25 (a closed line still owes its days)
    closed = family.add_line(
        hk, member_id=adult.id, msisdn=msisdn(5), primary=card(5), data_only=False, today=CREATED
    )
    family.close_line(closed.id, date(2026, 1, 25), at(date(2026, 1, 25)))
    # 4. a line closed before the cycle began: nothing to bill
    gone = family.add_line(
        hk, member_id=adult.id, msisdn=msisdn(6), primary=card(6), data_only=False, today=CREATED
    )
    family.close_line(gone.id, START, at(START))
    # 5. a tablet line installed after the cycle: not this cycle's
    later = esim(7, DeviceKind.TABLET)
    family.add_line(hk, member_id=adult.id, msisdn=msisdn(7), primary=later, data_only=True)
    install(family, later, END)
    return family


def test_every_sim_in_service_during_the_period(family: Family) -> None:
    owner = family.owner_id
    adult = family.member("Wong Mei Ling").id
    assert billable_sims(family, START, END) == [
        BillableSim(owner, msisdn(1).e164, DeviceKind.PHONE, CREATED, date(2026, 1, 20)),
        BillableSim(owner, msisdn(1).e164, DeviceKind.PHONE, date(2026, 1, 20), None),
        BillableSim(owner, msisdn(1).e164, DeviceKind.WATCH, date(2026, 2, 1), None),
        BillableSim(adult, msisdn(5).e164, DeviceKind.PHONE, CREATED, date(2026, 1, 25)),
    ]


def test_another_period_sees_other_sims(family: Family) -> None:
    before = billable_sims(family, CREATED, START)
    assert [(s.msisdn, s.device_kind, s.active_until) for s in before] == [
        (msisdn(1).e164, DeviceKind.PHONE, date(2026, 1, 20)),
        (msisdn(5).e164, DeviceKind.PHONE, date(2026, 1, 25)),
        (msisdn(6).e164, DeviceKind.PHONE, START),
    ]
    after = billable_sims(family, END, END + timedelta(days=31))
    assert [(s.msisdn, s.device_kind, s.active_from) for s in after] == [
        (msisdn(1).e164, DeviceKind.PHONE, date(2026, 1, 20)),
        (msisdn(1).e164, DeviceKind.WATCH, date(2026, 2, 1)),
        (msisdn(7).e164, DeviceKind.TABLET, END),
    ]


def test_an_empty_family_has_nothing_to_bill(hk: Plan) -> None:
    family = Family.create(name="Lee family", plan=hk, owner_name="Lee", today=CREATED)
    assert billable_sims(family, START, END) == []


def test_rating_prorates_the_sims_by_their_days(family: Family, hk: Plan) -> None:
    """The facts feed rating as they are: a device change is one phone fee, split."""
    facts = CycleFacts(
        family_id=family.id,
        cycle_number=1,
        start=START,
        end=END,
        plan=hk,
        members=list(family.members),
        sims=billable_sims(family, START, END),
    )
    days = {
        (c.detail["msisdn"], c.detail["device"], c.detail["days"])
        for c in rate(facts).charges
        if c.kind is ChargeKind.LINE_FEE
    }
    phone = msisdn(1).e164
    assert days == {
        (phone, "phone", 5),  # the old phone, Jan 15-19
        (phone, "phone", 26),  # the new one, from Jan 20
        (phone, "watch", 14),  # from Feb 1
        (msisdn(5).e164, "phone", 10),  # closed on Jan 25
    }
