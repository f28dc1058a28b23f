"""Signing in and out, who am I, my login history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Cookie, Query, Request, Response
from pydantic import BaseModel, Field

from famsim.domain.accounts import SessionKind
from famsim.domain.errors import Forbidden
from famsim.entrypoints.http.deps import SESSION_COOKIE, Caller, Svc
from famsim.entrypoints.http.problems import PROBLEM_RESPONSES

router = APIRouter(prefix="/v1", tags=["sessions"], responses=PROBLEM_RESPONSES)


class LoginIn(BaseModel):
    login: str = Field(min_length=1, max_length=254, description="E-mail or E.164 number.")
    password: str = Field(min_length=1, max_length=1024)
    totp: str | None = Field(default=None, min_length=6, max_length=8, pattern=r"^[0-9]+$")
    kind: Literal["bearer", "cookie"] = Field(
        default="bearer", description="bearer: a token for apps; cookie: a browser session."
    )


class SessionOut(BaseModel):
    kind: str
    expires_at: datetime
    token: str | None = Field(
        default=None, description="The bearer token (not for cookie sessions)."
    )


class MeOut(BaseModel):
    kind: str
    id: str
    family_id: str | None
    member_id: str | None
    scopes: list[str]


@router.post("/sessions", status_code=201, summary="Sign in", response_model_exclude_none=True)
def login(body: LoginIn, request: Request, response: Response, svc: Svc) -> SessionOut:
    issued = svc.accounts.login(
        body.login,
        body.password,
        kind=SessionKind(body.kind),
        totp=body.totp,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )
    if issued.kind is SessionKind.COOKIE:
        response.set_cookie(
            SESSION_COOKIE,
            issued.token,
            expires=issued.expires_at,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return SessionOut(kind=issued.kind.value, expires_at=issued.expires_at)
    return SessionOut(kind=issued.kind.value, expires_at=issued.expires_at, token=issued.token)


@router.delete("/sessions/current", status_code=204, response_class=Response, summary="Sign out")
def logout(
    request: Request,
    caller: Caller,
    svc: Svc,
    famsim_session: Annotated[str | None, Cookie()] = None,
) -> Response:
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
    if not caller.is_staff:
        svc.accounts.logout(token or famsim_session or "")
    answer = Response(status_code=204)
    answer.delete_cookie(SESSION_COOKIE, path="/")
    return answer


@router.get("/me", summary="Who the caller is")
def me(caller: Caller) -> MeOut:
    return MeOut(
        kind=caller.kind.value,
        id=caller.id,
        family_id=caller.family_id,
        member_id=caller.member_id,
        scopes=sorted(s.value for s in caller.scopes),
    )


@router.get("/me/logins", summary="The caller's own login history")
def my_logins(
    caller: Caller, svc: Svc, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    if caller.is_staff:
        raise Forbidden("an operator API key has no sign-in history; accounts do")
    events = svc.accounts.login_history(caller, limit=limit)
    return [{"at": e.at.isoformat(), "action": e.action, "detail": dict(e.detail)} for e in events]


class TotpSetupOut(BaseModel):
    secret: str = Field(description="Base32 secret, for apps that cannot scan the URI.")
    uri: str = Field(description="otpauth:// URI for the authenticator app (often as a QR).")


class CodeIn(BaseModel):
    code: str = Field(pattern=r"^[0-9]{6,8}$", description="A code from the authenticator.")


class PasswordIn(BaseModel):
    old: str = Field(min_length=1, max_length=1024)
    new: str = Field(min_length=1, max_length=1024)


def _member_only(caller: Caller) -> None:
    if caller.is_staff:
        raise Forbidden("an operator API key has no password or second factor; accounts do")


@router.post("/me/totp", status_code=201, summary="Start a second factor (TOTP)")
def start_totp(caller: Caller, svc: Svc) -> TotpSetupOut:
    _member_only(caller)
    setup = svc.accounts.start_totp(caller)
    return TotpSetupOut(secret=setup.secret, uri=setup.uri)


@router.post(
    "/me/totp/confirm",
    status_code=204,
    response_class=Response,
    summary="Turn the second factor on with a first code",
)
def confirm_totp(body: CodeIn, caller: Caller, svc: Svc) -> Response:
    _member_only(caller)
    svc.accounts.confirm_totp(caller, body.code)
    return Response(status_code=204)


@router.post(
    "/me/totp/disable",
    status_code=204,
    response_class=Response,
    summary="Turn the second factor off (a current code proves it is you)",
)
def disable_totp(body: CodeIn, caller: Caller, svc: Svc) -> Response:
    _member_only(caller)
    svc.accounts.disable_totp(caller, body.code)
    return Response(status_code=204)


@router.post(
    "/me/password",
    status_code=204,
    response_class=Response,
    summary="Change the password (other sessions end)",
)
def change_password(
    body: PasswordIn,
    request: Request,
    caller: Caller,
    svc: Svc,
    famsim_session: Annotated[str | None, Cookie()] = None,
) -> Response:
    _member_only(caller)
    header = request.headers.get("authorization", "")
    current = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
    svc.accounts.change_password(caller, body.old, body.new, keep_token=current or famsim_session)
    return Response(status_code=204)
