"""Invoices through the privacy rules: who sees which part of a bill, who may change it.

* the **owner** (and staff with ``families:read``) sees every invoice whole;
* every other member sees each invoice's total, its own lines and its own share, and
  nothing of another member's lines (an adult's usage stays private from adults);
* the owner (or staff with ``families:write``) sets how the bill is split;
* credit notes and closing cycles are the operator's (``families:write``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from famsim.domain.access import Principal, Scope
from famsim.domain.audit import AuditEvent
from famsim.domain.billing.invoice import Invoice
from famsim.domain.billing.split import SplitPolicy
from famsim.domain.errors import Forbidden, NotFound
from famsim.domain.rebalance import RebalancePolicy
from famsim.service.access import check_in_family, check_manages, check_scope
from famsim.service.billing import BillingService, InvoiceNotFound, invoice_summary
from famsim.service.plan_advice import plan_advice
from famsim.service.ports import UnitOfWork
from famsim.service.rebalancing import rebalance


class GuardedBilling:
    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        billing: BillingService,
        handle: Callable[[Any], Any] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._uow = uow
        self._billing = billing
        self._handle = handle
        self._now = now

    def invoices(self, principal: Principal, family_id: str) -> list[dict[str, Any]]:
        check_in_family(principal, family_id, Scope.FAMILIES_READ)
        whole = self._sees_whole(principal, family_id)
        return [self._view(i, principal, whole) for i in self._billing.invoices(family_id)]

    def invoice(self, principal: Principal, family_id: str, number: str) -> dict[str, Any]:
        check_in_family(principal, family_id, Scope.FAMILIES_READ)
        invoice, notes = self._billing.invoice(number)
        if invoice.family_id != family_id:
            raise InvoiceNotFound(f"no invoice {number!r}")
        view = self._view(invoice, principal, self._sees_whole(principal, family_id))
        view["credit_notes"] = [
            {
                "number": n.number,
                "issued_at": n.issued_at.isoformat(),
                "reason": n.reason,
                "minor": n.minor,
                "shares": [{"member_id": m, "minor": v} for m, v in n.shares],
            }
            for n in notes
        ]
        return view

    def set_split(self, principal: Principal, family_id: str, policy: SplitPolicy) -> None:
        check_in_family(principal, family_id, Scope.FAMILIES_WRITE)
        with self._uow() as uow:
            family = uow.families.get(family_id)
        check_manages(principal, family)
        self._billing.set_split_policy(family_id, policy, actor=_actor(principal))

    def credit(self, principal: Principal, number: str, minor: int, reason: str) -> dict[str, Any]:
        check_scope(principal, Scope.FAMILIES_WRITE)
        note = self._billing.credit(number, minor, reason, actor=_actor(principal))
        return {"number": note.number, "invoice": note.invoice_number, "minor": note.minor}

    def close(
        self, principal: Principal, family_id: str | None, at: datetime | None
    ) -> list[dict[str, Any]]:
        check_scope(principal, Scope.FAMILIES_WRITE)
        actor = _actor(principal)
        issued = (
            self._billing.close(family_id, at, actor=actor)
            if family_id
            else self._billing.close_due(at, actor=actor)
        )
        return [invoice_summary(i) for i in issued]

    def plan_advice(self, principal: Principal, family_id: str, cycles: int) -> dict[str, Any]:
        """The cheapest plan for the family's past cycles: what the bill shows, so for
        the owner and staff."""
        check_in_family(principal, family_id, Scope.FAMILIES_READ)
        if not self._sees_whole(principal, family_id):
            raise Forbidden("plan advice is shown to the family's owner")
        return plan_advice(self._uow, family_id, cycles, self._billing.tax_basis_points)

    def set_rebalance_policy(
        self, principal: Principal, family_id: str, policy: RebalancePolicy
    ) -> None:
        """The owner turns auto-rebalance on or off and bounds each member's quota."""
        check_in_family(principal, family_id, Scope.FAMILIES_WRITE)
        at = (self._now or _utc_now)()
        with self._uow() as uow:
            family = uow.families.get(family_id, for_update=True)
            check_manages(principal, family)
            unknown = sorted(set(policy.bounds) - set(family.members))
            if unknown:
                raise NotFound(f"bounds name members not in the family: {unknown}")
            uow.billing.set_rebalance_policy(family.id, policy)
            uow.audit.record(
                AuditEvent(
                    at,
                    family.id,
                    _actor(principal),
                    "rebalance_policy.set",
                    family.id,
                    {"enabled": int(policy.enabled), "bounded_members": len(policy.bounds)},
                )
            )
            uow.commit()

    def rebalance_policy(self, principal: Principal, family_id: str) -> RebalancePolicy:
        check_in_family(principal, family_id, Scope.FAMILIES_READ)
        with self._uow() as uow:
            family = uow.families.get(family_id)
            check_manages_or_reads(principal, family)
            return uow.billing.rebalance_policy(family.id)

    def rebalance_now(self, principal: Principal, family_id: str) -> list[dict[str, Any]]:
        """Rebalance once, now, within the stored bounds (whether or not auto is on)."""
        check_in_family(principal, family_id, Scope.FAMILIES_WRITE)
        with self._uow() as uow:
            family = uow.families.get(family_id)
            check_manages(principal, family)
            policy = uow.billing.rebalance_policy(family.id)
        if self._handle is None:
            raise Forbidden("rebalancing is not available here")
        return rebalance(
            self._uow,
            self._handle,
            family_id,
            replace(policy, enabled=True),
            (self._now or _utc_now)(),
            _actor(principal),
        )

    def _sees_whole(self, principal: Principal, family_id: str) -> bool:
        if principal.is_staff:
            return True
        with self._uow() as uow:
            family = uow.families.get(family_id)
        return principal.member_id == family.owner_id

    @staticmethod
    def _view(invoice: Invoice, principal: Principal, whole: bool) -> dict[str, Any]:
        summary = invoice_summary(invoice)
        if whole:
            return summary
        me = principal.member_id
        if me is None:
            raise Forbidden("invoices are shown to the family's members")
        summary["lines"] = [line for line in summary["lines"] if line["member_id"] == me]
        summary["shares"] = [share for share in summary["shares"] if share["member_id"] == me]
        summary["partial"] = True
        return summary


def check_manages_or_reads(principal: Principal, family: Any) -> None:
    """Staff may read any family's policy; a member only its own family's owner."""
    if not principal.is_staff:
        check_manages(principal, family)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _actor(principal: Principal) -> str:
    return f"{principal.kind.value}:{principal.id}"
