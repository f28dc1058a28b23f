"""The billing store on every backend: documents once, numbers in sequence, policies
kept, and a second invoice for a cycle refused without changing anything."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from famsim.domain.billing.invoice import issue_invoice
from famsim.domain.billing.rating import CycleFacts, rate
from famsim.domain.billing.split import SplitPolicy, SplitRule
from famsim.domain.errors import Conflict
from famsim.domain.ids import MemberId
from famsim.domain.plan import Plan
from famsim.domain.rebalance import Bounds, RebalancePolicy
from famsim.domain.units import HOME, Resource
from famsim.service import commands as c
from famsim.service.messagebus import MessageBus

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def family(bus: MessageBus) -> str:
    found: str = bus.handle(
        c.CreateFamily(name="Ip family", plan_code="hk-family-5g-100", owner_name="Ip")
    )
    return found


def invoice_for(family_id: str, owner: str, plan: Plan, number: str):  # type: ignore[no-untyped-def]
    facts = CycleFacts(family_id, 1, date(2026, 11, 1), date(2026, 12, 1), plan, (owner,))
    return issue_invoice(
        number, facts, rate(facts), owner_id=owner, policy=SplitPolicy(), issued_at=NOW
    )


def test_invoices_sequences_and_policies_round_trip(uow_factory, family, hk_plan) -> None:  # type: ignore[no-untyped-def]
    with uow_factory() as uow:
        owner = uow.families.get(family).owner_id
        assert [uow.billing.next_sequence("INV", 2026) for _ in range(3)] == [1, 2, 3]
        uow.billing.add_invoice(invoice_for(family, owner, hk_plan, "INV-2026-000001"))
        uow.billing.set_split_policy(family, SplitPolicy(SplitRule.CUSTOM, {owner: 10_000}))
        policy = RebalancePolicy(
            True, {MemberId(owner): {(Resource.DATA, HOME): Bounds(10**9, 5 * 10**9)}}
        )
        uow.billing.set_rebalance_policy(family, policy)
        uow.commit()
    with uow_factory() as uow:
        stored = uow.billing.invoice(family, 1)
        assert stored == invoice_for(family, owner, hk_plan, "INV-2026-000001")
        assert uow.billing.invoice_by_number("INV-2026-000001") == stored
        assert uow.billing.next_sequence("INV", 2026) == 4  # taken numbers stay taken
        assert uow.billing.next_sequence("INV", 2027) == 1
        assert uow.billing.split_policy(family).custom == {owner: 10_000}
        assert uow.billing.rebalance_policy(family) == policy
        assert uow.billing.rebalancing_families() == [family]
        uow.billing.set_rebalance_policy(family, RebalancePolicy(False, policy.bounds))
        uow.commit()
    with uow_factory() as uow:
        assert uow.billing.rebalancing_families() == []


def test_a_second_invoice_for_a_cycle_is_refused(uow_factory, family, hk_plan) -> None:  # type: ignore[no-untyped-def]
    with uow_factory() as uow:
        owner = uow.families.get(family).owner_id
        uow.billing.add_invoice(invoice_for(family, owner, hk_plan, "INV-2026-000001"))
        uow.commit()
    with uow_factory() as uow:
        uow.billing.add_invoice(invoice_for(family, owner, hk_plan, "INV-2026-000002"))
        with pytest.raises(Conflict):
            uow.commit()
    with uow_factory() as uow:
        assert [i.number for i in uow.billing.invoices(family)] == ["INV-2026-000001"]
