"""The charging use case: reserve, update, terminate and debit, the same for every protocol.

Diameter Gy, Nchf and the REST API all turn their messages into a
:class:`ChargingRequest` and their answers out of a :class:`ChargingAnswer`. One request is
one unit of work under the family's lock: reported units are committed (overshoot
included), new units granted by the domain rule, the usage records and the answer written,
all in one transaction. A retransmission (same session id and request number) gets the
stored answer back and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from famsim.domain.charging.grants import ChargingRules, GrantRequest
from famsim.domain.charging.ledger import FamilyLedger, ServiceKey
from famsim.domain.charging.thresholds import DEFAULT_LEVELS, check_levels
from famsim.domain.errors import InvalidAmount
from famsim.domain.family import Family
from famsim.domain.identifiers import Imsi, Msisdn
from famsim.domain.lines import Line, Subscription
from famsim.domain.units import HOME, Resource, Zone
from famsim.service.ports import UnitOfWork


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
        return asdict(self)

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


class ChargingService:
    """Runs charging requests, each in its own unit of work."""

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

    def handle(self, request: ChargingRequest) -> ChargingAnswer:
        subscriber = _parse_subscriber(request.subscriber)
        with self._uow_factory() as uow:
            family_id = (
                uow.families.owner_of_imsi(subscriber)
                if isinstance(subscriber, Imsi)
                else uow.families.owner_of_msisdn(subscriber)
            )
            if family_id is None:
                return ChargingAnswer(
                    request.session_id, request.request_number, Outcome.USER_UNKNOWN, None
                )
            family = uow.families.get(family_id, for_update=True)
            stored = uow.ledgers.answer(request.session_id, request.request_number)
            if stored is not None:
                return ChargingAnswer.from_dict(stored)
            answer = self._charge(uow, family, subscriber, request)
            uow.ledgers.remember(
                request.session_id, request.request_number, family.id, answer.to_dict()
            )
            uow.commit()
            return answer

    def expire(self, family_id: str) -> int:
        """Release a family's reservations past their validity; returns how many."""
        with self._uow_factory() as uow:
            family = uow.families.get(family_id, for_update=True)
            plan = uow.plans.get(family.plan_code)
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

    def _charge(
        self, uow: UnitOfWork, family: Family, subscriber: Imsi | Msisdn, request: ChargingRequest
    ) -> ChargingAnswer:
        line, subscription = _find(family, subscriber)
        member = family.members[line.member_id]
        plan = uow.plans.get(family.plan_code)
        zone = _zone(plan.zone_for_mcc, request.serving_plmn)
        ledger = uow.ledgers.get(family.id, family.cycle.number, plan)
        allocation = family.allocation(member.id)
        in_service = line.is_active and member.is_active
        now = self._now()

        def book(service: ServiceKey, used: int) -> None:
            record = ledger.commit(
                session_id=request.session_id,
                service=service,
                used=used,
                member_id=member.id,
                subscription_id=subscription.id,
                allocation=allocation,
                now=now,
            )
            if record is not None:
                uow.ledgers.append(record)

        answers = []
        for use in request.services:
            if use.used:
                book(_reported_service(ledger, request.session_id, use, zone), use.used)
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
            )
            if request.request_type is RequestType.EVENT and grant.units:
                book(service, grant.units)  # a one-shot event is granted and used at once
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


def _reported_service(
    ledger: FamilyLedger, session_id: str, use: ServiceUse, zone: Zone | None
) -> ServiceKey:
    """Where reported units are booked: under the grant they were used with.

    Units are used under the session's last grant of that service, even if the device has
    moved to another zone since; with no grant they are overshoot in the current zone (or
    at home when the current network is not covered), so they are never lost.
    """
    for held_session, service in ledger.reservations:
        if held_session == session_id and (service[0], service[2]) == (use.resource, use.tethered):
            return service
    return (use.resource, zone or HOME, use.tethered)


def _parse_subscriber(text: str) -> Imsi | Msisdn:
    text = text.strip()
    return Msisdn.parse(text) if text.startswith("+") else Imsi.parse(text)


def _find(family: Family, subscriber: Imsi | Msisdn) -> tuple[Line, Subscription]:
    if isinstance(subscriber, Msisdn):
        line = family.line_by_msisdn(subscriber)
        return line, line.primary
    for line in family.lines.values():
        for subscription in line.subscriptions:
            if subscription.imsi == subscriber:
                return line, subscription
    raise AssertionError("the repository found this family by the IMSI")


def _zone(zone_for_mcc: Callable[[str], Zone | None], serving_plmn: str | None) -> Zone | None:
    if serving_plmn is None:
        return HOME
    digits = serving_plmn.replace("-", "").strip()
    if len(digits) < 5 or not digits.isdigit():
        raise InvalidAmount(f"serving network {serving_plmn!r} is not an MCC-MNC")
    return zone_for_mcc(digits[:3])


def _refusal(use: ServiceUse, outcome: str) -> ServiceAnswer:
    return ServiceAnswer(use.resource.value, use.tethered, outcome, 0, 0)
