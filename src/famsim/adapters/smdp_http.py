"""The built-in SM-DP+ over HTTP: the ES2+ functions as SGP.22 gives them.

``POST /gsma/rsp2/es2plus/{downloadOrder,confirmOrder,cancelOrder,releaseProfile}`` with
JSON bodies and the ``X-Admin-Protocol: gsma/rsp/v2.x.y`` header. A function that ran
answers HTTP 200 whether it worked or not: the outcome is in
``header.functionExecutionStatus`` (``Executed-Success``, or ``Failed`` with the spec's
``statusCodeData``). A request that is not ES2+ at all (no or another protocol header, a
body that is not the function's JSON) gets HTTP 400 with a message naming the problem,
never a 500: a client written to the spec never sends one, and a person debugging a
client needs to know what to fix.

The same app serves the simulated device's steps under ``/simulator/device/``
(:mod:`famsim.adapters.smdp_simulator`), which leave HandleDownloadProgressInfo
notifications for the operator. The app is built here, in the adapters, and handed out by
:mod:`famsim.bootstrap`; the command line only serves it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from famsim.adapters.es2plus.messages import (
    ADMIN_PROTOCOL,
    ADMIN_PROTOCOL_HEADER,
    PATHS,
    CancelOrderRequest,
    ConfirmOrderRequest,
    ConfirmOrderResponse,
    DownloadOrderRequest,
    DownloadOrderResponse,
    Es2MessageError,
    Es2Request,
    Es2Response,
    ReleaseProfileRequest,
    dump,
    failure_header,
    is_supported_protocol,
    parse,
    success_header,
    to_eid,
    to_iccid,
)
from famsim.adapters.smdp_simulator import add_device_routes
from famsim.domain.errors import InvalidInput
from famsim.domain.esim.profile_state import InvalidStateTransition
from famsim.domain.esim.smdp import FinalStatus, SmdpInventory, SmdpRefusal
from famsim.service.smdp import SmdpService

R = TypeVar("R", bound=Es2Request)
JSON = "application/json"


def create_smdp_app(service: SmdpService) -> FastAPI:
    """An ASGI app serving ES2+ on *service*'s inventory."""
    app = FastAPI(
        title="famsim built-in SM-DP+ (ES2+)",
        description="GSMA SGP.22 ES2+ functions of famsim's SM-DP+ simulator.",
        openapi_url=None,  # ES2+ is specified by SGP.22, not by an OpenAPI document
        docs_url=None,
        redoc_url=None,
    )

    def function(
        name: str, model: type[R], run: Callable[[R, SmdpInventory, datetime], Es2Response]
    ) -> None:
        """Serve one ES2+ function: check the protocol, read the body, run, answer."""

        async def endpoint(request: Request) -> Response:
            protocol = request.headers.get(ADMIN_PROTOCOL_HEADER)
            if protocol is None or not is_supported_protocol(protocol):
                return _bad_request(
                    f"{ADMIN_PROTOCOL_HEADER} must be gsma/rsp/v2.x.y (e.g. {ADMIN_PROTOCOL}), "
                    f"not {protocol!r}"
                )
            try:
                body = parse(model, await request.body())
            except Es2MessageError as exc:
                return _bad_request(str(exc))
            try:
                # The inventory's lock and the database write block: keep them off the loop.
                result = await run_in_threadpool(service.run, partial(run, body))
            except (SmdpRefusal, InvalidStateTransition) as exc:
                result = Es2Response(header=failure_header(exc.status, str(exc)))
            except InvalidInput as exc:  # allowed by the wire format, unusable by the SM-DP+
                return _bad_request(str(exc))
            return Response(dump(result), media_type=JSON, headers=_protocol_header())

        app.add_api_route(PATHS[name], endpoint, methods=["POST"], name=name)

    function("downloadOrder", DownloadOrderRequest, _download_order)
    function("confirmOrder", ConfirmOrderRequest, _confirm_order)
    function("cancelOrder", CancelOrderRequest, _cancel_order)
    function("releaseProfile", ReleaseProfileRequest, _release_profile)
    add_device_routes(app, service)  # the simulated device: /simulator/device/...
    return app


def _download_order(
    body: DownloadOrderRequest, inventory: SmdpInventory, now: datetime
) -> Es2Response:
    profile = inventory.download_order(
        now=now,
        eid=to_eid(body.eid) if body.eid else None,
        iccid=to_iccid(body.iccid) if body.iccid else None,
        profile_type=body.profileType,
    )
    return DownloadOrderResponse(header=success_header(), iccid=str(profile.iccid))


def _confirm_order(
    body: ConfirmOrderRequest, inventory: SmdpInventory, now: datetime
) -> Es2Response:
    confirmation = inventory.confirm_order(
        now=now,
        iccid=to_iccid(body.iccid),
        release=body.releaseFlag,
        eid=to_eid(body.eid) if body.eid else None,
        matching_id=body.matchingId,
        confirmation_code=body.confirmationCode,
    )
    return ConfirmOrderResponse(
        header=success_header(),
        eid=str(confirmation.eid) if confirmation.eid else None,
        matchingId=confirmation.matching_id,
        smdpAddress=confirmation.smdp_address,
    )


def _cancel_order(body: CancelOrderRequest, inventory: SmdpInventory, now: datetime) -> Es2Response:
    inventory.cancel_order(
        now=now,
        iccid=to_iccid(body.iccid),
        final=FinalStatus(body.finalProfileStatusIndicator),
        eid=to_eid(body.eid) if body.eid else None,
        matching_id=body.matchingId,
    )
    return Es2Response(header=success_header())


def _release_profile(
    body: ReleaseProfileRequest, inventory: SmdpInventory, now: datetime
) -> Es2Response:
    inventory.release_profile(now=now, iccid=to_iccid(body.iccid))
    return Es2Response(header=success_header())


def _protocol_header() -> dict[str, str]:
    return {ADMIN_PROTOCOL_HEADER: ADMIN_PROTOCOL}


def _bad_request(message: str) -> Response:
    return JSONResponse({"message": message}, status_code=400, headers=_protocol_header())
