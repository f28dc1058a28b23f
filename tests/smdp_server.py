"""A built-in SM-DP+ served by uvicorn on loopback, for tests (not a test module).

``served(asgi_app)`` serves any ASGI app on a free loopback port and yields its URL;
``serving(sqlite_url, data_dir)`` yields the base URL and the :class:`SmdpService`
behind it, with three ``phone-5g`` profiles (``iccid(0..2)``) in stock.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
