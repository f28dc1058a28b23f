"""threshold alerts and outbox

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 04:58:48.090872
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_outbox_family_id_families")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_family_id"), ["family_id"], unique=False)

    op.create_table(
        "threshold_alerts",
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("cycle_number", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("resource", sa.String(length=8), nullable=False),
        sa.Column("zone", sa.String(length=32), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_threshold_alerts_family_id_families")
        ),
        sa.PrimaryKeyConstraint(
            "family_id",
            "cycle_number",
            "scope",
            "resource",
            "zone",
            "level",
            name=op.f("pk_threshold_alerts"),
        ),
    )


def downgrade() -> None:
    op.drop_table("threshold_alerts")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_family_id"))

    op.drop_table("outbox")
