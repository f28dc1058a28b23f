"""``famsim gy serve``: the Diameter Gy credit-control server (see docs/diameter.md)."""

from __future__ import annotations

import sys
import threading
from typing import Annotated

import typer

from famsim.domain.errors import InvalidInput
from famsim.entrypoints.cli import render
from famsim.entrypoints.cli.common import opened
from famsim.entrypoints.http.gc_tuning import tune_gc_for_serving
from famsim.service.group_commit import SWITCH_INTERVAL

gy_app = typer.Typer(help="Diameter Gy online charging (RFC 4006) for the packet core.")


@gy_app.command("serve")
def gy_serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default FAMSIM_GY_HOST).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="TCP port (default FAMSIM_GY_PORT, 3868)."),
    ] = None,
) -> None:
    """Answer CCRs from the configured gateways (FAMSIM_GY_PEERS) until Ctrl-C."""
    with opened() as famsim:
        server = famsim.gy_server(host, port)
        settings = famsim.settings
        expirer = famsim.charging.scheduled_expiry(settings.expiry_every_seconds)

        def banner() -> None:  # once the port is ours, before any gateway is answered
            render.console.print(
                f"famsim Gy on {server.host}:{server.port} as {settings.gy_origin_host} "
                f"({settings.gy_origin_realm}), peers: {settings.gy_peers or '(none)'}"
                " - Ctrl-C stops"
            )

        try:
            try:
                server.start(announce=banner)
            except OSError as exc:  # an operator's mistake (port in use, address not here)
                raise InvalidInput(
                    f"cannot listen on {server.host}:{server.port}: {exc.strerror or exc}"
                ) from None
            tune_gc_for_serving()  # a full collection per batch was most of bench gy's p99
            sys.setswitchinterval(SWITCH_INTERVAL)
            expirer.start()  # units held by a gateway gone mid-session come back
            threading.Event().wait()
        except KeyboardInterrupt:
            render.console.print("stopping (DPR to the peers)")
        finally:
            expirer.stop()
            server.stop()
