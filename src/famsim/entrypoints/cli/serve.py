"""``famsim serve``: the REST API (and its OpenAPI document) under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from famsim.entrypoints.cli import render
from famsim.entrypoints.cli.common import opened


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
) -> None:
    """Serve the REST API on /v1 (OpenAPI at /v1/openapi.json, docs at /v1/docs)."""
    import uvicorn  # only when serving

    from famsim.entrypoints.http.app import create_api
    from famsim.entrypoints.http.gc_tuning import tune_gc_for_serving

    with opened() as famsim:
        webhooks = famsim.webhooks()  # delivers alerts and events in the background
        render.console.print(
            f"famsim API on http://{host}:{port}/v1 (OpenAPI: /v1/openapi.json) - Ctrl-C stops"
        )
        webhooks.start()
        closer = famsim.billing().scheduled(famsim.settings.billing_every_minutes * 60.0)
        closer.start()  # cycles close into invoices while the server runs
        rebalancer = famsim.auto_rebalance().scheduled(
            famsim.settings.rebalance_every_minutes * 60.0
        )
        rebalancer.start()
        expirer = famsim.charging.scheduled_expiry(famsim.settings.expiry_every_seconds)
        expirer.start()  # units held by a gateway gone mid-session come back
        try:
            app = create_api(famsim, webhooks_service=webhooks, charging_process=True)
            tune_gc_for_serving()
            uvicorn.run(app, host=host, port=port, log_level="warning")
        finally:
            expirer.stop()
            rebalancer.stop()
            closer.stop()
            webhooks.stop()
