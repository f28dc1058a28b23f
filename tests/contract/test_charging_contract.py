"""The charging contract: ChargingService behaves alike on every storage backend.

Each test runs on the in-memory adapter, on SQLite and on PostgreSQL (the ``uow_factory``
fixture in conftest.py) against the demo family (the Chans on the HK plan), driving the
service only through :class:`ChargingRequest` values, and ends by checking invariant 5 of
ARCHITECTURE.md: the ledger's counters equal the sums of the stored usage records.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
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
    GREATER_CHINA,
    INITIAL,
    MB,
    OWNER,
    RULES,
    SMS,
    SPOUSE,
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
from famsim.demo import create_demo_family
from famsim.domain.charging.ledger import FamilyLedger, UsageRecord
from famsim.domain.units import HOME
from famsim.service import commands as c
from famsim.service.charging import (
    ChargingAnswer,
    ChargingRequest,
    ChargingService,
    RequestType,
    ServiceUse,
)
from famsim.service.messagebus import MessageBus

pytestmark = pytest.mark.integration

_sessions = itertools.count(1)


@dataclass
class Harness:
    uow_factory: Any
    bus: MessageBus
    family_id: str
    service: ChargingService
    now: Now

    def ledger(self) -> tuple[FamilyLedger, list[UsageRecord]]:
        with self.uow_factory() as uow:
            family = uow.families.get(self.family_id)
            plan = uow.plans.get(family.plan_code)
            ledger = uow.ledgers.get(family.id, family.cycle.number, plan)
            records = list(uow.ledgers.usage(family.id, family.cycle.number))
            return ledger, records

    def member_id(self, name: str) -> str:
        with self.uow_factory() as uow:
            family = uow.families.get(self.family_id)
            return next(str(m.id) for m in family.members.values() if m.name == name)

    def send(
        self,
        session: str,
        number: int,
        kind: RequestType,
        subscriber: str,
        *uses: ServiceUse,
        plmn: str | None = None,
    ) -> ChargingAnswer:
        return self.service.handle(ChargingRequest(session, number, kind, subscriber, uses, plmn))


def session_id() -> str:
    return f"gy-{next(_sessions):06d};contract"


def data(
    requested: int | None = None, used: int | None = None, *, tethered: bool = False
) -> ServiceUse:
    return ServiceUse(DATA, tethered=tethered, requested=requested, used=used)


def only(answer: ChargingAnswer) -> Any:
    assert len(answer.services) == 1, answer
    return answer.services[0]


def check_counters_match_records(ledger: FamilyLedger, records: list[UsageRecord]) -> None:
    """Invariant 5: every counter equals the sum of the usage records behind it."""
    pool: dict[Any, int] = defaultdict(int)
    member_pool: dict[Any, int] = defaultdict(int)
    member_overage: dict[Any, int] = defaultdict(int)
    tethered: dict[Any, int] = defaultdict(int)
    for r in records:
        assert r.units == r.from_pool + r.from_overage + r.free, r
        assert 0 <= r.overshoot <= r.units, r
        pool[(r.resource, r.zone)] += r.from_pool
        member_pool[(r.member_id, r.resource, r.zone)] += r.from_pool
        member_overage[(r.member_id, r.resource, r.zone)] += r.from_overage
        if r.tethered:
            tethered[r.member_id] += r.units
    assert {k: v.used for k, v in ledger.pools.items() if v.used} == {
        k: v for k, v in pool.items() if v
    }
    seen_pool: dict[Any, int] = {}
    seen_overage: dict[Any, int] = {}
    seen_tethered: dict[Any, int] = {}
    for member_id, m in ledger.members.items():
        for key, counter in m.pool.items():
            if counter.used:
                seen_pool[(member_id, *key)] = counter.used
        for key, counter in m.overage.items():
            if counter.used:
                seen_overage[(member_id, *key)] = counter.used
        if m.tethered.used:
            seen_tethered[member_id] = m.tethered.used
    assert seen_pool == {k: v for k, v in member_pool.items() if v}
    assert seen_overage == {k: v for k, v in member_overage.items() if v}
    assert seen_tethered == {k: v for k, v in tethered.items() if v}


def check_no_reservations(ledger: FamilyLedger) -> None:
    assert ledger.reservations == {}
    assert all(counter.reserved == 0 for counter in ledger.pools.values())
    for m in ledger.members.values():
        assert all(counter.reserved == 0 for counter in m.pool.values())
        assert all(counter.reserved == 0 for counter in m.overage.values())
        assert m.tethered.reserved == 0
        assert m.overage_reserved_minor == 0


@pytest.fixture
def h(uow_factory: Any, bus: MessageBus) -> Iterator[Harness]:
    family_id = create_demo_family(bus)
    now = Now(T0)
    harness = Harness(
        uow_factory, bus, str(family_id), ChargingService(uow_factory, now, RULES), now
    )
    yield harness
    ledger, records = harness.ledger()
    check_counters_match_records(ledger, records)


# ----------------------------------------------------------------------------- sessions
def test_initial_grants_the_quantum(h: Harness) -> None:
    answer = h.send(session_id(), 0, INITIAL, OWNER, data())

    assert answer.outcome == "success"
    assert answer.zone == HOME
    service = only(answer)
    assert (service.outcome, service.granted, service.validity_seconds) == ("success", 10**6, 60)
    assert service.final_action is None
    ledger, records = h.ledger()
    assert ledger.pool((DATA, HOME)).reserved == 10**6
    assert ledger.pool((DATA, HOME)).used == 0
    assert records == []


def test_update_commits_used_and_grants_again(h: Harness) -> None:
    sid = session_id()
    h.send(sid, 0, INITIAL, OWNER, data())
    answer = h.send(sid, 1, UPDATE, OWNER, data(used=400_000))

    assert only(answer).granted == 10**6
    ledger, records = h.ledger()
    assert ledger.pool((DATA, HOME)).used == 400_000
    assert ledger.pool((DATA, HOME)).reserved == 10**6
    assert [(r.session_id, r.units, r.overshoot) for r in records] == [(sid, 400_000, 0)]


def test_termination_commits_final_units_and_releases(h: Harness) -> None:
    sid = session_id()
    h.send(sid, 0, INITIAL, OWNER, data())
    h.send(sid, 1, UPDATE, OWNER, data(used=10**6))
    answer = h.send(sid, 2, TERMINATION, OWNER, data(used=300_000))

    assert answer.outcome == "success"
    assert only(answer).granted == 0
    ledger, records = h.ledger()
    check_no_reservations(ledger)
    assert ledger.pool((DATA, HOME)).used == 1_300_000
    assert sum(r.units for r in records) == 1_300_000


def test_event_sms_is_debited_at_once(h: Harness) -> None:
    answer = h.send(session_id(), 0, EVENT, OWNER, ServiceUse(SMS))

    assert answer.outcome == "success"
    assert (only(answer).outcome, only(answer).granted) == ("success", 1)
    ledger, records = h.ledger()
    check_no_reservations(ledger)
    assert [(r.resource, r.units, r.from_pool) for r in records] == [(SMS, 1, 1)]
    assert ledger.pool((SMS, HOME)).used == 1


def test_retransmission_returns_the_same_answer_and_charges_nothing(h: Harness) -> None:
    sid = session_id()
    h.send(sid, 0, INITIAL, OWNER, data())
    first = h.send(sid, 1, UPDATE, OWNER, data(used=700_000))
    ledger_before, records_before = h.ledger()

    again = h.send(sid, 1, UPDATE, OWNER, data(used=700_000))
    sms = h.send(sid + "-sms", 0, EVENT, OWNER, ServiceUse(SMS))
    sms_again = h.send(sid + "-sms", 0, EVENT, OWNER, ServiceUse(SMS))

    assert again == first
    assert sms_again == sms
    ledger, records = h.ledger()
    assert len(records) == len(records_before) + 1  # only the first SMS
    assert ledger.pool((DATA, HOME)) == ledger_before.pool((DATA, HOME))
    assert ledger.pool((SMS, HOME)).used == 1


def test_unknown_imsi_is_user_unknown(h: Harness) -> None:
    answer = h.send(session_id(), 0, INITIAL, UNKNOWN, data())

    assert answer.outcome == "user_unknown"
    assert answer.zone is None
    assert answer.services == ()
    assert h.ledger()[1] == []


# ------------------------------------------------------------- sessions not open
def test_update_of_a_session_never_opened_is_session_unknown_and_charges_nothing(
    h: Harness,
) -> None:
    answer = h.send(session_id(), 1, UPDATE, OWNER, data(requested=MB, used=400_000))

    assert answer.outcome == "session_unknown"
    assert (answer.zone, answer.services) == (None, ())
    ledger, records = h.ledger()
    check_no_reservations(ledger)
    assert records == []
    assert ledger.pool((DATA, HOME)).used == 0


def test_termination_of_a_session_never_opened_is_session_unknown(h: Harness) -> None:
    answer = h.send(session_id(), 3, TERMINATION, OWNER, data(used=400_000))

    assert answer.outcome == "session_unknown"
    assert h.ledger()[1] == []


def test_a_session_is_over_after_its_termination(h: Harness) -> None:
    sid = session_id()
    h.send(sid, 0, INITIAL, OWNER, data())
    h.send(sid, 1, TERMINATION, OWNER, data(used=300_000))

    update = h.send(sid, 2, UPDATE, OWNER, data(used=500_000))
    again = h.send(sid, 3, TERMINATION, OWNER, data(used=500_000))

    assert (update.outcome, again.outcome) == ("session_unknown", "session_unknown")
    ledger, records = h.ledger()  # nothing charged, nothing reserved
    check_no_reservations(ledger)
    assert [r.units for r in records] == [300_000]
    assert ledger.pool((DATA, HOME)).used == 300_000


def test_a_retransmitted_termination_gets_its_stored_answer(h: Harness) -> None:
    sid = session_id()
    h.send(sid, 0, INITIAL, OWNER, data())
    first = h.send(sid, 1, TERMINATION, OWNER, data(used=300_000))
    # Another worker's view: a fresh service knows nothing of the session in memory.
    fresh = ChargingService(h.uow_factory, h.now, RULES)

    assert h.send(sid, 1, TERMINATION, OWNER, data(used=300_000)) == first
    assert fresh.handle(ChargingRequest(sid, 1, TERMINATION, OWNER, (data(used=300_000),))) == first
    assert first.outcome == "success"
    assert sum(r.units for r in h.ledger()[1]) == 300_000


def test_a_refusal_is_stored_and_answered_again_alike(h: Harness) -> None:
    sid = session_id()
    first = h.send(sid, 4, UPDATE, OWNER, data(used=1))
    h.send(sid, 5, INITIAL, OWNER, data())  # opened now: the old number stays refused

    assert h.send(sid, 4, UPDATE, OWNER, data(used=1)) == first
    assert first.outcome == "session_unknown"
    assert h.send(sid, 6, UPDATE, OWNER, data(used=1)).outcome == "success"


def test_an_open_session_is_known_to_any_worker_however_long_it_lasts(h: Harness) -> None:
    sid = session_id()
    h.send(sid, 0, INITIAL, OWNER, data())
    h.now.advance(3 * 24 * 3600)  # the grant expired long ago
    h.service.expire_due()
    fresh = ChargingService(h.uow_factory, h.now, RULES)

    answer = fresh.handle(ChargingRequest(sid, 1, UPDATE, OWNER, (data(used=200_000),)))

    assert answer.outcome == "success"
    assert sum(r.units for r in h.ledger()[1]) == 200_000  # late usage is still booked


def test_an_initial_and_its_updates_in_one_batch(h: Harness) -> None:
    sid = session_id()
    answers = h.service.handle_batch(
        [
            ChargingRequest(sid, 0, INITIAL, OWNER, (data(),)),
            ChargingRequest(sid, 1, UPDATE, OWNER, (data(used=100),)),
            ChargingRequest(sid, 2, TERMINATION, OWNER, (data(used=100),)),
            ChargingRequest(sid, 3, UPDATE, OWNER, (data(used=100),)),
        ]
    )

    assert [a.outcome for a in answers if isinstance(a, ChargingAnswer)] == [
        "success",
        "success",
        "success",
        "session_unknown",
    ]
    assert sum(r.units for r in h.ledger()[1]) == 200


def test_events_need_no_session(h: Harness) -> None:
    sid = session_id()
    h.send(sid, 0, INITIAL, OWNER, data())
    h.send(sid, 1, TERMINATION, OWNER, data())

    assert h.send(sid, 2, EVENT, OWNER, ServiceUse(SMS)).outcome == "success"
    assert h.send(session_id(), 0, EVENT, OWNER, ServiceUse(SMS)).outcome == "success"


def test_suspended_line_is_refused_but_reported_usage_is_committed(h: Harness) -> None:
    sid = session_id()
    assert only(h.send(sid, 0, INITIAL, SPOUSE, data())).granted == 10**6
    h.bus.handle(c.SuspendLine(h.family_id, "+85261230002", reason="lost phone"))

    answer = h.send(sid, 1, UPDATE, SPOUSE, data(used=600_000))

    assert answer.outcome == "line_suspended"
    assert (only(answer).outcome, only(answer).granted) == ("line_suspended", 0)
    ledger, records = h.ledger()
    check_no_reservations(ledger)
    assert [(r.session_id, r.units) for r in records] == [(sid, 600_000)]
    assert ledger.pool((DATA, HOME)).used == 600_000
    new = h.send(session_id(), 0, INITIAL, SPOUSE, data())
    assert new.outcome == "line_suspended"
    assert only(new).granted == 0


# ----------------------------------------------------------------------------- zones
def test_teen_may_not_roam(h: Harness) -> None:
    answer = h.send(session_id(), 0, INITIAL, TEEN, data(), plmn=CHINA)

    assert answer.zone == GREATER_CHINA
    service = only(answer)
    assert (service.outcome, service.granted) == ("roaming_not_allowed", 0)
    check_no_reservations(h.ledger()[0])


def test_spouse_roams_on_the_greater_china_pool(h: Harness) -> None:
    answer = h.send(session_id(), 0, INITIAL, SPOUSE, data(), plmn=CHINA)

    assert answer.outcome == "success"
    assert answer.zone == GREATER_CHINA
    assert (only(answer).outcome, only(answer).granted) == ("success", 10**6)
    ledger = h.ledger()[0]
    assert ledger.pool((DATA, GREATER_CHINA)).reserved == 10**6
    assert ledger.pool((DATA, HOME)).reserved == 0


def test_uncovered_country_is_zone_not_covered(h: Harness) -> None:
    answer = h.send(session_id(), 0, INITIAL, SPOUSE, data(), plmn=GERMANY)

    assert answer.zone is None
    assert (only(answer).outcome, only(answer).granted) == ("zone_not_covered", 0)
    check_no_reservations(h.ledger()[0])


def test_moving_abroad_without_usage_gives_back_the_home_grant(h: Harness) -> None:
    sid = session_id()
    h.send(sid, 0, INITIAL, SPOUSE, data())

    answer = h.send(sid, 1, UPDATE, SPOUSE, data(used=0), plmn=CHINA)

    assert (only(answer).outcome, only(answer).granted) == ("success", 10**6)
    ledger = h.ledger()[0]
    assert ledger.pool((DATA, HOME)).reserved == 0  # not held until it expires
    assert ledger.pool((DATA, GREATER_CHINA)).reserved == 10**6
    assert [service for _, service in ledger.reservations] == [(DATA, GREATER_CHINA, False)]


def test_units_used_at_home_are_booked_at_home_after_the_move(h: Harness) -> None:
    sid = session_id()
    h.send(sid, 0, INITIAL, SPOUSE, data())

    h.send(sid, 1, UPDATE, SPOUSE, data(used=400_000), plmn=CHINA)

    ledger, records = h.ledger()
    assert [(r.zone, r.units, r.overshoot) for r in records] == [(HOME, 400_000, 0)]
    assert ledger.pool((DATA, HOME)).reserved == 0


def test_voice_on_the_data_only_tablet_is_not_on_the_line(h: Harness) -> None:
    answer = h.send(session_id(), 0, INITIAL, TABLET, ServiceUse(VOICE), data())

    voice, dat = answer.services
    assert (voice.resource, voice.outcome, voice.granted) == ("voice", "service_not_on_line", 0)
    assert (dat.resource, dat.outcome, dat.granted) == ("data", "success", 10**6)


# ----------------------------------------------------------------------------- limits
def test_watch_draws_on_the_childs_allocation(h: Harness) -> None:
    child = h.member_id("Chan Ka Yan")
    watch_sid, phone_sid = session_id(), session_id()
    h.send(watch_sid, 0, INITIAL, WATCH, data(requested=2 * GB))
    h.send(watch_sid, 1, TERMINATION, WATCH, data(used=2 * GB))

    answer = h.send(phone_sid, 0, INITIAL, CHILD_MSISDN, data(requested=2 * GB))

    assert only(answer).granted == 1 * GB  # the watch used 2 of the child's 3 GB
    assert only(answer).final_action == "terminate"
    ledger, records = h.ledger()
    assert {str(r.member_id) for r in records} == {child}
    assert ledger.member(child).pool_counter((DATA, HOME)).used == 2 * GB
    assert ledger.member(child).pool_counter((DATA, HOME)).reserved == 1 * GB


def test_child_cap_reached_mid_session(h: Harness) -> None:
    sid = session_id()
    first = h.send(sid, 0, INITIAL, CHILD, data(requested=2 * GB))
    assert (only(first).granted, only(first).final_action) == (2 * GB, None)

    last = h.send(sid, 1, UPDATE, CHILD, data(requested=2 * GB, used=2 * GB))
    assert (only(last).outcome, only(last).granted) == ("success", 1 * GB)
    assert only(last).final_action == "terminate"

    done = h.send(sid, 2, UPDATE, CHILD, data(used=1 * GB))
    assert (only(done).outcome, only(done).granted) == ("limit_reached", 0)
    assert only(done).final_action == "terminate"

    other = h.send(session_id(), 0, INITIAL, OWNER, data())
    assert (only(other).outcome, only(other).granted) == ("success", 10**6)
    ledger = h.ledger()[0]
    assert ledger.pool((DATA, HOME)).used == 3 * GB


def test_child_may_not_tether(h: Harness) -> None:
    answer = h.send(session_id(), 0, INITIAL, CHILD, data(tethered=True))

    assert (only(answer).outcome, only(answer).granted) == ("hotspot_not_allowed", 0)
    assert only(answer).tethered is True
    check_no_reservations(h.ledger()[0])


def test_expire_releases_reservations_past_validity(h: Harness) -> None:
    old = session_id()
    h.send(old, 0, INITIAL, OWNER, data())
    h.now.advance(30)
    young = session_id()
    h.send(young, 0, INITIAL, SPOUSE, data())

    assert h.service.expire(h.family_id) == 0
    h.now.advance(30)  # the first grant's 60 s are over, the second's are not
    assert h.service.expire(h.family_id) == 1

    ledger = h.ledger()[0]
    assert [session for session, _ in ledger.reservations] == [young]
    assert ledger.pool((DATA, HOME)).reserved == 10**6
    h.now.advance(30)
    assert h.service.expire(h.family_id) == 1
    check_no_reservations(h.ledger()[0])


def test_expire_due_finds_the_families_with_reservations_past_validity(h: Harness) -> None:
    h.send(session_id(), 0, INITIAL, OWNER, data())
    h.send(session_id(), 0, INITIAL, TEEN, data())
    assert h.service.expire_due() == 0
    h.now.advance(61)
    assert h.service.expire_due() == 2
    check_no_reservations(h.ledger()[0])
    assert h.service.expire_due() == 0


def test_the_scheduled_expirer_releases_what_a_vanished_gateway_held(h: Harness) -> None:
    h.send(session_id(), 0, INITIAL, OWNER, data())  # and the gateway never reports again
    h.now.advance(61)
    expirer = h.service.scheduled_expiry(every_s=0.05)
    expirer.start()
    try:
        deadline = time.monotonic() + 10
        while h.ledger()[0].reservations and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        expirer.stop()
    check_no_reservations(h.ledger()[0])


def test_usage_reported_from_an_uncovered_network_is_not_lost(h: Harness) -> None:
    sid = session_id()
    assert only(h.send(sid, 0, INITIAL, SPOUSE, data())).granted == 10**6

    answer = h.send(sid, 1, TERMINATION, SPOUSE, data(used=500_000), plmn=GERMANY)

    assert only(answer).granted == 0
    ledger, records = h.ledger()
    assert [(r.session_id, r.units) for r in records] == [(sid, 500_000)]
    check_no_reservations(ledger)


# ----------------------------------------------------------------------------- thresholds
def test_thresholds_alert_each_level_once_into_the_outbox(h: Harness) -> None:
    """The child's 3 GB quota: 50 %, then 80 % and 100 %, each once, retransmissions too."""
    session = session_id()
    h.send(session, 0, RequestType.INITIAL, CHILD, data(requested=GB))
    h.send(session, 1, RequestType.UPDATE, CHILD, data(requested=GB, used=GB // 2 * 3))
    h.send(session, 1, RequestType.UPDATE, CHILD, data(requested=GB, used=GB // 2 * 3))
    child = h.member_id("Chan Ka Yan")
    with h.uow_factory() as uow:
        entries = list(uow.ledgers.outbox(h.family_id))
    assert [(e["kind"], e["payload"]["member_id"], e["payload"]["level"]) for e in entries] == [
        ("threshold_crossed", child, 50)
    ]
    h.send(session, 2, RequestType.TERMINATION, CHILD, data(used=GB // 2 * 3))
    with h.uow_factory() as uow:
        entries = list(uow.ledgers.outbox(h.family_id))
    levels = [e["payload"]["level"] for e in entries if e["payload"]["member_id"] == child]
    assert levels == [50, 80, 100]
    last = entries[-1]["payload"]
    assert (last["resource"], last["zone"], last["used"], last["total"]) == (
        "data",
        "home",
        3 * GB,
        3 * GB,
    )
