"""What every route needs: the services (built once per app) and the caller's principal."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from famsim.domain.access import Principal
from famsim.domain.errors import Unauthenticated

SESSION_COOKIE = "famsim_session"
API_KEY_PREFIX = "fsk_"
KEY_CACHE_TTL_S = 5.0
KEY_CACHE_SIZE = 10_000

_bearer = HTTPBearer(auto_error=False, description="A session token or an operator API key.")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="Browser session.")


@dataclass
class Services:
    """The service objects the routes call; built from the bootstrap App."""

    famsim: Any  # famsim.bootstrap.App
    accounts: Any
    reads: Any
    writes: Any
    esim: Any
    invitations: Any
    webhooks: Any
    committer: Any
    billing: Any = None
    keys: KeyCache = field(default_factory=lambda: KeyCache())


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: Annotated[str | None, Depends(_cookie)],
) -> Principal:
    """The authenticated caller, from a bearer token / API key or the session cookie.

    Operator keys (the charging gateways' hot path) are remembered for a few seconds, so
    a busy gateway costs one key lookup per few seconds instead of one per request; a
    revoked key stops working within that time. Sessions are checked every time.
    """
    svc = services(request)
    token = credentials.credentials if credentials is not None else session
    if not token:
        raise Unauthenticated(
            "sign in first: send Authorization: Bearer <token> (or an API key), "
            "or the session cookie"
        )
    if credentials is not None and token.startswith(API_KEY_PREFIX):
        return await svc.keys.principal(token, svc.accounts.authenticate_key)
    return cast(Principal, await run_in_threadpool(svc.accounts.authenticate, token))


class KeyCache:
    """API keys recently authenticated: key hash -> (principal, until when)."""

    def __init__(self, ttl_s: float = KEY_CACHE_TTL_S) -> None:
        self._ttl_s = ttl_s
        self._seen: dict[str, tuple[Principal, float]] = {}

    async def principal(self, key: str, check: Callable[[str], Principal]) -> Principal:
        digest = hashlib.sha256(key.encode()).hexdigest()
        found = self._seen.get(digest)
        now = time.monotonic()
        if found is not None and found[1] > now:
            return found[0]
        checked = await run_in_threadpool(check, key)
        if len(self._seen) > KEY_CACHE_SIZE:
            self._seen.clear()
        self._seen[digest] = (checked, now + self._ttl_s)
        return checked


Caller = Annotated[Principal, Depends(principal)]
Svc = Annotated[Services, Depends(services)]
