"""Hypothesis: the Gy decoding path on bytes a peer chooses.

Arbitrary bytes, and CCRs encoded by python-diameter then damaged (bytes flipped, cut
short, inserted or deleted, AVP Length and flag fields overwritten), go through
``wire.parse_header`` + ``check_framing`` + ``check_header_bits``, ``wire.avps``,
``gy_mapping.decode_ccr`` and the server's CER reader. Only :class:`WireError` (a
:class:`CcrRejected` for a CCR) may come out, and every refusal is encoded by
``encode_rejection`` / ``encode_error`` into an answer python-diameter decodes, with the
request's hop-by-hop and end-to-end ids and the error's Result-Code (and Failed-AVP).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from diameter.message import Message
from diameter.message.avp import Avp
from diameter.message.avp.grouped import (
    ImsInformation,
    PsInformation,
    RecipientAddress,
    RecipientInfo,
    RequestedServiceUnit,
    ServiceInformation,
    SmsInformation,
    UsedServiceUnit,
)
from diameter.message.commands import CapabilitiesExchangeRequest, CreditControlRequest
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from famsim.adapters.diameter import gy_mapping as gy
from famsim.adapters.diameter import wire
from famsim.adapters.diameter.gy_server import _read_cer
from famsim.adapters.diameter.wire import Header, WireError
from famsim.domain.charging.rating_groups import DEFAULT_RATING_GROUPS

pytestmark = pytest.mark.unit

T = TypeVar("T")
IDENTITY = gy.Identity("ocs.famsim.test", "famsim.test").avps
FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _ccr(cc_type: int, number: int, **fields: Any) -> CreditControlRequest:
    message = CreditControlRequest()
    message.header.application_id = 4
    message.header.hop_by_hop_identifier = 0x11223344 + number
    message.header.end_to_end_identifier = 0x55667788 + number
    message.session_id = f"pgw.test;{cc_type};{number}"
    message.origin_host = b"pgw.test"
    message.origin_realm = b"test"
    message.destination_realm = b"famsim.test"
    message.auth_application_id = 4
    message.service_context_id = "32251@3gpp.org"
    message.cc_request_type = cc_type
    message.cc_request_number = number
    message.add_subscription_id(1, "454001240000001")
    message.add_subscription_id(0, "85291230001")
    for name, value in fields.items():
        if name == "msccs":
            for mscc in value:
                message.add_multiple_services_credit_control(**mscc)
        else:
            setattr(message, name, value)
    return message


def _seeds() -> list[bytes]:
    """Valid CCRs of every shape decode_ccr reads."""
    data = _ccr(
        1,
        0,
        msccs=[
            {
                "rating_group": 10,
                "requested_service_unit": RequestedServiceUnit(cc_total_octets=5_000_000),
            },
            {"rating_group": 11, "requested_service_unit": RequestedServiceUnit()},
            {"rating_group": 99},
        ],
        service_information=ServiceInformation(
            ps_information=PsInformation(
                tgpp_sgsn_mcc_mnc="45400", tgpp_user_location_info=b"\x82\x64\xf0\x00\x00\x01"
            )
        ),
    )
    update = _ccr(
        2,
        3,
        msccs=[
            {
                "rating_group": 10,
                "used_service_unit": [
                    UsedServiceUnit(cc_total_octets=100),
                    UsedServiceUnit(cc_total_octets=23),
                ],
                "requested_service_unit": RequestedServiceUnit(cc_total_octets=10),
            },
            {"rating_group": 20, "used_service_unit": UsedServiceUnit(cc_time=60)},
        ],
        user_location_info=b"\x82\x13\x00\x14\x00\x01\x00\x00\x00\x02\x13\x00\x14\x00\x00\x00\x01",
    )
    sms = _ccr(
        4,
        0,
        service_context_id="32274@3gpp.org",
        requested_action=0,
        requested_service_unit=RequestedServiceUnit(cc_service_specific_units=1),
        service_information=ServiceInformation(
            sms_information=SmsInformation(
                recipient_info=[
                    RecipientInfo(
                        recipient_address=[
                            RecipientAddress(address_type=1, address_data="+85291230002")
                        ]
                    )
                ]
            )
        ),
    )
    voice = _ccr(
        3,
        7,
        service_context_id="32260@3gpp.org",
        used_service_unit=UsedServiceUnit(cc_time=42),
        service_information=ServiceInformation(
            ims_information=ImsInformation(
                called_party_address="sip:+85291230002@ims.test;user=phone"
            )
        ),
    )
    return [m.as_bytes() for m in (data, update, sms, voice)]


SEEDS = _seeds()
_GROUPED = {456, 437, 446, 443, 431, 873, 874, 876, 2000, 2026, 1201}


def _avp_offsets(data: bytes, start: int, end: int) -> list[int]:
    """Where every AVP header of a well-formed message starts, nested ones too (read here
    with struct, independently of famsim's walker)."""
    found = []
    at = start
    while at + 8 <= end:
        code, word = struct.unpack_from(">II", data, at)
        length = word & 0xFFFFFF
        head = 12 if word >> 24 & 0x80 else 8
        found.append(at)
        if code in _GROUPED:
            found.extend(_avp_offsets(data, at + head, at + length))
        at += (length + 3) & ~3
    return found


SEED_AVPS = [_avp_offsets(seed, 20, len(seed)) for seed in SEEDS]


def _in_dictionary(code: int, vendor: int) -> bool:
    try:
        Avp.new(code, vendor)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------ mutations
_mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.binary(min_size=1, max_size=12)),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.integers(1, 16)),
    st.tuples(
        st.just("avp_length"),
        st.integers(0, 10_000),
        st.one_of(st.integers(0, 0xFFFFFF), st.integers(-12, 12)),
    ),
    st.tuples(st.just("avp_flags"), st.integers(0, 10_000), st.integers(0, 255)),
)


def _mutate(seed: int, mutations: list[tuple[Any, ...]], fix_length: bool) -> bytes:
    data = bytearray(SEEDS[seed])
    offsets = SEED_AVPS[seed]
    for kind, where, *rest in mutations:
        if kind == "avp_length" or kind == "avp_flags":
            at = offsets[where % len(offsets)]
            if at + 8 > len(data):
                continue
            if kind == "avp_flags":
                data[at + 4] = rest[0]
                continue
            (change,) = rest
            old = int.from_bytes(data[at + 5 : at + 8], "big")
            new = change if change > 12 or change < -12 else max(0, old + change)
            data[at + 5 : at + 8] = (new & 0xFFFFFF).to_bytes(3, "big")
        elif not data:
            continue
        elif kind == "flip":
            data[where % len(data)] ^= rest[0]
        elif kind == "truncate":
            del data[where % (len(data) + 1) :]
        elif kind == "insert":
            at = where % (len(data) + 1)
            data[at:at] = rest[0]
        elif kind == "delete":
            at = where % len(data)
            del data[at : at + rest[0]]
    if fix_length and len(data) >= 4:
        data[1:4] = len(data).to_bytes(3, "big")
    return bytes(data)


mutated_ccrs = st.builds(
    _mutate,
    st.integers(0, len(SEEDS) - 1),
    st.lists(_mutation, min_size=1, max_size=4),
    st.booleans(),
)


# ------------------------------------------------------------------------------ checks
def _ccr_header(data: bytes) -> Header:
    """The header the server would answer: the CCR's ids when there are any (decode_ccr
    is only given a request of command 272, application 4)."""
    if len(data) >= wire.HEADER_LENGTH:
        sent = wire.parse_header(data)
        return Header(1, len(data), 0xC0, 272, 4, sent.hop_by_hop, sent.end_to_end)
    return Header(1, 20, 0xC0, 272, 4, 0xA1B2C3D4, 0x01020304)


def _check_answer(raw: bytes, request: Header, error: WireError) -> Any:
    """*raw* answers *request* with *error*, for python-diameter and for famsim's walker."""
    answer = wire.parse_header(raw)
    assert answer.length == len(raw)
    wire.check_framing(answer)
    list(wire.avps(raw, wire.HEADER_LENGTH, len(raw)))  # well-formed by famsim's own rules
    parsed = Message.from_bytes(raw)
    header = parsed.header
    assert not header.is_request
    assert header.hop_by_hop_identifier == request.hop_by_hop
    assert header.end_to_end_identifier == request.end_to_end
    assert (header.command_code, header.application_id) == (request.command, request.application)
    assert header.is_error is (3000 <= error.result_code < 4000)
    codes = [a.value for a in parsed.avps if a.code == gy.AVP_RESULT_CODE]
    assert codes == [error.result_code]
    failed = [a for a in parsed.avps if a.code == gy.AVP_FAILED_AVP]
    if error.avp is None:
        assert failed == []
    else:
        (group,) = failed
        (inner,) = group.value
        assert (inner.code, inner.vendor_id) == error.avp
    return parsed


def _attempt(call: Callable[[], T]) -> tuple[T | None, WireError | None]:
    """What *call* returns, or the WireError it raises (any other exception escapes)."""
    try:
        return call(), None
    except WireError as error:
        return None, error


def _decode_and_answer(data: bytes) -> None:
    decoded, error = _attempt(lambda: gy.decode_ccr(data, DEFAULT_RATING_GROUPS))
    if error is not None:
        assert isinstance(error, gy.CcrRejected)
        note(f"rejected {error.result_code} {error.avp} {error.message}")
        assert error.result_code in {5004, 5005, 5014, 3009, 4011, 5030}
        request = _ccr_header(data)
        parsed = _check_answer(gy.encode_rejection(request, IDENTITY, error), request, error)
        if error.session_id:
            assert parsed.session_id == error.session_id
        if error.result_code >= 4000 and error.cc_request_number is not None:
            assert parsed.cc_request_number == error.cc_request_number
        return
    # decoded: a request the engine can take
    assert decoded is not None
    request = decoded.request
    assert request.session_id
    assert request.request_number >= 0
    assert decoded.cc_request_type in (1, 2, 3, 4)
    assert all(s.service is None or 0 <= s.service < len(request.services) for s in decoded.slots)


def _frame(data: bytes) -> None:
    """The server's framing of the first message in *data*: only WireError, each answerable."""
    if len(data) < wire.HEADER_LENGTH:
        return
    header = wire.parse_header(data)
    for check in (lambda: wire.check_framing(header, 4096), lambda: wire.check_header_bits(header)):
        _, error = _attempt(check)
        if error is not None:
            assert error.result_code in {5011, 5015, 3008}
            assert error.fatal is (error.result_code != 3008)
            _check_answer(gy.encode_error(header, IDENTITY, error), header, error)


def _walk_all(data: bytes, start: int) -> None:
    for _code, _flags, _vendor, a, b in wire.avps(data, start, len(data)):
        assert start <= a <= b <= len(data)
        for code, _f, _v, x, y in wire.avps(data, a, b):
            assert a <= x <= y <= b
            wire.utf8(data, x, y, code)


def _walk(data: bytes, start: int) -> None:
    """Every AVP, nested ones too, until the first error; only WireError may come out."""
    _, error = _attempt(lambda: _walk_all(data, start))
    if error is not None:
        assert error.result_code in {5014, 3009, 5004}
        assert error.avp is not None
        assert not error.fatal


def _cer(data: bytes) -> None:
    read, error = _attempt(lambda: _read_cer(data))
    if error is not None:
        assert error.result_code in {5004, 5005, 5014, 3009}
        request = Header(1, len(data), 0x80, 257, 0, 1, 2)
        _check_answer(gy.encode_error(request, IDENTITY, error), request, error)
    else:
        assert read is not None
        origin_host, applications = read
        assert origin_host
        assert all(0 <= a <= 0xFFFFFFFF for a in applications)


# ------------------------------------------------------------------------------ properties
def test_the_seeds_are_valid_ccrs() -> None:
    for seed in SEEDS:
        decoded = gy.decode_ccr(seed, DEFAULT_RATING_GROUPS)
        assert decoded.request.subscriber == "454001240000001"
        _frame(seed)


@FUZZ
@given(st.binary(max_size=400))
@example(b"")
@example(b"\x01\x00\x00\x14" + b"\x00" * 16)
@example(b"\x01\x00\x00\x18\x80\x00\x01\x10" + b"\x00" * 12 + b"\x00\x00\x01\x07")
def test_arbitrary_bytes(data: bytes) -> None:
    _frame(data)
    _walk(data, 0)
    _walk(data, min(len(data), wire.HEADER_LENGTH))
    _decode_and_answer(data)
    _cer(data)


@FUZZ
@given(st.binary(min_size=20, max_size=300).map(lambda b: b"\x01" + b[1:]))
def test_arbitrary_bytes_after_a_version_1_header(data: bytes) -> None:
    _frame(data)
    _walk(data, wire.HEADER_LENGTH)
    _decode_and_answer(data)
    _cer(data)


@settings(FUZZ, max_examples=400)
@given(mutated_ccrs)
def test_damaged_ccrs(data: bytes) -> None:
    _frame(data)
    _walk(data, wire.HEADER_LENGTH)
    _decode_and_answer(data)


@FUZZ
@given(
    st.integers(0, len(SEEDS) - 1),
    st.data(),
)
def test_a_ccr_cut_anywhere(seed: int, draw: st.DataObject) -> None:
    whole = SEEDS[seed]
    cut = draw.draw(st.integers(0, len(whole) - 1), label="cut")
    _decode_and_answer(whole[:cut])
    fixed = bytearray(whole[:cut])
    if cut >= 4:
        fixed[1:4] = cut.to_bytes(3, "big")
    _frame(bytes(fixed))
    _decode_and_answer(bytes(fixed))


def test_a_cer_of_python_diameter_is_read() -> None:
    cer = CapabilitiesExchangeRequest()
    cer.origin_host = b"pgw1.gw.test"
    cer.origin_realm = b"gw.test"
    cer.host_ip_address = ["127.0.0.1"]
    cer.vendor_id = 10415
    cer.product_name = "famsim-tests"
    cer.auth_application_id = [4]
    assert _read_cer(cer.as_bytes()) == ("pgw1.gw.test", {4})


# ------------------------------------------------------------------------------ found here
def _nested(depth: int, code: int, leaf: bytes) -> bytes:
    node = leaf
    for _ in range(depth):
        node = wire.avp(code, node, vendor=gy.VENDOR_3GPP)
    return node


@pytest.mark.parametrize(
    ("code", "leaf"),
    [
        (gy.AVP_SERVICE_INFORMATION, wire.avp(18, b"45400", vendor=gy.VENDOR_3GPP)),
        (gy.AVP_RECIPIENT_INFO, wire.avp(897, b"+85291230002", vendor=gy.VENDOR_3GPP)),
    ],
    ids=["service-information", "recipient-info"],
)
def test_deeply_nested_grouped_avps_are_read_or_refused(code: int, leaf: bytes) -> None:
    """Service-Information or Recipient-Info nested 1,500 deep (18 KB, under the message
    bound) once made decode_ccr recurse into RecursionError."""
    body = SEEDS[0][wire.HEADER_LENGTH :] + _nested(1_500, code, leaf)
    data = wire.message(272, 4, 0xC0, 9, 9, body)
    assert len(data) < wire.MAX_MESSAGE_BYTES
    _attempt(lambda: gy.decode_ccr(data, DEFAULT_RATING_GROUPS))  # only a WireError


@pytest.mark.parametrize(
    "tail",
    [
        struct.pack(">II", 99_999, 0x40 << 24 | 3),  # a length shorter than its header
        struct.pack(">III", 5_555, 0xC0 << 24 | 40, 12_345),  # vendor 12345: past the end
        b"\0\0\0\0",  # a cut-short header: its code is read as 0
        struct.pack(">II", 77_777, 0x41 << 24 | 12) + b"\0\0\0\0",  # reserved flags: 3009
    ],
    ids=["short-length", "vendor-past-end", "cut-short-header", "reserved-flags"],
)
def test_a_failed_avp_outside_the_dictionary_is_encoded(tail: bytes) -> None:
    """A malformed AVP python-diameter's dictionary does not know (any code a peer sends,
    or code 0 from a cut-short header) once made failed_avp raise ValueError."""
    data = wire.message(272, 4, 0xC0, 7, 8, SEEDS[0][wire.HEADER_LENGTH :] + tail)
    with pytest.raises(gy.CcrRejected) as caught:
        gy.decode_ccr(data, DEFAULT_RATING_GROUPS)
    rejected = caught.value
    assert rejected.result_code in (5014, 3009)
    assert rejected.avp is not None
    assert not _in_dictionary(*rejected.avp)
    request = _ccr_header(data)
    _check_answer(gy.encode_rejection(request, IDENTITY, rejected), request, rejected)
