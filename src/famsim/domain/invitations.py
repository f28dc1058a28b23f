"""Invitations to join a family: who may invite whom, and the one-time code.

The owner invites adults; the owner or an adult invites a child (who will be in that
adult's care). The invitee proves it received the invitation with a six-digit code sent
to its phone or e-mail. Only the code's SHA-256 is kept, compared in constant time; every
wrong code counts, and after too many the invitation is void, so guessing one of a
million codes gets nowhere. An invitation also ends when it expires or is accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from famsim.domain.errors import Forbidden, InvalidInput, NotFound, RuleViolation
from famsim.domain.family import Family
from famsim.domain.identifiers import Msisdn
from famsim.domain.ids import FamilyId, MemberId, new_id
from famsim.domain.members import Member, Role, clean_name

CODE_DIGITS = 6
MAX_EMAIL = 254
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


class Channel(StrEnum):
    """How the one-time code reaches the invitee."""

    PHONE = "phone"
    EMAIL = "email"


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    VOID = "void"  # too many wrong codes


class InvitationNotFound(NotFound):
    pass


class WrongCode(InvalidInput):
    """The code does not match; ``attempts_left`` more tries before the invitation is void."""

    def __init__(self, attempts_left: int) -> None:
        self.attempts_left = attempts_left
        super().__init__(
            f"wrong invitation code: {attempts_left} more "
            f"{'try' if attempts_left == 1 else 'tries'} before the invitation is void"
        )


class InvitationVoid(RuleViolation):
    """Too many wrong codes: this invitation can never be accepted; ask for a new one."""


class InvitationExpired(RuleViolation):
    pass


class InvitationUsed(RuleViolation):
    pass


def new_code() -> str:
    """A one-time code of six random digits (``secrets``, so it cannot be predicted)."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def hash_code(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def clean_address(channel: Channel | str, address: str) -> tuple[Channel, str]:
    """The channel and the address in canonical form: E.164 for a phone, a lower-cased
    domain for an e-mail. Only the shape of an e-mail address is checked: whether it
    exists shows when the code arrives."""
    try:
        kind = Channel(channel)
    except ValueError:
        raise InvalidInput(f"channel: {channel!r} is not 'phone' or 'email'") from None
    text = address.strip()
    if kind is Channel.PHONE:
        return kind, Msisdn.parse(text).e164
    if len(text) > MAX_EMAIL or not _EMAIL.fullmatch(text):
        raise InvalidInput(f"address: {address!r} is not an e-mail address")
    local, _, domain = text.rpartition("@")
    return kind, f"{local}@{domain.lower()}"


def check_may_invite(
    family: Family, inviter_id: str, role: Role, guardian_id: str | None
) -> MemberId | None:
    """Refuse an invitation the inviter may not send; return the child's guardian.

    Only the owner invites an adult. The owner or an adult invites a child; its guardian
    is the one named (the owner may name any adult) or else the inviter. An adult invites
    children into its own care only.
    """
    inviter = family.active_member(inviter_id)
    if role is Role.OWNER:
        raise RuleViolation("a family has exactly one owner: invite this person as an adult")
    if role is Role.ADULT:
        if inviter.role is not Role.OWNER:
            raise Forbidden("only the family's owner may invite an adult")
        if guardian_id is not None:
            raise RuleViolation("only a child has a guardian")
        return None
    if not inviter.can_be_guardian:
        raise Forbidden("only the owner or an adult may invite a child")
    if guardian_id is None:
        return inviter.id
    guardian: Member = family.active_member(guardian_id)
    if guardian.id != inviter.id and inviter.role is not Role.OWNER:
        raise Forbidden("an adult invites a child into its own care only")
    if not guardian.can_be_guardian:
        raise RuleViolation(f"{guardian.name!r} cannot be a guardian: name an adult or the owner")
    return guardian.id


@dataclass(slots=True)
class Invitation:
    """An invitation to join one family in one role; changes by :meth:`try_code` and
    :meth:`accept` only."""

    id: str
    family_id: FamilyId
    invited_by: MemberId
    name: str
    role: Role
    guardian_id: MemberId | None
    channel: Channel
    address: str
    code_sha256: str
    attempts: int
    status: InvitationStatus
    created_at: datetime
    expires_at: datetime
    member_id: MemberId | None = None

    @classmethod
    def issue(
        cls,
        family: Family,
        *,
        invited_by: str,
        name: str,
        role: Role,
        channel: Channel | str,
        address: str,
        guardian_id: str | None,
        now: datetime,
        ttl: timedelta,
    ) -> tuple[Invitation, str]:
        """A new invitation and its code (to send, never to keep)."""
        guardian = check_may_invite(family, invited_by, role, guardian_id)
        cleaned = clean_name(name)
        if any(m.name.casefold() == cleaned.casefold() for m in family.active_members):
            raise RuleViolation(f"the family already has a member called {cleaned!r}")
        kind, where = clean_address(channel, address)
        if ttl <= timedelta(0):
            raise InvalidInput("an invitation must be valid for some time")
        code = new_code()
        invitation = cls(
            id=new_id(),
            family_id=family.id,
            invited_by=family.active_member(invited_by).id,
            name=cleaned,
            role=role,
            guardian_id=guardian,
            channel=kind,
            address=where,
            code_sha256=hash_code(code),
            attempts=0,
            status=InvitationStatus.PENDING,
            created_at=now,
            expires_at=now + ttl,
        )
        return invitation, code

    def try_code(self, code: str, now: datetime, max_attempts: int) -> bool:
        """Check *code*: True when it matches. A wrong one is counted (and voids the
        invitation at *max_attempts*): keep that change even though acceptance fails.

        Raises when the invitation can no longer be accepted (void, expired, used).
        """
        if self.status is InvitationStatus.ACCEPTED:
            raise InvitationUsed("this invitation has already been accepted")
        if self.status is InvitationStatus.VOID:
            raise InvitationVoid(
                "this invitation is void after too many wrong codes: ask for a new one"
            )
        if now >= self.expires_at:
            raise InvitationExpired("this invitation has expired: ask for a new one")
        given = hash_code(code.strip())
        if hmac.compare_digest(given, self.code_sha256):
            return True
        self.attempts += 1
        if self.attempts >= max_attempts:
            self.status = InvitationStatus.VOID
        return False

    @property
    def is_void(self) -> bool:
        return self.status is InvitationStatus.VOID

    def reopen(self) -> None:
        """An acceptance undone (its account could not be made): pending again, with the
        same code and the same count of wrong codes."""
        if self.status is InvitationStatus.ACCEPTED:
            self.status = InvitationStatus.PENDING
            self.member_id = None

    def accept(self, member_id: MemberId) -> None:
        if self.status is not InvitationStatus.PENDING:
            raise InvitationUsed(f"this invitation is {self.status.value}")
        self.status = InvitationStatus.ACCEPTED
        self.member_id = member_id
