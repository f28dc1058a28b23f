"""In-memory implementations of the storage ports, for fast service tests and tools.

They honour the same contract as the SQL ones (checked by tests/contract): what a unit
of work did not commit is gone, a committed family reads back equal, identifiers are
unique across families, and a writer that lost a race gets :class:`ConcurrentUpdate`.
Families are deep-copied in and out, so callers can never mutate the store by accident.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from famsim.domain.charging.ledger import FamilyLedger, UsageRecord
from famsim.domain.charging.thresholds import ThresholdCrossed
from famsim.domain.esim.smdp import SmdpProfile
from famsim.domain.family import Family
from famsim.domain.identifiers import Iccid, Imsi, Msisdn
from famsim.domain.ids import FamilyId
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
    outbox: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    charging_versions: dict[FamilyId, int] = field(default_factory=dict)
    plan_saves: dict[str, int] = field(default_factory=dict)
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
        return self._find(lambda f: f.subscription_by_imsi(imsi) is not None)

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
        return self

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
        self.plans.pending = {}
        self.families.touched = {}
        self.families.snapshots = {}
        self.ledgers.touched = {}
        self.ledgers.records = []
        self.ledgers.pending_answers = {}
        self.ledgers.answered_families = set()
        self.ledgers.events = []


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
