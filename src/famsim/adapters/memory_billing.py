"""Invoices, credit notes, document sequences and split policies in memory.

Same contract as ``famsim.adapters.sql.billing``: nothing reaches the store before the
unit of work commits; a second invoice for a family's cycle, or a number used twice,
fails the commit with :class:`Conflict` and leaves the store as it was.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from famsim.domain.billing.invoice import CreditNote, Invoice
from famsim.domain.billing.split import SplitPolicy
from famsim.domain.errors import Conflict
from famsim.domain.rebalance import RebalancePolicy


@dataclass
class BillingTables:
    invoices: dict[str, Invoice] = field(default_factory=dict)  # by number
    credit_notes: dict[str, CreditNote] = field(default_factory=dict)  # by number
    sequences: dict[tuple[str, int], int] = field(default_factory=dict)
    policies: dict[str, SplitPolicy] = field(default_factory=dict)
    rebalancing: dict[str, RebalancePolicy] = field(default_factory=dict)


class MemoryBilling:
    def __init__(self, tables: BillingTables, lock: threading.RLock) -> None:
        self._tables = tables
        self._lock = lock
        self.new_invoices: list[Invoice] = []
        self.new_notes: list[CreditNote] = []
        self.taken: dict[tuple[str, int], int] = {}
        self.policies: dict[str, SplitPolicy] = {}
        self.rebalancing: dict[str, RebalancePolicy] = {}

    def _all_invoices(self) -> list[Invoice]:
        with self._lock:
            stored = list(self._tables.invoices.values())
        return stored + self.new_invoices

    def invoice(self, family_id: str, cycle_number: int) -> Invoice | None:
        return next(
            (
                i
                for i in self._all_invoices()
                if i.family_id == family_id and i.cycle_number == cycle_number
            ),
            None,
        )

    def cycle_invoices(self, cycles: Sequence[tuple[str, int]]) -> dict[tuple[str, int], Invoice]:
        wanted = set(cycles)
        return {
            (i.family_id, i.cycle_number): i
            for i in self._all_invoices()
            if (i.family_id, i.cycle_number) in wanted
        }

    def invoice_by_number(self, number: str) -> Invoice | None:
        return next((i for i in self._all_invoices() if i.number == number), None)

    def invoices(self, family_id: str) -> list[Invoice]:
        found = [i for i in self._all_invoices() if i.family_id == family_id]
        return sorted(found, key=lambda i: i.cycle_number)

    def add_invoice(self, invoice: Invoice) -> None:
        self.new_invoices.append(invoice)

    def next_sequence(self, prefix: str, year: int) -> int:
        key = (prefix, year)
        with self._lock:
            last = self.taken.get(key, self._tables.sequences.get(key, 0))
        self.taken[key] = last + 1
        return last + 1

    def credit_notes(self, invoice_number: str) -> list[CreditNote]:
        with self._lock:
            stored = list(self._tables.credit_notes.values())
        return [n for n in stored + self.new_notes if n.invoice_number == invoice_number]

    def add_credit_note(self, note: CreditNote) -> None:
        self.new_notes.append(note)

    def split_policy(self, family_id: str) -> SplitPolicy:
        if family_id in self.policies:
            return self.policies[family_id]
        with self._lock:
            return self._tables.policies.get(family_id, SplitPolicy())

    def split_policies(self, family_ids: Sequence[str]) -> dict[str, SplitPolicy]:
        return {family_id: self.split_policy(family_id) for family_id in family_ids}

    def set_split_policy(self, family_id: str, policy: SplitPolicy) -> None:
        self.policies[family_id] = policy

    def rebalance_policy(self, family_id: str) -> RebalancePolicy:
        if family_id in self.rebalancing:
            return self.rebalancing[family_id]
        with self._lock:
            return self._tables.rebalancing.get(family_id, RebalancePolicy())

    def set_rebalance_policy(self, family_id: str, policy: RebalancePolicy) -> None:
        self.rebalancing[family_id] = policy

    def rebalancing_families(self) -> list[str]:
        with self._lock:
            merged = self._tables.rebalancing | self.rebalancing
        return sorted(f for f, policy in merged.items() if policy.enabled)

    def check(self) -> None:
        """Refuse what the database's unique constraints would (under the store's lock)."""
        numbers = set(self._tables.invoices) | set(self._tables.credit_notes)
        cycles = {(i.family_id, i.cycle_number) for i in self._tables.invoices.values()}
        for invoice in self.new_invoices:
            if invoice.number in numbers:
                raise Conflict(f"document number {invoice.number} is already used")
            if (invoice.family_id, invoice.cycle_number) in cycles:
                raise Conflict(
                    f"cycle {invoice.cycle_number} of family {invoice.family_id} is invoiced"
                )
            numbers.add(invoice.number)
            cycles.add((invoice.family_id, invoice.cycle_number))
        for note in self.new_notes:
            if note.number in numbers:
                raise Conflict(f"document number {note.number} is already used")
            numbers.add(note.number)
        for key, last in self.taken.items():
            if self._tables.sequences.get(key, 0) >= last:
                raise Conflict(f"document number {key[0]}-{key[1]}-{last:06d} was taken meanwhile")

    def apply(self) -> None:
        for invoice in self.new_invoices:
            self._tables.invoices[invoice.number] = invoice
        for note in self.new_notes:
            self._tables.credit_notes[note.number] = note
        self._tables.sequences.update(self.taken)
        self._tables.policies.update(self.policies)
        self._tables.rebalancing.update(self.rebalancing)
