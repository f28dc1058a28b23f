"""Lines and devices: QR codes to scan, new lines, the device-change wizard, and the
hotspot and roaming switches."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from famsim.domain.access import Principal
from famsim.domain.errors import FamsimError, Forbidden
from famsim.domain.esim.stock import StockState
from famsim.entrypoints.web import forms, render, session
from famsim.entrypoints.web.pages.common import DEVICE_KINDS, device, family_page, flash, manages
from famsim.service import inventory

router = APIRouter(prefix="/app/families/{family_id}", include_in_schema=False)
FamilyId = Annotated[str, Path(min_length=1, max_length=64)]
MemberId = Annotated[str, Path(min_length=1, max_length=64)]
IccidPath = Annotated[str, Path(min_length=18, max_length=22, pattern=r"^[0-9]+F?$")]


@router.get("/lines")
async def lines(request: Request, family_id: FamilyId) -> Response:
    viewer = await session.required(request)
    return await run_in_threadpool(_lines_page, request, viewer, family_id, {}, 200)


def _lines_page(
    request: Request, viewer: Principal, family_id: str, order: dict[str, Any], status: int
) -> Response:
    svc = session.svc(request)
    family = svc.reads.family(viewer, family_id)
    owner = manages(viewer, family)
    text = render.text_of(request)
    context = {
        "section": "lines",
        "manages": owner,
        "profile_types": _profile_types(svc.famsim.uow) if owner else [],
        "device_kinds": DEVICE_KINDS,
        "order": order,
        "flash_text": flash(request, {"switches": text("Hotspot and roaming saved.")}),
    }
    return family_page(request, "lines.html", family, context, status)


def _profile_types(uow: Any) -> list[str]:
    """eSIM profile types the operator has in stock to order."""
    return sorted(
        {
            str(row["profile_type"])
            for row in inventory.sim_counts(uow)
            if row["profile_type"] and row["state"] == StockState.FREE.value and row["sims"]
        }
    )


@router.post("/lines")
async def order_line(
    request: Request,
    family_id: FamilyId,
    member: Annotated[str, Form(max_length=64)],
    device_kind: Annotated[str, Form(max_length=16)],
    profile_type: Annotated[str, Form(max_length=64)],
    eid: Annotated[str, Form(max_length=64)],
    imei: Annotated[str, Form(max_length=32)] = "",
    data_only: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    viewer = await session.posting(request)
    svc = session.svc(request)
    typed = {
        "member": member,
        "device_kind": device_kind,
        "profile_type": profile_type,
        "eid": eid,
        "imei": imei,
    }
    try:
        ordered = await run_in_threadpool(
            lambda: svc.esim.order_line(
                viewer,
                family_id,
                member,
                device=device(device_kind, eid, imei),
                profile_type=profile_type,
                msisdn=None,
                offer_id=None,
                data_only=data_only == "on",
            )
        )
    except Forbidden:
        raise
    except FamsimError as exc:
        typed["error"] = str(exc)
        return await run_in_threadpool(_lines_page, request, viewer, family_id, typed, 422)
    return RedirectResponse(
        f"/app/families/{family_id}/lines/{ordered.iccid}/activation", status_code=303
    )


@router.get("/lines/{iccid}/activation")
async def activation(request: Request, family_id: FamilyId, iccid: IccidPath) -> Response:
    """Step 2 of a new line or a device change: the QR to scan, the confirmation code
    apart, and where the SIM is (refreshed live until it is on the device)."""
    return await _activation(request, family_id, iccid, "activation.html")


@router.get("/lines/{iccid}/status")
async def activation_status(request: Request, family_id: FamilyId, iccid: IccidPath) -> Response:
    return await _activation(request, family_id, iccid, "_activation_status.html")


async def _activation(request: Request, family_id: str, iccid: str, template: str) -> Response:
    viewer = await session.required(request)
    svc = session.svc(request)
    found = await run_in_threadpool(_subscription, svc, viewer, family_id, iccid)
    code = confirmation = None
    if found["device"]["state"] == "released":
        activation_code, confirmation = await run_in_threadpool(
            svc.esim.activation, viewer, family_id, iccid
        )
        code = activation_code.qr_payload
    context = {
        "family_id": family_id,
        "section": "lines",
        "line": found["line"],
        "device": found["device"],
        "activation_code": code,
        "confirmation_code": confirmation,
    }
    return render.page(request, template, context)


def _subscription(svc: Any, viewer: Principal, family_id: str, iccid: str) -> dict[str, Any]:
    """The SIM and its line as the viewer may see them (Forbidden otherwise)."""
    family = svc.reads.family(viewer, family_id)
    for member in family["members"]:
        for line in member.get("lines", []):
            for sim in line["devices"]:
                if sim["iccid"] == iccid:
                    return {"line": line | {"member": member["name"]}, "device": sim}
    raise Forbidden("this SIM is not on a line you may see")


@router.get("/lines/{iccid}/qr.svg")
async def qr(request: Request, family_id: FamilyId, iccid: IccidPath) -> Response:
    viewer = await session.required(request)
    svc = session.svc(request)
    code, _ = await run_in_threadpool(svc.esim.activation, viewer, family_id, iccid)
    image = svc.famsim.activation_qr(code.qr_payload, "svg")
    return Response(image, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


@router.get("/lines/{iccid}/change-device")
async def change_device_page(request: Request, family_id: FamilyId, iccid: IccidPath) -> Response:
    """Step 1 of the device change: the new device."""
    viewer = await session.required(request)
    svc = session.svc(request)
    found = await run_in_threadpool(_subscription, svc, viewer, family_id, iccid)
    return _change_form(request, family_id, found, {}, None, 200)


def _change_form(
    request: Request,
    family_id: str,
    found: dict[str, Any],
    typed: dict[str, str],
    error: str | None,
    status: int,
) -> Response:
    svc = session.svc(request)
    context = {
        "family_id": family_id,
        "section": "lines",
        "line": found["line"],
        "device": found["device"],
        "typed": typed,
        "error": error,
        "device_kinds": DEVICE_KINDS,
        "profile_types": _profile_types(svc.famsim.uow),
    }
    return render.page(request, "change_device.html", context, status_code=status)


@router.post("/lines/{iccid}/change-device")
async def change_device(
    request: Request,
    family_id: FamilyId,
    iccid: IccidPath,
    device_kind: Annotated[str, Form(max_length=16)],
    profile_type: Annotated[str, Form(max_length=64)],
    eid: Annotated[str, Form(max_length=64)],
    imei: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    viewer = await session.posting(request)
    svc = session.svc(request)
    typed = {"device_kind": device_kind, "profile_type": profile_type, "eid": eid, "imei": imei}
    try:
        ordered = await run_in_threadpool(
            lambda: svc.esim.change_device(
                viewer,
                family_id,
                iccid,
                device=device(device_kind, eid, imei),
                profile_type=profile_type,
            )
        )
    except Forbidden:
        raise
    except FamsimError as exc:
        found = await run_in_threadpool(_subscription, svc, viewer, family_id, iccid)
        return _change_form(request, family_id, found, typed, str(exc), 422)
    return RedirectResponse(
        f"/app/families/{family_id}/lines/{ordered.iccid}/activation", status_code=303
    )


@router.post("/members/{member_id}/switches")
async def switches(
    request: Request,
    family_id: FamilyId,
    member_id: MemberId,
    hotspot_quota: Annotated[str, Form(max_length=32)] = "",
    roaming: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """The hotspot quota and the roaming switch, the rest of the allocation unchanged."""
    viewer = await session.posting(request)
    svc = session.svc(request)
    editing = await run_in_threadpool(svc.writes.allocation, viewer, family_id, member_id)
    values = forms.values_of(editing["allocation"], editing["pools"])
    values |= {"hotspot-quota": hotspot_quota.strip(), "roaming": roaming}
    form = forms.read(
        values,
        family_id=family_id,
        member_id=editing["member"]["id"],
        pools=editing["pools"],
        currency=editing["family"]["currency"],
        text=render.text_of(request),
    )
    if form.command is None:
        message = form.errors.get("hotspot-quota") or next(iter(form.errors.values()))
        text = render.text_of(request)
        return render.page(
            request,
            "error.html",
            {
                "heading": text("The hotspot quota was not saved"),
                "message": message,
                "family_id": family_id,
                "back": f"/app/families/{family_id}/lines",
            },
            status_code=422,
        )
    await run_in_threadpool(
        svc.writes.set_allocation, viewer, form.command, money_cap_minor=form.money_cap_minor
    )
    return RedirectResponse(f"/app/families/{family_id}/lines?done=switches", status_code=303)
