"""Operator-registered webhook endpoints (API keys with the ``webhooks`` scope)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from famsim.domain.webhooks import WebhookEndpoint
from famsim.entrypoints.http.deps import Caller, Svc
from famsim.entrypoints.http.problems import PROBLEM_RESPONSES

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=PROBLEM_RESPONSES)


class WebhookIn(BaseModel):
    url: str = Field(min_length=8, max_length=2000, description="https://..., or http on loopback.")
    kinds: list[str] = Field(min_length=1, max_length=16, description="Event kinds, or '*'.")


class WebhookOut(BaseModel):
    id: str
    url: str
    kinds: list[str]
    created_at: datetime
    disabled_at: datetime | None
    secret: str | None = Field(
        default=None, description="The signing secret: shown once, when registered."
    )


def _out(endpoint: WebhookEndpoint, secret: str | None = None) -> WebhookOut:
    return WebhookOut(
        id=endpoint.id,
        url=endpoint.url,
        kinds=list(endpoint.kinds),
        created_at=endpoint.created_at,
        disabled_at=endpoint.disabled_at,
        secret=secret,
    )


@router.post("", status_code=201, summary="Register an endpoint (its secret is shown once)")
def register(body: WebhookIn, caller: Caller, svc: Svc) -> WebhookOut:
    endpoint, secret = svc.webhooks.register(caller, body.url, body.kinds)
    return _out(endpoint, secret)


@router.get("", summary="Registered endpoints")
def endpoints(caller: Caller, svc: Svc) -> list[WebhookOut]:
    return [_out(e) for e in svc.webhooks.endpoints(caller)]


@router.delete("/{endpoint_id}", summary="Stop sending to an endpoint")
def disable(
    endpoint_id: Annotated[str, Path(min_length=1, max_length=64)], caller: Caller, svc: Svc
) -> WebhookOut:
    return _out(svc.webhooks.disable(caller, endpoint_id))
