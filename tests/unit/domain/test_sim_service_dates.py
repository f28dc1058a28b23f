"""The days a SIM is in service (line fees): when a subscription enters and leaves service."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest
from tests.unit.domain.test_family import TODAY, msisdn, sub

from famsim.domain.family import Family
from famsim.domain.identifiers import Msisdn
from famsim.domain.lines import Line, LineStatus, SimType, Subscription, SubscriptionState
from famsim.domain.members import Role
from famsim.domain.plan import DeviceKind, Plan

pytestmark = pytest.mark.unit

S = SubscriptionState
# 09:00 UTC is 17:00 in Hong Kong: the same day in both.
AT = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
DAY = AT.date()


def at(day: int, hour: int = 9) -> datetime:
    """An instant in January 2026, UTC."""
    return datetime(2026, 1, day, hour, 0, tzinfo=UTC)


@pytest.fixture
def hk(sample_plans: list[Plan]) -> Plan:
    return next(p for p in sample_plans if p.code == "hk-family-5g-100")


@pytest.fixture
def family(hk: Plan) -> Family:
    family = Family.create(name="Chan family", plan=hk, owner_name="Chan Tai Man", today=TODAY)
    assert family.time_zone == "Asia/Hong_Kong"
    return family


def ordered(n: int, device: DeviceKind = DeviceKind.PHONE, *, primary: bool = True) -> Subscription:
    return dataclasses.replace(
        sub(n, device, primary=primary),
        state=S.ORDERED,
        state_changed_at=AT,
        profile_type="phone-5g",
        order_expires_at=AT + timedelta(days=7),
    )


def physical(
    n: int, device: DeviceKind = DeviceKind.PHONE, *, primary: bool = True
) -> Subscription:
    return sub(n, device, primary=primary, sim=SimType.PHYSICAL)


def release(family: Family, s: Subscription, when: datetime = AT) -> None:
    family.record_release(
        s.iccid,
        matching_id="ABCDE-FGHIJ-KLMNO-PQRST",
        confirmation_code="12345678",
        expires_at=when + timedelta(days=7),
        at=when,
    )


def new_line(family: Family, plan: Plan, s: Subscription, n: int = 1, **kw: object) -> Line:
    return family.add_line(
        plan,
        member_id=family.owner_id,
        msisdn=msisdn(n),
        primary=s,
        data_only=False,
        **kw,  # type: ignore[arg-type]
    )


def dates(s: Subscription) -> tuple[date | None, date | None]:
    return s.in_service_on, s.out_of_service_on


# --- a SIM already on its device -------------------------------------------------------


def test_a_physical_sim_is_in_service_the_day_it_is_added(family: Family, hk: Plan) -> None:
    card = physical(1)
    new_line(family, hk, card, today=TODAY)
    assert dates(card) == (TODAY, None)


def test_a_companion_on_its_device_is_in_service_the_day_it_is_added(
    family: Family, hk: Plan
) -> None:
    line = new_line(family, hk, physical(1), today=TODAY)
    watch = physical(2, DeviceKind.WATCH, primary=False)
    later = TODAY + timedelta(days=3)
    family.add_companion(line.id, watch, later)
    assert dates(watch) == (later, None)
    assert dates(line.primary) == (TODAY, None), "the line's other SIMs keep their dates"


def test_a_sim_added_enabled_without_a_day_takes_its_state_change_day(
    family: Family, hk: Plan
) -> None:
    """Callers that do not say the day: the family's day of the SIM's last state change
    (20:00 UTC is 04:00 the next day in Hong Kong), or no date when that is unknown too."""
    stamped = dataclasses.replace(physical(1), state_changed_at=at(15, 20))
    new_line(family, hk, stamped)
    assert dates(stamped) == (date(2026, 1, 16), None)
    unknown = physical(2)
    new_line(family, hk, unknown, n=2)
    assert dates(unknown) == (None, None)


def test_a_day_given_wins_over_the_state_change_day(family: Family, hk: Plan) -> None:
    stamped = dataclasses.replace(physical(1), state_changed_at=at(10))
    new_line(family, hk, stamped, today=TODAY)
    assert stamped.in_service_on == TODAY


# --- an eSIM: in service once installed ------------------------------------------------


def test_an_ordered_esim_is_not_in_service_until_installed(family: Family, hk: Plan) -> None:
    esim = ordered(1)
    new_line(family, hk, esim, today=TODAY)
    assert dates(esim) == (None, None), "ordered: not on a device yet"
    release(family, esim, at(15))
    assert dates(esim) == (None, None)
    family.report(esim.iccid, S.DOWNLOADED, at(16))
    assert dates(esim) == (None, None), "downloaded is not installed: it may still fail"
    family.report(esim.iccid, S.INSTALLED, at(17))
    assert dates(esim) == (date(2026, 1, 17), None)


def test_later_steps_on_the_device_do_not_move_the_first_day(family: Family, hk: Plan) -> None:
    esim = ordered(1)
    new_line(family, hk, esim, today=TODAY)
    release(family, esim)
    family.report(esim.iccid, S.INSTALLED, at(17))
    family.report(esim.iccid, S.ENABLED, at(18))
    family.report(esim.iccid, S.DISABLED, at(20))
    family.report(esim.iccid, S.ENABLED, at(22))
    assert dates(esim) == (date(2026, 1, 17), None)


@pytest.mark.parametrize("first_seen", [S.ENABLED, S.DISABLED])
def test_steps_missed_on_the_way_still_put_the_sim_in_service(
    family: Family, hk: Plan, first_seen: SubscriptionState
) -> None:
    esim = ordered(1)
    new_line(family, hk, esim, today=TODAY)
    release(family, esim)
    family.report(esim.iccid, first_seen, at(19))
    assert dates(esim) == (date(2026, 1, 19), None)


def test_the_day_is_the_familys_local_day(family: Family, hk: Plan) -> None:
    """Installed at 17:30 UTC on the 17th: 01:30 on the 18th in Hong Kong."""
    esim = ordered(1)
    new_line(family, hk, esim, today=TODAY)
    release(family, esim)
    family.report(esim.iccid, S.INSTALLED, at(17, 17) + timedelta(minutes=30))
    assert esim.in_service_on == date(2026, 1, 18)


def test_the_same_instant_is_another_day_in_another_time_zone(hk: Plan) -> None:
    family = Family.create(
        name="Chan family",
        plan=hk,
        owner_name="Chan Tai Man",
        today=TODAY,
        time_zone="America/New_York",
    )
    esim = ordered(1)
    new_line(family, hk, esim, today=TODAY)
    release(family, esim)
    family.report(esim.iccid, S.INSTALLED, at(17, 3))  # 22:00 on the 16th in New York
    assert esim.in_service_on == date(2026, 1, 16)


@pytest.mark.parametrize("end", [S.ERROR, S.DELETED])
def test_an_order_that_never_reached_a_device_is_never_in_service(
    family: Family, hk: Plan, end: SubscriptionState
) -> None:
    """A failed download or a cancelled order: no line fee, before or after."""
    line = new_line(family, hk, physical(1), today=TODAY)
    watch = ordered(2, DeviceKind.WATCH, primary=False)
    family.add_companion(line.id, watch, TODAY)
    release(family, watch)
    family.report(watch.iccid, S.DOWNLOADED, at(16))
    family.report(watch.iccid, end, at(17))
    assert dates(watch) == (None, None)


def test_a_new_line_whose_first_sim_fails_closes_on_the_familys_day(
    family: Family, hk: Plan
) -> None:
    esim = ordered(1)
    line = new_line(family, hk, esim, today=TODAY)
    release(family, esim)
    progress = family.report(esim.iccid, S.ERROR, at(17, 20))  # 04:00 on the 18th in HK
    assert progress.closed_line is line
    assert line.closed_on == date(2026, 1, 18)
    assert dates(esim) == (None, None), "never in service: nothing to bill"


def test_a_sim_deleted_on_its_device_leaves_service_that_day(family: Family, hk: Plan) -> None:
    line = new_line(family, hk, physical(1), today=TODAY)
    watch = ordered(2, DeviceKind.WATCH, primary=False)
    family.add_companion(line.id, watch, TODAY)
    release(family, watch)
    family.report(watch.iccid, S.ENABLED, at(16))
    family.report(watch.iccid, S.DELETED, at(25))
    assert dates(watch) == (date(2026, 1, 16), date(2026, 1, 25))
    family.report(watch.iccid, S.ENABLED, at(27))  # stale: nothing revives a deleted SIM
    assert dates(watch) == (date(2026, 1, 16), date(2026, 1, 25))


# --- device change ---------------------------------------------------------------------


def test_a_device_change_swaps_service_on_the_day_the_new_sim_is_installed(
    family: Family, hk: Plan
) -> None:
    old = physical(1)
    new_line(family, hk, old, today=TODAY)
    new = dataclasses.replace(ordered(2, primary=False), replaces=old.id)
    family.start_device_change(old.id, new)
    assert dates(new) == (None, None)
    release(family, new, at(18))
    family.report(new.iccid, S.DOWNLOADED, at(19))
    assert dates(old) == (TODAY, None), "the old SIM serves until the new one is installed"
    progress = family.report(new.iccid, S.INSTALLED, at(20))
    assert progress.retired is old
    assert dates(new) == (date(2026, 1, 20), None)
    assert dates(old) == (TODAY, date(2026, 1, 20)), "one SIM in service per day, not two"
    family.report(new.iccid, S.ENABLED, at(21))
    assert dates(new) == (date(2026, 1, 20), None)


def test_a_physical_device_change_completes_at_once(family: Family, hk: Plan) -> None:
    """A card in hand (the service reports it installed and enabled at once)."""
    old = physical(1)
    new_line(family, hk, old, today=TODAY)
    card = dataclasses.replace(physical(2, primary=False), state=S.ORDERED, replaces=old.id)
    family.start_device_change(old.id, card)
    family.report(card.iccid, S.INSTALLED, at(20))
    family.report(card.iccid, S.ENABLED, at(20))
    assert dates(card) == (date(2026, 1, 20), None)
    assert dates(old) == (TODAY, date(2026, 1, 20))


def test_a_failed_device_change_leaves_the_old_sim_in_service(family: Family, hk: Plan) -> None:
    old = physical(1)
    new_line(family, hk, old, today=TODAY)
    new = dataclasses.replace(ordered(2, primary=False), replaces=old.id)
    family.start_device_change(old.id, new)
    release(family, new, at(18))
    progress = family.report(new.iccid, S.ERROR, at(19))
    assert progress.kept is old
    assert dates(old) == (TODAY, None)
    assert dates(new) == (None, None)


# --- closing, suspending, removing -----------------------------------------------------


def test_closing_a_line_ends_the_service_of_every_sim_on_its_closing_day(
    family: Family, hk: Plan
) -> None:
    line = new_line(family, hk, physical(1), today=TODAY)
    watch = physical(2, DeviceKind.WATCH, primary=False)
    family.add_companion(line.id, watch, TODAY + timedelta(days=2))
    pending = ordered(3, DeviceKind.TABLET, primary=False)
    family.add_companion(line.id, pending, TODAY)
    release(family, pending)
    closing = date(2026, 1, 28)
    family.close_line(line.id, closing, at(28))
    assert line.closed_on == closing
    assert dates(line.primary) == (TODAY, closing)
    assert dates(watch) == (TODAY + timedelta(days=2), closing)
    assert dates(pending) == (None, None), "an order never on a device has no line fee"


def test_a_retired_sim_keeps_its_day_when_the_line_closes_later(family: Family, hk: Plan) -> None:
    old = physical(1)
    line = new_line(family, hk, old, today=TODAY)
    new = dataclasses.replace(ordered(2, primary=False), replaces=old.id)
    family.start_device_change(old.id, new)
    release(family, new, at(18))
    family.report(new.iccid, S.INSTALLED, at(20))
    family.close_line(line.id, date(2026, 1, 28), at(28))
    assert dates(old) == (TODAY, date(2026, 1, 20))
    assert dates(new) == (date(2026, 1, 20), date(2026, 1, 28))


def test_suspension_and_removal_do_not_end_service(family: Family, hk: Plan) -> None:
    """A suspended line still pays its line fee, so its SIMs stay in service; removing a
    member suspends the member's lines, no more."""
    adult = family.add_member(hk, name="Wong Mei Ling", role=Role.ADULT, today=TODAY)
    mine = new_line(family, hk, physical(1), today=TODAY)
    hers = family.add_line(
        hk,
        member_id=adult.id,
        msisdn=Msisdn.parse("+85261230002"),
        primary=physical(2),
        data_only=False,
        today=TODAY,
    )
    family.suspend_line(mine.id, "phone lost")
    family.resume_line(mine.id)
    family.suspend_line(mine.id, "phone lost again")
    family.remove_member(adult.id, TODAY + timedelta(days=5))
    assert hers.status is LineStatus.SUSPENDED
    assert dates(mine.primary) == (TODAY, None)
    assert dates(hers.primary) == (TODAY, None)


# --- the subscription's own rules ------------------------------------------------------


def test_entering_service_counts_once_and_leaving_needs_having_entered() -> None:
    s = physical(1)
    s.leave_service(TODAY)
    assert dates(s) == (None, None), "never in service: nothing to end"
    s.enter_service(TODAY)
    s.enter_service(TODAY + timedelta(days=1))
    assert dates(s) == (TODAY, None)
    s.leave_service(TODAY - timedelta(days=1))  # clocks disagreeing: not before it began
    assert dates(s) == (TODAY, TODAY)
    s.leave_service(TODAY + timedelta(days=9))
    s.enter_service(TODAY + timedelta(days=9))
    assert dates(s) == (TODAY, TODAY), "the first end stands, and nothing restarts it"


@pytest.mark.parametrize(
    ("in_on", "out_on", "start", "end", "expected"),
    [
        (None, None, date(2026, 1, 1), date(2026, 2, 1), False),
        (date(2026, 1, 10), None, date(2026, 1, 1), date(2026, 2, 1), True),
        (date(2026, 2, 1), None, date(2026, 1, 1), date(2026, 2, 1), False),  # end exclusive
        (date(2026, 1, 31), None, date(2026, 1, 1), date(2026, 2, 1), True),
        (date(2025, 12, 1), date(2026, 1, 1), date(2026, 1, 1), date(2026, 2, 1), False),
        (date(2025, 12, 1), date(2026, 1, 2), date(2026, 1, 1), date(2026, 2, 1), True),
        (date(2026, 1, 5), date(2026, 1, 5), date(2026, 1, 1), date(2026, 2, 1), False),
        (date(2025, 12, 1), None, date(2026, 1, 1), date(2026, 2, 1), True),
    ],
)
def test_in_service_during_a_period(
    in_on: date | None, out_on: date | None, start: date, end: date, expected: bool
) -> None:
    s = dataclasses.replace(physical(1), in_service_on=in_on, out_of_service_on=out_on)
    assert s.in_service_during(start, end) is expected
