"""A built-in SM-DP+ served by uvicorn on loopback, for tests (not a test module).

``served(asgi_app)`` serves any ASGI app on a free loopback port and yields its URL;
``serving(sqlite_url, data_dir)`` yields the base URL and the :class:`SmdpService`
behind it, with three ``phone-5g`` profiles (``iccid(0..2)``) in stock. ``Operator``
is an ASGI stand-in for the operator's HandleDownloadProgressInfo endpoint (records each
call, answers 503 to the first ``refuse_first`` and 204 after); ``wait_for`` polls with a
deadline that guards against a hang (never a timing assertion).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn

from famsim.adapters.smdp_http import create_smdp_app
from famsim.adapters.sql.smdp_store import SqlSmdpStore
from famsim.bootstrap import bootstrap
from famsim.config import Settings
from famsim.domain.identifiers import Eid, Iccid
from famsim.service.smdp import SmdpService

PHONE = Eid.from_body("890490320000300000000000000001"[:30])
OTHER = Eid.from_body("890490320000300000000000000002"[:30])


def iccid(n: int) -> Iccid:
    return Iccid.from_body(f"898520000123{n:06d}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def served(asgi_app: Any) -> Iterator[str]:
    """Serve *asgi_app* with uvicorn on a free loopback port; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(asgi_app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20  # a start-up guard, not a timing assertion
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def serving(database_url: str, data_dir: Path) -> Iterator[tuple[str, SmdpService]]:
    app = bootstrap(Settings(database_url=database_url, data_dir=data_dir))
    app.initialise()
    service = SmdpService(
        SqlSmdpStore(app.engine),
        "smdp.famsim.test",
        lambda: datetime.now(UTC),
        order_validity=timedelta(hours=1),
    )
    for n in range(3):
        service.run(lambda inv, _, n=n: inv.add(iccid(n), "phone-5g"))
    try:
        with served(create_smdp_app(service)) as base_url:
            yield base_url, service
    finally:
        app.close()


@dataclass
class Operator:
    """An ASGI operator endpoint: records each callback, refuses the first with 503."""

    refuse_first: int = 1
    received: list[tuple[str, dict[str, Any], str | None, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        with self.lock:
            answer = 503 if self.refuse_first > 0 else 204
            self.refuse_first -= 1
            self.received.append(
                (scope["path"], json.loads(body), headers.get("x-admin-protocol"), answer)
            )
        await send({"type": "http.response.start", "status": answer, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def calls(self) -> list[tuple[str, dict[str, Any], str | None, int]]:
        with self.lock:
            return list(self.received)


DEADLINE_S = 30.0


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, "timed out (a hang guard, not a timing check)"
        time.sleep(0.02)
