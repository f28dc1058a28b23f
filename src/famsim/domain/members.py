"""Members of a family: who they are in the family and who answers for the children."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from famsim.domain.errors import InvalidInput
from famsim.domain.ids import MemberId

MAX_NAME_LENGTH = 100


class Role(StrEnum):
    """A member's role: it decides what the member may see and change."""

    OWNER = "owner"
    ADULT = "adult"
    CHILD = "child"


class MemberStatus(StrEnum):
    ACTIVE = "active"
    REMOVED = "removed"


def clean_name(name: str, what: str = "name") -> str:
    """A display name, trimmed; empty or overlong names are refused."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidInput(f"{what} must not be empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidInput(f"{what} is longer than {MAX_NAME_LENGTH} characters")
    return cleaned


@dataclass(slots=True)
class Member:
    """A person in the family. Removed members stay, so their usage history keeps its owner."""

    id: MemberId
    name: str
    role: Role
    joined_on: date
    guardian_id: MemberId | None = None
    status: MemberStatus = MemberStatus.ACTIVE
    removed_on: date | None = None

    @property
    def is_active(self) -> bool:
        return self.status is MemberStatus.ACTIVE

    @property
    def can_be_guardian(self) -> bool:
        return self.is_active and self.role in (Role.OWNER, Role.ADULT)
