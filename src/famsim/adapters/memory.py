"""In-memory implementations of the storage ports, for fast service tests and tools.

They honour the same contract as the SQL ones (checked by tests/contract): what a unit
of work did not commit is gone, a committed family reads back equal, identifiers are
unique across families, and a writer that lost a race gets :class:`ConcurrentUpdate`.
Families are deep-copied in and out, so callers can never mutate the store by accident.
"""

from __future__ import annotations

import copy
import dataclasses
import random
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self

from famsim.adapters.memory_accounts import AccountTables, MemoryAccountRegistries
from famsim.adapters.memory_billing import BillingTables, MemoryBilling
from famsim.adapters.memory_outbox import MemoryOutbox
from famsim.adapters.memory_people import MemoryPeople, PeopleTables
from famsim.adapters.memory_webhooks import MemoryWebhooks, WebhookTables
from famsim.domain.audit import AuditEvent, latest
from famsim.domain.charging.ledger import FamilyLedger, UsageRecord
from famsim.domain.charging.thresholds import ThresholdCrossed
from famsim.domain.errors import Conflict
from famsim.domain.esim.smdp import SmdpProfile
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
from famsim.domain.family import Family
from famsim.domain.identifiers import Iccid, Imsi, Msisdn
from famsim.domain.ids import FamilyId
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
from famsim.domain.plan import Plan
from famsim.service.ports import (
    ChargingStamp,
    ConcurrentUpdate,
    FamilyNotFound,
    FamilySummary,
    IdentifierTaken,
    PlanNotFound,
)
from famsim.service.smdp_outbox import OutgoingNotification, StoredNotification


@dataclass
class MemoryStore:
    """What a database would hold; one store is shared by many units of work."""

    plans: dict[str, Plan] = field(default_factory=dict)
    families: dict[FamilyId, Family] = field(default_factory=dict)
    ledgers: dict[tuple[str, int], FamilyLedger] = field(default_factory=dict)
    usage: list[UsageRecord] = field(default_factory=list)
    answers: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    open_sessions: dict[str, str] = field(default_factory=dict)  # charging session -> family
    outbox: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    outbox_dispatched: dict[int, datetime] = field(default_factory=dict)  # event id -> when
    webhooks: WebhookTables = field(default_factory=WebhookTables)
    charging_versions: dict[FamilyId, int] = field(default_factory=dict)
    plan_saves: dict[str, int] = field(default_factory=dict)
    sims: dict[Iccid, StockedSim] = field(default_factory=dict)
    number_ranges: dict[str, NumberRange] = field(default_factory=dict)
    numbers: dict[str, PooledNumber] = field(default_factory=dict)
    audit: list[AuditEvent] = field(default_factory=list)
    es2_received: set[tuple[str, str]] = field(default_factory=set)
    account_tables: AccountTables = field(default_factory=AccountTables)
    people: PeopleTables = field(default_factory=PeopleTables)  # invitations, KYC, consents
    billing: BillingTables = field(default_factory=BillingTables)
    # (table, key) -> the unit of work that changed the row and has not ended: a row lock
    claims: dict[tuple[str, str], object] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)


class MemoryPlanRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.pending: dict[str, Plan] = {}

    def get(self, code: str) -> Plan:
        plan = self.pending.get(code) or self._store.plans.get(code)
        if plan is None:
            raise PlanNotFound(f"no plan {code!r} in the catalog")
        return plan

    def catalog(self) -> Sequence[Plan]:
        merged = self._store.plans | self.pending
        return [merged[code] for code in sorted(merged)]

    def save(self, plan: Plan) -> None:
        self.pending[plan.code] = plan


class MemoryFamilyRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.touched: dict[FamilyId, Family] = {}
        self.snapshots: dict[FamilyId, Family] = {}  # as read, to tell what changed

    def add(self, family: Family) -> None:
        self.touched[family.id] = family

    def get(self, family_id: str, *, for_update: bool = False) -> Family:
        if family_id in self.touched:
            return self.touched[FamilyId(family_id)]
        with self._store.lock:
            stored = self._store.families.get(FamilyId(family_id))
            if stored is None:
                raise FamilyNotFound(f"no family {family_id!r}")
            family = copy.deepcopy(stored)
        self.touched[family.id] = family
        self.snapshots[family.id] = copy.deepcopy(stored)
        return family

    def adopt(self, family: Family) -> None:
        self.touched[family.id] = family
        self.snapshots[family.id] = copy.deepcopy(family)

    def get_many(self, family_ids: Sequence[str], *, for_update: bool = False) -> list[Family]:
        found = []
        for family_id in sorted(set(family_ids)):
            try:
                found.append(self.get(family_id, for_update=for_update))
            except FamilyNotFound:
                continue
        return found

    def summaries(self) -> Sequence[FamilySummary]:
        with self._store.lock:
            families = sorted(self._store.families.values(), key=lambda f: (f.created_on, f.name))
        return [
            FamilySummary(
                id=f.id,
                name=f.name,
                plan_code=f.plan_code,
                owner_name=f.owner.name,
                members=len(f.active_members),
                lines=len(f.lines),
                created_on=f.created_on,
            )
            for f in families
        ]

    def owner_of_msisdn(self, msisdn: Msisdn) -> FamilyId | None:
        return self._find(
            lambda f: any(line.msisdn == msisdn and not line.is_closed for line in f.lines.values())
        )

    def owner_of_iccid(self, iccid: Iccid) -> FamilyId | None:
        return self._find(lambda f: f.subscription_by_iccid(iccid) is not None)

    def owner_of_imsi(self, imsi: Imsi) -> FamilyId | None:
        return self._find(
            lambda f: any(s.imsi == imsi and s.state.is_live for s in f.subscriptions())
        )

    def with_orders_due(self, now: datetime) -> Sequence[FamilyId]:
        with self._store.lock:
            return sorted(
                family.id
                for family in self._store.families.values()
                if any(
                    s.state.is_pending
                    and s.order_expires_at is not None
                    and s.order_expires_at <= now
                    for s in family.subscriptions()
                )
            )

    def _find(self, test: Callable[[Family], bool]) -> FamilyId | None:
        with self._store.lock:
            return next((f.id for f in self._store.families.values() if test(f)), None)


class MemoryLedgerRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.touched: dict[tuple[str, int], FamilyLedger] = {}
        self.records: list[UsageRecord] = []
        self.pending_answers: dict[tuple[str, int], dict[str, Any]] = {}
        self.answered_families: set[str] = set()
        self.events: list[ThresholdCrossed] = []
        self.session_changes: dict[str, str | None] = {}  # session -> family (open) or None

    def get(self, family_id: str, cycle_number: int, plan: Plan) -> FamilyLedger:
        key = (family_id, cycle_number)
        if key not in self.touched:
            with self._store.lock:
                stored = self._store.ledgers.get(key)
                ledger = (
                    copy.deepcopy(stored)
                    if stored is not None
                    else FamilyLedger(FamilyId(family_id), cycle_number, plan)
                )
                ledger.plan = plan  # as read now: a replaced plan applies at once
                ledger.version = self._store.charging_versions.get(FamilyId(family_id), 0)
                self.touched[key] = ledger
        return self.touched[key]

    def get_many(self, wanted: Sequence[tuple[str, int, Plan]]) -> list[FamilyLedger]:
        return [self.get(family_id, number, plan) for family_id, number, plan in wanted]

    def stamps(self, family_ids: Sequence[str]) -> dict[FamilyId, ChargingStamp]:
        with self._store.lock:
            found = {}
            for family_id in sorted(set(family_ids)):
                family = self._store.families.get(FamilyId(family_id))
                if family is None:
                    continue
                found[family.id] = ChargingStamp(
                    family.version,
                    self._store.charging_versions.get(family.id, 0),
                    f"{family.plan_code}#{self._store.plan_saves.get(family.plan_code, 0)}",
                )
            return found

    def adopt(self, ledger: FamilyLedger) -> None:
        self.touched[(ledger.family_id, ledger.cycle_number)] = ledger

    def answers(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
        found = {}
        for key in keys:
            answer = self.answer(*key)
            if answer is not None:
                found[key] = answer
        return found

    def append(self, record: UsageRecord) -> None:
        self.records.append(record)

    def families_with_reservations_due(self, now: datetime) -> Sequence[FamilyId]:
        with self._store.lock:
            due = {
                ledger.family_id
                for ledger in self._store.ledgers.values()
                if any(r.expires_at <= now for r in ledger.reservations.values())
            }
        return sorted(due)

    def publish(self, event: ThresholdCrossed) -> None:
        self.events.append(event)

    def outbox(self, family_id: str) -> Sequence[dict[str, Any]]:
        with self._store.lock:
            return [copy.deepcopy(entry) for fid, entry in self._store.outbox if fid == family_id]

    def answer(self, session_id: str, request_number: int) -> dict[str, Any] | None:
        key = (session_id, request_number)
        with self._store.lock:
            found = self.pending_answers.get(key) or self._store.answers.get(key)
        return copy.deepcopy(found)

    def remember(
        self, session_id: str, request_number: int, family_id: str, answer: dict[str, Any]
    ) -> None:
        self.pending_answers[(session_id, request_number)] = copy.deepcopy(answer)
        self.answered_families.add(family_id)

    def open_sessions(self, session_ids: Sequence[str]) -> set[str]:
        with self._store.lock:
            return {
                s
                for s in session_ids
                if (
                    self.session_changes[s] is not None
                    if s in self.session_changes
                    else s in self._store.open_sessions
                )
            }

    def open_session(self, session_id: str, family_id: str, at: datetime) -> None:
        self.session_changes[session_id] = family_id

    def close_session(self, session_id: str) -> None:
        self.session_changes[session_id] = None

    def usage(self, family_id: str, cycle_number: int) -> Sequence[UsageRecord]:
        with self._store.lock:
            return [
                r
                for r in self._store.usage
                if r.family_id == family_id and r.cycle_number == cycle_number
            ]


class MemoryUnitOfWork:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def __enter__(self) -> Self:
        self.plans = MemoryPlanRepository(self._store)
        self.families = MemoryFamilyRepository(self._store)
        self.ledgers = MemoryLedgerRepository(self._store)
        self._fresh_registries()
        return self

    def _fresh_registries(self) -> None:
        self._claims = _Claims(self._store)
        self.sims = MemorySimStock(self._store, self._claims)
        self.numbers = MemoryNumberPool(self._store, self._claims)
        self.audit = MemoryAuditLog(self._store)
        self.es2_received = MemoryReceivedNotifications(self._store, self._claims)
        self.outbox = MemoryOutbox(self._store)
        self.webhooks = MemoryWebhooks(self._store, self._claims)
        self._accounts = MemoryAccountRegistries(
            self._store.account_tables, self._store.lock, lambda: self._store.audit
        )
        self.accounts = self._accounts.accounts
        self.sessions = self._accounts.sessions
        self.api_keys = self._accounts.api_keys
        self._people = MemoryPeople(self._store.people, self._store.lock)
        self.invitations = self._people.invitations
        self.kyc = self._people.kyc
        self.consents = self._people.consents
        self.billing = MemoryBilling(self._store.billing, self._store.lock)

    def _check_registries(self, added: set[FamilyId]) -> None:
        """Refuse the commit before anything is written: audit and outbox events name real
        families."""
        for event in self.audit.pending:
            fid = event.family_id
            if fid is not None and fid not in self._store.families and fid not in added:
                raise FamilyNotFound(
                    f"an audit event names the family {fid!r}, which does not exist"
                )
        for fid, _ in self.outbox.pending:
            if fid not in self._store.families and fid not in added:
                raise FamilyNotFound(
                    f"an outbox event names the family {fid!r}, which does not exist"
                )
        self._accounts.check()
        self._people.check()
        self.billing.check()

    def _commit_registries(self) -> None:
        self._store.sims.update(self.sims.pending)
        self._store.number_ranges.update(self.numbers.pending_ranges)
        self._store.numbers.update(self.numbers.pending)
        self._store.audit.extend(self.audit.pending)
        self._store.es2_received.update(self.es2_received.pending)
        self.outbox.commit()
        self.webhooks.commit()
        self._accounts.commit()
        self._people.apply()
        self.billing.apply()
        self._claims.release()
        self._fresh_registries()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def commit(self) -> None:
        """Store every tracked family that changed; unchanged ones are not checked or written."""
        with self._store.lock:
            changed = []
            for family in self.families.touched.values():
                stored = self._store.families.get(family.id)
                read = self.families.snapshots.get(family.id)
                if read is not None and not _differs(read, family):
                    continue
                if stored is not None and stored.version != family.version:
                    raise ConcurrentUpdate(
                        f"family {family.name!r} was changed by someone else meanwhile"
                    )
                if family.plan_code not in self._store.plans | self.plans.pending:
                    raise PlanNotFound(f"no plan {family.plan_code!r} in the catalog")
                self._check_unique(family)
                changed.append((family, stored is not None))
            self._check_registries({family.id for family, _ in changed})
            for family, existed in changed:
                if existed:
                    family.version += 1
                self._store.families[family.id] = copy.deepcopy(family)
                self.families.snapshots[family.id] = copy.deepcopy(family)
            self._store.plans.update(self.plans.pending)
            for code in self.plans.pending:
                self._store.plan_saves[code] = self._store.plan_saves.get(code, 0) + 1
            self.plans.pending = {}
            answered = self.ledgers.answered_families
            for key, ledger in self.ledgers.touched.items():
                if ledger.take_changes() or ledger.family_id in answered:
                    ledger.version += 1
                    self._store.charging_versions[ledger.family_id] = ledger.version
                self._store.ledgers[key] = copy.deepcopy(ledger)
            self._store.usage.extend(self.ledgers.records)
            self.ledgers.records = []
            self._store.answers.update(self.ledgers.pending_answers)
            self.ledgers.pending_answers = {}
            self.ledgers.answered_families = set()
            for session_id, family_id in self.ledgers.session_changes.items():
                if family_id is None:
                    self._store.open_sessions.pop(session_id, None)
                else:
                    self._store.open_sessions.setdefault(session_id, family_id)
            self.ledgers.session_changes = {}
            self._store.outbox.extend(
                (
                    event.family_id,
                    {
                        "kind": event.KIND,
                        "payload": event.payload(),
                        "created_at": event.at,
                    },
                )
                for event in self.ledgers.events
            )
            self.ledgers.events = []
            self._commit_registries()

    def _check_unique(self, family: Family) -> None:
        mine = {line.msisdn for line in family.lines.values() if not line.is_closed}
        subs = family.subscriptions()
        for other in self._store.families.values():
            if other.id == family.id:
                continue
            if mine & {line.msisdn for line in other.lines.values() if not line.is_closed}:
                raise IdentifierTaken("this number is already in use by another line")
            theirs = other.subscriptions()
            if {s.iccid for s in subs} & {s.iccid for s in theirs}:
                raise IdentifierTaken("this ICCID is already in use by another line")
            if {s.imsi for s in subs} & {s.imsi for s in theirs}:
                raise IdentifierTaken("this IMSI is already in use by another line")

    def rollback(self) -> None:
        with self._store.lock:
            self._claims.release()
        self._fresh_registries()
        self.plans.pending = {}
        self.families.touched = {}
        self.families.snapshots = {}
        self.ledgers.touched = {}
        self.ledgers.records = []
        self.ledgers.pending_answers = {}
        self.ledgers.answered_families = set()
        self.ledgers.events = []
        self.ledgers.session_changes = {}


def _differs(a: Family, b: Family) -> bool:
    return vars(a) | {"version": 0} != vars(b) | {"version": 0}


class MemorySmdpStore:
    """The SM-DP+ store in memory: profiles deep-copied in and out, like a database, and
    the outbox as a list (bodies encoded as the SQL store does)."""

    MAX_ERROR_CHARS = 200

    def __init__(self) -> None:
        self._profiles: dict[Iccid, SmdpProfile] = {}
        self._outbox: list[StoredNotification] = []
        self._lock = threading.Lock()  # the sender runs in its own thread
        self.saves = 0

    def load(self) -> list[SmdpProfile]:
        return [
            copy.deepcopy(p) for _, p in sorted(self._profiles.items(), key=lambda i: str(i[0]))
        ]

    def save(
        self,
        profiles: Sequence[SmdpProfile],
        logged: dict[Iccid, int],
        notifications: Sequence[OutgoingNotification] = (),
    ) -> None:
        from famsim.adapters.es2plus.messages import dump_json, progress_request

        for profile in profiles:
            stored = self._profiles.get(profile.iccid)
            if (
                stored is not None
                and stored.history != profile.history[: logged.get(profile.iccid, 0)]
            ):
                raise AssertionError(f"the state log of {profile.iccid} was rewritten")
        with self._lock:
            first = len(self._outbox) + 1
            rows = [
                StoredNotification(
                    id=first + n,
                    iccid=o.notification.iccid,
                    function_call_id=o.function_call_id,
                    body=dump_json(
                        progress_request(
                            o.notification,
                            function_call_id=o.function_call_id,
                            requester=o.requester,
                        )
                    ),
                    created_at=o.notification.at,
                    attempts=0,
                    next_attempt_at=o.notification.at,
                    delivered_at=None,
                    last_error=None,
                )
                for n, o in enumerate(notifications)
            ]
            ids = [row.function_call_id for row in self._outbox + rows]
            if len(set(ids)) != len(ids):  # the SQL column is unique
                raise AssertionError("a functionCallIdentifier was stored twice")
            for profile in profiles:
                self._profiles[profile.iccid] = copy.deepcopy(profile)
            self._outbox.extend(rows)
        self.saves += 1

    def due(self, now: datetime, limit: int) -> list[StoredNotification]:
        ready = [n for n in self._heads() if n.next_attempt_at <= now]
        return sorted(ready, key=lambda n: (n.next_attempt_at, n.id))[:limit]

    def _heads(self) -> list[StoredNotification]:
        """The oldest undelivered notification of each profile (they go out in order)."""
        heads: dict[Iccid, StoredNotification] = {}
        with self._lock:
            for n in self._outbox:
                if n.delivered_at is None:
                    heads.setdefault(n.iccid, n)
        return list(heads.values())

    def mark_delivered(self, notification_id: int, at: datetime) -> None:
        self._change(
            notification_id,
            lambda n: replace(n, attempts=n.attempts + 1, delivered_at=at, last_error=None),
        )

    def mark_failed(
        self, notification_id: int, at: datetime, error: str, next_attempt_at: datetime
    ) -> None:
        self._change(
            notification_id,
            lambda n: (
                n
                if n.delivered_at is not None
                else replace(
                    n,
                    attempts=n.attempts + 1,
                    next_attempt_at=next_attempt_at,
                    last_error=error[: self.MAX_ERROR_CHARS],
                )
            ),
        )

    def notifications(self, *, pending_only: bool = False) -> list[StoredNotification]:
        with self._lock:
            return [n for n in self._outbox if not pending_only or n.delivered_at is None]

    def next_attempt_at(self) -> datetime | None:
        return min((n.next_attempt_at for n in self._heads()), default=None)

    def _change(
        self, notification_id: int, change: Callable[[StoredNotification], StoredNotification]
    ) -> None:
        with self._lock:
            index = notification_id - 1
            if 0 <= index < len(self._outbox):
                self._outbox[index] = change(self._outbox[index])


# ------------------------------------------------------------- the operator's registries
# Each repository keeps its changes pending until the unit of work commits. A row changed
# by a unit of work is claimed in the store until that unit of work ends, as a database
# row lock would be: a `take` or an `offer` skips claimed rows (SKIP LOCKED), a change
# of one named row refuses it (the database would make it wait).


class _Claims:
    """The rows one unit of work has claimed in the store (released when it ends)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.token = object()

    def free(self, table: str, key: str) -> bool:
        """Whether this unit of work may change the row (no one else claimed it)."""
        owner = self._store.claims.get((table, key))
        return owner is None or owner is self.token

    def claim(self, table: str, key: str, busy: str) -> None:
        if not self.free(table, key):
            raise Conflict(f"{busy} is being changed by someone else right now; try again")
        self._store.claims[(table, key)] = self.token

    def release(self) -> None:
        for key in [k for k, owner in self._store.claims.items() if owner is self.token]:
            del self._store.claims[key]


class MemorySimStock:
    def __init__(self, store: MemoryStore, claims: _Claims) -> None:
        self._store = store
        self._claims = claims
        self.pending: dict[Iccid, StockedSim] = {}

    def _merged(self) -> dict[Iccid, StockedSim]:
        return self._store.sims | self.pending

    def already_stocked(self, sims: Sequence[StockedSim]) -> list[AlreadyInStock]:
        with self._store.lock:
            merged = self._merged()
        holders = {sim.imsi: sim.iccid for sim in merged.values()}
        found = []
        for position, sim in enumerate(sims):
            if sim.iccid in merged:
                found.append(iccid_stocked(position, sim.iccid))
            elif sim.imsi in holders:
                found.append(imsi_stocked(position, sim.imsi, str(holders[sim.imsi])))
        return found

    def add_all(self, sims: Sequence[StockedSim], now: datetime) -> None:
        check_delivery(sims)
        with self._store.lock:
            if refused := self.already_stocked(sims):
                raise refused[0]
            for sim in sims:
                self._claims.claim("sim_stock", str(sim.iccid), f"SIM {sim.iccid}")
                self._claims.claim("sim_imsi", str(sim.imsi), f"IMSI {sim.imsi}")
            self.pending.update((sim.iccid, sim) for sim in sims)

    def take(self, profile_type: str, now: datetime) -> StockedSim:
        with self._store.lock:
            of_type = [
                sim
                for sim in self._merged().values()
                if sim.sim_type is SimType.ESIM and sim.profile_type == profile_type
            ]
            free = sorted(
                (
                    sim
                    for sim in of_type
                    if sim.state is StockState.FREE
                    and self._claims.free("sim_stock", str(sim.iccid))
                ),
                key=lambda sim: sim.iccid.digits,
            )
            if not free:
                raise out_of_stock(profile_type, ever_stocked=bool(of_type))
            return self._change(free[0], StockState.ASSIGNED)

    def take_iccid(self, iccid: Iccid, now: datetime) -> StockedSim:
        with self._store.lock:
            return self._change(check_take(self.get(iccid), iccid), StockState.ASSIGNED)

    def retire(self, iccid: Iccid, now: datetime) -> None:
        with self._store.lock:
            self._change(check_retire(self.get(iccid), iccid), StockState.RETIRED)

    def _change(self, sim: StockedSim, state: StockState) -> StockedSim:
        self._claims.claim("sim_stock", str(sim.iccid), f"SIM {sim.iccid}")
        changed = dataclasses.replace(sim, state=state)
        self.pending[sim.iccid] = changed
        return changed

    def get(self, iccid: Iccid) -> StockedSim | None:
        with self._store.lock:
            return self.pending.get(iccid) or self._store.sims.get(iccid)

    def counts(self) -> list[tuple[str, str | None, str, int]]:
        with self._store.lock:
            counted = Counter(
                (sim.sim_type.value, sim.profile_type, sim.state.value)
                for sim in self._merged().values()
            )
        return [
            (sim_type, profile_type, state, n)
            for (sim_type, profile_type, state), n in sorted(
                counted.items(), key=lambda item: (item[0][0], item[0][1] or "", item[0][2])
            )
        ]


class MemoryNumberPool:
    def __init__(self, store: MemoryStore, claims: _Claims) -> None:
        self._store = store
        self._claims = claims
        self.pending_ranges: dict[str, NumberRange] = {}
        self.pending: dict[str, PooledNumber] = {}

    def _read(self, e164: str) -> PooledNumber | None:
        return self.pending.get(e164) or self._store.numbers.get(e164)

    def _merged(self) -> dict[str, PooledNumber]:
        return self._store.numbers | self.pending

    def _put(self, number: PooledNumber) -> None:
        self._claims.claim("msisdns", number.e164, f"number {number.e164}")
        self.pending[number.e164] = number

    def add_range(self, first: Msisdn, last: Msisdn, now: datetime) -> int:
        new = NumberRange(first, last)
        numbers = new.numbers()
        with self._store.lock:
            for existing in (self._store.number_ranges | self.pending_ranges).values():
                if new.overlaps(existing):
                    raise overlap_refusal(new, existing)
            self._claims.claim("msisdn_ranges", "", "the list of number ranges")
            self.pending_ranges[first.e164] = new
            self.pending.update((n.e164, PooledNumber(n.e164)) for n in numbers)
        return new.size

    def offer(self, count: int, now: datetime, hold: timedelta = DEFAULT_HOLD) -> NumberOffer:
        check_offer_count(count)
        check_duration("hold", hold)
        with self._store.lock:
            merged = self._merged()
            if not merged:
                raise no_ranges()
            available = [
                e164
                for e164, number in merged.items()
                if number.available(now) and self._claims.free("msisdns", e164)
            ]
            if not available:
                raise none_free()
            offer_id = new_offer_id()
            picked = sorted(_RANDOM.sample(available, min(count, len(available))))
            for e164 in picked:
                self._put(merged[e164].held(offer_id, now + hold))
        return NumberOffer(offer_id, tuple(Msisdn(e164) for e164 in picked), now + hold)

    def assign(self, msisdn: Msisdn, offer_id: str | None, now: datetime) -> None:
        with self._store.lock:
            number = self._read(msisdn.e164)
            if number is None:
                if offer_id is not None:
                    raise not_offered(msisdn)
                return  # a ported-in number: not the pool's to manage
            self._put(number.assigned(offer_id, now))
            if offer_id is not None:
                self.unhold(offer_id, now)

    def release(
        self, msisdn: Msisdn, now: datetime, quarantine: timedelta = DEFAULT_QUARANTINE
    ) -> datetime | None:
        with self._store.lock:
            number = self._read(msisdn.e164)
            if number is None:
                return None
            released = number.released(now, quarantine)
            self._put(released)
            return released.quarantined_until

    def unhold(self, offer_id: str, now: datetime) -> None:
        with self._store.lock:
            for number in self._merged().values():
                if number.state is NumberState.HELD and number.offer_id == offer_id:
                    self._put(number.freed())

    def state_of(self, msisdn: Msisdn, now: datetime) -> NumberState | None:
        with self._store.lock:
            number = self._read(msisdn.e164)
        return None if number is None else number.effective(now)

    def listing(
        self, now: datetime, state: NumberState | None = None, limit: int = 100
    ) -> list[tuple[Msisdn, NumberState, datetime | None]]:
        with self._store.lock:
            merged = self._merged()
        found = []
        for e164 in sorted(merged):
            number = merged[e164]
            if state is None or number.effective(now) is state:
                found.append((Msisdn(e164), number.effective(now), number.until(now)))
                if len(found) >= limit:
                    break
        return found

    def counts(self, now: datetime) -> dict[NumberState, int]:
        with self._store.lock:
            counted = Counter(number.effective(now) for number in self._merged().values())
        return {state: counted.get(state, 0) for state in NumberState}


class MemoryAuditLog:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.pending: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.pending.append(event)

    def for_family(self, family_id: str, limit: int = 200) -> list[AuditEvent]:
        return self._latest(lambda e: e.family_id == family_id, limit)

    def recent(self, limit: int = 100) -> list[AuditEvent]:
        return self._latest(lambda e: True, limit)

    def _latest(self, test: Callable[[AuditEvent], bool], limit: int) -> list[AuditEvent]:
        with self._store.lock:
            events = [e for e in [*self._store.audit, *self.pending] if test(e)]
        return latest(events, limit)


class MemoryReceivedNotifications:
    def __init__(self, store: MemoryStore, claims: _Claims) -> None:
        self._store = store
        self._claims = claims
        self.pending: set[tuple[str, str]] = set()

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
        key = (requester_id, call_id)
        with self._store.lock:
            if key in self._store.es2_received or key in self.pending:
                return False
            self._claims.claim(
                "es2_notifications_received",
                f"{requester_id}\0{call_id}",
                f"notification {call_id}",
            )
            self.pending.add(key)
            return True


_RANDOM = random.SystemRandom()
