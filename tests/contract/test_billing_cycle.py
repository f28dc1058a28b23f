"""A family through a whole cycle, closed into an invoice checked to the minor unit, on
every store: overage at home, roaming abroad, a member added mid-cycle, a money cap,
the split, idempotent closing, the next cycle's fresh pools, and a credit note."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from famsim.domain.allocation import ExhaustionAction, Limit
from famsim.domain.billing.rating import ChargeKind
from famsim.domain.billing.split import SplitPolicy, SplitRule
from famsim.domain.errors import InvalidAmount
from famsim.domain.identifiers import Iccid
from famsim.domain.members import Role
from famsim.domain.money import Money
from famsim.domain.plan import DeviceKind
from famsim.domain.units import HOME, Resource, Zone
from famsim.service import commands as c
from famsim.service.billing import BillingService
from famsim.service.charging import ChargingRequest, ChargingService, RequestType, ServiceUse
from famsim.service.messagebus import MessageBus

GB = 10**9
HK = ZoneInfo("Asia/Hong_Kong")
CHINA = Zone("greater-china")
CLOSED_AT = datetime(2026, 12, 1, 0, 30, tzinfo=HK)


def spec(n: int) -> c.SubscriptionSpec:
    return c.SubscriptionSpec(
        iccid=str(Iccid.from_body(f"8985200009990{n:05d}")),
        imsi=f"4540099900{n:05d}",
        device_kind=DeviceKind.PHONE,
    )


def use(charging: ChargingService, session: str, number: str, units: int, plmn: str | None) -> None:
    """One data session: reserve, then report *units* used."""
    first = ChargingRequest(
        session,
        0,
        RequestType.INITIAL,
        number,
        (ServiceUse(Resource.DATA, requested=units),),
        serving_plmn=plmn,
    )
    answer = charging.handle(first)
    assert answer.services[0].granted == units, answer
    last = ChargingRequest(
        session,
        1,
        RequestType.TERMINATION,
        number,
        (ServiceUse(Resource.DATA, used=units),),
        serving_plmn=plmn,
    )
    charging.handle(last)


@pytest.fixture
def month(uow_factory, clock) -> tuple[str, dict[str, str], BillingService]:  # type: ignore[no-untyped-def]
    """The Ho family's November: Ana (owner), Ben (adult, overage and roaming), Cai
    (a child joining on the 16th)."""
    clock.current = date(2026, 11, 1)
    bus = MessageBus(uow_factory, clock)
    family = bus.handle(
        c.CreateFamily(name="Ho family", plan_code="hk-family-5g-100", owner_name="Ana")
    )
    bus.handle(c.AddMember(family, "Ben", Role.ADULT))
    bus.handle(c.AddLine(family, "Ana", "+85291239001", spec(1)))
    bus.handle(c.AddLine(family, "Ben", "+85291239002", spec(2)))
    bus.handle(
        c.SetAllocation(
            family,
            "Ben",
            limits={
                (Resource.DATA, HOME): Limit(quota=GB, hard_cap=3 * GB),
                (Resource.DATA, CHINA): Limit(quota=0, hard_cap=GB),
            },
            exhaustion=ExhaustionAction.BLOCK,
            money_cap=Money.parse("100.00", "HKD"),
        )
    )
    clock.current = date(2026, 11, 16)
    bus.handle(c.AddMember(family, "Cai", Role.CHILD, guardian_id="Ana"))
    bus.handle(c.AddLine(family, "Cai", "+85291239003", spec(3)))

    instant = datetime(2026, 11, 20, 12, tzinfo=UTC)
    charging = ChargingService(uow_factory, now=lambda: instant)
    use(charging, "ana-1", "+85291239001", 2 * GB, None)  # from the pool: free
    use(charging, "ben-1", "+85291239002", 2 * GB + GB // 2, None)  # 1 GB pool + 1.5 GB over
    use(charging, "ben-2", "+85291239002", GB // 2, "46000")  # roaming: 0.5 GB over

    with uow_factory() as uow:
        found = uow.families.get(family)
        ids = {m.name: m.id for m in found.members.values()}
    billing = BillingService(uow_factory, lambda: CLOSED_AT)
    return family, ids, billing


def test_a_month_closes_into_an_invoice_to_the_minor_unit(month, uow_factory) -> None:  # type: ignore[no-untyped-def]
    family, ids, billing = month
    billing.set_split_policy(family, SplitPolicy(SplitRule.EQUAL))
    assert billing.close(family, datetime(2026, 11, 30, 23, 59, tzinfo=HK)) == []  # not yet

    [invoice] = billing.close(family)
    assert invoice.number == "INV-2026-000001"
    assert (invoice.period_start, invoice.period_end) == (date(2026, 11, 1), date(2026, 12, 1))
    lines = [(line.kind, line.member_id, line.minor) for line in invoice.lines]
    assert lines == [
        (ChargeKind.PLAN_FEE, None, 39_800),
        (ChargeKind.MANAGEMENT_FEE, None, 2_000),
        (ChargeKind.LINE_FEE, ids["Ana"], 8_800),
        (ChargeKind.LINE_FEE, ids["Ben"], 8_800),
        (ChargeKind.OVERAGE, ids["Ben"], 4_500),  # 1.5 GB at HK$30.00 a GB
        (ChargeKind.ROAMING, ids["Ben"], 3_400),  # 0.5 GB at HK$68.00 a GB
        (ChargeKind.LINE_FEE, ids["Cai"], 4_400),  # 15 of 30 days of HK$88.00
    ]
    assert invoice.total == 71_700
    assert dict(invoice.shares) == {ids["Ana"]: 23_900, ids["Ben"]: 23_900, ids["Cai"]: 23_900}

    # Closing again issues nothing; the next cycle is open with fresh pools.
    assert billing.close(family) == []
    assert [i.number for i in billing.invoices(family)] == ["INV-2026-000001"]
    with uow_factory() as uow:
        found = uow.families.get(family)
        assert (found.cycle.number, found.cycle.start) == (2, date(2026, 12, 1))
        plan = uow.plans.get(found.plan_code)
        ledger = uow.ledgers.get(found.id, 2, plan)
        assert all(counter.used == 0 for counter in ledger.pools.values())
        # Unused home data rolls over (the HK plan says so): 100 GB - 3 GB from the pool.
        assert found.cycle.pools[(Resource.DATA, HOME)].total == 100 * GB + 97 * GB
        assert found.cycle.pools[(Resource.DATA, CHINA)].total == 10 * GB  # roaming: no
        assert found.cycle.plan_in_force(plan).allowance(Resource.DATA, HOME) == 197 * GB
        audit = [e.action for e in uow.audit.for_family(found.id, limit=50)]
        assert "invoice.issued" in audit
    # and charging decides against the bigger pool at once
    charging = ChargingService(uow_factory, now=lambda: datetime(2026, 12, 2, tzinfo=UTC))
    big = ChargingRequest(
        "ana-dec",
        0,
        RequestType.INITIAL,
        "+85291239001",
        (ServiceUse(Resource.DATA, requested=150 * GB),),
    )
    assert charging.handle(big).services[0].granted == 150 * GB
    stored, notes = billing.invoice("INV-2026-000001")
    assert stored == invoice
    assert notes == []


def test_a_session_open_at_the_close_goes_on_in_the_new_cycle(month, uow_factory) -> None:  # type: ignore[no-untyped-def]
    family, _, billing = month
    late = datetime(2026, 11, 30, 23, 30, tzinfo=HK)
    charging = ChargingService(uow_factory, now=lambda: late)
    opened = ChargingRequest(
        "ana-late",
        0,
        RequestType.INITIAL,
        "+85291239001",
        (ServiceUse(Resource.DATA, requested=GB),),
    )
    assert charging.handle(opened).services[0].granted == GB
    billing.close(family)
    early = datetime(2026, 12, 1, 0, 45, tzinfo=HK)
    charging = ChargingService(uow_factory, now=lambda: early)
    update = ChargingRequest(
        "ana-late",
        1,
        RequestType.UPDATE,
        "+85291239001",
        (ServiceUse(Resource.DATA, used=GB // 2, requested=GB),),
    )
    assert charging.handle(update).services[0].granted == GB
    with uow_factory() as uow:
        found = uow.families.get(family)
        plan = uow.plans.get(found.plan_code)
        closed = uow.ledgers.get(found.id, 1, plan).pool((Resource.DATA, HOME))
        now_open = uow.ledgers.get(found.id, 2, plan).pool((Resource.DATA, HOME))
    assert closed.reserved == 0  # the closed cycle holds nothing any more
    assert (now_open.used, now_open.reserved) == (GB // 2, GB)


def test_a_correction_is_a_credit_note_never_a_new_rating(month) -> None:  # type: ignore[no-untyped-def]
    family, ids, billing = month
    [invoice] = billing.close(family)
    note = billing.credit(invoice.number, 3_000, "roaming charged twice by the visited network")
    assert note.number == "CN-2026-000001"
    assert dict(note.shares) == {ids["Ana"]: 3_000, ids["Ben"]: 0, ids["Cai"]: 0}  # owner paid
    with pytest.raises(InvalidAmount, match="left to credit"):
        billing.credit(invoice.number, invoice.total, "too much")
    again, notes = billing.invoice(invoice.number)
    assert again == invoice
    assert [n.number for n in notes] == ["CN-2026-000001"]
