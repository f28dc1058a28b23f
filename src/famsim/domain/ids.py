"""Identities of the entities inside a family, as opaque strings.

They are random (UUID4 hex) so they can be made anywhere, before any database sees them,
and reveal nothing about order or volume.
"""

from __future__ import annotations

import uuid
from typing import NewType

FamilyId = NewType("FamilyId", str)
MemberId = NewType("MemberId", str)
LineId = NewType("LineId", str)
SubscriptionId = NewType("SubscriptionId", str)


def new_id() -> str:
    return uuid.uuid4().hex
