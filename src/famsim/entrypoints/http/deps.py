"""What every route needs: the services (built once per app) and the caller's principal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from famsim.domain.access import Principal
from famsim.domain.errors import Unauthenticated

SESSION_COOKIE = "famsim_session"
API_KEY_PREFIX = "fsk_"

_bearer = HTTPBearer(auto_error=False, description="A session token or an operator API key.")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="Browser session.")


@dataclass
class Services:
    """The service objects the routes call; built from the bootstrap App."""

    famsim: Any  # famsim.bootstrap.App
    accounts: Any
    reads: Any
    writes: Any
    charging: Any
    esim: Any
    invitations: Any
    webhooks: Any


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: Annotated[str | None, Depends(_cookie)],
) -> Principal:
    """The authenticated caller, from a bearer token / API key or the session cookie."""
    accounts = services(request).accounts
    if credentials is not None:
        token = credentials.credentials
        if token.startswith(API_KEY_PREFIX):
            return cast(Principal, accounts.authenticate_key(token))
        return cast(Principal, accounts.authenticate(token))
    if session:
        return cast(Principal, accounts.authenticate(session))
    raise Unauthenticated(
        "sign in first: send Authorization: Bearer <token> (or an API key), or the session cookie"
    )


Caller = Annotated[Principal, Depends(principal)]
Svc = Annotated[Services, Depends(services)]
