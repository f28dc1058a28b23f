"""Splitting an invoice's total among the family's members, to the minor unit.

Every split is a list of whole minor units that sums to the total exactly: shares are
computed as exact fractions, floored, and the minor units left over go one each to the
largest remainders (Hamilton's method), ties to the earlier member in the family's
order. So no minor unit is lost or invented, and the same inputs always give the same
shares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from famsim.domain.errors import InvalidAmount

BASIS_POINTS = 10_000
"""Custom shares are given in basis points: 10,000 is the whole bill."""


class SplitRule(StrEnum):
    OWNER_PAYS = "owner_pays"
    EQUAL = "equal"
    BY_USAGE = "by_usage"
    CUSTOM = "custom"


@dataclass(frozen=True, slots=True)
class SplitPolicy:
    """How the family shares its bill: ``custom`` holds basis points per member (for
    :attr:`SplitRule.CUSTOM` only, summing to 10,000)."""

    rule: SplitRule = SplitRule.OWNER_PAYS
    custom: Mapping[str, int] | None = None

    def __post_init__(self) -> None:
        if self.rule is SplitRule.CUSTOM:
            shares = dict(self.custom or {})
            if not shares:
                raise InvalidAmount("a custom split needs each member's percentage")
            if any(points < 0 for points in shares.values()):
                raise InvalidAmount("a member's share cannot be negative")
            if sum(shares.values()) != BASIS_POINTS:
                total = sum(shares.values()) / 100
                raise InvalidAmount(f"custom shares must add up to 100 %, not {total:g} %")
        elif self.custom:
            raise InvalidAmount(f"percentages are only for a custom split, not {self.rule}")


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """*total* minor units in whole parts proportional to *weights* (Hamilton's method).

    All-zero weights share equally. The parts sum to *total* exactly; a negative total (a
    credit) is apportioned like a positive one, with the signs kept.
    """
    if not weights:
        raise InvalidAmount("nobody to share the bill with")
    if any(w < 0 for w in weights):
        raise InvalidAmount("split weights cannot be negative")
    if total < 0:
        return [-part for part in apportion(-total, weights)]
    if not any(weights):
        weights = [1] * len(weights)
    whole = sum(weights)
    parts = [total * w // whole for w in weights]
    remainders = [total * w % whole for w in weights]
    left = total - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        parts[i] += 1
    return parts


def split(
    total: int,
    members: Sequence[str],
    owner: str,
    policy: SplitPolicy,
    usage: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Each member's share of *total* under *policy*, in the order of *members*.

    *usage* is each member's own charges (line fees and overage), the weights of a split
    by usage; a member without own charges pays nothing of it, and if nobody has any, the
    bill is shared equally.
    """
    if owner not in members:
        raise InvalidAmount("the owner must be among the members sharing the bill")
    if policy.rule is SplitRule.OWNER_PAYS:
        weights = [1 if member == owner else 0 for member in members]
    elif policy.rule is SplitRule.EQUAL:
        weights = [1] * len(members)
    elif policy.rule is SplitRule.BY_USAGE:
        weights = [max(0, (usage or {}).get(member, 0)) for member in members]
    else:
        custom = dict(policy.custom or {})
        unknown = sorted(set(custom) - set(members))
        if unknown:
            raise InvalidAmount(f"custom shares name members not in the family: {unknown}")
        weights = [custom.get(member, 0) for member in members]
    return dict(zip(members, apportion(total, weights), strict=True))
