"""Charging ledgers in SQL: counters and reservations as row differences, usage appended."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, insert, select

from famsim.adapters.sql import schema as t
from famsim.adapters.sql.rows import Rows, delete_missing, keyed, write_changes
from famsim.domain.charging.ledger import Counter, FamilyLedger, Reservation, UsageRecord
from famsim.domain.charging.thresholds import ThresholdCrossed
from famsim.domain.ids import FamilyId, MemberId, SubscriptionId
from famsim.domain.plan import Plan
from famsim.domain.units import Resource, Zone

POOL_SCOPE = ""
ALL_ZONES = "*"

_TABLES: tuple[Table, ...] = (
    t.charging_counters,
    t.charging_money,
    t.reservations,
    t.threshold_alerts,
)


class SqlLedgerRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._seen: dict[tuple[str, int], tuple[FamilyLedger, dict[str, Rows]]] = {}
        self._records: list[UsageRecord] = []
        self._answers: list[dict[str, Any]] = []
        self._events: list[ThresholdCrossed] = []

    def get(self, family_id: str, cycle_number: int, plan: Plan) -> FamilyLedger:
        key = (family_id, cycle_number)
        if key in self._seen:
            return self._seen[key][0]
        ledger = FamilyLedger(FamilyId(family_id), cycle_number, plan)
        where = {"family_id": family_id, "cycle_number": cycle_number}
        for row in self._select(t.charging_counters, where):
            counter = Counter(row["used"], row["reserved"])
            resource, zone = Resource(row["resource"]), Zone(row["zone"])
            if row["scope"] == POOL_SCOPE:
                ledger.pools[(resource, zone)] = counter
                continue
            member = ledger.member(MemberId(row["scope"]))
            if row["kind"] == "tethered":
                member.tethered = counter
            elif row["kind"] == "pool":
                member.pool[(resource, zone)] = counter
            else:
                member.overage[(resource, zone)] = counter
        for row in self._select(t.charging_money, where):
            ledger.member(MemberId(row["member_id"])).overage_reserved_minor = row[
                "overage_reserved_minor"
            ]
        for row in self._select(t.reservations, where):
            service = (Resource(row["resource"]), Zone(row["zone"]), row["tethered"])
            ledger.reservations[(row["session_id"], service)] = Reservation(
                member_id=MemberId(row["member_id"]),
                subscription_id=SubscriptionId(row["subscription_id"]),
                from_pool=row["from_pool"],
                from_overage=row["from_overage"],
                price_minor=row["price_minor"],
                expires_at=row["expires_at"],
            )
        for row in self._select(t.threshold_alerts, where):
            scope = MemberId(row["scope"]) if row["scope"] != POOL_SCOPE else None
            alert_key = (scope, Resource(row["resource"]), Zone(row["zone"]))
            ledger.alerted.setdefault(alert_key, set()).add(row["level"])
        self._seen[key] = (ledger, _rows(ledger))
        return ledger

    def families_with_reservations_due(self, now: datetime) -> Sequence[FamilyId]:
        query = (
            select(t.reservations.c.family_id)
            .where(t.reservations.c.expires_at <= now)
            .distinct()
            .order_by(t.reservations.c.family_id)
        )
        return [FamilyId(row) for row in self._connection.execute(query).scalars()]

    def publish(self, event: ThresholdCrossed) -> None:
        self._events.append(event)

    def outbox(self, family_id: str) -> Sequence[dict[str, Any]]:
        query = (
            select(t.outbox.c.kind, t.outbox.c.payload, t.outbox.c.created_at)
            .where(t.outbox.c.family_id == family_id)
            .order_by(t.outbox.c.id)
        )
        return [dict(row) for row in self._connection.execute(query).mappings()]

    def append(self, record: UsageRecord) -> None:
        self._records.append(record)

    def usage(self, family_id: str, cycle_number: int) -> Sequence[UsageRecord]:
        query = (
            select(t.usage_records)
            .where(
                t.usage_records.c.family_id == family_id,
                t.usage_records.c.cycle_number == cycle_number,
            )
            .order_by(t.usage_records.c.id)
        )
        return [_record(dict(row)) for row in self._connection.execute(query).mappings()]

    def answer(self, session_id: str, request_number: int) -> dict[str, Any] | None:
        for pending in self._answers:
            if (pending["session_id"], pending["request_number"]) == (session_id, request_number):
                answer: dict[str, Any] = pending["answer"]
                return answer
        query = select(t.charging_answers.c.answer).where(
            t.charging_answers.c.session_id == session_id,
            t.charging_answers.c.request_number == request_number,
        )
        stored: dict[str, Any] | None = self._connection.execute(query).scalar()
        return stored

    def remember(
        self, session_id: str, request_number: int, family_id: str, answer: dict[str, Any]
    ) -> None:
        self._answers.append(
            {
                "session_id": session_id,
                "request_number": request_number,
                "family_id": family_id,
                "answer": answer,
                "at": datetime.now(UTC),
            }
        )

    def flush(self) -> None:
        for key, (ledger, before) in list(self._seen.items()):
            after = _rows(ledger)
            if after == before:
                continue
            for table in _TABLES:
                write_changes(self._connection, table, before[table.name], after[table.name])
            delete_missing(
                self._connection, t.reservations, before["reservations"], after["reservations"]
            )
            self._seen[key] = (ledger, after)
        if self._records:
            self._connection.execute(
                insert(t.usage_records), [_record_row(r) for r in self._records]
            )
            self._records.clear()
        if self._events:
            self._connection.execute(
                insert(t.outbox),
                [
                    {
                        "family_id": event.family_id,
                        "kind": event.KIND,
                        "payload": event.payload(),
                        "created_at": event.at,
                        "delivered_at": None,
                    }
                    for event in self._events
                ],
            )
            self._events = []
        if self._answers:
            self._connection.execute(insert(t.charging_answers), self._answers)
            self._answers = []

    def _select(self, table: Table, where: dict[str, Any]) -> list[dict[str, Any]]:
        query = select(table).where(*(table.c[name] == value for name, value in where.items()))
        return [dict(row) for row in self._connection.execute(query).mappings()]


def _rows(ledger: FamilyLedger) -> dict[str, Rows]:
    """The one mapping from a ledger to its rows."""
    base = {"family_id": ledger.family_id, "cycle_number": ledger.cycle_number}

    def counter(scope: str, kind: str, resource: str, zone: str, c: Counter) -> dict[str, Any]:
        return base | {
            "scope": scope,
            "kind": kind,
            "resource": resource,
            "zone": zone,
            "used": c.used,
            "reserved": c.reserved,
        }

    counters = [counter(POOL_SCOPE, "pool", r.value, z, c) for (r, z), c in ledger.pools.items()]
    money = []
    for member_id, member in ledger.members.items():
        counters += [counter(member_id, "pool", r.value, z, c) for (r, z), c in member.pool.items()]
        counters += [
            counter(member_id, "overage", r.value, z, c) for (r, z), c in member.overage.items()
        ]
        counters.append(
            counter(member_id, "tethered", Resource.DATA.value, ALL_ZONES, member.tethered)
        )
        money.append(
            base | {"member_id": member_id, "overage_reserved_minor": member.overage_reserved_minor}
        )
    reservations = [
        base
        | {
            "session_id": session_id,
            "resource": resource.value,
            "zone": zone,
            "tethered": tethered,
            "member_id": r.member_id,
            "subscription_id": r.subscription_id,
            "from_pool": r.from_pool,
            "from_overage": r.from_overage,
            "price_minor": r.price_minor,
            "expires_at": r.expires_at,
        }
        for (session_id, (resource, zone, tethered)), r in ledger.reservations.items()
    ]
    alerts = [
        base
        | {
            "scope": member_id or POOL_SCOPE,
            "resource": resource.value,
            "zone": zone,
            "level": level,
        }
        for (member_id, resource, zone), levels in ledger.alerted.items()
        for level in sorted(levels)
    ]
    return {
        "threshold_alerts": keyed(t.threshold_alerts, alerts),
        "charging_counters": keyed(t.charging_counters, counters),
        "charging_money": keyed(t.charging_money, money),
        "reservations": keyed(t.reservations, reservations),
    }


def _record_row(record: UsageRecord) -> dict[str, Any]:
    return {
        "family_id": record.family_id,
        "cycle_number": record.cycle_number,
        "session_id": record.session_id,
        "member_id": record.member_id,
        "subscription_id": record.subscription_id,
        "resource": record.resource.value,
        "zone": record.zone,
        "tethered": record.tethered,
        "units": record.units,
        "from_pool": record.from_pool,
        "from_overage": record.from_overage,
        "overshoot": record.overshoot,
        "at": record.at,
    }


def _record(row: dict[str, Any]) -> UsageRecord:
    return UsageRecord(
        family_id=FamilyId(row["family_id"]),
        cycle_number=row["cycle_number"],
        session_id=row["session_id"],
        member_id=MemberId(row["member_id"]),
        subscription_id=SubscriptionId(row["subscription_id"]),
        resource=Resource(row["resource"]),
        zone=Zone(row["zone"]),
        tethered=row["tethered"],
        units=row["units"],
        from_pool=row["from_pool"],
        from_overage=row["from_overage"],
        overshoot=row["overshoot"],
        at=row["at"],
    )
