"""Charging ledgers in SQL: only what moved is written, usage and answers appended.

A ledger tells what moved since it was last saved (:class:`Changes`); a flush upserts
those counters, money rows and reservations (or deletes released ones), inserts new alert
levels, and bumps ``families.charging_version``, all with one statement per table for
every ledger of the unit of work. That keeps a batch of many requests on many families
at a handful of statements, which is what lets a charging worker commit in groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    Table,
    bindparam,
    delete,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.engine import Dialect, Row

from famsim.adapters.sql import schema as t
from famsim.adapters.sql.bulk import BulkStatement, compile_bulk
from famsim.adapters.sql.charging_sessions import SqlOpenSessions
from famsim.adapters.sql.engine import row_locks
from famsim.adapters.sql.rows import by_value, upsert
from famsim.domain.charging.ledger import (
    Changes,
    Counter,
    CounterKey,
    FamilyLedger,
    Reservation,
    UsageRecord,
)
from famsim.domain.charging.thresholds import ThresholdCrossed
from famsim.domain.ids import FamilyId, MemberId, SubscriptionId
from famsim.domain.plan import Plan
from famsim.domain.units import Resource, Zone
from famsim.service.ports import ChargingStamp

POOL_SCOPE = ""


_STAMPS = (
    select(
        t.families.c.id,
        t.families.c.version,
        t.families.c.charging_version,
        # The plan's time as the driver gives it, not as a datetime: the stamp only needs
        # a marker that changes with the plan, and parsing a datetime per family per batch
        # was most of what reading the stamps cost on SQLite (where it is stored as text).
        type_coerce(t.plans.c.updated_at, String),
    )
    .join(t.plans, t.plans.c.code == t.families.c.plan_code)
    .where(t.families.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(t.families.c.id)
)
_STAMPS_LOCKED = _STAMPS.with_for_update(of=t.families)
_BUMP = (
    update(t.families)
    .where(t.families.c.id == bindparam("family"))
    .values(charging_version=bindparam("to"))
)
_DELETE_RESERVATION = delete(t.reservations).where(
    *(t.reservations.c[c.name] == bindparam(f"k_{c.name}") for c in t.reservations.primary_key)
)
_BATCH = 500
"""Ledgers a load asks for at once: well inside every driver's limit on bound values."""
_CHARGING_VERSIONS = select(t.families.c.id, t.families.c.charging_version).where(
    t.families.c.id.in_(bindparam("ids", expanding=True))
)


def _of_cycles(table: Table) -> Any:
    """The rows of *table* whose family is one of ``ids`` and cycle one of ``numbers``.

    Not a row-value IN over the (family, cycle) pairs: SQLite scans the whole table for
    that, where two plain INs search its primary key. Rows of a pair not asked for (a
    family's other cycle among the numbers) are left out by the caller.
    """
    query = select(table).where(
        table.c.family_id.in_(bindparam("ids", expanding=True)),
        table.c.cycle_number.in_(bindparam("numbers", expanding=True)),
    )
    return query.order_by(*table.primary_key.columns)  # as one family's ledger was read


_LEDGER_ROWS: tuple[tuple[str, Any], ...] = (
    ("counters", _of_cycles(t.charging_counters)),
    ("money", _of_cycles(t.charging_money)),
    ("reservations", _of_cycles(t.reservations)),
    ("alerts", _of_cycles(t.threshold_alerts)),
)


_RESOURCE = by_value(Resource)


def _ledger(
    family_id: str, cycle_number: int, plan: Plan, rows: dict[str, list[Row[Any]]]
) -> FamilyLedger:
    """A ledger as stored in *rows* (by table), with nothing moved yet.

    Rows as SQLAlchemy gives them (attribute access), not dictionaries: a batch reads a
    few hundred thousand counters, and building a dictionary of each doubles the cost.
    """
    ledger = FamilyLedger(FamilyId(family_id), cycle_number, plan)
    for row in rows.get("counters", ()):
        scope = MemberId(row.scope) if row.scope != POOL_SCOPE else None
        counter = ledger.counter((scope, row.kind, _RESOURCE(row.resource), row.zone))
        counter.used, counter.reserved = row.used, row.reserved
    for row in rows.get("money", ()):
        ledger.member(MemberId(row.member_id)).overage_reserved_minor = row.overage_reserved_minor
    for row in rows.get("reservations", ()):
        service = (_RESOURCE(row.resource), Zone(row.zone), row.tethered)
        ledger.reservations[(row.session_id, service)] = Reservation(
            member_id=MemberId(row.member_id),
            subscription_id=SubscriptionId(row.subscription_id),
            from_pool=row.from_pool,
            from_overage=row.from_overage,
            price_minor=row.price_minor,
            expires_at=row.expires_at,
            free=row.free,
        )
    for row in rows.get("alerts", ()):
        scope = MemberId(row.scope) if row.scope != POOL_SCOPE else None
        alert_key = (scope, _RESOURCE(row.resource), Zone(row.zone))
        ledger.alerted.setdefault(alert_key, set()).add(row.level)
    ledger.take_changes()  # as stored: nothing has moved yet
    return ledger


class SqlLedgerRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._dialect = connection.dialect.name
        self._tracked: dict[tuple[str, int], FamilyLedger] = {}
        self._records: list[UsageRecord] = []
        self._answers: list[dict[str, Any]] = []
        self._events: list[ThresholdCrossed] = []
        self._sessions = SqlOpenSessions(connection)

    def get(self, family_id: str, cycle_number: int, plan: Plan) -> FamilyLedger:
        return self.get_many([(family_id, cycle_number, plan)])[0]

    def get_many(self, wanted: Sequence[tuple[str, int, Plan]]) -> list[FamilyLedger]:
        """The ledgers in five queries a 500, whatever their number (one a table)."""
        missing = [w for w in wanted if (w[0], w[1]) not in self._tracked]
        for start in range(0, len(missing), _BATCH):
            chunk = missing[start : start + _BATCH]
            keys = sorted({(family_id, number) for family_id, number, _ in chunk})
            ids = sorted({family_id for family_id, _ in keys})
            versions = {
                row.id: row.charging_version
                for row in self._connection.execute(_CHARGING_VERSIONS, {"ids": ids})
            }
            stored: dict[tuple[str, int], dict[str, list[Row[Any]]]] = {}
            asked = set(keys)
            params = {"ids": ids, "numbers": sorted({number for _, number in keys})}
            for name, query in _LEDGER_ROWS:
                for row in self._connection.execute(query, params).all():
                    key = (row.family_id, row.cycle_number)
                    if key in asked:
                        stored.setdefault(key, {}).setdefault(name, []).append(row)
            for family_id, number, plan in chunk:
                ledger = _ledger(family_id, number, plan, stored.get((family_id, number), {}))
                ledger.version = versions.get(family_id) or 0
                self._tracked[(family_id, number)] = ledger
        return [self._tracked[(family_id, number)] for family_id, number, _ in wanted]

    def stamps(self, family_ids: Sequence[str]) -> dict[FamilyId, ChargingStamp]:
        if not family_ids:
            return {}
        query = _STAMPS_LOCKED if row_locks(self._connection) else _STAMPS
        rows = self._connection.execute(query, {"ids": sorted(set(family_ids))})
        return {
            FamilyId(family_id): ChargingStamp(version, charging_version, str(plan_at))
            for family_id, version, charging_version, plan_at in rows
        }

    def adopt(self, ledger: FamilyLedger) -> None:
        self._tracked[(ledger.family_id, ledger.cycle_number)] = ledger

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
        return self.answers([(session_id, request_number)]).get((session_id, request_number))

    def answers(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
        wanted = set(keys)
        found: dict[tuple[str, int], dict[str, Any]] = {
            (a["session_id"], a["request_number"]): a["answer"]
            for a in self._answers
            if (a["session_id"], a["request_number"]) in wanted
        }
        missing = sorted(wanted - found.keys())
        if missing:
            # Two plain INs, not a row-value IN over the pairs: SQLite scans the whole
            # table for that, where these search its primary key.
            c = t.charging_answers.c
            query = select(c.session_id, c.request_number, c.answer).where(
                c.session_id.in_(sorted({session for session, _ in missing})),
                c.request_number.in_(sorted({number for _, number in missing})),
            )
            for row in self._connection.execute(query):
                key = (row.session_id, row.request_number)
                if key in wanted:
                    found[key] = row.answer
        return found

    def open_sessions(self, session_ids: Sequence[str]) -> set[str]:
        return self._sessions.among(session_ids)

    def open_session(self, session_id: str, family_id: str, at: datetime) -> None:
        self._sessions.open(session_id, family_id, at)

    def close_session(self, session_id: str) -> None:
        self._sessions.close(session_id)

    def remember(
        self, session_id: str, request_number: int, family_id: str, answer: dict[str, Any]
    ) -> None:
        self._answers.append(
            {
                "session_id": session_id,
                "request_number": request_number,
                "family_id": family_id,
                "answer": answer,
                # "at" is set by flush: one time for the batch, converted once for it
            }
        )

    def flush(self) -> None:
        rows = _ChangedRows()
        # A family that got an answer is bumped too, changed or not: a worker holding it in
        # memory then knows someone else answered one of its sessions.
        answered = {a["family_id"] for a in self._answers}
        for ledger in self._tracked.values():
            changes = ledger.take_changes()
            if changes or ledger.family_id in answered:
                rows.add(ledger, changes)
        dialect = self._connection.dialect

        def bulk(which: str) -> BulkStatement:
            return _bulk_statement(dialect, which)

        # A ledger's counters are stored from their first use in the cycle on, so nearly
        # every flush only updates them: a plain UPDATE by primary key costs SQLite about
        # a third less than the upsert. When some row was missing (fewer rows updated than
        # sent, or a driver that cannot tell) the upsert writes them all; the rows it
        # finds updated already get the same values again, so that costs only time.
        counters = rows.counters
        if counters and bulk("counters_update").execute_tuples(
            self._connection, _COUNTER_COLUMNS, counters
        ) != len(counters):
            bulk("counters").execute_tuples(self._connection, _COUNTER_COLUMNS, counters)
        bulk("money").execute(self._connection, rows.money)
        bulk("reservations").execute(self._connection, rows.held)
        bulk("release").execute(self._connection, rows.released)
        bulk("bump").execute(self._connection, rows.bumps)
        if rows.alerts:
            self._connection.execute(insert(t.threshold_alerts), rows.alerts)
        if self._records:
            bulk("usage").execute_tuples(
                self._connection, _USAGE_COLUMNS, [_record_row(r) for r in self._records]
            )
            self._records.clear()
        execute = self._connection.execute
        if self._events:
            execute(
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
            at = datetime.now(UTC)
            for row in self._answers:
                row["at"] = at
            bulk("answers").execute(self._connection, self._answers)
            self._answers = []
        self._sessions.flush()


_RESERVATION_COLUMNS = (
    "member_id",
    "subscription_id",
    "from_pool",
    "from_overage",
    "price_minor",
    "expires_at",
    "free",
)
_BULK: dict[tuple[str, str], BulkStatement] = {}


def _bulk_statement(dialect: Dialect, which: str) -> BulkStatement:
    """The statement for one kind of ledger row on one dialect, compiled once."""
    key = (dialect.name, which)
    if key not in _BULK:
        name = dialect.name
        all_of = [c.name for c in t.charging_counters.columns]
        if which == "counters_update":
            made = compile_bulk(
                update(t.charging_counters)
                .where(
                    *(
                        column == bindparam(column.name)
                        for column in t.charging_counters.primary_key
                    )
                )
                .values(used=bindparam("used"), reserved=bindparam("reserved")),
                dialect,
            )
        elif which == "counters":
            made = compile_bulk(
                upsert(name, t.charging_counters, ("used", "reserved")), dialect, all_of
            )
        elif which == "money":
            made = compile_bulk(
                upsert(name, t.charging_money, ("overage_reserved_minor",)),
                dialect,
                [c.name for c in t.charging_money.columns],
            )
        elif which == "reservations":
            made = compile_bulk(
                upsert(name, t.reservations, _RESERVATION_COLUMNS),
                dialect,
                [c.name for c in t.reservations.columns],
            )
        elif which == "release":
            made = compile_bulk(_DELETE_RESERVATION, dialect)
        elif which == "bump":
            made = compile_bulk(_BUMP, dialect)
        elif which == "usage":
            columns = [c.name for c in t.usage_records.columns if c.name != "id"]
            made = compile_bulk(insert(t.usage_records), dialect, columns)
        else:
            columns = [c.name for c in t.charging_answers.columns]
            made = compile_bulk(insert(t.charging_answers), dialect, columns)
        _BULK[key] = made
    return _BULK[key]


class _ChangedRows:
    """The rows a set of ledger changes comes to, gathered across ledgers for executemany."""

    def __init__(self) -> None:
        self.counters: list[tuple[Any, ...]] = []  # in _COUNTER_COLUMNS order
        self.money: list[dict[str, Any]] = []
        self.held: list[dict[str, Any]] = []
        self.released: list[dict[str, Any]] = []
        self.alerts: list[dict[str, Any]] = []
        self.bumps: list[dict[str, Any]] = []

    def add(self, ledger: FamilyLedger, changes: Changes) -> None:
        family_id, cycle = ledger.family_id, ledger.cycle_number
        for key in changes.counters:
            self.counters.append(_counter_row(ledger, key))
        for member_id in changes.money:
            self.money.append(
                {
                    "family_id": family_id,
                    "cycle_number": cycle,
                    "member_id": member_id,
                    "overage_reserved_minor": ledger.member(member_id).overage_reserved_minor,
                }
            )
        for session_id, service in changes.reservations:
            resource, zone, tethered = service
            held = ledger.reservations.get((session_id, service))
            if held is None:
                self.released.append(
                    {
                        "k_family_id": family_id,
                        "k_cycle_number": cycle,
                        "k_session_id": session_id,
                        "k_resource": resource.value,
                        "k_zone": zone,
                        "k_tethered": tethered,
                    }
                )
                continue
            self.held.append(
                {
                    "family_id": family_id,
                    "cycle_number": cycle,
                    "session_id": session_id,
                    "resource": resource.value,
                    "zone": zone,
                    "tethered": tethered,
                    "member_id": held.member_id,
                    "subscription_id": held.subscription_id,
                    "from_pool": held.from_pool,
                    "from_overage": held.from_overage,
                    "price_minor": held.price_minor,
                    "expires_at": held.expires_at,
                    "free": held.free,
                }
            )
        for (scope, resource, zone), level in changes.alerts:
            self.alerts.append(
                {
                    "family_id": family_id,
                    "cycle_number": cycle,
                    "scope": scope or POOL_SCOPE,
                    "resource": resource.value,
                    "zone": zone,
                    "level": level,
                }
            )
        ledger.version += 1
        self.bumps.append({"family": family_id, "to": ledger.version})


# Counter and usage rows are tuples in these column orders (BulkStatement.execute_tuples):
# they are the most numerous rows a flush writes, and a tuple is cheaper than a dictionary.
_COUNTER_COLUMNS = (
    "family_id",
    "cycle_number",
    "scope",
    "kind",
    "resource",
    "zone",
    "used",
    "reserved",
)
_USAGE_COLUMNS = (
    "family_id",
    "cycle_number",
    "session_id",
    "member_id",
    "subscription_id",
    "resource",
    "zone",
    "tethered",
    "units",
    "from_pool",
    "from_overage",
    "overshoot",
    "at",
    "free",
)


def _counter_row(ledger: FamilyLedger, key: CounterKey) -> tuple[Any, ...]:
    member_id, kind, resource, zone = key
    counter: Counter = ledger.counter(key)
    return (
        ledger.family_id,
        ledger.cycle_number,
        member_id or POOL_SCOPE,
        kind,
        resource.value,
        zone,
        counter.used,
        counter.reserved,
    )


def _record_row(record: UsageRecord) -> tuple[Any, ...]:
    return (
        record.family_id,
        record.cycle_number,
        record.session_id,
        record.member_id,
        record.subscription_id,
        record.resource.value,
        record.zone,
        record.tethered,
        record.units,
        record.from_pool,
        record.from_overage,
        record.overshoot,
        record.at,
        record.free,
    )


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
        free=row["free"],
    )
