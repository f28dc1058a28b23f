"""the days each SIM entered and left service (for line fees)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22 11:30:00

Existing SIMs get what can be known of them: one on a device (installed, enabled or
disabled) is taken to be in service since its family was created; a deleted one left
service on the family's local day of its last state change, or, when that is unknown,
on its line's closing day. Orders that never reached a device, and failed ones, have
neither date.
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
            changed = row["state_changed_at"]
            out_of_service = (
                _local_day(changed, row["time_zone"]) if changed is not None else row["closed_on"]
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


def _local_day(value: Any, time_zone: str | None) -> date | None:
    """The family's calendar day at *value* (stored in UTC; SQLite hands it back naive)."""
    if isinstance(value, str):  # a driver that does not parse the column
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return None
    at: datetime = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        zone = ZoneInfo(time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return at.astimezone(zone).date()
