"""The audit log: who did what to which family, kept for good.

Every step of an eSIM order, a device change or a number assignment is recorded with the
change it describes, in the same transaction, so the log never claims what did not happen
and never misses what did. Events are only ever appended: nothing updates or deletes one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from famsim.domain.errors import InvalidInput

DetailValue = str | int | bool | None
MAX_ACTOR = 100
MAX_ACTION = 50
MAX_SUBJECT = 100


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One recorded step.

    ``actor`` is who acted (``owner:<member id>``, ``operator:<name>``, ``smdp``),
    ``action`` what happened (``esim.ordered``), ``subject`` what it happened to (an ICCID,
    a number), ``detail`` the facts worth keeping, as plain JSON values. ``family_id`` is
    None for the operator's own registries (stock, ranges).
    """

    at: datetime
    family_id: str | None
    actor: str
    action: str
    subject: str
    detail: Mapping[str, DetailValue]

    def __post_init__(self) -> None:
        """Refuse what the log could not store faithfully; keep a read-only copy of detail."""
        object.__setattr__(self, "detail", MappingProxyType(dict(self.detail)))
        if self.at.tzinfo is None:
            raise InvalidInput(f"audit event {self.action!r}: the time must be aware UTC")
        for name, value, most in (
            ("actor", self.actor, MAX_ACTOR),
            ("action", self.action, MAX_ACTION),
            ("subject", self.subject, MAX_SUBJECT),
        ):
            if not value.strip():
                raise InvalidInput(f"an audit event needs a {name}")
            if len(value) > most:
                raise InvalidInput(f"an audit event's {name} has at most {most} characters")
        for key, item in self.detail.items():
            if not isinstance(key, str) or not (item is None or isinstance(item, str | int)):
                raise InvalidInput(
                    f"audit event {self.action!r}: detail {key!r} must be text, a whole"
                    " number, true/false or null"
                )


def latest(events: Iterable[AuditEvent], limit: int) -> list[AuditEvent]:
    """The last *limit* events by time, oldest first (ties keep the order they came in)."""
    if limit <= 0:
        return []
    return sorted(events, key=lambda event: event.at)[-limit:]
