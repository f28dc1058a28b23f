"""The ports the service layer needs, as Protocols; adapters implement them.

The unit of work is the transaction: a handler opens it, loads what it needs through the
repositories, changes domain objects and commits. Nothing is written unless ``commit``
is called, and a family loaded for change stays locked until the unit of work ends, so
two writers on one family are serialised (the family is the consistency boundary).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, Self

from famsim.domain.accounts import Account, ApiKey, LoginSession, SessionKind
from famsim.domain.audit import AuditEvent
from famsim.domain.billing.invoice import CreditNote, Invoice
from famsim.domain.billing.split import SplitPolicy
from famsim.domain.charging.ledger import FamilyLedger, UsageRecord
from famsim.domain.charging.thresholds import ThresholdCrossed
from famsim.domain.errors import Conflict, FamsimError, NotFound
from famsim.domain.esim.smdp import FinalStatus, SmdpProfile
from famsim.domain.esim.status import StatusCode
from famsim.domain.esim.stock import AlreadyInStock, StockedSim
from famsim.domain.family import Family
from famsim.domain.identifiers import Eid, Iccid, Imsi, Msisdn
from famsim.domain.ids import FamilyId
from famsim.domain.invitations import Invitation
from famsim.domain.numbers import DEFAULT_HOLD, DEFAULT_QUARANTINE, NumberOffer, NumberState
from famsim.domain.outbox import OutboxEvent
from famsim.domain.plan import Plan
from famsim.domain.rebalance import RebalancePolicy
from famsim.domain.sealed import Sealed as Sealed  # re-exported: the Sealer port's type
from famsim.domain.webhooks import WebhookDelivery, WebhookEndpoint
from famsim.service.smdp_outbox import OutgoingNotification, StoredNotification


class PlanNotFound(NotFound):
    pass


class FamilyNotFound(NotFound):
    pass


class StorageUnavailable(FamsimError):
    """The storage cannot be reached or opened (or the process serving it is gone): try
    again later."""


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

    def adopt(self, family: Family) -> None:
        """Track *family*, read in an earlier unit of work, as if read now: its changes
        from here on are written with the next commit, which fails with
        :class:`ConcurrentUpdate` if its stored version moved since it was read. Only for
        a family whose stamp was just checked under the lock, and not yet changed."""
        ...

    def get_many(self, family_ids: Sequence[str], *, for_update: bool = False) -> list[Family]:
        """Load several families at once (a batch job's few queries instead of a dozen a
        family), in id order, locked in that order with ``for_update``; ids of families
        that do not exist are left out. Each is then tracked as :meth:`get` tracks it."""
        ...

    def summaries(self) -> Sequence[FamilySummary]: ...

    def owner_of_msisdn(self, msisdn: Msisdn) -> FamilyId | None: ...

    def owner_of_iccid(self, iccid: Iccid) -> FamilyId | None: ...

    def owner_of_imsi(self, imsi: Imsi) -> FamilyId | None: ...

    def with_orders_due(self, now: datetime) -> Sequence[FamilyId]:
        """Families with an eSIM order not downloaded by its deadline (at or before *now*)."""
        ...


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

    def get_many(self, wanted: Sequence[tuple[str, int, Plan]]) -> list[FamilyLedger]:
        """The ledgers of several (family id, cycle number, plan) at once, in that order,
        as :meth:`get` gives each (their families locked first, as for :meth:`get`)."""
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

    def open_sessions(self, session_ids: Sequence[str]) -> set[str]:
        """Which of these charging sessions are open: an INITIAL was answered for them and
        no TERMINATION since (as of this unit of work, its own changes included)."""
        ...

    def open_session(self, session_id: str, family_id: str, at: datetime) -> None:
        """Mark a session open (its INITIAL was answered); written with the next commit.
        Open sessions are kept until their TERMINATION, however long they last."""
        ...

    def close_session(self, session_id: str) -> None:
        """Mark a session over (its TERMINATION was answered); written with the next commit."""
        ...


class SimStockRepository(Protocol):
    """The operator's SIM stock (eSIM profiles and physical cards), in the unit of work.

    A SIM is given out once: two units of work taking at once never get the same one.
    """

    def add_all(self, sims: Sequence[StockedSim], now: datetime) -> None:
        """Stock a delivery whole or not at all.

        Raises :class:`famsim.domain.esim.stock.AlreadyInStock` (with the ``position`` in
        *sims*) for an ICCID or IMSI already stocked or twice in the delivery.
        """
        ...

    def already_stocked(self, sims: Sequence[StockedSim]) -> list[AlreadyInStock]:
        """Every SIM of *sims* whose ICCID or IMSI is stocked already, in order (none:
        the delivery can be stocked), so an import can report every offending line."""
        ...

    def take(self, profile_type: str, now: datetime) -> StockedSim:
        """A free eSIM profile of this type (lowest ICCID), now assigned.

        Raises :class:`famsim.domain.esim.stock.OutOfStock` when none is free.
        """
        ...

    def take_iccid(self, iccid: Iccid, now: datetime) -> StockedSim:
        """This SIM, which must be free, now assigned (SimNotInStock / SimNotFree)."""
        ...

    def retire(self, iccid: Iccid, now: datetime) -> None:
        """An assigned SIM whose order failed or was cancelled: never given out again."""
        ...

    def get(self, iccid: Iccid) -> StockedSim | None: ...

    def counts(self) -> list[tuple[str, str | None, str, int]]:
        """(sim type, profile type, state, how many), sorted, for every combination stocked."""
        ...


class NumberPoolRepository(Protocol):
    """The operator's MSISDN ranges and where each of their numbers stands.

    Holds and quarantines end by time: "free" below means FREE, or HELD with the hold over,
    or QUARANTINED with the quarantine over. Numbers outside every range (ported in) are
    not managed here.
    """

    def add_range(self, first: Msisdn, last: Msisdn, now: datetime) -> int:
        """Add the numbers first..last (all free); refuses a range overlapping another."""
        ...

    def offer(self, count: int, now: datetime, hold: timedelta = DEFAULT_HOLD) -> NumberOffer:
        """Up to *count* free numbers at random, held under a new offer until now + hold.

        Raises :class:`famsim.domain.numbers.NumberUnavailable` when none is free.
        """
        ...

    def assign(self, msisdn: Msisdn, offer_id: str | None, now: datetime) -> None:
        """Assign a number held by this offer (or, with no offer, a free one); the offer's
        other numbers are free again at once. A number outside the ranges is accepted
        without an offer (nothing recorded) and refused with one. Refusals raise
        NumberUnavailable saying why."""
        ...

    def release(
        self, msisdn: Msisdn, now: datetime, quarantine: timedelta = DEFAULT_QUARANTINE
    ) -> datetime | None:
        """An assigned number given back: quarantined until the returned time. None when
        it is not in the ranges, or when a zero *quarantine* freed it at once."""
        ...

    def unhold(self, offer_id: str, now: datetime) -> None:
        """Free every number this offer still holds (the picker was closed)."""
        ...

    def state_of(self, msisdn: Msisdn, now: datetime) -> NumberState | None:
        """The effective state at *now*; None for a number outside the ranges."""
        ...

    def listing(
        self, now: datetime, state: NumberState | None = None, limit: int = 100
    ) -> list[tuple[Msisdn, NumberState, datetime | None]]:
        """Numbers in order with their effective state and when it ends by itself."""
        ...

    def counts(self, now: datetime) -> dict[NumberState, int]:
        """How many numbers are in each effective state (every state present)."""
        ...


class AuditLog(Protocol):
    """Append-only record of who changed what; written in the unit of work's transaction."""

    def record(self, event: AuditEvent) -> None:
        """Append an event; it is stored with the commit and forgotten with a rollback.

        An event naming a family that does not exist fails the commit (FamilyNotFound).
        """
        ...

    def for_family(self, family_id: str, limit: int = 200) -> list[AuditEvent]:
        """The family's latest *limit* events, oldest first."""
        ...

    def recent(self, limit: int = 100) -> list[AuditEvent]:
        """The latest *limit* events of every family and none, oldest first."""
        ...


class ReceivedNotifications(Protocol):
    """ES2+ notifications received, by the sender's ids: act on each once."""

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
        """Record the notification: True the first time, False for a repeat. In the
        transaction: a rollback forgets it, so a failed handling is retried."""
        ...


class OutboxRepository(Protocol):
    """Events for the outside world (webhooks), stored with the change they describe.

    The charging ledger publishes its threshold alerts into the same outbox. An event is
    "dispatched" once it has been fanned out into webhook deliveries; delivering those is
    the webhook repository's business.
    """

    def add(self, family_id: str, kind: str, payload: Mapping[str, Any], at: datetime) -> None:
        """Add an event (payload: JSON values); written with the commit, gone on rollback.

        An event naming a family that does not exist fails the commit (FamilyNotFound).
        """
        ...

    def undispatched(self, limit: int) -> list[OutboxEvent]:
        """Committed events not yet dispatched, oldest first (PostgreSQL: rows another
        dispatcher holds are skipped)."""
        ...

    def mark_dispatched(self, event_ids: Sequence[int], at: datetime) -> None:
        """Mark events as fanned out; written with the commit."""
        ...

    def for_family(self, family_id: str, limit: int = 100) -> list[OutboxEvent]:
        """The family's latest *limit* committed events, oldest first (newest last)."""
        ...


class InvitationRepository(Protocol):
    """Invitations to join a family (the one-time code only as its SHA-256).

    An invitation read here is tracked: changes to it (a wrong code counted, acceptance)
    are written with the commit, like a family's.
    """

    def add(self, invitation: Invitation) -> None: ...

    def get(self, invitation_id: str, *, for_update: bool = False) -> Invitation:
        """The invitation; raises InvitationNotFound. ``for_update`` holds its row until
        the unit of work ends, so concurrent wrong codes all count."""
        ...

    def for_family(self, family_id: str) -> list[Invitation]:
        """The family's invitations, oldest first."""
        ...


class KycRepository(Protocol):
    """Members' identity (KYC) data, only ever sealed; written with the commit."""

    def put(self, member_id: str, sealed: Sealed, verified_at: datetime) -> None:
        """Record (or replace) the member's sealed identity, verified at *verified_at*."""
        ...

    def get(self, member_id: str) -> tuple[Sealed, datetime] | None:
        """The sealed identity and when it was verified, or None."""
        ...

    def all_sealed(self) -> list[tuple[str, Sealed]]:
        """(member id, sealed identity) of every record, by member id: for key rotation."""
        ...

    def replace(self, member_id: str, sealed: Sealed) -> None:
        """Re-sealed data for an existing record (rotation); verification time kept."""
        ...

    def discard(self, member_id: str) -> None:
        """Forget the member's identity (a joining undone); nothing if there is none."""
        ...


class ConsentRepository(Protocol):
    """Privacy consents: *grantor* lets *grantee* see its detail. Written with the commit."""

    def grant(self, grantor: str, grantee: str, at: datetime) -> None:
        """Record the consent (a repeated grant keeps the first time)."""
        ...

    def revoke(self, grantor: str, grantee: str) -> None: ...

    def granted(self, grantor: str, grantee: str) -> bool: ...

    def grantees(self, grantor: str) -> list[str]:
        """The members *grantor* consented to, sorted."""
        ...


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery due now with what sending it needs: endpoint, sealed secret, event."""

    delivery: WebhookDelivery
    endpoint: WebhookEndpoint
    secret: Sealed
    event: OutboxEvent


class WebhookRepository(Protocol):
    """Operator webhook endpoints (signing secret sealed) and deliveries of outbox events.

    A delivery's idempotency key is unique: creating one again does nothing. Attempts are
    counted only on undelivered deliveries (a late failure never undoes a delivery).
    Everything is in the unit of work's transaction.
    """

    def add(self, endpoint: WebhookEndpoint, secret: Sealed) -> None: ...

    def get(self, endpoint_id: str) -> WebhookEndpoint:
        """The endpoint; raises :class:`famsim.domain.webhooks.WebhookNotFound`."""
        ...

    def secrets(self) -> list[tuple[str, Sealed]]:
        """Every endpoint's sealed signing secret (for key rotation)."""
        ...

    def replace_secret(self, endpoint_id: str, secret: Sealed) -> None: ...

    def listing(self) -> list[WebhookEndpoint]:
        """Every endpoint, disabled ones too, oldest first."""
        ...

    def disable(self, endpoint_id: str, at: datetime) -> None:
        """Stop the endpoint (kept for the record); WebhookNotFound for an unknown id."""
        ...

    def create_delivery(
        self, endpoint_id: str, event_id: int, idempotency_key: str, due: datetime
    ) -> bool:
        """A new delivery, due at *due*; False (nothing created) when the key exists."""
        ...

    def due(self, now: datetime, limit: int) -> list[DueDelivery]:
        """Undelivered deliveries to active endpoints whose next attempt is at or before
        *now*, earliest first."""
        ...

    def mark_delivered(self, delivery_id: int, at: datetime, status: int) -> None:
        """Count an attempt the receiver answered 2xx."""
        ...

    def mark_failed(
        self,
        delivery_id: int,
        at: datetime,
        next_attempt_at: datetime,
        status: int | None,
        error: str,
    ) -> None:
        """Count a failed attempt (HTTP *status*, or None: no answer); try again then."""
        ...

    def deliveries(self, endpoint_id: str | None = None, limit: int = 100) -> list[WebhookDelivery]:
        """The latest *limit* deliveries (of one endpoint), oldest first."""
        ...

    def next_attempt_at(self) -> datetime | None:
        """When the earliest pending delivery to an active endpoint falls due (None: none)."""
        ...


class BillingRepository(Protocol):
    """Invoices, credit notes, document numbers and each family's split policy.

    An invoice is added once per family and cycle and never changed; adding a second for
    the same cycle, or a number already used, fails the commit (:class:`Conflict`).
    """

    def invoice(self, family_id: str, cycle_number: int) -> Invoice | None: ...
    def cycle_invoices(self, cycles: Sequence[tuple[str, int]]) -> dict[tuple[str, int], Invoice]:
        """The invoices of any of these (family id, cycle number), found in one go."""
        ...

    def invoice_by_number(self, number: str) -> Invoice | None: ...
    def invoices(self, family_id: str) -> list[Invoice]:
        """The family's invoices, oldest cycle first."""
        ...

    def add_invoice(self, invoice: Invoice) -> None: ...
    def next_sequence(self, prefix: str, year: int) -> int:
        """The next number of a document kind in a year (1, 2, ...), taken for this unit
        of work: a rolled-back unit of work gives its number back."""
        ...

    def credit_notes(self, invoice_number: str) -> list[CreditNote]: ...
    def add_credit_note(self, note: CreditNote) -> None: ...
    def split_policy(self, family_id: str) -> SplitPolicy: ...
    def split_policies(self, family_ids: Sequence[str]) -> dict[str, SplitPolicy]:
        """Each family's split policy (the default for a family that never set one)."""
        ...

    def set_split_policy(self, family_id: str, policy: SplitPolicy) -> None: ...
    def rebalance_policy(self, family_id: str) -> RebalancePolicy:
        """The owner's auto-rebalance switch and bounds (off by default)."""
        ...

    def set_rebalance_policy(self, family_id: str, policy: RebalancePolicy) -> None: ...
    def rebalancing_families(self) -> list[str]:
        """Families whose owner turned auto-rebalance on."""
        ...


class UnitOfWork(Protocol):
    @property
    def plans(self) -> PlanRepository: ...

    @property
    def families(self) -> FamilyRepository: ...

    @property
    def ledgers(self) -> LedgerRepository: ...

    @property
    def sims(self) -> SimStockRepository: ...

    @property
    def numbers(self) -> NumberPoolRepository: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def es2_received(self) -> ReceivedNotifications: ...

    @property
    def accounts(self) -> AccountRepository: ...

    @property
    def sessions(self) -> SessionRepository: ...

    @property
    def api_keys(self) -> ApiKeyRepository: ...

    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def webhooks(self) -> WebhookRepository: ...

    @property
    def invitations(self) -> InvitationRepository: ...

    @property
    def billing(self) -> BillingRepository: ...

    @property
    def kyc(self) -> KycRepository: ...

    @property
    def consents(self) -> ConsentRepository: ...

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


# ------------------------------------------------------------------ ES2+ (the SM-DP+)


class SmdpRefused(FamsimError):
    """The SM-DP+ ran an ES2+ function and refused it, with the spec's status code."""

    def __init__(self, function: str, status: StatusCode, message: str) -> None:
        self.function = function
        self.status = status
        super().__init__(message)


class SmdpUnreachable(FamsimError):
    """No ES2+ answer: the SM-DP+ could not be reached, timed out or answered nonsense."""


@dataclass(frozen=True, slots=True)
class ConfirmedOrder:
    matching_id: str
    smdp_address: str | None


class Es2Port(Protocol):
    """The operator's side of ES2+ (SGP.22 5.3), as the eSIM service uses it.

    Every call names the profile by ICCID, so retrying one can never reserve a second
    profile. Refusals raise :class:`SmdpRefused`, no answer :class:`SmdpUnreachable`.
    """

    @property
    def smdp_address(self) -> str:
        """The SM-DP+'s address for activation codes when ConfirmOrder does not say."""
        ...

    def download_order(self, *, iccid: Iccid, eid: Eid | None = None) -> Iccid: ...

    def confirm_order(
        self,
        *,
        iccid: Iccid,
        release: bool,
        eid: Eid | None = None,
        confirmation_code: str | None = None,
    ) -> ConfirmedOrder: ...

    def cancel_order(
        self,
        *,
        iccid: Iccid,
        final: FinalStatus,
        eid: Eid | None = None,
        matching_id: str | None = None,
    ) -> None: ...


class SmdpStore(Protocol):
    """Where the built-in SM-DP+ keeps its profiles and its outbox of progress notifications
    (famsim's database, or memory in tests).

    The SM-DP+ holds its inventory in memory and writes each call's changes through, so the
    store needs only to read everything once and to save what a call touched, atomically
    with the notifications the call produced. The sender then reads the outbox.
    """

    def load(self) -> list[SmdpProfile]:
        """Every profile with its full state log, oldest change first."""
        ...

    def save(
        self,
        profiles: Sequence[SmdpProfile],
        logged: dict[Iccid, int],
        notifications: Sequence[OutgoingNotification] = (),
    ) -> None:
        """Insert or update these profiles, append their state changes after the first
        ``logged[iccid]`` already stored, and add *notifications* to the outbox (body: the
        HandleDownloadProgressInfo request, due at once), all in one transaction."""
        ...

    def due(self, now: datetime, limit: int) -> list[StoredNotification]:
        """Undelivered notifications whose next attempt is at or before *now*, oldest
        first, and only the oldest undelivered one of each profile (they go out in order)."""
        ...

    def mark_delivered(self, notification_id: int, at: datetime) -> None:
        """Count an attempt that delivered the notification."""
        ...

    def mark_failed(
        self, notification_id: int, at: datetime, error: str, next_attempt_at: datetime
    ) -> None:
        """Count a failed attempt: keep *error* (at most 200 characters), try again then."""
        ...

    def notifications(self, *, pending_only: bool = False) -> list[StoredNotification]:
        """The outbox, oldest first (only the undelivered ones with *pending_only*)."""
        ...

    def next_attempt_at(self) -> datetime | None:
        """When the earliest of the notifications :meth:`due` may hand out is next due
        (None: none pending). One waiting behind an older one of its profile is not counted."""
        ...


# ------------------------------------------------------------------ security primitives


class Sealer(Protocol):
    """Authenticated encryption for data at rest (identity data, secrets).

    *context* binds a value to where it is stored (e.g. ``kyc:<member id>``): a ciphertext
    moved elsewhere does not open. ``open`` raises a FamsimError when it cannot.
    """

    @property
    def current_key_id(self) -> str: ...

    def seal(self, plaintext: bytes, context: str) -> Sealed: ...

    def open(self, sealed: Sealed, context: str) -> bytes: ...

    def needs_reseal(self, sealed: Sealed) -> bool:
        """True when *sealed* is under an older key (re-seal it to rotate)."""
        ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, stored: str, password: str) -> bool:
        """False for a wrong password (never raises for one)."""
        ...

    def needs_rehash(self, stored: str) -> bool: ...


# ------------------------------------------------------------- accounts and sign-in


class AccountRepository(Protocol):
    """Family users' accounts, in the unit of work's transaction.

    Logins and members are unique: :meth:`add` raises :class:`Conflict` for a login or a
    member that already has an account.
    """

    def add(self, account: Account) -> None: ...

    def get(self, account_id: str, *, for_update: bool = False) -> Account | None:
        """The account, or None; ``for_update`` holds its row until the unit of work ends
        (so concurrent failed sign-ins all count)."""
        ...

    def by_login(self, login: str, *, for_update: bool = False) -> Account | None:
        """The account with this normalized login, or None."""
        ...

    def by_member(self, member_id: str) -> Account | None: ...

    def save(self, account: Account) -> None:
        """Write back a changed account (failures, lock, password hash, TOTP secret)."""
        ...

    def with_totp(self) -> list[Account]:
        """Every account with a sealed TOTP secret (for key rotation)."""
        ...

    def login_events(self, account_id: str, limit: int = 100) -> list[AuditEvent]:
        """The account's committed ``login`` audit events, latest *limit*, oldest first."""
        ...


class SessionRepository(Protocol):
    """Signed-in sessions, known only by the SHA-256 of their token."""

    def add(
        self,
        token_sha256: str,
        account_id: str,
        kind: SessionKind,
        created_at: datetime,
        expires_at: datetime,
    ) -> None: ...

    def get(self, token_sha256: str) -> LoginSession | None:
        """The stored session (revoked and expired ones too), or None."""
        ...

    def revoke(self, token_sha256: str, at: datetime) -> None:
        """End one session (nothing happens for an unknown or already revoked one)."""
        ...

    def revoke_all(self, account_id: str, at: datetime, *, keep: str | None = None) -> int:
        """End every live session of the account except the one hashed *keep*; how many."""
        ...


class ApiKeyRepository(Protocol):
    """The operator's API keys, known only by the SHA-256 of the key text."""

    def add(self, key: ApiKey, key_sha256: str) -> None: ...

    def by_hash(self, key_sha256: str) -> ApiKey | None: ...

    def get(self, key_id: str) -> ApiKey | None: ...

    def listing(self) -> list[ApiKey]:
        """Every key, revoked ones too, oldest first."""
        ...

    def revoke(self, key_id: str, at: datetime) -> None:
        """Mark the key revoked at *at* (kept for the record); unknown ids are ignored."""
        ...


# ------------------------------------------------------------------ notifications


class Notifier(Protocol):
    """Sends a short text to a person by phone (SMS) or e-mail: one-time codes.

    Called after the change it announces has committed; an adapter that cannot deliver
    raises a FamsimError (the change stands, and the sender may ask again).
    """

    def send(self, family_id: str, channel: str, address: str, text: str, at: datetime) -> None: ...
