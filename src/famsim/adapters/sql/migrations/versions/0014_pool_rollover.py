"""pools: the units rolled over from the last cycle

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22 11:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pools", recreate="never") as batch:
        batch.add_column(sa.Column("carried", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("pools", recreate="never") as batch:
        batch.drop_column("carried")
