"""Hypothesis state machine: ChargingService keeps the charging invariants after every step.

The service-level twin of tests/property/test_ledger_machine.py, run on the in-memory
adapter, SQLite and PostgreSQL through the ``uow_factory`` fixture (one store per test, a
new family per example: families are independent). Each family (an owner, an adult, a
child under the owner) lives on a tiny variant of the sample HK plan (data at home 3,000
units + HKD 1.00 per 100, SMS 5 + HKD 0.50 each, greater-china data 1,000 + HKD 2.00 per
100, voice unlimited, hotspot sub-quota 600), so limits are hit all the time.

Rules: INITIAL on a new session (data, tethered data, voice, SMS at home, data in greater
China via PLMN 46000), UPDATE (used units from 0 to twice the last grant, so overshoot
happens) and TERMINATION, SMS events (to the emergency number 999 and the child's guardian,
which must be free, or to anyone), retransmissions of answered requests (same answer,
nothing moves), advancing the clock and ``expire_due``, allocation changes through the
message bus (limits possibly below what a member already used), a second worker on the same
store, and batches through ``handle_batch``.

After every step the state is read back through a fresh unit of work and checked against
ARCHITECTURE.md: counters equal the sums of the usage records (5), reserved counters equal
the live reservations, which are exactly the grants answered and not yet reported, expired
or terminated; pools never overdraw, quotas and hard caps are passed only by overshoot
(or by an owner lowering them below what was already used: 1, 2); money stays within the
caps plus what overshoot cost (3); every commit is booked as granted plus recorded
overshoot, and a retransmission changes nothing (4).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from famsim.adapters.catalog import load_catalog, sample_catalog_path
from famsim.domain.allocation import Allocation, Limit
from famsim.domain.charging.grants import ChargingRules, Denial, Quantum
from famsim.domain.charging.ledger import FamilyLedger, Key, ServiceKey, UsageRecord
from famsim.domain.family import Family
from famsim.domain.identifiers import Iccid
from famsim.domain.ids import MemberId
from famsim.domain.members import Role
from famsim.domain.money import Money
from famsim.domain.plan import HotspotRule, OverageRate, Plan
from famsim.domain.units import HOME, Resource, Zone
from famsim.service import commands as c
from famsim.service.charging import (
    ChargingAnswer,
    ChargingRequest,
    ChargingService,
    RequestType,
    ServiceUse,
)
from famsim.service.messagebus import MessageBus

pytestmark = pytest.mark.integration

DATA, VOICE, SMS = Resource.DATA, Resource.VOICE, Resource.SMS
GC = Zone("greater-china")
CHINA = "46000"
EMERGENCY = "999"
STRANGER = "+85298765432"
INITIAL, UPDATE, TERMINATION, EVENT = (
    RequestType.INITIAL,
    RequestType.UPDATE,
    RequestType.TERMINATION,
    RequestType.EVENT,
)


def hkd(minor: int) -> Money:
    return Money(minor, "HKD")


_HK = next(p for p in load_catalog(sample_catalog_path()) if p.code == "hk-family-5g-100")
PLAN: Plan = replace(
    _HK,
    code="hk-machine-tiny",
    name="Machine tiny share",
    allowances={(DATA, HOME): 3000, (VOICE, HOME): None, (SMS, HOME): 5, (DATA, GC): 1000},
    overage={
        (DATA, HOME): OverageRate(hkd(100), 100),
        (SMS, HOME): OverageRate(hkd(50), 1),
        (DATA, GC): OverageRate(hkd(200), 100),
    },
    hotspot=HotspotRule(True, 600),
)
VALIDITY = 60
RULES = ChargingRules(
    quanta={
        DATA: Quantum(300, VALIDITY),
        VOICE: Quantum(60, VALIDITY),
        SMS: Quantum(1, VALIDITY),
    }
)
KEYS: list[Key] = [(DATA, HOME), (SMS, HOME), (VOICE, HOME), (DATA, GC)]
HIGH: dict[Key, int] = {(DATA, HOME): 3000, (SMS, HOME): 6, (VOICE, HOME): 600, (DATA, GC): 1000}
"""Upper end of drawn quotas per (resource, zone): around the pool, so they bite."""
T0 = datetime(2026, 2, 3, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Service:
    """A charged service as the network sees it: what, where, tethered or not."""

    name: str
    resource: Resource
    zone: Zone
    tethered: bool = False
    plmn: str | None = None

    @property
    def key(self) -> ServiceKey:
        return (self.resource, self.zone, self.tethered)


SERVICES = (
    Service("data", DATA, HOME),
    Service("tethered", DATA, HOME, tethered=True),
    Service("voice", VOICE, HOME),
    Service("sms", SMS, HOME),
    Service("data-gc", DATA, GC, plmn=CHINA),
)
SMS_SERVICE = SERVICES[3]

_lines = itertools.count()
_sessions = itertools.count(1)


class Now:
    """A controllable now() for the services: aware UTC, shared by every example of a test
    and only ever moved forward (old families' reservations are long expired)."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


def _identity() -> tuple[str, c.SubscriptionSpec]:
    """A unique MSISDN and SIM identity (valid check digits) for the next line."""
    n = next(_lines)
    spec = c.SubscriptionSpec(iccid=str(Iccid.from_body(f"8985207{n:012d}")), imsi=f"45407{n:010d}")
    return f"+8529{3_000_000 + n:07d}", spec


@st.composite
def limits(draw: st.DrawFn, key: Key) -> Limit:
    quota = draw(st.none() | st.integers(0, HIGH[key]))
    extra = st.integers(0, HIGH[key] // 2)
    hard_cap = draw(st.none() | extra.map(lambda e: (quota or 0) + e))
    return Limit(quota=quota, hard_cap=hard_cap)


@st.composite
def allocations(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=3))
    return {
        "limits": {key: draw(limits(key)) for key in keys},
        "hotspot_quota": draw(st.none() | st.integers(0, 600)),
        "money_cap": draw(st.none() | st.just(hkd(0)) | st.integers(0, 800).map(hkd)),
        "roaming_allowed": draw(st.booleans()),
    }


# ----------------------------------------------------------------------------- the model
@dataclass
class Member:
    id: MemberId
    name: str
    imsi: str
    msisdn: str
    is_child: bool = False


@dataclass
class Session:
    id: str
    member: Member
    subscriber: str
    service: Service
    next_number: int = 1
    last_granted: int = 0


@dataclass(frozen=True)
class Outstanding:
    """A grant answered with units and not yet reported, expired or terminated."""

    member_id: MemberId
    units: int
    expires_at: datetime


@dataclass
class Pending:
    """A request about to be sent, with what the model expects of it."""

    request: ChargingRequest
    session: Session | None = None
    service: Service | None = None
    member: Member | None = None
    stored: ChargingAnswer | None = None
    """For a retransmission: the answer given the first time."""
    free: bool = False
    """An event to an always-allowed destination."""


@dataclass
class Baseline:
    """Where a member stood when its allocation last changed (the limits may have been set
    below what it already held): the excess over each limit, and the overshoot so far."""

    cap_excess: dict[Key, int] = field(default_factory=dict)
    quota_excess: dict[Key, int] = field(default_factory=dict)
    overshoot: dict[Key, int] = field(default_factory=dict)
    overage_overshoot: dict[Key, int] = field(default_factory=dict)
    hotspot_excess: int = 0
    tethered_overshoot: int = 0
    money_excess: int = 0


@dataclass
class State:
    """The family, its ledger and usage records as committed, read in one unit of work."""

    family: Family
    ledger: FamilyLedger
    records: list[UsageRecord]


RecordShape = tuple[str, MemberId, ServiceKey, int, int, int]
"""(session, member, service, units, overshoot, free) of a usage record."""


def shape(record: UsageRecord) -> RecordShape:
    service = (record.resource, record.zone, record.tethered)
    return (
        record.session_id,
        record.member_id,
        service,
        record.units,
        record.overshoot,
        record.free,
    )


def fingerprint(state: State) -> tuple[Any, ...]:
    """Everything charging can move, without the zero counters storage may omit."""
    ledger = state.ledger
    counters: dict[tuple[Any, ...], tuple[int, int]] = {}
    for key, counter in ledger.pools.items():
        if counter.used or counter.reserved:
            counters[(None, "pool", *key)] = (counter.used, counter.reserved)
    money: dict[MemberId, int] = {}
    for member_id, m in ledger.members.items():
        for kind, table in (("pool", m.pool), ("overage", m.overage)):
            for key, counter in table.items():
                if counter.used or counter.reserved:
                    counters[(member_id, kind, *key)] = (counter.used, counter.reserved)
        if m.tethered.used or m.tethered.reserved:
            counters[(member_id, "tethered")] = (m.tethered.used, m.tethered.reserved)
        if m.overage_reserved_minor:
            money[member_id] = m.overage_reserved_minor
    return counters, money, dict(ledger.reservations), list(state.records)


def _overage_overshoot(record: UsageRecord) -> int:
    """An upper bound of the overshoot units booked as overage (overshoot fills the pool
    first, then overage)."""
    return min(record.overshoot, record.from_overage)


def _charge(key: Key, units: int) -> int:
    rate = PLAN.overage.get(key)
    return rate.charge(units).minor if rate is not None and units else 0


def _member_totals(ledger: FamilyLedger, member_id: MemberId, key: Key) -> tuple[int, int]:
    """(pool used+reserved, pool+overage used+reserved) of a member for one key."""
    m = ledger.members.get(member_id)
    if m is None:
        return 0, 0
    pool = m.pool.get(key)
    over = m.overage.get(key)
    in_pool = (pool.used + pool.reserved) if pool else 0
    bought = (over.used + over.reserved) if over else 0
    return in_pool, in_pool + bought


def _tethered_total(ledger: FamilyLedger, member_id: MemberId) -> int:
    m = ledger.members.get(member_id)
    return (m.tethered.used + m.tethered.reserved) if m else 0


def _hotspot_limit(allocation: Allocation) -> int | None:
    limits = [v for v in (allocation.hotspot_quota, PLAN.hotspot.sub_quota) if v is not None]
    return min(limits) if limits else None


# ----------------------------------------------------------------------------- machine
class ChargingMachine(RuleBasedStateMachine):
    def __init__(self, uow_factory: Callable[[], Any], bus: MessageBus, now: Now) -> None:
        super().__init__()
        self.uow_factory = uow_factory
        self.bus = bus
        self.now = now
        now.advance(86_400)  # every earlier example's reservations are past due now
        self.workers = [ChargingService(uow_factory, now, RULES) for _ in range(2)]
        self.workers[0].expire_due()  # and released: expire_due counts only this family
        self.worker = 0
        self.family_id = ""
        self.family_cap: Money | None = None
        self.members: list[Member] = []
        self.allocations: dict[MemberId, Allocation] = {}
        self.baselines: dict[MemberId, Baseline] = {}
        self.sessions: dict[str, Session] = {}
        self.outstanding: dict[tuple[str, ServiceKey], Outstanding] = {}
        self.answered: list[tuple[ChargingRequest, ChargingAnswer]] = []
        self.state: State | None = None

    # ------------------------------------------------------------------ set-up
    @initialize(cap=st.none() | st.integers(0, 1500).map(hkd))
    def create_family(self, cap: Money | None) -> None:
        self.family_cap = cap
        family_id = self.bus.handle(
            c.CreateFamily(
                name="Machine family",
                plan_code=PLAN.code,
                owner_name="Owner",
                money_cap=cap,
                oversubscription_allowed=True,
            )
        )
        self.family_id = str(family_id)
        self.bus.handle(c.AddMember(self.family_id, "Adult", Role.ADULT))
        self.bus.handle(c.AddMember(self.family_id, "Child", Role.CHILD, guardian_id="Owner"))
        lines = {}
        for name in ("Owner", "Adult", "Child"):
            msisdn, spec = _identity()
            self.bus.handle(c.AddLine(self.family_id, name, msisdn, spec))
            lines[name] = (spec.imsi, msisdn)
        state = self.read()
        for member in state.family.members.values():
            imsi, msisdn = lines[member.name]
            self.members.append(
                Member(member.id, member.name, imsi, msisdn, member.name == "Child")
            )
            self.allocations[member.id] = state.family.allocation(member.id)
            self.baselines[member.id] = Baseline()
        assert len(self.members) == 3
        self.state = state

    def read(self) -> State:
        with self.uow_factory() as uow:
            family = uow.families.get(self.family_id)
            plan = uow.plans.get(family.plan_code)
            ledger = uow.ledgers.get(family.id, family.cycle.number, plan)
            records = list(uow.ledgers.usage(family.id, family.cycle.number))
        return State(family, ledger, records)

    def current(self) -> State:
        if self.state is None:
            self.state = self.read()
        return self.state

    @property
    def service(self) -> ChargingService:
        return self.workers[self.worker]

    # ------------------------------------------------------------------ building requests
    def _initial(self, data: st.DataObject) -> Pending:
        member = data.draw(st.sampled_from(self.members), label="member")
        service = data.draw(st.sampled_from(SERVICES), label="service")
        subscriber = data.draw(st.sampled_from([member.imsi, member.msisdn]), label="subscriber")
        requested = data.draw(st.none() | st.integers(1, 500), label="requested")
        session = Session(f"gy-{next(_sessions):06d};machine", member, subscriber, service)
        request = ChargingRequest(
            session.id,
            0,
            INITIAL,
            subscriber,
            (ServiceUse(service.resource, service.tethered, requested=requested),),
            serving_plmn=service.plmn,
        )
        return Pending(request, session, service, member)

    def _report(self, data: st.DataObject, kind: RequestType, busy: set[str]) -> Pending | None:
        open_ids = sorted(sid for sid in self.sessions if sid not in busy)
        if not open_ids:
            return None
        session = self.sessions[data.draw(st.sampled_from(open_ids), label="session")]
        service = session.service
        quantum = RULES.quanta[service.resource].units
        used = data.draw(st.integers(0, 2 * (session.last_granted or quantum)), label="used")
        requested = None
        if kind is UPDATE:
            requested = data.draw(st.none() | st.integers(1, 500), label="requested")
        request = ChargingRequest(
            session.id,
            session.next_number,
            kind,
            session.subscriber,
            (ServiceUse(service.resource, service.tethered, requested=requested, used=used),),
            serving_plmn=service.plmn,
        )
        return Pending(request, session, service, session.member)

    def _event(self, data: st.DataObject) -> Pending:
        member = data.draw(st.sampled_from(self.members), label="member")
        owner = next(m for m in self.members if m.name == "Owner")
        destination = data.draw(
            st.sampled_from([None, EMERGENCY, STRANGER, owner.msisdn]), label="destination"
        )
        requested = data.draw(st.none() | st.integers(1, 3), label="requested")
        free = destination == EMERGENCY or (member.is_child and destination == owner.msisdn)
        request = ChargingRequest(
            f"sms-{next(_sessions):06d};machine",
            0,
            EVENT,
            member.imsi,
            (ServiceUse(SMS, requested=requested),),
            destination=destination,
        )
        return Pending(request, None, SMS_SERVICE, member, free=free)

    def _retransmission(self, data: st.DataObject) -> Pending:
        request, answer = data.draw(st.sampled_from(self.answered), label="retransmit")
        return Pending(request, stored=answer)

    # ------------------------------------------------------------------ sending
    def _send(self, pending: Sequence[Pending]) -> None:
        before = self.current()
        requests = [p.request for p in pending]
        if len(requests) == 1:
            answers: list[Any] = [self.service.handle(requests[0])]
        else:
            answers = self.service.handle_batch(requests)
        self.state = None
        after = self.current()
        expected_records: list[RecordShape] = []
        for p, answer in zip(pending, answers, strict=True):
            assert isinstance(answer, ChargingAnswer), (p.request, answer)
            assert (answer.session_id, answer.request_number) == (
                p.request.session_id,
                p.request.request_number,
            )
            if p.stored is not None:
                assert answer == p.stored, "a retransmission must get the first answer back"
                continue
            expected_records.extend(self._apply(p, answer))
            self.answered.append((p.request, answer))
        new = [shape(r) for r in after.records[len(before.records) :]]
        assert after.records[: len(before.records)] == before.records, "a record changed"
        assert new == expected_records

    def _apply(self, p: Pending, answer: ChargingAnswer) -> list[RecordShape]:
        """Check one fresh answer, update the model; the usage records it must have made."""
        service, member = p.service, p.member
        assert service is not None
        assert member is not None
        request = p.request
        assert answer.outcome == "success", answer
        assert answer.zone == service.zone, answer
        assert len(answer.services) == 1, answer
        got = answer.services[0]
        assert (got.resource, got.tethered) == (service.resource.value, service.tethered)
        use = request.services[0]
        if use.requested is not None:
            assert got.granted <= use.requested, answer
        if got.outcome == "success":
            assert got.granted > 0 or request.request_type is TERMINATION, answer
        else:
            assert got.granted == 0, answer
            assert got.outcome in {d.value for d in Denial}, answer
        records: list[RecordShape] = []
        key = (request.session_id, service.key)
        if request.request_type is EVENT:
            if p.free:
                assert (got.outcome, got.granted) == ("success", use.requested or 1), answer
            else:
                self._check_denial_reason(member, service, got.outcome)
            if got.granted:
                free = got.granted if p.free else 0
                records.append((request.session_id, member.id, service.key, got.granted, 0, free))
            return records
        session = p.session
        assert session is not None
        held = self.outstanding.pop(key, None)
        if use.used:
            granted = held.units if held is not None else 0
            overshoot = max(use.used - granted, 0)
            records.append((session.id, member.id, service.key, use.used, overshoot, 0))
        session.next_number = request.request_number + 1
        if request.request_type is TERMINATION:
            assert (got.outcome, got.granted) == ("success", 0), answer
            self.sessions.pop(session.id, None)
            return records
        self._check_denial_reason(member, service, got.outcome)
        self.sessions[session.id] = session
        if got.granted:
            session.last_granted = got.granted
            self.outstanding[key] = Outstanding(
                member.id, got.granted, self.now() + timedelta(seconds=got.validity_seconds)
            )
        return records

    def _check_denial_reason(self, member: Member, service: Service, outcome: str) -> None:
        """Roaming and hotspot switches refuse outright; anything else only at a limit."""
        allocation = self.allocations[member.id]
        if service.zone != HOME and not allocation.roaming_allowed:
            assert outcome == Denial.ROAMING_NOT_ALLOWED.value
        elif service.tethered and allocation.hotspot_quota == 0:
            assert outcome == Denial.HOTSPOT_NOT_ALLOWED.value
        else:
            assert outcome in ("success", Denial.LIMIT_REACHED.value), outcome

    # ------------------------------------------------------------------ rules
    @rule(data=st.data())
    def initial(self, data: st.DataObject) -> None:
        self._send([self._initial(data)])

    @precondition(lambda self: bool(self.sessions))
    @rule(data=st.data())
    def update(self, data: st.DataObject) -> None:
        pending = self._report(data, UPDATE, set())
        assert pending is not None
        self._send([pending])

    @precondition(lambda self: bool(self.sessions))
    @rule(data=st.data())
    def terminate(self, data: st.DataObject) -> None:
        pending = self._report(data, TERMINATION, set())
        assert pending is not None
        self._send([pending])

    @rule(data=st.data())
    def sms_event(self, data: st.DataObject) -> None:
        self._send([self._event(data)])

    @precondition(lambda self: bool(self.answered))
    @rule(data=st.data())
    def retransmit(self, data: st.DataObject) -> None:
        """Same session, number and content: the same answer, and nothing moves."""
        before = fingerprint(self.current())
        self._send([self._retransmission(data)])
        assert fingerprint(self.current()) == before

    @rule(data=st.data(), size=st.integers(2, 4))
    def batch(self, data: st.DataObject, size: int) -> None:
        """Several requests in one handle_batch (one transaction), at most one per session."""
        pending: list[Pending] = []
        busy: set[str] = set()
        for _ in range(size):
            kind = data.draw(
                st.sampled_from(["initial", "update", "terminate", "event", "retransmit"]),
                label="kind",
            )
            item: Pending | None
            if kind == "initial":
                item = self._initial(data)
            elif kind == "event":
                item = self._event(data)
            elif kind == "retransmit":
                item = self._retransmission(data) if self.answered else None
            else:
                item = self._report(data, UPDATE if kind == "update" else TERMINATION, busy)
                if item is not None:
                    busy.add(item.request.session_id)
            if item is not None:
                pending.append(item)
        if pending:
            self._send(pending)

    @rule(seconds=st.integers(0, 120), run_expiry=st.booleans())
    def advance_clock(self, seconds: int, run_expiry: bool) -> None:
        self.now.advance(seconds)
        if not run_expiry:
            return
        due = [k for k, held in self.outstanding.items() if held.expires_at <= self.now()]
        assert self.service.expire_due() == len(due)
        for k in due:
            del self.outstanding[k]
        self.state = None

    @rule()
    def switch_worker(self) -> None:
        """The next requests go to the other ChargingService on the same store."""
        self.worker = 1 - self.worker

    @rule(member_index=st.integers(0, 2), spec=allocations())
    def set_allocation(self, member_index: int, spec: dict[str, Any]) -> None:
        member = self.members[member_index]
        self.bus.handle(c.SetAllocation(self.family_id, member.name, **spec))
        state = self.read()
        allocation = state.family.allocation(member.id)
        assert allocation.limits == spec["limits"]
        assert allocation.money_cap == spec["money_cap"]
        self.allocations[member.id] = allocation
        # The owner may set limits below what the member already holds: from here on,
        # only that excess and new overshoot may stand above them.
        ledger = state.ledger
        base = Baseline()
        for key in KEYS:
            in_pool, total = _member_totals(ledger, member.id, key)
            limit = allocation.limit(*key)
            base.quota_excess[key] = max(in_pool - limit.quota, 0) if limit.quota is not None else 0
            cap = limit.hard_cap
            base.cap_excess[key] = max(total - cap, 0) if cap is not None else 0
            mine = [r for r in state.records if r.member_id == member.id]
            on_key = [r for r in mine if (r.resource, r.zone) == key]
            base.overshoot[key] = sum(r.overshoot for r in on_key)
            base.overage_overshoot[key] = sum(_overage_overshoot(r) for r in on_key)
        hotspot = _hotspot_limit(allocation)
        tethered = _tethered_total(ledger, member.id)
        base.hotspot_excess = max(tethered - hotspot, 0) if hotspot is not None else 0
        base.tethered_overshoot = sum(
            r.overshoot for r in state.records if r.member_id == member.id and r.tethered
        )
        money_cap = allocation.money_cap
        money = ledger.overage_money(member.id).minor
        base.money_excess = max(money - money_cap.minor, 0) if money_cap is not None else 0
        self.baselines[member.id] = base
        self.state = state

    # ------------------------------------------------------------------ invariants
    @invariant()
    def invariants_hold(self) -> None:
        state = self.state = self.read()
        self.check_allocations(state)
        self.check_records(state)
        self.check_reservations(state)
        self.check_pools(state)
        self.check_member_limits(state)
        self.check_money(state)

    def check_allocations(self, state: State) -> None:
        for member in self.members:
            assert state.family.allocation(member.id) == self.allocations[member.id]

    def check_records(self, state: State) -> None:
        """(5) Every counter's used equals the sum of the usage records behind it."""
        pool: dict[Key, int] = defaultdict(int)
        member_pool: dict[tuple[MemberId, Key], int] = defaultdict(int)
        member_overage: dict[tuple[MemberId, Key], int] = defaultdict(int)
        tethered: dict[MemberId, int] = defaultdict(int)
        for r in state.records:
            assert r.units == r.from_pool + r.from_overage + r.free, r
            assert min(r.from_pool, r.from_overage, r.free, r.overshoot) >= 0, r
            assert r.overshoot <= r.units, r
            assert r.family_id == self.family_id, r
            key = (r.resource, r.zone)
            pool[key] += r.from_pool
            member_pool[(r.member_id, key)] += r.from_pool
            member_overage[(r.member_id, key)] += r.from_overage
            if r.tethered:
                tethered[r.member_id] += r.units - r.free  # free units are in no counter
        ledger = state.ledger
        assert {k: v.used for k, v in ledger.pools.items() if v.used} == {
            k: v for k, v in pool.items() if v
        }
        seen_pool: dict[tuple[MemberId, Key], int] = {}
        seen_overage: dict[tuple[MemberId, Key], int] = {}
        seen_tethered: dict[MemberId, int] = {}
        for member_id, m in ledger.members.items():
            seen_pool.update({(member_id, k): v.used for k, v in m.pool.items() if v.used})
            seen_overage.update({(member_id, k): v.used for k, v in m.overage.items() if v.used})
            if m.tethered.used:
                seen_tethered[member_id] = m.tethered.used
        assert seen_pool == {k: v for k, v in member_pool.items() if v}
        assert seen_overage == {k: v for k, v in member_overage.items() if v}
        assert seen_tethered == {k: v for k, v in tethered.items() if v}

    def check_reservations(self, state: State) -> None:
        """Reserved counters equal the live reservations, which are exactly the grants
        answered and not yet reported, expired or terminated."""
        ledger = state.ledger
        live = {
            key: Outstanding(r.member_id, r.units, r.expires_at)
            for key, r in ledger.reservations.items()
        }
        assert live == self.outstanding
        pool: dict[Key, int] = defaultdict(int)
        member_pool: dict[tuple[MemberId, Key], int] = defaultdict(int)
        member_overage: dict[tuple[MemberId, Key], int] = defaultdict(int)
        tethered: dict[MemberId, int] = defaultdict(int)
        money: dict[MemberId, int] = defaultdict(int)
        for (_, (resource, zone, is_tethered)), r in ledger.reservations.items():
            assert min(r.from_pool, r.from_overage, r.free, r.price_minor) >= 0, r
            key = (resource, zone)
            pool[key] += r.from_pool
            member_pool[(r.member_id, key)] += r.from_pool
            member_overage[(r.member_id, key)] += r.from_overage
            money[r.member_id] += r.price_minor
            if is_tethered:
                tethered[r.member_id] += r.from_pool + r.from_overage
            assert r.price_minor == _charge(key, r.from_overage), r
        for key, counter in ledger.pools.items():
            assert counter.used >= 0, (key, counter)
            assert counter.reserved >= 0, (key, counter)
        assert {k: v.reserved for k, v in ledger.pools.items() if v.reserved} == {
            k: v for k, v in pool.items() if v
        }
        seen_pool: dict[tuple[MemberId, Key], int] = {}
        seen_overage: dict[tuple[MemberId, Key], int] = {}
        seen_tethered: dict[MemberId, int] = {}
        seen_money: dict[MemberId, int] = {}
        for member_id, m in ledger.members.items():
            for table, seen in ((m.pool, seen_pool), (m.overage, seen_overage)):
                for key, counter in table.items():
                    assert counter.used >= 0, (member_id, key, counter)
                    assert counter.reserved >= 0, (member_id, key, counter)
                    if counter.reserved:
                        seen[(member_id, key)] = counter.reserved
            if m.tethered.reserved:
                seen_tethered[member_id] = m.tethered.reserved
            if m.overage_reserved_minor:
                seen_money[member_id] = m.overage_reserved_minor
        assert seen_pool == {k: v for k, v in member_pool.items() if v}
        assert seen_overage == {k: v for k, v in member_overage.items() if v}
        assert seen_tethered == {k: v for k, v in tethered.items() if v}
        assert seen_money == {k: v for k, v in money.items() if v}

    def check_pools(self, state: State) -> None:
        """(1) No pool ever holds more than its total: overshoot beyond it is overage."""
        for key, counter in state.ledger.pools.items():
            total = PLAN.allowance(*key)
            if total is not None:
                assert counter.used + counter.reserved <= total, (key, counter)

    def check_member_limits(self, state: State) -> None:
        """(2) Quotas hold (overshoot goes to overage); hard caps and hotspot sub-quotas are
        passed only by overshoot, or by what the member held when the owner lowered them."""
        for member in self.members:
            allocation = self.allocations[member.id]
            base = self.baselines[member.id]
            mine = [r for r in state.records if r.member_id == member.id]
            for key in KEYS:
                in_pool, total = _member_totals(state.ledger, member.id, key)
                limit = allocation.limit(*key)
                if limit.quota is not None:
                    assert in_pool <= limit.quota + base.quota_excess.get(key, 0), (
                        member.name,
                        key,
                        in_pool,
                        limit,
                    )
                if limit.hard_cap is not None:
                    overshoot = sum(r.overshoot for r in mine if (r.resource, r.zone) == key)
                    since = overshoot - base.overshoot.get(key, 0)
                    assert total <= limit.hard_cap + base.cap_excess.get(key, 0) + since, (
                        member.name,
                        key,
                        total,
                        limit,
                        since,
                    )
            hotspot = _hotspot_limit(allocation)
            if hotspot is not None:
                overshoot = sum(r.overshoot for r in mine if r.tethered)
                since = overshoot - base.tethered_overshoot
                tethered = _tethered_total(state.ledger, member.id)
                assert tethered <= hotspot + base.hotspot_excess + since, (
                    member.name,
                    tethered,
                    hotspot,
                    since,
                )

    def check_money(self, state: State) -> None:
        """(3) Overage money (committed + reserved) stays within the member's and the
        family's caps, plus what overshoot booked as overage cost."""
        ledger = state.ledger
        overshoot_cost_all = 0
        for member in self.members:
            base = self.baselines[member.id]
            mine = [r for r in state.records if r.member_id == member.id]
            since_cost = 0
            for key in KEYS:
                on_key = [r for r in mine if (r.resource, r.zone) == key]
                units = sum(_overage_overshoot(r) for r in on_key)
                overshoot_cost_all += _charge(key, units)
                since_cost += _charge(key, units - base.overage_overshoot.get(key, 0))
            cap = self.allocations[member.id].money_cap
            spent = ledger.overage_money(member.id).minor
            if cap is not None:
                assert spent <= cap.minor + base.money_excess + since_cost, (
                    member.name,
                    spent,
                    cap,
                    base.money_excess,
                    since_cost,
                )
        if self.family_cap is not None:
            spent = ledger.family_overage_money().minor
            assert spent <= self.family_cap.minor + overshoot_cost_all, (
                spent,
                self.family_cap,
                overshoot_cost_all,
            )


SETTINGS = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_charging_machine(uow_factory: Any, bus: MessageBus) -> None:
    """The machine on one store per backend; every example opens a family of its own."""
    bus.handle(c.LoadPlans((PLAN,)))
    now = Now(T0)
    run_state_machine_as_test(
        lambda: ChargingMachine(uow_factory, bus, now),  # type: ignore[arg-type]  # a factory
        settings=SETTINGS,
    )
