"""The REST charging API for gateways: reserve, update, terminate, debit (operator keys
with the ``charging`` scope). The same engine as Diameter Gy and Nchf will use."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from famsim.domain.access import Scope
from famsim.domain.errors import Forbidden
from famsim.domain.units import Resource
from famsim.entrypoints.http.deps import Caller, Svc
from famsim.entrypoints.http.problems import PROBLEM_RESPONSES
from famsim.service.charging import ChargingRequest, RequestType, ServiceUse

router = APIRouter(prefix="/v1/charging", tags=["charging"], responses=PROBLEM_RESPONSES)
MAX_UNITS = 10**15


class ServiceIn(BaseModel):
    resource: Resource
    tethered: bool = False
    requested: int | None = Field(
        default=None, ge=0, le=MAX_UNITS, description="Units wanted next."
    )
    used: int | None = Field(default=None, ge=0, le=MAX_UNITS, description="Units used since last.")


class ChargingIn(BaseModel):
    session_id: str = Field(min_length=1, max_length=200)
    request_number: int = Field(ge=0, le=2**32 - 1)
    subscriber: str = Field(
        pattern=r"^(\+[1-9][0-9]{6,14}|[0-9]{6,15})$",
        description="An IMSI (6 to 15 digits) or an E.164 number (+ and 7 to 15 digits).",
    )
    services: list[ServiceIn] = Field(min_length=1, max_length=16)
    serving_plmn: str | None = Field(default=None, pattern=r"^[0-9]{5,6}$", description="MCC-MNC.")
    destination: str | None = Field(
        default=None, max_length=32, description="Called number (voice/SMS)."
    )


class ServiceOut(BaseModel):
    resource: str
    tethered: bool
    outcome: str
    granted: int
    validity_seconds: int
    final_action: str | None = None
    redirect_url: str | None = None


class ChargingOut(BaseModel):
    session_id: str
    request_number: int
    outcome: str
    zone: str | None
    services: list[ServiceOut]


async def _charge(kind: RequestType, body: ChargingIn, caller: Caller, svc: Svc) -> Response:
    """Through the group committer: the answer comes back once it is durable, and many
    concurrent requests share one commit."""
    if not caller.has(Scope.CHARGING):
        raise Forbidden("charging needs an operator API key with the scope 'charging'")
    request = ChargingRequest(
        session_id=body.session_id,
        request_number=body.request_number,
        request_type=kind,
        subscriber=body.subscriber,
        services=tuple(
            ServiceUse(s.resource, tethered=s.tethered, requested=s.requested, used=s.used)
            for s in body.services
        ),
        serving_plmn=body.serving_plmn,
        destination=body.destination,
    )
    answer = await asyncio.wrap_future(svc.committer.submit(request))
    # The answer is built by the engine to ChargingOut's shape: sent as is, not validated
    # again (this is the gateways' hot path; the schema tests check the shape).
    return JSONResponse(answer.to_dict())


@router.post(
    "/reserve", response_model=ChargingOut, summary="Open a session and reserve units (CCR-INITIAL)"
)
async def reserve(body: ChargingIn, caller: Caller, svc: Svc) -> Response:
    return await _charge(RequestType.INITIAL, body, caller, svc)


@router.post(
    "/update", response_model=ChargingOut, summary="Report used units and reserve more (CCR-UPDATE)"
)
async def update(body: ChargingIn, caller: Caller, svc: Svc) -> Response:
    return await _charge(RequestType.UPDATE, body, caller, svc)


@router.post(
    "/terminate",
    response_model=ChargingOut,
    summary="Report the last used units and close (CCR-TERMINATION)",
)
async def terminate(body: ChargingIn, caller: Caller, svc: Svc) -> Response:
    return await _charge(RequestType.TERMINATION, body, caller, svc)


@router.post(
    "/debit", response_model=ChargingOut, summary="Charge a one-off event, e.g. an SMS (CCR-EVENT)"
)
async def debit(body: ChargingIn, caller: Caller, svc: Svc) -> Response:
    return await _charge(RequestType.EVENT, body, caller, svc)
