"""The operator's end of the SM-DP+'s progress callbacks (ES2+ HandleDownloadProgressInfo).

:func:`read_progress` turns a callback body into the service's :class:`ProgressReport`;
:func:`create_receiver_app` serves it over HTTP (answer 204, no body, as ES2+ says), and
:func:`in_process_receiver` hands the same bodies over without HTTP, for the built-in
SM-DP+ running in the same process. A repeated callback (same requester and call
identifier) is answered the same way and acted on once: the service deduplicates.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from famsim.adapters.es2plus.messages import (
    ADMIN_PROTOCOL,
    ADMIN_PROTOCOL_HEADER,
    PATHS,
    Es2MessageError,
    HandleDownloadProgressInfoRequest,
    is_supported_protocol,
    parse,
    to_iccid,
)
from famsim.domain.errors import Conflict, FamsimError
from famsim.domain.esim.status import StatusCode
from famsim.service.esim import EsimService, ProgressReport

PROGRESS_PATH = PATHS["handleDownloadProgressInfo"]


def read_progress(body: bytes) -> ProgressReport:
    """The report in a callback body; raises :class:`Es2MessageError` naming the field."""
    request = parse(HandleDownloadProgressInfoRequest, body)
    verdict = request.notificationPointStatus
    success = verdict.status in ("Executed-Success", "Executed-WithWarning")
    data = verdict.statusCodeData
    return ProgressReport(
        requester=request.header.functionRequesterIdentifier,
        call_id=request.header.functionCallIdentifier,
        iccid=to_iccid(request.iccid),
        point=int(request.notificationPointId),
        success=success,
        status=StatusCode(data.subjectCode, data.reasonCode, "") if data else None,
        message=data.message if data else None,
    )


def in_process_receiver(service: EsimService) -> Callable[[bytes], None]:
    """Deliver callback bodies straight to *service* (raises, so the sender retries)."""

    def receive(body: bytes) -> None:
        service.handle_progress(read_progress(body))

    return receive


def create_receiver_app(service: EsimService) -> FastAPI:
    """An ASGI app with the one ES2+ function the operator serves to its SM-DP+."""
    app = FastAPI(
        title="famsim ES2+ callback receiver",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )

    async def handle_download_progress_info(request: Request) -> Response:
        protocol = request.headers.get(ADMIN_PROTOCOL_HEADER)
        if protocol is None or not is_supported_protocol(protocol):
            return _problem(
                400,
                f"{ADMIN_PROTOCOL_HEADER} must be gsma/rsp/v2.x.y (e.g. {ADMIN_PROTOCOL}), "
                f"not {protocol!r}",
            )
        try:
            report = read_progress(await request.body())
        except Es2MessageError as exc:
            return _problem(400, str(exc))
        try:
            await run_in_threadpool(service.handle_progress, report)
        except Conflict as exc:  # busy database: the SM-DP+ retries later
            return _problem(503, str(exc))
        except FamsimError as exc:
            return _problem(422, str(exc))
        return Response(status_code=204, headers={ADMIN_PROTOCOL_HEADER: ADMIN_PROTOCOL})

    app.add_api_route(
        PROGRESS_PATH,
        handle_download_progress_info,
        methods=["POST"],
        name="handleDownloadProgressInfo",
    )
    return app


def _problem(status: int, message: str) -> Response:
    return JSONResponse(
        {"message": message}, status_code=status, headers={ADMIN_PROTOCOL_HEADER: ADMIN_PROTOCOL}
    )
