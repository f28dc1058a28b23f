"""the days each SIM entered and left service (for line fees)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22 11:30:00

Existing SIMs get what can be known of them: one on a device (installed, enabled or
disabled) is taken to be in service since its family was created. A deleted one left
service on its line's closing day if it was deleted when the line closed (or when it is
not known when it was deleted), else on the family's local day it was deleted (a device
change retired it); a deleted SIM has no first day (it may never have been on a device).
Orders still pending, and failed ones (never on a device), have neither date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ON_DEVICE = ("installed", "enabled", "disabled")

_families = sa.table(
    "families",
    sa.column("id", sa.String()),
    sa.column("created_on", sa.Date()),
    sa.column("time_zone", sa.String()),
)
_lines = sa.table("lines", sa.column("id", sa.String()), sa.column("closed_on", sa.Date()))
_subscriptions = sa.table(
    "subscriptions",
    sa.column("id", sa.String()),
    sa.column("line_id", sa.String()),
    sa.column("family_id", sa.String()),
    sa.column("state", sa.String()),
    sa.column("state_changed_at", sa.DateTime(timezone=True)),
    sa.column("in_service_on", sa.Date()),
    sa.column("out_of_service_on", sa.Date()),
)


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("in_service_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("out_of_service_on", sa.Date(), nullable=True))
    _fill_dates(op.get_bind())


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN, no table copy (as 0010 drops its subscription columns).
    with op.batch_alter_table("subscriptions", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("out_of_service_on")
        batch_op.drop_column("in_service_on")


def _fill_dates(connection: sa.Connection) -> None:
    s, lines, families = _subscriptions, _lines, _families
    query = (
        sa.select(
            s.c.id,
            s.c.state,
            s.c.state_changed_at,
            lines.c.closed_on,
            families.c.created_on,
            families.c.time_zone,
        )
        .select_from(
            s.join(lines, lines.c.id == s.c.line_id).join(families, families.c.id == s.c.family_id)
        )
        .where(s.c.state.in_((*ON_DEVICE, "deleted")))
    )
    changes = []
    for row in connection.execute(query).mappings():
        in_service = row["created_on"] if row["state"] in ON_DEVICE else None
        out_of_service = None
        if row["state"] == "deleted":
            out_of_service = _deleted_on(
                row["state_changed_at"], row["closed_on"], row["time_zone"]
            )
        if in_service is not None or out_of_service is not None:
            changes.append({"sid": row["id"], "in_on": in_service, "out_on": out_of_service})
    if changes:
        connection.execute(
            sa.update(s)
            .where(s.c.id == sa.bindparam("sid"))
            .values(in_service_on=sa.bindparam("in_on"), out_of_service_on=sa.bindparam("out_on")),
            changes,
        )


def _deleted_on(changed: Any, closed_on: date | None, time_zone: str | None) -> date | None:
    """The day a deleted SIM left service. Lines were closed on the UTC day (``closed_on``)
    and their SIMs deleted at that instant: a SIM deleted on or after that UTC day went
    with its line; one deleted before, by a device change, on its own (local) day."""
    at = _utc(changed)
    if closed_on is not None and (at is None or at.date() >= closed_on):
        return closed_on
    if at is None:
        return None
    return at.astimezone(_zone(time_zone)).date()


def _utc(value: Any) -> datetime | None:
    """An instant stored in UTC, aware (SQLite hands it back naive, or as text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return None
    at: datetime = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return at.astimezone(UTC)


def _zone(time_zone: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
