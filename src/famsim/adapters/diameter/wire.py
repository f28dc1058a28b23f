"""The Diameter wire format (RFC 6733 3 and 4.1) by hand: message headers, the AVP walk and
the AVP encoder famsim's Gy server uses on every request.

Written by hand, not taken from python-diameter, because of cost: python-diameter decodes a
message by building every AVP its message class defines and encodes by walking the class's
whole AVP table, about 240 us for one CCR and its CCA (measured with ``famsim bench gy``),
more than the charging engine spends on the request. Here a CCR is one pass over its bytes
that reads only the AVPs famsim uses, and a CCA is a join of a few packed byte strings.
python-diameter remains famsim's dictionary (the type of an AVP named in Failed-AVP) and the
independent codec the tests decode famsim's answers with.

Every check a peer's bytes can fail raises :class:`WireError` with the Result-Code RFC 6733
gives it; nothing else escapes (``tests/property/test_diameter_wire_fuzz.py`` feeds the
decoders arbitrary bytes).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass

HEADER_LENGTH = 20
VERSION = 1
MAX_MESSAGE_BYTES = 65_536
"""Default bound on one message: a CCR is a few hundred bytes, a CER well under 1 KiB; a
longer message is refused (5015) rather than buffered."""

# Command flags (RFC 6733 3).
FLAG_REQUEST = 0x80
FLAG_PROXIABLE = 0x40
FLAG_ERROR = 0x20
FLAG_RETRANSMITTED = 0x10
_RESERVED_COMMAND_FLAGS = 0x0F

# AVP flags (RFC 6733 4.1).
AVP_VENDOR = 0x80
AVP_MANDATORY = 0x40
_RESERVED_AVP_FLAGS = 0x1F

# Result codes of the wire itself (RFC 6733 7.1).
INVALID_HDR_BITS = 3008
INVALID_AVP_BITS = 3009
INVALID_AVP_LENGTH = 5014
INVALID_MESSAGE_LENGTH = 5015
UNSUPPORTED_VERSION = 5011
INVALID_AVP_VALUE = 5004

_HEADER = struct.Struct(">5I")  # version|length, flags|command, application, hop, end
_AVP = struct.Struct(">II")  # code, flags|length
_AVP_VENDOR = struct.Struct(">III")  # code, flags|length, vendor
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")


class WireError(Exception):
    """A peer's bytes break a rule: answered with *result_code* (and Failed-AVP *avp*).

    *fatal*: the stream cannot be trusted after this message (its length is unusable), so
    the connection is closed once the answer is sent.
    """

    def __init__(
        self,
        result_code: int,
        message: str,
        avp: tuple[int, int] | None = None,
        value: object = None,
        *,
        fatal: bool = False,
    ) -> None:
        super().__init__(message)
        self.result_code = result_code
        self.message = message
        self.avp = avp
        """(code, vendor id) of the missing or invalid AVP, for Failed-AVP."""
        self.value = value
        """The invalid AVP's value as received (None: missing, or unreadable)."""
        self.fatal = fatal


@dataclass(frozen=True, slots=True)
class Header:
    """A message header (RFC 6733 3)."""

    version: int
    length: int
    flags: int
    command: int
    application: int
    hop_by_hop: int
    end_to_end: int

    @property
    def is_request(self) -> bool:
        return bool(self.flags & FLAG_REQUEST)


def parse_header(data: bytes | bytearray, offset: int = 0) -> Header:
    """The header at *offset* of *data* (at least :data:`HEADER_LENGTH` bytes from there),
    as sent: :func:`check_framing` says whether it can be trusted."""
    first, second, application, hop, end = _HEADER.unpack_from(data, offset)
    return Header(
        first >> 24, first & 0xFFFFFF, second >> 24, second & 0xFFFFFF, application, hop, end
    )


def check_framing(header: Header, max_length: int = MAX_MESSAGE_BYTES) -> None:
    """A version other than 1, or a Message Length that is not a whole number of 32-bit
    words, shorter than a header or longer than *max_length*, is fatal: where the next
    message starts is unknown."""
    if header.version != VERSION:
        raise WireError(
            UNSUPPORTED_VERSION, f"Diameter version {header.version} is not 1", fatal=True
        )
    length = header.length
    if length < HEADER_LENGTH or length % 4:
        raise WireError(
            INVALID_MESSAGE_LENGTH,
            f"Message Length {length} is not a multiple of 4 of at least 20",
            fatal=True,
        )
    if length > max_length:
        raise WireError(
            INVALID_MESSAGE_LENGTH,
            f"Message Length {length} exceeds this server's {max_length} bytes",
            fatal=True,
        )


def check_header_bits(header: Header) -> None:
    """3008 for a request with bits a request cannot have (RFC 6733 3: E on a request,
    the reserved bits)."""
    if header.flags & _RESERVED_COMMAND_FLAGS:
        raise WireError(INVALID_HDR_BITS, "reserved command flags are set")
    if header.is_request and header.flags & FLAG_ERROR:
        raise WireError(INVALID_HDR_BITS, "a request cannot have the E bit")


def avps(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(code, flags, vendor, value start, value end) of each AVP in ``data[start:end]``.

    An AVP whose Length is shorter than its header or runs past *end* is 5014, named by its
    code and vendor (zero-filled when the header itself is cut short, as RFC 6733 7.1.5
    allows); reserved AVP flags are 3009.
    """
    at = start
    while at < end:
        if end - at < 8:
            code = int.from_bytes(data[at : at + 4].ljust(4, b"\0"), "big")
            raise WireError(INVALID_AVP_LENGTH, "an AVP header is cut short", (code, 0))
        code, word = _AVP.unpack_from(data, at)
        flags = word >> 24
        length = word & 0xFFFFFF
        if flags & AVP_VENDOR:
            if end - at < 12:
                raise WireError(INVALID_AVP_LENGTH, f"AVP {code} is cut short", (code, 0))
            vendor = _U32.unpack_from(data, at + 8)[0]
            value_at = at + 12
        else:
            vendor = 0
            value_at = at + 8
        if length < value_at - at or at + length > end:
            raise WireError(
                INVALID_AVP_LENGTH, f"AVP {code} has an invalid length {length}", (code, vendor)
            )
        if flags & _RESERVED_AVP_FLAGS:
            raise WireError(INVALID_AVP_BITS, f"AVP {code} has reserved flags set", (code, vendor))
        yield code, flags, vendor, value_at, at + length
        at += (length + 3) & ~3


def unsigned32(data: bytes, start: int, end: int, code: int, vendor: int = 0) -> int:
    if end - start != 4:
        raise WireError(INVALID_AVP_LENGTH, f"AVP {code} is not 4 octets", (code, vendor))
    value: int = _U32.unpack_from(data, start)[0]
    return value


def unsigned64(data: bytes, start: int, end: int, code: int, vendor: int = 0) -> int:
    if end - start != 8:
        raise WireError(INVALID_AVP_LENGTH, f"AVP {code} is not 8 octets", (code, vendor))
    value: int = _U64.unpack_from(data, start)[0]
    return value


def utf8(data: bytes, start: int, end: int, code: int, vendor: int = 0) -> str:
    try:
        return data[start:end].decode("utf-8")
    except UnicodeDecodeError:
        raise WireError(
            INVALID_AVP_VALUE, f"AVP {code} is not UTF-8", (code, vendor), data[start:end]
        ) from None


# ------------------------------------------------------------------------------ encoding
def avp(code: int, payload: bytes, *, vendor: int = 0, mandatory: bool = True) -> bytes:
    """One AVP, padded to 32 bits."""
    flags = AVP_MANDATORY if mandatory else 0
    if vendor:
        length = 12 + len(payload)
        head = _AVP_VENDOR.pack(code, (flags | AVP_VENDOR) << 24 | length, vendor)
    else:
        length = 8 + len(payload)
        head = _AVP.pack(code, flags << 24 | length)
    return head + payload + _PAD[length & 3]


def u32(code: int, value: int) -> bytes:
    return _AVP.pack(code, AVP_MANDATORY << 24 | 12) + _U32.pack(value)


def u64(code: int, value: int) -> bytes:
    return _AVP.pack(code, AVP_MANDATORY << 24 | 16) + _U64.pack(value)


def text(code: int, value: str | bytes, *, mandatory: bool = True) -> bytes:
    return avp(code, value.encode() if isinstance(value, str) else value, mandatory=mandatory)


def grouped(code: int, *children: bytes) -> bytes:
    return avp(code, b"".join(children))


def address(code: int, ip: str) -> bytes:
    """An Address AVP (RFC 6733 4.3.1): the address family (1 IPv4, 2 IPv6), then the
    address."""
    parsed = ipaddress.ip_address(ip)
    family = b"\0\x01" if parsed.version == 4 else b"\0\x02"
    return avp(code, family + parsed.packed)


def message(
    command: int,
    application: int,
    flags: int,
    hop_by_hop: int,
    end_to_end: int,
    body: bytes,
) -> bytes:
    """A whole message: the header, then *body* (the encoded AVPs)."""
    return (
        _HEADER.pack(
            VERSION << 24 | (HEADER_LENGTH + len(body)),
            flags << 24 | command,
            application,
            hop_by_hop,
            end_to_end,
        )
        + body
    )


def answer_to(request: Header, body: bytes, *, error: bool = False) -> bytes:
    """The answer to *request*: its command, application and identifiers, R cleared, P
    kept (RFC 6733 6.2), E set for a protocol error (3xxx)."""
    flags = request.flags & FLAG_PROXIABLE
    if error:
        flags |= FLAG_ERROR
    return message(
        request.command,
        request.application,
        flags,
        request.hop_by_hop,
        request.end_to_end,
        body,
    )
