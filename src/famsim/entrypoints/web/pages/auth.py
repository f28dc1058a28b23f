"""Signing in and out of the web UI, and picking a language."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from famsim.domain.accounts import SessionKind
from famsim.domain.errors import FamsimError, TooManyAttempts, Unauthenticated
from famsim.entrypoints.http.deps import SESSION_COOKIE
from famsim.entrypoints.web import i18n, render, session

router = APIRouter(include_in_schema=False)
LANGUAGE_COOKIE_DAYS = 365


def safe_next(target: str | None, default: str = "/app") -> str:
    """Only a path on this site (never ``//elsewhere`` or a full URL) is followed."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


@router.get("/")
async def root(request: Request) -> Response:
    found = await session.viewer(request)
    return RedirectResponse("/app" if found else "/login", status_code=303)


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    return render.page(request, "login.html", {"next": safe_next(next)})


@router.post("/login")
async def login(
    request: Request,
    login: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    totp: Annotated[str, Form(max_length=8)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/app",
) -> Response:
    session.check_same_origin(request)
    text = render.text_of(request)
    svc = session.svc(request)
    try:
        issued = await run_in_threadpool(
            lambda: svc.accounts.login(
                login,
                password,
                kind=SessionKind.COOKIE,
                totp=totp or None,
                **session.client(request),
            )
        )
    except TooManyAttempts as exc:
        error = text(
            "Too many attempts: try again in %(minutes)s min.",
            minutes=max(1, exc.retry_after_s // 60),
        )
        return _login_again(request, login, next, error, 429)
    except Unauthenticated:
        error = text("That login and password do not match (or the code is missing).")
        return _login_again(request, login, next, error, 401)
    except FamsimError as exc:
        return _login_again(request, login, next, str(exc), 400)
    answer = RedirectResponse(safe_next(next), status_code=303)
    session.set_cookie(answer, request, issued.token, issued.expires_at)
    return answer


def _login_again(request: Request, login: str, next: str, error: str, status: int) -> Response:
    return render.page(
        request,
        "login.html",
        {"next": safe_next(next), "login": login, "error": error},
        status_code=status,
    )


@router.post("/login/operator")
async def login_operator(
    request: Request, api_key: Annotated[str, Form(max_length=200)]
) -> Response:
    session.check_same_origin(request)
    svc = session.svc(request)
    key = api_key.strip()
    try:
        await run_in_threadpool(svc.accounts.authenticate_key, key)
    except FamsimError:
        text = render.text_of(request)
        error = text("That API key is not valid (or was revoked).")
        return render.page(
            request, "login.html", {"next": "/app", "key_error": error}, status_code=401
        )
    answer = RedirectResponse("/app/operator", status_code=303)
    session.set_cookie(answer, request, key, None)
    return answer


@router.post("/logout")
async def logout(request: Request) -> Response:
    session.check_same_origin(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    if token and not token.startswith("fsk_"):
        await run_in_threadpool(session.svc(request).accounts.logout, token)
    answer = RedirectResponse("/login", status_code=303)
    answer.delete_cookie(SESSION_COOKIE, path="/")
    return answer


@router.get("/lang")
async def choose_language(request: Request, lang: str = "en", next: str = "/app") -> Response:
    """Remember the picked language (a cookie) and go back to the page."""
    picked = i18n.by_tag(lang) or i18n.DEFAULT
    answer = RedirectResponse(safe_next(next), status_code=303)
    answer.set_cookie(
        i18n.LANGUAGE_COOKIE,
        picked.tag,
        max_age=LANGUAGE_COOKIE_DAYS * 24 * 3600,
        samesite="lax",
        path="/",
    )
    return answer
