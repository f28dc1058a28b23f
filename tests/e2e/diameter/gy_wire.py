"""A gateway's side of Diameter for the Gy tests (not a test module): one TCP connection,
requests encoded and answers parsed by python-diameter's message classes (not its node),
so the tests see exactly the bytes the server sent."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from diameter.message import Message
from diameter.message.commands import CapabilitiesExchangeRequest, CreditControlRequest

from famsim.bootstrap import App, bootstrap
from famsim.config import Settings
from famsim.demo import create_demo_family
from famsim.service.commands import LoadPlans

GATEWAY = "pgw1.gw.test"
REALM = "famsim.test"


def demo_famsim(
    directory: Path,
    *,
    origin_host: str,
    peers: str,
    now: Callable[[], datetime] | None = None,
) -> tuple[App, str]:
    """A migrated SQLite famsim in *directory* with the catalog and the demo family (its
    id returned too), answering Gy as *origin_host* in :data:`REALM` to *peers*."""
    app = bootstrap(
        Settings(
            database_url=f"sqlite:///{directory}/gy.db",
            data_dir=directory,
            gy_origin_host=origin_host,
            gy_origin_realm=REALM,
            gy_peers=peers,
        ),
        now=now,
    )
    app.initialise()
    app.bus.handle(LoadPlans(tuple(app.read_catalog())))
    return app, create_demo_family(app.bus)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Gateway:
    """One Diameter connection: send a request, read its answer."""

    def __init__(self, port: int, origin_host: str = GATEWAY) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.origin_host = origin_host
        self._ids = itertools.count(1)

    def exchange(self, message: Any, *, retransmit_of: Any = None) -> Any:
        if retransmit_of is None:
            n = next(self._ids)
            message.header.hop_by_hop_identifier = n
            message.header.end_to_end_identifier = 0x1000 + n
        else:
            message.header.hop_by_hop_identifier = retransmit_of.header.hop_by_hop_identifier
            message.header.end_to_end_identifier = retransmit_of.header.end_to_end_identifier
            message.header.is_retransmit = True
        self.sock.sendall(message.as_bytes())
        return self.read()

    def read(self) -> Any:
        head = self._exactly(4)
        length = int.from_bytes(head[1:4], "big")
        return Message.from_bytes(head + self._exactly(length - 4))

    def _exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("the server closed the connection")
            data += chunk
        return data

    def cer(self) -> Any:
        cer = CapabilitiesExchangeRequest()
        cer.origin_host = self.origin_host.encode()
        cer.origin_realm = b"gw.test"
        cer.host_ip_address = ["127.0.0.1"]
        cer.vendor_id = 10415
        cer.product_name = "famsim-tests"
        cer.auth_application_id = [4]
        cer.supported_vendor_id = [10415]
        return self.exchange(cer)

    def close(self) -> None:
        self.sock.close()


def ccr(
    session: str,
    cc_type: int,
    number: int,
    subscriber: str,
    *msccs: dict[str, Any],
    context: str = "32251@3gpp.org",
    **fields: Any,
) -> Any:
    message = CreditControlRequest()
    message.header.application_id = 4
    message.session_id = session
    message.origin_host = GATEWAY.encode()
    message.origin_realm = b"gw.test"
    message.destination_realm = REALM.encode()
    message.service_context_id = context
    message.cc_request_type = cc_type
    message.cc_request_number = number
    message.add_subscription_id(0, subscriber)
    for mscc in msccs:
        message.add_multiple_services_credit_control(**mscc)
    for name, value in fields.items():
        setattr(message, name, value)
    return message
