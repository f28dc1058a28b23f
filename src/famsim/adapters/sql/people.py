"""Invitations, sealed identity (KYC) records and privacy consents in SQL.

They all point at members, and a member added in the same unit of work reaches the
database only when the families are flushed at commit. So these repositories keep their
writes until :meth:`flush`, which the unit of work calls after the families; reads look
at what is kept first. An invitation read for change is locked (``FOR UPDATE`` on
PostgreSQL; SQLite runs one writer at a time), so two wrong codes sent at once both count.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.engine import RowMapping

from famsim.adapters.sql import schema as t
from famsim.domain.ids import FamilyId, MemberId
from famsim.domain.invitations import (
    Channel,
    Invitation,
    InvitationNotFound,
    InvitationStatus,
)
from famsim.domain.members import Role
from famsim.domain.sealed import Sealed

_INV = t.invitations.c
_KYC = t.kyc_records.c
_CONSENT = t.privacy_consents.c


def _invitation_row(invitation: Invitation) -> dict[str, Any]:
    return {
        "id": invitation.id,
        "family_id": invitation.family_id,
        "invited_by": invitation.invited_by,
        "name": invitation.name,
        "role": invitation.role.value,
        "guardian_id": invitation.guardian_id,
        "channel": invitation.channel.value,
        "address": invitation.address,
        "code_sha256": invitation.code_sha256,
        "attempts": invitation.attempts,
        "status": invitation.status.value,
        "created_at": invitation.created_at,
        "expires_at": invitation.expires_at,
        "member_id": invitation.member_id,
    }


def _invitation(row: RowMapping) -> Invitation:
    return Invitation(
        id=row["id"],
        family_id=FamilyId(row["family_id"]),
        invited_by=MemberId(row["invited_by"]),
        name=row["name"],
        role=Role(row["role"]),
        guardian_id=None if row["guardian_id"] is None else MemberId(row["guardian_id"]),
        channel=Channel(row["channel"]),
        address=row["address"],
        code_sha256=row["code_sha256"],
        attempts=row["attempts"],
        status=InvitationStatus(row["status"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        member_id=None if row["member_id"] is None else MemberId(row["member_id"]),
    )


class SqlInvitations:
    """New invitations are inserted and loaded ones written back (if changed) on flush."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._new: dict[str, Invitation] = {}
        self._seen: dict[str, tuple[Invitation, dict[str, Any]]] = {}

    def add(self, invitation: Invitation) -> None:
        self._new[invitation.id] = invitation

    def get(self, invitation_id: str, *, for_update: bool = False) -> Invitation:
        if invitation_id in self._new:
            return self._new[invitation_id]
        if invitation_id in self._seen:
            return self._seen[invitation_id][0]
        query = select(t.invitations).where(_INV.id == invitation_id)
        if for_update:
            query = query.with_for_update()
        row = self._connection.execute(query).mappings().first()
        if row is None:
            raise InvitationNotFound(f"no invitation {invitation_id!r}")
        invitation = _invitation(row)
        self._seen[invitation.id] = (invitation, _invitation_row(invitation))
        return invitation

    def for_family(self, family_id: str) -> list[Invitation]:
        rows = self._connection.execute(
            select(t.invitations.c.id)
            .where(_INV.family_id == family_id)
            .order_by(_INV.created_at, _INV.id)
        ).scalars()
        stored = [self.get(invitation_id) for invitation_id in rows]
        fresh = [i for i in self._new.values() if i.family_id == family_id]
        return stored + fresh

    def flush(self) -> None:
        if self._new:
            self._connection.execute(
                insert(t.invitations), [_invitation_row(i) for i in self._new.values()]
            )
            for invitation in self._new.values():
                self._seen[invitation.id] = (invitation, _invitation_row(invitation))
            self._new.clear()
        for invitation_id, (invitation, before) in list(self._seen.items()):
            after = _invitation_row(invitation)
            if after != before:
                self._connection.execute(
                    update(t.invitations).where(_INV.id == invitation_id).values(**after)
                )
                self._seen[invitation_id] = (invitation, after)


class SqlKyc:
    """Sealed identity records: (member id) -> key id, nonce, ciphertext, verified at."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._pending: dict[str, tuple[Sealed, datetime] | None] = {}  # None: discarded

    def put(self, member_id: str, sealed: Sealed, verified_at: datetime) -> None:
        self._pending[member_id] = (sealed, verified_at)

    def get(self, member_id: str) -> tuple[Sealed, datetime] | None:
        if member_id in self._pending:
            return self._pending[member_id]
        row = (
            self._connection.execute(select(t.kyc_records).where(_KYC.member_id == member_id))
            .mappings()
            .first()
        )
        if row is None:
            return None
        return Sealed(row["key_id"], row["nonce"], row["ciphertext"]), row["verified_at"]

    def all_sealed(self) -> list[tuple[str, Sealed]]:
        rows = self._connection.execute(
            select(_KYC.member_id, _KYC.key_id, _KYC.nonce, _KYC.ciphertext).order_by(
                _KYC.member_id
            )
        ).all()
        found = {r.member_id: Sealed(r.key_id, r.nonce, r.ciphertext) for r in rows}
        for member_id, kept in self._pending.items():
            if kept is None:
                found.pop(member_id, None)
            else:
                found[member_id] = kept[0]
        return sorted(found.items())

    def replace(self, member_id: str, sealed: Sealed) -> None:
        current = self.get(member_id)
        if current is None:
            raise KeyError(member_id)
        self._pending[member_id] = (sealed, current[1])

    def discard(self, member_id: str) -> None:
        self._pending[member_id] = None

    def flush(self) -> None:
        for member_id, kept in self._pending.items():
            if kept is None:
                self._connection.execute(delete(t.kyc_records).where(_KYC.member_id == member_id))
                continue
            sealed, verified_at = kept
            values = {
                "key_id": sealed.key_id,
                "nonce": sealed.nonce,
                "ciphertext": sealed.ciphertext,
                "verified_at": verified_at,
            }
            changed = self._connection.execute(
                update(t.kyc_records).where(_KYC.member_id == member_id).values(**values)
            ).rowcount
            if changed == 0:
                self._connection.execute(
                    insert(t.kyc_records).values(member_id=member_id, **values)
                )
        self._pending.clear()


class SqlConsents:
    """Privacy consents (grantor lets grantee see its detail); written on flush."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._pending: dict[tuple[str, str], datetime | None] = {}  # None: revoked

    def grant(self, grantor: str, grantee: str, at: datetime) -> None:
        if not self.granted(grantor, grantee):
            self._pending[(grantor, grantee)] = at

    def revoke(self, grantor: str, grantee: str) -> None:
        self._pending[(grantor, grantee)] = None

    def _stored(self, grantor: str) -> set[str]:
        return set(
            self._connection.execute(
                select(_CONSENT.grantee_id).where(_CONSENT.grantor_id == grantor)
            ).scalars()
        )

    def granted(self, grantor: str, grantee: str) -> bool:
        return grantee in self.grantees(grantor)

    def grantees(self, grantor: str) -> list[str]:
        found = self._stored(grantor)
        for (who, grantee), at in self._pending.items():
            if who == grantor:
                (found.add if at is not None else found.discard)(grantee)
        return sorted(found)

    def flush(self) -> None:
        for (grantor, grantee), at in self._pending.items():
            self._connection.execute(
                delete(t.privacy_consents).where(
                    _CONSENT.grantor_id == grantor, _CONSENT.grantee_id == grantee
                )
            )
            if at is not None:
                self._connection.execute(
                    insert(t.privacy_consents).values(
                        grantor_id=grantor, grantee_id=grantee, granted_at=at
                    )
                )
        self._pending.clear()
