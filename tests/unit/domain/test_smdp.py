"""The built-in SM-DP+'s rules: inventory, ES2+ functions and simulated device steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from famsim.domain.errors import InvalidInput
from famsim.domain.esim.activation_code import confirmation_code_hash
from famsim.domain.esim.profile_state import InvalidStateTransition, ProfileState
from famsim.domain.esim.smdp import (
    AlreadyStocked,
    FinalStatus,
    SmdpInventory,
    SmdpRefusal,
    consecutive_iccids,
)
from famsim.domain.esim.status import (
    CONFIRMATION_ATTEMPTS_EXCEEDED,
    CONFIRMATION_CODE_REFUSED,
    EID_DIFFERS,
    MATCHING_ID_CONFLICT,
    NO_PROFILE_OF_TYPE,
    ORDER_EXPIRED,
    PROFILE_IN_USE,
    PROFILE_UNKNOWN,
    StatusCode,
)
from famsim.domain.identifiers import Eid, Iccid

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PHONE = Eid.from_body("890490320000300000000000000001"[:30])
WATCH = Eid.from_body("890490320000300000000000000002"[:30])
S = ProfileState


def iccid(n: int) -> Iccid:
    return Iccid.from_body(f"898520000123{n:06d}")


@pytest.fixture
def smdp() -> SmdpInventory:
    inventory = SmdpInventory("smdp.famsim.test", order_validity=timedelta(hours=1))
    for n in range(3):
        inventory.add(iccid(n), "phone-5g")
    inventory.add(iccid(10), "watch")
    return inventory


def refused(status: StatusCode, call: object) -> SmdpRefusal:
    assert callable(call)
    with pytest.raises(SmdpRefusal) as raised:
        call()
    assert raised.value.status is status, raised.value
    return raised.value


def test_a_whole_order_from_inventory_to_installed(smdp: SmdpInventory) -> None:
    profile = smdp.download_order(now=T0, eid=PHONE, profile_type="phone-5g")
    assert (profile.iccid, profile.state, profile.eid) == (iccid(0), S.LINKED, PHONE)
    assert smdp.available("phone-5g") == 2

    confirmation = smdp.confirm_order(
        now=T0, iccid=profile.iccid, release=True, confirmation_code="12345678"
    )
    assert profile.state is S.RELEASED
    assert confirmation.smdp_address == "SMDP.FAMSIM.TEST"
    assert confirmation.activation_code.confirmation_code_required
    assert confirmation.activation_code.text == (
        f"1$SMDP.FAMSIM.TEST${confirmation.matching_id}$$1"
    )
    assert profile.confirmation_code_sha256 == confirmation_code_hash("12345678")

    smdp.download(
        now=T0, matching_id=confirmation.matching_id, eid=PHONE, confirmation_code="12345678"
    )
    smdp.install(now=T0, iccid=profile.iccid)
    assert profile.state is S.INSTALLED
    assert [(t.before, t.after) for t in profile.history] == [
        (S.AVAILABLE, S.LINKED),
        (S.LINKED, S.RELEASED),
        (S.RELEASED, S.DOWNLOADED),
        (S.DOWNLOADED, S.INSTALLED),
    ]


def test_confirm_then_release_and_an_unlinked_order_takes_the_downloading_eid(
    smdp: SmdpInventory,
) -> None:
    profile = smdp.download_order(now=T0, iccid=iccid(1))
    assert profile.state is S.ALLOCATED
    confirmation = smdp.confirm_order(now=T0, iccid=iccid(1), release=False)
    assert profile.state is S.CONFIRMED
    assert not confirmation.activation_code.confirmation_code_required
    smdp.release_profile(now=T0, iccid=iccid(1))
    smdp.download(now=T0, matching_id=confirmation.matching_id.lower(), eid=WATCH)
    assert (profile.state, profile.eid) == (S.DOWNLOADED, WATCH)


def test_download_order_refusals(smdp: SmdpInventory) -> None:
    refused(PROFILE_UNKNOWN, lambda: smdp.download_order(now=T0, iccid=iccid(99)))
    refused(NO_PROFILE_OF_TYPE, lambda: smdp.download_order(now=T0, profile_type="tablet-lte"))
    refused(
        NO_PROFILE_OF_TYPE,
        lambda: smdp.download_order(now=T0, iccid=iccid(10), profile_type="phone-5g"),
    )
    smdp.download_order(now=T0, profile_type="watch")
    refused(NO_PROFILE_OF_TYPE, lambda: smdp.download_order(now=T0, profile_type="watch"))
    refused(PROFILE_IN_USE, lambda: smdp.download_order(now=T0, iccid=iccid(10)))
    with pytest.raises(InvalidInput):
        smdp.download_order(now=T0)


def test_confirm_order_refusals(smdp: SmdpInventory) -> None:
    first = smdp.download_order(now=T0, eid=PHONE, profile_type="phone-5g")
    refused(
        EID_DIFFERS, lambda: smdp.confirm_order(now=T0, iccid=first.iccid, eid=WATCH, release=True)
    )
    smdp.confirm_order(now=T0, iccid=first.iccid, matching_id="ABCDE-12345", release=True)
    second = smdp.download_order(now=T0, profile_type="phone-5g")
    refused(
        MATCHING_ID_CONFLICT,
        lambda: smdp.confirm_order(
            now=T0, iccid=second.iccid, matching_id="abcde-12345", release=True
        ),
    )
    with pytest.raises(InvalidStateTransition) as raised:
        smdp.confirm_order(now=T0, iccid=first.iccid, release=True)  # already released
    assert (raised.value.status.subject_code, raised.value.status.reason_code) == ("8.2.1", "3.5")
    refused(PROFILE_UNKNOWN, lambda: smdp.release_profile(now=T0, iccid=iccid(99)))


def test_a_cancelled_order_returns_to_the_inventory_cleared(smdp: SmdpInventory) -> None:
    profile = smdp.download_order(now=T0, eid=PHONE, iccid=iccid(2))
    smdp.confirm_order(now=T0, iccid=iccid(2), release=True, confirmation_code="1111")
    refused(
        MATCHING_ID_CONFLICT,
        lambda: smdp.cancel_order(
            now=T0, iccid=iccid(2), final=FinalStatus.AVAILABLE, matching_id="WRONG"
        ),
    )
    smdp.cancel_order(now=T0, iccid=iccid(2), final=FinalStatus.AVAILABLE, eid=PHONE)
    assert (profile.state, profile.eid, profile.matching_id) == (S.AVAILABLE, None, None)
    assert profile.confirmation_code_sha256 is None
    assert smdp.available("phone-5g") == 3

    smdp.download_order(now=T0, iccid=iccid(2))
    smdp.cancel_order(now=T0, iccid=iccid(2), final=FinalStatus.UNAVAILABLE)
    assert profile.state is S.UNAVAILABLE
    assert smdp.available("phone-5g") == 2


def test_wrong_confirmation_codes_are_counted_until_the_profile_fails(
    smdp: SmdpInventory,
) -> None:
    profile = smdp.download_order(now=T0, profile_type="phone-5g")
    confirmation = smdp.confirm_order(
        now=T0, iccid=profile.iccid, release=True, confirmation_code="246810"
    )

    def attempt(code: str | None) -> None:
        smdp.download(
            now=T0, matching_id=confirmation.matching_id, eid=PHONE, confirmation_code=code
        )

    refused(CONFIRMATION_CODE_REFUSED, lambda: attempt("000000"))
    refused(CONFIRMATION_CODE_REFUSED, lambda: attempt(None))
    assert (profile.state, profile.failed_confirmations) == (S.RELEASED, 2)
    refused(CONFIRMATION_ATTEMPTS_EXCEEDED, lambda: attempt("135790"))
    assert profile.state is S.ERROR
    with pytest.raises(InvalidStateTransition):
        attempt("246810")  # the right code, too late


def test_an_expired_order_fails_on_download(smdp: SmdpInventory) -> None:
    profile = smdp.download_order(now=T0, profile_type="phone-5g")
    confirmation = smdp.confirm_order(now=T0, iccid=profile.iccid, release=True)

    later = T0 + timedelta(hours=1)
    refused(
        ORDER_EXPIRED,
        lambda: smdp.download(now=later, matching_id=confirmation.matching_id, eid=PHONE),
    )
    assert profile.state is S.ERROR


def test_a_device_with_another_eid_cannot_take_a_linked_profile(smdp: SmdpInventory) -> None:
    profile = smdp.download_order(now=T0, eid=PHONE, profile_type="phone-5g")
    confirmation = smdp.confirm_order(now=T0, iccid=profile.iccid, release=True)
    refused(
        EID_DIFFERS,
        lambda: smdp.download(now=T0, matching_id=confirmation.matching_id, eid=WATCH),
    )
    refused(PROFILE_UNKNOWN, lambda: smdp.download(now=T0, matching_id="NOPE", eid=PHONE))
    assert profile.state is S.RELEASED


def test_inventory_rules(smdp: SmdpInventory) -> None:
    refused(PROFILE_IN_USE, lambda: smdp.add(iccid(0), "phone-5g"))
    with pytest.raises(InvalidInput):
        smdp.add(iccid(50), "  ")
    with pytest.raises(InvalidInput):
        SmdpInventory("smdp.famsim.test", confirmation_attempts=0)
    with pytest.raises(InvalidInput):
        SmdpInventory("not a host")


def test_a_delivery_is_stocked_whole_or_not_at_all(smdp: SmdpInventory) -> None:
    with pytest.raises(AlreadyStocked) as twice:
        smdp.add_all([(iccid(20), "tablet"), (iccid(21), "tablet"), (iccid(20), "tablet")])
    assert (twice.value.position, twice.value.iccid) == (2, iccid(20))
    with pytest.raises(AlreadyStocked) as stocked:
        smdp.add_all([(iccid(22), "tablet"), (iccid(1), "tablet")])
    assert stocked.value.position == 1
    assert stocked.value.status is PROFILE_IN_USE
    assert smdp.available("tablet") == 0  # nothing of either delivery went in

    smdp.add_all([(iccid(20), "tablet"), (iccid(21), "tablet")])
    assert smdp.available("tablet") == 2


def test_consecutive_iccids_count_up_the_account_number() -> None:
    assert consecutive_iccids(iccid(8), 3) == [iccid(8), iccid(9), iccid(10)]
    last = Iccid.from_body("899999999999999999")
    with pytest.raises(InvalidInput, match="run past"):
        consecutive_iccids(last, 2)
    with pytest.raises(InvalidInput):
        consecutive_iccids(iccid(1), 0)
