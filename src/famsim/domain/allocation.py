"""How the owner splits the pool: a member's quotas, caps and rights.

An allocation is a value: the owner replaces it whole, and the family checks the new one
against the plan before it takes effect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from famsim.domain.errors import InvalidAmount, InvalidInput
from famsim.domain.money import Money
from famsim.domain.safety import QuietHours, normalize_number, normalize_numbers
from famsim.domain.units import Resource, Zone

MAX_ALWAYS_ALLOWED = 20
"""Always-allowed numbers per member: guardians and a few trusted people, not a phone book
(each one is a hole in quiet hours and in the quota, charged at zero)."""
MAX_QUIET_HOURS = 10
"""Quiet-hours windows per member: enough for school days, weekends and nights."""


def _check_units(name: str, value: object) -> None:
    """Quantities are whole base units (bytes, seconds, messages): never floats or bools."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidAmount(f"{name} must be a whole non-negative amount, got {value!r}")


class ExhaustionAction(StrEnum):
    """What the network does when the member's last units are granted."""

    BLOCK = "block"
    THROTTLE = "throttle"
    REDIRECT = "redirect"


@dataclass(frozen=True, slots=True)
class Limit:
    """A member's limit on one resource in one zone for a cycle.

    ``quota`` is the member's promised share of the pool (None: draw from the pool freely,
    nothing set aside). ``hard_cap`` is the most the member may ever use in the cycle, pool
    and paid overage together (None: no ceiling beyond quota, pool and money caps).
    """

    quota: int | None = None
    hard_cap: int | None = None

    def __post_init__(self) -> None:
        for name, value in (("quota", self.quota), ("hard cap", self.hard_cap)):
            if value is not None:
                _check_units(name, value)
        if self.quota is not None and self.hard_cap is not None and self.hard_cap < self.quota:
            raise InvalidAmount(
                f"hard cap {self.hard_cap:,} is below the quota {self.quota:,}: "
                "a cap cannot be smaller than the share promised"
            )


NO_LIMIT = Limit()
"""The limit of a pair the owner did not limit (shared; a Limit is immutable)."""


@dataclass(frozen=True, slots=True)
class Allocation:
    """Everything the owner decides for one member.

    ``limits`` holds only the (resource, zone) pairs the owner limited; any other pair is
    shared freely. ``hotspot_quota`` is the bytes the member may use tethered (None: the
    plan's hotspot rule alone applies). ``money_cap`` bounds the member's overage spend
    (None: only the family's cap applies).

    ``always_allowed`` holds the numbers the owner added for this member (canonical, see
    :func:`famsim.domain.safety.normalize_number`): calls and messages to them are never
    denied and charged at zero. The guardians' numbers and the plan's emergency numbers
    are always allowed too but are derived, not stored here (``Family.always_allowed``).
    ``quiet_hours`` are the windows in which the member's usage is refused, except to
    always-allowed numbers.
    """

    limits: Mapping[tuple[Resource, Zone], Limit] = field(default_factory=dict)
    hotspot_quota: int | None = None
    exhaustion: ExhaustionAction = ExhaustionAction.BLOCK
    redirect_url: str | None = None
    money_cap: Money | None = None
    roaming_allowed: bool = True
    always_allowed: frozenset[str] = frozenset()
    quiet_hours: tuple[QuietHours, ...] = ()

    def __post_init__(self) -> None:
        # Normalised here, once, so every copy of an allocation compares and stores alike.
        numbers = normalize_numbers(self.always_allowed)
        if len(numbers) > MAX_ALWAYS_ALLOWED:
            raise InvalidInput(
                f"at most {MAX_ALWAYS_ALLOWED} always-allowed numbers per member, "
                f"got {len(numbers)}"
            )
        object.__setattr__(self, "always_allowed", numbers)
        windows = tuple(dict.fromkeys(self.quiet_hours))  # in order, without repeats
        for window in windows:
            if not isinstance(window, QuietHours):
                raise InvalidInput(f"quiet hours {window!r} are not a QuietHours window")
        if len(windows) > MAX_QUIET_HOURS:
            raise InvalidInput(
                f"at most {MAX_QUIET_HOURS} quiet-hours windows per member, got {len(windows)}"
            )
        object.__setattr__(self, "quiet_hours", windows)
        if self.hotspot_quota is not None:
            _check_units("hotspot sub-quota", self.hotspot_quota)
        if self.money_cap is not None and self.money_cap.is_negative:
            raise InvalidAmount("a money cap cannot be negative")
        if self.redirect_url is not None and not self.redirect_url.startswith(
            ("https://", "http://")
        ):
            raise InvalidInput(f"redirect URL {self.redirect_url!r} must be http(s)")

    def with_always_allowed(
        self, *, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> Allocation:
        """A copy with numbers added to and removed from ``always_allowed``.

        Removing a number the member does not have is refused rather than ignored: it is
        most likely a typo, or a guardian's or emergency number, which cannot be removed.
        """
        numbers = set(self.always_allowed) | normalize_numbers(add)
        for text in remove:
            number = normalize_number(text)
            if number not in numbers:
                raise InvalidInput(
                    f"{number} is not one of this member's always-allowed numbers "
                    "(guardians' lines and the plan's emergency numbers are always allowed "
                    "and cannot be removed)"
                )
            numbers.discard(number)
        return replace(self, always_allowed=frozenset(numbers))

    def limit(self, resource: Resource, zone: Zone) -> Limit:
        return self.limits.get((resource, zone), NO_LIMIT)

    @classmethod
    def default_for_child(cls, currency: str) -> Allocation:
        """Children start safe: no roaming and no paid overage until the owner says so."""
        return cls(roaming_allowed=False, money_cap=Money.zero(currency))
