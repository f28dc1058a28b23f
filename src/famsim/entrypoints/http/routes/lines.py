"""Lines and subscriptions: order an eSIM line, its activation code and QR, device change."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from famsim.domain.plan import DeviceKind
from famsim.entrypoints.http.deps import Caller, Svc
from famsim.entrypoints.http.problems import PROBLEM_RESPONSES
from famsim.service.esim import Device, Ordered

router = APIRouter(prefix="/v1/families", tags=["lines"], responses=PROBLEM_RESPONSES)

FamilyId = Annotated[str, Path(min_length=1, max_length=64)]
IccidPath = Annotated[str, Path(pattern=r"^[0-9]{18,20}F?$", description="The SIM's ICCID.")]
QR_TYPES = {"svg": "image/svg+xml", "png": "image/png"}


class DeviceIn(BaseModel):
    profile_type: str = Field(min_length=1, max_length=64, description="eSIM profile type.")
    eid: str = Field(pattern=r"^[0-9]{32}$", description="The device's EID.")
    imei: str | None = Field(default=None, pattern=r"^[0-9]{14,16}$")
    device_kind: DeviceKind = DeviceKind.PHONE


class LineOrderIn(DeviceIn):
    member_id: str = Field(min_length=1, max_length=64)
    number: str | None = Field(
        default=None, pattern=r"^\+[1-9][0-9]{6,14}$", description="As picked from an offer."
    )
    offer_id: str | None = Field(default=None, min_length=1, max_length=64)
    data_only: bool = False


class OrderedOut(BaseModel):
    line_id: str
    subscription_id: str
    iccid: str
    number: str
    state: str
    activation_code: str | None = Field(description="LPA:1$... as the QR code holds it.")
    confirmation_code: str | None = Field(description="Give it to the user apart from the QR.")
    expires_at: datetime | None


class ActivationOut(BaseModel):
    activation_code: str
    confirmation_code_required: bool
    confirmation_code: str | None


def _ordered(ordered: Ordered) -> OrderedOut:
    return OrderedOut(
        line_id=ordered.line_id,
        subscription_id=ordered.subscription_id,
        iccid=str(ordered.iccid),
        number=ordered.msisdn.e164,
        state=ordered.state.value,
        activation_code=ordered.activation_code.qr_payload if ordered.activation_code else None,
        confirmation_code=ordered.confirmation_code,
        expires_at=ordered.expires_at,
    )


@router.post("/{family_id}/lines", status_code=201, summary="Order a new eSIM line (owner)")
def order_line(family_id: FamilyId, body: LineOrderIn, caller: Caller, svc: Svc) -> OrderedOut:
    ordered = svc.esim.order_line(
        caller,
        family_id,
        body.member_id,
        device=Device(body.device_kind, body.eid, body.imei),
        profile_type=body.profile_type,
        msisdn=body.number,
        offer_id=body.offer_id,
        data_only=body.data_only,
    )
    return _ordered(ordered)


@router.post(
    "/{family_id}/subscriptions/{iccid}/device-change",
    status_code=201,
    summary="Move a SIM to a new device; the old one works until the new one is installed",
)
def device_change(
    family_id: FamilyId, iccid: IccidPath, body: DeviceIn, caller: Caller, svc: Svc
) -> OrderedOut:
    ordered = svc.esim.change_device(
        caller,
        family_id,
        iccid,
        device=Device(body.device_kind, body.eid, body.imei),
        profile_type=body.profile_type,
    )
    return _ordered(ordered)


@router.get(
    "/{family_id}/subscriptions/{iccid}/activation-code",
    summary="An order's activation code and, apart, its confirmation code",
)
def activation_code(
    family_id: FamilyId, iccid: IccidPath, caller: Caller, svc: Svc
) -> ActivationOut:
    code, confirmation = svc.esim.activation(caller, family_id, iccid)
    return ActivationOut(
        activation_code=code.qr_payload,
        confirmation_code_required=code.confirmation_code_required,
        confirmation_code=confirmation,
    )


@router.get(
    "/{family_id}/subscriptions/{iccid}/qr.{kind}",
    response_class=Response,
    responses={
        200: {
            "content": {media: {"schema": {"type": "string"}} for media in QR_TYPES.values()},
            "description": "The QR code of the activation code (never the confirmation code).",
        }
    },
    summary="The activation code as a QR code (SVG or PNG, level M)",
)
def qr(
    family_id: FamilyId,
    iccid: IccidPath,
    kind: Literal["svg", "png"],
    caller: Caller,
    svc: Svc,
) -> Response:
    code, _ = svc.esim.activation(caller, family_id, iccid)
    return Response(svc.famsim.activation_qr(code.qr_payload, kind), media_type=QR_TYPES[kind])
