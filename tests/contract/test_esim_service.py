"""The eSIM lifecycle end to end through the service, on memory, SQLite and PostgreSQL.

The operator side (EsimService) orders from the built-in SM-DP+ in process (LocalEs2); the
SM-DP+'s progress notifications go through its real outbox and sender into the operator's
receiver, as bodies on the wire. Nothing here is faked but the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from demo_charging import T0, Now
from famsim.adapters.es2plus.local import LocalEs2
from famsim.adapters.es2plus.receiver import in_process_receiver
from famsim.adapters.memory import MemorySmdpStore
from famsim.domain.errors import FamsimError, InvalidIdentifier, InvalidInput, RuleViolation
from famsim.domain.esim.device import DeviceRefused, TacAllowList
from famsim.domain.esim.profile_state import ProfileState
from famsim.domain.esim.stock import OutOfStock, StockedSim, StockState
from famsim.domain.family import Family
from famsim.domain.identifiers import Eid, Iccid, Imei, Imsi, Msisdn
from famsim.domain.lines import SimType, SubscriptionState
from famsim.domain.members import Role
from famsim.domain.numbers import NumberState, NumberUnavailable
from famsim.domain.plan import DeviceKind, Plan
from famsim.domain.units import Resource
from famsim.service.charging import ChargingRequest, ChargingService, RequestType, ServiceUse
from famsim.service.esim import Device, EsimService, Ordered, OrderFailed
from famsim.service.inventory import offer_numbers
from famsim.service.smdp import SmdpService
from famsim.service.smdp_delivery import NotificationSender

pytestmark = pytest.mark.integration

SMS = Resource.SMS
S = SubscriptionState
ADDRESS = "smdp.famsim.localhost"
PHONE_EID = "89049032000010000000000000000049"
NEW_PHONE_EID = "89049032000010000000000000000243"
WATCH_EID = "89049032000010000000000000000340"


def iccid(n: int) -> Iccid:
    return Iccid.from_body(f"898520000099{n:06d}")


def imsi(n: int) -> Imsi:
    return Imsi.parse(f"45400{n:010d}")


def eid(text: str) -> Eid:
    return Eid.parse(text)


@dataclass
class World:
    """The operator's side and the SM-DP+, on one backend, with a clock the test moves."""

    uow: Callable[[], Any]
    now: Now
    smdp: SmdpService
    esim: EsimService
    sender: NotificationSender
    family: Family

    def deliver(self) -> list[Any]:
        return self.sender.deliver_due(self.now())

    def device(self, call: Callable[..., Any], **kw: Any) -> Any:
        """A simulated device step at the SM-DP+, then its callbacks delivered."""
        try:
            return self.smdp.run(lambda inventory, now: call(inventory, now=now, **kw))
        finally:
            self.deliver()

    def download(self, ordered: Ordered, device_eid: str, *, code: str | None = None) -> Any:
        assert ordered.activation_code is not None
        return self.device(
            lambda inv, now, **kw: inv.download_code(now=now, **kw),
            activation_code=ordered.activation_code,
            eid=eid(device_eid),
            confirmation_code=ordered.confirmation_code if code is None else code,
        )

    def fresh(self) -> Family:
        with self.uow() as uow:
            return uow.families.get(self.family.id)

    def sub(self, target: Iccid) -> Any:
        return self.fresh().subscription_of_iccid(target)[1]

    def stock_state(self, target: Iccid) -> StockState | None:
        with self.uow() as uow:
            found = uow.sims.get(target)
        return found.state if found else None

    def number_state(self, number: Msisdn) -> NumberState | None:
        with self.uow() as uow:
            return uow.numbers.state_of(number, self.now())

    def actions(self) -> list[str]:
        with self.uow() as uow:
            return [e.action for e in uow.audit.for_family(self.family.id)]


@pytest.fixture
def world(uow_factory: Any, hk_plan: Plan) -> World:
    now = Now(T0)
    family = Family.create(
        name="Chan family", plan=hk_plan, owner_name="Chan Tai Man", today=T0.date()
    )
    family.add_member(hk_plan, name="Wong Mei Ling", role=Role.ADULT, today=T0.date())
    stock = [StockedSim(iccid(n), imsi(n), SimType.ESIM, "phone-5g") for n in range(1, 7)]
    stock += [StockedSim(iccid(n), imsi(n), SimType.ESIM, "watch-lte") for n in range(11, 13)]
    stock.append(StockedSim(iccid(21), imsi(21), SimType.PHYSICAL, None))
    stock.append(StockedSim(iccid(31), imsi(31), SimType.ESIM, "phone-5g-missing"))
    with uow_factory() as uow:
        uow.families.add(family)
        uow.sims.add_all(stock, now())
        uow.numbers.add_range(Msisdn.parse("+85291230000"), Msisdn.parse("+85291230009"), now())
        uow.commit()
    smdp = SmdpService(MemorySmdpStore(), ADDRESS, now)
    # The SM-DP+ holds every eSIM profile of the stock but the "missing" one.
    smdp.run(
        lambda inventory, _: inventory.add_all(
            [(s.iccid, s.profile_type or "") for s in stock if s.sim_type is SimType.ESIM][:-1]
        )
    )
    esim = EsimService(uow_factory, LocalEs2(smdp), now)
    sender = NotificationSender(smdp.store, in_process_receiver(esim), now)
    return World(uow_factory, now, smdp, esim, sender, family)


def order_phone(world: World, member: str = "Chan Tai Man", **kw: Any) -> Ordered:
    return world.esim.order_line(
        world.family.id,
        member,
        device=Device(DeviceKind.PHONE, PHONE_EID),
        profile_type="phone-5g",
        **kw,
    )


# --- a new line, from order to enabled -----------------------------------------------------


def test_order_download_install_enable(world: World) -> None:
    offer = offer_numbers(world.uow, 3, world.now(), "test")
    assert len(offer.numbers) == 3
    ordered = order_phone(world, msisdn=offer.numbers[1].e164, offer_id=offer.offer_id)
    assert ordered.state is S.RELEASED
    assert ordered.msisdn == offer.numbers[1]
    assert ordered.activation_code is not None
    assert ordered.activation_code.smdp_address == ADDRESS.upper()
    assert ordered.activation_code.confirmation_code_required
    assert ordered.confirmation_code is not None
    assert ordered.confirmation_code not in ordered.activation_code.qr_payload
    assert world.stock_state(ordered.iccid) is StockState.ASSIGNED
    assert world.number_state(ordered.msisdn) is NumberState.ASSIGNED
    for other in (offer.numbers[0], offer.numbers[2]):
        assert world.number_state(other) is NumberState.FREE, "the rest of the offer is let go"

    world.download(ordered, PHONE_EID)
    assert world.sub(ordered.iccid).state is S.DOWNLOADED
    assert world.sub(ordered.iccid).confirmation_code is None
    world.device(lambda inv, now, **kw: inv.install(now=now, **kw), iccid=ordered.iccid)
    assert world.sub(ordered.iccid).state is S.INSTALLED
    world.device(lambda inv, now, **kw: inv.enable(now=now, **kw), iccid=ordered.iccid)
    assert world.sub(ordered.iccid).state is S.ENABLED
    assert world.actions() == [
        "line.ordered",
        "esim.released",
        "esim.progress",
        "esim.progress",
        "esim.progress",
    ]
    with world.uow() as uow:
        events = [
            e for e in uow.outbox.for_family(world.family.id) if e.kind == "esim.state_changed"
        ]
    assert [(e.payload["before"], e.payload["state"]) for e in events] == [
        ("ordered", "released"),
        ("released", "downloaded"),
        ("downloaded", "installed"),
        ("installed", "enabled"),
    ]
    assert all(e.payload["number"] == ordered.msisdn.e164 for e in events)


def test_a_repeated_callback_is_acted_on_once(world: World) -> None:
    ordered = order_phone(world)
    world.smdp.run(
        lambda inv, now: inv.download_code(
            now=now,
            activation_code=ordered.activation_code,
            eid=eid(PHONE_EID),
            confirmation_code=ordered.confirmation_code,
        )
    )
    bodies: list[bytes] = []
    receive = in_process_receiver(world.esim)

    def twice(body: bytes) -> None:
        bodies.append(body)
        receive(body)
        receive(body)  # the SM-DP+ retried: a lost 204

    NotificationSender(world.smdp.store, twice, world.now).deliver_due(world.now())
    assert len(bodies) == 1
    assert world.sub(ordered.iccid).state is S.DOWNLOADED
    assert world.actions().count("esim.progress") == 1


def test_a_wrong_confirmation_code_counts_and_the_limit_ends_the_order(world: World) -> None:
    ordered = order_phone(world)
    with pytest.raises(FamsimError):
        world.download(ordered, PHONE_EID, code="00000000")
    assert world.sub(ordered.iccid).state is S.RELEASED, "one wrong code only counts"
    for _ in range(4):
        with pytest.raises(FamsimError):
            world.download(ordered, PHONE_EID, code="00000000")
    assert world.sub(ordered.iccid).state is S.ERROR
    line = world.fresh().line(ordered.line_id)
    assert line.is_closed, "a new line whose only SIM failed is closed"
    assert world.number_state(ordered.msisdn) is NumberState.FREE
    assert world.stock_state(ordered.iccid) is StockState.RETIRED


# --- bad input leaves nothing half-made -------------------------------------------------


def _nothing_changed(world: World, before: Family) -> None:
    after = world.fresh()
    assert after.lines == before.lines
    assert after.version == before.version


@pytest.mark.parametrize(
    ("device", "profile_type", "error"),
    [
        (Device(DeviceKind.PHONE, None), "phone-5g", DeviceRefused),  # no EID
        (
            Device(DeviceKind.PHONE, "8904903200001000000000000000001X"),
            "phone-5g",
            InvalidIdentifier,
        ),
        (
            Device(DeviceKind.PHONE, PHONE_EID, imei="353322110000001"),
            "phone-5g",
            InvalidIdentifier,
        ),
        (Device(DeviceKind.PHONE, PHONE_EID), "no-such-type", OutOfStock),
        (Device(DeviceKind.PHONE, PHONE_EID), None, InvalidInput),
    ],
)
def test_refused_orders_change_nothing(
    world: World, device: Device, profile_type: str | None, error: type[Exception]
) -> None:
    before = world.fresh()
    with pytest.raises(error):
        world.esim.order_line(
            world.family.id, "Chan Tai Man", device=device, profile_type=profile_type
        )
    _nothing_changed(world, before)
    with world.uow() as uow:
        assert uow.numbers.counts(world.now())[NumberState.FREE] == 10
        assert all(s != "assigned" for _, _, s, _ in uow.sims.counts())


def test_a_number_not_offered_is_refused(world: World) -> None:
    offer = offer_numbers(world.uow, 1, world.now(), "test")
    other = next(
        Msisdn.parse(f"+8529123000{n}")
        for n in range(10)
        if Msisdn.parse(f"+8529123000{n}") != offer.numbers[0]
    )
    before = world.fresh()
    with pytest.raises(NumberUnavailable):
        order_phone(world, msisdn=other.e164, offer_id=offer.offer_id)
    _nothing_changed(world, before)


def test_an_order_the_smdp_refuses_is_undone(world: World) -> None:
    with pytest.raises(OrderFailed, match=r"8\.2\.1/3\.9"):
        world.esim.order_line(
            world.family.id,
            "Chan Tai Man",
            device=Device(DeviceKind.PHONE, PHONE_EID),
            profile_type="phone-5g-missing",
        )
    family = world.fresh()
    assert [line.is_closed for line in family.lines.values()] == [True]
    line = next(iter(family.lines.values()))
    assert line.primary.state is S.ERROR
    assert world.number_state(line.msisdn) is NumberState.FREE, "never reachable: no quarantine"
    assert world.stock_state(iccid(31)) is StockState.RETIRED
    assert world.actions() == ["line.ordered", "esim.order_failed"]
    assert family.counted_lines == []


# --- cancel, expire, close --------------------------------------------------------------


def test_cancel_before_download(world: World) -> None:
    ordered = order_phone(world)
    world.esim.cancel(world.family.id, str(ordered.iccid))
    assert world.sub(ordered.iccid).state is S.DELETED
    assert world.fresh().line(ordered.line_id).is_closed
    state = world.smdp.run(lambda inv, _: inv.profiles[ordered.iccid].state)
    assert state is ProfileState.UNAVAILABLE
    with pytest.raises(RuleViolation):
        world.esim.cancel(world.family.id, str(ordered.iccid))


def test_too_late_to_cancel_after_download(world: World) -> None:
    ordered = order_phone(world)
    world.download(ordered, PHONE_EID)
    with pytest.raises(RuleViolation, match="only an order not yet downloaded"):
        world.esim.cancel(world.family.id, str(ordered.iccid))


def test_orders_expire(world: World) -> None:
    ordered = order_phone(world)
    world.now.advance(timedelta(days=7).total_seconds() - 1)
    assert world.esim.expire_orders() == []
    world.now.advance(1)
    assert world.esim.expire_orders() == [(world.family.id, ordered.iccid)]
    assert world.sub(ordered.iccid).state is S.ERROR
    assert world.fresh().line(ordered.line_id).is_closed
    assert world.esim.expire_orders() == []
    assert "esim.order_expired" in world.actions()


def test_closing_a_line_quarantines_its_number(world: World) -> None:
    ordered = order_phone(world)
    world.download(ordered, PHONE_EID)
    back = world.esim.close_line(world.family.id, ordered.msisdn.e164)
    assert back == world.now() + timedelta(days=90)
    assert world.number_state(ordered.msisdn) is NumberState.QUARANTINED
    assert world.sub(ordered.iccid).state is S.DELETED
    assert world.stock_state(ordered.iccid) is StockState.RETIRED
    world.now.advance(timedelta(days=90).total_seconds())
    assert world.number_state(ordered.msisdn) is NumberState.FREE
    again = order_phone(world, "Wong Mei Ling", msisdn=ordered.msisdn.e164)
    assert again.msisdn == ordered.msisdn, "after the quarantine the number serves a new line"


# --- one member, many devices; device change ------------------------------------------------


def imsi_of(world: World, target: Iccid) -> Imsi:
    imsi_: Imsi = world.sub(target).imsi
    return imsi_


def _in_service(world: World) -> Ordered:
    ordered = order_phone(world)
    world.download(ordered, PHONE_EID)
    world.device(lambda inv, now, **kw: inv.install(now=now, **kw), iccid=ordered.iccid)
    return ordered


def test_a_watch_and_a_physical_sim_join_the_line(world: World) -> None:
    phone = _in_service(world)
    watch = world.esim.order_companion(
        world.family.id,
        phone.msisdn.e164,
        device=Device(DeviceKind.WATCH, WATCH_EID),
        profile_type="watch-lte",
    )
    assert watch.msisdn == phone.msisdn
    tablet = world.esim.order_companion(
        world.family.id,
        phone.msisdn.e164,
        device=Device(DeviceKind.TABLET),
        physical_iccid=str(iccid(21)),
    )
    assert tablet.state is S.ENABLED, "a card in hand is in service at once"
    assert tablet.activation_code is None
    line = world.fresh().line(phone.line_id)
    assert [s.device_kind for s in line.subscriptions] == [
        DeviceKind.PHONE,
        DeviceKind.WATCH,
        DeviceKind.TABLET,
    ]
    with pytest.raises(InvalidInput):
        world.esim.order_companion(
            world.family.id,
            phone.msisdn.e164,
            device=Device(DeviceKind.PHONE, PHONE_EID),
            profile_type="phone-5g",
        )


def _sms(charging: ChargingService, subscriber: Imsi, session: str) -> str:
    answer = charging.handle(
        ChargingRequest(session, 0, RequestType.EVENT, subscriber.digits, (ServiceUse(SMS),))
    )
    return answer.outcome


def _sms_members(world: World) -> list[str]:
    with world.uow() as uow:
        records = uow.ledgers.usage(world.family.id, 1)
    return [r.member_id for r in records if r.resource is SMS]


def test_device_change_completes_and_both_devices_charge_the_member(world: World) -> None:
    old = _in_service(world)
    new = world.esim.change_device(
        world.family.id,
        str(old.iccid),
        device=Device(DeviceKind.PHONE, NEW_PHONE_EID),
        profile_type="phone-5g",
    )
    assert new.msisdn == old.msisdn
    assert world.sub(old.iccid).state is S.INSTALLED, "the old phone keeps working"
    with pytest.raises(RuleViolation):
        world.esim.change_device(
            world.family.id,
            str(old.iccid),
            device=Device(DeviceKind.PHONE, NEW_PHONE_EID),
            profile_type="phone-5g",
        )
    world.download(new, NEW_PHONE_EID)
    assert world.sub(old.iccid).state is S.INSTALLED
    charging = ChargingService(world.uow, world.now)
    assert _sms(charging, imsi_of(world, old.iccid), "old-1") == "success"
    assert _sms(charging, imsi_of(world, new.iccid), "new-1") == "success"
    world.device(lambda inv, now, **kw: inv.install(now=now, **kw), iccid=new.iccid)
    assert _sms(charging, imsi_of(world, new.iccid), "new-2") == "success"
    assert _sms(charging, imsi_of(world, old.iccid), "old-2") == "user_unknown"
    owner = world.family.owner_id
    assert _sms_members(world) == [owner, owner, owner], "one member throughout"
    family = world.fresh()
    line = family.line(old.line_id)
    assert line.primary.iccid == new.iccid
    assert world.sub(old.iccid).state is S.DELETED
    assert world.stock_state(old.iccid) is StockState.RETIRED
    assert "esim.progress" in world.actions()
    with world.uow() as uow:
        events = uow.audit.for_family(world.family.id)
    done = [e for e in events if e.detail.get("retired") == str(old.iccid)]
    assert len(done) == 1


@pytest.mark.parametrize("failure", ["reject", "fail", "expire"])
def test_device_change_rolls_back(world: World, failure: str) -> None:
    old = _in_service(world)
    new = world.esim.change_device(
        world.family.id,
        str(old.iccid),
        device=Device(DeviceKind.PHONE, NEW_PHONE_EID),
        profile_type="phone-5g",
    )
    if failure == "reject":
        world.device(lambda inv, now, **kw: inv.reject(now=now, **kw), iccid=new.iccid)
    elif failure == "fail":
        world.download(new, NEW_PHONE_EID)
        world.device(lambda inv, now, **kw: inv.fail(now=now, **kw), iccid=new.iccid)
    else:
        world.now.advance(timedelta(days=8).total_seconds())
        world.esim.expire_orders()
    line = world.fresh().line(old.line_id)
    assert line.primary.iccid == old.iccid
    assert world.sub(old.iccid).state is S.INSTALLED
    assert world.sub(new.iccid).state is S.ERROR
    assert not line.is_closed
    assert world.stock_state(new.iccid) is StockState.RETIRED
    assert world.stock_state(old.iccid) is StockState.ASSIGNED


# --- a stop between the steps, and the operator's device list ----------------------------


class _StopsAfterDownloadOrder:
    """An ES2+ port that reserves the profile and then 'crashes' (the process dies before
    ConfirmOrder): what is left must be undone by the order's deadline."""

    def __init__(self, inner: LocalEs2) -> None:
        self.inner = inner
        self.smdp_address = inner.smdp_address

    def download_order(self, **kw: Any) -> Iccid:
        return self.inner.download_order(**kw)

    def confirm_order(self, **kw: Any) -> Any:
        raise KeyboardInterrupt  # not an SM-DP+ refusal: nothing catches it

    def cancel_order(self, **kw: Any) -> None:
        self.inner.cancel_order(**kw)


def test_a_stop_between_the_steps_is_undone_at_the_deadline(world: World) -> None:
    stopping = EsimService(world.uow, _StopsAfterDownloadOrder(LocalEs2(world.smdp)), world.now)
    with pytest.raises(KeyboardInterrupt):
        stopping.order_line(
            world.family.id,
            "Chan Tai Man",
            device=Device(DeviceKind.PHONE, PHONE_EID),
            profile_type="phone-5g",
        )
    line = next(iter(world.fresh().lines.values()))
    assert line.primary.state is S.ORDERED, "step 1 was committed, step 3 never ran"
    assert world.stock_state(line.primary.iccid) is StockState.ASSIGNED
    world.now.advance(timedelta(days=7).total_seconds())
    assert world.esim.expire_orders() == [(world.family.id, line.primary.iccid)]
    assert world.fresh().line(line.id).is_closed
    assert world.number_state(line.msisdn) is NumberState.FREE
    assert world.stock_state(line.primary.iccid) is StockState.RETIRED
    state = world.smdp.run(lambda inv, _: inv.profiles[line.primary.iccid].state)
    assert state is ProfileState.UNAVAILABLE, "the reserved profile is cancelled at the SM-DP+"


def test_the_operators_device_list_refuses_other_models(world: World) -> None:
    allowed = TacAllowList(frozenset({"35332211"}))
    strict = EsimService(world.uow, LocalEs2(world.smdp), world.now, tac_allow_list=allowed)
    before = world.fresh()
    for imei, rule in ((None, "imei"), ("490154203237518", "tac")):
        with pytest.raises(DeviceRefused) as refused:
            strict.order_line(
                world.family.id,
                "Chan Tai Man",
                device=Device(DeviceKind.PHONE, PHONE_EID, imei=imei),
                profile_type="phone-5g",
            )
        assert refused.value.rule == rule
    _nothing_changed(world, before)
    ok = Imei.from_body("35332211000001")
    ordered = strict.order_line(
        world.family.id,
        "Chan Tai Man",
        device=Device(DeviceKind.PHONE, PHONE_EID, imei=str(ok)),
        profile_type="phone-5g",
    )
    assert world.sub(ordered.iccid).imei == ok


def test_a_phone_moves_to_a_physical_card_at_once(world: World) -> None:
    old = _in_service(world)
    card = world.esim.change_device(
        world.family.id,
        str(old.iccid),
        device=Device(DeviceKind.PHONE),
        physical_iccid=str(iccid(21)),
    )
    assert card.state is S.ENABLED
    line = world.fresh().line(old.line_id)
    assert line.primary.iccid == iccid(21)
    assert world.sub(old.iccid).state is S.DELETED
    assert world.stock_state(old.iccid) is StockState.RETIRED
    assert "device_change.completed" in world.actions()


def test_closing_a_line_cancels_its_waiting_orders_at_the_smdp(world: World) -> None:
    phone = _in_service(world)
    watch = world.esim.order_companion(
        world.family.id,
        phone.msisdn.e164,
        device=Device(DeviceKind.WATCH, WATCH_EID),
        profile_type="watch-lte",
    )
    world.esim.close_line(world.family.id, phone.msisdn.e164)
    assert world.sub(watch.iccid).state is S.DELETED
    state = world.smdp.run(lambda inv, _: inv.profiles[watch.iccid].state)
    assert state is ProfileState.UNAVAILABLE
    with pytest.raises(FamsimError):
        world.download(watch, WATCH_EID)
