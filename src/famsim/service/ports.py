"""The ports the service layer needs, as Protocols; adapters implement them.

The unit of work is the transaction: a handler opens it, loads what it needs through the
repositories, changes domain objects and commits. Nothing is written unless ``commit``
is called, and a family loaded for change stays locked until the unit of work ends, so
two writers on one family are serialised (the family is the consistency boundary).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Any, Protocol, Self

from famsim.domain.charging.ledger import FamilyLedger, UsageRecord
from famsim.domain.charging.thresholds import ThresholdCrossed
from famsim.domain.errors import Conflict, NotFound
from famsim.domain.esim.smdp import SmdpProfile
from famsim.domain.family import Family
from famsim.domain.identifiers import Iccid, Imsi, Msisdn
from famsim.domain.ids import FamilyId
from famsim.domain.plan import Plan


class PlanNotFound(NotFound):
    pass


class FamilyNotFound(NotFound):
    pass


class ConcurrentUpdate(Conflict):
    """Someone else changed the family since it was read; retrying the command is safe."""


class IdentifierTaken(Conflict):
    """An MSISDN, ICCID or IMSI already belongs to another family."""


@dataclass(frozen=True, slots=True)
class FamilySummary:
    """One row of the family list: enough to find a family without loading it."""

    id: FamilyId
    name: str
    plan_code: str
    owner_name: str
    members: int
    lines: int
    created_on: date


class PlanRepository(Protocol):
    def get(self, code: str) -> Plan:
        """The plan with this code; raises :class:`PlanNotFound`."""
        ...

    def catalog(self) -> Sequence[Plan]: ...

    def save(self, plan: Plan) -> None:
        """Insert or replace the plan with the same code."""
        ...


class FamilyRepository(Protocol):
    def add(self, family: Family) -> None: ...

    def get(self, family_id: str, *, for_update: bool = False) -> Family:
        """Load a family; ``for_update`` holds its lock until the unit of work ends."""
        ...

    def summaries(self) -> Sequence[FamilySummary]: ...

    def owner_of_msisdn(self, msisdn: Msisdn) -> FamilyId | None: ...

    def owner_of_iccid(self, iccid: Iccid) -> FamilyId | None: ...

    def owner_of_imsi(self, imsi: Imsi) -> FamilyId | None: ...


@dataclass(frozen=True, slots=True)
class ChargingStamp:
    """What a family's charging state was read at: equal stamps, nothing changed since.

    The family's version (members, lines, allocations, cycle), its ledger's version
    (counters, reservations, alerts) and its plan's (an opaque marker that changes when
    the plan is replaced). A charging worker keeps hot families in memory and reuses them
    only while the stored stamp still equals the one it holds.
    """

    family_version: int
    ledger_version: int
    plan: str


class LedgerRepository(Protocol):
    """Charging ledgers, one per family and cycle, and their usage records.

    A ledger is read under its family's lock: load the family with ``for_update=True``
    first, in the same unit of work, and changes to both commit together.
    """

    def get(self, family_id: str, cycle_number: int, plan: Plan) -> FamilyLedger:
        """The stored ledger, or an empty one for a cycle with no charging yet."""
        ...

    def stamps(self, family_ids: Sequence[str]) -> dict[FamilyId, ChargingStamp]:
        """Lock these families (in id order, so batches never deadlock) and stamp them.

        Families that do not exist are missing from the answer.
        """
        ...

    def adopt(self, ledger: FamilyLedger) -> None:
        """Save this ledger (kept from an earlier unit of work) with the next commit.

        Only for a ledger whose stamp was just checked under the lock: its changes since
        it was last saved are written and its version is bumped.
        """
        ...

    def append(self, record: UsageRecord) -> None:
        """Add a usage record; it is written with the next commit, never changed after."""
        ...

    def usage(self, family_id: str, cycle_number: int) -> Sequence[UsageRecord]:
        """Committed usage records of a cycle, in the order they were written."""
        ...

    def families_with_reservations_due(self, now: datetime) -> Sequence[FamilyId]:
        """Families holding a reservation whose validity ends at or before ``now``."""
        ...

    def publish(self, event: ThresholdCrossed) -> None:
        """Put a domain event in the outbox; written with the next commit."""
        ...

    def outbox(self, family_id: str) -> Sequence[dict[str, Any]]:
        """Committed outbox entries of a family (kind, payload, created_at), oldest first."""
        ...

    def answer(self, session_id: str, request_number: int) -> dict[str, Any] | None:
        """The answer already given to this request (for retransmissions), if any."""
        ...

    def answers(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
        """The answers already given to any of these (session id, request number) pairs."""
        ...

    def remember(
        self, session_id: str, request_number: int, family_id: str, answer: dict[str, Any]
    ) -> None:
        """Keep the answer to a request; written with the next commit."""
        ...


class UnitOfWork(Protocol):
    @property
    def plans(self) -> PlanRepository: ...

    @property
    def families(self) -> FamilyRepository: ...

    @property
    def ledgers(self) -> LedgerRepository: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed."""
        ...

    def commit(self) -> None:
        """Write every family and ledger added or loaded in this unit of work, atomically."""
        ...

    def rollback(self) -> None: ...


class Clock(Protocol):
    def today(self) -> date: ...


class SmdpStore(Protocol):
    """Where the built-in SM-DP+ keeps its profiles (famsim's database, or memory in tests).

    The SM-DP+ holds its inventory in memory and writes each call's changes through, so the
    store needs only to read everything once and to save what a call touched, atomically.
    """

    def load(self) -> list[SmdpProfile]:
        """Every profile with its full state log, oldest change first."""
        ...

    def save(self, profiles: Sequence[SmdpProfile], logged: dict[Iccid, int]) -> None:
        """Insert or update these profiles and append their state changes after the first
        ``logged[iccid]`` already stored, in one transaction."""
        ...
