"""The billing service on the in-memory store: cycles behind, tax, the split policy's
checks, and the background closer a server runs."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest

from famsim.adapters.memory import MemoryStore, MemoryUnitOfWork
from famsim.domain.billing.rating import ChargeKind
from famsim.domain.billing.split import SplitPolicy, SplitRule
from famsim.domain.errors import NotFound
from famsim.domain.members import Role
from famsim.service import commands as c
from famsim.service.billing import BillingService, InvoiceNotFound
from famsim.service.messagebus import MessageBus

LATER = datetime(2027, 2, 1, 12, tzinfo=UTC)


@pytest.fixture
def family(memory_store: MemoryStore, memory_bus: MessageBus, clock) -> str:  # type: ignore[no-untyped-def]
    clock.current = date(2026, 11, 1)
    found: str = memory_bus.handle(
        c.CreateFamily(name="Lam family", plan_code="hk-family-5g-100", owner_name="Lam")
    )
    memory_bus.handle(c.AddMember(found, "Kit", Role.ADULT))
    return found


def service(store: MemoryStore, tax: int = 0) -> BillingService:
    return BillingService(lambda: MemoryUnitOfWork(store), lambda: LATER, tax_basis_points=tax)


def test_a_family_behind_gets_one_invoice_per_cycle_oldest_first(
    memory_store: MemoryStore, family: str
) -> None:
    issued = service(memory_store).close(family)
    assert [(i.number, i.period_start) for i in issued] == [
        ("INV-2027-000001", date(2026, 11, 1)),
        ("INV-2027-000002", date(2026, 12, 1)),
        ("INV-2027-000003", date(2027, 1, 1)),
    ]
    assert service(memory_store).close(family) == []


def test_tax_is_added_once_per_invoice(memory_store: MemoryStore, family: str) -> None:
    [invoice, *_] = service(memory_store, tax=2_000).close(family)
    assert invoice.subtotal == 41_800
    assert invoice.tax == 8_360
    assert invoice.lines[-1].kind is ChargeKind.TAX
    assert dict(invoice.shares) == {invoice.shares[0][0]: 50_160, invoice.shares[1][0]: 0}


def test_the_split_names_only_members_and_applies_to_the_next_invoices(
    memory_store: MemoryStore, family: str
) -> None:
    billing = service(memory_store)
    with pytest.raises(NotFound, match="not in the family"):
        billing.set_split_policy(family, SplitPolicy(SplitRule.CUSTOM, {"ghost": 10_000}))
    billing.set_split_policy(family, SplitPolicy(SplitRule.EQUAL))
    assert billing.split_policy(family).rule is SplitRule.EQUAL
    [first, *_] = billing.close(family)
    assert [share for _, share in first.shares] == [20_900, 20_900]


def test_unknown_invoices_and_families(memory_store: MemoryStore) -> None:
    with pytest.raises(InvoiceNotFound):
        service(memory_store).invoice("INV-2026-999999")
    with pytest.raises(NotFound):
        service(memory_store).invoices("nobody")
    with pytest.raises(NotFound):
        service(memory_store).close("nobody")  # not an empty list: the family is unknown


def test_the_background_closer_invoices_without_being_asked(
    memory_store: MemoryStore, family: str
) -> None:
    closer = service(memory_store).scheduled(every_s=0.05)
    closer.start()
    try:
        deadline = time.monotonic() + 10
        while not service(memory_store).invoices(family) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        closer.stop()
    assert len(service(memory_store).invoices(family)) == 3


def test_rollover_carries_the_unused_home_pool_at_most_one_allowance(
    memory_store: MemoryStore, family: str
) -> None:
    from famsim.domain.charging.ledger import Counter, FamilyLedger
    from famsim.domain.units import HOME, Resource, Zone
    from famsim.service.billing import rollover

    with MemoryUnitOfWork(memory_store) as uow:
        found = uow.families.get(family)
        plan = uow.plans.get(found.plan_code)
    key = (Resource.DATA, HOME)
    ledger = FamilyLedger(found.id, 1, plan)
    ledger.pools[key] = Counter(used=30 * 10**9, reserved=5 * 10**9)
    assert rollover(found, plan, ledger) == {key: 65 * 10**9}  # reserved is not unused
    ledger.pools[key] = Counter()
    found.cycle = found.cycle.open(2, found.cycle.end, 1, plan, {key: 80 * 10**9})
    assert found.cycle.pools[key].total == 180 * 10**9
    assert rollover(found, plan, ledger) == {key: 100 * 10**9}  # one allowance at most
    assert (Resource.VOICE, HOME) not in rollover(found, plan, ledger)  # not rolled
    assert (Resource.DATA, Zone("greater-china")) not in rollover(found, plan, ledger)


@pytest.mark.parametrize("batch", [1, 2, 200], ids=["one-by-one", "pairs", "all-at-once"])
def test_batched_closing_issues_the_same_invoices(
    memory_store: MemoryStore,
    memory_bus: MessageBus,
    clock,
    batch: int,  # type: ignore[no-untyped-def]
) -> None:
    clock.current = date(2026, 11, 1)
    families = [
        memory_bus.handle(
            c.CreateFamily(name=f"Family {n}", plan_code="hk-family-5g-100", owner_name=f"O{n}")
        )
        for n in range(5)
    ]
    issued = service(memory_store).close_due(batch=batch)
    assert sorted((i.family_id, i.cycle_number, i.total) for i in issued) == sorted(
        (f, cycle, 41_800) for f in families for cycle in (1, 2, 3)
    )
    assert len({i.number for i in issued}) == 15
    assert service(memory_store).close_due(batch=batch) == []
