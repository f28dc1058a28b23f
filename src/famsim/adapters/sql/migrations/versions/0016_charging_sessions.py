"""charging sessions: the open ones, so an UPDATE or TERMINATION of an unknown session
is refused

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-22 14:00:00

The sessions live at the upgrade are filled in: every session holding a reservation, and
every session answered in the last day (which may include a few already terminated: they
are then treated as before this revision, a stray update charged rather than refused).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

RECENT = timedelta(days=1)


def upgrade() -> None:
    op.create_table(
        "charging_sessions",
        sa.Column("session_id", sa.String(length=255), nullable=False),
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_charging_sessions_family_id_families")
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_charging_sessions")),
    )
    now = datetime.now(UTC)
    reservations = sa.table(
        "reservations", sa.column("session_id", sa.String), sa.column("family_id", sa.String)
    )
    answers = sa.table(
        "charging_answers",
        sa.column("session_id", sa.String),
        sa.column("family_id", sa.String),
        sa.column("at", sa.DateTime(timezone=True)),
    )
    live = sa.union(
        sa.select(reservations.c.session_id, reservations.c.family_id),
        sa.select(answers.c.session_id, answers.c.family_id).where(answers.c.at >= now - RECENT),
    ).subquery()
    sessions = sa.table(
        "charging_sessions",
        sa.column("session_id", sa.String),
        sa.column("family_id", sa.String),
        sa.column("opened_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        sessions.insert().from_select(
            ["session_id", "family_id", "opened_at"],
            sa.select(
                live.c.session_id,
                sa.func.min(live.c.family_id),
                sa.literal(now, sa.DateTime(timezone=True)),
            ).group_by(live.c.session_id),
        )
    )


def downgrade() -> None:
    op.drop_table("charging_sessions")
