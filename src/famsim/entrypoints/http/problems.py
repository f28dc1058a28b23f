"""Every error as an RFC 9457 problem (``application/problem+json``), never a traceback.

famsim's errors carry their meaning in their class (see ``famsim.domain.errors``); this is
the one place that turns a class into an HTTP status. Request bodies and parameters that do
not validate get 422 with every field named; anything unexpected is a 500 problem with no
detail (the log has it) — the schema tests make sure none happens.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from famsim.domain.errors import (
    Conflict,
    FamsimError,
    Forbidden,
    InvalidInput,
    NotFound,
    RuleViolation,
    TooManyAttempts,
    Unauthenticated,
)
from famsim.service.ports import StorageUnavailable

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("famsim.api")

_STATUS: list[tuple[type[FamsimError], int, str]] = [
    (StorageUnavailable, 503, "Storage unavailable"),
    (Unauthenticated, 401, "Not signed in"),
    (Forbidden, 403, "Not allowed"),
    (NotFound, 404, "Not found"),
    (TooManyAttempts, 429, "Too many attempts"),
    (Conflict, 409, "Conflict"),
    (RuleViolation, 422, "Refused by a rule"),
    (InvalidInput, 400, "Invalid input"),
]


class Problem(BaseModel):
    """RFC 9457 problem details (``type`` is ``about:blank``: the status says it all)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": title}
    for status, title in (
        (400, "Invalid input"),
        (401, "Not signed in"),
        (403, "Not allowed"),
        (404, "Not found"),
        (409, "Conflict"),
        (422, "Refused by a rule, or a body or parameter that does not validate"),
        (429, "Too many attempts"),
        (503, "Storage unavailable or busy"),
    )
}
"""Documented on every route, so the OpenAPI schema says what a client may get."""


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail, errors=errors)
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def status_of(exc: FamsimError) -> tuple[int, str]:
    for kind, status, title in _STATUS:
        if isinstance(exc, kind):
            return status, title
    return 400, "Invalid input"


def install(app: FastAPI) -> None:
    """Register the handlers that make every error a problem."""

    async def famsim_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, FamsimError)
        status, title = status_of(exc)
        headers: dict[str, str] = {}
        if isinstance(exc, TooManyAttempts):
            headers["Retry-After"] = str(max(1, exc.retry_after_s))
        if isinstance(exc, Unauthenticated):
            headers["WWW-Authenticate"] = 'Bearer realm="famsim"'
        return problem(status, title, str(exc), headers=headers or None)

    async def invalid_request(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "field": ".".join(str(p) for p in error.get("loc", ())),
                "message": str(error.get("msg", "invalid")).removeprefix("Value error, "),
            }
            for error in exc.errors()
        ]
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        detail = f"{first['field']}: {first['message']}"
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more)"
        return problem(422, "Request does not validate", detail, errors=errors)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers) if exc.headers else {}
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(sorted(_allowed(request)))
        return problem(exc.status_code, str(exc.detail), headers=headers or None)

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return problem(500, "Internal error", "something went wrong on our side; it is logged")

    app.add_exception_handler(FamsimError, famsim_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def _allowed(request: Request) -> set[str]:
    """Every method some route serves at this path (Starlette names only the first
    route's when several share a path)."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return methods
