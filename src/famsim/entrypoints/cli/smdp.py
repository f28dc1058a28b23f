"""``famsim smdp``: the built-in SM-DP+ (stock, import, list, serve), its simulated device
(``famsim smdp device ...``) and its outbox of HandleDownloadProgressInfo notifications
(``notifications``, ``deliver``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from famsim.bootstrap import App
from famsim.domain.errors import InvalidInput
from famsim.domain.esim.activation_code import ActivationCode
from famsim.domain.esim.profile_state import InvalidStateTransition
from famsim.domain.esim.smdp import (
    AlreadyStocked,
    SmdpInventory,
    SmdpProfile,
    SmdpRefusal,
    consecutive_iccids,
)
from famsim.domain.identifiers import Eid, Iccid
from famsim.entrypoints.cli import render
from famsim.entrypoints.cli.common import JsonOption, opened
from famsim.service.smdp import SmdpService

# --------------------------------------------------------------------------- smdp
smdp_app = typer.Typer(
    help="The built-in SM-DP+ (ES2+ simulator): stock, list, serve.", no_args_is_help=True
)


@smdp_app.command("stock")
def smdp_stock(
    profile_type: Annotated[str, typer.Option("--type", help="Profile type, e.g. phone-5g.")],
    first_iccid: Annotated[str, typer.Option(help="ICCID of the first profile.")],
    count: Annotated[int, typer.Option(min=1, max=100_000, help="How many profiles.")] = 1,
) -> None:
    """Add COUNT profiles of a type, with consecutive ICCIDs from FIRST_ICCID, all or none."""
    iccids = consecutive_iccids(Iccid.parse(first_iccid), count)
    with opened() as famsim:
        famsim.smdp().run(
            lambda inventory, _: inventory.add_all([(i, profile_type) for i in iccids])
        )
    render.console.print(
        f"added {count} {profile_type.strip()} profile(s): {iccids[0]} .. {iccids[-1]}"
    )


@smdp_app.command("import")
def smdp_import(
    path: Annotated[Path, typer.Argument(help="CSV with columns iccid and profile_type.")],
) -> None:
    """Add the profiles of an inventory file: every row is checked first, all or none."""
    with opened() as famsim:
        rows = famsim.read_profile_file(path)
        stock = [(iccid, profile_type) for iccid, profile_type, _ in rows]
        try:
            famsim.smdp().run(lambda inventory, _: inventory.add_all(stock))
        except AlreadyStocked as exc:
            raise InvalidInput(f"{path}: line {rows[exc.position][2]}: {exc}") from None
    kinds = Counter(profile_type for _, profile_type, _ in rows)
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    render.console.print(f"imported {len(rows)} profile(s) from {path}: {summary}")


@smdp_app.command("list")
def smdp_list(as_json: JsonOption = False) -> None:
    """Profiles of the built-in SM-DP+ by type and state."""
    with opened() as famsim:
        counts = famsim.smdp().run(
            lambda inventory, _: Counter(
                (p.profile_type, p.state.value) for p in inventory.profiles.values()
            )
        )
    rows = [
        {"profile_type": kind, "state": state, "profiles": n}
        for (kind, state), n in sorted(counts.items())
    ]
    if as_json:
        render.print_json(rows)
        return
    render.smdp_inventory(rows)


@smdp_app.command("serve")
def smdp_serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8700,
) -> None:
    """Serve ES2+ (plain HTTP: put TLS in front, or keep it on loopback)."""
    import uvicorn  # only when serving

    with opened() as famsim:
        service = famsim.smdp()
        sender = famsim.smdp_sender(service)  # only with FAMSIM_SMDP_NOTIFY_URL
        render.console.print(
            f"famsim SM-DP+ {service.smdp_address}: ES2+ on http://{host}:{port}"
            "/gsma/rsp2/es2plus/, the simulated device on /simulator/device/ (Ctrl-C stops)"
        )
        render.console.print(
            f"progress notifications to {famsim.settings.smdp_notify_url}"
            if sender is not None
            else "progress notifications stay pending: FAMSIM_SMDP_NOTIFY_URL is not set"
        )
        if sender is not None:
            sender.start()
        try:
            uvicorn.run(famsim.smdp_http_app(service), host=host, port=port, log_level="warning")
        finally:
            if sender is not None:
                sender.stop()


# --------------------------------------------------------------------------- smdp device
device_app = typer.Typer(
    help="Play the device: download, install, reject, fail, enable, disable, delete.",
    no_args_is_help=True,
)
smdp_app.add_typer(device_app, name="device")

IccidArg = Annotated[str, typer.Argument(help="ICCID of the profile.")]


def _device_step(step: Callable[[SmdpInventory, datetime], SmdpProfile]) -> None:
    """Run one device step on the built-in SM-DP+ and print where the profile is now."""
    with opened() as famsim:
        service = famsim.smdp()
        try:
            profile = service.run(step)
        except (SmdpRefusal, InvalidStateTransition) as exc:
            code = f"{exc.status.subject_code}/{exc.status.reason_code}"
            raise SmdpRefusal(exc.status, f"{exc} (ES2+ {code})") from None
        finally:
            _tell_operator(famsim, service)
    render.console.print(f"{profile.iccid}: {profile.state.value}")


def _tell_operator(famsim: App, service: SmdpService) -> None:
    """Send the step's progress notifications now, where there is somewhere to send them
    (famsim itself when it orders from this built-in SM-DP+); undelivered ones stay in
    the outbox for `famsim smdp deliver` or a serving SM-DP+."""
    sender = famsim.smdp_sender(service)
    if sender is None:
        return
    for result in sender.deliver_due():
        if not result.delivered:
            render.console.print(
                f"progress notification for {result.iccid} not delivered yet: {result.error}"
            )


@device_app.command("download")
def device_download(
    activation_code: Annotated[
        str, typer.Option(help="The activation code, as scanned (LPA:1$...) or typed.")
    ],
    eid: Annotated[str, typer.Option(help="The device's EID (32 digits).")],
    confirmation_code: Annotated[
        str | None, typer.Option(help="The confirmation code, if the order has one.")
    ] = None,
) -> None:
    """Download the profile of an activation code onto a device."""
    code = ActivationCode.parse(activation_code)
    device = Eid.parse(eid)
    _device_step(
        lambda inventory, now: inventory.download_code(
            now=now, activation_code=code, eid=device, confirmation_code=confirmation_code
        )
    )


@device_app.command("install")
def device_install(iccid: IccidArg) -> None:
    """Install a downloaded profile."""
    profile = Iccid.parse(iccid)
    _device_step(lambda inventory, now: inventory.install(now=now, iccid=profile))


@device_app.command("reject")
def device_reject(iccid: IccidArg) -> None:
    """The end user declines the profile (it goes to Error)."""
    profile = Iccid.parse(iccid)
    _device_step(lambda inventory, now: inventory.reject(now=now, iccid=profile))


@device_app.command("fail")
def device_fail(iccid: IccidArg) -> None:
    """The download or the installation fails on the device (the profile goes to Error)."""
    profile = Iccid.parse(iccid)
    _device_step(lambda inventory, now: inventory.fail(now=now, iccid=profile))


@device_app.command("enable")
def device_enable(iccid: IccidArg) -> None:
    """Enable an installed profile on its device."""
    profile = Iccid.parse(iccid)
    _device_step(lambda inventory, now: inventory.enable(now=now, iccid=profile))


@device_app.command("disable")
def device_disable(iccid: IccidArg) -> None:
    """Disable an enabled profile on its device."""
    profile = Iccid.parse(iccid)
    _device_step(lambda inventory, now: inventory.disable(now=now, iccid=profile))


@device_app.command("delete")
def device_delete(iccid: IccidArg) -> None:
    """Delete an installed profile from its device (it cannot be enabled again)."""
    profile = Iccid.parse(iccid)
    _device_step(lambda inventory, now: inventory.delete(now=now, iccid=profile))


# --------------------------------------------------------------------------- the outbox
def _when(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


@smdp_app.command("notifications")
def smdp_notifications(
    pending: Annotated[bool, typer.Option("--pending", help="Only undelivered ones.")] = False,
    as_json: JsonOption = False,
) -> None:
    """HandleDownloadProgressInfo notifications for the operator: pending and delivered."""
    with opened() as famsim:
        stored = famsim.smdp().notifications(pending_only=pending)
    rows: list[dict[str, Any]] = [
        {
            "id": n.id,
            "iccid": str(n.iccid),
            "point": n.point,
            "status": n.body["notificationPointStatus"]["status"],
            "function_call_id": n.function_call_id,
            "created_at": _when(n.created_at),
            "attempts": n.attempts,
            "delivered_at": _when(n.delivered_at),
            "next_attempt_at": None if n.delivered_at else _when(n.next_attempt_at),
            "last_error": n.last_error,
        }
        for n in stored
    ]
    if as_json:
        render.print_json(rows)
        return
    for row in rows:
        where = (
            f"delivered {row['delivered_at']}"
            if row["delivered_at"]
            else f"pending, next attempt {row['next_attempt_at']}"
        )
        error = f" (last error: {row['last_error']})" if row["last_error"] else ""
        render.console.print(
            f"#{row['id']} {row['iccid']} point {row['point']} {row['status']}: "
            f"{where}, {row['attempts']} attempt(s){error}",
            highlight=False,
            markup=False,
        )
    if not rows:
        render.console.print("No notifications.")


@smdp_app.command("deliver")
def smdp_deliver(as_json: JsonOption = False) -> None:
    """Send the notifications that are due once, to FAMSIM_SMDP_NOTIFY_URL."""
    with opened() as famsim:
        sender = famsim.smdp_sender(famsim.smdp())
        if sender is None:
            raise InvalidInput(
                "nowhere to deliver: set FAMSIM_SMDP_NOTIFY_URL to the operator's ES2+ URL"
            )
        results = sender.deliver_due()
    rows = [
        {
            "id": r.id,
            "iccid": str(r.iccid),
            "point": r.point,
            "function_call_id": r.function_call_id,
            "delivered": r.delivered,
            "attempts": r.attempts,
            "error": r.error,
            "next_attempt_at": _when(r.next_attempt_at),
        }
        for r in results
    ]
    if as_json:
        render.print_json(rows)
        return
    for row in rows:
        outcome = (
            "delivered"
            if row["delivered"]
            else f"failed ({row['error']}), next attempt {row['next_attempt_at']}"
        )
        render.console.print(
            f"#{row['id']} {row['iccid']} point {row['point']}: {outcome}",
            highlight=False,
            markup=False,
        )
    delivered = sum(1 for row in rows if row["delivered"])
    render.console.print(f"{delivered} of {len(rows)} due notification(s) delivered")
