"""The REST API's ASGI app, built on a bootstrapped famsim (``famsim serve``)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import TypeVar

from fastapi import FastAPI
from starlette import types as asgi
from starlette.concurrency import run_in_threadpool

from famsim.bootstrap import App
from famsim.entrypoints.http import problems
from famsim.entrypoints.http.charging_process import ChargingProcess
from famsim.entrypoints.http.deps import Services
from famsim.entrypoints.http.routes import (
    billing,
    charging,
    families,
    lines,
    nchf,
    people,
    plans,
    sessions,
    webhooks,
)
from famsim.entrypoints.web import app as web
from famsim.service.access import FamilyReads, FamilyWrites
from famsim.service.billing_access import GuardedBilling
from famsim.service.charging import ChargingAnswer, ChargingRequest
from famsim.service.esim_access import GuardedEsim
from famsim.service.figures import ChargingFigures
from famsim.service.group_commit import GroupCommitter
from famsim.service.webhooks import WebhookService

API_VERSION = "1"
T = TypeVar("T")


def create_api(
    famsim: App,
    *,
    webhooks_service: WebhookService | None = None,
    charging_process: bool = False,
) -> FastAPI:
    """The API on *famsim*; *webhooks_service* is the one that delivers (``famsim serve``
    starts it), else one is made for registering endpoints. With *charging_process*, the
    charging engine runs in a child process (see :mod:`.charging_process`)."""
    webhooks_service = webhooks_service or famsim.webhooks()
    charging_process = charging_process and _shared_database(famsim)
    committer = _Committer(famsim, charging_process)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if charging_process:
            await run_in_threadpool(committer.start)
        yield
        committer.close()  # answer what is queued, then stop the writer

    app = _Api(
        lifespan=lifespan,
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
        esim=GuardedEsim(famsim.uow, _once(famsim.esim)),
        invitations=famsim.invitations(),
        webhooks=webhooks_service,
        committer=committer,
        billing=GuardedBilling(famsim.uow, famsim.billing(), famsim.bus.handle, famsim.now),
    )
    for module in (sessions, plans, families, people, lines, charging, nchf, webhooks, billing):
        app.include_router(module.router)
    web.install(app)
    return app


class _Api(FastAPI):
    """FastAPI, with the charging requests of gateways answered first by a lean path
    (:func:`famsim.entrypoints.http.routes.charging.fast_charge`)."""

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            kind = charging.FAST_PATHS.get(scope["path"])
            if kind is not None:
                await charging.fast_charge(kind, self, scope, receive, send, super().__call__)
                return
        await super().__call__(scope, receive, send)


def _shared_database(famsim: App) -> bool:
    """Whether another process opening the same settings sees the same database (not
    an in-memory SQLite)."""
    url = famsim.engine.url
    return url.get_backend_name() != "sqlite" or url.database not in (None, "", ":memory:")


def _once(make: Callable[[], T]) -> Callable[[], T]:
    """*make* called on first use only (the eSIM service reads the SM-DP+'s inventory)."""
    made: list[T] = []
    lock = threading.Lock()

    def get() -> T:
        with lock:
            if not made:
                made.append(make())
            return made[0]

    return get


class _Committer:
    """The group committer of the charging routes, started on first use (or, in a child
    process, with the server) and stopped with the server (a test client may start and
    stop the app many times)."""

    def __init__(self, famsim: App, child_process: bool) -> None:
        self._famsim = famsim
        self._child_process = child_process
        self._lock = threading.Lock()
        self._running: GroupCommitter | ChargingProcess | None = None
        self.figures = ChargingFigures()

    def start(self) -> GroupCommitter | ChargingProcess:
        with self._lock:
            if self._running is None:
                self._running = (
                    ChargingProcess(self._famsim.settings)
                    if self._child_process
                    else GroupCommitter(self._famsim.charging)
                )
            return self._running

    def submit(self, request: ChargingRequest) -> Future[ChargingAnswer]:
        future = self.start().submit(request)
        future.add_done_callback(self._count)
        return future

    def _count(self, future: Future[ChargingAnswer]) -> None:
        if not future.cancelled() and future.exception() is None:
            self.figures.record(future.result())

    def close(self) -> None:
        with self._lock:
            running, self._running = self._running, None
        if running is not None:
            running.close()
