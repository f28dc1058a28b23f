"""The tables. Alembic migrations create them; this metadata is what they must match.

Quantities are BIGINT (a cycle's bytes overflow 32 bits) and money is BIGINT minor units
with the currency beside it on the family. Members, lines and subscriptions are never
deleted, so usage records added later can always point at who and what used them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database.

    PostgreSQL keeps the zone; SQLite keeps text and hands back a naive datetime, which
    then cannot be compared with the aware ones the domain uses. This stores UTC and
    returns aware UTC everywhere, and refuses naive input rather than guess its zone.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: famsim stores aware UTC times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(32)

plans = Table(
    "plans",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("document", JSON, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

families = Table(
    "families",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("plan_code", String(64), ForeignKey("plans.code"), nullable=False),
    Column("pending_plan_code", String(64), ForeignKey("plans.code"), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("owner_id", ID, nullable=False),
    Column("created_on", Date, nullable=False),
    Column("cycle_day", Integer, nullable=False),
    Column("money_cap_minor", BigInteger, nullable=True),
    Column("oversubscription_allowed", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    # Bumped by every write of the family's charging state (counters, reservations,
    # alerts), so a worker can tell whether its in-memory copy is still current.
    Column("charging_version", BigInteger, nullable=False, server_default="0"),
    # IANA name; the family's quiet hours are wall-clock times there.
    Column("time_zone", String(64), nullable=False, server_default="UTC"),
    CheckConstraint("cycle_day BETWEEN 1 AND 28", name="cycle_day"),
    CheckConstraint("money_cap_minor IS NULL OR money_cap_minor >= 0", name="money_cap"),
)

members = Table(
    "members",
    metadata,
    Column("id", ID, primary_key=True),
    Column("family_id", ID, ForeignKey("families.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("role", String(10), nullable=False),
    Column("guardian_id", ID, ForeignKey("members.id"), nullable=True),
    Column("status", String(10), nullable=False),
    Column("joined_on", Date, nullable=False),
    Column("removed_on", Date, nullable=True),
    Column("position", Integer, nullable=False),
    CheckConstraint("role IN ('owner', 'adult', 'child')", name="role"),
    CheckConstraint("role <> 'child' OR guardian_id IS NOT NULL", name="child_guardian"),
)

lines = Table(
    "lines",
    metadata,
    Column("id", ID, primary_key=True),
    Column("family_id", ID, ForeignKey("families.id"), nullable=False, index=True),
    Column("member_id", ID, ForeignKey("members.id"), nullable=False),
    Column("msisdn", String(16), nullable=False),
    Column("data_only", Boolean, nullable=False),
    Column("status", String(10), nullable=False),
    Column("suspended_reason", String(100), nullable=True),
    Column("position", Integer, nullable=False),
    Column("closed_on", Date, nullable=True),
    # A number belongs to one open line at a time; a closed line keeps its row (its
    # subscriptions' usage points at it) and its number goes back to the pool later.
    Index(
        "uq_lines_msisdn_open",
        "msisdn",
        unique=True,
        sqlite_where=text("status <> 'closed'"),
        postgresql_where=text("status <> 'closed'"),
    ),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("line_id", ID, ForeignKey("lines.id"), nullable=False, index=True),
    Column("family_id", ID, ForeignKey("families.id"), nullable=False, index=True),
    Column("iccid", String(20), nullable=False, unique=True),
    Column("imsi", String(15), nullable=False, unique=True),
    Column("sim_type", String(10), nullable=False),
    Column("device_kind", String(10), nullable=False),
    Column("is_primary", Boolean, nullable=False),
    Column("eid", String(32), nullable=True),
    Column("imei", String(15), nullable=True),
    Column("position", Integer, nullable=False),
    # Where the SIM is in its life on the operator's side (ordered ... enabled, deleted);
    # a subscription made before eSIM ordering existed is in use, hence 'enabled'.
    Column("state", String(12), nullable=False, server_default="enabled"),
    Column("state_changed_at", UtcDateTime(), nullable=True),
    Column("profile_type", String(64), nullable=True),
    Column("matching_id", String(255), nullable=True),
    Column("confirmation_code", String(16), nullable=True),
    Column("order_expires_at", UtcDateTime(), nullable=True),
    Column("replaces_id", ID, nullable=True),
    # The family's local days the SIM entered and left service (line fees; 0012).
    Column("in_service_on", Date, nullable=True),
    Column("out_of_service_on", Date, nullable=True),
)

allocations = Table(
    "allocations",
    metadata,
    Column("member_id", ID, ForeignKey("members.id"), primary_key=True),
    Column("family_id", ID, ForeignKey("families.id"), nullable=False, index=True),
    Column("hotspot_quota", BigInteger, nullable=True),
    Column("exhaustion", String(10), nullable=False),
    Column("redirect_url", String(500), nullable=True),
    Column("money_cap_minor", BigInteger, nullable=True),
    Column("roaming_allowed", Boolean, nullable=False),
    # Child safety: a JSON list of canonical numbers (E.164 or short codes) and a JSON list
    # of quiet-hours windows in their canonical text ("Mon-Fri 08:30-15:30 data"). Small,
    # read and written only with the allocation, so no tables of their own.
    Column("always_allowed", JSON, nullable=False, server_default="[]"),
    Column("quiet_hours", JSON, nullable=False, server_default="[]"),
)

allocation_limits = Table(
    "allocation_limits",
    metadata,
    Column("member_id", ID, ForeignKey("allocations.member_id"), nullable=False),
    Column("family_id", ID, ForeignKey("families.id"), nullable=False, index=True),
    Column("resource", String(8), nullable=False),
    Column("zone", String(32), nullable=False),
    Column("quota", BigInteger, nullable=True),
    Column("hard_cap", BigInteger, nullable=True),
    PrimaryKeyConstraint("member_id", "resource", "zone"),
)

cycles = Table(
    "cycles",
    metadata,
    Column("family_id", ID, ForeignKey("families.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("start_on", Date, nullable=False),
    Column("end_on", Date, nullable=False),
    Column("plan_code", String(64), ForeignKey("plans.code"), nullable=False),
    PrimaryKeyConstraint("family_id", "number"),
    CheckConstraint("end_on > start_on", name="dates"),
)

pools = Table(
    "pools",
    metadata,
    Column("family_id", ID, nullable=False),
    Column("cycle_number", Integer, nullable=False),
    Column("resource", String(8), nullable=False),
    Column("zone", String(32), nullable=False),
    Column("total", BigInteger, nullable=True),
    # The part of total the last cycle rolled over (the plan's allowance is the rest).
    Column("carried", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("family_id", "cycle_number", "resource", "zone"),
    ForeignKeyConstraint(["family_id", "cycle_number"], ["cycles.family_id", "cycles.number"]),
)

# ----------------------------------------------------------------------------- charging
# A family's charging ledger for a cycle (famsim.domain.charging.ledger): counters, live
# reservations and the immutable usage records. ``scope`` is the member id, or "" for the
# family pool; ``kind`` is pool, overage or tethered (tethered counts data in all zones,
# stored under resource "data" and zone "*").
charging_counters = Table(
    "charging_counters",
    metadata,
    Column("family_id", ID, ForeignKey("families.id"), nullable=False),
    Column("cycle_number", Integer, nullable=False),
    Column("scope", String(32), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("resource", String(8), nullable=False),
    Column("zone", String(32), nullable=False),
    Column("used", BigInteger, nullable=False),
    Column("reserved", BigInteger, nullable=False),
    PrimaryKeyConstraint("family_id", "cycle_number", "scope", "kind", "resource", "zone"),
    CheckConstraint("used >= 0 AND reserved >= 0", name="non_negative"),
    CheckConstraint("kind IN ('pool', 'overage', 'tethered')", name="kind"),
)

charging_money = Table(
    "charging_money",
    metadata,
    Column("family_id", ID, ForeignKey("families.id"), nullable=False),
    Column("cycle_number", Integer, nullable=False),
    Column("member_id", ID, ForeignKey("members.id"), nullable=False),
    Column("overage_reserved_minor", BigInteger, nullable=False),
    PrimaryKeyConstraint("family_id", "cycle_number", "member_id"),
    CheckConstraint("overage_reserved_minor >= 0", name="non_negative"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("family_id", ID, ForeignKey("families.id"), nullable=False),
    Column("cycle_number", Integer, nullable=False),
    Column("session_id", String(255), nullable=False),
    Column("resource", String(8), nullable=False),
    Column("zone", String(32), nullable=False),
    Column("tethered", Boolean, nullable=False),
    Column("member_id", ID, ForeignKey("members.id"), nullable=False),
    Column("subscription_id", ID, ForeignKey("subscriptions.id"), nullable=False),
    Column("from_pool", BigInteger, nullable=False),
    Column("from_overage", BigInteger, nullable=False),
    Column("price_minor", BigInteger, nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    # Units granted at zero rate (an always-allowed destination): neither pool nor overage.
    Column("free", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("family_id", "cycle_number", "session_id", "resource", "zone", "tethered"),
)

usage_records = Table(
    "usage_records",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("family_id", ID, ForeignKey("families.id"), nullable=False),
    Column("cycle_number", Integer, nullable=False),
    Column("session_id", String(255), nullable=False),
    Column("member_id", ID, ForeignKey("members.id"), nullable=False),
    Column("subscription_id", ID, ForeignKey("subscriptions.id"), nullable=False),
    Column("resource", String(8), nullable=False),
    Column("zone", String(32), nullable=False),
    Column("tethered", Boolean, nullable=False),
    Column("units", BigInteger, nullable=False),
    Column("from_pool", BigInteger, nullable=False),
    Column("from_overage", BigInteger, nullable=False),
    Column("overshoot", BigInteger, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("free", BigInteger, nullable=False, server_default="0"),
    Index("ix_usage_records_family_cycle", "family_id", "cycle_number"),
    CheckConstraint("units = from_pool + from_overage + free", name="split"),
    CheckConstraint("overshoot >= 0 AND overshoot <= units", name="overshoot"),
)

# The answer sent for each (session, request number): a retransmission gets it back
# unchanged and is charged nothing (RFC 4006 idempotency).
charging_answers = Table(
    "charging_answers",
    metadata,
    Column("session_id", String(255), nullable=False),
    Column("request_number", Integer, nullable=False),
    Column("family_id", ID, ForeignKey("families.id"), nullable=False),
    Column("answer", JSON, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("session_id", "request_number"),
)

# Charging sessions that are open: a row from the answered INITIAL to the answered
# TERMINATION. An UPDATE or TERMINATION of a session not here is answered
# ``session_unknown`` (Diameter 5002) and charged nothing. Kept apart from the stored
# answers, so it holds however long a session lasts and whatever becomes of old answers.
charging_sessions = Table(
    "charging_sessions",
    metadata,
    Column("session_id", String(255), nullable=False),
    Column("family_id", ID, ForeignKey("families.id"), nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("session_id"),
)

# Threshold levels already alerted, so each level of each counter alerts once a cycle;
# ``scope`` is the member id, or "" for the family pool.
threshold_alerts = Table(
    "threshold_alerts",
    metadata,
    Column("family_id", ID, ForeignKey("families.id"), nullable=False),
    Column("cycle_number", Integer, nullable=False),
    Column("scope", String(32), nullable=False),
    Column("resource", String(8), nullable=False),
    Column("zone", String(32), nullable=False),
    Column("level", Integer, nullable=False),
    PrimaryKeyConstraint("family_id", "cycle_number", "scope", "resource", "zone", "level"),
)

# Domain events waiting for delivery (webhooks, e-mail), written in the transaction that
# caused them: an event exists exactly when its cause was committed.
outbox = Table(
    "outbox",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("family_id", ID, ForeignKey("families.id"), nullable=False, index=True),
    Column("kind", String(50), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("delivered_at", UtcDateTime(), nullable=True),
)

# The built-in SM-DP+'s inventory (famsim smdp serve): one row per profile and the log of
# its state changes. A real SM-DP+ keeps its own; these serve the simulator only.
smdp_profiles = Table(
    "smdp_profiles",
    metadata,
    Column("iccid", String(20), primary_key=True),
    Column("profile_type", String(64), nullable=False, index=True),
    Column("state", String(16), nullable=False),
    Column("eid", String(32), nullable=True),
    Column("matching_id", String(255), nullable=True, unique=True),
    Column("confirmation_code_sha256", String(64), nullable=True),
    Column("failed_confirmations", Integer, nullable=False),
    Column("order_expires_at", UtcDateTime(), nullable=True),
)

smdp_transitions = Table(
    "smdp_transitions",
    metadata,
    Column("iccid", String(20), ForeignKey("smdp_profiles.iccid"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("action", String(32), nullable=False),
    Column("before", String(16), nullable=False),
    Column("after", String(16), nullable=False),
    PrimaryKeyConstraint("iccid", "seq"),
)


# The built-in SM-DP+'s progress notifications to the operator, written with the profile
# change that caused them and delivered afterwards (at least once, retried with backoff).
smdp_notifications = Table(
    "smdp_notifications",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("iccid", String(20), ForeignKey("smdp_profiles.iccid"), nullable=False),
    Column("function_call_id", String(64), nullable=False, unique=True),
    Column("body", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False, index=True),
    Column("delivered_at", UtcDateTime(), nullable=True),
    Column("last_error", String(200), nullable=True),
)

# ---------------------------------------------------------------- the operator's registries

# SIM cards and eSIM profiles the operator owns and has not yet given out (and those it
# has): one row per ICCID, with the IMSI the network will see.
sim_stock = Table(
    "sim_stock",
    metadata,
    Column("iccid", String(20), primary_key=True),
    Column("imsi", String(15), nullable=False, unique=True),
    Column("sim_type", String(10), nullable=False),
    Column("profile_type", String(64), nullable=True, index=True),
    Column("state", String(12), nullable=False),
    Column("added_at", UtcDateTime(), nullable=False),
    Column("changed_at", UtcDateTime(), nullable=False),
    CheckConstraint("state IN ('free', 'assigned', 'retired')", name="state"),
    CheckConstraint(
        "(sim_type = 'esim') = (profile_type IS NOT NULL)", name="esim_has_profile_type"
    ),
)

# The operator's MSISDN ranges, and every number of them with where it stands.
msisdn_ranges = Table(
    "msisdn_ranges",
    metadata,
    Column("first", String(16), primary_key=True),
    Column("last", String(16), nullable=False),
    Column("added_at", UtcDateTime(), nullable=False),
)

msisdns = Table(
    "msisdns",
    metadata,
    Column("msisdn", String(16), primary_key=True),
    Column("range_first", String(16), ForeignKey("msisdn_ranges.first"), nullable=False),
    Column("state", String(12), nullable=False, index=True),
    Column("offer_id", String(64), nullable=True, index=True),
    Column("held_until", UtcDateTime(), nullable=True),
    Column("quarantined_until", UtcDateTime(), nullable=True),
    Column("changed_at", UtcDateTime(), nullable=False),
    CheckConstraint("state IN ('free', 'held', 'assigned', 'quarantined')", name="state"),
)

# Append-only record of who changed what (eSIM orders, device changes, progress steps);
# never updated or deleted.
audit_events = Table(
    "audit_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", UtcDateTime(), nullable=False),
    Column("family_id", ID, ForeignKey("families.id"), nullable=True, index=True),
    Column("actor", String(100), nullable=False),
    Column("action", String(50), nullable=False),
    Column("subject", String(100), nullable=False),
    Column("detail", JSON, nullable=False),
)

# ES2+ notifications the operator has received, by the caller's identifiers: a retried
# notification is answered again but acted on once.
es2_notifications_received = Table(
    "es2_notifications_received",
    metadata,
    Column("function_requester_id", String(255), nullable=False),
    Column("function_call_id", String(255), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("iccid", String(20), nullable=False),
    Column("notification_point", Integer, nullable=False),
    Column("outcome", String(30), nullable=False),
    PrimaryKeyConstraint("function_requester_id", "function_call_id"),
)

# ------------------------------------------------------------ people, access and webhooks

# A family user's login: one per member who may sign in. The password is an argon2 hash;
# the TOTP secret is encrypted like identity data (see kyc_records).
accounts = Table(
    "accounts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("login", String(254), nullable=False, unique=True),
    Column("family_id", ID, ForeignKey("families.id"), nullable=False, index=True),
    Column("member_id", ID, ForeignKey("members.id"), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=True),
    Column("totp_key_id", String(32), nullable=True),
    Column("totp_secret", LargeBinary, nullable=True),
    Column("failed_logins", Integer, nullable=False),
    Column("locked_until", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
)

# Signed-in sessions: browser cookies and bearer tokens, stored only as SHA-256 hashes.
sessions = Table(
    "sessions",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("kind", String(10), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    CheckConstraint("kind IN ('cookie', 'bearer')", name="kind"),
)

# Operator staff's API keys: a hash, a visible prefix to tell them apart, and scopes.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("key_sha256", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("name", String(100), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

# An owner's (or guardian's) invitation to join the family; the one-time code as a hash.
invitations = Table(
    "invitations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("family_id", ID, ForeignKey("families.id"), nullable=False, index=True),
    Column("invited_by", ID, ForeignKey("members.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("role", String(10), nullable=False),
    Column("guardian_id", ID, ForeignKey("members.id"), nullable=True),
    Column("channel", String(10), nullable=False),
    Column("address", String(254), nullable=False),
    Column("code_sha256", String(64), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("status", String(10), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("member_id", ID, ForeignKey("members.id"), nullable=True),
    CheckConstraint("channel IN ('phone', 'email')", name="channel"),
)

# Identity (KYC) data: only ciphertext (AES-GCM) and the id of the key that sealed it.
kyc_records = Table(
    "kyc_records",
    metadata,
    Column("member_id", ID, ForeignKey("members.id"), primary_key=True),
    Column("key_id", String(32), nullable=False, index=True),
    Column("nonce", LargeBinary, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("verified_at", UtcDateTime(), nullable=False),
)

# An adult's consent that another member sees its detail (usage by day, lines).
privacy_consents = Table(
    "privacy_consents",
    metadata,
    Column("grantor_id", ID, ForeignKey("members.id"), nullable=False),
    Column("grantee_id", ID, ForeignKey("members.id"), nullable=False),
    Column("granted_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("grantor_id", "grantee_id"),
)

# Operator-registered webhook endpoints (the signing secret sealed like identity data) and
# one delivery per event and endpoint, retried until delivered.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", ID, primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("kinds", JSON, nullable=False),
    Column("secret_key_id", String(32), nullable=False),
    Column("secret_nonce", LargeBinary, nullable=False),
    Column("secret", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("disabled_at", UtcDateTime(), nullable=True),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("endpoint_id", ID, ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("event_id", BigInteger, ForeignKey("outbox.id"), nullable=False),
    Column("idempotency_key", String(64), nullable=False, unique=True),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False, index=True),
    Column("delivered_at", UtcDateTime(), nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", String(200), nullable=True),
)

# Billing: invoices (one per family and cycle, never changed), their lines and the
# members' shares, credit notes against them, the per-year document sequences, and each
# family's split policy. Amounts in minor units of the invoice's currency.
invoices = Table(
    "invoices",
    metadata,
    Column("number", String(20), primary_key=True),
    Column("family_id", ID, ForeignKey("families.id"), nullable=False),
    Column("cycle_number", Integer, nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("plan_code", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("split_rule", String(16), nullable=False),
    Column("tax_basis_points", Integer, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("member_names", JSON, nullable=False),
    UniqueConstraint("family_id", "cycle_number"),  # uq_invoices_family_id: one a cycle
)

invoice_lines = Table(
    "invoice_lines",
    metadata,
    Column("invoice_number", String(20), ForeignKey("invoices.number"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("member_id", ID, nullable=True),
    Column("minor", BigInteger, nullable=False),
    Column("detail", JSON, nullable=False),
)

invoice_shares = Table(
    "invoice_shares",
    metadata,
    Column("invoice_number", String(20), ForeignKey("invoices.number"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("member_id", ID, nullable=False),
    Column("minor", BigInteger, nullable=False),
)

credit_notes = Table(
    "credit_notes",
    metadata,
    Column("number", String(20), primary_key=True),
    Column("invoice_number", String(20), ForeignKey("invoices.number"), nullable=False, index=True),
    Column("family_id", ID, ForeignKey("families.id"), nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("minor", BigInteger, nullable=False),
    Column("shares", JSON, nullable=False),
)

document_sequences = Table(
    "document_sequences",
    metadata,
    Column("prefix", String(8), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("last", Integer, nullable=False),
)

split_policies = Table(
    "split_policies",
    metadata,
    Column("family_id", ID, ForeignKey("families.id"), primary_key=True),
    Column("rule", String(16), nullable=False),
    Column("custom", JSON, nullable=True),
)

# The owner's auto-rebalance switch and bounds: [member, resource, zone, min, max] rows.
rebalance_policies = Table(
    "rebalance_policies",
    metadata,
    Column("family_id", ID, ForeignKey("families.id"), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("bounds", JSON, nullable=False),
)
