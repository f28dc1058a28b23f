"""``famsim esim``: order eSIM lines and devices, show them, their QR codes, device change."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from famsim.domain.errors import InvalidInput
from famsim.domain.esim.activation_code import ActivationCode
from famsim.domain.plan import DeviceKind
from famsim.entrypoints.cli import render
from famsim.entrypoints.cli.common import FamilyArg, JsonOption, family_id_of, opened
from famsim.service import views
from famsim.service.esim import Device, Ordered

esim_app = typer.Typer(
    help="eSIM lines and devices: order, show, qr, cancel, change-device, expire, receive.",
    no_args_is_help=True,
)

ProfileType = Annotated[
    str | None, typer.Option("--type", help="eSIM profile type from the stock, e.g. phone-5g.")
]
PhysicalSim = Annotated[
    str | None, typer.Option("--sim", help="ICCID of a physical SIM card from the stock.")
]
Eid = Annotated[str | None, typer.Option(help="The device's EID (32 digits) for an eSIM.")]
Imei = Annotated[str | None, typer.Option(help="The device's IMEI (15 digits).")]
Kind = Annotated[DeviceKind, typer.Option("--device", help="What the device is.")]
QrFile = Annotated[
    Path | None, typer.Option("--qr", help="Also write the QR code to this .svg or .png file.")
]
NoCode = Annotated[
    bool,
    typer.Option(
        "--no-confirmation-code",
        help="Do not protect the download with a confirmation code (not advised).",
    ),
]


@esim_app.command("order")
def esim_order(
    family: FamilyArg,
    member: Annotated[str, typer.Argument(help="Member id or exact name.")],
    profile_type: ProfileType = None,
    sim: PhysicalSim = None,
    eid: Eid = None,
    imei: Imei = None,
    device: Kind = DeviceKind.PHONE,
    number: Annotated[
        str | None, typer.Option(help="The new line's number, as offered (`famsim numbers offer`).")
    ] = None,
    offer: Annotated[str | None, typer.Option(help="The offer the number was picked from.")] = None,
    companion_of: Annotated[
        str | None,
        typer.Option(help="Add the device to this existing line (watch, tablet) instead."),
    ] = None,
    data_only: Annotated[bool, typer.Option(help="A line with data only.")] = False,
    no_confirmation_code: NoCode = False,
    qr: QrFile = None,
    as_json: JsonOption = False,
) -> None:
    """Order a new line for MEMBER (or a companion device on one of their lines)."""
    with opened() as famsim:
        family_id = family_id_of(famsim, family)
        service = famsim.esim()
        target = Device(device, eid, imei)
        if companion_of is not None:
            if number is not None or offer is not None:
                raise InvalidInput("a companion shares its line's number: leave --number out")
            ordered = service.order_companion(
                family_id,
                companion_of,
                device=target,
                profile_type=profile_type,
                physical_iccid=sim,
                with_confirmation_code=not no_confirmation_code,
                actor="operator:cli",
            )
        else:
            ordered = service.order_line(
                family_id,
                member,
                device=target,
                profile_type=profile_type,
                physical_iccid=sim,
                msisdn=number,
                offer_id=offer,
                data_only=data_only,
                with_confirmation_code=not no_confirmation_code,
                actor="operator:cli",
            )
        _write_qr(famsim, ordered.activation_code, qr)
    _print_ordered(ordered, qr, as_json)


@esim_app.command("change-device")
def esim_change_device(
    family: FamilyArg,
    iccid: Annotated[str, typer.Argument(help="ICCID of the SIM in the device being replaced.")],
    profile_type: ProfileType = None,
    sim: PhysicalSim = None,
    eid: Eid = None,
    imei: Imei = None,
    device: Kind = DeviceKind.PHONE,
    no_confirmation_code: NoCode = False,
    qr: QrFile = None,
    as_json: JsonOption = False,
) -> None:
    """Move a SIM to a new device; the old one works until the new one is installed."""
    with opened() as famsim:
        ordered = famsim.esim().change_device(
            family_id_of(famsim, family),
            iccid,
            device=Device(device, eid, imei),
            profile_type=profile_type,
            physical_iccid=sim,
            with_confirmation_code=not no_confirmation_code,
            actor="operator:cli",
        )
        _write_qr(famsim, ordered.activation_code, qr)
    _print_ordered(ordered, qr, as_json)


@esim_app.command("show")
def esim_show(
    family: FamilyArg,
    iccid: Annotated[
        str | None, typer.Argument(help="One SIM's ICCID: its details and history.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The family's lines and SIMs with their states (one SIM's history with ICCID)."""
    with opened() as famsim:
        family_id = family_id_of(famsim, family)
        detail = views.family_detail(famsim.uow(), family_id)
        with famsim.uow() as uow:
            history = views.esim_history(uow, family_id, iccid)
    rows = [
        {
            "number": line["msisdn"],
            "member": line["member"],
            "line": line["status"],
            **sub,
        }
        for line in detail["lines"]
        for sub in line["subscriptions"]
        if iccid is None or sub["iccid"] == iccid
    ]
    if iccid is not None and not rows:
        raise InvalidInput(f"no SIM with ICCID {iccid} in family {detail['name']!r}")
    if as_json:
        render.print_json({"subscriptions": rows, "history": history})
        return
    render.esim_table(rows)
    if iccid is not None:
        render.esim_history(history)


@esim_app.command("qr")
def esim_qr(
    family: FamilyArg,
    iccid: Annotated[str, typer.Argument(help="ICCID of an ordered eSIM.")],
    out: Annotated[Path, typer.Option("--out", help="Write the QR code here (.svg or .png).")],
) -> None:
    """Write an ordered eSIM's QR code again; print its confirmation code separately."""
    with opened() as famsim:
        family_id = family_id_of(famsim, family)
        code, confirmation = famsim.esim().activation(family_id, iccid)
        _write_qr(famsim, code, out)
    render.console.print(f"QR code of {code.text} written to {out}")
    if confirmation:
        render.console.print(f"confirmation code (give it separately): {confirmation}")


@esim_app.command("cancel")
def esim_cancel(
    family: FamilyArg,
    iccid: Annotated[str, typer.Argument(help="ICCID of an order not yet downloaded.")],
) -> None:
    """Cancel an order that no device has downloaded yet."""
    with opened() as famsim:
        progress = famsim.esim().cancel(family_id_of(famsim, family), iccid, actor="operator:cli")
    message = f"cancelled the order for {progress.subscription.iccid}"
    if progress.kept is not None:
        message += f"; the device change is off, {progress.kept.iccid} stays in service"
    if progress.closed_line is not None:
        message += f"; the new line {progress.closed_line.msisdn.display} is closed"
    render.console.print(message)


@esim_app.command("close-line")
def esim_close_line(
    family: FamilyArg,
    number: Annotated[str, typer.Argument(help="The line's number (E.164).")],
) -> None:
    """Close a line for good; its number returns to the pool after the quarantine."""
    with opened() as famsim:
        back = famsim.esim().close_line(family_id_of(famsim, family), number, actor="operator:cli")
    when = f"; the number is free again from {back:%Y-%m-%d %H:%M} UTC" if back else ""
    render.console.print(f"closed line {number}{when}")


@esim_app.command("expire")
def esim_expire() -> None:
    """Undo every order not downloaded by its deadline (run it regularly, e.g. from cron)."""
    with opened() as famsim:
        expired = famsim.esim().expire_orders()
    for family_id, iccid in expired:
        render.console.print(f"expired the order for {iccid} (family {family_id})")
    render.console.print(f"{len(expired)} order(s) expired")


@esim_app.command("receive")
def esim_receive(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8701,
) -> None:
    """Serve the SM-DP+'s progress callbacks (ES2+ HandleDownloadProgressInfo)."""
    import uvicorn  # only when serving

    with opened() as famsim:
        app = famsim.esim_receiver_app(famsim.esim())
        render.console.print(
            f"ES2+ callbacks on http://{host}:{port}/gsma/rsp2/es2plus/"
            "handleDownloadProgressInfo (Ctrl-C stops)"
        )
        uvicorn.run(app, host=host, port=port, log_level="warning")


def _write_qr(famsim: Any, code: ActivationCode | None, path: Path | None) -> None:
    if path is None or code is None:
        return
    kind = path.suffix.lower().lstrip(".")
    data = famsim.activation_qr(code.qr_payload, kind)
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}") from None


def _print_ordered(ordered: Ordered, qr: Path | None, as_json: bool) -> None:
    data = {
        "family_id": ordered.family_id,
        "line_id": ordered.line_id,
        "subscription_id": ordered.subscription_id,
        "iccid": str(ordered.iccid),
        "number": ordered.msisdn.e164,
        "state": ordered.state.value,
        "activation_code": ordered.activation_code.text if ordered.activation_code else None,
        "confirmation_code": ordered.confirmation_code,
        "expires_at": ordered.expires_at.isoformat() if ordered.expires_at else None,
        "qr": str(qr) if qr and ordered.activation_code else None,
    }
    if as_json:
        render.print_json(data)
        return
    render.ordered(data)
