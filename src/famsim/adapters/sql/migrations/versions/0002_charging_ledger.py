"""charging ledger

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 04:45:20.821134
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "charging_counters",
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("cycle_number", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("resource", sa.String(length=8), nullable=False),
        sa.Column("zone", sa.String(length=32), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('pool', 'overage', 'tethered')", name=op.f("ck_charging_counters_kind")
        ),
        sa.CheckConstraint(
            "used >= 0 AND reserved >= 0", name=op.f("ck_charging_counters_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_charging_counters_family_id_families")
        ),
        sa.PrimaryKeyConstraint(
            "family_id",
            "cycle_number",
            "scope",
            "kind",
            "resource",
            "zone",
            name=op.f("pk_charging_counters"),
        ),
    )
    op.create_table(
        "charging_money",
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("cycle_number", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("overage_reserved_minor", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "overage_reserved_minor >= 0", name=op.f("ck_charging_money_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_charging_money_family_id_families")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_charging_money_member_id_members")
        ),
        sa.PrimaryKeyConstraint(
            "family_id", "cycle_number", "member_id", name=op.f("pk_charging_money")
        ),
    )
    op.create_table(
        "reservations",
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("cycle_number", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=255), nullable=False),
        sa.Column("resource", sa.String(length=8), nullable=False),
        sa.Column("zone", sa.String(length=32), nullable=False),
        sa.Column("tethered", sa.Boolean(), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("subscription_id", sa.String(length=32), nullable=False),
        sa.Column("from_pool", sa.BigInteger(), nullable=False),
        sa.Column("from_overage", sa.BigInteger(), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_reservations_family_id_families")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_reservations_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_reservations_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint(
            "family_id",
            "cycle_number",
            "session_id",
            "resource",
            "zone",
            "tethered",
            name=op.f("pk_reservations"),
        ),
    )
    op.create_table(
        "usage_records",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("cycle_number", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=255), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("subscription_id", sa.String(length=32), nullable=False),
        sa.Column("resource", sa.String(length=8), nullable=False),
        sa.Column("zone", sa.String(length=32), nullable=False),
        sa.Column("tethered", sa.Boolean(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("from_pool", sa.BigInteger(), nullable=False),
        sa.Column("from_overage", sa.BigInteger(), nullable=False),
        sa.Column("overshoot", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "overshoot >= 0 AND overshoot <= units", name=op.f("ck_usage_records_overshoot")
        ),
        sa.CheckConstraint("units = from_pool + from_overage", name=op.f("ck_usage_records_split")),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_usage_records_family_id_families")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_usage_records_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_usage_records_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_records")),
    )
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_usage_records_family_cycle", ["family_id", "cycle_number"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_records_family_cycle")

    op.drop_table("usage_records")
    op.drop_table("reservations")
    op.drop_table("charging_money")
    op.drop_table("charging_counters")
