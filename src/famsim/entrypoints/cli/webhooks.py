"""``famsim webhooks``: the operator's webhook endpoints (add, list, disable) and a one-off
fan-out and delivery of the outbox (``deliver``).

The command line acts as the operator on this machine: it holds the database, so it
gets the webhooks scope (the HTTP API asks for an API key with that scope instead).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from famsim.domain.access import Principal, Scope
from famsim.domain.webhooks import ALL_KINDS, EVENT_KINDS, WebhookEndpoint
from famsim.entrypoints.cli import render
from famsim.entrypoints.cli.common import JsonOption, opened

CLI_OPERATOR = Principal.staff("cli", frozenset({Scope.WEBHOOKS}))

webhooks_app = typer.Typer(
    help="Webhook endpoints that receive signed events (threshold alerts, eSIM changes).",
    no_args_is_help=True,
)


def _when(at: datetime | None) -> str | None:
    return at.isoformat(timespec="seconds") if at else None


def _row(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "kinds": list(endpoint.kinds),
        "created_at": _when(endpoint.created_at),
        "disabled_at": _when(endpoint.disabled_at),
        "active": endpoint.active,
    }


@webhooks_app.command("add")
def webhooks_add(
    url: Annotated[str, typer.Argument(help="https URL (plain http only on loopback).")],
    kinds: Annotated[
        list[str],
        typer.Option(
            "--kind",
            help=f"Event kind to send: {', '.join(EVENT_KINDS)} or {ALL_KINDS} (repeatable).",
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Register an endpoint; prints its signing secret, which is never shown again."""
    with opened() as famsim:
        endpoint, secret = famsim.webhooks().register(CLI_OPERATOR, url, kinds)
    if as_json:
        render.print_json({**_row(endpoint), "secret": secret})
        return
    out = render.console
    out.print(f"webhook {endpoint.id} -> {endpoint.url}", highlight=False, markup=False)
    out.print(f"kinds: {', '.join(endpoint.kinds)}", highlight=False, markup=False)
    out.print(f"signing secret: {secret}", highlight=False, markup=False, soft_wrap=True)
    out.print("Keep the secret now: it is stored sealed and not shown again.")


@webhooks_app.command("list")
def webhooks_list(as_json: JsonOption = False) -> None:
    """Every endpoint, active and disabled (secrets are never shown)."""
    with opened() as famsim:
        rows = [_row(e) for e in famsim.webhooks().endpoints(CLI_OPERATOR)]
    if as_json:
        render.print_json(rows)
        return
    for row in rows:
        state = "active" if row["active"] else f"disabled {row['disabled_at']}"
        render.console.print(
            f"{row['id']} {row['url']} [{', '.join(row['kinds'])}] {state}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if not rows:
        render.console.print("No webhook endpoints.")


@webhooks_app.command("disable")
def webhooks_disable(
    endpoint_id: Annotated[str, typer.Argument(metavar="ID", help="The endpoint's id.")],
) -> None:
    """Stop sending to an endpoint (pending retries stop too; it stays listed)."""
    with opened() as famsim:
        endpoint = famsim.webhooks().disable(CLI_OPERATOR, endpoint_id)
    render.console.print(
        f"webhook {endpoint.id} disabled ({endpoint.url})", highlight=False, markup=False
    )


@webhooks_app.command("deliver")
def webhooks_deliver(as_json: JsonOption = False) -> None:
    """Fan out new outbox events to the endpoints and send what is due, once."""
    with opened() as famsim:
        service = famsim.webhooks()
        made = service.dispatch()
        results = service.deliver_due()
    rows = [
        {
            "delivery_id": r.delivery_id,
            "endpoint_id": r.endpoint_id,
            "event_id": r.event_id,
            "kind": r.kind,
            "idempotency_key": r.idempotency_key,
            "delivered": r.delivered,
            "attempts": r.attempts,
            "status": r.status,
            "error": r.error,
            "next_attempt_at": _when(r.next_attempt_at),
        }
        for r in results
    ]
    if as_json:
        render.print_json({"dispatched": made, "attempts": rows})
        return
    render.console.print(f"{made} new delivery(ies) from the outbox")
    for row in rows:
        outcome = (
            f"delivered (HTTP {row['status']})"
            if row["delivered"]
            else f"failed: {row['error']}; next attempt {row['next_attempt_at']}"
        )
        render.console.print(
            f"#{row['delivery_id']} event {row['event_id']} {row['kind']} -> "
            f"{row['endpoint_id']}: {outcome} after {row['attempts']} attempt(s)",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if not rows:
        render.console.print("Nothing due.")
