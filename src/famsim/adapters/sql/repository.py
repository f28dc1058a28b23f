"""Repositories over SQLAlchemy Core: families as aggregates, plans as catalog documents.

A family is read whole and written back as a difference: the repository keeps the rows
it read (the snapshot) and, on flush, inserts, updates or deletes only the rows that
changed. The family row carries a version; the update is conditional on it, so a writer
that lost a race fails loudly (:class:`ConcurrentUpdate`) instead of overwriting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    Connection,
    Table,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Dialect

from famsim.adapters.catalog import plan_from_document, plan_to_document
from famsim.adapters.sql import schema as t
from famsim.adapters.sql.bulk import BulkStatement, compile_bulk
from famsim.adapters.sql.engine import row_locks
from famsim.adapters.sql.rows import (
    Row,
    Rows,
    by_value,
    delete_missing,
    dicts,
    keyed,
    write_changes,
)
from famsim.domain.allocation import Allocation, ExhaustionAction, Limit
from famsim.domain.cycle import Cycle, Pool
from famsim.domain.family import Family
from famsim.domain.identifiers import Eid, Iccid, Imei, Imsi, Msisdn
from famsim.domain.ids import FamilyId, LineId, MemberId, SubscriptionId
from famsim.domain.lines import Line, LineStatus, SimType, Subscription, SubscriptionState
from famsim.domain.members import Member, MemberStatus, Role
from famsim.domain.money import Money
from famsim.domain.plan import DeviceKind, Plan
from famsim.domain.safety import QuietHours
from famsim.domain.units import Resource, Zone
from famsim.service.ports import ConcurrentUpdate, FamilyNotFound, FamilySummary, PlanNotFound

# Tables in foreign-key order; a row is identified by its table's primary key.
# Only allocation limits are ever deleted: members, lines and subscriptions stay for
# history, and past cycles and their pools stay for billing (the aggregate holds only the
# current cycle, so a row it no longer holds is not a row to delete).
_DELETABLE = frozenset({"allocation_limits"})
_CHILD_TABLES: tuple[Table, ...] = (
    t.cycles,
    t.members,
    t.lines,
    t.subscriptions,
    t.allocations,
    t.allocation_limits,
    t.pools,
)


# The statements that load a family, built once: building a SELECT costs about as much as
# running it on SQLite (measured with bench/storage.py), and these run on every load.
_FAMILY_ID: BindParameter[str] = bindparam("family_id")
_FAMILY_ROW = select(t.families).where(t.families.c.id == _FAMILY_ID)
_FAMILY_ROW_SHARED = _FAMILY_ROW.with_for_update(read=True)
_FAMILY_ROW_LOCKED = _FAMILY_ROW.with_for_update()
_CURRENT_CYCLE = (
    select(t.cycles)
    .where(t.cycles.c.family_id == _FAMILY_ID)
    .order_by(t.cycles.c.number.desc())
    .limit(1)
)
_POOLS = (
    select(t.pools)
    .where(t.pools.c.family_id == _FAMILY_ID, t.pools.c.cycle_number == bindparam("cycle_number"))
    .order_by(t.pools.c.resource, t.pools.c.zone)
)


def _children(table: Table, *order: str) -> Any:
    query = select(table).where(table.c.family_id == _FAMILY_ID)
    return query.order_by(*(table.c[name] for name in order))


_MEMBERS = _children(t.members, "position")
_LINES = _children(t.lines, "position")
_SUBSCRIPTIONS = _children(t.subscriptions, "line_id", "position")
_LIMITS = _children(t.allocation_limits, "member_id", "resource", "zone")
_ALLOCATIONS = _children(t.allocations, "member_id")

# The same for many families at once (get_many): one query a table, rows grouped by family.
_BATCH = 500
"""Families a load asks for at once: well inside every driver's limit on bound values."""
_IDS: BindParameter[list[str]] = bindparam("ids", expanding=True)
_MANY_FAMILY_ROWS = select(t.families).where(t.families.c.id.in_(_IDS)).order_by(t.families.c.id)
_MANY_FAMILY_ROWS_SHARED = _MANY_FAMILY_ROWS.with_for_update(read=True)
_MANY_FAMILY_ROWS_LOCKED = _MANY_FAMILY_ROWS.with_for_update()
_LATEST = t.cycles.alias("latest")


def _of_many(table: Table, *order: str) -> Any:
    query = select(table).where(table.c.family_id.in_(_IDS))
    return query.order_by(table.c.family_id, *(table.c[name] for name in order))


def _current(table: Table, number: Any) -> Any:
    """Rows of each family's current (latest) cycle."""
    latest = select(func.max(_LATEST.c.number)).where(_LATEST.c.family_id == table.c.family_id)
    return number == latest.scalar_subquery()


_MANY_CHILDREN: tuple[tuple[Table, Any], ...] = (
    (t.cycles, _of_many(t.cycles).where(_current(t.cycles, t.cycles.c.number))),
    (
        t.pools,
        _of_many(t.pools, "resource", "zone").where(_current(t.pools, t.pools.c.cycle_number)),
    ),
    (t.members, _of_many(t.members, "position")),
    (t.lines, _of_many(t.lines, "position")),
    (t.subscriptions, _of_many(t.subscriptions, "line_id", "position")),
    (t.allocation_limits, _of_many(t.allocation_limits, "member_id", "resource", "zone")),
    (t.allocations, _of_many(t.allocations, "member_id")),
)


class SqlPlanRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._cache: dict[str, Plan] = {}

    def get(self, code: str) -> Plan:
        if code not in self._cache:
            row = self._connection.execute(
                select(t.plans.c.document).where(t.plans.c.code == code)
            ).first()
            if row is None:
                raise PlanNotFound(f"no plan {code!r} in the catalog")
            self._cache[code] = plan_from_document(row.document)
        return self._cache[code]

    def catalog(self) -> Sequence[Plan]:
        rows = self._connection.execute(select(t.plans.c.document).order_by(t.plans.c.code))
        return [plan_from_document(row.document) for row in rows]

    def save(self, plan: Plan) -> None:
        values = {
            "name": plan.name,
            "currency": plan.currency,
            "document": plan_to_document(plan),
            "updated_at": datetime.now(UTC),
        }
        changed = self._connection.execute(
            update(t.plans).where(t.plans.c.code == plan.code).values(**values)
        ).rowcount
        if not changed:
            self._connection.execute(insert(t.plans).values(code=plan.code, **values))
        self._cache[plan.code] = plan


class SqlFamilyRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._new: dict[FamilyId, Family] = {}
        self._seen: dict[FamilyId, tuple[Family, dict[str, Rows]]] = {}

    # ------------------------------------------------------------------ reading
    def add(self, family: Family) -> None:
        self._new[family.id] = family

    def get(self, family_id: str, *, for_update: bool = False) -> Family:
        if family_id in self._new:
            return self._new[FamilyId(family_id)]
        if family_id in self._seen:
            return self._seen[FamilyId(family_id)][0]
        query = _FAMILY_ROW
        if row_locks(self._connection):
            # Writers lock the family row before touching its children, so a shared lock
            # is enough for a reader to see one committed version across all the tables.
            # SQLite needs neither: BEGIN IMMEDIATE already serialises transactions.
            query = _FAMILY_ROW_LOCKED if for_update else _FAMILY_ROW_SHARED
        row = self._connection.execute(query, {"family_id": family_id}).mappings().first()
        if row is None:
            raise FamilyNotFound(f"no family {family_id!r}")
        cycle_row = self._fetch(_CURRENT_CYCLE, family_id)[0]
        family = _assemble(
            dict(row),
            _FamilyRows(
                cycle_row,
                self._fetch(_POOLS, family_id, cycle_number=cycle_row["number"]),
                self._fetch(_MEMBERS, family_id),
                self._fetch(_LINES, family_id),
                self._fetch(_SUBSCRIPTIONS, family_id),
                self._fetch(_LIMITS, family_id),
                self._fetch(_ALLOCATIONS, family_id),
            ),
        )
        self._seen[family.id] = (family, _rows(family))
        return family

    def adopt(self, family: Family) -> None:
        self._seen[family.id] = (family, _rows(family))

    def get_many(self, family_ids: Sequence[str], *, for_update: bool = False) -> list[Family]:
        wanted = sorted(set(family_ids))
        found: dict[str, Family] = {}
        to_load = []
        for family_id in wanted:
            known = self._new.get(FamilyId(family_id)) or self._seen.get(FamilyId(family_id))
            if isinstance(known, tuple):
                found[family_id] = known[0]
            elif known is not None:
                found[family_id] = known
            else:
                to_load.append(family_id)
        for start in range(0, len(to_load), _BATCH):
            for family, as_read in self._load_many(to_load[start : start + _BATCH], for_update):
                self._seen[family.id] = (family, as_read)
                found[family.id] = family
        return [found[family_id] for family_id in wanted if family_id in found]

    def _load_many(
        self, family_ids: list[str], for_update: bool
    ) -> list[tuple[Family, dict[str, Rows]]]:
        """The families of *family_ids* in eight queries whatever their number, each with
        its rows as read: the snapshot that flush compares with (the rows ``_rows`` makes
        of a family are the rows it was read from, so they need not be made again)."""
        query = _MANY_FAMILY_ROWS
        if row_locks(self._connection):
            query = _MANY_FAMILY_ROWS_LOCKED if for_update else _MANY_FAMILY_ROWS_SHARED
        params = {"ids": family_ids}
        heads = dicts(self._connection.execute(query, params))
        if not heads:
            return []
        grouped: dict[str, dict[str, list[Row]]] = {}
        for table, children in _MANY_CHILDREN:
            for r in dicts(self._connection.execute(children, params)):
                grouped.setdefault(r["family_id"], {}).setdefault(table.name, []).append(r)
        loaded = []
        for head in heads:
            rows = grouped.get(head["id"], {})
            family = _assemble(
                head,
                _FamilyRows(
                    rows["cycles"][0],
                    rows.get("pools", []),
                    rows.get("members", []),
                    rows.get("lines", []),
                    rows.get("subscriptions", []),
                    rows.get("allocation_limits", []),
                    rows.get("allocations", []),
                ),
            )
            as_read = {"families": {(family.id,): _mapped(head)}}
            as_read |= {
                table.name: keyed(table, rows.get(table.name, [])) for table in _CHILD_TABLES
            }
            loaded.append((family, as_read))
        return loaded

    def _fetch(self, query: Any, family_id: str, **params: Any) -> list[Row]:
        rows = self._connection.execute(query, {"family_id": family_id, **params}).mappings()
        return [dict(r) for r in rows]

    def summaries(self) -> Sequence[FamilySummary]:
        member_count = (
            select(func.count())
            .where(t.members.c.family_id == t.families.c.id, t.members.c.status == "active")
            .correlate(t.families)
            .scalar_subquery()
        )
        line_count = (
            select(func.count())
            .where(t.lines.c.family_id == t.families.c.id)
            .correlate(t.families)
            .scalar_subquery()
        )
        query = (
            select(
                t.families.c.id,
                t.families.c.name,
                t.families.c.plan_code,
                t.families.c.created_on,
                t.members.c.name.label("owner_name"),
                member_count.label("members"),
                line_count.label("lines"),
            )
            .join(t.members, t.members.c.id == t.families.c.owner_id)
            .order_by(t.families.c.created_on, t.families.c.name)
        )
        return [
            FamilySummary(
                id=FamilyId(r.id),
                name=r.name,
                plan_code=r.plan_code,
                owner_name=r.owner_name,
                members=r.members,
                lines=r.lines,
                created_on=r.created_on,
            )
            for r in self._connection.execute(query)
        ]

    def owner_of_msisdn(self, msisdn: Msisdn) -> FamilyId | None:
        query = select(t.lines.c.family_id).where(
            t.lines.c.msisdn == msisdn.e164, t.lines.c.status != LineStatus.CLOSED.value
        )
        return self._owner(query)

    def owner_of_iccid(self, iccid: Iccid) -> FamilyId | None:
        query = select(t.subscriptions.c.family_id).where(t.subscriptions.c.iccid == iccid.digits)
        return self._owner(query)

    def owner_of_imsi(self, imsi: Imsi) -> FamilyId | None:
        # Only a live SIM: a deleted one's IMSI is history (the network no longer sees it).
        gone = (SubscriptionState.DELETED.value, SubscriptionState.ERROR.value)
        query = select(t.subscriptions.c.family_id).where(
            t.subscriptions.c.imsi == imsi.digits, t.subscriptions.c.state.not_in(gone)
        )
        return self._owner(query)

    def with_orders_due(self, now: datetime) -> Sequence[FamilyId]:
        pending = (SubscriptionState.ORDERED.value, SubscriptionState.RELEASED.value)
        query = (
            select(t.subscriptions.c.family_id)
            .where(
                t.subscriptions.c.state.in_(pending),
                t.subscriptions.c.order_expires_at <= now,
            )
            .distinct()
            .order_by(t.subscriptions.c.family_id)
        )
        return [FamilyId(r) for r in self._connection.execute(query).scalars()]

    def _owner(self, query: Any) -> FamilyId | None:
        found = self._connection.execute(query).scalar()
        return FamilyId(found) if found is not None else None

    # ------------------------------------------------------------------ writing
    def flush(self) -> None:
        """Write every new and every loaded family, then forget them.

        Each table is written once for all the families of the unit of work (a batch job
        may hold hundreds): the families' rows first, then each child table in foreign-key
        order, with one executemany per kind of statement.
        """
        connection = self._connection
        if self._new:
            added = [(family, _rows(family)) for family in self._new.values()]
            _family_statement(connection.dialect, "insert").execute(
                connection,
                [
                    rows["families"][(family.id,)] | {"version": family.version}
                    for family, rows in added
                ],
            )
            for table in _CHILD_TABLES:
                write_changes(connection, table, (({}, rows[table.name]) for _, rows in added))
            for family, rows in added:
                self._seen[family.id] = (family, rows)
            self._new.clear()
        changed = []
        for family, before in self._seen.values():
            after = _rows(family)
            if after != before:
                changed.append((family, before, after))
        if not changed:
            return
        families = [family for family, _, _ in changed]
        if len(families) > 1 and (lost := self._moved(families)) is not None:
            raise _lost_race(lost)
        bumped = _family_statement(connection.dialect, "update").execute(
            connection,
            [
                after["families"][(family.id,)]
                | {"version": family.version + 1, "k_id": family.id, "k_version": family.version}
                for family, _, after in changed
            ],
        )
        if bumped != len(changed):  # a single family, or a writer between the two
            raise _lost_race(self._moved(families) or families[0])
        for table in _CHILD_TABLES:
            pairs = [(before[table.name], after[table.name]) for _, before, after in changed]
            write_changes(connection, table, pairs)
        for table in reversed(_CHILD_TABLES):
            if table.name in _DELETABLE:
                pairs = [(before[table.name], after[table.name]) for _, before, after in changed]
                delete_missing(connection, table, pairs)
        for family, _, after in changed:
            family.version += 1
            self._seen[family.id] = (family, after)

    def _moved(self, families: list[Family]) -> Family | None:
        """The first of *families* whose stored version is no longer the one it was read
        at: another writer committed it meanwhile. (Read before this flush's update, which
        would move every version, so a batch names the family that lost the race.)"""
        query = select(t.families.c.id, t.families.c.version).where(
            t.families.c.id.in_([family.id for family in families])
        )
        stored = {row.id: row.version for row in self._connection.execute(query)}
        return next((f for f in families if stored.get(f.id) != f.version), None)


def _lost_race(family: Family) -> ConcurrentUpdate:
    return ConcurrentUpdate(
        f"family {family.name!r} was changed by someone else meanwhile; try again"
    )


_FAMILY_COLUMNS = (
    "id",
    "name",
    "plan_code",
    "pending_plan_code",
    "currency",
    "owner_id",
    "created_on",
    "cycle_day",
    "money_cap_minor",
    "oversubscription_allowed",
    "time_zone",
    "version",
)
"""What a family's row stores of the aggregate (``charging_version`` is the ledger's)."""
_FAMILY_STATEMENTS: dict[tuple[str, str], BulkStatement] = {}


def _mapped(head: Row) -> Row:
    """A family's row as read, without what the aggregate does not map (its version, kept
    on the family, and the ledger's charging version)."""
    return {name: head[name] for name in _FAMILY_COLUMNS if name != "version"}


def _family_statement(dialect: Dialect, kind: str) -> BulkStatement:
    """Insert a family's row, or update it if its version is still ``k_version``."""
    key = (dialect.name, kind)
    if key not in _FAMILY_STATEMENTS:
        if kind == "insert":
            made = compile_bulk(insert(t.families), dialect, _FAMILY_COLUMNS)
        else:
            c = t.families.c
            still = (c.id == bindparam("k_id"), c.version == bindparam("k_version"))
            made = compile_bulk(update(t.families).where(*still), dialect, _FAMILY_COLUMNS)
        _FAMILY_STATEMENTS[key] = made
    return _FAMILY_STATEMENTS[key]


# Stored enum values read back by dictionary (see famsim.adapters.sql.rows.by_value).
_RESOURCE = by_value(Resource)
_ROLE = by_value(Role)
_MEMBER_STATUS = by_value(MemberStatus)
_LINE_STATUS = by_value(LineStatus)
_SIM_TYPE = by_value(SimType)
_DEVICE_KIND = by_value(DeviceKind)
_SUBSCRIPTION_STATE = by_value(SubscriptionState)
_EXHAUSTION_ACTION = by_value(ExhaustionAction)


@dataclass(frozen=True, slots=True)
class _FamilyRows:
    """A family's child rows as read, each list in the table's stored order."""

    cycle: Row
    pools: list[Row]
    members: list[Row]
    lines: list[Row]
    subscriptions: list[Row]
    limits: list[Row]
    allocations: list[Row]


def _assemble(row: Row, rows: _FamilyRows) -> Family:
    """The family stored in *row* and its children's *rows*.

    Identifiers are read back with their ``trusted`` constructors: famsim validated them
    when it stored them, and checking them again against the numbering plans would cost
    more than the rest of the load (and a newer numbering database must not make a stored
    line unreadable).
    """
    family_id = row["id"]
    cycle_row, pool_rows = rows.cycle, rows.pools
    cycle = Cycle(
        number=cycle_row["number"],
        start=cycle_row["start_on"],
        end=cycle_row["end_on"],
        plan_code=cycle_row["plan_code"],
        pools={
            (_RESOURCE(p["resource"]), Zone(p["zone"])): Pool(
                _RESOURCE(p["resource"]), Zone(p["zone"]), p["total"], p["carried"]
            )
            for p in pool_rows
        },
    )
    currency = row["currency"]
    members = {
        MemberId(m["id"]): Member(
            id=MemberId(m["id"]),
            name=m["name"],
            role=_ROLE(m["role"]),
            joined_on=m["joined_on"],
            guardian_id=MemberId(m["guardian_id"]) if m["guardian_id"] else None,
            status=_MEMBER_STATUS(m["status"]),
            removed_on=m["removed_on"],
        )
        for m in rows.members
    }
    lines: dict[LineId, Line] = {
        LineId(r["id"]): Line(
            id=LineId(r["id"]),
            msisdn=Msisdn.trusted(r["msisdn"]),
            member_id=MemberId(r["member_id"]),
            data_only=r["data_only"],
            status=_LINE_STATUS(r["status"]),
            suspended_reason=r["suspended_reason"],
            closed_on=r["closed_on"],
        )
        for r in rows.lines
    }
    for s in rows.subscriptions:
        lines[LineId(s["line_id"])].subscriptions.append(
            Subscription(
                id=SubscriptionId(s["id"]),
                iccid=Iccid.trusted(s["iccid"]),
                imsi=Imsi.trusted(s["imsi"]),
                sim_type=_SIM_TYPE(s["sim_type"]),
                device_kind=_DEVICE_KIND(s["device_kind"]),
                primary=s["is_primary"],
                eid=Eid(s["eid"]) if s["eid"] else None,
                imei=Imei(s["imei"]) if s["imei"] else None,
                state=_SUBSCRIPTION_STATE(s["state"]),
                state_changed_at=s["state_changed_at"],
                profile_type=s["profile_type"],
                matching_id=s["matching_id"],
                confirmation_code=s["confirmation_code"],
                order_expires_at=s["order_expires_at"],
                replaces=SubscriptionId(s["replaces_id"]) if s["replaces_id"] else None,
                in_service_on=s["in_service_on"],
                out_of_service_on=s["out_of_service_on"],
            )
        )
    limits: dict[MemberId, dict[tuple[Resource, Zone], Limit]] = {}
    for r in rows.limits:
        key = (_RESOURCE(r["resource"]), Zone(r["zone"]))
        limits.setdefault(MemberId(r["member_id"]), {})[key] = Limit(r["quota"], r["hard_cap"])
    allocations = {
        MemberId(a["member_id"]): Allocation(
            limits=limits.get(MemberId(a["member_id"]), {}),
            hotspot_quota=a["hotspot_quota"],
            exhaustion=_EXHAUSTION_ACTION(a["exhaustion"]),
            redirect_url=a["redirect_url"],
            money_cap=_money(a["money_cap_minor"], currency),
            roaming_allowed=a["roaming_allowed"],
            always_allowed=frozenset(a["always_allowed"]),
            quiet_hours=tuple(_quiet_hours(text) for text in a["quiet_hours"]),
        )
        for a in rows.allocations
    }
    return Family(
        id=FamilyId(family_id),
        name=row["name"],
        plan_code=row["plan_code"],
        currency=currency,
        owner_id=MemberId(row["owner_id"]),
        created_on=row["created_on"],
        cycle_day=row["cycle_day"],
        cycle=cycle,
        members=members,
        lines=lines,
        allocations=allocations,
        money_cap=_money(row["money_cap_minor"], currency),
        oversubscription_allowed=row["oversubscription_allowed"],
        pending_plan_code=row["pending_plan_code"],
        time_zone=row["time_zone"],
        version=row["version"],
    )


@lru_cache(maxsize=1024)
def _quiet_hours(text: str) -> QuietHours:
    """A stored window, parsed once per process: families are loaded on every request."""
    return QuietHours.parse(text)


def _money(minor: int | None, currency: str) -> Money | None:
    return None if minor is None else Money(minor, currency)


def _rows(family: Family) -> dict[str, Rows]:
    """The rows that store ``family``: the one mapping from the domain to the tables."""
    fid = family.id
    cycle = family.cycle
    result: dict[str, Rows] = {
        "families": {
            (fid,): {
                "id": fid,
                "name": family.name,
                "plan_code": family.plan_code,
                "pending_plan_code": family.pending_plan_code,
                "currency": family.currency,
                "owner_id": family.owner_id,
                "created_on": family.created_on,
                "cycle_day": family.cycle_day,
                "money_cap_minor": family.money_cap.minor if family.money_cap else None,
                "oversubscription_allowed": family.oversubscription_allowed,
                "time_zone": family.time_zone,
            }
        }
    }
    result["cycles"] = keyed(
        t.cycles,
        [
            {
                "family_id": fid,
                "number": cycle.number,
                "start_on": cycle.start,
                "end_on": cycle.end,
                "plan_code": cycle.plan_code,
            }
        ],
    )
    result["members"] = keyed(
        t.members,
        (
            {
                "id": m.id,
                "family_id": fid,
                "name": m.name,
                "role": m.role.value,
                "guardian_id": m.guardian_id,
                "status": m.status.value,
                "joined_on": m.joined_on,
                "removed_on": m.removed_on,
                "position": position,
            }
            for position, m in enumerate(family.members.values())
        ),
    )
    result["lines"] = keyed(
        t.lines,
        (
            {
                "id": line.id,
                "family_id": fid,
                "member_id": line.member_id,
                "msisdn": line.msisdn.e164,
                "data_only": line.data_only,
                "status": line.status.value,
                "suspended_reason": line.suspended_reason,
                "position": position,
                "closed_on": line.closed_on,
            }
            for position, line in enumerate(family.lines.values())
        ),
    )
    result["subscriptions"] = keyed(
        t.subscriptions,
        (
            {
                "id": s.id,
                "line_id": line.id,
                "family_id": fid,
                "iccid": s.iccid.digits,
                "imsi": s.imsi.digits,
                "sim_type": s.sim_type.value,
                "device_kind": s.device_kind.value,
                "is_primary": s.primary,
                "eid": s.eid.digits if s.eid else None,
                "imei": s.imei.digits if s.imei else None,
                "position": position,
                "state": s.state.value,
                "state_changed_at": s.state_changed_at,
                "profile_type": s.profile_type,
                "matching_id": s.matching_id,
                "confirmation_code": s.confirmation_code,
                "order_expires_at": s.order_expires_at,
                "replaces_id": s.replaces,
                "in_service_on": s.in_service_on,
                "out_of_service_on": s.out_of_service_on,
            }
            for line in family.lines.values()
            for position, s in enumerate(line.subscriptions)
        ),
    )
    result["allocations"] = keyed(
        t.allocations,
        (
            {
                "member_id": member_id,
                "family_id": fid,
                "hotspot_quota": a.hotspot_quota,
                "exhaustion": a.exhaustion.value,
                "redirect_url": a.redirect_url,
                "money_cap_minor": a.money_cap.minor if a.money_cap else None,
                "roaming_allowed": a.roaming_allowed,
                "always_allowed": sorted(a.always_allowed),
                "quiet_hours": [str(window) for window in a.quiet_hours],
            }
            for member_id, a in family.allocations.items()
        ),
    )
    result["allocation_limits"] = keyed(
        t.allocation_limits,
        (
            {
                "member_id": member_id,
                "family_id": fid,
                "resource": resource.value,
                "zone": zone,
                "quota": limit.quota,
                "hard_cap": limit.hard_cap,
            }
            for member_id, a in family.allocations.items()
            for (resource, zone), limit in a.limits.items()
        ),
    )
    result["pools"] = keyed(
        t.pools,
        (
            {
                "family_id": fid,
                "cycle_number": cycle.number,
                "resource": pool.resource.value,
                "zone": pool.zone,
                "total": pool.total,
                "carried": pool.carried,
            }
            for pool in cycle.pools.values()
        ),
    )
    return result
