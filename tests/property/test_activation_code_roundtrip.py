"""Property: every activation code famsim can build reads back to itself, typed or scanned."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from famsim.domain.esim.activation_code import MATCHING_ID_ALPHABET, ActivationCode

pytestmark = pytest.mark.unit

labels = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?", fullmatch=True)
addresses = st.lists(labels, min_size=1, max_size=4).map(".".join)
matching_ids = st.text(alphabet=MATCHING_ID_ALPHABET + "-", max_size=40)
oids = st.lists(st.integers(0, 99_999), min_size=1, max_size=6).map(
    lambda arcs: "1." + ".".join(str(a) for a in arcs)
)


@given(addresses, matching_ids, st.none() | oids, st.booleans())
def test_text_and_qr_payload_parse_back(
    address: str, matching_id: str, oid: str | None, confirm: bool
) -> None:
    code = ActivationCode(address, matching_id, oid, confirm)

    assert ActivationCode.parse(code.text) == code
    assert ActivationCode.parse(code.qr_payload) == code
    assert ActivationCode.parse(code.qr_payload.lower()) == code
    assert code.text == code.text.upper()
    assert len(code.text) <= 255
