"""The charging use case: reserve, update, terminate and debit, the same for every protocol.

Diameter Gy, Nchf and the REST API all turn their messages into a
:class:`ChargingRequest` and their answers out of a :class:`ChargingAnswer`. Requests run
in units of work under their families' locks: reported units are committed (overshoot
included), new units granted by the domain rule, the usage records and the answer written,
all in one transaction, and nothing is answered before that transaction is durable. A
batch of requests (see :mod:`famsim.service.group_commit`) shares one transaction. A
retransmission (same session id and request number) gets the stored answer back and
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from famsim.domain.allocation import Allocation
from famsim.domain.charging.grants import ChargingRules, Denial, GrantRequest
from famsim.domain.charging.ledger import FamilyLedger, ServiceKey
from famsim.domain.charging.thresholds import DEFAULT_LEVELS, check_levels
from famsim.domain.errors import FamsimError, InvalidAmount
from famsim.domain.family import Family
from famsim.domain.identifiers import Imsi, Msisdn
from famsim.domain.ids import FamilyId, MemberId
from famsim.domain.lines import Line, Subscription
from famsim.domain.plan import Plan
from famsim.domain.safety import Screening, screen
from famsim.domain.units import HOME, Resource, Zone
from famsim.service.background import Repeater
from famsim.service.ports import ChargingStamp, ConcurrentUpdate, UnitOfWork


class RequestType(StrEnum):
    INITIAL = "initial"
    UPDATE = "update"
    TERMINATION = "termination"
    EVENT = "event"


class Outcome(StrEnum):
    """Whole-request outcomes; per-service outcomes are ``success`` or a grant denial."""

    SUCCESS = "success"
    USER_UNKNOWN = "user_unknown"
    LINE_SUSPENDED = "line_suspended"
    SESSION_UNKNOWN = "session_unknown"
    """An UPDATE or TERMINATION of a session that is not open: its INITIAL was never
    answered, or its TERMINATION already was. Nothing is charged or reserved."""


@dataclass(frozen=True, slots=True)
class ServiceUse:
    """One service in a request: what was used since the last report, what is wanted next."""

    resource: Resource
    tethered: bool = False
    requested: int | None = None
    used: int | None = None


@dataclass(frozen=True, slots=True)
class ChargingRequest:
    session_id: str
    request_number: int
    request_type: RequestType
    subscriber: str
    """An IMSI (digits) or an MSISDN in E.164 (``+`` and digits)."""
    services: tuple[ServiceUse, ...]
    serving_plmn: str | None = None
    """The serving network's MCC-MNC (e.g. ``46000``); None means the home network."""
    destination: str | None = None
    """The called number or the message's recipient (voice, SMS); None for data. An
    always-allowed destination is granted at zero rate, whatever the limits and quiet
    hours say."""

    def __post_init__(self) -> None:
        if not self.session_id:
            raise InvalidAmount("a charging request needs a session id")
        if self.request_number < 0:
            raise InvalidAmount("the request number cannot be negative")


@dataclass(frozen=True, slots=True)
class ServiceAnswer:
    resource: str
    tethered: bool
    outcome: str
    granted: int
    validity_seconds: int
    final_action: str | None = None
    redirect_url: str | None = None


@dataclass(frozen=True, slots=True)
class ChargingAnswer:
    session_id: str
    request_number: int
    outcome: str
    zone: str | None
    services: tuple[ServiceAnswer, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        # By hand rather than dataclasses.asdict, which deep-copies every field: this runs
        # once per request on the charging path.
        return {
            "session_id": self.session_id,
            "request_number": self.request_number,
            "outcome": str(self.outcome),
            "zone": self.zone,
            "services": [
                {
                    "resource": s.resource,
                    "tethered": s.tethered,
                    "outcome": str(s.outcome),
                    "granted": s.granted,
                    "validity_seconds": s.validity_seconds,
                    "final_action": s.final_action,
                    "redirect_url": s.redirect_url,
                }
                for s in self.services
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChargingAnswer:
        services = tuple(ServiceAnswer(**s) for s in data["services"])
        return cls(
            session_id=data["session_id"],
            request_number=data["request_number"],
            outcome=data["outcome"],
            zone=data["zone"],
            services=services,
        )


@dataclass(slots=True)
class _Hot:
    """A family's charging state kept between requests, valid while its stamp holds."""

    stamp: ChargingStamp
    family: Family
    plan: Plan
    ledger: FamilyLedger
    subscribers: dict[Imsi | Msisdn, tuple[Line, Subscription]]
    always_allowed: dict[MemberId, frozenset[str]] = field(default_factory=dict)
    """Per member, the numbers it may always reach (computed once per stamp)."""
    last_answered: dict[str, int] = field(default_factory=dict)
    """Per session, the highest request number answered. While the stamp holds nobody else
    answered for this family (every answer bumps the ledger version), so a higher number
    is new and needs no look-up among the stored answers."""


class _RequestFailed(Exception):
    """One request of a batch raised: the batch is rolled back and its requests rerun alone."""

    def __init__(self, position: int, error: Exception) -> None:
        super().__init__(position, error)
        self.position = position
        self.error = error


class _StaleIndex(Exception):
    """A cached subscriber -> family entry no longer holds (a line moved): look it up again."""


_Item = tuple[int, ChargingRequest, Imsi | Msisdn]
Result = ChargingAnswer | Exception


class ChargingService:
    """Runs charging requests, alone or in batches that commit together.

    Hot families stay in memory between requests (family, plan, ledger and a subscriber
    index), and each unit of work first locks the families it needs and compares their
    stored :class:`ChargingStamp` with the one kept: a family changed by anyone else
    (another worker, an allocation change, a new plan) is read again, so the rules always
    see committed state. A batch is one transaction: one fsync acknowledges all of it.
    """

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        now: Callable[[], datetime],
        rules: ChargingRules | None = None,
        alert_levels: Sequence[int] = DEFAULT_LEVELS,
    ) -> None:
        self._uow_factory = uow_factory
        self._now = now
        self._rules = rules or ChargingRules()
        self._levels = check_levels(alert_levels)
        # Entries are popped while a unit of work uses them and put back after its commit,
        # so two threads never share one and a failed batch leaves nothing half-changed.
        self._hot: dict[FamilyId, _Hot] = {}
        self._owners: dict[Imsi | Msisdn, FamilyId] = {}
        self._parsed: dict[str, Imsi | Msisdn] = {}

    def handle(self, request: ChargingRequest) -> ChargingAnswer:
        result = self.handle_batch([request])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def handle_batch(self, requests: Sequence[ChargingRequest]) -> list[Result]:
        """Answer every request, committing them all in one transaction.

        A request that is malformed or that the rules refuse to process gets its exception
        in its place of the result, and the others are answered as if it had not been
        sent. A storage failure raises: then nothing of the batch was committed.
        """
        results: list[Result | None] = [None] * len(requests)
        work: list[_Item] = []
        for position, request in enumerate(requests):
            try:
                _check_plmn(request.serving_plmn)
                work.append((position, request, self._subscriber(request.subscriber)))
            except FamsimError as exc:
                results[position] = exc
        if work:
            self._run_retrying(work, results)
        answered = [r for r in results if r is not None]
        assert len(answered) == len(requests), "every request gets an answer or its error"
        return answered

    def _run_retrying(self, work: list[_Item], results: list[Result | None]) -> None:
        try:
            for _ in range(_STALE_RETRIES):
                try:
                    self._run_once(work, results)
                    return
                except _StaleIndex:
                    continue  # owners of moved lines were forgotten: look them up again
            raise ConcurrentUpdate("subscribers kept moving between families; retry")
        except _RequestFailed as failed:
            if len(work) == 1:
                results[failed.position] = failed.error
                return
            for item in work:  # isolate the failing request; the rest commit normally
                try:
                    self._run_retrying([item], results)
                except _RequestFailed as alone:
                    results[alone.position] = alone.error

    def _run_once(self, work: list[_Item], results: list[Result | None]) -> None:
        with self._uow_factory() as uow:
            owners = [self._owner(uow, subscriber) for _, _, subscriber in work]
            hot = self._lock_and_load(uow, owners)
            for (_, _, subscriber), family_id in zip(work, owners, strict=True):
                if family_id is not None and subscriber not in hot[family_id].subscribers:
                    self._owners.pop(subscriber, None)
                    raise _StaleIndex
            stored = uow.ledgers.answers(
                [
                    (r.session_id, r.request_number)
                    for (_, r, _), f in zip(work, owners, strict=True)
                    if f is not None and _may_be_answered(hot[f], r)
                ]
            )
            open_now = uow.ledgers.open_sessions(
                [
                    r.session_id
                    for (_, r, _), f in zip(work, owners, strict=True)
                    if f is not None and _must_be_open(hot[f], r)
                ]
            )
            answered: dict[tuple[str, int], ChargingAnswer] = {}
            now = self._now()  # one instant for the batch: it commits as one
            for (position, request, subscriber), family_id in zip(work, owners, strict=True):
                key = (request.session_id, request.request_number)
                if family_id is None:
                    results[position] = ChargingAnswer(
                        request.session_id, request.request_number, Outcome.USER_UNKNOWN, None
                    )
                elif key in answered:
                    results[position] = answered[key]
                elif key in stored:
                    results[position] = ChargingAnswer.from_dict(stored[key])
                elif _must_be_open(hot[family_id], request) and request.session_id not in open_now:
                    answer = ChargingAnswer(*key, Outcome.SESSION_UNKNOWN, None)
                    uow.ledgers.remember(*key, family_id, answer.to_dict())
                    answered[key] = results[position] = answer
                else:
                    try:
                        answer = self._charge(uow, hot[family_id], subscriber, request, now)
                    except Exception as exc:
                        raise _RequestFailed(position, exc) from exc
                    uow.ledgers.remember(*key, family_id, answer.to_dict())
                    answered[key] = results[position] = answer
                    _note_answered(hot[family_id], request)
                    _note_session(uow, request, family_id, now, open_now)
            uow.commit()
        for family_id, state in hot.items():
            kept = state.stamp  # built, not dataclasses.replace: that costs ~2 us a family
            state.stamp = ChargingStamp(kept.family_version, state.ledger.version, kept.plan)
            self._hot[family_id] = state

    def _subscriber(self, text: str) -> Imsi | Msisdn:
        """The parsed subscriber, remembered: the same few numbers come back all day."""
        found = self._parsed.get(text)
        if found is None:
            found = _parse_subscriber(text)
            if len(self._parsed) >= _PARSED_LIMIT:
                self._parsed.clear()
            self._parsed[text] = found
        return found

    def _owner(self, uow: UnitOfWork, subscriber: Imsi | Msisdn) -> FamilyId | None:
        family_id = self._owners.get(subscriber)
        if family_id is None:
            family_id = (
                uow.families.owner_of_imsi(subscriber)
                if isinstance(subscriber, Imsi)
                else uow.families.owner_of_msisdn(subscriber)
            )
            if family_id is not None:
                self._owners[subscriber] = family_id
        return family_id

    def _lock_and_load(
        self, uow: UnitOfWork, owners: Sequence[FamilyId | None]
    ) -> dict[FamilyId, _Hot]:
        """Lock the families, keep the cached ones whose stamp holds, read the others."""
        wanted = sorted({f for f in owners if f is not None})
        stamps = uow.ledgers.stamps(wanted)
        hot: dict[FamilyId, _Hot] = {}
        for family_id in wanted:
            stamp = stamps.get(family_id)
            if stamp is None:  # gone since it was cached
                raise _StaleIndex
            state = self._hot.pop(family_id, None)
            if state is not None and state.stamp == stamp:
                uow.ledgers.adopt(state.ledger)
            elif state is not None and _only_ledger_moved(state.stamp, stamp):
                # Another worker charged this family meanwhile: its members, lines and plan
                # are as kept, only the ledger is read again (and who answered what).
                family = state.family
                ledger = uow.ledgers.get(family.id, family.cycle.number, state.plan)
                state = replace(state, stamp=stamp, ledger=ledger, last_answered={})
            else:
                family = uow.families.get(family_id, for_update=True)
                plan = family.cycle.plan_in_force(uow.plans.get(family.plan_code))
                ledger = uow.ledgers.get(family.id, family.cycle.number, plan)
                state = _Hot(stamp, family, plan, ledger, _subscribers(family))
            hot[family_id] = state
        return hot

    def expire(self, family_id: str) -> int:
        """Release a family's reservations past their validity; returns how many."""
        with self._uow_factory() as uow:
            family = uow.families.get(family_id, for_update=True)
            plan = family.cycle.plan_in_force(uow.plans.get(family.plan_code))
            ledger = uow.ledgers.get(family.id, family.cycle.number, plan)
            expired = ledger.expire(self._now())
            uow.commit()
            return len(expired)

    def expire_due(self) -> int:
        """Release every family's reservations past their validity (run periodically).

        A peer that vanished mid-session never reports again; this gives its units back.
        Each family is handled in its own unit of work, so one busy family delays no other.
        """
        with self._uow_factory() as uow:
            due = list(uow.ledgers.families_with_reservations_due(self._now()))
        return sum(self.expire(family_id) for family_id in due)

    def scheduled_expiry(self, every_s: float) -> Repeater:
        """A background expirer for a server: every *every_s* seconds it releases the
        reservations past their validity (:meth:`expire_due`), so units held by a gateway
        that disconnected mid-session come back to the pool (start it, stop it with the
        server)."""

        def one_pass() -> None:
            self.expire_due()

        return Repeater("famsim-expiry", one_pass, self._now, every_s)

    def _charge(
        self,
        uow: UnitOfWork,
        state: _Hot,
        subscriber: Imsi | Msisdn,
        request: ChargingRequest,
        now: datetime,
    ) -> ChargingAnswer:
        family, plan, ledger = state.family, state.plan, state.ledger
        line, subscription = state.subscribers[subscriber]
        member = family.members[line.member_id]
        zone = _zone(plan.zone_for_mcc, request.serving_plmn)
        allocation = family.allocation(member.id)
        in_service = line.is_active and member.is_active

        def book(service: ServiceKey, used: int, free: bool) -> None:
            record = ledger.commit(
                session_id=request.session_id,
                service=service,
                used=used,
                member_id=member.id,
                subscription_id=subscription.id,
                allocation=allocation,
                now=now,
                free=free,
            )
            if record is not None:
                uow.ledgers.append(record)

        answers = []
        for use in request.services:
            verdict = _screen(state, member.id, allocation, use.resource, request.destination, now)
            free = verdict is Screening.FREE
            held = _held_service(ledger, request.session_id, use, zone)
            if use.used:
                book(held or (use.resource, zone or HOME, use.tethered), use.used, free)
            elif held is not None and held[1] != zone:
                ledger.release(request.session_id, held)  # moved on: the old zone's grant
            if zone is None:
                answers.append(_refusal(use, "zone_not_covered"))
                continue
            service = (use.resource, zone, use.tethered)
            wants_units = request.request_type is not RequestType.TERMINATION
            if not in_service or not wants_units:
                ledger.release(request.session_id, service)
                answers.append(
                    _refusal(use, Outcome.LINE_SUSPENDED if not in_service else "success")
                )
                continue
            if verdict is Screening.QUIET_HOURS:
                ledger.release(request.session_id, service)
                answers.append(_refusal(use, Denial.QUIET_HOURS.value))
                continue
            grant = ledger.grant(
                session_id=request.session_id,
                member_id=member.id,
                subscription_id=subscription.id,
                request=GrantRequest(
                    use.resource, zone, use.tethered, use.requested, line.data_only
                ),
                allocation=allocation,
                family_money_cap=family.money_cap,
                rules=self._rules,
                now=now,
                free=free,
            )
            if request.request_type is RequestType.EVENT and grant.units:
                book(service, grant.units, free)  # a one-shot event is granted and used at once
            answers.append(
                ServiceAnswer(
                    resource=use.resource.value,
                    tethered=use.tethered,
                    outcome=grant.denial.value if grant.denial else "success",
                    granted=grant.units,
                    validity_seconds=grant.validity_seconds,
                    final_action=grant.final_action.value if grant.final_action else None,
                    redirect_url=grant.redirect_url,
                )
            )
        for event in ledger.threshold_alerts(family.allocations, self._levels, now):
            uow.ledgers.publish(event)
        outcome = Outcome.SUCCESS if in_service else Outcome.LINE_SUSPENDED
        return ChargingAnswer(
            request.session_id, request.request_number, outcome, zone, tuple(answers)
        )


_PARSED_LIMIT = 1_000_000
_STALE_RETRIES = 3


def _screen(
    state: _Hot,
    member_id: MemberId,
    allocation: Allocation,
    resource: Resource,
    destination: str | None,
    now: datetime,
) -> Screening:
    """The child-safety verdict for one service: free, refused for quiet hours, or charged."""
    if destination is None and not allocation.quiet_hours:
        return Screening.CHARGED  # nothing to screen: the common case, kept cheap
    always = state.always_allowed.get(member_id)
    if always is None:
        always = state.always_allowed[member_id] = state.family.always_allowed(
            member_id, state.plan
        )
    return screen(
        resource=resource,
        destination=destination,
        always_allowed=always,
        quiet_hours=allocation.quiet_hours,
        at=now,
        time_zone=state.family.time_zone,
    )


def _only_ledger_moved(kept: ChargingStamp, stored: ChargingStamp) -> bool:
    return kept.family_version == stored.family_version and kept.plan == stored.plan


def _may_be_answered(state: _Hot, request: ChargingRequest) -> bool:
    """False only for a request certainly new: a session this worker answered last, with a
    higher number than it answered. Anything else is looked up among stored answers."""
    last = state.last_answered.get(request.session_id)
    return last is None or request.request_number <= last


def _must_be_open(state: _Hot, request: ChargingRequest) -> bool:
    """Whether this request needs its session open and that is not known already.

    UPDATE and TERMINATION need an open session (an INITIAL answered, no TERMINATION
    since); a session among ``last_answered`` is open (only INITIAL and UPDATE answers put
    it there, a TERMINATION takes it out), others are looked up among the open sessions.
    """
    return (
        request.request_type is RequestType.UPDATE
        or request.request_type is RequestType.TERMINATION
    ) and request.session_id not in state.last_answered


def _note_session(
    uow: UnitOfWork,
    request: ChargingRequest,
    family_id: FamilyId,
    now: datetime,
    open_now: set[str],
) -> None:
    """An answered INITIAL opens its session, an answered TERMINATION closes it."""
    if request.request_type is RequestType.INITIAL:
        uow.ledgers.open_session(request.session_id, family_id, now)
        open_now.add(request.session_id)
    elif request.request_type is RequestType.TERMINATION:
        uow.ledgers.close_session(request.session_id)
        open_now.discard(request.session_id)


def _note_answered(state: _Hot, request: ChargingRequest) -> None:
    if request.request_type in (RequestType.TERMINATION, RequestType.EVENT):
        state.last_answered.pop(request.session_id, None)  # over: retransmissions look up
    else:
        last = state.last_answered.get(request.session_id, -1)
        state.last_answered[request.session_id] = max(last, request.request_number)


def _subscribers(family: Family) -> dict[Imsi | Msisdn, tuple[Line, Subscription]]:
    """Every way a request can name a subscription of this family: its IMSI, or its line's
    MSISDN (which means the line's primary subscription).

    Closed lines and deleted or failed SIMs are left out: the network no longer sees them,
    and a closed line's number may belong to another family later.
    """
    index: dict[Imsi | Msisdn, tuple[Line, Subscription]] = {}
    for line in family.lines.values():
        if line.is_closed:
            continue
        if line.primary.state.is_live:
            index[line.msisdn] = (line, line.primary)
        for subscription in line.live_subscriptions:
            index[subscription.imsi] = (line, subscription)
    return index


def _held_service(
    ledger: FamilyLedger, session_id: str, use: ServiceUse, zone: Zone | None
) -> ServiceKey | None:
    """The session's live grant of this service, in whatever zone it was granted.

    Reported units are booked under the grant they were used with, even if the device has
    moved to another zone since; with no grant they are overshoot in the current zone (or
    at home when the current network is not covered), so they are never lost. A grant left
    in a zone the device has left is released.
    """
    if zone is not None and (session_id, (use.resource, zone, use.tethered)) in ledger.reservations:
        return (use.resource, zone, use.tethered)  # the usual case, without a scan
    for held_session, service in ledger.reservations:
        if held_session == session_id and (service[0], service[2]) == (use.resource, use.tethered):
            return service
    return None


def _parse_subscriber(text: str) -> Imsi | Msisdn:
    text = text.strip()
    return Msisdn.parse(text) if text.startswith("+") else Imsi.parse(text)


def _check_plmn(serving_plmn: str | None) -> str | None:
    """The serving network's MCC-MNC digits; a malformed one is refused before any work."""
    if serving_plmn is None:
        return None
    digits = serving_plmn.replace("-", "").strip()
    if not 5 <= len(digits) <= 6 or not digits.isdigit():
        raise InvalidAmount(f"serving network {serving_plmn!r} is not an MCC-MNC")
    return digits


def _zone(zone_for_mcc: Callable[[str], Zone | None], serving_plmn: str | None) -> Zone | None:
    digits = _check_plmn(serving_plmn)
    return HOME if digits is None else zone_for_mcc(digits[:3])


def _refusal(use: ServiceUse, outcome: str) -> ServiceAnswer:
    return ServiceAnswer(use.resource.value, use.tethered, outcome, 0, 0)
