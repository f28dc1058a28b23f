"""Invitations (one-time code, explicit consent, identity checked), children added by a
guardian, identity summaries, and adults' consents to share their detail."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from famsim.domain.access import Scope
from famsim.domain.invitations import Invitation
from famsim.domain.kyc import DocumentType, KycData
from famsim.domain.members import Role
from famsim.entrypoints.http.deps import Caller, Svc
from famsim.entrypoints.http.problems import PROBLEM_RESPONSES
from famsim.service.access import check_in_family, check_scope

router = APIRouter(prefix="/v1", tags=["people"], responses=PROBLEM_RESPONSES)

Id = Annotated[str, Path(min_length=1, max_length=64)]


class IdentityIn(BaseModel):
    """Identity data (KYC): checked, then sealed at rest; never shown back in full."""

    legal_name: str = Field(min_length=1, max_length=100)
    date_of_birth: date
    document_type: DocumentType
    document_number: str = Field(min_length=1, max_length=32)

    def data(self) -> KycData:
        return KycData(
            self.legal_name, self.date_of_birth, self.document_type, self.document_number
        )


class InvitationIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: Literal["adult", "child"]
    channel: Literal["phone", "email"]
    address: str = Field(min_length=3, max_length=254, description="E.164 number or e-mail.")
    guardian_id: str | None = Field(default=None, min_length=1, max_length=64)


class InvitationOut(BaseModel):
    id: str
    family_id: str
    name: str
    role: str
    channel: str
    address: str
    status: str
    expires_at: datetime


class AcceptIn(BaseModel):
    code: str = Field(pattern=r"^[0-9]{6}$", description="The one-time code that was sent.")
    consent: bool = Field(description="The invitee agrees to join and to the owner's view.")
    identity: IdentityIn
    login: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class AcceptedOut(BaseModel):
    member_id: str
    account_id: str


class ChildIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    identity: IdentityIn


def _invitation(found: Invitation) -> InvitationOut:
    return InvitationOut(
        id=found.id,
        family_id=found.family_id,
        name=found.name,
        role=found.role.value,
        channel=found.channel.value,
        address=found.address,
        status=found.status.value,
        expires_at=found.expires_at,
    )


class OwnerIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    login: str = Field(min_length=3, max_length=254, description="E-mail or E.164 number.")
    password: str = Field(min_length=1, max_length=1024)
    identity: IdentityIn


class FamilyIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    plan: str = Field(min_length=1, max_length=64, description="A plan code of the catalog.")
    owner: OwnerIn
    time_zone: str | None = Field(default=None, max_length=64, description="IANA name.")


class OpenedOut(BaseModel):
    family_id: str
    owner_account_id: str


@router.post(
    "/families",
    status_code=201,
    summary="Open a family with its owner's account (operator keys with families:write)",
)
def open_family(body: FamilyIn, caller: Caller, svc: Svc) -> OpenedOut:
    check_scope(caller, Scope.FAMILIES_WRITE)
    family_id, account_id = svc.invitations.open_family(
        name=body.name,
        plan_code=body.plan,
        owner_name=body.owner.name,
        owner_kyc=body.owner.identity.data(),
        owner_login=body.owner.login,
        owner_password=body.owner.password,
        time_zone=body.time_zone,
    )
    return OpenedOut(family_id=family_id, owner_account_id=account_id)


@router.post(
    "/families/{family_id}/invitations",
    status_code=201,
    summary="Invite someone by phone or e-mail (a one-time code is sent)",
)
def invite(family_id: Id, body: InvitationIn, caller: Caller, svc: Svc) -> InvitationOut:
    check_in_family(caller, family_id, Scope.FAMILIES_READ)
    found = svc.invitations.invite(
        caller,
        name=body.name,
        role=Role(body.role),
        channel=body.channel,
        address=body.address,
        guardian_id=body.guardian_id,
    )
    return _invitation(found)


@router.get("/families/{family_id}/invitations", summary="The family's invitations")
def invitations(family_id: Id, caller: Caller, svc: Svc) -> list[InvitationOut]:
    check_in_family(caller, family_id, Scope.FAMILIES_READ)
    return [_invitation(i) for i in svc.invitations.invitations(caller)]


@router.post(
    "/invitations/{invitation_id}/accept",
    status_code=201,
    summary="Accept an invitation: the code, explicit consent, identity, a login",
)
def accept(invitation_id: Id, body: AcceptIn, svc: Svc) -> AcceptedOut:
    member_id, account_id = svc.invitations.accept(
        invitation_id,
        code=body.code,
        consent=body.consent,
        kyc=body.identity.data(),
        login=body.login,
        password=body.password,
    )
    return AcceptedOut(member_id=member_id, account_id=account_id)


@router.post("/families/{family_id}/children", status_code=201, summary="A guardian adds a child")
def add_child(family_id: Id, body: ChildIn, caller: Caller, svc: Svc) -> dict[str, str]:
    check_in_family(caller, family_id, Scope.FAMILIES_READ)
    member_id = svc.invitations.add_child(caller, name=body.name, kyc=body.identity.data())
    return {"member_id": member_id}


@router.get(
    "/families/{family_id}/members/{member_id}/identity",
    summary="A member's identity summary (the owner or the member; number's last 4 only)",
)
def identity(family_id: Id, member_id: Id, caller: Caller, svc: Svc) -> dict[str, Any]:
    check_in_family(caller, family_id, Scope.FAMILIES_READ)
    summary: dict[str, Any] = svc.invitations.kyc_summary(caller, member_id)
    return summary


@router.get("/me/consents", summary="Members the caller lets see its detail")
def my_consents(caller: Caller, svc: Svc) -> list[str]:
    grantees: list[str] = svc.invitations.consents(caller)
    return grantees


@router.put(
    "/me/consents/{member_id}",
    status_code=204,
    response_class=Response,
    summary="Let a member of the family see the caller's detail",
)
def grant(member_id: Id, caller: Caller, svc: Svc) -> Response:
    svc.invitations.grant_consent(caller, member_id)
    return Response(status_code=204)


@router.delete(
    "/me/consents/{member_id}",
    status_code=204,
    response_class=Response,
    summary="Take that back",
)
def revoke(member_id: Id, caller: Caller, svc: Svc) -> Response:
    svc.invitations.revoke_consent(caller, member_id)
    return Response(status_code=204)
