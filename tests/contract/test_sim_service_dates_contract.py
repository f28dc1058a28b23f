"""The days SIMs enter and leave service survive storage, on memory, SQLite and PostgreSQL,
and the service sets them (commands with the Clock's day, eSIM steps with the family's day).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from demo_charging import T0, Now
from famsim.adapters.es2plus.local import LocalEs2
from famsim.adapters.memory import MemorySmdpStore
from famsim.domain.esim.provisioning import BPP_DOWNLOAD, BPP_INSTALLATION, PROFILE_ENABLED
from famsim.domain.esim.stock import StockedSim
from famsim.domain.family import Family
from famsim.domain.identifiers import Eid, Iccid, Imsi, Msisdn
from famsim.domain.ids import SubscriptionId, new_id
from famsim.domain.lines import SimType, Subscription, SubscriptionState
from famsim.domain.plan import DeviceKind, Plan
from famsim.service import commands as c
from famsim.service.esim import Device, EsimService, ProgressReport
from famsim.service.messagebus import MessageBus
from famsim.service.smdp import SmdpService
from famsim.service.views import family_view

pytestmark = pytest.mark.integration

S = SubscriptionState
TODAY = date(2026, 1, 15)
AT = datetime(2026, 1, 20, 3, 0, tzinfo=UTC)  # 11:00 in Hong Kong
PHONE_EID = "89049032000010000000000000000049"


def iccid(n: int) -> Iccid:
    return Iccid.from_body(f"898520000077{n:06d}")


def imsi(n: int) -> Imsi:
    return Imsi.parse(f"45400770{n:07d}")


def msisdn(n: int) -> Msisdn:
    return Msisdn.parse(f"+8529177{n:04d}")


def subscription(
    n: int,
    device: DeviceKind = DeviceKind.PHONE,
    *,
    primary: bool = True,
    sim: SimType = SimType.PHYSICAL,
    state: SubscriptionState = S.ENABLED,
) -> Subscription:
    return Subscription(
        id=SubscriptionId(new_id()),
        iccid=iccid(n),
        imsi=imsi(n),
        sim_type=sim,
        device_kind=device,
        primary=primary,
        state=state,
        profile_type="phone-5g" if sim is SimType.ESIM else None,
    )


def dates(family: Family) -> dict[str, tuple[date | None, date | None]]:
    return {str(s.iccid): (s.in_service_on, s.out_of_service_on) for s in family.subscriptions()}


def load(uow_factory: Any, family_id: str) -> Family:
    with uow_factory() as uow:
        return uow.families.get(family_id)


# --- storage ---------------------------------------------------------------------------


def test_service_dates_survive_a_save_and_a_load(uow_factory: Any, hk_plan: Plan) -> None:
    family = Family.create(name="Ho family", plan=hk_plan, owner_name="Ho Wing", today=TODAY)
    owner = family.owner_id
    line = family.add_line(
        hk_plan, member_id=owner, msisdn=msisdn(1), primary=subscription(1), data_only=False
    )
    line.primary.enter_service(TODAY)
    watch = subscription(2, DeviceKind.WATCH, primary=False, sim=SimType.ESIM, state=S.ORDERED)
    family.add_companion(line.id, watch)
    closed = family.add_line(
        hk_plan,
        member_id=owner,
        msisdn=msisdn(3),
        primary=subscription(3),
        data_only=False,
        today=TODAY,
    )
    family.close_line(closed.id, date(2026, 1, 18), AT)
    expected = {
        str(iccid(1)): (TODAY, None),
        str(iccid(2)): (None, None),
        str(iccid(3)): (TODAY, date(2026, 1, 18)),
    }
    assert dates(family) == expected
    with uow_factory() as uow:
        uow.families.add(family)
        uow.commit()

    loaded = load(uow_factory, family.id)
    assert dates(loaded) == expected
    assert loaded.subscriptions() == family.subscriptions()


def test_service_dates_set_later_are_written(uow_factory: Any, hk_plan: Plan) -> None:
    """An eSIM stored as ordered gets its day when installed, and its end when its line
    closes, each in a later unit of work (rows updated, not inserted)."""
    family = Family.create(name="Ho family", plan=hk_plan, owner_name="Ho Wing", today=TODAY)
    esim = subscription(1, sim=SimType.ESIM, state=S.ORDERED)
    line = family.add_line(
        hk_plan, member_id=family.owner_id, msisdn=msisdn(1), primary=esim, data_only=False
    )
    with uow_factory() as uow:
        uow.families.add(family)
        uow.commit()
    with uow_factory() as uow:
        stored = uow.families.get(family.id, for_update=True)
        stored.record_release(
            esim.iccid, matching_id="M-1", confirmation_code=None, expires_at=AT, at=AT
        )
        stored.report(esim.iccid, S.INSTALLED, AT + timedelta(hours=14))  # 01:00 next day
        uow.commit()
    assert dates(load(uow_factory, family.id)) == {str(esim.iccid): (date(2026, 1, 21), None)}
    with uow_factory() as uow:
        stored = uow.families.get(family.id, for_update=True)
        stored.close_line(line.id, date(2026, 1, 30), AT + timedelta(days=10))
        uow.commit()
    assert dates(load(uow_factory, family.id)) == {
        str(esim.iccid): (date(2026, 1, 21), date(2026, 1, 30))
    }


# --- set by the service ----------------------------------------------------------------


def test_lines_added_by_command_are_in_service_on_the_clocks_day(
    bus: MessageBus, uow_factory: Any, clock: Any
) -> None:
    """``famsim line add`` / AddLine / AddCompanion (the demo family): SIMs on their
    devices from the start, in service the day they are added."""
    family_id = bus.handle(c.CreateFamily("Ho family", "hk-family-5g-100", "Ho Wing"))
    first_day = clock.today()
    spec = c.SubscriptionSpec(str(iccid(1)), str(imsi(1)), SimType.PHYSICAL)
    bus.handle(c.AddLine(family_id, "Ho Wing", msisdn(1).e164, spec))
    clock.current = first_day + timedelta(days=4)
    watch = c.SubscriptionSpec(
        str(iccid(2)),
        str(imsi(2)),
        SimType.ESIM,
        DeviceKind.WATCH,
        eid=str(Eid.from_body("890490320000100000000000000077")),
    )
    bus.handle(c.AddCompanion(family_id, msisdn(1).e164, watch))
    family = load(uow_factory, family_id)
    assert dates(family) == {
        str(iccid(1)): (first_day, None),
        str(iccid(2)): (first_day + timedelta(days=4), None),
    }
    shown = family_view(family)["lines"][0]["subscriptions"]
    assert [(s["in_service_on"], s["out_of_service_on"]) for s in shown] == [
        (first_day.isoformat(), None),
        ((first_day + timedelta(days=4)).isoformat(), None),
    ]


@pytest.fixture
def esim(uow_factory: Any, hk_plan: Plan) -> tuple[EsimService, Now, Family]:
    """The eSIM service on the backend, over the built-in SM-DP+ (in process), with a
    Hong Kong family, two eSIM profiles and two SIM cards in stock."""
    now = Now(T0)
    family = Family.create(name="Ho family", plan=hk_plan, owner_name="Ho Wing", today=T0.date())
    stock = [StockedSim(iccid(n), imsi(n), SimType.ESIM, "phone-5g") for n in (1, 2)]
    stock += [StockedSim(iccid(n), imsi(n), SimType.PHYSICAL, None) for n in (21, 22)]
    with uow_factory() as uow:
        uow.families.add(family)
        uow.sims.add_all(stock, now())
        uow.numbers.add_range(msisdn(0), msisdn(9), now())
        uow.commit()
    smdp = SmdpService(MemorySmdpStore(), "smdp.famsim.localhost", now)
    smdp.run(lambda inventory, _: inventory.add_all([(iccid(n), "phone-5g") for n in (1, 2)]))
    return EsimService(uow_factory, LocalEs2(smdp), now), now, family


def test_the_esim_service_dates_service_by_the_familys_day(
    esim: tuple[EsimService, Now, Family], uow_factory: Any
) -> None:
    """T0 is 20:00 in Hong Kong; 17:00 UTC is 01:00 the next day there."""
    service, now, family = esim
    ordered = service.order_line(
        family.id, "Ho Wing", device=Device(DeviceKind.PHONE, PHONE_EID), profile_type="phone-5g"
    )
    card = service.order_line(family.id, "Ho Wing", device=Device(), physical_iccid=str(iccid(21)))
    feb3, feb4 = date(2026, 2, 3), date(2026, 2, 4)
    assert dates(load(uow_factory, family.id)) == {
        str(ordered.iccid): (None, None),
        str(card.iccid): (feb3, None),
    }

    def step(point: int, call: str) -> None:
        service.handle_progress(ProgressReport("smdp", call, ordered.iccid, point, True))

    now.current = datetime(2026, 2, 3, 15, 30, tzinfo=UTC)  # 23:30 in Hong Kong
    step(BPP_DOWNLOAD, "1")
    assert dates(load(uow_factory, family.id))[str(ordered.iccid)] == (None, None)
    now.current = datetime(2026, 2, 3, 17, 0, tzinfo=UTC)  # 01:00 on Feb 4 in Hong Kong
    step(BPP_INSTALLATION, "2")
    assert dates(load(uow_factory, family.id))[str(ordered.iccid)] == (feb4, None)
    now.current = datetime(2026, 2, 5, 2, 0, tzinfo=UTC)
    step(PROFILE_ENABLED, "3")
    assert dates(load(uow_factory, family.id))[str(ordered.iccid)] == (feb4, None)

    # A card for a new device: the change completes at once, the old card retires.
    now.current = datetime(2026, 2, 6, 2, 0, tzinfo=UTC)
    moved = service.change_device(
        family.id, str(card.iccid), device=Device(), physical_iccid=str(iccid(22))
    )
    feb6 = date(2026, 2, 6)
    assert dates(load(uow_factory, family.id))[str(card.iccid)] == (feb3, feb6)
    assert dates(load(uow_factory, family.id))[str(moved.iccid)] == (feb6, None)

    # Closing the eSIM's line at 16:30 UTC on Feb 10: 00:30 on Feb 11 in Hong Kong.
    now.current = datetime(2026, 2, 10, 16, 30, tzinfo=UTC)
    service.close_line(family.id, ordered.msisdn.e164)
    loaded = load(uow_factory, family.id)
    assert loaded.line(ordered.line_id).closed_on == date(2026, 2, 11)
    assert dates(loaded)[str(ordered.iccid)] == (feb4, date(2026, 2, 11))
    view = {
        s["iccid"]: (s["in_service_on"], s["out_of_service_on"])
        for line in family_view(loaded)["lines"]
        for s in line["subscriptions"]
    }
    assert view[str(ordered.iccid)] == ("2026-02-04", "2026-02-11")
    assert view[str(moved.iccid)] == ("2026-02-06", None)


def test_a_cancelled_order_never_enters_service(
    esim: tuple[EsimService, Now, Family], uow_factory: Any
) -> None:
    service, _, family = esim
    ordered = service.order_line(
        family.id, "Ho Wing", device=Device(DeviceKind.PHONE, PHONE_EID), profile_type="phone-5g"
    )
    service.cancel(family.id, str(ordered.iccid))
    loaded = load(uow_factory, family.id)
    assert loaded.subscription_of_iccid(ordered.iccid)[1].state is S.DELETED
    assert dates(loaded)[str(ordered.iccid)] == (None, None)


def test_dates_are_plain_dates(uow_factory: Any, hk_plan: Plan) -> None:
    """Stored as DATE: they come back as dates, not datetimes, on every store."""
    family = Family.create(name="Ho family", plan=hk_plan, owner_name="Ho Wing", today=TODAY)
    sub = dataclasses.replace(subscription(1), state_changed_at=AT)
    family.add_line(
        hk_plan, member_id=family.owner_id, msisdn=msisdn(1), primary=sub, data_only=False
    )
    with uow_factory() as uow:
        uow.families.add(family)
        uow.commit()
    (loaded,) = load(uow_factory, family.id).subscriptions()
    assert type(loaded.in_service_on) is date
    assert loaded.in_service_on == date(2026, 1, 20)
