"""CCR -> :class:`ChargingRequest` and :class:`ChargingAnswer` -> CCA, with no I/O.

The messages are python-diameter's ``CreditControlRequest`` / ``CreditControlAnswer``
objects (plain attribute containers); nothing here touches a socket or the engine, so the
mapping is tested on its own (``tests/unit/adapters/diameter``).

- Subscription-Id: the first of type END_USER_E164 (``+`` and the digits) or
  END_USER_IMSI (the digits); a number or IMSI that cannot exist is 5030 USER_UNKNOWN.
- One service per Multiple-Services-Credit-Control, its Rating-Group mapped by
  :mod:`.rating_groups`; units are CC-Total-Octets (data), CC-Time (voice) and
  CC-Service-Specific-Units (SMS) in Requested-Service-Unit / Used-Service-Unit (several
  Used-Service-Units are added up). An MSCC whose Rating-Group is not configured is not
  sent to the engine and is answered 5031 RATING_FAILED in its MSCC.
- A CCR without MSCC is one service from the top-level RSU / USU, its resource from the
  Service-Context-Id (32274 SMS, 32260 / 32275 voice, anything else data); its answer is a
  top-level Granted-Service-Unit.
- The serving network: Service-Information > PS-Information > 3GPP-SGSN-MCC-MNC, or the
  top-level 3GPP-SGSN-MCC-MNC; none means the home network.
- A CCA is a :class:`GyAnswer`: python-diameter's CCA with Origin-Host and Origin-Realm
  flagged mandatory, as RFC 6733 4.5 requires.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
from diameter.message.avp.grouped import (
    FailedAvp,
    FinalUnitIndication,
    GrantedServiceUnit,
    MultipleServicesCreditControl,
    RedirectServer,
)
from diameter.message.commands import CreditControlAnswer

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

# Result codes (RFC 6733, RFC 4006).
SUCCESS = 2001
END_USER_SERVICE_DENIED = 4010
CREDIT_CONTROL_NOT_APPLICABLE = 4011
CREDIT_LIMIT_REACHED = 4012
INVALID_AVP_VALUE = 5004
MISSING_AVP = 5005
USER_UNKNOWN = 5030
RATING_FAILED = 5031
UNABLE_TO_COMPLY = 5012

# AVP codes named in Failed-AVP.
AVP_SESSION_ID = 263
AVP_CC_REQUEST_TYPE = 416
AVP_CC_REQUEST_NUMBER = 415
AVP_SUBSCRIPTION_ID = 443
AVP_REQUESTED_ACTION = 436
AVP_SGSN_MCC_MNC = 18
AVP_ORIGIN_HOST = 264
AVP_ORIGIN_REALM = 296

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

_UNIT_FIELD = {
    Resource.DATA: "cc_total_octets",
    Resource.VOICE: "cc_time",
    Resource.SMS: "cc_service_specific_units",
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


class GyAnswer(CreditControlAnswer):  # type: ignore[misc]
    """python-diameter's Credit-Control-Answer, but with Origin-Host and Origin-Realm sent
    with the M bit, which RFC 6733 (4.5, its AVP flag rules) says MUST be set: python-diameter's
    own CCA definition clears it (seen on the wire in the Erlang/OTP interop test; Erlang's
    decoder lets it through, a stricter peer need not). The other AVPs are unchanged."""

    avp_def = tuple(
        d._replace(is_mandatory=True) if d.avp_code in (AVP_ORIGIN_HOST, AVP_ORIGIN_REALM) else d
        for d in CreditControlAnswer.avp_def
    )


def _as_gy_answer(cca: Any) -> None:
    """Make python-diameter's CCA a :class:`GyAnswer` (same fields, RFC 6733's flags)."""
    if type(cca) is CreditControlAnswer:
        cca.__class__ = GyAnswer


class CcrRejected(Exception):
    """The CCR cannot be charged: answered with *result_code* (and Failed-AVP *avp*)."""

    def __init__(
        self,
        result_code: int,
        message: str,
        avp: tuple[int, int] | None = None,
        value: Any = None,
    ):
        super().__init__(message)
        self.result_code = result_code
        self.message = message
        self.avp = avp
        """(code, vendor id) of the missing or invalid AVP, for Failed-AVP."""
        self.value = value
        """The invalid AVP's value as received (None: the AVP is missing)."""


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

    @property
    def top_level(self) -> bool:
        return not self.slots


def decode_ccr(ccr: Any, rating_groups: RatingGroups) -> DecodedCcr:
    """The charging request a CCR asks for; :class:`CcrRejected` when it cannot be one."""
    session_id = ccr.session_id
    if not session_id:
        raise CcrRejected(MISSING_AVP, "Session-Id is missing", (AVP_SESSION_ID, 0))
    cc_type = ccr.cc_request_type
    if cc_type is None:
        raise CcrRejected(MISSING_AVP, "CC-Request-Type is missing", (AVP_CC_REQUEST_TYPE, 0))
    if cc_type not in _REQUEST_TYPES:
        raise CcrRejected(
            INVALID_AVP_VALUE,
            f"CC-Request-Type {cc_type} is unknown",
            (AVP_CC_REQUEST_TYPE, 0),
            cc_type,
        )
    number = ccr.cc_request_number
    if number is None:
        raise CcrRejected(MISSING_AVP, "CC-Request-Number is missing", (AVP_CC_REQUEST_NUMBER, 0))
    request_type = _REQUEST_TYPES[cc_type]
    if request_type is RequestType.EVENT:
        action = ccr.requested_action
        if action is not None and action != _DIRECT_DEBITING:
            raise CcrRejected(
                CREDIT_CONTROL_NOT_APPLICABLE,
                f"Requested-Action {action} is not supported (only DIRECT_DEBITING)",
                (AVP_REQUESTED_ACTION, 0),
                action,
            )
    subscriber = _subscriber(ccr.subscription_id or [])
    services: list[ServiceUse] = []
    slots: list[Slot] = []
    for mscc in ccr.multiple_services_credit_control or []:
        group = mscc.rating_group
        mapped = rating_groups.get(group) if group is not None else None
        if mapped is None:
            slots.append(Slot(group, None))
            continue
        resource, tethered = mapped
        slots.append(Slot(group, len(services)))
        services.append(
            _use(resource, tethered, mscc.requested_service_unit, mscc.used_service_unit)
        )
    if not slots:
        resource = _context_resource(getattr(ccr, "service_context_id", None))
        services.append(_use(resource, False, ccr.requested_service_unit, ccr.used_service_unit))
    return DecodedCcr(
        ChargingRequest(
            session_id=str(session_id),
            request_number=int(number),
            request_type=request_type,
            subscriber=subscriber,
            services=tuple(services),
            serving_plmn=_serving_plmn(ccr),
        ),
        int(cc_type),
        tuple(slots),
    )


def fill_cca(cca: Any, decoded: DecodedCcr, answer: ChargingAnswer) -> None:
    """Set *cca*'s CC fields from the engine's *answer* (Session-Id, Origin-Host/Realm and
    Auth-Application-Id are the caller's, from the request)."""
    _as_gy_answer(cca)
    cca.cc_request_type = decoded.cc_request_type
    cca.cc_request_number = decoded.request.request_number
    if answer.outcome == Outcome.USER_UNKNOWN:
        cca.result_code = USER_UNKNOWN
        return
    if answer.outcome == Outcome.LINE_SUSPENDED:
        cca.result_code = END_USER_SERVICE_DENIED
        return
    cca.result_code = SUCCESS
    services = decoded.request.services
    if decoded.top_level:
        service = answer.services[0] if answer.services else None
        if service is not None:
            resource = services[0].resource
            if service.granted:
                cca.granted_service_unit = _units(resource, service.granted)
            if service.validity_seconds:
                cca.validity_time = service.validity_seconds
            cca.final_unit_indication = _final_unit(service)
            code = service_result_code(service)
            if code != SUCCESS:
                cca.result_code = code
        return
    msccs = []
    for slot in decoded.slots:
        if slot.service is None:
            msccs.append(
                MultipleServicesCreditControl(
                    rating_group=slot.rating_group, result_code=RATING_FAILED
                )
            )
            continue
        service = answer.services[slot.service]
        mscc = MultipleServicesCreditControl(
            rating_group=slot.rating_group, result_code=service_result_code(service)
        )
        if service.granted:
            mscc.granted_service_unit = _units(services[slot.service].resource, service.granted)
        if service.validity_seconds:
            mscc.validity_time = service.validity_seconds
        mscc.final_unit_indication = _final_unit(service)
        msccs.append(mscc)
    cca.multiple_services_credit_control = msccs


def fill_rejection(cca: Any, ccr: Any, rejected: CcrRejected) -> None:
    """An error CCA: the Result-Code, Error-Message and Failed-AVP of *rejected*, with the
    CC-Request-Type and -Number echoed when the CCR had them."""
    _as_gy_answer(cca)
    cca.result_code = rejected.result_code
    cca.error_message = rejected.message
    if ccr.cc_request_type is not None:
        cca.cc_request_type = ccr.cc_request_type
    if ccr.cc_request_number is not None:
        cca.cc_request_number = ccr.cc_request_number
    if rejected.avp is not None:
        code, vendor = rejected.avp
        cca.failed_avp = [FailedAvp(additional_avps=[_failed(code, vendor, rejected.value)])]


def _failed(code: int, vendor: int, value: Any) -> Any:
    """The AVP for Failed-AVP (RFC 6733 7.5, 7.1.5): an invalid AVP with the value received;
    a missing one as an example "of correct minimum length" holding zeroes (an empty AVP
    would be a malformed Unsigned32 or Enumerated)."""
    avp = Avp.new(code, vendor)
    if value is not None:
        avp.value = value
    elif isinstance(avp, AvpGrouped):
        avp.value = []
    elif isinstance(avp, AvpFloat32 | AvpFloat64):
        avp.value = 0.0
    elif isinstance(avp, AvpInteger32 | AvpInteger64 | AvpUnsigned32 | AvpUnsigned64):
        avp.value = 0
    elif isinstance(avp, AvpOctetString):  # DiameterIdentity too: empty is its minimum
        avp.value = b""
    elif isinstance(avp, AvpUtf8String):
        avp.value = ""
    return avp


def service_result_code(service: ServiceAnswer) -> int:
    return _SERVICE_CODES.get(str(service.outcome), END_USER_SERVICE_DENIED)


def _subscriber(subscription_ids: list[Any]) -> str:
    for sub in subscription_ids:
        data = sub.subscription_id_data
        if data is None:
            continue
        text = data.decode() if isinstance(data, bytes) else str(data)
        digits = text.strip().lstrip("+")
        if sub.subscription_id_type == _E164 and digits.isdigit():
            return _checked("+" + digits, Msisdn.parse)
        if sub.subscription_id_type == _IMSI and digits.isdigit():
            return _checked(digits, Imsi.parse)
    raise CcrRejected(
        MISSING_AVP,
        "Subscription-Id with an E.164 number or an IMSI is missing",
        (AVP_SUBSCRIPTION_ID, 0),
    )


def _checked(text: str, parse: Callable[[str], object]) -> str:
    """*text* if it is a well-formed number or IMSI; no such user otherwise."""
    try:
        parse(text)
    except FamsimError as exc:
        raise CcrRejected(USER_UNKNOWN, str(exc)[:200]) from None
    return text


def _use(resource: Resource, tethered: bool, requested: Any, used: Any) -> ServiceUse:
    field = _UNIT_FIELD[resource]
    wanted = getattr(requested, field, None) if requested is not None else None
    reports = used if isinstance(used, list) else ([used] if used is not None else [])
    amounts = [getattr(u, field, None) for u in reports]
    total = sum(a for a in amounts if a is not None)
    return ServiceUse(
        resource,
        tethered=tethered,
        requested=int(wanted) if wanted is not None else None,
        used=total if any(a is not None for a in amounts) else None,
    )


def _context_resource(context: Any) -> Resource:
    text = context.decode() if isinstance(context, bytes) else str(context or "")
    if text.startswith("32274"):
        return Resource.SMS
    if text.startswith(("32260", "32275")):
        return Resource.VOICE
    return Resource.DATA


def _serving_plmn(ccr: Any) -> str | None:
    info = getattr(ccr, "service_information", None)
    ps = getattr(info, "ps_information", None) if info is not None else None
    value = getattr(ps, "tgpp_sgsn_mcc_mnc", None) if ps is not None else None
    if value is None:
        value = getattr(ccr, "sgsn_mcc_mnc", None)
    if value is None:
        return None
    text = (value.decode() if isinstance(value, bytes) else str(value)).strip()
    if not 5 <= len(text) <= 6 or not text.isdigit():
        raise CcrRejected(
            INVALID_AVP_VALUE,
            f"3GPP-SGSN-MCC-MNC {text!r} is not an MCC-MNC",
            (AVP_SGSN_MCC_MNC, VENDOR_3GPP),
            text,
        )
    return text


def _units(resource: Resource, amount: int) -> Any:
    return GrantedServiceUnit(**{_UNIT_FIELD[resource]: amount})


def _final_unit(service: ServiceAnswer) -> Any:
    if service.final_action is None:
        return None
    action = _FINAL_ACTIONS.get(service.final_action, TERMINATE)
    indication = FinalUnitIndication(final_unit_action=action)
    if action == REDIRECT and service.redirect_url:
        indication.redirect_server = RedirectServer(
            redirect_address_type=REDIRECT_ADDRESS_URL,
            redirect_server_address=service.redirect_url,
        )
    return indication
