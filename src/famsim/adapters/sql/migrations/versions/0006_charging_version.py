"""families.charging_version: a stamp bumped by every write of the family's charging state

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 05:40:00

A charging worker keeps a hot family's charging state in memory between requests; before
using it, it compares this stamp (with the family's version and its plan's update time)
to the one it read. Every writer of counters, reservations or alerts bumps it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("families", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("charging_version", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), never a copy of the table: on SQLite a
    # copy ends in DROP TABLE, which the foreign keys of other tables' rows refuse.
    with op.batch_alter_table("families", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("charging_version")
