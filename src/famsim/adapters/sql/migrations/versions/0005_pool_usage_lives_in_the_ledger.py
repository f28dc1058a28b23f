"""pool usage lives in the ledger: pools keep only their totals

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 05:02:11.261313
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pools", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_pools_non_negative"), type_="check")
        batch_op.drop_column("used")
        batch_op.drop_column("reserved")


def downgrade() -> None:
    with op.batch_alter_table("pools", schema=None) as batch_op:
        zero = sa.text("0")
        batch_op.add_column(sa.Column("used", sa.BigInteger(), nullable=False, server_default=zero))
        batch_op.add_column(
            sa.Column("reserved", sa.BigInteger(), nullable=False, server_default=zero)
        )
        batch_op.create_check_constraint("non_negative", "used >= 0 AND reserved >= 0")
