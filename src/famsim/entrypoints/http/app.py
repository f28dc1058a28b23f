"""The REST API's ASGI app, built on a bootstrapped famsim (``famsim serve``)."""

from __future__ import annotations

from fastapi import FastAPI

from famsim.bootstrap import App
from famsim.entrypoints.http import problems
from famsim.entrypoints.http.deps import Services
from famsim.entrypoints.http.routes import charging, families, plans, sessions
from famsim.service.access import FamilyReads, FamilyWrites

API_VERSION = "1"


def create_api(famsim: App) -> FastAPI:
    app = FastAPI(
        title="famsim",
        version=API_VERSION,
        description="Family-sharing plans on eSIM lines: families, members, usage, charging.",
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
    )
    problems.install(app)
    app.state.services = Services(
        famsim=famsim,
        accounts=famsim.accounts(),
        reads=FamilyReads(famsim.uow),
        writes=FamilyWrites(famsim.uow, famsim.bus.handle),
        charging=famsim.charging,
    )
    for module in (sessions, plans, families, charging):
        app.include_router(module.router)
    return app
