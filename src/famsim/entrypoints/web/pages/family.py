"""The family's home: pools, members' bars, the cycle chart, forecasts, alerts (live)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from famsim.entrypoints.web import render, session
from famsim.entrypoints.web.pages.common import drawing

router = APIRouter(prefix="/app", include_in_schema=False)
FamilyId = Path(min_length=1, max_length=64)


@router.get("")
async def app_home(request: Request) -> Response:
    viewer = await session.required(request)
    if viewer.is_staff:
        return RedirectResponse("/app/operator", status_code=303)
    return RedirectResponse(f"/app/families/{viewer.family_id}", status_code=303)


@router.get("/families/{family_id}")
async def home(request: Request, family_id: str = FamilyId) -> Response:
    return await _home(request, family_id, "home.html")


@router.get("/families/{family_id}/live")
async def live(request: Request, family_id: str = FamilyId) -> Response:
    """The changing part of the home page, fetched again every few seconds."""
    return await _home(request, family_id, "_home_live.html")


async def _home(request: Request, family_id: str, template: str) -> Response:
    viewer = await session.required(request)
    dashboard = request.app.state.dashboard
    family: dict[str, Any] = await run_in_threadpool(dashboard.home, viewer, family_id)
    text, fmt = render.text_of(request), render.formatter_of(request, family["time_zone"])
    context = {"family": family, "family_id": family_id, "section": "home"}
    context |= drawing(family, text, fmt)
    return render.page(request, template, context, time_zone=family["time_zone"])
