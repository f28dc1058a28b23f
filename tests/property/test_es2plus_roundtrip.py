"""ES2+ messages survive dump-then-parse unchanged, over generated requests."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from famsim.adapters.es2plus.messages import (
    ConfirmOrderRequest,
    DownloadOrderRequest,
    RequestHeader,
    dump,
    parse,
)
from famsim.domain.identifiers import Eid, Iccid

pytestmark = pytest.mark.unit


def _digits(size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=size, max_size=size)


iccids = _digits(16).map(lambda rest: str(Iccid.from_body("89" + rest)))
padded_iccids = iccids.map(lambda digits: Iccid(digits).padded)  # 19-digit ones gain an F
eids = _digits(22).map(lambda rest: str(Eid.from_body("89049032" + rest)))
identifiers = st.text(min_size=1, max_size=255)
optional_text = st.none() | st.text(max_size=40)
headers = st.builds(
    RequestHeader, functionRequesterIdentifier=identifiers, functionCallIdentifier=identifiers
)
profile_types = st.text(min_size=1, max_size=40)

download_orders = st.one_of(
    st.builds(
        DownloadOrderRequest,
        header=headers,
        eid=st.none() | eids,
        iccid=iccids | padded_iccids,
        profileType=st.none() | profile_types,
    ),
    st.builds(
        DownloadOrderRequest,
        header=headers,
        eid=st.none() | eids,
        iccid=st.none(),
        profileType=profile_types,
    ),
)

confirm_orders = st.builds(
    ConfirmOrderRequest,
    header=headers,
    iccid=iccids | padded_iccids,
    eid=st.none() | eids,
    matchingId=optional_text,
    confirmationCode=optional_text,
    smdsAddress=optional_text,
    releaseFlag=st.booleans(),
)


def _has_null(value: object) -> bool:
    """A JSON null anywhere (the text "null" inside a string is fine: it is data)."""
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_has_null(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_null(v) for v in value)
    return False


@given(download_orders)
def test_download_order_round_trips(message: DownloadOrderRequest) -> None:
    body = dump(message)
    assert not _has_null(json.loads(body))
    iccid = json.loads(body).get("iccid")
    assert iccid is None or iccid.isdigit()  # never written with the F pad
    assert parse(DownloadOrderRequest, body) == message


@given(confirm_orders)
def test_confirm_order_round_trips(message: ConfirmOrderRequest) -> None:
    body = dump(message)
    assert not _has_null(json.loads(body))
    assert json.loads(body)["iccid"] == Iccid.parse(message.iccid).digits
    assert parse(ConfirmOrderRequest, body) == message
