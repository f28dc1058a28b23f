"""5G Nchf_ConvergedCharging v3 (3GPP TS 32.291) for SMFs and other charging triggers.

The same engine as the REST charging API and Diameter Gy, under
``/nchf-convergedcharging/v3`` (operator keys with the ``charging`` scope, as the REST API):

- ``POST /chargingdata`` creates a charging session (``RequestType.INITIAL``): 201, a
  ``Location`` of ``.../chargingdata/{ChargingDataRef}`` and a ChargingDataResponse; with
  ``oneTimeEvent`` (IEC) the event is charged at once (``RequestType.EVENT``): 200, no
  resource;
- ``POST /chargingdata/{ref}/update`` reports used units and asks for more (``UPDATE``): 200;
- ``POST /chargingdata/{ref}/release`` reports the last used units and closes
  (``TERMINATION``): 204.

The ChargingDataRef is the engine's session id and the invocationSequenceNumber its request
number, so a retransmission (same ref and number) is answered from the stored answer and
charged once. The ref is derived from the create request itself (a digest of its
subscriber, consumer, charging id, time stamp and sequence number, then ``-`` and that
sequence number; eight of its hex digits bind it to the subscriber): a retransmitted create
names the same session, and the engine accepts an update or release while the session is
open (from the create to the release; ``Outcome.SESSION_UNKNOWN`` otherwise, a 404 here),
with no state kept in this process (any worker answers).

Each multipleUnitUsage item is one service: its ratingGroup maps to a resource and a
tethered flag (``FAMSIM_RATING_GROUPS``, shared with Diameter Gy), its units are
``totalVolume`` (data), ``time`` (voice) or ``serviceSpecificUnits`` (SMS) in
requestedUnit and usedUnitContainer (the containers are added up). The serving network is
``pDUSessionChargingInformation.pduSessionInformation.servingCNPlmnId`` (none: home).
Errors are TS 29.500 ProblemDetails (``application/problem+json`` with a ``cause``): a
body that does not validate is 400, an unknown subscriber 404 ``USER_UNKNOWN``, an unknown
ref (never created, or released) 404 ``CONTEXT_NOT_FOUND``. See ``docs/nchf.md``.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from famsim.domain.access import Principal, Scope
from famsim.domain.charging.rating_groups import RatingGroups
from famsim.domain.errors import Forbidden
from famsim.domain.units import Resource
from famsim.entrypoints.http.deps import Caller, Services, Svc
from famsim.service.charging import (
    ChargingAnswer,
    ChargingRequest,
    Outcome,
    RequestType,
    ServiceAnswer,
    ServiceUse,
)

PREFIX = "/nchf-convergedcharging/v3"
PROBLEM_JSON = "application/problem+json"
MAX_UNITS = 10**15
UINT32 = 2**32 - 1

_UNIT_FIELD = {
    Resource.DATA: "totalVolume",
    Resource.VOICE: "time",
    Resource.SMS: "serviceSpecificUnits",
}
_RESULT_CODES = {
    "success": "SUCCESS",
    "limit_reached": "QUOTA_LIMIT_REACHED",
    Outcome.LINE_SUSPENDED.value: "END_USER_SERVICE_DENIED",
}
"""resultCode of a service outcome; every other denial (roaming, hotspot, quiet hours, a
service not on the line, a zone not covered) is END_USER_SERVICE_DENIED."""
_FINAL_ACTIONS = {
    "terminate": "TERMINATE",
    "redirect": "REDIRECT",
    "restrict_access": "RESTRICT_ACCESS",
}
_REF_PATTERN = r"^[0-9a-f]{32}-[0-9]{1,10}$"


# ------------------------------------------------------------------------------ models
class _In(BaseModel):
    """Request parts: camelCase names as in TS 32.291; fields famsim does not use are
    accepted and ignored (consumers send many)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class NfIdentification(_In):
    node_functionality: str = Field(
        alias="nodeFunctionality",
        min_length=1,
        max_length=32,
        description="The consumer's function: SMF, SMSF, IMS_Node, ...",
    )
    nf_name: str | None = Field(default=None, alias="nFName", max_length=128)


class Units(_In):
    """requestedUnit / grantedUnit: the one that fits the rating group's resource counts."""

    time: int | None = Field(default=None, ge=0, le=UINT32, description="Seconds (voice).")
    total_volume: int | None = Field(
        default=None, alias="totalVolume", ge=0, le=MAX_UNITS, description="Octets (data)."
    )
    service_specific_units: int | None = Field(
        default=None, alias="serviceSpecificUnits", ge=0, le=MAX_UNITS, description="SMS count."
    )
    uplink_volume: int | None = Field(
        default=None,
        alias="uplinkVolume",
        ge=0,
        le=MAX_UNITS,
        description="Octets up; with downlinkVolume, counted when totalVolume is absent.",
    )
    downlink_volume: int | None = Field(
        default=None,
        alias="downlinkVolume",
        ge=0,
        le=MAX_UNITS,
        description="Octets down; with uplinkVolume, counted when totalVolume is absent.",
    )

    def count(self, field: str) -> int | None:
        """The units in *field* (a rating group's unit field); data without totalVolume
        is its uplinkVolume plus downlinkVolume when either is given."""
        value = self.model_dump(by_alias=True).get(field)
        split = self.uplink_volume is not None or self.downlink_volume is not None
        if value is None and field == "totalVolume" and split:
            value = (self.uplink_volume or 0) + (self.downlink_volume or 0)
        return value


class UsedUnitContainer(Units):
    local_sequence_number: int = Field(alias="localSequenceNumber", ge=0, le=UINT32)


class MultipleUnitUsage(_In):
    rating_group: int = Field(alias="ratingGroup", ge=0, le=UINT32)
    requested_unit: Units | None = Field(default=None, alias="requestedUnit")
    used_unit_container: list[UsedUnitContainer] = Field(
        default_factory=list, alias="usedUnitContainer", max_length=64
    )


class PlmnId(_In):
    mcc: str = Field(pattern=r"^[0-9]{3}$")
    mnc: str = Field(pattern=r"^[0-9]{2,3}$")


class PduSessionInformation(_In):
    serving_cn_plmn_id: PlmnId | None = Field(default=None, alias="servingCNPlmnId")


class UserInformation(_In):
    served_gpsi: str | None = Field(
        default=None,
        alias="servedGPSI",
        max_length=64,
        description="The GPSI; an msisdn-<digits> one names the subscriber when "
        "subscriberIdentifier is absent (other kinds are ignored).",
    )


class PduSessionChargingInformation(_In):
    charging_id: int | None = Field(default=None, alias="chargingId", ge=0, le=UINT32)
    user_information: UserInformation | None = Field(default=None, alias="userInformation")
    pdu_session_information: PduSessionInformation | None = Field(
        default=None, alias="pduSessionInformation"
    )


class ChargingDataRequest(_In):
    subscriber_identifier: str | None = Field(
        default=None,
        alias="subscriberIdentifier",
        pattern=r"^(imsi-[0-9]{6,15}|msisdn-[1-9][0-9]{6,14})$",
        description="The SUPI (imsi-<digits>) or GPSI (msisdn-<digits>); needed in every "
        "request (the engine finds the family by it), unless "
        "pDUSessionChargingInformation.userInformation.servedGPSI is an msisdn- GPSI.",
    )
    nf_consumer_identification: NfIdentification = Field(alias="nfConsumerIdentification")
    invocation_time_stamp: datetime = Field(alias="invocationTimeStamp")
    invocation_sequence_number: int = Field(alias="invocationSequenceNumber", ge=0, le=UINT32)
    multiple_unit_usage: list[MultipleUnitUsage] = Field(
        default_factory=list, alias="multipleUnitUsage", max_length=16
    )
    pdu_session_charging_information: PduSessionChargingInformation | None = Field(
        default=None, alias="pDUSessionChargingInformation"
    )
    one_time_event: bool = Field(
        default=False,
        alias="oneTimeEvent",
        description="A one-time event (e.g. an SMS): charged at once, no resource created "
        "(200, no Location).",
    )
    one_time_event_type: Literal["IEC", "PEC"] | None = Field(
        default=None,
        alias="oneTimeEventType",
        description="IEC (immediate event charging) is supported; PEC is refused.",
    )


class _Out(BaseModel):
    """Answer parts: snake_case here, camelCase on the wire (as TS 32.291 names them)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class RedirectServer(_Out):
    redirect_address_type: str
    redirect_server_address: str


class FinalUnitIndication(_Out):
    final_unit_action: str
    redirect_server: RedirectServer | None = None


class GrantedUnit(_Out):
    time: int | None = None
    total_volume: int | None = None
    service_specific_units: int | None = None


class MultipleUnitInformation(_Out):
    rating_group: int
    result_code: str
    granted_unit: GrantedUnit | None = None
    validity_time: int | None = None
    final_unit_indication: FinalUnitIndication | None = None


class ChargingDataResponse(_Out):
    invocation_time_stamp: str
    invocation_sequence_number: int
    multiple_unit_information: list[MultipleUnitInformation] = []


class InvalidParam(_Out):
    param: str
    reason: str | None = None


class ProblemDetails(_Out):
    """TS 29.571 ProblemDetails: RFC 9457 plus an application ``cause``."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    cause: str | None = None
    invalid_params: list[InvalidParam] | None = None


def _problem(
    status: int,
    title: str,
    detail: str,
    cause: str,
    invalid: list[dict[str, str]] | None = None,
) -> JSONResponse:
    body = ProblemDetails(
        title=title,
        status=status,
        detail=detail,
        cause=cause,
        invalid_params=[InvalidParam(**p) for p in invalid] if invalid else None,
    )
    return JSONResponse(
        body.model_dump(by_alias=True, exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
    )


# ---------------------------------------------------------------- 400 for bad bodies
class _NchfRoute(APIRoute):
    """A request that does not validate is a TS 29.500 400 problem (cause
    INVALID_MSG_FORMAT, MANDATORY_IE_MISSING or MANDATORY_IE_INCORRECT, with
    invalidParams), not the REST API's 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _invalid(exc)

        return handle


def _invalid(exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    invalid = [
        {
            "param": "/" + "/".join(str(p) for p in error.get("loc", ())[1:]),
            "reason": str(error.get("msg", "invalid")),
        }
        for error in errors
    ]
    kinds = {str(error.get("type", "")) for error in errors}
    if any(k.startswith("json") for k in kinds) or any(
        error.get("loc", ())[:1] == ("body",) and len(error.get("loc", ())) == 1 for error in errors
    ):
        cause = "INVALID_MSG_FORMAT"
    elif "missing" in kinds:
        cause = "MANDATORY_IE_MISSING"
    else:
        cause = "MANDATORY_IE_INCORRECT"
    first = invalid[0] if invalid else {"param": "/", "reason": "invalid"}
    detail = f"{first['param']}: {first['reason']}"
    if len(invalid) > 1:
        detail += f" (and {len(invalid) - 1} more)"
    return _problem(400, "Request does not validate", detail, cause, invalid)


_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemDetails, "content": {PROBLEM_JSON: {}}, "description": title}
    for status, title in (
        (400, "Malformed request (cause INVALID_MSG_FORMAT, MANDATORY_IE_MISSING, ...)"),
        (401, "No operator key"),
        (403, "The key lacks the scope 'charging'"),
        (404, "Unknown subscriber (USER_UNKNOWN) or ChargingDataRef (CONTEXT_NOT_FOUND)"),
        (422, "Refused by a rule"),
        (503, "Storage unavailable or busy"),
    )
}

router = APIRouter(
    prefix=PREFIX,
    tags=["nchf"],
    responses=_RESPONSES,
    route_class=_NchfRoute,
)
Ref = Annotated[
    str,
    Path(
        pattern=_REF_PATTERN,
        description="The ChargingDataRef from the create's Location.",
        max_length=43,
    ),
]


# ------------------------------------------------------------------------------ mapping
_GPSI = re.compile(r"^msisdn-[1-9][0-9]{6,14}$")


def _named(body: ChargingDataRequest) -> str | None:
    """How the request names its subscriber: subscriberIdentifier, else an MSISDN GPSI
    in pDUSessionChargingInformation.userInformation.servedGPSI."""
    if body.subscriber_identifier is not None:
        return body.subscriber_identifier
    info = body.pdu_session_charging_information
    gpsi = None if info is None or info.user_information is None else info.user_information
    if gpsi is not None and gpsi.served_gpsi is not None and _GPSI.match(gpsi.served_gpsi):
        return gpsi.served_gpsi
    return None


def _subscriber(text: str | None) -> str | None:
    if text is None:
        return None
    kind, _, digits = text.partition("-")
    return "+" + digits if kind == "msisdn" else digits


def _services(
    body: ChargingDataRequest, groups: RatingGroups
) -> tuple[list[tuple[int, int | None]], tuple[ServiceUse, ...]]:
    """Per multipleUnitUsage item, (ratingGroup, index of its engine service or None
    when the group is not mapped), and the engine services."""
    slots: list[tuple[int, int | None]] = []
    services: list[ServiceUse] = []
    seen: set[int] = set()
    for usage in body.multiple_unit_usage:
        if usage.rating_group in seen:
            raise _Refused(
                400,
                "Request does not validate",
                f"ratingGroup {usage.rating_group} appears twice in multipleUnitUsage",
                "MANDATORY_IE_INCORRECT",
            )
        seen.add(usage.rating_group)
        mapped = groups.get(usage.rating_group)
        if mapped is None:
            slots.append((usage.rating_group, None))
            continue
        resource, tethered = mapped
        field = _UNIT_FIELD[resource]
        requested = None
        if usage.requested_unit is not None:
            # An empty or zero requestedUnit asks for the default quantum.
            requested = usage.requested_unit.count(field) or None
        used = [c.count(field) for c in usage.used_unit_container]
        used_total = sum(u for u in used if u is not None) if any(used) else None
        slots.append((usage.rating_group, len(services)))
        services.append(ServiceUse(resource, tethered, requested, used_total))
    return slots, tuple(services)


def _serving_plmn(body: ChargingDataRequest) -> str | None:
    info = body.pdu_session_charging_information
    plmn = (
        info.pdu_session_information.serving_cn_plmn_id
        if info is not None and info.pdu_session_information is not None
        else None
    )
    return None if plmn is None else plmn.mcc + plmn.mnc


def _unit_information(
    slots: list[tuple[int, int | None]], answer: ChargingAnswer
) -> list[dict[str, Any]]:
    items = []
    for rating_group, index in slots:
        if index is None:
            items.append({"ratingGroup": rating_group, "resultCode": "RATING_FAILED"})
            continue
        service = answer.services[index]
        items.append(_one_unit(rating_group, service))
    return items


def _one_unit(rating_group: int, service: ServiceAnswer) -> dict[str, Any]:
    item: dict[str, Any] = {
        "ratingGroup": rating_group,
        "resultCode": _RESULT_CODES.get(str(service.outcome), "END_USER_SERVICE_DENIED"),
    }
    if service.granted > 0:
        item["grantedUnit"] = {_UNIT_FIELD[Resource(service.resource)]: service.granted}
    if service.validity_seconds > 0:
        item["validityTime"] = service.validity_seconds
    if service.final_action is not None:
        final: dict[str, Any] = {
            "finalUnitAction": _FINAL_ACTIONS.get(service.final_action, "TERMINATE")
        }
        if service.redirect_url:
            final["redirectServer"] = {
                "redirectAddressType": "URL",
                "redirectServerAddress": service.redirect_url,
            }
        item["finalUnitIndication"] = final
    return item


def _create_ref(body: ChargingDataRequest, subscriber: str) -> str:
    """The same create request (a retransmission) always names the same session.

    24 hex digits of the create's digest, 8 that bind the ref to its subscriber (see
    :func:`_belongs_to`), ``-`` and the create's sequence number."""
    info = body.pdu_session_charging_information
    parts = (
        subscriber,
        body.nf_consumer_identification.node_functionality,
        body.nf_consumer_identification.nf_name or "",
        "" if info is None or info.charging_id is None else str(info.charging_id),
        body.invocation_time_stamp.isoformat(),
        str(body.invocation_sequence_number),
    )
    session = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]
    return f"{session}{_binding(session, subscriber)}-{body.invocation_sequence_number}"


def _binding(session: str, subscriber: str) -> str:
    return hashlib.sha256(f"{session}\x1f{subscriber}".encode()).hexdigest()[:8]


def _belongs_to(ref: str, subscriber: str) -> bool:
    """Whether *ref* was created for *subscriber* (a consistency check, not a secret)."""
    return ref[24:32] == _binding(ref[:24], subscriber)


class _Refused(Exception):
    def __init__(self, status: int, title: str, detail: str, cause: str) -> None:
        super().__init__(detail)
        self.response = _problem(status, title, detail, cause)


async def _charge(
    kind: RequestType, ref: str, body: ChargingDataRequest, caller: Principal, svc: Services
) -> tuple[list[dict[str, Any]], ChargingAnswer]:
    if not caller.has(Scope.CHARGING):
        raise Forbidden("charging needs an operator API key with the scope 'charging'")
    named = _named(body)
    subscriber = _subscriber(named)
    if subscriber is None:
        raise _Refused(
            400,
            "Request does not validate",
            "/subscriberIdentifier: famsim needs it (or an msisdn- servedGPSI) in every request",
            "MANDATORY_IE_MISSING",
        )
    slots, services = _services(body, svc.famsim.rating_groups())
    if kind in (RequestType.UPDATE, RequestType.TERMINATION) and not _belongs_to(ref, subscriber):
        raise _not_found(ref, named, "was created for")
    request = ChargingRequest(
        session_id=ref,
        request_number=body.invocation_sequence_number,
        request_type=kind,
        subscriber=subscriber,
        services=services,
        serving_plmn=_serving_plmn(body),
    )
    answer: ChargingAnswer = await asyncio.wrap_future(svc.committer.submit(request))
    if answer.outcome == Outcome.USER_UNKNOWN:
        raise _Refused(404, "Not found", f"no subscriber {named}", "USER_UNKNOWN")
    if answer.outcome == Outcome.SESSION_UNKNOWN:
        # Never created, or released already: the engine charged nothing (and answers a
        # retransmission of this request the same way).
        raise _not_found(ref, named, "is open for")
    return _unit_information(slots, answer), answer


def _not_found(ref: str, named: str | None, what: str) -> _Refused:
    return _Refused(
        404,
        "Not found",
        f"no charging data {ref!r} {what} {named}",
        "CONTEXT_NOT_FOUND",
    )


def _response(body: ChargingDataRequest, units: list[dict[str, Any]]) -> dict[str, Any]:
    # The request's own time stamp is echoed, so a retransmission gets the same answer.
    return {
        "invocationTimeStamp": body.invocation_time_stamp.isoformat(),
        "invocationSequenceNumber": body.invocation_sequence_number,
        "multipleUnitInformation": units,
    }


# ------------------------------------------------------------------------------- routes
@router.post(
    "/chargingdata",
    status_code=201,
    response_model=ChargingDataResponse,
    summary="Create a charging session and reserve units (Nchf_ConvergedCharging_Create)",
    responses={
        200: {
            "model": ChargingDataResponse,
            "description": "A one-time event (oneTimeEvent, IEC) charged; no resource created",
        },
        201: {
            "description": "Created",
            "headers": {
                "Location": {
                    "description": "The session's URI: .../chargingdata/{ChargingDataRef}",
                    "schema": {"type": "string"},
                }
            },
        },
    },
)
async def create(body: ChargingDataRequest, request: Request, caller: Caller, svc: Svc) -> Response:
    event = body.one_time_event
    try:
        if event and body.one_time_event_type == "PEC":
            raise _Refused(
                400,
                "Not supported",
                "/oneTimeEventType: post event charging (PEC) is not supported; use IEC",
                "MANDATORY_IE_INCORRECT",
            )
        subscriber = _subscriber(_named(body)) or ""
        ref = _create_ref(body, subscriber)
        kind = RequestType.EVENT if event else RequestType.INITIAL
        units, _ = await _charge(kind, ref, body, caller, svc)
    except _Refused as refused:
        return refused.response
    if event:
        return JSONResponse(_response(body, units))
    location = str(request.url_for("nchf_update", ref=ref)).removesuffix("/update")
    return JSONResponse(_response(body, units), status_code=201, headers={"Location": location})


@router.post(
    "/chargingdata/{ref}/update",
    name="nchf_update",
    response_model=ChargingDataResponse,
    summary="Report used units and reserve more (Nchf_ConvergedCharging_Update)",
)
async def update(ref: Ref, body: ChargingDataRequest, caller: Caller, svc: Svc) -> Response:
    try:
        units, _ = await _charge(RequestType.UPDATE, ref, body, caller, svc)
    except _Refused as refused:
        return refused.response
    return JSONResponse(_response(body, units))


@router.post(
    "/chargingdata/{ref}/release",
    status_code=204,
    response_class=Response,
    summary="Report the last used units and close (Nchf_ConvergedCharging_Release)",
)
async def release(ref: Ref, body: ChargingDataRequest, caller: Caller, svc: Svc) -> Response:
    try:
        await _charge(RequestType.TERMINATION, ref, body, caller, svc)
    except _Refused as refused:
        return refused.response
    return Response(status_code=204)
