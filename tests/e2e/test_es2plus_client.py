"""famsim's ES2+ client against the built-in SM-DP+ over real HTTP on loopback.

Every function, each state transition reachable through ES2+, and the listed failures come
back as typed errors carrying the spec's codes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from famsim.adapters.es2plus.client import Es2Client, Es2Failure
from famsim.domain.esim import status
from famsim.domain.esim.smdp import FinalStatus
from famsim.service.smdp import SmdpService
from smdp_server import OTHER, PHONE, iccid, serving

pytestmark = pytest.mark.e2e


@pytest.fixture
def smdp(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[Es2Client, SmdpService]]:
    with (
        serving(sqlite_url, tmp_path) as (base_url, service),
        Es2Client(base_url, requester="famsim-operator") as client,
    ):
        yield client, service


def state(service: SmdpService, n: int) -> str:
    return service.run(lambda inv, _: inv.profiles[iccid(n)].state.value)


def test_order_confirm_release_and_cancel(smdp: tuple[Es2Client, SmdpService]) -> None:
    client, service = smdp

    ordered = client.download_order(eid=PHONE, profile_type="phone-5g")
    assert ordered == iccid(0)
    assert state(service, 0) == "Linked"

    confirmed = client.confirm_order(iccid=ordered, release=False, confirmation_code="5678")
    assert (confirmed.eid, confirmed.smdp_address) == (PHONE, "SMDP.FAMSIM.TEST")
    assert len(confirmed.matching_id) == 23
    assert state(service, 0) == "Confirmed"

    client.release_profile(iccid=ordered)
    assert state(service, 0) == "Released"

    client.cancel_order(
        iccid=ordered, final=FinalStatus.AVAILABLE, matching_id=confirmed.matching_id
    )
    assert state(service, 0) == "Available"

    assert client.download_order(iccid=iccid(1)) == iccid(1)
    assert state(service, 1) == "Allocated"
    client.confirm_order(iccid=iccid(1), release=True, matching_id="MY-ORDER-1")
    assert state(service, 1) == "Released"


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda c: c.download_order(iccid=iccid(99)), status.PROFILE_UNKNOWN),
        (lambda c: c.download_order(profile_type="tablet"), status.NO_PROFILE_OF_TYPE),
        (lambda c: c.release_profile(iccid=iccid(2)), status.INVALID_TRANSITION),
        (
            lambda c: c.cancel_order(iccid=iccid(2), final=FinalStatus.UNAVAILABLE),
            status.INVALID_TRANSITION,
        ),
        (lambda c: c.confirm_order(iccid=iccid(2), release=True), status.INVALID_TRANSITION),
    ],
)
def test_failures_are_typed_with_the_spec_code(
    smdp: tuple[Es2Client, SmdpService], call: object, code: status.StatusCode
) -> None:
    client, _ = smdp
    assert callable(call)
    with pytest.raises(Es2Failure) as raised:
        call(client)
    assert raised.value.is_(code), raised.value
    assert raised.value.execution_status == "Failed"
    assert f"{code.subject_code}/{code.reason_code}" in str(raised.value)


def test_eid_mismatch_and_matching_id_conflict(smdp: tuple[Es2Client, SmdpService]) -> None:
    client, service = smdp
    client.download_order(eid=PHONE, iccid=iccid(0))
    with pytest.raises(Es2Failure) as mismatch:
        client.confirm_order(iccid=iccid(0), eid=OTHER, release=True)
    assert mismatch.value.is_(status.EID_DIFFERS)

    client.confirm_order(iccid=iccid(0), release=True, matching_id="SAME-ID")
    client.download_order(iccid=iccid(1))
    with pytest.raises(Es2Failure) as conflict:
        client.confirm_order(iccid=iccid(1), release=True, matching_id="same-id")
    assert conflict.value.is_(status.MATCHING_ID_CONFLICT)
    with pytest.raises(Es2Failure) as in_use:
        client.download_order(iccid=iccid(0))
    assert in_use.value.is_(status.PROFILE_IN_USE)
    assert (state(service, 0), state(service, 1)) == ("Released", "Allocated")
