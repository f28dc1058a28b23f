"""Every simulated device step of the built-in SM-DP+ and the progress report it leaves.

The mapping (SGP.22 5.3.5 notification points, famsim's 101-103 after installation):
download ok 3, expired order 1 Failed, wrong code 2 Failed (at the limit with the attempts
code), install 4, failure 3 or 4 Failed, end-user rejection 3 Failed, enable/disable/delete
101/102/103. Refusals that change or count nothing leave no report.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from famsim.domain.errors import InvalidInput
from famsim.domain.esim.activation_code import ActivationCode
from famsim.domain.esim.profile_state import InvalidStateTransition, ProfileState
from famsim.domain.esim.progress import NotificationPoint, ProgressNotification
from famsim.domain.esim.smdp import (
    DeviceAction,
    FinalStatus,
    SmdpInventory,
    SmdpRefusal,
    log_action,
)
from famsim.domain.esim.status import (
    CONFIRMATION_ATTEMPTS_EXCEEDED,
    CONFIRMATION_CODE_REFUSED,
    DEVICE_FAILURE,
    EID_DIFFERS,
    END_USER_REJECTED,
    INVALID_TRANSITION,
    ORDER_EXPIRED,
    PROFILE_UNKNOWN,
    StatusCode,
)
from famsim.domain.identifiers import Eid, Iccid

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PHONE = Eid.from_body("890490320000300000000000000001"[:30])
WATCH = Eid.from_body("890490320000300000000000000002"[:30])
P = NotificationPoint
S = ProfileState


def iccid(n: int) -> Iccid:
    return Iccid.from_body(f"898520000123{n:06d}")


@pytest.fixture
def smdp() -> SmdpInventory:
    inventory = SmdpInventory(
        "smdp.famsim.test", order_validity=timedelta(hours=1), confirmation_attempts=2
    )
    for n in range(3):
        inventory.add(iccid(n), "phone-5g")
    return inventory


def released(smdp: SmdpInventory, n: int, code: str | None = None) -> str:
    """Order and release profile *n* for download; its matching ID."""
    smdp.download_order(now=T0, iccid=iccid(n))
    return smdp.confirm_order(
        now=T0, iccid=iccid(n), release=True, confirmation_code=code
    ).matching_id


def report(
    smdp: SmdpInventory,
    point: NotificationPoint,
    status: StatusCode | None = None,
    n: int = 0,
    eid: Eid | None = PHONE,
    at: datetime = T0,
) -> None:
    """The inventory holds exactly one new report, this one; it is taken off."""
    [notification] = smdp.notifications
    smdp.notifications.clear()
    assert (notification.iccid, notification.eid, notification.profile_type) == (
        iccid(n),
        eid,
        "phone-5g",
    )
    assert (notification.at, notification.point) == (at, point)
    assert notification.status is status
    assert notification.success is (status is None)
    assert (notification.message is None) is (status is None)


def test_the_es2plus_functions_report_nothing(smdp: SmdpInventory) -> None:
    released(smdp, 0, "1234")
    smdp.cancel_order(now=T0, iccid=iccid(0), final=FinalStatus.AVAILABLE)
    smdp.download_order(now=T0, profile_type="phone-5g")
    assert smdp.notifications == []


def test_download_then_install(smdp: SmdpInventory) -> None:
    matching_id = released(smdp, 0)
    assert smdp.notifications == []

    smdp.download(now=T0, matching_id=matching_id, eid=PHONE)
    report(smdp, P.BPP_DOWNLOAD)

    smdp.install(now=T0 + timedelta(seconds=5), iccid=iccid(0))
    report(smdp, P.BPP_INSTALLATION, at=T0 + timedelta(seconds=5))
    assert smdp.profiles[iccid(0)].state is S.INSTALLED


def test_an_expired_order_fails_at_the_eligibility_check(smdp: SmdpInventory) -> None:
    matching_id = released(smdp, 0)
    later = T0 + timedelta(hours=2)
    with pytest.raises(SmdpRefusal) as raised:
        smdp.download(now=later, matching_id=matching_id, eid=PHONE)
    assert raised.value.status is ORDER_EXPIRED
    report(smdp, P.ELIGIBILITY_CHECK, ORDER_EXPIRED, at=later)
    assert smdp.profiles[iccid(0)].state is S.ERROR


def test_wrong_confirmation_codes_fail_at_point_two_until_the_limit(
    smdp: SmdpInventory,
) -> None:
    matching_id = released(smdp, 0, "1234")
    for expected in (CONFIRMATION_CODE_REFUSED, CONFIRMATION_ATTEMPTS_EXCEEDED):
        with pytest.raises(SmdpRefusal) as raised:
            smdp.download(now=T0, matching_id=matching_id, eid=PHONE, confirmation_code="9")
        assert raised.value.status is expected
        report(smdp, P.CONFIRMATION_FAILURE, expected)
    assert smdp.profiles[iccid(0)].state is S.ERROR


def test_the_message_of_a_refusal_travels_with_its_report(smdp: SmdpInventory) -> None:
    matching_id = released(smdp, 0, "1234")
    with pytest.raises(SmdpRefusal) as raised:
        smdp.download(now=T0, matching_id=matching_id, eid=PHONE, confirmation_code="9")
    assert smdp.notifications[0].message == str(raised.value)


def test_refusals_that_change_nothing_report_nothing(smdp: SmdpInventory) -> None:
    smdp.download_order(now=T0, eid=PHONE, iccid=iccid(0))
    matching_id = smdp.confirm_order(now=T0, iccid=iccid(0), release=True).matching_id
    with pytest.raises(SmdpRefusal) as other_device:
        smdp.download(now=T0, matching_id=matching_id, eid=WATCH)
    assert other_device.value.status is EID_DIFFERS
    with pytest.raises(SmdpRefusal) as unknown:
        smdp.download(now=T0, matching_id="NOPE", eid=PHONE)
    assert unknown.value.status is PROFILE_UNKNOWN
    with pytest.raises(InvalidStateTransition):
        smdp.install(now=T0, iccid=iccid(0))  # not downloaded yet
    with pytest.raises(SmdpRefusal):
        smdp.enable(now=T0, iccid=iccid(0))  # not installed
    assert smdp.notifications == []


@pytest.mark.parametrize(
    ("downloaded", "point"), [(False, P.BPP_DOWNLOAD), (True, P.BPP_INSTALLATION)]
)
def test_a_failure_on_the_device_is_the_step_it_happened_in(
    smdp: SmdpInventory, downloaded: bool, point: NotificationPoint
) -> None:
    matching_id = released(smdp, 0)
    if downloaded:
        smdp.download(now=T0, matching_id=matching_id, eid=PHONE)
        smdp.notifications.clear()
    smdp.fail(now=T0, iccid=iccid(0))
    report(smdp, point, DEVICE_FAILURE, eid=PHONE if downloaded else None)
    assert smdp.profiles[iccid(0)].state is S.ERROR


@pytest.mark.parametrize("by_matching_id", [False, True])
def test_the_end_user_rejects_the_profile(smdp: SmdpInventory, by_matching_id: bool) -> None:
    matching_id = released(smdp, 0)
    if by_matching_id:
        smdp.reject(now=T0, matching_id=matching_id.lower())
    else:
        smdp.reject(now=T0, iccid=iccid(0))
    report(smdp, P.BPP_DOWNLOAD, END_USER_REJECTED, eid=None)
    profile = smdp.profiles[iccid(0)]
    assert profile.state is S.ERROR
    assert profile.history[-1].action is DeviceAction.REJECT
    assert (profile.history[-1].before, profile.history[-1].after) == (S.RELEASED, S.ERROR)


def test_a_downloaded_profile_can_be_rejected_an_installed_one_not(
    smdp: SmdpInventory,
) -> None:
    for n in (0, 1):
        smdp.download(now=T0, matching_id=released(smdp, n), eid=PHONE)
    smdp.notifications.clear()
    smdp.reject(now=T0, iccid=iccid(0))
    report(smdp, P.BPP_DOWNLOAD, END_USER_REJECTED)
    smdp.install(now=T0, iccid=iccid(1))
    smdp.notifications.clear()
    with pytest.raises(InvalidStateTransition):
        smdp.reject(now=T0, iccid=iccid(1))
    with pytest.raises(InvalidInput):
        smdp.reject(now=T0)
    with pytest.raises(SmdpRefusal) as unknown:
        smdp.reject(now=T0, matching_id="NOPE")
    assert unknown.value.status is PROFILE_UNKNOWN
    assert smdp.notifications == []


def test_enable_disable_delete_after_installation(smdp: SmdpInventory) -> None:
    smdp.download(now=T0, matching_id=released(smdp, 0), eid=PHONE)
    smdp.install(now=T0, iccid=iccid(0))
    smdp.notifications.clear()
    profile = smdp.profiles[iccid(0)]
    assert profile.on_device is None

    for step, point, status in (
        (smdp.enable, P.PROFILE_ENABLED, DeviceAction.ENABLE),
        (smdp.disable, P.PROFILE_DISABLED, DeviceAction.DISABLE),
        (smdp.enable, P.PROFILE_ENABLED, DeviceAction.ENABLE),
        (smdp.delete, P.PROFILE_DELETED, DeviceAction.DELETE),
    ):
        step(now=T0, iccid=iccid(0))
        report(smdp, point)
        assert profile.state is S.INSTALLED  # SGP.22 3.1.6 ends at Installed
        assert profile.on_device is status
        assert (profile.history[-1].action, profile.history[-1].after) == (status, S.INSTALLED)

    for step in (smdp.enable, smdp.disable, smdp.delete):
        with pytest.raises(SmdpRefusal, match="deleted on the device") as raised:
            step(now=T0, iccid=iccid(0))
        assert raised.value.status is INVALID_TRANSITION
    assert smdp.notifications == []


def test_enable_and_disable_only_from_the_other_state(smdp: SmdpInventory) -> None:
    smdp.download(now=T0, matching_id=released(smdp, 0), eid=PHONE)
    smdp.install(now=T0, iccid=iccid(0))
    with pytest.raises(SmdpRefusal, match="not yet enabled"):
        smdp.disable(now=T0, iccid=iccid(0))
    smdp.enable(now=T0, iccid=iccid(0))
    with pytest.raises(SmdpRefusal, match="enabled on the device"):
        smdp.enable(now=T0, iccid=iccid(0))
    smdp.delete(now=T0, iccid=iccid(0))  # an enabled profile can be deleted at once


def test_download_by_activation_code_names_this_smdp(smdp: SmdpInventory) -> None:
    matching_id = released(smdp, 0)
    other = ActivationCode("smdp.example.com", matching_id)
    with pytest.raises(InvalidInput, match=r"SMDP\.EXAMPLE\.COM"):
        smdp.download_code(now=T0, activation_code=other, eid=PHONE)
    with pytest.raises(InvalidInput, match="no matching ID"):
        smdp.download_code(
            now=T0, activation_code=ActivationCode("smdp.famsim.test", ""), eid=PHONE
        )
    assert smdp.notifications == []

    code = ActivationCode.parse(f"LPA:1$smdp.famsim.test${matching_id.lower()}")
    profile = smdp.download_code(now=T0, activation_code=code, eid=PHONE)
    assert profile.state is S.DOWNLOADED
    report(smdp, P.BPP_DOWNLOAD)


def test_log_action_reads_both_kinds_of_log_entries() -> None:
    assert log_action("install").value == "install"
    assert log_action("reject") is DeviceAction.REJECT
    assert log_action("delete") is DeviceAction.DELETE
    with pytest.raises(ValueError, match="nonsense"):
        log_action("nonsense")


def test_famsims_points_are_outside_the_specs_range() -> None:
    assert [p.value for p in P if p.value <= 4] == [1, 2, 3, 4]
    assert [p.value for p in P if p.value > 4] == [101, 102, 103]
    frozen = ProgressNotification(iccid(0), None, "x", T0, P.BPP_DOWNLOAD, True)
    with pytest.raises(AttributeError):
        frozen.success = False  # type: ignore[misc]
