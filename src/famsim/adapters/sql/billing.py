"""Invoices, credit notes, document sequences and split policies in SQL.

New documents are written when the unit of work commits (after the families they
name); a second invoice for a cycle or a reused number breaks a unique key, which the
unit of work reports as :class:`Conflict`. A sequence number is taken at once, row-locked
until the transaction ends, so two closing runs never hand out the same number and a
rolled-back one gives its number back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy.engine import Dialect, RowMapping

from famsim.adapters.sql import schema as t
from famsim.adapters.sql.bulk import BulkStatement, compile_bulk
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
_BATCH = 500
"""Families or cycles a read asks for at once: inside every driver's bound-value limit."""
_CYCLE_INVOICES = select(t.invoices).where(  # two INs: SQLite scans for a row-value IN
    _INVOICES.family_id.in_(bindparam("ids", expanding=True)),
    _INVOICES.cycle_number.in_(bindparam("numbers", expanding=True)),
)
_SPLIT_POLICIES = select(t.split_policies).where(
    _POLICIES.family_id.in_(bindparam("ids", expanding=True))
)


class SqlBilling:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._invoices: list[Invoice] = []
        self._notes: list[CreditNote] = []
        self._policies: dict[str, SplitPolicy] = {}
        self._rebalancing: dict[str, RebalancePolicy] = {}
        self._sequences: dict[tuple[str, int], tuple[int, bool]] = {}
        """(prefix, year) -> (last number taken, whether its row exists), once locked."""

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

    def cycle_invoices(self, cycles: Sequence[tuple[str, int]]) -> dict[tuple[str, int], Invoice]:
        wanted = set(cycles)
        found = {
            (i.family_id, i.cycle_number): i
            for i in self._invoices
            if (i.family_id, i.cycle_number) in wanted
        }
        keys = sorted(wanted - found.keys())
        for start in range(0, len(keys), _BATCH):
            chunk = keys[start : start + _BATCH]
            params = {
                "ids": sorted({family_id for family_id, _ in chunk}),
                "numbers": sorted({number for _, number in chunk}),
            }
            for row in self._connection.execute(_CYCLE_INVOICES, params).mappings():
                key = (row["family_id"], row["cycle_number"])
                if key in wanted:
                    found[key] = self._load(row)
        return found

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
        """The first number of a kind and year locks its row until the transaction ends;
        the following ones are counted here and the row is written once, by :meth:`flush`
        (a batch of invoices then costs one read and one write of the sequence)."""
        key = (prefix, year)
        if key not in self._sequences:
            last = self._connection.execute(
                select(_SEQ.last).where(_SEQ.prefix == prefix, _SEQ.year == year).with_for_update()
            ).scalar_one_or_none()
            self._sequences[key] = (int(last or 0), last is not None)
        last, stored = self._sequences[key]
        self._sequences[key] = (last + 1, stored)
        return last + 1

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
        return _split_policy(row) if row is not None else SplitPolicy()

    def split_policies(self, family_ids: Sequence[str]) -> dict[str, SplitPolicy]:
        found = {f: self._policies[f] for f in family_ids if f in self._policies}
        ids = sorted(set(family_ids) - found.keys())
        for start in range(0, len(ids), _BATCH):
            for row in self._connection.execute(
                _SPLIT_POLICIES, {"ids": ids[start : start + _BATCH]}
            ).mappings():
                found[row["family_id"]] = _split_policy(row)
        return {f: found.get(f, SplitPolicy()) for f in family_ids}

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
        self._write_sequences()
        self._write_invoices()
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
        self._sequences = {}

    def _write_sequences(self) -> None:
        for (prefix, year), (last, stored) in self._sequences.items():
            if stored:
                self._connection.execute(
                    update(t.document_sequences)
                    .where(_SEQ.prefix == prefix, _SEQ.year == year)
                    .values(last=last)
                )
            else:
                self._connection.execute(
                    insert(t.document_sequences).values(prefix=prefix, year=year, last=last)
                )

    def _write_invoices(self) -> None:
        """All the invoices of the unit of work: one executemany a table."""
        if not self._invoices:
            return
        dialect = self._connection.dialect
        lines = [
            {
                "invoice_number": invoice.number,
                "position": position,
                "kind": line.kind.value,
                "member_id": line.member_id,
                "minor": line.minor,
                "detail": dict(line.detail),
            }
            for invoice in self._invoices
            for position, line in enumerate(invoice.lines)
        ]
        shares = [
            {
                "invoice_number": invoice.number,
                "position": position,
                "member_id": member,
                "minor": minor,
            }
            for invoice in self._invoices
            for position, (member, minor) in enumerate(invoice.shares)
        ]
        for table, rows in (
            (t.invoices, [_invoice_row(invoice) for invoice in self._invoices]),
            (t.invoice_lines, lines),
            (t.invoice_shares, shares),
        ):
            if rows:
                _insert(dialect, table).execute(self._connection, rows)


_INSERTS: dict[tuple[str, str], BulkStatement] = {}


def _insert(dialect: Dialect, table: Table) -> BulkStatement:
    key = (dialect.name, table.name)
    if key not in _INSERTS:
        _INSERTS[key] = compile_bulk(insert(table), dialect, [c.name for c in table.columns])
    return _INSERTS[key]


def _split_policy(row: RowMapping) -> SplitPolicy:
    custom: Mapping[str, int] | None = row["custom"]
    return SplitPolicy(SplitRule(row["rule"]), dict(custom) if custom else None)


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
