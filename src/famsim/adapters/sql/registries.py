"""The operator's registries in SQL: SIM stock, the MSISDN pool, the audit log, received
ES2+ notifications. All of them work on the unit of work's connection, in its transaction.

Writes go straight to the database (the transaction is the buffer), except the audit log,
which is written on commit after the families, so an event may name a family added in the
same unit of work. Giving out a SIM or a number is safe against a concurrent unit of work:
PostgreSQL skips rows another transaction has locked (SKIP LOCKED) or re-checks the row's
state in a conditional UPDATE after waiting for it; SQLite runs one writer at a time
(BEGIN IMMEDIATE), so the question never arises there.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from famsim.adapters.sql import schema as t
from famsim.domain.audit import AuditEvent, latest
from famsim.domain.errors import Conflict
from famsim.domain.esim.stock import (
    AlreadyInStock,
    StockedSim,
    StockState,
    check_delivery,
    check_retire,
    check_take,
    iccid_stocked,
    imsi_stocked,
    out_of_stock,
)
from famsim.domain.identifiers import Iccid, Imsi, Msisdn
from famsim.domain.lines import SimType
from famsim.domain.numbers import (
    DEFAULT_HOLD,
    DEFAULT_QUARANTINE,
    NumberOffer,
    NumberRange,
    NumberState,
    PooledNumber,
    check_duration,
    check_offer_count,
    new_offer_id,
    no_ranges,
    none_free,
    not_offered,
    overlap_refusal,
)
from famsim.service.ports import FamilyNotFound

CHUNK = 500  # identifiers per IN (...) and rows per INSERT batch
OFFER_ROUNDS = 5  # tries to fill an offer when concurrent offers take the numbers picked
_RANDOM = random.SystemRandom()
T = TypeVar("T")


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


# ------------------------------------------------------------------------ SIM stock
_SIMS = t.sim_stock.c


def _sim(row: Any) -> StockedSim:
    return StockedSim(
        iccid=Iccid(row.iccid),
        imsi=Imsi(row.imsi),
        sim_type=SimType(row.sim_type),
        profile_type=row.profile_type,
        state=StockState(row.state),
    )


class SqlSimStock:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def already_stocked(self, sims: Sequence[StockedSim]) -> list[AlreadyInStock]:
        stocked: set[str] = set()
        holders: dict[str, str] = {}
        for chunk in _chunks(sims):
            found = self._connection.execute(
                select(_SIMS.iccid, _SIMS.imsi).where(
                    or_(
                        _SIMS.iccid.in_([str(s.iccid) for s in chunk]),
                        _SIMS.imsi.in_([str(s.imsi) for s in chunk]),
                    )
                )
            )
            for row in found:
                stocked.add(row.iccid)
                holders[row.imsi] = row.iccid
        refused = []
        for position, sim in enumerate(sims):
            if str(sim.iccid) in stocked:
                refused.append(iccid_stocked(position, sim.iccid))
            elif str(sim.imsi) in holders:
                refused.append(imsi_stocked(position, sim.imsi, holders[str(sim.imsi)]))
        return refused

    def add_all(self, sims: Sequence[StockedSim], now: datetime) -> None:
        check_delivery(sims)
        if refused := self.already_stocked(sims):
            raise refused[0]
        rows = [
            {
                "iccid": str(sim.iccid),
                "imsi": str(sim.imsi),
                "sim_type": sim.sim_type.value,
                "profile_type": sim.profile_type,
                "state": sim.state.value,
                "added_at": now,
                "changed_at": now,
            }
            for sim in sims
        ]
        try:
            for batch in _chunks(rows):
                self._connection.execute(insert(t.sim_stock), list(batch))
        except IntegrityError:
            raise Conflict(
                "some of these SIMs were stocked by someone else meanwhile; try again"
            ) from None

    def take(self, profile_type: str, now: datetime) -> StockedSim:
        of_type = and_(_SIMS.sim_type == SimType.ESIM.value, _SIMS.profile_type == profile_type)
        candidate = self._connection.execute(
            select(t.sim_stock)
            .where(of_type, _SIMS.state == StockState.FREE.value)
            .order_by(_SIMS.iccid)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if candidate is None:
            ever = self._connection.execute(select(exists().where(of_type))).scalar_one()
            raise out_of_stock(profile_type, ever_stocked=bool(ever))
        return self._change(_sim(candidate), StockState.ASSIGNED, now)

    def take_iccid(self, iccid: Iccid, now: datetime) -> StockedSim:
        sim = check_take(self._locked(iccid), iccid)
        return self._change(sim, StockState.ASSIGNED, now)

    def retire(self, iccid: Iccid, now: datetime) -> None:
        self._change(check_retire(self._locked(iccid), iccid), StockState.RETIRED, now)

    def _locked(self, iccid: Iccid) -> StockedSim | None:
        row = self._connection.execute(
            select(t.sim_stock).where(_SIMS.iccid == str(iccid)).with_for_update()
        ).first()
        return None if row is None else _sim(row)

    def _change(self, sim: StockedSim, state: StockState, now: datetime) -> StockedSim:
        """Move a SIM read under its row lock; the condition on its state is a second guard."""
        done = self._connection.execute(
            update(t.sim_stock)
            .where(_SIMS.iccid == str(sim.iccid), _SIMS.state == sim.state.value)
            .values(state=state.value, changed_at=now)
        )
        if done.rowcount != 1:
            raise Conflict(f"SIM {sim.iccid} was changed by someone else meanwhile; try again")
        return StockedSim(sim.iccid, sim.imsi, sim.sim_type, sim.profile_type, state)

    def get(self, iccid: Iccid) -> StockedSim | None:
        row = self._connection.execute(select(t.sim_stock).where(_SIMS.iccid == str(iccid))).first()
        return None if row is None else _sim(row)

    def counts(self) -> list[tuple[str, str | None, str, int]]:
        rows = self._connection.execute(
            select(_SIMS.sim_type, _SIMS.profile_type, _SIMS.state, func.count()).group_by(
                _SIMS.sim_type, _SIMS.profile_type, _SIMS.state
            )
        )
        found = [(r[0], r[1], r[2], int(r[3])) for r in rows]
        return sorted(found, key=lambda r: (r[0], r[1] or "", r[2]))


# ---------------------------------------------------------------------- number pool
_NUMBERS = t.msisdns.c


def _number(row: Any) -> PooledNumber:
    return PooledNumber(
        row.msisdn,
        NumberState(row.state),
        row.offer_id,
        row.held_until,
        row.quarantined_until,
    )


def _in_state(state: NumberState, now: datetime) -> ColumnElement[bool]:
    """Numbers whose effective state at *now* is *state* (holds and quarantines end)."""
    if state is NumberState.FREE:
        return or_(
            _NUMBERS.state == NumberState.FREE.value,
            and_(_NUMBERS.state == NumberState.HELD.value, _NUMBERS.held_until <= now),
            and_(
                _NUMBERS.state == NumberState.QUARANTINED.value,
                _NUMBERS.quarantined_until <= now,
            ),
        )
    if state is NumberState.HELD:
        return and_(_NUMBERS.state == state.value, _NUMBERS.held_until > now)
    if state is NumberState.QUARANTINED:
        return and_(_NUMBERS.state == state.value, _NUMBERS.quarantined_until > now)
    return _NUMBERS.state == state.value


class SqlNumberPool:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add_range(self, first: Msisdn, last: Msisdn, now: datetime) -> int:
        new = NumberRange(first, last)
        numbers = new.numbers()
        if self._connection.dialect.name == "postgresql":
            # One range added at a time: the overlap check below must see every range.
            self._connection.execute(text("LOCK TABLE msisdn_ranges IN SHARE ROW EXCLUSIVE MODE"))
        for row in self._connection.execute(select(t.msisdn_ranges)):
            existing = NumberRange(Msisdn(row.first), Msisdn(row.last))
            if new.overlaps(existing):
                raise overlap_refusal(new, existing)
        self._connection.execute(
            insert(t.msisdn_ranges).values(first=first.e164, last=last.e164, added_at=now)
        )
        rows = [
            {
                "msisdn": n.e164,
                "range_first": first.e164,
                "state": NumberState.FREE.value,
                "offer_id": None,
                "held_until": None,
                "quarantined_until": None,
                "changed_at": now,
            }
            for n in numbers
        ]
        for batch in _chunks(rows):
            self._connection.execute(insert(t.msisdns), list(batch))
        return new.size

    def offer(self, count: int, now: datetime, hold: timedelta = DEFAULT_HOLD) -> NumberOffer:
        check_offer_count(count)
        check_duration("hold", hold)
        offer_id = new_offer_id()
        held: list[str] = []
        for _ in range(OFFER_ROUNDS):
            picked = self._pick(count - len(held), now)
            if not picked:
                break
            for e164 in sorted(picked):
                if self._hold(e164, offer_id, now, now + hold):
                    held.append(e164)
            if len(held) == count:
                break
        if not held:
            pool = self._connection.execute(select(exists(select(_NUMBERS.msisdn))))
            raise none_free() if pool.scalar_one() else no_ranges()
        return NumberOffer(offer_id, tuple(Msisdn(e) for e in sorted(held)), now + hold)

    def _pick(self, count: int, now: datetime) -> list[str]:
        """*count* free numbers chosen at random (by rank, so no table is read into memory)."""
        available = self._connection.execute(
            select(func.count()).select_from(t.msisdns).where(_in_state(NumberState.FREE, now))
        ).scalar_one()
        if not available:
            return []
        ranks = _RANDOM.sample(range(1, available + 1), min(count, available))
        ranked = (
            select(
                _NUMBERS.msisdn,
                func.row_number().over(order_by=_NUMBERS.msisdn).label("rank"),
            )
            .where(_in_state(NumberState.FREE, now))
            .subquery()
        )
        rows = self._connection.execute(select(ranked.c.msisdn).where(ranked.c.rank.in_(ranks)))
        return [row.msisdn for row in rows]

    def _hold(self, e164: str, offer_id: str, now: datetime, until: datetime) -> bool:
        """Hold one number if it is still free (another offer may have taken it meanwhile).

        A number another transaction has locked is passed over, never waited for: offers
        pick in rounds, so two of them could otherwise wait on each other's numbers
        (PostgreSQL's deadlock detector aborting one). SQLite has one writer anyway.
        """
        free = self._connection.execute(
            select(_NUMBERS.msisdn)
            .where(_NUMBERS.msisdn == e164, _in_state(NumberState.FREE, now))
            .with_for_update(skip_locked=True)
        ).first()
        if free is None:
            return False
        done = self._connection.execute(
            update(t.msisdns)
            .where(_NUMBERS.msisdn == e164, _in_state(NumberState.FREE, now))
            .values(
                state=NumberState.HELD.value,
                offer_id=offer_id,
                held_until=until,
                quarantined_until=None,
                changed_at=now,
            )
        )
        return done.rowcount == 1

    def assign(self, msisdn: Msisdn, offer_id: str | None, now: datetime) -> None:
        number = self._locked(msisdn)
        if number is None:
            if offer_id is not None:
                raise not_offered(msisdn)
            return  # a ported-in number: not the pool's to manage
        self._write(number.assigned(offer_id, now), now)
        if offer_id is not None:
            self.unhold(offer_id, now)

    def release(
        self, msisdn: Msisdn, now: datetime, quarantine: timedelta = DEFAULT_QUARANTINE
    ) -> datetime | None:
        number = self._locked(msisdn)
        if number is None:
            return None
        released = number.released(now, quarantine)
        self._write(released, now)
        return released.quarantined_until

    def unhold(self, offer_id: str, now: datetime) -> None:
        self._connection.execute(
            update(t.msisdns)
            .where(_NUMBERS.offer_id == offer_id, _NUMBERS.state == NumberState.HELD.value)
            .values(state=NumberState.FREE.value, offer_id=None, held_until=None, changed_at=now)
        )

    def _locked(self, msisdn: Msisdn) -> PooledNumber | None:
        row = self._connection.execute(
            select(t.msisdns).where(_NUMBERS.msisdn == msisdn.e164).with_for_update()
        ).first()
        return None if row is None else _number(row)

    def _write(self, number: PooledNumber, now: datetime) -> None:
        self._connection.execute(
            update(t.msisdns)
            .where(_NUMBERS.msisdn == number.e164)
            .values(
                state=number.state.value,
                offer_id=number.offer_id,
                held_until=number.held_until,
                quarantined_until=number.quarantined_until,
                changed_at=now,
            )
        )

    def state_of(self, msisdn: Msisdn, now: datetime) -> NumberState | None:
        row = self._connection.execute(
            select(t.msisdns).where(_NUMBERS.msisdn == msisdn.e164)
        ).first()
        return None if row is None else _number(row).effective(now)

    def listing(
        self, now: datetime, state: NumberState | None = None, limit: int = 100
    ) -> list[tuple[Msisdn, NumberState, datetime | None]]:
        query = select(t.msisdns).order_by(_NUMBERS.msisdn).limit(max(limit, 0))
        if state is not None:
            query = query.where(_in_state(state, now))
        found = []
        for row in self._connection.execute(query):
            number = _number(row)
            found.append((Msisdn(number.e164), number.effective(now), number.until(now)))
        return found

    def counts(self, now: datetime) -> dict[NumberState, int]:
        effective = case(
            *((_in_state(state, now), state.value) for state in NumberState),
        ).label("effective")
        # Grouped outside: PostgreSQL would not see one CASE with bound times as the other.
        inner = select(effective).subquery()
        rows = self._connection.execute(
            select(inner.c.effective, func.count()).group_by(inner.c.effective)
        )
        counted = {NumberState(row[0]): int(row[1]) for row in rows}
        return {state: counted.get(state, 0) for state in NumberState}


# ------------------------------------------------------------------------ audit log
_AUDIT = t.audit_events.c


def _event(row: Any) -> AuditEvent:
    return AuditEvent(
        at=row.at,
        family_id=row.family_id,
        actor=row.actor,
        action=row.action,
        subject=row.subject,
        detail=dict(row.detail),
    )


class SqlAuditLog:
    """Events wait in memory until commit, then are inserted after the families."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.pending: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.pending.append(event)

    def for_family(self, family_id: str, limit: int = 200) -> list[AuditEvent]:
        mine = [e for e in self.pending if e.family_id == family_id]
        return self._latest(_AUDIT.family_id == family_id, mine, limit)

    def recent(self, limit: int = 100) -> list[AuditEvent]:
        return self._latest(None, self.pending, limit)

    def _latest(
        self, where: ColumnElement[bool] | None, pending: list[AuditEvent], limit: int
    ) -> list[AuditEvent]:
        query = select(t.audit_events).order_by(_AUDIT.at.desc(), _AUDIT.id.desc())
        if where is not None:
            query = query.where(where)
        stored = [_event(row) for row in self._connection.execute(query.limit(max(limit, 0)))]
        return latest([*reversed(stored), *pending], limit)

    def flush(self) -> None:
        if not self.pending:
            return
        named = {e.family_id for e in self.pending if e.family_id is not None}
        found = set()
        for chunk in _chunks(sorted(named)):
            found |= set(
                self._connection.execute(
                    select(t.families.c.id).where(t.families.c.id.in_(chunk))
                ).scalars()
            )
        if missing := sorted(named - found):
            raise FamilyNotFound(
                f"an audit event names the family {missing[0]!r}, which does not exist"
            )
        rows = [
            {
                "at": e.at,
                "family_id": e.family_id,
                "actor": e.actor,
                "action": e.action,
                "subject": e.subject,
                "detail": dict(e.detail),
            }
            for e in self.pending
        ]
        self._connection.execute(insert(t.audit_events), rows)
        self.pending = []


# ------------------------------------------------------- received ES2+ notifications
class SqlReceivedNotifications:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def first_time(
        self,
        requester_id: str,
        call_id: str,
        *,
        iccid: Iccid,
        point: int,
        outcome: str,
        now: datetime,
    ) -> bool:
        table = t.es2_notifications_received
        keys = [table.c.function_requester_id, table.c.function_call_id]
        statement = (
            postgresql.insert(table).on_conflict_do_nothing(index_elements=keys)
            if self._connection.dialect.name == "postgresql"
            else sqlite.insert(table).on_conflict_do_nothing(index_elements=keys)
        ).returning(table.c.function_call_id)  # a row back: it was new (rowcount varies)
        done = self._connection.execute(
            statement,
            {
                "function_requester_id": requester_id,
                "function_call_id": call_id,
                "received_at": now,
                "iccid": str(iccid),
                "notification_point": point,
                "outcome": outcome,
            },
        )
        return done.first() is not None
