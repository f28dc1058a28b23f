"""Invitations, sealed identity records and privacy consents in memory.

Same contract as ``famsim.adapters.sql.people``: nothing reaches the store before the unit
of work commits, and an invitation changed by another unit of work since this one read it
fails the commit (:class:`ConcurrentUpdate`) rather than losing a counted wrong code.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from datetime import datetime

from famsim.domain.invitations import Invitation, InvitationNotFound
from famsim.domain.sealed import Sealed
from famsim.service.ports import ConcurrentUpdate


@dataclass
class PeopleTables:
    """What the database's invitations, kyc_records and privacy_consents tables hold."""

    invitations: dict[str, Invitation] = field(default_factory=dict)
    kyc: dict[str, tuple[Sealed, datetime]] = field(default_factory=dict)
    consents: dict[tuple[str, str], datetime] = field(default_factory=dict)


class MemoryInvitations:
    def __init__(self, tables: PeopleTables, lock: threading.RLock) -> None:
        self._tables = tables
        self._lock = lock
        self.new: dict[str, Invitation] = {}
        self.seen: dict[str, tuple[Invitation, Invitation]] = {}  # (working copy, as read)

    def add(self, invitation: Invitation) -> None:
        self.new[invitation.id] = invitation

    def get(self, invitation_id: str, *, for_update: bool = False) -> Invitation:
        if invitation_id in self.new:
            return self.new[invitation_id]
        if invitation_id in self.seen:
            return self.seen[invitation_id][0]
        with self._lock:
            stored = self._tables.invitations.get(invitation_id)
        if stored is None:
            raise InvitationNotFound(f"no invitation {invitation_id!r}")
        self.seen[invitation_id] = (copy.deepcopy(stored), copy.deepcopy(stored))
        return self.seen[invitation_id][0]

    def for_family(self, family_id: str) -> list[Invitation]:
        with self._lock:
            ids = [
                i.id
                for i in sorted(self._tables.invitations.values(), key=lambda i: i.created_at)
                if i.family_id == family_id
            ]
        return [self.get(i) for i in ids] + [
            i for i in self.new.values() if i.family_id == family_id
        ]


class MemoryKyc:
    def __init__(self, tables: PeopleTables, lock: threading.RLock) -> None:
        self._tables = tables
        self._lock = lock
        self.pending: dict[str, tuple[Sealed, datetime] | None] = {}  # None: discarded

    def put(self, member_id: str, sealed: Sealed, verified_at: datetime) -> None:
        self.pending[member_id] = (sealed, verified_at)

    def get(self, member_id: str) -> tuple[Sealed, datetime] | None:
        if member_id in self.pending:
            return self.pending[member_id]
        with self._lock:
            return self._tables.kyc.get(member_id)

    def all_sealed(self) -> list[tuple[str, Sealed]]:
        with self._lock:
            merged = self._tables.kyc | self.pending
        return sorted((member_id, kept[0]) for member_id, kept in merged.items() if kept)

    def replace(self, member_id: str, sealed: Sealed) -> None:
        current = self.get(member_id)
        if current is None:
            raise KeyError(member_id)
        self.pending[member_id] = (sealed, current[1])

    def discard(self, member_id: str) -> None:
        self.pending[member_id] = None


class MemoryConsents:
    def __init__(self, tables: PeopleTables, lock: threading.RLock) -> None:
        self._tables = tables
        self._lock = lock
        self.pending: dict[tuple[str, str], datetime | None] = {}  # None: revoked

    def grant(self, grantor: str, grantee: str, at: datetime) -> None:
        if not self.granted(grantor, grantee):
            self.pending[(grantor, grantee)] = at

    def revoke(self, grantor: str, grantee: str) -> None:
        self.pending[(grantor, grantee)] = None

    def granted(self, grantor: str, grantee: str) -> bool:
        return grantee in self.grantees(grantor)

    def grantees(self, grantor: str) -> list[str]:
        with self._lock:
            merged: dict[tuple[str, str], datetime | None] = {
                **self._tables.consents,
                **self.pending,
            }
        return sorted(e for (g, e), at in merged.items() if g == grantor and at is not None)


class MemoryPeople:
    """The three repositories of one unit of work, checked and applied together."""

    def __init__(self, tables: PeopleTables, lock: threading.RLock) -> None:
        self._tables = tables
        self._lock = lock
        self.invitations = MemoryInvitations(tables, lock)
        self.kyc = MemoryKyc(tables, lock)
        self.consents = MemoryConsents(tables, lock)

    def check(self) -> None:
        """Refuse the commit (before anything is written) if an invitation read here was
        changed by another unit of work meanwhile. Call with the store's lock held."""
        for invitation_id, (_, read) in self.invitations.seen.items():
            if self._tables.invitations.get(invitation_id) != read:
                raise ConcurrentUpdate("the invitation was changed meanwhile; try again")

    def apply(self) -> None:
        """Write everything kept (call with the store's lock held, after :meth:`check`)."""
        tables = self._tables
        for invitation in self.invitations.new.values():
            tables.invitations[invitation.id] = copy.deepcopy(invitation)
        for invitation_id, (working, _) in self.invitations.seen.items():
            tables.invitations[invitation_id] = copy.deepcopy(working)
        for member_id, kept in self.kyc.pending.items():
            if kept is None:
                tables.kyc.pop(member_id, None)
            else:
                tables.kyc[member_id] = kept
        for key, at in self.consents.pending.items():
            if at is None:
                tables.consents.pop(key, None)
            else:
                tables.consents[key] = at
