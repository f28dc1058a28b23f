"""child safety: the family's time zone; always-allowed numbers and quiet hours per allocation

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 07:10:00

families.time_zone is an IANA name (existing families get 'UTC'; an owner sets theirs
with `famsim family time-zone`). allocations.always_allowed is a JSON list of canonical
numbers and allocations.quiet_hours a JSON list of canonical quiet-hours texts; existing
allocations get empty lists, which change nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("families", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("time_zone", sa.String(length=64), nullable=False, server_default="UTC")
        )
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("always_allowed", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(
            sa.Column("quiet_hours", sa.JSON(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), never a copy of the table: on SQLite a
    # copy ends in DROP TABLE, which foreign keys from the rows of other tables refuse.
    with op.batch_alter_table("allocations", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("quiet_hours")
        batch_op.drop_column("always_allowed")
    with op.batch_alter_table("families", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("time_zone")
