"""The REST charging API for gateways: reserve, update, terminate, debit (operator keys
with the ``charging`` scope). The same engine as Diameter Gy and Nchf will use."""

from __future__ import annotations

import asyncio
import inspect
import json

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette import types as asgi

from famsim.domain.access import Principal, Scope
from famsim.domain.errors import Forbidden
from famsim.domain.units import Resource
from famsim.entrypoints.http.deps import API_KEY_PREFIX, Caller, Services, Svc
from famsim.entrypoints.http.problems import PROBLEM_RESPONSES
from famsim.service.charging import ChargingAnswer, ChargingRequest, RequestType, ServiceUse

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
    # The answer is built by the engine to ChargingOut's shape: sent as is, not validated
    # again (this is the gateways' hot path; the schema tests check the shape).
    return JSONResponse((await _charge_now(kind, body, caller, svc)).to_dict())


async def _charge_now(
    kind: RequestType, body: ChargingIn, caller: Principal, svc: Services
) -> ChargingAnswer:
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
    answer: ChargingAnswer = await asyncio.wrap_future(svc.committer.submit(request))
    return answer


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


# ----------------------------------------------------------------------- the hot path
# Gateways send these four requests all day, so they skip FastAPI's per-request machinery
# (routing through every route, the dependency graph, Request objects): the app calls
# :func:`fast_charge` first for ``POST`` on the four paths above. It serves only the
# common, well-formed case, with the very same checks: the body parsed by ``json.loads``
# and validated by ``ChargingIn`` (what FastAPI does), the operator key through the same
# ``KeyCache``, the scope ``charging``. Anything else (another content type, a body that
# does not parse or validate, a session token or cookie instead of a key) is handed,
# body and all, to the FastAPI routes above, which answer it exactly as they always did;
# errors after that point go through the app's own exception handlers. The routes above
# also remain the OpenAPI description of these operations.

FAST_PATHS: dict[str, RequestType] = {
    "/v1/charging/reserve": RequestType.INITIAL,
    "/v1/charging/update": RequestType.UPDATE,
    "/v1/charging/terminate": RequestType.TERMINATION,
    "/v1/charging/debit": RequestType.EVENT,
}
_FAST_BODY_LIMIT = 64 * 1024
_JSON_TYPES = frozenset({b"application/json", b"application/json; charset=utf-8"})
_BEARER_KEY = b"Bearer " + API_KEY_PREFIX.encode()
_JSON_HEADERS = b"application/json"


async def fast_charge(
    kind: RequestType,
    app: FastAPI,
    scope: asgi.Scope,
    receive: asgi.Receive,
    send: asgi.Send,
    slow: asgi.ASGIApp,
) -> None:
    """Answer one charging request (see above); *slow* is the FastAPI app itself."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return  # the client went away
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = message.get("more_body", False)
        if size > _FAST_BODY_LIMIT:
            break
    body = b"".join(chunks)

    pending: bytes | None = body

    async def replay() -> asgi.Message:
        nonlocal pending
        if pending is not None:
            message: asgi.Message = {"type": "http.request", "body": pending, "more_body": more}
            pending = None
            return message
        return await receive()

    authorization = content_type = None
    for name, value in scope["headers"]:
        if name == b"authorization" and authorization is None:
            authorization = value
        elif name == b"content-type" and content_type is None:
            content_type = value
    if (
        more
        or content_type not in _JSON_TYPES
        or authorization is None
        or not authorization.startswith(_BEARER_KEY)
    ):
        await slow(scope, replay, send)
        return
    try:
        fields = ChargingIn.model_validate(json.loads(body))
    except Exception:  # not JSON, not valid: FastAPI answers it as it always did
        await slow(scope, replay, send)
        return
    svc: Services = app.state.services
    try:
        caller = await svc.keys.principal(
            authorization[7:].decode("latin-1").strip(), svc.accounts.authenticate_key
        )
        answer = await _charge_now(kind, fields, caller, svc)
    except Exception as exc:
        await _problem(app, exc, scope, replay, send)
        return
    content = json.dumps(
        answer.to_dict(), ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-length", str(len(content)).encode()),
                (b"content-type", _JSON_HEADERS),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


async def _problem(
    app: FastAPI, exc: Exception, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send
) -> None:
    """*exc* answered by the app's own handler for it (every error a problem)."""
    for kind in type(exc).__mro__:
        handler = app.exception_handlers.get(kind)
        if handler is not None:
            scope["app"] = app
            response = handler(Request(scope, receive), exc)
            if inspect.isawaitable(response):
                response = await response
            await response(scope, receive, send)
            return
    raise exc
