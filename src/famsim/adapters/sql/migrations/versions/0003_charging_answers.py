"""charging answers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 04:50:45.808487
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "charging_answers",
        sa.Column("session_id", sa.String(length=255), nullable=False),
        sa.Column("request_number", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_charging_answers_family_id_families")
        ),
        sa.PrimaryKeyConstraint("session_id", "request_number", name=op.f("pk_charging_answers")),
    )


def downgrade() -> None:
    op.drop_table("charging_answers")
