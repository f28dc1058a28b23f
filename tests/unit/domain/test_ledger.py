"""FamilyLedger: grants hold units, commits book them (overshoot too), releases give back.

Scenarios run on a tiny variant of the sample Hong Kong plan so the numbers stay readable:
data at home is a 1000-byte pool with overage at HKD 1.00 per 100 bytes (1 cent a byte),
SMS at home is 5 messages + HKD 0.50 each, greater-china data is 500 bytes + HKD 2.00 per
100 bytes; the hotspot sub-quota is 600 bytes. Quanta: data 300 bytes, SMS 1, for 60 s.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from famsim.domain.allocation import Allocation, Limit
from famsim.domain.charging.grants import (
    ChargingRules,
    Denial,
    Grant,
    GrantRequest,
    Quantum,
    decide_free,
)
from famsim.domain.charging.ledger import FamilyLedger, ServiceKey, UsageRecord
from famsim.domain.errors import InvalidAmount, RuleViolation
from famsim.domain.ids import FamilyId, MemberId, SubscriptionId
from famsim.domain.money import Money
from famsim.domain.plan import HotspotRule, OverageRate, Plan
from famsim.domain.units import HOME, Resource, Zone

pytestmark = pytest.mark.unit

DATA, VOICE, SMS = Resource.DATA, Resource.VOICE, Resource.SMS
GC = Zone("greater-china")
ALICE, BOB = MemberId("m-alice"), MemberId("m-bob")
SUBS = {ALICE: SubscriptionId("s-alice"), BOB: SubscriptionId("s-bob")}
T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
RULES = ChargingRules(quanta={DATA: Quantum(300, 60), VOICE: Quantum(60, 60), SMS: Quantum(1, 60)})
DATA_HOME: ServiceKey = (DATA, HOME, False)
DATA_TETHERED: ServiceKey = (DATA, HOME, True)
SMS_HOME: ServiceKey = (SMS, HOME, False)
FREE = Allocation()


def hkd(minor: int) -> Money:
    return Money(minor, "HKD")


@pytest.fixture
def plan(sample_plans: list[Plan]) -> Plan:
    hk = next(p for p in sample_plans if p.code == "hk-family-5g-100")
    return replace(
        hk,
        allowances={(DATA, HOME): 1000, (SMS, HOME): 5, (VOICE, HOME): None, (DATA, GC): 500},
        overage={
            (DATA, HOME): OverageRate(hkd(100), 100),
            (SMS, HOME): OverageRate(hkd(50), 1),
            (DATA, GC): OverageRate(hkd(200), 100),
        },
        hotspot=HotspotRule(True, 600),
    )


@pytest.fixture
def ledger(plan: Plan) -> FamilyLedger:
    return FamilyLedger(FamilyId("f-1"), 1, plan)


def grant(
    ledger: FamilyLedger,
    service: ServiceKey = DATA_HOME,
    *,
    requested: int | None = None,
    member: MemberId = ALICE,
    session: str = "sess-1",
    allocation: Allocation = FREE,
    family_cap: Money | None = None,
    now: datetime = T0,
) -> Grant:
    resource, zone, tethered = service
    return ledger.grant(
        session_id=session,
        member_id=member,
        subscription_id=SUBS[member],
        request=GrantRequest(resource, zone, tethered, requested),
        allocation=allocation,
        family_money_cap=family_cap,
        rules=RULES,
        now=now,
    )


def commit(
    ledger: FamilyLedger,
    used: int,
    service: ServiceKey = DATA_HOME,
    *,
    member: MemberId = ALICE,
    session: str = "sess-1",
    allocation: Allocation = FREE,
    now: datetime = T0,
) -> UsageRecord | None:
    return ledger.commit(
        session_id=session,
        service=service,
        used=used,
        member_id=member,
        subscription_id=SUBS[member],
        allocation=allocation,
        now=now,
    )


def counters(ledger: FamilyLedger, member: MemberId = ALICE, key=(DATA, HOME)) -> dict:
    m = ledger.member(member)
    return {
        "pool": (ledger.pool(key).used, ledger.pool(key).reserved),
        "member_pool": (m.pool_counter(key).used, m.pool_counter(key).reserved),
        "member_overage": (m.overage_counter(key).used, m.overage_counter(key).reserved),
        "tethered": (m.tethered.used, m.tethered.reserved),
        "money_reserved": m.overage_reserved_minor,
    }


def fill_pool(ledger: FamilyLedger, units: int, member: MemberId = BOB) -> None:
    """Another member uses ``units`` of the data pool (within grants, no overshoot)."""
    while units:
        g = grant(ledger, requested=units, member=member, session="filler")
        commit(ledger, g.units, member=member, session="filler")
        units -= g.units


# ---------------------------------------------------------------------------- grant


def test_grant_holds_units_in_pool_and_member_counters(ledger: FamilyLedger) -> None:
    g = grant(ledger, requested=400)
    assert (g.units, g.from_pool, g.from_overage) == (400, 400, 0)
    assert counters(ledger) == {
        "pool": (0, 400),
        "member_pool": (0, 400),
        "member_overage": (0, 0),
        "tethered": (0, 0),
        "money_reserved": 0,
    }
    reservation = ledger.reservations[("sess-1", DATA_HOME)]
    assert (reservation.member_id, reservation.subscription_id) == (ALICE, SUBS[ALICE])
    assert (reservation.from_pool, reservation.from_overage, reservation.units) == (400, 0, 400)
    assert reservation.expires_at == T0 + timedelta(seconds=60)


def test_tethered_grant_also_holds_the_tethered_counter(ledger: FamilyLedger) -> None:
    g = grant(ledger, DATA_TETHERED, requested=250)
    assert g.units == 250
    assert counters(ledger)["tethered"] == (0, 250)
    assert counters(ledger)["pool"] == (0, 250)
    assert ("sess-1", DATA_TETHERED) in ledger.reservations


def test_grant_beyond_the_pool_reserves_overage_units_and_money(ledger: FamilyLedger) -> None:
    fill_pool(ledger, 900)
    g = grant(ledger, requested=250)
    assert (g.from_pool, g.from_overage, g.overage_price) == (100, 150, hkd(150))
    assert counters(ledger)["member_overage"] == (0, 150)
    assert counters(ledger)["money_reserved"] == 150
    assert ledger.overage_money(ALICE) == hkd(150)
    assert ledger.family_overage_money() == hkd(150)


def test_regrant_of_the_same_service_releases_the_old_hold_first(ledger: FamilyLedger) -> None:
    grant(ledger, requested=900)
    g = grant(ledger, requested=800)
    # Had the old 900 still been held, only 100 would come from the pool.
    assert (g.from_pool, g.from_overage) == (800, 0)
    assert counters(ledger)["pool"] == (0, 800)
    assert len(ledger.reservations) == 1


def test_grant_of_another_service_keeps_the_first_hold(ledger: FamilyLedger) -> None:
    grant(ledger, requested=300)
    grant(ledger, DATA_TETHERED, requested=200)
    assert counters(ledger)["pool"] == (0, 500)
    assert len(ledger.reservations) == 2


def test_denied_grant_holds_nothing(ledger: FamilyLedger) -> None:
    g = grant(ledger, (DATA, GC, False), allocation=Allocation(roaming_allowed=False))
    assert not g.granted
    assert g.units == 0
    assert ledger.reservations == {}
    assert counters(ledger, key=(DATA, GC))["pool"] == (0, 0)


# ---------------------------------------------------------------------------- commit


def test_commit_of_exactly_the_grant(ledger: FamilyLedger) -> None:
    grant(ledger, requested=300)
    record = commit(ledger, 300)
    assert record is not None
    assert (record.units, record.from_pool, record.from_overage, record.overshoot) == (
        300,
        300,
        0,
        0,
    )
    assert (record.session_id, record.member_id, record.resource, record.zone) == (
        "sess-1",
        ALICE,
        DATA,
        HOME,
    )
    assert (record.family_id, record.cycle_number, record.at, record.tethered) == (
        "f-1",
        1,
        T0,
        False,
    )
    assert counters(ledger)["pool"] == (300, 0)
    assert counters(ledger)["member_pool"] == (300, 0)
    assert ledger.reservations == {}


def test_commit_for_another_member_than_the_grant_is_refused(ledger: FamilyLedger) -> None:
    grant(ledger, requested=300)
    with pytest.raises(RuleViolation, match="another member"):
        commit(ledger, 100, member=BOB)
    assert counters(ledger)["pool"] == (0, 300)  # the grant still stands


def test_commit_less_than_the_grant_releases_the_rest(ledger: FamilyLedger) -> None:
    grant(ledger, requested=300)
    record = commit(ledger, 120)
    assert record is not None
    assert (record.from_pool, record.overshoot) == (120, 0)
    assert counters(ledger)["pool"] == (120, 0)
    assert counters(ledger)["member_pool"] == (120, 0)


def test_commit_within_a_split_grant_books_pool_first(ledger: FamilyLedger) -> None:
    fill_pool(ledger, 900)
    grant(ledger, requested=300)  # 100 pool + 200 overage
    record = commit(ledger, 150)
    assert record is not None
    assert (record.from_pool, record.from_overage, record.overshoot) == (100, 50, 0)
    assert counters(ledger)["member_overage"] == (50, 0)
    assert counters(ledger)["money_reserved"] == 0
    assert ledger.overage_money(ALICE) == hkd(50)


def test_commit_of_a_tethered_grant_books_the_tethered_counter(ledger: FamilyLedger) -> None:
    grant(ledger, DATA_TETHERED, requested=200)
    record = commit(ledger, 150, DATA_TETHERED)
    assert record is not None
    assert record.tethered
    assert counters(ledger)["tethered"] == (150, 0)


def test_commit_beyond_the_grant_books_overshoot_into_the_pool(ledger: FamilyLedger) -> None:
    grant(ledger, requested=300)
    record = commit(ledger, 500)
    assert record is not None
    assert (record.units, record.from_pool, record.from_overage, record.overshoot) == (
        500,
        500,
        0,
        200,
    )
    assert counters(ledger)["pool"] == (500, 0)


def test_overshoot_beyond_a_full_pool_is_overage(ledger: FamilyLedger) -> None:
    fill_pool(ledger, 700)
    grant(ledger, requested=300)  # takes the last 300 of the pool
    assert counters(ledger)["pool"] == (700, 300)
    record = commit(ledger, 400)
    assert record is not None
    assert record.overshoot == 100
    assert (record.from_pool, record.from_overage) == (300, 100)
    assert ledger.pool((DATA, HOME)).used == 1000


def test_overshoot_partly_fits_the_pool(ledger: FamilyLedger) -> None:
    fill_pool(ledger, 600)
    grant(ledger, requested=300)  # 100 of the pool stay free
    record = commit(ledger, 500)
    assert record is not None
    assert record.overshoot == 200
    assert (record.from_pool, record.from_overage) == (400, 100)
    assert ledger.pool((DATA, HOME)).used == 1000


def test_overshoot_beyond_the_member_quota_is_overage(ledger: FamilyLedger) -> None:
    quota = Allocation(limits={(DATA, HOME): Limit(quota=300)})
    g = grant(ledger, requested=300, allocation=quota)
    assert (g.from_pool, g.from_overage) == (300, 0)
    record = commit(ledger, 400, allocation=quota)
    assert record is not None
    assert record.overshoot == 100
    assert (record.from_pool, record.from_overage) == (300, 100)
    assert counters(ledger)["member_pool"] == (300, 0)


def test_overshoot_with_no_room_after_an_earlier_commit_is_overage(ledger: FamilyLedger) -> None:
    """Same rule, the pool filled by committed usage rather than by the grant itself."""
    fill_pool(ledger, 1000)
    grant(ledger, requested=100)  # all overage
    record = commit(ledger, 150)
    assert record is not None
    assert (record.from_pool, record.from_overage, record.overshoot) == (0, 150, 50)


def test_commit_without_a_reservation_is_all_overshoot(ledger: FamilyLedger) -> None:
    record = commit(ledger, 200)
    assert record is not None
    assert (record.units, record.from_pool, record.from_overage, record.overshoot) == (
        200,
        200,
        0,
        200,
    )
    assert counters(ledger)["pool"] == (200, 0)


def test_commit_without_a_reservation_on_a_full_pool_is_overage(ledger: FamilyLedger) -> None:
    fill_pool(ledger, 1000)
    record = commit(ledger, 200)
    assert record is not None
    assert (record.from_pool, record.from_overage, record.overshoot) == (0, 200, 200)
    assert ledger.overage_money(ALICE) == hkd(200)


def test_commit_of_zero_returns_none_and_releases(ledger: FamilyLedger) -> None:
    grant(ledger, requested=300)
    assert commit(ledger, 0) is None
    assert ledger.reservations == {}
    assert counters(ledger)["pool"] == (0, 0)
    assert counters(ledger)["member_pool"] == (0, 0)


@pytest.mark.parametrize("used", [-1, 1.0, 2.5, True, False, "3", None])
def test_commit_refuses_amounts_that_are_not_whole_non_negative(
    ledger: FamilyLedger, used: object
) -> None:
    grant(ledger, requested=300)
    with pytest.raises(InvalidAmount):
        commit(ledger, used)  # type: ignore[arg-type]
    # Refused before anything moved: the hold is still there.
    assert counters(ledger)["pool"] == (0, 300)


# ---------------------------------------------------------------------------- release / expire


def test_release_gives_back_every_counter(ledger: FamilyLedger) -> None:
    fill_pool(ledger, 900)
    grant(ledger, DATA_TETHERED, requested=300)
    reservation = ledger.release("sess-1", DATA_TETHERED)
    assert reservation is not None
    assert reservation.units == 300
    assert counters(ledger) == {
        "pool": (900, 0),
        "member_pool": (0, 0),
        "member_overage": (0, 0),
        "tethered": (0, 0),
        "money_reserved": 0,
    }
    assert ledger.overage_money(ALICE) == hkd(0)
    assert ledger.release("sess-1", DATA_TETHERED) is None


def test_expire_releases_only_reservations_past_their_validity(ledger: FamilyLedger) -> None:
    grant(ledger, requested=100, session="early", now=T0)
    grant(ledger, requested=200, session="late", now=T0 + timedelta(seconds=30))
    assert ledger.expire(T0 + timedelta(seconds=59)) == []
    expired = ledger.expire(T0 + timedelta(seconds=61))
    assert [(s, svc) for s, svc, _ in expired] == [("early", DATA_HOME)]
    assert list(ledger.reservations) == [("late", DATA_HOME)]
    assert counters(ledger)["pool"] == (0, 200)
    ledger.expire(T0 + timedelta(seconds=120))
    assert ledger.reservations == {}
    assert counters(ledger)["pool"] == (0, 0)


def test_commit_after_expiry_is_all_overshoot(ledger: FamilyLedger) -> None:
    grant(ledger, requested=100)
    ledger.expire(T0 + timedelta(minutes=5))
    record = commit(ledger, 100)
    assert record is not None
    assert record.overshoot == 100


# ---------------------------------------------------------------------------- money


def test_overage_money_is_priced_once_over_the_cycle(plan: Plan) -> None:
    cheap = {**plan.overage, (DATA, HOME): OverageRate(hkd(1), 100)}  # HKD 0.01 per 100 B
    ledger = FamilyLedger(FamilyId("f-1"), 1, replace(plan, overage=cheap))
    fill_pool(ledger, 1000)
    for session in ("a", "b"):
        g = grant(ledger, requested=1, session=session)
        # Each grant reserves its own price, rounded up: 1/100 of a cent is one cent.
        assert (g.from_overage, g.overage_price) == (1, hkd(1))
        commit(ledger, 1, session=session)
    # Two bytes committed: 2/100 of a cent, priced once over the cycle, is one cent, not two.
    assert counters(ledger)["member_overage"] == (2, 0)
    assert ledger.overage_money_used(ALICE) == hkd(1)
    assert ledger.overage_money(ALICE) == hkd(1)
    assert ledger.family_overage_money() == hkd(1)


def test_overage_money_sums_members_and_zones(ledger: FamilyLedger) -> None:
    fill_pool(ledger, 1000)
    commit(ledger, 50)  # Alice, overshoot on a full pool: 50 cents
    commit(ledger, 600, (DATA, GC, False), member=BOB, session="roam")  # 100 beyond 500
    assert ledger.overage_money(ALICE) == hkd(50)
    assert ledger.overage_money(BOB) == hkd(200)
    assert ledger.family_overage_money() == hkd(250)


def test_reserved_money_returns_on_release(ledger: FamilyLedger) -> None:
    fill_pool(ledger, 1000)
    grant(ledger, requested=250)
    assert ledger.overage_money(ALICE) == hkd(250)
    ledger.release("sess-1", DATA_HOME)
    assert ledger.overage_money(ALICE) == hkd(0)
    assert counters(ledger)["member_overage"] == (0, 0)


def test_money_cap_bounds_the_reserved_overage(ledger: FamilyLedger) -> None:
    fill_pool(ledger, 1000)
    capped = Allocation(money_cap=hkd(120))
    g = grant(ledger, requested=300, allocation=capped)
    assert (g.from_overage, g.overage_price) == (120, hkd(120))
    again = grant(ledger, requested=300, session="other", allocation=capped)
    assert again.units == 0
    g = grant(ledger, requested=300, allocation=capped, family_cap=hkd(30), session="third")
    assert g.units == 0
    assert ledger.overage_money(ALICE) == hkd(120)


def test_sms_overage(ledger: FamilyLedger) -> None:
    for i in range(5):
        grant(ledger, SMS_HOME, session=f"sms-{i}")
        commit(ledger, 1, SMS_HOME, session=f"sms-{i}")
    g = grant(ledger, SMS_HOME, session="sms-5")
    assert (g.from_pool, g.from_overage, g.overage_price) == (0, 1, hkd(50))
    commit(ledger, 1, SMS_HOME, session="sms-5")
    assert ledger.overage_money(ALICE) == hkd(50)
    assert ledger.pool((SMS, HOME)).used == 5


# ---------------------------------------------------------------------------- sharing


def test_two_members_share_the_pool_while_each_quota_binds(ledger: FamilyLedger) -> None:
    alice = Allocation(limits={(DATA, HOME): Limit(quota=400)})
    bob = Allocation(limits={(DATA, HOME): Limit(quota=700)})
    a = grant(ledger, requested=500, member=ALICE, allocation=alice)
    assert (a.from_pool, a.from_overage) == (400, 100)  # quota binds, rest is overage
    b = grant(ledger, requested=700, member=BOB, session="sess-b", allocation=bob)
    assert (b.from_pool, b.from_overage) == (600, 100)  # the shared pool binds
    assert ledger.pool((DATA, HOME)).reserved == 1000
    assert counters(ledger, ALICE)["member_pool"] == (0, 400)
    assert counters(ledger, BOB)["member_pool"] == (0, 600)
    commit(ledger, 500, member=ALICE, allocation=alice)
    commit(ledger, 700, member=BOB, session="sess-b", allocation=bob)
    assert ledger.pool((DATA, HOME)).used == 1000
    assert ledger.standing(ALICE, DATA, HOME).member_pool.used == 400
    assert ledger.standing(BOB, DATA, HOME).member_overage.used == 100
    assert ledger.family_overage_money() == hkd(200)


def test_hard_cap_binds_pool_and_overage_together(ledger: FamilyLedger) -> None:
    capped = Allocation(limits={(DATA, HOME): Limit(quota=100, hard_cap=250)})
    g = grant(ledger, requested=400, allocation=capped)
    assert (g.from_pool, g.from_overage) == (100, 150)
    commit(ledger, 250, allocation=capped)
    assert grant(ledger, requested=10, allocation=capped, session="next").units == 0


def test_hotspot_sub_quota_binds_tethered_data_across_grants(ledger: FamilyLedger) -> None:
    first = grant(ledger, DATA_TETHERED, requested=500)
    second = grant(ledger, DATA_TETHERED, requested=500, session="sess-2")
    assert (first.units, second.units) == (500, 100)
    assert counters(ledger)["tethered"] == (0, 600)


# ----------------------------------------------------------------- zero-rated (child safety)
def test_a_free_grant_holds_no_counter_and_books_free_units(ledger: FamilyLedger) -> None:
    capped = Allocation(limits={(VOICE, HOME): Limit(quota=0, hard_cap=0)})
    grant = ledger.grant(
        session_id="call",
        member_id=ALICE,
        subscription_id=SUBS[ALICE],
        request=GrantRequest(VOICE, HOME),
        allocation=capped,
        family_money_cap=hkd(0),
        rules=RULES,
        now=T0,
        free=True,
    )
    assert (grant.units, grant.free, grant.from_pool, grant.denial) == (60, 60, 0, None)
    assert ledger.pool((VOICE, HOME)).reserved == 0
    assert ledger.reservations[("call", (VOICE, HOME, False))].units == 60

    record = ledger.commit(
        session_id="call",
        service=(VOICE, HOME, False),
        used=80,
        member_id=ALICE,
        subscription_id=SUBS[ALICE],
        allocation=capped,
        now=T0,
        free=True,
    )
    assert record is not None
    assert (record.units, record.free, record.from_pool, record.overshoot) == (80, 80, 0, 20)
    assert ledger.pool((VOICE, HOME)).used == 0
    assert ledger.reservations == {}


def test_without_the_free_flag_the_same_call_is_refused(ledger: FamilyLedger) -> None:
    capped = Allocation(limits={(VOICE, HOME): Limit(quota=0, hard_cap=0)})
    grant = ledger.grant(
        session_id="call",
        member_id=ALICE,
        subscription_id=SUBS[ALICE],
        request=GrantRequest(VOICE, HOME),
        allocation=capped,
        family_money_cap=hkd(0),
        rules=RULES,
        now=T0,
    )
    assert (grant.units, grant.denial) == (0, Denial.LIMIT_REACHED)


def test_a_free_grant_still_needs_a_line_that_carries_the_service(plan: Plan) -> None:
    grant = decide_free(GrantRequest(SMS, HOME, data_only_line=True), plan=plan, rules=RULES)
    assert (grant.units, grant.denial) == (0, Denial.SERVICE_NOT_ON_LINE)
