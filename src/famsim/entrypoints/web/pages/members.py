"""Members: who is in the family, the allocation editor, invitations, sharing consent."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from famsim.domain.access import Principal
from famsim.domain.errors import FamsimError, Forbidden
from famsim.domain.members import Role
from famsim.entrypoints.web import forms, render, session
from famsim.entrypoints.web.pages.common import drawing, family_page, flash, manages

router = APIRouter(prefix="/app/families/{family_id}", include_in_schema=False)
FamilyId = Annotated[str, Path(min_length=1, max_length=64)]
MemberId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/members")
async def members(request: Request, family_id: FamilyId) -> Response:
    viewer = await session.required(request)
    return await run_in_threadpool(_members_page, request, viewer, family_id, {}, 200)


def _members_page(
    request: Request,
    viewer: Principal,
    family_id: str,
    invite: dict[str, Any],
    status: int,
) -> Response:
    svc = session.svc(request)
    family = svc.reads.family(viewer, family_id)
    me = next((m for m in family["members"] if m["id"] == viewer.member_id), None)
    invitations = svc.invitations.invitations(viewer) if me and me["role"] != "child" else []
    shared_with = set(svc.invitations.consents(viewer)) if me and me["role"] != "child" else set()
    text = render.text_of(request)
    done = {
        "allocation": text("Allocation saved."),
        "invited": text("Invitation sent: the code went to the address you gave."),
        "shared": text("Sharing updated."),
    }
    context = {
        "section": "members",
        "manages": manages(viewer, family),
        "me": me,
        "invitations": invitations,
        "shared_with": shared_with,
        "invite": invite,
        "flash_text": flash(request, done),
    }
    return family_page(request, "members.html", family, context, status)


@router.get("/members/{member_id}")
async def member(request: Request, family_id: FamilyId, member_id: MemberId) -> Response:
    viewer = await session.required(request)
    dashboard = request.app.state.dashboard
    found = await run_in_threadpool(dashboard.member, viewer, family_id, member_id)
    family = found["family"]
    text, fmt = render.text_of(request), render.formatter_of(request, family["time_zone"])
    context = {
        "family": family,
        "member": found["member"],
        "family_id": family_id,
        "section": "members",
    } | drawing(family, text, fmt)
    return render.page(request, "member.html", context, time_zone=family["time_zone"])


@router.get("/members/{member_id}/allocation")
async def allocation_page(request: Request, family_id: FamilyId, member_id: MemberId) -> Response:
    viewer = await session.required(request)
    svc = session.svc(request)
    editing = await run_in_threadpool(svc.writes.allocation, viewer, family_id, member_id)
    values = forms.values_of(editing["allocation"], editing["pools"])
    return _allocation_form(request, family_id, editing, values, {}, None, 200)


@router.post("/members/{member_id}/allocation")
async def save_allocation(request: Request, family_id: FamilyId, member_id: MemberId) -> Response:
    viewer = await session.posting(request)
    svc = session.svc(request)
    editing = await run_in_threadpool(svc.writes.allocation, viewer, family_id, member_id)
    posted = await request.form()
    form = forms.read(
        {k: v for k, v in posted.items() if isinstance(v, str)},
        family_id=family_id,
        member_id=editing["member"]["id"],
        pools=editing["pools"],
        currency=editing["family"]["currency"],
        text=render.text_of(request),
    )
    if form.command is None:
        return _allocation_form(request, family_id, editing, form.values, form.errors, None, 422)
    try:
        await run_in_threadpool(
            svc.writes.set_allocation, viewer, form.command, money_cap_minor=form.money_cap_minor
        )
    except Forbidden:
        raise
    except FamsimError as exc:  # a family rule (e.g. quotas beyond the pool)
        return _allocation_form(request, family_id, editing, form.values, {}, str(exc), 422)
    return RedirectResponse(f"/app/families/{family_id}/members?done=allocation", status_code=303)


def _allocation_form(
    request: Request,
    family_id: str,
    editing: dict[str, Any],
    values: dict[str, str],
    errors: dict[str, str],
    problem: str | None,
    status: int,
) -> Response:
    context = {
        "family_id": family_id,
        "section": "members",
        "editing": editing,
        "values": values,
        "errors": errors,
        "problem": problem,
        "field_id": forms.field_id,
        "actions": forms.EXHAUSTION_ACTIONS,
    }
    return render.page(request, "allocation.html", context, status_code=status)


@router.post("/invitations")
async def invite(
    request: Request,
    family_id: FamilyId,
    name: Annotated[str, Form(max_length=100)],
    role: Annotated[str, Form(max_length=10)],
    channel: Annotated[str, Form(max_length=10)],
    address: Annotated[str, Form(max_length=254)],
    guardian: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    viewer = await session.posting(request)
    svc = session.svc(request)
    typed = {"name": name, "role": role, "channel": channel, "address": address}
    try:
        if viewer.family_id != family_id:
            raise Forbidden("invitations are sent by the family's own members")
        await run_in_threadpool(
            lambda: svc.invitations.invite(
                viewer,
                name=name.strip(),
                role=Role(role) if role in ("adult", "child") else Role.ADULT,
                channel=channel,
                address=address.strip(),
                guardian_id=guardian or None,
            )
        )
    except Forbidden:
        raise
    except FamsimError as exc:
        typed["error"] = str(exc)
        return await run_in_threadpool(_members_page, request, viewer, family_id, typed, 422)
    return RedirectResponse(f"/app/families/{family_id}/members?done=invited", status_code=303)


@router.post("/sharing")
async def sharing(
    request: Request,
    family_id: FamilyId,
    grantee: Annotated[str, Form(max_length=64)],
    share: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """An adult lets another member see its detail, or stops."""
    viewer = await session.posting(request)
    svc = session.svc(request)
    if viewer.family_id != family_id:
        raise Forbidden("only members of the family share with each other")
    change = svc.invitations.grant_consent if share == "on" else svc.invitations.revoke_consent
    await run_in_threadpool(change, viewer, grantee)
    return RedirectResponse(f"/app/families/{family_id}/members?done=shared", status_code=303)
