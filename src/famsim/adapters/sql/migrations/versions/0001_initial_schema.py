"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 03:10:40.911843
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_plans")),
    )
    op.create_table(
        "families",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("plan_code", sa.String(length=64), nullable=False),
        sa.Column("pending_plan_code", sa.String(length=64), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.Column("cycle_day", sa.Integer(), nullable=False),
        sa.Column("money_cap_minor", sa.BigInteger(), nullable=True),
        sa.Column("oversubscription_allowed", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("cycle_day BETWEEN 1 AND 28", name=op.f("ck_families_cycle_day")),
        sa.CheckConstraint(
            "money_cap_minor IS NULL OR money_cap_minor >= 0", name=op.f("ck_families_money_cap")
        ),
        sa.ForeignKeyConstraint(
            ["pending_plan_code"], ["plans.code"], name=op.f("fk_families_pending_plan_code_plans")
        ),
        sa.ForeignKeyConstraint(
            ["plan_code"], ["plans.code"], name=op.f("fk_families_plan_code_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_families")),
    )
    op.create_table(
        "cycles",
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("start_on", sa.Date(), nullable=False),
        sa.Column("end_on", sa.Date(), nullable=False),
        sa.Column("plan_code", sa.String(length=64), nullable=False),
        sa.CheckConstraint("end_on > start_on", name=op.f("ck_cycles_dates")),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_cycles_family_id_families")
        ),
        sa.ForeignKeyConstraint(
            ["plan_code"], ["plans.code"], name=op.f("fk_cycles_plan_code_plans")
        ),
        sa.PrimaryKeyConstraint("family_id", "number", name=op.f("pk_cycles")),
    )
    op.create_table(
        "members",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("guardian_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("joined_on", sa.Date(), nullable=False),
        sa.Column("removed_on", sa.Date(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "role <> 'child' OR guardian_id IS NOT NULL", name=op.f("ck_members_child_guardian")
        ),
        sa.CheckConstraint("role IN ('owner', 'adult', 'child')", name=op.f("ck_members_role")),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_members_family_id_families")
        ),
        sa.ForeignKeyConstraint(
            ["guardian_id"], ["members.id"], name=op.f("fk_members_guardian_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
    )
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_members_family_id"), ["family_id"], unique=False)

    op.create_table(
        "allocations",
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("hotspot_quota", sa.BigInteger(), nullable=True),
        sa.Column("exhaustion", sa.String(length=10), nullable=False),
        sa.Column("redirect_url", sa.String(length=500), nullable=True),
        sa.Column("money_cap_minor", sa.BigInteger(), nullable=True),
        sa.Column("roaming_allowed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_allocations_family_id_families")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_allocations_member_id_members")
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_allocations")),
    )
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_allocations_family_id"), ["family_id"], unique=False)

    op.create_table(
        "lines",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("data_only", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("suspended_reason", sa.String(length=100), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_lines_family_id_families")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_lines_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lines")),
        sa.UniqueConstraint("msisdn", name=op.f("uq_lines_msisdn")),
    )
    with op.batch_alter_table("lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lines_family_id"), ["family_id"], unique=False)

    op.create_table(
        "pools",
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("cycle_number", sa.Integer(), nullable=False),
        sa.Column("resource", sa.String(length=8), nullable=False),
        sa.Column("zone", sa.String(length=32), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=True),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("used >= 0 AND reserved >= 0", name=op.f("ck_pools_non_negative")),
        sa.ForeignKeyConstraint(
            ["family_id", "cycle_number"],
            ["cycles.family_id", "cycles.number"],
            name=op.f("fk_pools_family_id_cycles"),
        ),
        sa.PrimaryKeyConstraint(
            "family_id", "cycle_number", "resource", "zone", name=op.f("pk_pools")
        ),
    )
    op.create_table(
        "allocation_limits",
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("resource", sa.String(length=8), nullable=False),
        sa.Column("zone", sa.String(length=32), nullable=False),
        sa.Column("quota", sa.BigInteger(), nullable=True),
        sa.Column("hard_cap", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_allocation_limits_family_id_families")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["allocations.member_id"],
            name=op.f("fk_allocation_limits_member_id_allocations"),
        ),
        sa.PrimaryKeyConstraint("member_id", "resource", "zone", name=op.f("pk_allocation_limits")),
    )
    with op.batch_alter_table("allocation_limits", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_allocation_limits_family_id"), ["family_id"], unique=False
        )

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("line_id", sa.String(length=32), nullable=False),
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("iccid", sa.String(length=20), nullable=False),
        sa.Column("imsi", sa.String(length=15), nullable=False),
        sa.Column("sim_type", sa.String(length=10), nullable=False),
        sa.Column("device_kind", sa.String(length=10), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("eid", sa.String(length=32), nullable=True),
        sa.Column("imei", sa.String(length=15), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_subscriptions_family_id_families")
        ),
        sa.ForeignKeyConstraint(
            ["line_id"], ["lines.id"], name=op.f("fk_subscriptions_line_id_lines")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("iccid", name=op.f("uq_subscriptions_iccid")),
        sa.UniqueConstraint("imsi", name=op.f("uq_subscriptions_imsi")),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subscriptions_family_id"), ["family_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_subscriptions_line_id"), ["line_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriptions_line_id"))
        batch_op.drop_index(batch_op.f("ix_subscriptions_family_id"))

    op.drop_table("subscriptions")
    with op.batch_alter_table("allocation_limits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocation_limits_family_id"))

    op.drop_table("allocation_limits")
    op.drop_table("pools")
    with op.batch_alter_table("lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lines_family_id"))

    op.drop_table("lines")
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocations_family_id"))

    op.drop_table("allocations")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_members_family_id"))

    op.drop_table("members")
    op.drop_table("cycles")
    op.drop_table("families")
    op.drop_table("plans")
