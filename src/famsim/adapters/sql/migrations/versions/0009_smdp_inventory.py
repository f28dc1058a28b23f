"""the built-in SM-DP+'s profile inventory and state log

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "smdp_profiles",
        sa.Column("iccid", sa.String(length=20), nullable=False),
        sa.Column("profile_type", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("eid", sa.String(length=32), nullable=True),
        sa.Column("matching_id", sa.String(length=255), nullable=True),
        sa.Column("confirmation_code_sha256", sa.String(length=64), nullable=True),
        sa.Column("failed_confirmations", sa.Integer(), nullable=False),
        sa.Column("order_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("iccid", name=op.f("pk_smdp_profiles")),
        sa.UniqueConstraint("matching_id", name=op.f("uq_smdp_profiles_matching_id")),
    )
    op.create_index(
        op.f("ix_smdp_profiles_profile_type"), "smdp_profiles", ["profile_type"], unique=False
    )
    op.create_table(
        "smdp_transitions",
        sa.Column("iccid", sa.String(length=20), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("before", sa.String(length=16), nullable=False),
        sa.Column("after", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["iccid"],
            ["smdp_profiles.iccid"],
            name=op.f("fk_smdp_transitions_iccid_smdp_profiles"),
        ),
        sa.PrimaryKeyConstraint("iccid", "seq", name=op.f("pk_smdp_transitions")),
    )


def downgrade() -> None:
    op.drop_table("smdp_transitions")
    op.drop_index(op.f("ix_smdp_profiles_profile_type"), table_name="smdp_profiles")
    op.drop_table("smdp_profiles")
