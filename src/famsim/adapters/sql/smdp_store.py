"""The built-in SM-DP+'s profiles in SQL: one row per profile plus an append-only state log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, insert, select

from famsim.adapters.sql import schema as t
from famsim.adapters.sql.rows import upsert
from famsim.domain.esim.profile_state import ProfileAction, ProfileState
from famsim.domain.esim.smdp import SmdpProfile, Transition
from famsim.domain.identifiers import Eid, Iccid


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
                        ProfileAction(row.action),
                        ProfileState(row.before),
                        ProfileState(row.after),
                    )
                )
        return list(profiles.values())

    def save(self, profiles: Sequence[SmdpProfile], logged: dict[Iccid, int]) -> None:
        if not profiles:
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
        with self._engine.begin() as connection:
            connection.execute(statement, rows)
            if changes:
                connection.execute(insert(t.smdp_transitions), changes)


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
