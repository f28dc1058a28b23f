"""Closing billing cycles into invoices; credit notes; each family's split policy.

Closing a family's cycle is all or nothing, in one transaction (shared by a batch of
families): the family is locked, its cycle rated (``famsim.domain.billing.rating``), the
invoice numbered and stored with its members' shares, the next cycle opened (pools reset,
on the plan now in force), an audit entry and an ``invoice.issued`` event written. So
closing is
idempotent (a closed cycle is no longer due; its invoice exists) and resumable after a
crash (a cycle whose transaction did not commit is simply still due). A family behind
by several cycles gets one invoice per cycle, oldest first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from famsim.domain.audit import AuditEvent
from famsim.domain.billing.invoice import (
    CREDIT_NOTE_PREFIX,
    INVOICE_PREFIX,
    CreditNote,
    Invoice,
    document_number,
    issue_credit_note,
    issue_invoice,
)
from famsim.domain.billing.rating import CycleFacts, OverageUse, RatedCycle, rate
from famsim.domain.billing.split import SplitPolicy
from famsim.domain.charging.ledger import FamilyLedger
from famsim.domain.errors import FamsimError, NotFound
from famsim.domain.family import Family
from famsim.domain.plan import Plan
from famsim.domain.units import HOME, Resource, Zone
from famsim.service.background import Repeater
from famsim.service.batch_gc import young_batches
from famsim.service.billing_facts import billable_sims
from famsim.service.ports import UnitOfWork

CLOSE_BATCH = 200
"""Families closed per transaction by :meth:`BillingService.close_due`."""
MAX_CYCLES_AT_ONCE = 24
"""A family behind by more cycles than this is closed in several runs (each commits)."""


PARALLEL_FROM = 2_000
"""Families due at once from which :meth:`BillingService.close_due` fans out to worker
processes (when it was given a way to): below it, starting a process costs more than it
saves."""
FanOut = Callable[[Sequence[str], datetime, str], list["Invoice"]]
"""Closes the cycles of these families that ended by then (the actor's name given) in
worker processes, each running :meth:`BillingService.close_families` on a share of them;
all the invoices issued."""


class InvoiceNotFound(NotFound):
    pass


class BillingService:
    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        now: Callable[[], datetime],
        *,
        tax_basis_points: int = 0,
        read_uow: Callable[[], UnitOfWork] | None = None,
        fan_out: FanOut | None = None,
        parallel_from: int = PARALLEL_FROM,
    ) -> None:
        """*read_uow* makes read-only units of work (then batches read and rate before
        they lock: see :meth:`_close_batch_read_first`); *fan_out*, when given, closes
        runs of at least *parallel_from* families in worker processes."""
        self._uow = uow
        self._now = now
        self._tax = tax_basis_points
        self._read_uow = read_uow
        self._fan_out = fan_out
        self._parallel_from = parallel_from

    @property
    def tax_basis_points(self) -> int:
        return self._tax

    # ------------------------------------------------------------------ closing
    def close_due(
        self,
        at: datetime | None = None,
        *,
        actor: str = "famsim:billing",
        batch: int = CLOSE_BATCH,
    ) -> list[Invoice]:
        """Close every family's cycles that ended by *at* (default: now).

        Families are closed *batch* at a time, one cycle each, in one transaction and one
        durable commit per batch (a commit per family costs more than the rating); rounds
        repeat while a family is still behind. A batch that fails (a family changed
        meanwhile, a busy database) is retried family by family, so one family never
        holds back the others. From *parallel_from* families on, the service's fan-out
        (if it was given one) shares them among worker processes.
        """
        when = at or self._now()
        with self._uow() as uow:
            families: list[str] = [s.id for s in uow.families.summaries()]
        if self._fan_out is not None and len(families) >= self._parallel_from:
            return self._fan_out(families, when, actor)
        return self.close_families(families, when, actor=actor, batch=batch)

    def close_families(
        self,
        families: Sequence[str],
        when: datetime,
        *,
        actor: str = "famsim:billing",
        batch: int = CLOSE_BATCH,
    ) -> list[Invoice]:
        """Close the cycles of *families* that ended by *when*, in rounds of batches while
        any family is still behind (what :meth:`close_due` and each of its worker
        processes run)."""
        with young_batches():
            return self._close_families(list(families), when, actor, max(1, batch))

    def _close_families(
        self, families: list[str], when: datetime, actor: str, size: int
    ) -> list[Invoice]:
        close_batch = self._close_batch if self._read_uow is None else self._close_batch_read_first
        issued: list[Invoice] = []
        for _ in range(MAX_CYCLES_AT_ONCE):
            closed: list[Invoice] = []
            behind: list[str] = []
            for start in range(0, len(families), size):
                chunk = families[start : start + size]
                try:
                    closed += close_batch(chunk, when, actor, behind)
                except FamsimError:
                    for family_id in chunk:
                        closed += self._close_batch([family_id], when, actor, behind)
            issued += closed
            if not behind:
                break
            families = behind  # still behind by a cycle or more: another round
        return issued

    def close(
        self, family_id: str, at: datetime | None = None, *, actor: str = "famsim:billing"
    ) -> list[Invoice]:
        """Close the family's cycles that ended by *at*; the invoices issued (none if no
        cycle was due: closing twice issues nothing the second time)."""
        when = at or self._now()
        with self._uow() as uow:
            uow.families.get(family_id)  # FamilyNotFound for an unknown family
        issued: list[Invoice] = []
        for _ in range(MAX_CYCLES_AT_ONCE):
            behind: list[str] = []
            issued += self._close_batch([family_id], when, actor, behind)
            if not behind:
                break
        return issued

    def _close_batch(
        self, family_ids: Sequence[str], at: datetime, actor: str, behind: list[str]
    ) -> list[Invoice]:
        """One due cycle of each of *family_ids* closed, in one transaction holding their
        locks throughout; the families still due after it (behind by more than a cycle)
        are added to *behind*.

        What the batch needs is read in a few queries for all its families (families,
        ledgers, split policies, invoices already issued), not a dozen per family.
        """
        with self._uow() as uow:
            due = [
                family
                for family in uow.families.get_many(family_ids, for_update=True)
                if _is_due(family, at)
            ]
            if not due:
                return []
            issued = [self._close_cycle(uow, c, at, actor) for c in self._prepare(uow, due)]
            uow.commit()
        behind += [family.id for family in due if _is_due(family, at)]
        return issued

    def _close_batch_read_first(
        self, family_ids: Sequence[str], at: datetime, actor: str, behind: list[str]
    ) -> list[Invoice]:
        """:meth:`_close_batch` with the reading and rating done before the lock.

        A read-only unit of work loads and rates the batch (on SQLite a snapshot that
        another process's writer does not wait for); then one writing unit of work checks
        under the lock that no family, ledger or plan moved since (their stamps), and
        closes those that did not from what was read. A family that moved meanwhile is
        closed again the locked way. So the lock is held only for the writing, and two
        processes closing disjoint families overlap one's reading with the other's.
        """
        assert self._read_uow is not None
        with self._read_uow() as uow:
            # Stamped before anything is read: a change committed while the batch is read
            # (which a database without a snapshot may show to some reads and not others)
            # then always shows as a stamp that moved, and the family is closed locked.
            read_at = uow.ledgers.stamps(family_ids)
            due = [
                family
                for family in uow.families.get_many(family_ids)
                if _is_due(family, at) and family.id in read_at
            ]
            if not due:
                return []
            prepared = self._prepare(uow, due)
        issued: list[Invoice] = []
        moved: list[str] = []
        with self._uow() as uow:
            stamps = uow.ledgers.stamps([family.id for family in due])
            for closing in prepared:
                family = closing.family
                stamp = read_at[family.id]
                if (
                    stamps.get(family.id) != stamp
                    or family.version != stamp.family_version
                    or closing.ledger.version != stamp.ledger_version
                ):
                    moved.append(family.id)
                    continue
                uow.families.adopt(family)
                uow.ledgers.adopt(closing.ledger)
                issued.append(self._close_cycle(uow, closing, at, actor))
                if _is_due(family, at):
                    behind.append(family.id)
            if issued:
                uow.commit()
        for family_id in moved:
            issued += self._close_batch([family_id], at, actor, behind)
        return issued

    def _prepare(self, uow: UnitOfWork, due: list[Family]) -> list[_Closing]:
        """Each due family's closing: what the batch reads for it, and its cycle rated."""
        plans = {code: uow.plans.get(code) for code in {f.cycle.plan_code for f in due}}
        ledgers = uow.ledgers.get_many(
            [(f.id, f.cycle.number, plans[f.cycle.plan_code]) for f in due]
        )
        policies = uow.billing.split_policies([f.id for f in due])
        stored = uow.billing.cycle_invoices([(f.id, f.cycle.number) for f in due])
        closings = []
        for family, ledger in zip(due, ledgers, strict=True):
            plan = plans[family.cycle.plan_code]
            facts = cycle_facts(family, plan, ledger, self._tax)
            closings.append(
                _Closing(
                    family,
                    plan,
                    ledger,
                    policies[family.id],
                    stored.get((family.id, family.cycle.number)),
                    facts,
                    rate(facts),
                )
            )
        return closings

    def _close_cycle(self, uow: UnitOfWork, closing: _Closing, at: datetime, actor: str) -> Invoice:
        family, plan, ledger = closing.family, closing.plan, closing.ledger
        invoice = closing.invoice
        if invoice is None:  # (always, unless a store was edited by hand)
            invoice = self._invoice(uow, closing, at)
            uow.billing.add_invoice(invoice)
        closed = family.cycle.number
        carried = rollover(family, plan, ledger)  # what live sessions hold is not unused
        for session_id, service in list(ledger.reservations):
            # A session still open goes on in the new cycle: its next report is booked
            # there, and what it held here is given back, so a closed cycle holds nothing.
            ledger.release(session_id, service)
        family.start_next_cycle(
            uow.plans.get(family.pending_plan_code or family.plan_code), carried
        )
        detail: dict[str, str | int] = {
            "cycle": closed,
            "total_minor": invoice.total,
            "currency": invoice.currency,
        }
        detail |= {f"rollover:{r.value}:{z}": units for (r, z), units in carried.items()}
        uow.audit.record(AuditEvent(at, family.id, actor, "invoice.issued", invoice.number, detail))
        uow.outbox.add(family.id, "invoice.issued", invoice_summary(invoice), at)
        return invoice

    def _invoice(self, uow: UnitOfWork, closing: _Closing, at: datetime) -> Invoice:
        """The closing's invoice, numbered now (numbers are taken under the lock)."""
        family, facts = closing.family, closing.facts
        year = at.year
        number = document_number(
            INVOICE_PREFIX, year, uow.billing.next_sequence(INVOICE_PREFIX, year)
        )
        return issue_invoice(
            number,
            facts,
            closing.rated,
            owner_id=family.owner_id,
            policy=closing.policy,
            issued_at=at,
            member_names={m.id: m.name for m in family.members.values() if m.id in facts.members},
        )

    def scheduled(self, every_s: float) -> Repeater:
        """A background closer for a server: every *every_s* seconds it closes the
        cycles that have ended (start it, and stop it with the server)."""

        def one_pass() -> None:
            self.close_due()

        return Repeater("famsim-billing", one_pass, self._now, every_s)

    # ----------------------------------------------------------------- reading
    def invoices(self, family_id: str) -> list[Invoice]:
        with self._uow() as uow:
            uow.families.get(family_id)  # NotFound for an unknown family
            return uow.billing.invoices(family_id)

    def invoice(self, number: str) -> tuple[Invoice, list[CreditNote]]:
        with self._uow() as uow:
            found = uow.billing.invoice_by_number(number)
            if found is None:
                raise InvoiceNotFound(f"no invoice {number!r}")
            return found, uow.billing.credit_notes(number)

    # ------------------------------------------------------------------ changes
    def credit(
        self, number: str, minor: int, reason: str, *, actor: str = "operator"
    ) -> CreditNote:
        """A credit note against an issued invoice (the correction of a closed cycle)."""
        at = self._now()
        with self._uow() as uow:
            invoice = uow.billing.invoice_by_number(number)
            if invoice is None:
                raise InvoiceNotFound(f"no invoice {number!r}")
            uow.families.get(invoice.family_id, for_update=True)  # one credit at a time
            sequence = uow.billing.next_sequence(CREDIT_NOTE_PREFIX, at.year)
            note = issue_credit_note(
                document_number(CREDIT_NOTE_PREFIX, at.year, sequence),
                invoice,
                minor,
                reason,
                at,
                uow.billing.credit_notes(number),
            )
            uow.billing.add_credit_note(note)
            uow.audit.record(
                AuditEvent(
                    at,
                    invoice.family_id,
                    actor,
                    "credit_note.issued",
                    note.number,
                    {"invoice": number, "minor": minor, "reason": note.reason},
                )
            )
            uow.commit()
        return note

    def split_policy(self, family_id: str) -> SplitPolicy:
        with self._uow() as uow:
            uow.families.get(family_id)
            return uow.billing.split_policy(family_id)

    def set_split_policy(
        self, family_id: str, policy: SplitPolicy, *, actor: str = "operator"
    ) -> None:
        """How the family shares its next invoices (issued ones keep their shares)."""
        with self._uow() as uow:
            family = uow.families.get(family_id, for_update=True)
            unknown = sorted(set(policy.custom or {}) - set(family.members))
            if unknown:
                raise NotFound(f"custom shares name members not in the family: {unknown}")
            uow.billing.set_split_policy(family.id, policy)
            detail = {"rule": policy.rule.value} | {
                f"share:{m}": p for m, p in (policy.custom or {}).items()
            }
            uow.audit.record(
                AuditEvent(self._now(), family.id, actor, "split_policy.set", family.id, detail)
            )
            uow.commit()


def invoice_summary(invoice: Invoice) -> dict[str, Any]:
    """The invoice as JSON-ready data: totals, lines and shares, minor units."""
    return {
        "number": invoice.number,
        "family_id": invoice.family_id,
        "cycle": invoice.cycle_number,
        "period": {
            "start": invoice.period_start.isoformat(),
            "end": invoice.period_end.isoformat(),
        },
        "plan": invoice.plan_code,
        "currency": invoice.currency,
        "issued_at": invoice.issued_at.isoformat(),
        "subtotal_minor": invoice.subtotal,
        "tax_minor": invoice.tax,
        "total_minor": invoice.total,
        "tax_basis_points": invoice.tax_basis_points,
        "split": invoice.split_rule.value,
        "shares": [
            {"member_id": m, "member": invoice.member_names.get(m, m), "minor": v}
            for m, v in invoice.shares
        ],
        "lines": [
            {
                "kind": line.kind.value,
                "member_id": line.member_id,
                "member": invoice.member_names.get(line.member_id or "", None),
                "minor": line.minor,
                "detail": dict(line.detail),
            }
            for line in invoice.lines
        ],
    }


def cycle_facts(
    family: Family, plan: Plan, ledger: FamilyLedger, tax_basis_points: int = 0
) -> CycleFacts:
    """What rating needs of the family's current cycle: its members (anyone in the family
    on a day of it), SIMs in service, overage used so far, money caps, tax."""
    cycle = family.cycle
    members = [
        m
        for m in family.members.values()
        if m.joined_on < cycle.end and (m.removed_on is None or m.removed_on >= cycle.start)
    ]
    return CycleFacts(
        family_id=family.id,
        cycle_number=cycle.number,
        start=cycle.start,
        end=cycle.end,
        plan=plan,
        members=[m.id for m in members],
        sims=billable_sims(family, cycle.start, cycle.end),
        overage=[
            OverageUse(member_id, resource, zone, counter.used)
            for member_id, member in ledger.members.items()
            for (resource, zone), counter in member.overage.items()
            if counter.used
        ],
        member_caps={m.id: family.allocation(m.id).money_cap for m in members},
        family_cap=family.money_cap,
        tax_basis_points=tax_basis_points,
    )


def rollover(family: Family, plan: Plan, ledger: FamilyLedger) -> dict[tuple[Resource, Zone], int]:
    """What carries into the next cycle: for each resource the closing plan rolls over,
    the home pool's unused units (nothing reserved counts as unused), at most one cycle's
    allowance, so carried units are used or lost within a cycle and never pile up."""
    carried: dict[tuple[Resource, Zone], int] = {}
    for resource in sorted(plan.rollover):
        key = (resource, HOME)
        pool = family.cycle.pools.get(key)
        allowance = plan.allowance(resource, HOME)
        if pool is None or pool.total is None or not allowance:
            continue
        counter = ledger.pools.get(key)
        held = counter.used + counter.reserved if counter is not None else 0
        unused = max(0, pool.total - held)
        if unused:
            carried[key] = min(unused, allowance)
    return carried


@dataclass(frozen=True, slots=True)
class _Closing:
    """One family's cycle being closed, with what the batch read for it."""

    family: Family
    plan: Plan
    ledger: FamilyLedger
    policy: SplitPolicy
    invoice: Invoice | None
    """Its invoice if one was issued already (a store edited by hand): not issued again."""
    facts: CycleFacts
    rated: RatedCycle


def _is_due(family: Family, at: datetime) -> bool:
    """Whether the family's current cycle has ended by *at*, on its own calendar."""
    return family.cycle.end <= _local_date(at, family.time_zone)


def _local_date(at: datetime, time_zone: str) -> date:
    return at.astimezone(ZoneInfo(time_zone)).date()
