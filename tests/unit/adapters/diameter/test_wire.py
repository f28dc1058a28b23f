"""The hand-written Diameter codec (famsim.adapters.diameter.wire): headers, framing checks,
the AVP walk and its errors, the fixed-size and UTF-8 readers, and the encoders, the last
checked by python-diameter decoding what they produce."""

from __future__ import annotations

import struct

import pytest
from diameter.message import Message
from diameter.message.commands import (
    CapabilitiesExchangeAnswer,
    CreditControlAnswer,
    CreditControlRequest,
)

from famsim.adapters.diameter import wire
from famsim.adapters.diameter.wire import Header, WireError

pytestmark = pytest.mark.unit


def header_bytes(
    *,
    version: int = 1,
    length: int = 20,
    flags: int = 0x80,
    command: int = 272,
    application: int = 4,
    hop: int = 0x01020304,
    end: int = 0x05060708,
) -> bytes:
    return struct.pack(">5I", version << 24 | length, flags << 24 | command, application, hop, end)


def raw_avp(
    code: int, flags: int, length: int, payload: bytes = b"", vendor: int | None = None
) -> bytes:
    """An AVP header with any Length (not checked against the payload), then the payload."""
    head = struct.pack(">II", code, flags << 24 | length)
    if vendor is not None:
        head += struct.pack(">I", vendor)
    return head + payload


def walk(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[int, int, int, bytes]]:
    """(code, flags, vendor, value) of each AVP."""
    end = len(data) if end is None else end
    return [(c, f, v, data[a:b]) for c, f, v, a, b in wire.avps(data, start, end)]


def rejected(data: bytes, start: int = 0, end: int | None = None) -> WireError:
    with pytest.raises(WireError) as caught:
        walk(data, start, end)
    return caught.value


# ------------------------------------------------------------------------------ headers
def test_a_header_round_trips() -> None:
    raw = wire.message(272, 4, wire.FLAG_REQUEST | wire.FLAG_PROXIABLE, 0xAABBCCDD, 7, b"x" * 8)
    header = wire.parse_header(raw)
    assert header == Header(1, 28, 0xC0, 272, 4, 0xAABBCCDD, 7)
    assert header.is_request
    assert len(raw) == header.length
    wire.check_framing(header)
    wire.check_header_bits(header)


def test_a_header_is_read_at_an_offset_and_as_sent() -> None:
    data = b"\xff" * 6 + header_bytes(version=3, length=0xFFFFFF, flags=0x2F, command=0xABCDEF)
    header = wire.parse_header(bytearray(data), 6)
    assert header == Header(3, 0xFFFFFF, 0x2F, 0xABCDEF, 4, 0x01020304, 0x05060708)
    assert not header.is_request


def test_a_header_of_python_diameter_is_read() -> None:
    ccr = CreditControlRequest()
    ccr.header.hop_by_hop_identifier = 41
    ccr.header.end_to_end_identifier = 42
    ccr.header.application_id = 4
    ccr.session_id = "s"
    raw = ccr.as_bytes()
    header = wire.parse_header(raw)
    assert (header.version, header.length, header.command, header.application) == (
        1,
        len(raw),
        272,
        4,
    )
    assert (header.hop_by_hop, header.end_to_end) == (41, 42)
    assert header.is_request
    assert header.flags & wire.FLAG_PROXIABLE


@pytest.mark.parametrize("version", [0, 2, 255])
def test_a_version_other_than_1_is_5011_and_fatal(version: int) -> None:
    with pytest.raises(WireError) as caught:
        wire.check_framing(wire.parse_header(header_bytes(version=version)))
    assert caught.value.result_code == wire.UNSUPPORTED_VERSION == 5011
    assert caught.value.fatal
    assert caught.value.avp is None


@pytest.mark.parametrize("length", [0, 4, 16, 19, 21, 22, 23, 27, 65_535])
def test_a_length_short_of_a_header_or_not_in_words_is_5015_and_fatal(length: int) -> None:
    with pytest.raises(WireError) as caught:
        wire.check_framing(wire.parse_header(header_bytes(length=length)))
    assert caught.value.result_code == wire.INVALID_MESSAGE_LENGTH == 5015
    assert caught.value.fatal


def test_a_length_over_the_bound_is_5015_and_fatal() -> None:
    wire.check_framing(wire.parse_header(header_bytes(length=wire.MAX_MESSAGE_BYTES)))
    wire.check_framing(wire.parse_header(header_bytes(length=1024)), 1024)
    for length, bound in [(wire.MAX_MESSAGE_BYTES + 4, wire.MAX_MESSAGE_BYTES), (1028, 1024)]:
        with pytest.raises(WireError) as caught:
            wire.check_framing(wire.parse_header(header_bytes(length=length)), bound)
        assert caught.value.result_code == 5015
        assert caught.value.fatal
    with pytest.raises(WireError) as caught:
        wire.check_framing(wire.parse_header(header_bytes(length=0xFFFFFC)))
    assert caught.value.result_code == 5015


@pytest.mark.parametrize("length", [20, 24, 400])
def test_a_sound_header_passes(length: int) -> None:
    wire.check_framing(wire.parse_header(header_bytes(length=length)))


@pytest.mark.parametrize(
    "flags",
    [0x80 | 0x20, 0xA0 | 0x40, 0x80 | 0x01, 0x80 | 0x08, 0x00 | 0x04, 0x0F],
    ids=["request-E", "request-PE", "reserved-1", "reserved-8", "answer-reserved", "all-reserved"],
)
def test_header_bits_a_request_cannot_have_are_3008(flags: int) -> None:
    with pytest.raises(WireError) as caught:
        wire.check_header_bits(wire.parse_header(header_bytes(flags=flags)))
    assert caught.value.result_code == wire.INVALID_HDR_BITS == 3008
    assert not caught.value.fatal  # the length is usable: the stream goes on


@pytest.mark.parametrize("flags", [0x80, 0xC0, 0x90, 0xD0, 0x00, 0x20, 0x60, 0x40])
def test_allowed_header_bits_pass(flags: int) -> None:
    wire.check_header_bits(wire.parse_header(header_bytes(flags=flags)))


# ------------------------------------------------------------------------------ the AVP walk
def test_the_walk_reads_plain_and_vendor_avps_and_skips_padding() -> None:
    data = (
        wire.text(263, "abcde")  # 13 bytes, 3 of padding
        + wire.avp(22, b"\x82\x64\xf0\x00", vendor=10415)  # 16 bytes, no padding
        + wire.avp(18, b"46000", vendor=10415, mandatory=False)  # 17 bytes, 3 of padding
        + wire.u32(268, 2001)
        + wire.u64(421, 2**40)
        + wire.text(1, b"")  # an empty value
    )
    assert walk(data) == [
        (263, 0x40, 0, b"abcde"),
        (22, 0xC0, 10415, b"\x82\x64\xf0\x00"),
        (18, 0x80, 10415, b"46000"),
        (268, 0x40, 0, (2001).to_bytes(4, "big")),
        (421, 0x40, 0, (2**40).to_bytes(8, "big")),
        (1, 0x40, 0, b""),
    ]


def test_the_walk_of_a_range_within_a_message() -> None:
    inner = wire.u32(432, 10) + wire.grouped(437, wire.u64(421, 5000))
    message = wire.message(272, 4, 0x80, 1, 1, wire.text(263, "s") + wire.grouped(456, inner))
    ((code, _, _, start, end),) = [
        a for a in wire.avps(message, wire.HEADER_LENGTH, len(message)) if a[0] == 456
    ]
    assert code == 456
    assert [a[0] for a in wire.avps(message, start, end)] == [432, 437]
    ((_, _, _, a, b),) = [a for a in wire.avps(message, start, end) if a[0] == 437]
    assert walk(message, a, b) == [(421, 0x40, 0, (5000).to_bytes(8, "big"))]


def test_an_empty_range_has_no_avps() -> None:
    assert walk(b"") == []
    assert walk(b"\x00" * 40, 8, 8) == []


def test_a_last_avp_without_its_padding_is_read() -> None:
    # RFC 6733 4: the padding is not in the AVP Length; a sender may end the message there.
    data = raw_avp(263, 0x40, 9, b"x")
    assert walk(data) == [(263, 0x40, 0, b"x")]


@pytest.mark.parametrize("left", [1, 2, 3, 4, 5, 6, 7])
def test_an_avp_header_cut_short_is_5014_with_the_code_zero_filled(left: int) -> None:
    head = struct.pack(">II", 0x01020304, 0x40 << 24 | 12)[:left]
    error = rejected(wire.u32(268, 1) + head)
    assert error.result_code == wire.INVALID_AVP_LENGTH == 5014
    assert not error.fatal
    expected = int.from_bytes(head[:4].ljust(4, b"\0"), "big")
    assert error.avp == (expected, 0)


@pytest.mark.parametrize("left", [8, 9, 10, 11])
def test_a_vendor_avp_header_cut_short_is_5014(left: int) -> None:
    head = raw_avp(22, 0xC0, 16, b"", vendor=10415)[:left]
    error = rejected(head)
    assert error.result_code == 5014
    assert error.avp == (22, 0)


@pytest.mark.parametrize("length", [0, 1, 7])
def test_a_length_shorter_than_the_header_is_5014(length: int) -> None:
    error = rejected(raw_avp(263, 0x40, length, b"abcdefgh"))
    assert error.result_code == 5014
    assert error.avp == (263, 0)


@pytest.mark.parametrize("length", [0, 8, 11])
def test_a_vendor_avp_length_shorter_than_its_header_is_5014(length: int) -> None:
    error = rejected(raw_avp(22, 0xC0, length, b"abcd", vendor=10415))
    assert error.result_code == 5014
    assert error.avp == (22, 10415)


def test_a_length_past_the_end_is_5014() -> None:
    good = wire.text(263, "s")
    error = rejected(good + raw_avp(268, 0x40, 13, b"\0\0\0\x01"))
    assert error.result_code == 5014
    assert error.avp == (268, 0)
    vendor = rejected(raw_avp(22, 0xC0, 0xFFFFFF, b"abcd", vendor=10415))
    assert (vendor.result_code, vendor.avp) == (5014, (22, 10415))


def test_a_length_past_the_end_of_the_range_is_5014_even_with_bytes_beyond() -> None:
    data = wire.grouped(456, raw_avp(432, 0x40, 16, b"\0\0\0\x0a")) + wire.u32(268, 1)
    (_, _, _, a, b), _ = list(wire.avps(data, 0, len(data)))
    error = rejected(data, a, b)
    assert (error.result_code, error.avp) == (5014, (432, 0))


@pytest.mark.parametrize("flags", [0x01, 0x10, 0x1F, 0x40 | 0x08, 0xE0 | 0x02])
def test_reserved_avp_flags_are_3009(flags: int) -> None:
    vendor = 10415 if flags & 0x80 else None
    size = 16 if vendor is not None else 12
    error = rejected(wire.u32(268, 1) + raw_avp(18, flags, size, b"abcd", vendor=vendor))
    assert error.result_code == wire.INVALID_AVP_BITS == 3009
    assert error.avp == (18, vendor or 0)
    assert not error.fatal


def test_the_p_bit_is_not_reserved() -> None:
    assert walk(raw_avp(263, 0x60, 9, b"x")) == [(263, 0x60, 0, b"x")]


def test_avps_before_a_bad_one_are_yielded() -> None:
    walker = wire.avps(wire.u32(268, 1) + raw_avp(263, 0x40, 3), 0, 20)
    assert next(walker)[0] == 268
    with pytest.raises(WireError):
        next(walker)


# ------------------------------------------------------------------------------ values
@pytest.mark.parametrize("size", [0, 1, 3, 5, 8])
def test_unsigned32_of_another_size_is_5014(size: int) -> None:
    data = bytes(range(size))
    with pytest.raises(WireError) as caught:
        wire.unsigned32(data, 0, size, 415)
    assert (caught.value.result_code, caught.value.avp) == (5014, (415, 0))
    with pytest.raises(WireError) as vendor:
        wire.unsigned32(data, 0, size, 1, 10415)
    assert vendor.value.avp == (1, 10415)


@pytest.mark.parametrize("size", [0, 4, 7, 9, 16])
def test_unsigned64_of_another_size_is_5014(size: int) -> None:
    with pytest.raises(WireError) as caught:
        wire.unsigned64(bytes(size), 0, size, 421)
    assert (caught.value.result_code, caught.value.avp) == (5014, (421, 0))


def test_unsigned_values_are_big_endian_at_their_offset() -> None:
    data = b"\xee" + (0xFFFFFFFE).to_bytes(4, "big") + (2**64 - 2).to_bytes(8, "big")
    assert wire.unsigned32(data, 1, 5, 1) == 0xFFFFFFFE
    assert wire.unsigned64(data, 5, 13, 1) == 2**64 - 2


def test_utf8_values() -> None:
    data = b"--" + "Chan Tai Man 陳大文".encode() + b"--"
    assert wire.utf8(data, 2, len(data) - 2, 263) == "Chan Tai Man 陳大文"
    assert wire.utf8(b"", 0, 0, 263) == ""


@pytest.mark.parametrize("value", [b"\xff", b"ab\xc3", b"\xed\xa0\x80", b"\xc0\xaf"])
def test_invalid_utf8_is_5004_with_the_value_received(value: bytes) -> None:
    data = b"xx" + value
    with pytest.raises(WireError) as caught:
        wire.utf8(data, 2, len(data), 444, 10415)
    error = caught.value
    assert (error.result_code, error.avp, error.value) == (5004, (444, 10415), value)
    assert not error.fatal


# ------------------------------------------------------------------------------ encoders
@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 13])
def test_avp_padding_and_length(size: int) -> None:
    payload = bytes(range(1, size + 1))
    plain = wire.avp(1, payload)
    assert len(plain) % 4 == 0
    assert int.from_bytes(plain[5:8], "big") == 8 + size
    assert plain[4] == wire.AVP_MANDATORY
    assert plain[8 + size :] == b"\0" * (len(plain) - 8 - size)
    vendor = wire.avp(1, payload, vendor=10415, mandatory=False)
    assert len(vendor) % 4 == 0
    assert int.from_bytes(vendor[5:8], "big") == 12 + size
    assert vendor[4] == wire.AVP_VENDOR
    assert walk(plain + vendor) == [(1, 0x40, 0, payload), (1, 0x80, 10415, payload)]


def test_encoded_avps_are_read_back_by_python_diameter() -> None:
    body = (
        wire.text(263, "pgw.test;1;1")
        + wire.u32(268, 2001)
        + wire.text(264, "ocs.famsim.test")
        + wire.text(296, "famsim.test")
        + wire.u32(258, 4)
        + wire.u32(416, 2)
        + wire.u32(415, 0xFFFFFFFF)
        + wire.grouped(
            456,
            wire.u32(432, 10),
            wire.u32(268, 2001),
            wire.grouped(431, wire.u64(421, 2**63 + 5)),
            wire.u32(448, 600),
        )
        + wire.grouped(431, wire.u32(420, 300))
        + wire.text(281, "réponse", mandatory=False)
    )
    raw = wire.message(272, 4, wire.FLAG_PROXIABLE, 0xFEEDFACE, 0x0BADF00D, body)
    cca = Message.from_bytes(raw)
    assert isinstance(cca, CreditControlAnswer)
    header = cca.header
    assert (header.hop_by_hop_identifier, header.end_to_end_identifier) == (0xFEEDFACE, 0x0BADF00D)
    assert (header.command_code, header.application_id, header.length) == (272, 4, len(raw))
    assert not header.is_request
    assert header.is_proxyable
    assert not header.is_error
    assert cca.session_id == "pgw.test;1;1"
    assert (cca.result_code, cca.auth_application_id) == (2001, 4)
    assert (cca.origin_host, cca.origin_realm) == (b"ocs.famsim.test", b"famsim.test")
    assert (cca.cc_request_type, cca.cc_request_number) == (2, 0xFFFFFFFF)
    (mscc,) = cca.multiple_services_credit_control
    assert (mscc.rating_group, mscc.result_code, mscc.validity_time) == (10, 2001, 600)
    assert mscc.granted_service_unit.cc_total_octets == 2**63 + 5
    assert cca.granted_service_unit.cc_time == 300
    (message,) = [a for a in cca.avps if a.code == 281]
    assert message.value == "réponse"
    assert not message.is_mandatory


def test_addresses_and_vendor_avps_are_read_back_by_python_diameter() -> None:
    body = (
        wire.u32(268, 2001)
        + wire.text(264, "ocs.famsim.test")
        + wire.text(296, "famsim.test")
        + wire.address(257, "127.0.0.1")
        + wire.address(257, "2001:db8::1")
        + wire.u32(266, 10415)
        + wire.text(269, "famsim", mandatory=False)
        + wire.u32(265, 10415)
        + wire.u32(258, 4)
    )
    cea = Message.from_bytes(wire.message(257, 0, 0, 3, 4, body))
    assert isinstance(cea, CapabilitiesExchangeAnswer)
    assert cea.host_ip_address == [(1, "127.0.0.1"), (2, "2001:db8::1")]
    assert (cea.vendor_id, cea.product_name) == (10415, "famsim")
    assert cea.supported_vendor_id == [10415]
    assert cea.auth_application_id == [4]
    uli = Message.from_bytes(
        wire.message(272, 4, 0, 1, 1, wire.avp(22, b"\x82\x64\xf0\x00\x00\x01", vendor=10415))
    )
    (avp,) = [a for a in uli.avps if a.code == 22]
    assert (avp.code, avp.vendor_id, avp.is_vendor, avp.is_mandatory) == (22, 10415, True, True)
    assert avp.value == b"\x82\x64\xf0\x00\x00\x01"


def test_python_diameter_avps_are_encoded_alike() -> None:
    ccr = CreditControlRequest()
    ccr.session_id = "a;b;c"
    ccr.cc_request_number = 7
    from_python = ccr.as_bytes()
    assert wire.text(263, "a;b;c") in from_python
    assert wire.u32(415, 7) in from_python


@pytest.mark.parametrize(
    ("flags", "error", "expected"),
    [
        (0x80, False, 0x00),
        (0xC0, False, 0x40),
        (0xD0, False, 0x40),  # T is not copied
        (0x80, True, 0x20),
        (0xC0, True, 0x60),
    ],
)
def test_answer_to_keeps_the_ids_and_p_clears_r_and_sets_e(
    flags: int, error: bool, expected: int
) -> None:
    request = Header(1, 20, flags, 272, 4, 0xCAFEBABE, 0x12345678)
    raw = wire.answer_to(request, wire.u32(268, 3001), error=error)
    answer = wire.parse_header(raw)
    assert answer == Header(1, len(raw), expected, 272, 4, 0xCAFEBABE, 0x12345678)
    parsed = Message.from_bytes(raw)
    assert not parsed.header.is_request
    assert parsed.header.is_error is error
    assert parsed.header.hop_by_hop_identifier == 0xCAFEBABE
    assert parsed.result_code == 3001
