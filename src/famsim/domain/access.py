"""Who is asking: the principal every read and write of the service layer is checked for.

A family user acts as one member of one family (the member's role decides what it may
see and do); operator staff act through an API key whose scopes say which operator
functions it may use. The rules themselves live with the data they protect (see
``famsim.service.access``); this module only names the parties and the scopes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Scope(StrEnum):
    """What an operator API key may do (a key holds one or more)."""

    PLANS_READ = "plans:read"
    PLANS_WRITE = "plans:write"
    FAMILIES_READ = "families:read"
    FAMILIES_WRITE = "families:write"
    USAGE_READ = "usage:read"
    CHARGING = "charging"
    ESIM = "esim"
    AUDIT_READ = "audit:read"
    WEBHOOKS = "webhooks"


class PrincipalKind(StrEnum):
    MEMBER = "member"
    STAFF = "staff"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    A member principal names its account, family and member; a staff principal its API key
    and scopes. ``second_factor`` is True once a TOTP code was checked in this session.
    """

    kind: PrincipalKind
    id: str  # the account id or the API key id
    family_id: str | None = None
    member_id: str | None = None
    scopes: frozenset[Scope] = field(default_factory=frozenset)
    second_factor: bool = False

    @classmethod
    def member(cls, account_id: str, family_id: str, member_id: str) -> Principal:
        return cls(PrincipalKind.MEMBER, account_id, family_id, member_id)

    @classmethod
    def staff(cls, key_id: str, scopes: frozenset[Scope]) -> Principal:
        return cls(PrincipalKind.STAFF, key_id, scopes=scopes)

    @property
    def is_staff(self) -> bool:
        return self.kind is PrincipalKind.STAFF

    def has(self, scope: Scope) -> bool:
        return self.is_staff and scope in self.scopes
