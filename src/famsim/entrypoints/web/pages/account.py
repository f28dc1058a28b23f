"""The bill so far, and security: the visitor's sign-ins and the family's audit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from famsim.domain.access import Principal
from famsim.domain.errors import Forbidden
from famsim.entrypoints.web import render, session
from famsim.entrypoints.web.invoice_pdf import invoice_pdf
from famsim.entrypoints.web.invoice_text import line_label

router = APIRouter(prefix="/app", include_in_schema=False)
FamilyId = Annotated[str, Path(min_length=1, max_length=64)]
InvoiceNumber = Annotated[
    str, Path(min_length=1, max_length=20, pattern=r"^[A-Z]{2,3}-[0-9]{4}-[0-9]{6}$")
]
AUDIT_ROWS = 100


@router.get("/families/{family_id}/bill")
async def bill(request: Request, family_id: FamilyId) -> Response:
    """The owner: this cycle so far and every invoice; another member: its own part of
    each invoice (its lines and its share)."""
    viewer = await session.required(request)
    found = await run_in_threadpool(_bill, request, viewer, family_id)
    return render.page(request, "bill.html", found)


def _bill(request: Request, viewer: Principal, family_id: str) -> dict[str, Any]:
    svc = session.svc(request)
    invoices = svc.billing.invoices(viewer, family_id)
    try:
        estimate = request.app.state.dashboard.bill(viewer, family_id)
    except Forbidden:
        estimate = None  # the cycle so far is the owner's to read
    return {
        "bill": estimate,
        "invoices": list(reversed(invoices)),
        "family_id": family_id,
        "section": "bill",
    }


@router.get("/families/{family_id}/invoices/{number}")
async def invoice(
    request: Request,
    family_id: FamilyId,
    number: InvoiceNumber,
) -> Response:
    """One invoice as a page (printable): lines by member, totals, shares, credits."""
    viewer = await session.required(request)
    found = await run_in_threadpool(session.svc(request).billing.invoice, viewer, family_id, number)
    text, fmt = render.text_of(request), render.formatter_of(request)
    context = {
        "invoice": found,
        "family_id": family_id,
        "section": "bill",
        "label": lambda line: line_label(line, text, fmt),
    }
    return render.page(request, "invoice.html", context)


@router.get("/families/{family_id}/invoices/{number}/pdf")
async def invoice_pdf_download(
    request: Request, family_id: FamilyId, number: InvoiceNumber
) -> Response:
    """The same invoice as a PDF, in the visitor's language."""
    viewer = await session.required(request)
    found = await run_in_threadpool(session.svc(request).billing.invoice, viewer, family_id, number)
    text, fmt = render.text_of(request), render.formatter_of(request)
    document = await run_in_threadpool(invoice_pdf, found, text, fmt)
    return Response(
        document,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{number}.pdf"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/security")
async def security(
    request: Request, family: Annotated[str | None, Query(max_length=64)] = None
) -> Response:
    viewer = await session.required(request)
    found = await run_in_threadpool(_security, request, viewer, family)
    return render.page(request, "security.html", found)


def _security(request: Request, viewer: Principal, family: str | None) -> dict[str, Any]:
    svc = session.svc(request)
    family_id = viewer.family_id if not viewer.is_staff else family
    logins = [] if viewer.is_staff else svc.accounts.login_history(viewer, limit=AUDIT_ROWS)
    audit: list[dict[str, Any]] | None = None
    if family_id:
        try:
            audit = svc.reads.audit(viewer, family_id, limit=AUDIT_ROWS)
        except Forbidden:
            audit = None  # the family's audit is the owner's to read
    return {
        "family_id": family_id,
        "section": "security",
        "logins": list(reversed(logins)),
        "audit": audit,
    }
