"""The web UI on the API's app: pages, static files, and errors as pages."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from famsim.domain.errors import FamsimError, Forbidden, NotFound, Unauthenticated
from famsim.entrypoints.http.problems import status_of
from famsim.entrypoints.web import render, session
from famsim.entrypoints.web.pages import account, auth, family, lines, members, operator
from famsim.service.dashboard import Dashboard

log = logging.getLogger("famsim.web")
STATIC = Path(__file__).parent / "static"
WEB_PREFIXES = ("/app", "/login", "/logout", "/lang")
Handler = Callable[[Request, Exception], Awaitable[Response]]


def install(app: FastAPI) -> None:
    """Add the pages to *app* (built by ``create_api``, whose services they use)."""
    services = app.state.services
    app.state.dashboard = Dashboard(services.famsim.uow, services.reads, services.famsim.now)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (auth, family, members, lines, account, operator):
        app.include_router(module.router)
    _errors_as_pages(app)


def is_web(request: Request) -> bool:
    path = request.url.path
    return path == "/" or any(path == p or path.startswith(p + "/") for p in WEB_PREFIXES)


def _errors_as_pages(app: FastAPI) -> None:
    """On the web UI's paths, an error is a page in the visitor's language (and no page
    at all when signing in is the answer); elsewhere the API's problem handlers stay."""
    api: dict[type[Exception] | int, Handler] = dict(app.exception_handlers)

    def dispatch(kind: type[Exception]) -> Handler:
        async def handle(request: Request, exc: Exception) -> Response:
            if is_web(request):
                return _page_for(request, exc)
            return await api[kind](request, exc)

        return handle

    for kind in (FamsimError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(kind, dispatch(kind))
    app.add_exception_handler(session.SignInRequired, _sign_in)


async def _sign_in(request: Request, _: Exception) -> Response:
    return session.to_login(request)


def _page_for(request: Request, exc: Exception) -> Response:
    text = render.text_of(request)
    if isinstance(exc, Unauthenticated):
        return session.to_login(request)
    if isinstance(exc, FamsimError):
        status, _ = status_of(exc)
        heading = {
            403: text("Not shown to you"),
            404: text("Not found"),
        }.get(status, text("That did not work"))
        message = str(exc)
        if isinstance(exc, NotFound):
            message = text("There is nothing here, or it is not yours to see.")
    elif isinstance(exc, StarletteHTTPException):
        status, heading, message = exc.status_code, text("That did not work"), str(exc.detail)
    elif isinstance(exc, RequestValidationError):
        status, heading = 422, text("That did not work")
        message = text("The form or address had a value famsim cannot read.")
    else:
        log.exception("unexpected error on a page", exc_info=exc)
        status, heading = 500, text("Something went wrong on our side")
        message = text("It is logged; please try again.")
    if isinstance(exc, Forbidden):
        heading = text("Not shown to you")
    return render.page(
        request,
        "error.html",
        {"heading": heading, "message": message, "family_id": request.path_params.get("family_id")},
        status_code=status,
    )
