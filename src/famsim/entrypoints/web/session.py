"""Who is looking at a page: the browser's session cookie, checked on every request.

A family user's cookie holds a session token (``famsim.service.accounts``); the operator
console's holds the operator's API key, so staff sign in with the key they already have
and its scopes decide what the console shows. Both cookies are HttpOnly and
SameSite=Strict, and every form post must come from this site's own pages (its Origin
header, when the browser sends one, names this host): a page elsewhere cannot post here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from famsim.domain.access import Principal
from famsim.domain.errors import Forbidden, Unauthenticated
from famsim.entrypoints.http.deps import API_KEY_PREFIX, SESSION_COOKIE, Services, services


class SignInRequired(Exception):
    """The page needs a signed-in visitor; the handler sends the browser to /login."""


async def viewer(request: Request) -> Principal | None:
    """The signed-in visitor, or None (no cookie, an ended session, a revoked key)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    svc = services(request)
    try:
        if token.startswith(API_KEY_PREFIX):
            found: Principal = await svc.keys.principal(token, svc.accounts.authenticate_key)
        else:
            found = await run_in_threadpool(svc.accounts.authenticate, token)
    except Unauthenticated:
        return None
    request.state.viewer = found
    return found


async def required(request: Request) -> Principal:
    found = await viewer(request)
    if found is None:
        raise SignInRequired
    return found


async def posting(request: Request) -> Principal:
    """The signed-in visitor of a form post sent from this site's own pages."""
    check_same_origin(request)
    return await required(request)


def check_same_origin(request: Request) -> None:
    """A form post from another site is refused (with SameSite=Strict, a second lock)."""
    origin = request.headers.get("origin")
    if origin is None:  # not a browser's cross-site post (those always carry Origin)
        return
    if urlsplit(origin).netloc != request.headers.get("host", request.url.netloc):
        raise Forbidden("this form was not sent from famsim's own pages")


def set_cookie(response: Response, request: Request, token: str, expires: datetime | None) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        expires=expires,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def svc(request: Request) -> Services:
    return services(request)


def client(request: Request) -> dict[str, Any]:
    return {
        "ip": request.client.host if request.client else None,
        "user_agent": request.headers.get("user-agent"),
    }
