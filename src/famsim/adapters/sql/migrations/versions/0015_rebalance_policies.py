"""rebalance policies: the owner's auto-rebalance switch and bounds

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-22 11:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rebalance_policies",
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("bounds", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_rebalance_policies_family_id_families")
        ),
        sa.PrimaryKeyConstraint("family_id", name=op.f("pk_rebalance_policies")),
    )


def downgrade() -> None:
    op.drop_table("rebalance_policies")
