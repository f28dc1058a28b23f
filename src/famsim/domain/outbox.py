"""Events waiting in the outbox: written with the change they describe, sent out later.

The outbox is how famsim tells the outside world (webhooks, e-mail) without ever telling
it of a change that was rolled back: an event is stored in the same transaction as the
change, and a dispatcher reads committed events afterwards. Each event has a stable
integer id, which receivers see and which deliveries point at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One committed event: who it concerns, what kind, its JSON payload, when it happened."""

    id: int
    family_id: str
    kind: str
    payload: dict[str, Any]
    created_at: datetime
