"""The operator-side life of a subscription: reported steps, device change, closing lines."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.unit.domain.test_family import TODAY, msisdn, refused, sub

from famsim.domain.errors import RuleViolation
from famsim.domain.esim.provisioning import (
    BPP_DOWNLOAD,
    BPP_INSTALLATION,
    CONFIRMATION_FAILURE,
    ELIGIBILITY_CHECK,
    PROFILE_DELETED,
    PROFILE_DISABLED,
    PROFILE_ENABLED,
    next_state,
    reported_state,
)
from famsim.domain.esim.status import (
    CONFIRMATION_ATTEMPTS_EXCEEDED,
    CONFIRMATION_CODE_REFUSED,
    ORDER_EXPIRED,
)
from famsim.domain.family import Family, IdentifierInUse
from famsim.domain.lines import LineStatus, Subscription, SubscriptionState
from famsim.domain.plan import DeviceKind, Plan

pytestmark = pytest.mark.unit

S = SubscriptionState
AT = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


@pytest.fixture
def hk(sample_plans: list[Plan]) -> Plan:
    return next(p for p in sample_plans if p.code == "hk-family-5g-100")


@pytest.fixture
def family(hk: Plan) -> Family:
    return Family.create(name="Chan family", plan=hk, owner_name="Chan Tai Man", today=TODAY)


def ordered(n: int, device: DeviceKind = DeviceKind.PHONE, *, primary: bool = True) -> Subscription:
    return dataclasses.replace(
        sub(n, device, primary=primary),
        state=S.ORDERED,
        profile_type="phone-5g",
        order_expires_at=AT + timedelta(days=7),
    )


def released(family: Family, s: Subscription, code: str | None = "12345678") -> None:
    family.record_release(
        s.iccid,
        matching_id="ABCDE-FGHIJ-KLMNO-PQRST",
        confirmation_code=code,
        expires_at=AT + timedelta(days=7),
        at=AT,
    )


# --- the state rules -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "reported", "expected"),
    [
        (S.ORDERED, S.RELEASED, S.RELEASED),
        (S.RELEASED, S.DOWNLOADED, S.DOWNLOADED),
        (S.RELEASED, S.INSTALLED, S.INSTALLED),  # the download report was lost: implied
        (S.DOWNLOADED, S.DOWNLOADED, None),  # a repeat
        (S.INSTALLED, S.DOWNLOADED, None),  # late
        (S.INSTALLED, S.ERROR, None),  # a stale failure of an earlier attempt
        (S.DOWNLOADED, S.ERROR, S.ERROR),
        (S.INSTALLED, S.ENABLED, S.ENABLED),
        (S.ENABLED, S.DISABLED, S.DISABLED),
        (S.DISABLED, S.ENABLED, S.ENABLED),
        (S.RELEASED, S.ENABLED, S.ENABLED),  # on a device whatever steps were missed
        (S.ORDERED, S.ENABLED, None),  # no activation code yet: cannot be on a device
        (S.ENABLED, S.DELETED, S.DELETED),
        (S.ORDERED, S.DELETED, S.DELETED),
        (S.DELETED, S.ENABLED, None),  # nothing revives a deleted SIM
        (S.ERROR, S.INSTALLED, None),
    ],
)
def test_next_state(
    current: SubscriptionState, reported: SubscriptionState, expected: SubscriptionState | None
) -> None:
    assert next_state(current, reported) is expected


@given(st.lists(st.sampled_from(list(S)), max_size=12))
def test_any_sequence_of_reports_never_leaves_a_finished_state_or_goes_back(
    reports: list[SubscriptionState],
) -> None:
    stages = [S.ORDERED, S.RELEASED, S.DOWNLOADED, S.INSTALLED]
    state = S.ORDERED
    for reported in reports:
        after = next_state(state, reported)
        if after is None:
            continue
        assert state.is_live, "a deleted or failed SIM moved again"
        if state in stages and after in stages:
            assert stages.index(after) > stages.index(state)
        state = after


@pytest.mark.parametrize(
    ("point", "success", "status", "expected"),
    [
        (BPP_DOWNLOAD, True, None, S.DOWNLOADED),
        (BPP_INSTALLATION, True, None, S.INSTALLED),
        (BPP_DOWNLOAD, False, None, S.ERROR),
        (BPP_INSTALLATION, False, None, S.ERROR),
        (ELIGIBILITY_CHECK, False, ORDER_EXPIRED, S.ERROR),
        (ELIGIBILITY_CHECK, True, None, None),
        (CONFIRMATION_FAILURE, False, CONFIRMATION_CODE_REFUSED, None),  # one wrong code
        (CONFIRMATION_FAILURE, False, CONFIRMATION_ATTEMPTS_EXCEEDED, S.ERROR),
        (PROFILE_ENABLED, True, None, S.ENABLED),
        (PROFILE_DISABLED, True, None, S.DISABLED),
        (PROFILE_DELETED, True, None, S.DELETED),
        (77, True, None, None),  # unknown points change nothing
    ],
)
def test_reported_state(
    point: int, success: bool, status: object, expected: SubscriptionState | None
) -> None:
    assert reported_state(point, success, status) is expected  # type: ignore[arg-type]


# --- a new line's first device ---------------------------------------------------------


def test_a_new_line_goes_from_ordered_to_enabled(family: Family, hk: Plan) -> None:
    first = ordered(1)
    line = family.add_line(
        hk, member_id=family.owner_id, msisdn=msisdn(1), primary=first, data_only=False
    )
    released(family, first)
    assert first.state is S.RELEASED
    assert first.confirmation_code == "12345678"
    for step in (S.DOWNLOADED, S.INSTALLED, S.ENABLED):
        progress = family.report(first.iccid, step, AT)
        assert progress.after is step
    assert first.confirmation_code is None, "a used confirmation code is not kept"
    assert first.order_expires_at is None
    assert line.status is LineStatus.ACTIVE


def test_a_new_line_whose_download_fails_is_closed(family: Family, hk: Plan) -> None:
    first = ordered(1)
    line = family.add_line(
        hk, member_id=family.owner_id, msisdn=msisdn(1), primary=first, data_only=False
    )
    released(family, first)
    progress = family.report(first.iccid, S.ERROR, AT)
    assert progress.closed_line is line
    assert line.is_closed
    assert line.closed_on == AT.date()
    assert family.counted_lines == []
    # The number can be given to a new line at once.
    again = ordered(2)
    family.add_line(hk, member_id=family.owner_id, msisdn=msisdn(1), primary=again, data_only=False)
    assert family.line_by_msisdn(msisdn(1)).primary is again


def test_record_release_only_once(family: Family, hk: Plan) -> None:
    first = ordered(1)
    family.add_line(hk, member_id=family.owner_id, msisdn=msisdn(1), primary=first, data_only=False)
    released(family, first)
    refused(family, RuleViolation, released, family, first)


# --- device change ---------------------------------------------------------------------


def _line_in_service(family: Family, hk: Plan) -> Subscription:
    old = sub(1)
    family.add_line(hk, member_id=family.owner_id, msisdn=msisdn(1), primary=old, data_only=False)
    return old


def test_device_change_completes_when_the_new_sim_is_installed(family: Family, hk: Plan) -> None:
    old = _line_in_service(family, hk)
    new = dataclasses.replace(ordered(2, primary=False), replaces=old.id)
    family.start_device_change(old.id, new)
    line = family.line_by_msisdn(msisdn(1))
    assert line.primary is old, "the old SIM keeps working"
    assert old.state is S.ENABLED
    assert new not in line.companions
    released(family, new)
    family.report(new.iccid, S.DOWNLOADED, AT)
    progress = family.report(new.iccid, S.INSTALLED, AT)
    assert progress.retired is old
    assert old.state is S.DELETED
    assert not old.primary
    assert line.primary is new
    assert new.replaces is None
    assert line.live_subscriptions == [new]


@pytest.mark.parametrize("failure", [S.ERROR, S.DELETED])
def test_device_change_rolls_back_when_the_new_sim_fails(
    family: Family, hk: Plan, failure: SubscriptionState
) -> None:
    old = _line_in_service(family, hk)
    new = dataclasses.replace(ordered(2, primary=False), replaces=old.id)
    family.start_device_change(old.id, new)
    released(family, new)
    progress = family.report(new.iccid, failure, AT)
    assert progress.kept is old
    assert progress.closed_line is None
    line = family.line_by_msisdn(msisdn(1))
    assert line.primary is old
    assert old.state is S.ENABLED
    assert line.status is LineStatus.ACTIVE
    # and another attempt may start
    newer = dataclasses.replace(ordered(3, primary=False), replaces=old.id)
    family.start_device_change(old.id, newer)


def test_one_device_change_at_a_time(family: Family, hk: Plan) -> None:
    old = _line_in_service(family, hk)
    family.start_device_change(
        old.id, dataclasses.replace(ordered(2, primary=False), replaces=old.id)
    )
    second = dataclasses.replace(ordered(3, primary=False), replaces=old.id)
    refused(family, RuleViolation, family.start_device_change, old.id, second)


def test_device_change_refusals(family: Family, hk: Plan) -> None:
    pending = ordered(1)
    family.add_line(
        hk, member_id=family.owner_id, msisdn=msisdn(1), primary=pending, data_only=False
    )
    new = dataclasses.replace(ordered(2, primary=False), replaces=pending.id)
    refused(family, RuleViolation, family.start_device_change, pending.id, new)
    old = sub(3)
    family.add_line(hk, member_id=family.owner_id, msisdn=msisdn(3), primary=old, data_only=False)
    as_primary = dataclasses.replace(ordered(4), replaces=old.id)
    refused(family, RuleViolation, family.start_device_change, old.id, as_primary)
    same_iccid = dataclasses.replace(ordered(3, primary=False), replaces=old.id)
    refused(family, IdentifierInUse, family.start_device_change, old.id, same_iccid)


def test_a_watch_changes_device_too(family: Family, hk: Plan) -> None:
    _line_in_service(family, hk)
    line = family.line_by_msisdn(msisdn(1))
    watch = sub(2, DeviceKind.WATCH, primary=False)
    family.add_companion(line.id, watch)
    new_watch = dataclasses.replace(ordered(3, DeviceKind.WATCH, primary=False), replaces=watch.id)
    family.start_device_change(watch.id, new_watch)
    released(family, new_watch)
    progress = family.report(new_watch.iccid, S.ENABLED, AT)
    assert progress.retired is watch
    assert not new_watch.primary
    assert line.companions == [new_watch]


# --- closing a line ----------------------------------------------------------------------


def test_closing_a_line_deletes_its_sims_and_frees_its_number(family: Family, hk: Plan) -> None:
    old = _line_in_service(family, hk)
    line = family.line_by_msisdn(msisdn(1))
    watch = sub(2, DeviceKind.WATCH, primary=False)
    family.add_companion(line.id, watch)
    family.close_line(line.id, TODAY, AT)
    assert line.is_closed
    assert line.closed_on == TODAY
    assert old.state is S.DELETED
    assert watch.state is S.DELETED
    assert family.counted_lines == []
    refused(family, RuleViolation, family.close_line, line.id, TODAY, AT)
    refused(family, RuleViolation, family.suspend_line, line.id, "lost")
    refused(
        family,
        RuleViolation,
        family.add_companion,
        line.id,
        sub(5, DeviceKind.TABLET, primary=False),
    )
