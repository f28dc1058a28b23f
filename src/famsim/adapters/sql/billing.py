"""Invoices, credit notes, document sequences and split policies in SQL.

New documents are written when the unit of work commits (after the families they
name); a second invoice for a cycle or a reused number breaks a unique key, which the
unit of work reports as :class:`Conflict`. A sequence number is taken at once, row-locked
until the transaction ends, so two closing runs never hand out the same number and a
rolled-back one gives its number back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import RowMapping

from famsim.adapters.sql import schema as t
from famsim.domain.billing.invoice import CreditNote, Invoice
from famsim.domain.billing.rating import Charge, ChargeKind
from famsim.domain.billing.split import SplitPolicy, SplitRule
from famsim.domain.ids import MemberId
from famsim.domain.rebalance import Bounds, RebalancePolicy
from famsim.domain.units import Resource, Zone

_INVOICES = t.invoices.c
_LINES = t.invoice_lines.c
_SHARES = t.invoice_shares.c
_NOTES = t.credit_notes.c
_SEQ = t.document_sequences.c
_POLICIES = t.split_policies.c
_REBALANCING = t.rebalance_policies.c


class SqlBilling:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._invoices: list[Invoice] = []
        self._notes: list[CreditNote] = []
        self._policies: dict[str, SplitPolicy] = {}
        self._rebalancing: dict[str, RebalancePolicy] = {}

    # ------------------------------------------------------------------ invoices
    def invoice(self, family_id: str, cycle_number: int) -> Invoice | None:
        for pending in self._invoices:
            if (pending.family_id, pending.cycle_number) == (family_id, cycle_number):
                return pending
        row = (
            self._connection.execute(
                select(t.invoices).where(
                    _INVOICES.family_id == family_id, _INVOICES.cycle_number == cycle_number
                )
            )
            .mappings()
            .first()
        )
        return self._load(row) if row is not None else None

    def invoice_by_number(self, number: str) -> Invoice | None:
        for pending in self._invoices:
            if pending.number == number:
                return pending
        row = (
            self._connection.execute(select(t.invoices).where(_INVOICES.number == number))
            .mappings()
            .first()
        )
        return self._load(row) if row is not None else None

    def invoices(self, family_id: str) -> list[Invoice]:
        rows = self._connection.execute(
            select(t.invoices)
            .where(_INVOICES.family_id == family_id)
            .order_by(_INVOICES.cycle_number)
        ).mappings()
        stored = [self._load(row) for row in rows]
        pending = [i for i in self._invoices if i.family_id == family_id]
        return sorted(stored + pending, key=lambda i: i.cycle_number)

    def add_invoice(self, invoice: Invoice) -> None:
        self._invoices.append(invoice)

    def _load(self, row: RowMapping) -> Invoice:
        number = row["number"]
        lines = self._connection.execute(
            select(t.invoice_lines).where(_LINES.invoice_number == number).order_by(_LINES.position)
        ).mappings()
        shares = self._connection.execute(
            select(_SHARES.member_id, _SHARES.minor)
            .where(_SHARES.invoice_number == number)
            .order_by(_SHARES.position)
        )
        return Invoice(
            number=number,
            family_id=row["family_id"],
            cycle_number=row["cycle_number"],
            period_start=row["period_start"],
            period_end=row["period_end"],
            plan_code=row["plan_code"],
            currency=row["currency"],
            issued_at=row["issued_at"],
            lines=tuple(
                Charge(ChargeKind(r["kind"]), r["member_id"], int(r["minor"]), dict(r["detail"]))
                for r in lines
            ),
            split_rule=SplitRule(row["split_rule"]),
            shares=tuple((member, int(minor)) for member, minor in shares),
            tax_basis_points=row["tax_basis_points"],
            member_names=dict(row["member_names"]),
        )

    # --------------------------------------------------------------- sequences
    def next_sequence(self, prefix: str, year: int) -> int:
        where = (_SEQ.prefix == prefix, _SEQ.year == year)
        last = self._connection.execute(
            select(_SEQ.last).where(*where).with_for_update()
        ).scalar_one_or_none()
        if last is None:
            self._connection.execute(
                insert(t.document_sequences).values(prefix=prefix, year=year, last=1)
            )
            return 1
        self._connection.execute(update(t.document_sequences).where(*where).values(last=last + 1))
        return int(last) + 1

    # ------------------------------------------------------------- credit notes
    def credit_notes(self, invoice_number: str) -> list[CreditNote]:
        rows = self._connection.execute(
            select(t.credit_notes)
            .where(_NOTES.invoice_number == invoice_number)
            .order_by(_NOTES.number)
        ).mappings()
        stored = [
            CreditNote(
                number=r["number"],
                invoice_number=r["invoice_number"],
                family_id=r["family_id"],
                issued_at=r["issued_at"],
                reason=r["reason"],
                minor=int(r["minor"]),
                shares=tuple((m, int(v)) for m, v in r["shares"]),
            )
            for r in rows
        ]
        return stored + [n for n in self._notes if n.invoice_number == invoice_number]

    def add_credit_note(self, note: CreditNote) -> None:
        self._notes.append(note)

    # ----------------------------------------------------------------- policies
    def split_policy(self, family_id: str) -> SplitPolicy:
        if family_id in self._policies:
            return self._policies[family_id]
        row = (
            self._connection.execute(
                select(t.split_policies).where(_POLICIES.family_id == family_id)
            )
            .mappings()
            .first()
        )
        if row is None:
            return SplitPolicy()
        custom: Mapping[str, int] | None = row["custom"]
        return SplitPolicy(SplitRule(row["rule"]), dict(custom) if custom else None)

    def set_split_policy(self, family_id: str, policy: SplitPolicy) -> None:
        self._policies[family_id] = policy

    def rebalance_policy(self, family_id: str) -> RebalancePolicy:
        if family_id in self._rebalancing:
            return self._rebalancing[family_id]
        row = (
            self._connection.execute(
                select(t.rebalance_policies).where(_REBALANCING.family_id == family_id)
            )
            .mappings()
            .first()
        )
        return _rebalance_policy(row) if row is not None else RebalancePolicy()

    def set_rebalance_policy(self, family_id: str, policy: RebalancePolicy) -> None:
        self._rebalancing[family_id] = policy

    def rebalancing_families(self) -> list[str]:
        rows = self._connection.execute(
            select(_REBALANCING.family_id).where(_REBALANCING.enabled.is_(True))
        )
        stored = {row.family_id for row in rows}
        for family_id, policy in self._rebalancing.items():
            (stored.add if policy.enabled else stored.discard)(family_id)
        return sorted(stored)

    # -------------------------------------------------------------------- flush
    def flush(self) -> None:
        """Write what this unit of work added (called by its commit, after families)."""
        for family_id, policy in self._policies.items():
            values: dict[str, Any] = {
                "rule": policy.rule.value,
                "custom": dict(policy.custom) if policy.custom else None,
            }
            done = self._connection.execute(
                update(t.split_policies).where(_POLICIES.family_id == family_id).values(**values)
            )
            if done.rowcount == 0:
                self._connection.execute(
                    insert(t.split_policies).values(family_id=family_id, **values)
                )
        for family_id, rebalancing in self._rebalancing.items():
            values = {"enabled": rebalancing.enabled, "bounds": _bounds_rows(rebalancing)}
            done = self._connection.execute(
                update(t.rebalance_policies)
                .where(_REBALANCING.family_id == family_id)
                .values(**values)
            )
            if done.rowcount == 0:
                self._connection.execute(
                    insert(t.rebalance_policies).values(family_id=family_id, **values)
                )
        for invoice in self._invoices:
            self._connection.execute(insert(t.invoices).values(**_invoice_row(invoice)))
            if invoice.lines:
                self._connection.execute(
                    insert(t.invoice_lines),
                    [
                        {
                            "invoice_number": invoice.number,
                            "position": position,
                            "kind": line.kind.value,
                            "member_id": line.member_id,
                            "minor": line.minor,
                            "detail": dict(line.detail),
                        }
                        for position, line in enumerate(invoice.lines)
                    ],
                )
            if invoice.shares:
                self._connection.execute(
                    insert(t.invoice_shares),
                    [
                        {
                            "invoice_number": invoice.number,
                            "position": position,
                            "member_id": member,
                            "minor": minor,
                        }
                        for position, (member, minor) in enumerate(invoice.shares)
                    ],
                )
        for note in self._notes:
            self._connection.execute(
                insert(t.credit_notes).values(
                    number=note.number,
                    invoice_number=note.invoice_number,
                    family_id=note.family_id,
                    issued_at=note.issued_at,
                    reason=note.reason,
                    minor=note.minor,
                    shares=[[member, minor] for member, minor in note.shares],
                )
            )
        self._invoices, self._notes, self._policies, self._rebalancing = [], [], {}, {}


def _bounds_rows(policy: RebalancePolicy) -> list[list[Any]]:
    return [
        [member, resource.value, zone, bounds.min_quota, bounds.max_quota]
        for member, pairs in sorted(policy.bounds.items())
        for (resource, zone), bounds in sorted(pairs.items())
    ]


def _rebalance_policy(row: RowMapping) -> RebalancePolicy:
    bounds: dict[MemberId, dict[tuple[Resource, Zone], Bounds]] = {}
    for member, resource, zone, low, high in row["bounds"] or []:
        bounds.setdefault(MemberId(member), {})[(Resource(resource), Zone(zone))] = Bounds(
            low, high
        )
    return RebalancePolicy(bool(row["enabled"]), bounds)


def _invoice_row(invoice: Invoice) -> dict[str, Any]:
    return {
        "number": invoice.number,
        "family_id": invoice.family_id,
        "cycle_number": invoice.cycle_number,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "plan_code": invoice.plan_code,
        "currency": invoice.currency,
        "issued_at": invoice.issued_at,
        "split_rule": invoice.split_rule.value,
        "tax_basis_points": invoice.tax_basis_points,
        "total_minor": invoice.total,
        "member_names": dict(invoice.member_names),
    }
