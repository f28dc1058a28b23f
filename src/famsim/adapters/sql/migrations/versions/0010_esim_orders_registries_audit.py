"""eSIM orders, the operator's SIM stock and numbers, audit, SM-DP+ notifications

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 07:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "es2_notifications_received",
        sa.Column("function_requester_id", sa.String(length=255), nullable=False),
        sa.Column("function_call_id", sa.String(length=255), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("iccid", sa.String(length=20), nullable=False),
        sa.Column("notification_point", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=30), nullable=False),
        sa.PrimaryKeyConstraint(
            "function_requester_id", "function_call_id", name=op.f("pk_es2_notifications_received")
        ),
    )
    op.create_table(
        "msisdn_ranges",
        sa.Column("first", sa.String(length=16), nullable=False),
        sa.Column("last", sa.String(length=16), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("first", name=op.f("pk_msisdn_ranges")),
    )
    op.create_table(
        "sim_stock",
        sa.Column("iccid", sa.String(length=20), nullable=False),
        sa.Column("imsi", sa.String(length=15), nullable=False),
        sa.Column("sim_type", sa.String(length=10), nullable=False),
        sa.Column("profile_type", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(sim_type = 'esim') = (profile_type IS NOT NULL)",
            name=op.f("ck_sim_stock_esim_has_profile_type"),
        ),
        sa.CheckConstraint(
            "state IN ('free', 'assigned', 'retired')", name=op.f("ck_sim_stock_state")
        ),
        sa.PrimaryKeyConstraint("iccid", name=op.f("pk_sim_stock")),
        sa.UniqueConstraint("imsi", name=op.f("uq_sim_stock_imsi")),
    )
    with op.batch_alter_table("sim_stock", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sim_stock_profile_type"), ["profile_type"], unique=False
        )

    op.create_table(
        "msisdns",
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("range_first", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("offer_id", sa.String(length=64), nullable=True),
        sa.Column("held_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("quarantined_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('free', 'held', 'assigned', 'quarantined')", name=op.f("ck_msisdns_state")
        ),
        sa.ForeignKeyConstraint(
            ["range_first"],
            ["msisdn_ranges.first"],
            name=op.f("fk_msisdns_range_first_msisdn_ranges"),
        ),
        sa.PrimaryKeyConstraint("msisdn", name=op.f("pk_msisdns")),
    )
    with op.batch_alter_table("msisdns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_msisdns_offer_id"), ["offer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_msisdns_state"), ["state"], unique=False)

    op.create_table(
        "smdp_notifications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("iccid", sa.String(length=20), nullable=False),
        sa.Column("function_call_id", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["iccid"],
            ["smdp_profiles.iccid"],
            name=op.f("fk_smdp_notifications_iccid_smdp_profiles"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_smdp_notifications")),
        sa.UniqueConstraint(
            "function_call_id", name=op.f("uq_smdp_notifications_function_call_id")
        ),
    )
    with op.batch_alter_table("smdp_notifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_smdp_notifications_next_attempt_at"), ["next_attempt_at"], unique=False
        )

    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("family_id", sa.String(length=32), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_audit_events_family_id_families")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_family_id"), ["family_id"], unique=False)

    with op.batch_alter_table("lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed_on", sa.Date(), nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_lines_msisdn"), type_="unique")
        batch_op.create_index(
            "uq_lines_msisdn_open",
            ["msisdn"],
            unique=True,
            sqlite_where=sa.text("status <> 'closed'"),
            postgresql_where=sa.text("status <> 'closed'"),
        )

    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("state", sa.String(length=12), server_default="enabled", nullable=False)
        )
        batch_op.add_column(
            sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("profile_type", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("matching_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("confirmation_code", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("order_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("replaces_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    # Refused (unique constraint) if a closed line's number has been given to a new line.
    # Columns go by ALTER TABLE ... DROP COLUMN; only `lines` is copied (a unique
    # constraint cannot be altered in place on SQLite; env.py turns foreign keys off for it).
    with op.batch_alter_table("subscriptions", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("replaces_id")
        batch_op.drop_column("order_expires_at")
        batch_op.drop_column("confirmation_code")
        batch_op.drop_column("matching_id")
        batch_op.drop_column("profile_type")
        batch_op.drop_column("state_changed_at")
        batch_op.drop_column("state")

    with op.batch_alter_table("lines", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_lines_msisdn_open",
            sqlite_where=sa.text("status <> 'closed'"),
            postgresql_where=sa.text("status <> 'closed'"),
        )
        batch_op.create_unique_constraint(batch_op.f("uq_lines_msisdn"), ["msisdn"])
        batch_op.drop_column("closed_on")

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_family_id"))

    op.drop_table("audit_events")
    with op.batch_alter_table("smdp_notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_smdp_notifications_next_attempt_at"))

    op.drop_table("smdp_notifications")
    with op.batch_alter_table("msisdns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_msisdns_state"))
        batch_op.drop_index(batch_op.f("ix_msisdns_offer_id"))

    op.drop_table("msisdns")
    with op.batch_alter_table("sim_stock", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sim_stock_profile_type"))

    op.drop_table("sim_stock")
    op.drop_table("msisdn_ranges")
    op.drop_table("es2_notifications_received")
