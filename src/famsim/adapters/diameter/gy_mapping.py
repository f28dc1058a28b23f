"""CCR bytes -> :class:`ChargingRequest` and :class:`ChargingAnswer` -> CCA bytes, no I/O.

A CCR is read in one pass over its bytes (:mod:`.wire`; python-diameter's decoder costs
more than the engine does per request, see there), keeping only what famsim charges by;
other AVPs are skipped, whatever their M bit, as a gateway sends many 3GPP AVPs an OCS
need not read. Nothing here touches a socket or the engine, so the mapping is tested on
its own (``tests/unit/adapters/diameter``), with python-diameter encoding the CCRs and
decoding the answers as an independent codec.

- Mandatory AVPs (RFC 4006 3.1): Session-Id, Origin-Host, Origin-Realm, Destination-Realm,
  Auth-Application-Id, Service-Context-Id, CC-Request-Type, CC-Request-Number; a missing
  one is 5005 DIAMETER_MISSING_AVP with a Failed-AVP naming it.
- Subscription-Id: the first of type END_USER_E164 (``+`` and the digits) or
  END_USER_IMSI (the digits); a number or IMSI that cannot exist is 5030 USER_UNKNOWN.
- One service per Multiple-Services-Credit-Control, its Rating-Group mapped by the
  operator's rating groups; units are CC-Total-Octets (data), CC-Time (voice) and
  CC-Service-Specific-Units (SMS) in Requested-Service-Unit / Used-Service-Unit (several
  Used-Service-Units are added up). An MSCC whose Rating-Group is not configured is not
  sent to the engine and is answered 5031 RATING_FAILED in its MSCC.
- A CCR without MSCC is one service from the top-level RSU / USU, its resource from the
  Service-Context-Id (32274 SMS, 32260 / 32275 voice, anything else data); its answer is a
  top-level Granted-Service-Unit.
- The serving network: 3GPP-SGSN-MCC-MNC (in Service-Information > PS-Information, or at
  the top level); without it, the MCC and MNC of 3GPP-User-Location-Info (same places);
  neither means the home network.
- The destination (always-allowed numbers): Service-Information > IMS-Information >
  Called-Party-Address for a call, SMS-Information > Recipient-Info > Recipient-Address >
  Address-Data for a message; a ``tel:`` or ``sip:`` URI is reduced to its number.
- The engine's whole-request outcomes: USER_UNKNOWN is 5030, LINE_SUSPENDED 4010,
  SESSION_UNKNOWN 5002 DIAMETER_UNKNOWN_SESSION_ID.
- A CCA carries Origin-Host and Origin-Realm with the M bit, as RFC 6733 4.5 requires.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from diameter.message.avp import Avp
from diameter.message.avp.avp import (
    AvpFloat32,
    AvpFloat64,
    AvpGrouped,
    AvpInteger32,
    AvpInteger64,
    AvpOctetString,
    AvpUnsigned32,
    AvpUnsigned64,
    AvpUtf8String,
)

from famsim.adapters.diameter import wire
from famsim.adapters.diameter.wire import Header, WireError
from famsim.domain.charging.grants import FinalUnitAction
from famsim.domain.charging.rating_groups import RatingGroups
from famsim.domain.errors import FamsimError
from famsim.domain.identifiers import Imsi, Msisdn
from famsim.domain.units import Resource
from famsim.service.charging import (
    ChargingAnswer,
    ChargingRequest,
    Outcome,
    RequestType,
    ServiceAnswer,
    ServiceUse,
)

GY_APPLICATION_ID = 4
VENDOR_3GPP = 10415
CREDIT_CONTROL = 272

# Result codes (RFC 6733, RFC 4006).
SUCCESS = 2001
END_USER_SERVICE_DENIED = 4010
CREDIT_CONTROL_NOT_APPLICABLE = 4011
CREDIT_LIMIT_REACHED = 4012
UNKNOWN_SESSION_ID = 5002
INVALID_AVP_VALUE = 5004
MISSING_AVP = 5005
USER_UNKNOWN = 5030
RATING_FAILED = 5031
UNABLE_TO_COMPLY = 5012

# AVP codes (RFC 6733, RFC 4006; 3GPP TS 29.061, TS 32.299 with vendor 10415).
AVP_SESSION_ID = 263
AVP_ORIGIN_HOST = 264
AVP_ORIGIN_REALM = 296
AVP_DESTINATION_REALM = 283
AVP_AUTH_APPLICATION_ID = 258
AVP_RESULT_CODE = 268
AVP_ERROR_MESSAGE = 281
AVP_FAILED_AVP = 279
AVP_SERVICE_CONTEXT_ID = 461
AVP_CC_REQUEST_TYPE = 416
AVP_CC_REQUEST_NUMBER = 415
AVP_REQUESTED_ACTION = 436
AVP_SUBSCRIPTION_ID = 443
AVP_SUBSCRIPTION_ID_TYPE = 450
AVP_SUBSCRIPTION_ID_DATA = 444
AVP_MSCC = 456
AVP_RATING_GROUP = 432
AVP_REQUESTED_SERVICE_UNIT = 437
AVP_USED_SERVICE_UNIT = 446
AVP_GRANTED_SERVICE_UNIT = 431
AVP_CC_TOTAL_OCTETS = 421
AVP_CC_TIME = 420
AVP_CC_SERVICE_SPECIFIC_UNITS = 417
AVP_VALIDITY_TIME = 448
AVP_FINAL_UNIT_INDICATION = 430
AVP_FINAL_UNIT_ACTION = 449
AVP_REDIRECT_SERVER = 434
AVP_REDIRECT_ADDRESS_TYPE = 433
AVP_REDIRECT_SERVER_ADDRESS = 435
AVP_SGSN_MCC_MNC = 18  # vendor 10415
AVP_USER_LOCATION_INFO = 22  # vendor 10415
AVP_SERVICE_INFORMATION = 873  # vendor 10415
AVP_PS_INFORMATION = 874  # vendor 10415
AVP_IMS_INFORMATION = 876  # vendor 10415
AVP_CALLED_PARTY_ADDRESS = 832  # vendor 10415
AVP_SMS_INFORMATION = 2000  # vendor 10415
AVP_RECIPIENT_INFO = 2026  # vendor 10415
AVP_RECIPIENT_ADDRESS = 1201  # vendor 10415
AVP_ADDRESS_DATA = 897  # vendor 10415

# Final-Unit-Action (RFC 4006 8.35).
TERMINATE = 0
REDIRECT = 1
RESTRICT_ACCESS = 2
REDIRECT_ADDRESS_URL = 2

_REQUEST_TYPES = {
    1: RequestType.INITIAL,
    2: RequestType.UPDATE,
    3: RequestType.TERMINATION,
    4: RequestType.EVENT,
}
_E164 = 0
_IMSI = 1
_DIRECT_DEBITING = 0

_UNIT_CODE = {
    Resource.DATA: AVP_CC_TOTAL_OCTETS,
    Resource.VOICE: AVP_CC_TIME,
    Resource.SMS: AVP_CC_SERVICE_SPECIFIC_UNITS,
}
_FINAL_ACTIONS = {
    FinalUnitAction.TERMINATE.value: TERMINATE,
    FinalUnitAction.REDIRECT.value: REDIRECT,
    FinalUnitAction.RESTRICT_ACCESS.value: RESTRICT_ACCESS,
}
_SERVICE_CODES = {
    "success": SUCCESS,
    "limit_reached": CREDIT_LIMIT_REACHED,
    Outcome.LINE_SUSPENDED.value: END_USER_SERVICE_DENIED,
}
"""Per-MSCC Result-Code of a service outcome; any other denial (roaming, hotspot, quiet
hours, a service not on the line, a zone not covered) is END_USER_SERVICE_DENIED."""
_REQUEST_CODES = {
    Outcome.USER_UNKNOWN.value: USER_UNKNOWN,
    Outcome.LINE_SUSPENDED.value: END_USER_SERVICE_DENIED,
    "session_unknown": UNKNOWN_SESSION_ID,
}
"""Whole-request outcomes other than success, answered without MSCC."""
_MANDATORY = (
    (AVP_SESSION_ID, "Session-Id"),
    (AVP_ORIGIN_HOST, "Origin-Host"),
    (AVP_ORIGIN_REALM, "Origin-Realm"),
    (AVP_DESTINATION_REALM, "Destination-Realm"),
    (AVP_AUTH_APPLICATION_ID, "Auth-Application-Id"),
    (AVP_SERVICE_CONTEXT_ID, "Service-Context-Id"),
    (AVP_CC_REQUEST_TYPE, "CC-Request-Type"),
    (AVP_CC_REQUEST_NUMBER, "CC-Request-Number"),
)


class CcrRejected(WireError):
    """The CCR cannot be charged: answered with *result_code* (and Failed-AVP *avp*),
    echoing what of the CCR was read (:attr:`session_id`, CC-Request-Type and -Number)."""

    session_id: str | None = None
    cc_request_type: int | None = None
    cc_request_number: int | None = None

    def echoing(
        self, session_id: str | None, cc_request_type: int | None, cc_request_number: int | None
    ) -> CcrRejected:
        """This refusal, to be answered with what was read of its CCR."""
        self.session_id = session_id
        self.cc_request_type = cc_request_type
        self.cc_request_number = cc_request_number
        return self


@dataclass(frozen=True, slots=True)
class Slot:
    """One MSCC of the CCR: its Rating-Group and which engine service answers it
    (None: the group is not configured)."""

    rating_group: int | None
    service: int | None


@dataclass(frozen=True, slots=True)
class DecodedCcr:
    request: ChargingRequest
    cc_request_type: int
    slots: tuple[Slot, ...]
    """One per MSCC, in the CCR's order; empty for a CCR without MSCC."""
    destination_realm: str = ""

    @property
    def top_level(self) -> bool:
        return not self.slots


@dataclass(frozen=True, slots=True)
class Identity:
    """This node's Origin-Host and Origin-Realm, encoded once for every answer."""

    origin_host: str
    origin_realm: str

    @property
    def avps(self) -> bytes:
        return wire.text(AVP_ORIGIN_HOST, self.origin_host) + wire.text(
            AVP_ORIGIN_REALM, self.origin_realm
        )


# ------------------------------------------------------------------------------ decoding
class _Units:
    """CC-Total-Octets, CC-Time, CC-Service-Specific-Units of one *-Service-Unit."""

    __slots__ = ("octets", "specific", "time")

    def __init__(self, data: bytes, start: int, end: int) -> None:
        self.octets: int | None = None
        self.time: int | None = None
        self.specific: int | None = None
        for code, _flags, vendor, a, b in wire.avps(data, start, end):
            if vendor:
                continue
            if code == AVP_CC_TOTAL_OCTETS:
                self.octets = wire.unsigned64(data, a, b, code)
            elif code == AVP_CC_TIME:
                self.time = wire.unsigned32(data, a, b, code)
            elif code == AVP_CC_SERVICE_SPECIFIC_UNITS:
                self.specific = wire.unsigned64(data, a, b, code)

    def of(self, resource: Resource) -> int | None:
        if resource is Resource.DATA:
            return self.octets
        if resource is Resource.VOICE:
            return self.time
        return self.specific


class _Mscc:
    __slots__ = ("rating_group", "requested", "used")

    def __init__(self, data: bytes, start: int, end: int) -> None:
        self.rating_group: int | None = None
        self.requested: _Units | None = None
        self.used: list[_Units] = []
        for code, _flags, vendor, a, b in wire.avps(data, start, end):
            if vendor:
                continue
            if code == AVP_RATING_GROUP:
                self.rating_group = wire.unsigned32(data, a, b, code)
            elif code == AVP_REQUESTED_SERVICE_UNIT:
                self.requested = _Units(data, a, b)
            elif code == AVP_USED_SERVICE_UNIT:
                self.used.append(_Units(data, a, b))


class _Ccr:
    """The AVPs of a CCR famsim reads, in one pass over its bytes."""

    __slots__ = (
        "action",
        "cc_type",
        "destination",
        "destination_realm",
        "location",
        "msccs",
        "number",
        "requested",
        "seen",
        "service_context",
        "session_id",
        "sgsn_mcc_mnc",
        "subscribers",
        "used",
    )

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.session_id: str | None = None
        self.destination_realm = ""
        self.service_context = ""
        self.cc_type: int | None = None
        self.number: int | None = None
        self.action: int | None = None
        self.subscribers: list[tuple[int | None, bytes]] = []
        self.msccs: list[_Mscc] = []
        self.requested: _Units | None = None
        self.used: list[_Units] = []
        self.sgsn_mcc_mnc: bytes | None = None
        self.location: bytes | None = None
        self.destination: str | None = None

    def read(self, data: bytes, start: int, end: int) -> None:
        seen = self.seen
        for code, _flags, vendor, a, b in wire.avps(data, start, end):
            if vendor:
                if vendor == VENDOR_3GPP:
                    self._read_3gpp(data, code, a, b)
                continue
            seen.add(code)
            if code == AVP_SESSION_ID:
                self.session_id = wire.utf8(data, a, b, code)
            elif code == AVP_CC_REQUEST_TYPE:
                self.cc_type = wire.unsigned32(data, a, b, code)
            elif code == AVP_CC_REQUEST_NUMBER:
                self.number = wire.unsigned32(data, a, b, code)
            elif code == AVP_MSCC:
                self.msccs.append(_Mscc(data, a, b))
            elif code == AVP_SUBSCRIPTION_ID:
                self.subscribers.append(_subscription(data, a, b))
            elif code == AVP_DESTINATION_REALM:
                self.destination_realm = wire.utf8(data, a, b, code)
            elif code == AVP_SERVICE_CONTEXT_ID:
                self.service_context = wire.utf8(data, a, b, code)
            elif code == AVP_REQUESTED_ACTION:
                self.action = wire.unsigned32(data, a, b, code)
            elif code == AVP_REQUESTED_SERVICE_UNIT:
                self.requested = _Units(data, a, b)
            elif code == AVP_USED_SERVICE_UNIT:
                self.used.append(_Units(data, a, b))

    def _read_3gpp(self, data: bytes, code: int, a: int, b: int) -> None:
        """The location AVPs at the top level, and what famsim reads of
        Service-Information: each grouped AVP is entered only where TS 32.299 puts it, so
        a peer's nesting cannot make this recurse."""
        if code == AVP_SERVICE_INFORMATION:
            for inner, _flags, vendor, x, y in wire.avps(data, a, b):
                if vendor != VENDOR_3GPP:
                    continue
                if inner == AVP_PS_INFORMATION:
                    for leaf, _f, leaf_vendor, m, n in wire.avps(data, x, y):
                        if leaf_vendor == VENDOR_3GPP:
                            self._read_location(data, leaf, m, n)
                elif inner == AVP_IMS_INFORMATION:
                    for leaf, _f, leaf_vendor, m, n in wire.avps(data, x, y):
                        if leaf_vendor == VENDOR_3GPP and leaf == AVP_CALLED_PARTY_ADDRESS:
                            self.destination = wire.utf8(data, m, n, leaf, leaf_vendor)
                elif inner == AVP_SMS_INFORMATION:
                    self._read_recipient(data, x, y)
        else:
            self._read_location(data, code, a, b)

    def _read_location(self, data: bytes, code: int, a: int, b: int) -> None:
        if code == AVP_SGSN_MCC_MNC:
            self.sgsn_mcc_mnc = data[a:b]
        elif code == AVP_USER_LOCATION_INFO:
            self.location = data[a:b]

    def _read_recipient(self, data: bytes, a: int, b: int) -> None:
        """SMS-Information > Recipient-Info > Recipient-Address > Address-Data: the first."""
        for info, _f, v1, c, d in wire.avps(data, a, b):
            if v1 != VENDOR_3GPP or info != AVP_RECIPIENT_INFO:
                continue
            for address, _g, v2, e, f in wire.avps(data, c, d):
                if v2 != VENDOR_3GPP or address != AVP_RECIPIENT_ADDRESS:
                    continue
                for leaf, _h, v3, m, n in wire.avps(data, e, f):
                    if v3 == VENDOR_3GPP and leaf == AVP_ADDRESS_DATA:
                        if self.destination is None:
                            self.destination = wire.utf8(data, m, n, leaf, v3)
                        return


def _subscription(data: bytes, start: int, end: int) -> tuple[int | None, bytes]:
    kind: int | None = None
    value = b""
    for code, _flags, vendor, a, b in wire.avps(data, start, end):
        if vendor:
            continue
        if code == AVP_SUBSCRIPTION_ID_TYPE:
            kind = wire.unsigned32(data, a, b, code)
        elif code == AVP_SUBSCRIPTION_ID_DATA:
            value = data[a:b]
    return kind, value


def decode_ccr(data: bytes, rating_groups: RatingGroups) -> DecodedCcr:
    """The charging request the CCR *data* (a whole message) asks for.

    :class:`CcrRejected` when it cannot be one; it carries what was read of the CCR so
    the answer can echo Session-Id, CC-Request-Type and CC-Request-Number.
    """
    ccr = _Ccr()
    try:
        ccr.read(data, wire.HEADER_LENGTH, len(data))
        return _decoded(ccr, rating_groups)
    except WireError as error:  # the mapping's own refusal, or the wire's
        rejected = (
            error
            if isinstance(error, CcrRejected)
            else CcrRejected(error.result_code, error.message, error.avp, error.value)
        )
        raise rejected.echoing(ccr.session_id, ccr.cc_type, ccr.number) from None


def _decoded(ccr: _Ccr, rating_groups: RatingGroups) -> DecodedCcr:
    for code, name in _MANDATORY:
        if code not in ccr.seen:
            raise CcrRejected(MISSING_AVP, f"{name} is missing", (code, 0))
    cc_type = ccr.cc_type
    request_type = _REQUEST_TYPES.get(cc_type) if cc_type is not None else None
    if cc_type is None or request_type is None:
        raise CcrRejected(
            INVALID_AVP_VALUE,
            f"CC-Request-Type {cc_type} is unknown",
            (AVP_CC_REQUEST_TYPE, 0),
            cc_type,
        )
    if request_type is RequestType.EVENT and ccr.action not in (None, _DIRECT_DEBITING):
        raise CcrRejected(
            CREDIT_CONTROL_NOT_APPLICABLE,
            f"Requested-Action {ccr.action} is not supported (only DIRECT_DEBITING)",
            (AVP_REQUESTED_ACTION, 0),
            ccr.action,
        )
    session_id = ccr.session_id
    if not session_id:
        raise CcrRejected(MISSING_AVP, "Session-Id is empty", (AVP_SESSION_ID, 0))
    subscriber = _subscriber(ccr.subscribers)
    services: list[ServiceUse] = []
    slots: list[Slot] = []
    for mscc in ccr.msccs:
        group = mscc.rating_group
        mapped = rating_groups.get(group) if group is not None else None
        if mapped is None:
            slots.append(Slot(group, None))
            continue
        resource, tethered = mapped
        slots.append(Slot(group, len(services)))
        services.append(_use(resource, tethered, mscc.requested, mscc.used))
    if not slots:
        resource = _context_resource(ccr.service_context)
        services.append(_use(resource, False, ccr.requested, ccr.used))
    return DecodedCcr(
        ChargingRequest(
            session_id=session_id,
            request_number=ccr.number or 0,
            request_type=request_type,
            subscriber=subscriber,
            services=tuple(services),
            serving_plmn=_serving_plmn(ccr),
            destination=_number(ccr.destination),
        ),
        cc_type,
        tuple(slots),
        ccr.destination_realm,
    )


def _subscriber(subscription_ids: list[tuple[int | None, bytes]]) -> str:
    for kind, data in subscription_ids:
        try:
            text = data.decode()
        except UnicodeDecodeError:
            continue
        digits = text.strip().lstrip("+")
        if not digits.isdigit() or not digits.isascii():
            continue
        if kind == _E164:
            return _checked("+" + digits, Msisdn.parse)
        if kind == _IMSI:
            return _checked(digits, Imsi.parse)
    raise CcrRejected(
        MISSING_AVP,
        "Subscription-Id with an E.164 number or an IMSI is missing",
        (AVP_SUBSCRIPTION_ID, 0),
    )


def _checked(text: str, parse: Any) -> str:
    """*text* if it is a well-formed number or IMSI; no such user otherwise."""
    problem = _problem(text, parse)
    if problem is not None:
        raise CcrRejected(USER_UNKNOWN, problem)
    return text


@lru_cache(maxsize=65_536)
def _problem(text: str, parse: Any) -> str | None:
    """Why *text* cannot be a subscriber (None: it can). Cached: a gateway sends the same
    subscribers all day, and validating an IMSI or a number is a tenth of a CCR's decoding."""
    try:
        parse(text)
    except FamsimError as exc:
        return str(exc)[:200]
    return None


def _use(
    resource: Resource, tethered: bool, requested: _Units | None, used: list[_Units]
) -> ServiceUse:
    wanted = requested.of(resource) if requested is not None else None
    amounts = [a for a in (u.of(resource) for u in used) if a is not None]
    return ServiceUse(
        resource,
        tethered=tethered,
        requested=wanted,
        used=sum(amounts) if amounts else None,
    )


def _context_resource(context: str) -> Resource:
    if context.startswith("32274"):
        return Resource.SMS
    if context.startswith(("32260", "32275")):
        return Resource.VOICE
    return Resource.DATA


def _serving_plmn(ccr: _Ccr) -> str | None:
    if ccr.sgsn_mcc_mnc is not None:
        text = ccr.sgsn_mcc_mnc.decode("ascii", "replace").strip()
        if not 5 <= len(text) <= 6 or not text.isdigit() or not text.isascii():
            raise CcrRejected(
                INVALID_AVP_VALUE,
                f"3GPP-SGSN-MCC-MNC {text!r} is not an MCC-MNC",
                (AVP_SGSN_MCC_MNC, VENDOR_3GPP),
                text,
            )
        return text
    if ccr.location is not None:
        plmn = location_plmn(ccr.location)
        if plmn is None:
            raise CcrRejected(
                INVALID_AVP_VALUE,
                "3GPP-User-Location-Info holds no MCC-MNC",
                (AVP_USER_LOCATION_INFO, VENDOR_3GPP),
                ccr.location,
            )
        return plmn
    return None


def location_plmn(location: bytes) -> str | None:
    """The MCC-MNC in a 3GPP-User-Location-Info (TS 29.061 16.4.7): a Geographic Location
    Type octet, then the PLMN as three BCD octets (MCC digit 2 | digit 1, MNC digit 3 |
    MCC digit 3, MNC digit 2 | digit 1; MNC digit 3 is F for a two-digit MNC), whatever
    the location type. None when there is no such PLMN."""
    if len(location) < 4:
        return None
    one, two, three = location[1], location[2], location[3]
    digits = [one & 0xF, one >> 4, two & 0xF, three & 0xF, three >> 4]
    if any(d > 9 for d in digits):
        return None
    mnc3 = two >> 4
    if mnc3 == 0xF:
        return "".join(map(str, digits))
    if mnc3 > 9:
        return None
    return "".join(map(str, digits)) + str(mnc3)


def _number(address: str | None) -> str | None:
    """The number in a Called-Party-Address or Address-Data: ``tel:+852...``,
    ``sip:+852...@ims.example;user=phone`` or a bare number."""
    if address is None:
        return None
    text = address.strip()
    scheme, colon, rest = text.partition(":")
    if colon and scheme.lower() in ("tel", "sip", "sips"):
        text = rest
    for stop in ("@", ";"):
        text = text.split(stop, 1)[0]
    return text or None


# ------------------------------------------------------------------------------ encoding
def encode_cca(
    request: Header, identity: bytes, decoded: DecodedCcr, answer: ChargingAnswer
) -> bytes:
    """The CCA for *answer* to the CCR *request* (*identity*: :attr:`Identity.avps`)."""
    parts = [wire.text(AVP_SESSION_ID, decoded.request.session_id), b""]
    result = _REQUEST_CODES.get(str(answer.outcome), SUCCESS)
    if result == SUCCESS:
        services = decoded.request.services
        if decoded.top_level:
            service = answer.services[0] if answer.services else None
            if service is not None:
                code = service_result_code(service)
                if code != SUCCESS:
                    result = code
                parts.extend(_service(services[0].resource, service))
        else:
            for slot in decoded.slots:
                if slot.service is None:
                    parts.append(
                        wire.grouped(
                            AVP_MSCC,
                            wire.u32(AVP_RATING_GROUP, slot.rating_group or 0),
                            wire.u32(AVP_RESULT_CODE, RATING_FAILED),
                        )
                    )
                    continue
                service = answer.services[slot.service]
                parts.append(
                    wire.grouped(
                        AVP_MSCC,
                        wire.u32(AVP_RATING_GROUP, slot.rating_group or 0),
                        wire.u32(AVP_RESULT_CODE, service_result_code(service)),
                        *_service(services[slot.service].resource, service),
                    )
                )
    parts[1] = (
        wire.u32(AVP_RESULT_CODE, result)
        + identity
        + wire.u32(AVP_AUTH_APPLICATION_ID, GY_APPLICATION_ID)
        + wire.u32(AVP_CC_REQUEST_TYPE, decoded.cc_request_type)
        + wire.u32(AVP_CC_REQUEST_NUMBER, decoded.request.request_number)
    )
    return wire.answer_to(request, b"".join(parts))


def _service(resource: Resource, service: ServiceAnswer) -> list[bytes]:
    """Granted-Service-Unit, Validity-Time and Final-Unit-Indication of one service."""
    out = []
    if service.granted:
        code = _UNIT_CODE[resource]
        unit = (
            wire.u32(code, service.granted)
            if code == AVP_CC_TIME
            else wire.u64(code, service.granted)
        )
        out.append(wire.grouped(AVP_GRANTED_SERVICE_UNIT, unit))
    if service.validity_seconds:
        out.append(wire.u32(AVP_VALIDITY_TIME, service.validity_seconds))
    if service.final_action is not None:
        action = _FINAL_ACTIONS.get(service.final_action, TERMINATE)
        inner = [wire.u32(AVP_FINAL_UNIT_ACTION, action)]
        if action == REDIRECT and service.redirect_url:
            inner.append(
                wire.grouped(
                    AVP_REDIRECT_SERVER,
                    wire.u32(AVP_REDIRECT_ADDRESS_TYPE, REDIRECT_ADDRESS_URL),
                    wire.text(AVP_REDIRECT_SERVER_ADDRESS, service.redirect_url),
                )
            )
        out.append(wire.grouped(AVP_FINAL_UNIT_INDICATION, *inner))
    return out


def encode_error(
    request: Header,
    identity: bytes,
    error: WireError,
    *,
    session_id: str | None = None,
    extra: bytes = b"",
) -> bytes:
    """An answer refusing *request*: Session-Id (when known), Result-Code, Origin-Host /
    -Realm, *extra* AVPs, Error-Message and a Failed-AVP naming the AVP at fault. A
    protocol error (3xxx) has the E bit, and the generic answer-message shape."""
    parts = []
    if session_id:
        parts.append(wire.text(AVP_SESSION_ID, session_id))
    parts.append(wire.u32(AVP_RESULT_CODE, error.result_code))
    parts.append(identity)
    parts.append(extra)
    parts.append(wire.text(AVP_ERROR_MESSAGE, error.message[:200], mandatory=False))
    if error.avp is not None:
        code, vendor = error.avp
        parts.append(wire.grouped(AVP_FAILED_AVP, failed_avp(code, vendor, error.value)))
    return wire.answer_to(request, b"".join(parts), error=3000 <= error.result_code < 4000)


def encode_rejection(request: Header, identity: bytes, rejected: CcrRejected) -> bytes:
    """The CCA refusing a CCR: as :func:`encode_error`, with Auth-Application-Id and the
    CC-Request-Type and -Number echoed when the CCR had them."""
    if 3000 <= rejected.result_code < 4000:
        return encode_error(request, identity, rejected, session_id=rejected.session_id)
    extra = [wire.u32(AVP_AUTH_APPLICATION_ID, GY_APPLICATION_ID)]
    if rejected.cc_request_type is not None:
        extra.append(wire.u32(AVP_CC_REQUEST_TYPE, rejected.cc_request_type))
    if rejected.cc_request_number is not None:
        extra.append(wire.u32(AVP_CC_REQUEST_NUMBER, rejected.cc_request_number))
    return encode_error(
        request, identity, rejected, session_id=rejected.session_id, extra=b"".join(extra)
    )


def failed_avp(code: int, vendor: int, value: Any) -> bytes:
    """The AVP for Failed-AVP (RFC 6733 7.5, 7.1.5), typed by python-diameter's
    dictionary: an invalid AVP with the value received; a missing or unreadable one as an
    example "of correct minimum length" holding zeroes (an empty AVP would be a malformed
    Unsigned32 or Enumerated)."""
    try:
        avp = Avp.new(code, vendor)
    except ValueError:  # not in the dictionary: its type is unknown, an OctetString will do
        payload = value if isinstance(value, bytes) else b""
        return wire.avp(code, payload, vendor=vendor)
    try:
        if value is not None:
            avp.value = value
            encoded: bytes = avp.as_bytes()
            return encoded
    except Exception:  # a value its dictionary type cannot hold: the minimum example
        avp = Avp.new(code, vendor)
    if isinstance(avp, AvpGrouped):
        avp.value = []
    elif isinstance(avp, AvpFloat32 | AvpFloat64):
        avp.value = 0.0
    elif isinstance(avp, AvpInteger32 | AvpInteger64 | AvpUnsigned32 | AvpUnsigned64):
        avp.value = 0
    elif isinstance(avp, AvpOctetString):  # DiameterIdentity too: empty is its minimum
        avp.value = b""
    elif isinstance(avp, AvpUtf8String):
        avp.value = ""
    example: bytes = avp.as_bytes()
    return example


def service_result_code(service: ServiceAnswer) -> int:
    return _SERVICE_CODES.get(str(service.outcome), END_USER_SERVICE_DENIED)
