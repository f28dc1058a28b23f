"""Invoices and credit notes: numbered, immutable documents of a closed cycle.

An invoice is issued once per family and cycle and never changes: a closed cycle is
never rated again. A correction is a credit note against the invoice, for at most
what the invoice still owes after earlier credits; its amount is shared among the
members as the invoice was. Numbers run per year and kind: ``INV-2026-000001``,
``CN-2026-000001``; the store hands out the sequence, gap-free within a year.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from famsim.domain.billing.rating import Charge, ChargeKind, CycleFacts, RatedCycle
from famsim.domain.billing.split import SplitPolicy, SplitRule, apportion, split
from famsim.domain.errors import InvalidAmount, InvalidInput
from famsim.domain.money import Money

INVOICE_PREFIX = "INV"
CREDIT_NOTE_PREFIX = "CN"
MAX_REASON = 500


def document_number(prefix: str, year: int, sequence: int) -> str:
    if sequence <= 0:
        raise InvalidAmount("document sequences start at 1")
    return f"{prefix}-{year:04d}-{sequence:06d}"


@dataclass(frozen=True, slots=True)
class Invoice:
    number: str
    family_id: str
    cycle_number: int
    period_start: date
    period_end: date  # exclusive
    plan_code: str
    currency: str
    issued_at: datetime
    lines: tuple[Charge, ...]
    split_rule: SplitRule
    shares: tuple[tuple[str, int], ...]  # (member id, minor units), in the family's order
    tax_basis_points: int = 0
    member_names: Mapping[str, str] = field(default_factory=dict)

    @property
    def subtotal(self) -> int:
        return sum(line.minor for line in self.lines if line.kind is not ChargeKind.TAX)

    @property
    def tax(self) -> int:
        return sum(line.minor for line in self.lines if line.kind is ChargeKind.TAX)

    @property
    def total(self) -> int:
        return self.subtotal + self.tax

    def share_of(self, member_id: str) -> int:
        return dict(self.shares).get(member_id, 0)

    def lines_of(self, member_id: str | None) -> list[Charge]:
        """The member's own lines (None: the family's)."""
        return [line for line in self.lines if line.member_id == member_id]


def issue_invoice(
    number: str,
    facts: CycleFacts,
    rated: RatedCycle,
    *,
    owner_id: str,
    policy: SplitPolicy,
    issued_at: datetime,
    member_names: Mapping[str, str] | None = None,
) -> Invoice:
    """The invoice of a rated cycle, its total shared among the members by *policy*."""
    members = list(facts.members)
    usage = {member: max(0, rated.own_charges(member)) for member in members}
    shares = split(rated.total, members, owner_id, policy, usage)
    return Invoice(
        number=number,
        family_id=facts.family_id,
        cycle_number=facts.cycle_number,
        period_start=facts.start,
        period_end=facts.end,
        plan_code=facts.plan.code,
        currency=rated.currency,
        issued_at=issued_at,
        lines=rated.charges,
        split_rule=policy.rule,
        shares=tuple(shares.items()),
        tax_basis_points=facts.tax_basis_points,
        member_names=dict(member_names or {}),
    )


@dataclass(frozen=True, slots=True)
class CreditNote:
    number: str
    invoice_number: str
    family_id: str
    issued_at: datetime
    reason: str
    minor: int  # what is credited (positive)
    shares: tuple[tuple[str, int], ...]


def issue_credit_note(
    number: str,
    invoice: Invoice,
    minor: int,
    reason: str,
    issued_at: datetime,
    earlier: Sequence[CreditNote] = (),
) -> CreditNote:
    """A credit of *minor* against *invoice*, shared among members as the invoice was
    (members who paid nothing of it get nothing back)."""
    cleaned = " ".join(reason.split())
    if not cleaned:
        raise InvalidInput("a credit note needs a reason")
    if len(cleaned) > MAX_REASON:
        raise InvalidInput(f"a credit note's reason has at most {MAX_REASON} characters")
    if minor <= 0:
        raise InvalidAmount("a credit note credits a positive amount")
    left = invoice.total - sum(note.minor for note in earlier)
    if minor > left:
        owed, asked = Money(left, invoice.currency), Money(minor, invoice.currency)
        raise InvalidAmount(f"invoice {invoice.number} has {owed} left to credit, not {asked}")
    members = [member for member, _ in invoice.shares]
    parts = apportion(minor, [max(0, share) for _, share in invoice.shares])
    return CreditNote(
        number,
        invoice.number,
        invoice.family_id,
        issued_at,
        cleaned,
        minor,
        tuple(zip(members, parts, strict=True)),
    )
