"""zero-rated units: reservations.free and usage_records.free

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 06:00:00

A call or message to an always-allowed number (a guardian, an emergency number) is granted
and recorded at zero rate: its units are neither pool nor overage. A usage record's units
are now from_pool + from_overage + free.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_OLD_SPLIT = "units = from_pool + from_overage"
_NEW_SPLIT = "units = from_pool + from_overage + free"


def upgrade() -> None:
    # Nothing references these two tables, so SQLite may rebuild them to change the check.
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("free", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("free", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.drop_constraint(op.f("ck_usage_records_split"), type_="check")
        batch_op.create_check_constraint("split", _NEW_SPLIT)


def downgrade() -> None:
    op.execute("DELETE FROM usage_records WHERE free > 0")  # no home for them before 0008
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_usage_records_split"), type_="check")
        batch_op.create_check_constraint("split", _OLD_SPLIT)
        batch_op.drop_column("free")
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_column("free")
