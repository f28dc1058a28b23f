"""The built-in SM-DP+'s profiles in SQL: one row per profile, an append-only state log,
and the outbox of progress notifications (written in the same transaction as the profiles).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, exists, func, insert, select, update

from famsim.adapters.es2plus.messages import dump_json, progress_request
from famsim.adapters.sql import schema as t
from famsim.adapters.sql.rows import upsert
from famsim.domain.esim.profile_state import ProfileState
from famsim.domain.esim.smdp import SmdpProfile, Transition, log_action
from famsim.domain.identifiers import Eid, Iccid
from famsim.service.smdp_outbox import OutgoingNotification, StoredNotification

_n = t.smdp_notifications
MAX_ERROR_CHARS = 200


class SqlSmdpStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def load(self) -> list[SmdpProfile]:
        with self._engine.connect() as connection:
            rows = connection.execute(select(t.smdp_profiles).order_by(t.smdp_profiles.c.iccid))
            profiles = {row.iccid: _profile(row._mapping) for row in rows}
            log = connection.execute(
                select(t.smdp_transitions).order_by(
                    t.smdp_transitions.c.iccid, t.smdp_transitions.c.seq
                )
            )
            for row in log:
                profiles[row.iccid].history.append(
                    Transition(
                        row.at,
                        log_action(row.action),
                        ProfileState(row.before),
                        ProfileState(row.after),
                    )
                )
        return list(profiles.values())

    def save(
        self,
        profiles: Sequence[SmdpProfile],
        logged: dict[Iccid, int],
        notifications: Sequence[OutgoingNotification] = (),
    ) -> None:
        if not profiles and not notifications:
            return
        rows = [_row(p) for p in profiles]
        changes = [
            {
                "iccid": str(p.iccid),
                "seq": seq,
                "at": change.at,
                "action": change.action.value,
                "before": change.before.value,
                "after": change.after.value,
            }
            for p in profiles
            for seq, change in enumerate(p.history)
            if seq >= logged.get(p.iccid, 0)
        ]
        columns = [c.name for c in t.smdp_profiles.columns if c.name != "iccid"]
        statement = upsert(self._engine.dialect.name, t.smdp_profiles, columns)
        outbox = [_outbox_row(n) for n in notifications]
        with self._engine.begin() as connection:
            if rows:
                connection.execute(statement, rows)
            if changes:
                connection.execute(insert(t.smdp_transitions), changes)
            if outbox:
                connection.execute(insert(_n), outbox)

    # ------------------------------------------------------------------ the outbox
    def due(self, now: datetime, limit: int) -> list[StoredNotification]:
        query = (
            select(_n)
            .where(_heads(), _n.c.next_attempt_at <= now)
            .order_by(_n.c.next_attempt_at, _n.c.id)
            .limit(limit)
        )
        with self._engine.connect() as connection:
            return [_stored(row._mapping) for row in connection.execute(query)]

    def mark_delivered(self, notification_id: int, at: datetime) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                update(_n)
                .where(_n.c.id == notification_id)
                .values(attempts=_n.c.attempts + 1, delivered_at=at, last_error=None)
            )

    def mark_failed(
        self, notification_id: int, at: datetime, error: str, next_attempt_at: datetime
    ) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                update(_n)
                .where(_n.c.id == notification_id, _n.c.delivered_at.is_(None))
                .values(
                    attempts=_n.c.attempts + 1,
                    next_attempt_at=next_attempt_at,
                    last_error=error[:MAX_ERROR_CHARS],
                )
            )

    def notifications(self, *, pending_only: bool = False) -> list[StoredNotification]:
        query = select(_n).order_by(_n.c.id)
        if pending_only:
            query = query.where(_n.c.delivered_at.is_(None))
        with self._engine.connect() as connection:
            return [_stored(row._mapping) for row in connection.execute(query)]

    def next_attempt_at(self) -> datetime | None:
        query = select(func.min(_n.c.next_attempt_at)).where(_heads())
        with self._engine.connect() as connection:
            found: datetime | None = connection.execute(query).scalar_one()
            return found


def _row(profile: SmdpProfile) -> dict[str, Any]:
    return {
        "iccid": str(profile.iccid),
        "profile_type": profile.profile_type,
        "state": profile.state.value,
        "eid": str(profile.eid) if profile.eid else None,
        "matching_id": profile.matching_id,
        "confirmation_code_sha256": profile.confirmation_code_sha256,
        "failed_confirmations": profile.failed_confirmations,
        "order_expires_at": profile.order_expires_at,
    }


def _profile(row: Any) -> SmdpProfile:
    return SmdpProfile(
        iccid=Iccid.parse(row["iccid"]),
        profile_type=row["profile_type"],
        state=ProfileState(row["state"]),
        eid=Eid.parse(row["eid"]) if row["eid"] else None,
        matching_id=row["matching_id"],
        confirmation_code_sha256=row["confirmation_code_sha256"],
        failed_confirmations=row["failed_confirmations"],
        order_expires_at=row["order_expires_at"],
    )


def _heads() -> ColumnElement[bool]:
    """Undelivered notifications with no older undelivered one of the same profile."""
    earlier = _n.alias("earlier")
    older_pending = exists().where(
        earlier.c.iccid == _n.c.iccid,
        earlier.c.delivered_at.is_(None),
        earlier.c.id < _n.c.id,
    )
    return and_(_n.c.delivered_at.is_(None), ~older_pending)


def _outbox_row(outgoing: OutgoingNotification) -> dict[str, Any]:
    notification = outgoing.notification
    request = progress_request(
        notification, function_call_id=outgoing.function_call_id, requester=outgoing.requester
    )
    return {
        "iccid": str(notification.iccid),
        "function_call_id": outgoing.function_call_id,
        "body": dump_json(request),
        "created_at": notification.at,
        "attempts": 0,
        "next_attempt_at": notification.at,
        "delivered_at": None,
        "last_error": None,
    }


def _stored(row: Any) -> StoredNotification:
    return StoredNotification(
        id=row["id"],
        iccid=Iccid.parse(row["iccid"]),
        function_call_id=row["function_call_id"],
        body=row["body"],
        created_at=row["created_at"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        delivered_at=row["delivered_at"],
        last_error=row["last_error"],
    )
