"""The operator console: the catalog, families, SIM stock and numbers, the engine."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from famsim.domain.access import Principal, Scope
from famsim.domain.errors import Forbidden
from famsim.entrypoints.web import render, session
from famsim.service import inventory, views

router = APIRouter(prefix="/app/operator", include_in_schema=False)
FAMILY_ROWS = 50


@router.get("")
async def console(request: Request, q: Annotated[str, Query(max_length=100)] = "") -> Response:
    viewer = await session.required(request)
    if not viewer.is_staff:
        raise Forbidden("the operator console is for the operator's staff")
    found = await run_in_threadpool(_console, request, viewer, q.strip())
    return render.page(request, "operator.html", found)


def _console(request: Request, viewer: Principal, query: str) -> dict[str, Any]:
    svc = session.svc(request)
    uow = svc.famsim.uow
    context: dict[str, Any] = {"q": query, "section": "operator"}
    if viewer.has(Scope.PLANS_READ):
        context["plans"] = views.list_plans(uow())
    if viewer.has(Scope.FAMILIES_READ):
        families = views.list_families(uow())
        wanted = query.casefold()
        context["families"] = [
            f
            for f in families
            if not wanted
            or wanted in f["name"].casefold()
            or wanted in f["owner"].casefold()
            or wanted == f["id"]
        ][:FAMILY_ROWS]
        context["families_total"] = len(families)
    if viewer.has(Scope.ESIM):
        context["stock"] = inventory.sim_counts(uow)
        counts, _ = inventory.number_listing(uow, svc.famsim.wall(), None, 0)
        context["numbers"] = {state.value: n for state, n in counts.items()}
    if viewer.has(Scope.CHARGING) or viewer.has(Scope.USAGE_READ):
        context["engines"] = _engines(request)
    return context


def _engines(request: Request) -> list[dict[str, Any]]:
    """The figures of every charging engine in this process (the API's committer, and the
    traffic simulator's when the demo runs one)."""
    text = render.text_of(request)
    engines = [(text("Charging API (this server)"), session.svc(request).committer.figures)]
    simulator = getattr(request.app.state, "simulator_figures", None)
    if simulator is not None:
        engines.append((text("Traffic simulator"), simulator))
    return [{"name": name, "figures": figures.snapshot()} for name, figures in engines]
