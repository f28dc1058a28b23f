"""The operator's MSISDN pool: number ranges, offers held for a while, quarantine.

An operator owns blocks of numbers (ranges). A family owner picking a number for a new line
is shown a few free ones at random (so two families picking at once see different numbers),
held for them for a few minutes; taking one assigns it and frees the others at once. A
number given back (a closed line) rests in quarantine for months before anyone else gets it,
so calls and messages meant for the old owner do not reach the new one.

Holds and quarantines end by time alone: a number whose hold or quarantine is over is free
again without anyone writing it back (see :meth:`PooledNumber.effective`). Every time is an
aware UTC datetime given by the caller.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from famsim.domain.errors import InvalidIdentifier, InvalidInput, RuleViolation
from famsim.domain.identifiers import Msisdn

DEFAULT_HOLD = timedelta(minutes=10)
DEFAULT_QUARANTINE = timedelta(days=90)
MAX_RANGE = 100_000  # numbers in one range: a bigger block is added in several ranges
MAX_OFFER = 20  # numbers shown at once: a picker, not a way to reserve a block


class NumberState(StrEnum):
    FREE = "free"
    HELD = "held"
    ASSIGNED = "assigned"
    QUARANTINED = "quarantined"


class NumberUnavailable(RuleViolation):
    """No number can be offered, or this one cannot be assigned; the message says why."""


@dataclass(frozen=True, slots=True)
class NumberOffer:
    """Numbers held for one owner's picker until ``held_until``, under ``offer_id``."""

    offer_id: str
    numbers: tuple[Msisdn, ...]
    held_until: datetime


def new_offer_id() -> str:
    """An unguessable offer id: whoever knows it may assign the offered numbers."""
    return secrets.token_urlsafe(18)


def check_offer_count(count: int) -> None:
    if not 1 <= count <= MAX_OFFER:
        raise InvalidInput(f"an offer has 1 to {MAX_OFFER} numbers, not {count}")


def check_duration(what: str, duration: timedelta) -> None:
    if duration <= timedelta(0):
        raise InvalidInput(f"a {what} must last longer than zero, not {duration}")


@dataclass(frozen=True, slots=True)
class NumberRange:
    """A block of consecutive numbers, ``first`` to ``last`` inclusive.

    Both ends have the same country code and the same length (a range never crosses a
    numbering plan's boundary), ``first <= last``, and a range has at most
    :data:`MAX_RANGE` numbers, each of them a valid MSISDN.
    """

    first: Msisdn
    last: Msisdn

    def __post_init__(self) -> None:
        """Refuse a range that is upside down, mixed or too big (before listing any number)."""
        first, last = self.first, self.last
        if first.country_code != last.country_code:
            raise InvalidInput(
                f"range {first} .. {last}: both ends need the same country code"
                f" (+{first.country_code} and +{last.country_code})"
            )
        if len(first.e164) != len(last.e164):
            raise InvalidInput(f"range {first} .. {last}: both ends need the same number of digits")
        if _value(first.e164) > _value(last.e164):
            raise InvalidInput(f"range {first} .. {last}: the first number is after the last")
        if self.size > MAX_RANGE:
            raise InvalidInput(
                f"range {first} .. {last} has {self.size:,} numbers; at most {MAX_RANGE:,}"
                " in one range (add a bigger block in several ranges)"
            )

    @property
    def size(self) -> int:
        return _value(self.last.e164) - _value(self.first.e164) + 1

    def e164s(self) -> Iterator[str]:
        """Every number of the range in E.164 form, in order (not yet checked as valid)."""
        width = len(self.first.e164) - 1
        for value in range(_value(self.first.e164), _value(self.last.e164) + 1):
            yield "+" + str(value).zfill(width)

    def numbers(self) -> list[Msisdn]:
        """Every number of the range, each checked valid; the first invalid one is refused."""
        found = []
        for e164 in self.e164s():
            try:
                found.append(Msisdn(e164))
            except InvalidIdentifier as exc:
                raise InvalidInput(
                    f"range {self.first} .. {self.last} holds {e164}, which is not a valid"
                    f" number: {exc.reason}"
                ) from None
        return found

    def overlaps(self, other: NumberRange) -> bool:
        if len(self.first.e164) != len(other.first.e164):
            return False
        return _value(self.first.e164) <= _value(other.last.e164) and _value(
            other.first.e164
        ) <= _value(self.last.e164)

    def __str__(self) -> str:
        return f"{self.first} .. {self.last}"


def overlap_refusal(new: NumberRange, existing: NumberRange) -> InvalidInput:
    return InvalidInput(f"range {new} overlaps the range {existing} already in the pool")


def _value(e164: str) -> int:
    return int(e164.removeprefix("+"))


@dataclass(frozen=True, slots=True)
class PooledNumber:
    """One number of the operator's ranges as stored: its state and what it waits for.

    The stored state is not the whole truth: a hold or a quarantine that is over counts as
    free (:meth:`effective`). The methods return the number after a change, or raise
    :class:`NumberUnavailable` saying why not.
    """

    e164: str
    state: NumberState = NumberState.FREE
    offer_id: str | None = None
    held_until: datetime | None = None
    quarantined_until: datetime | None = None

    def effective(self, now: datetime) -> NumberState:
        """The state at *now*: a hold or quarantine that has ended is free."""
        if self.state is NumberState.HELD and self.held_until is not None:
            return NumberState.HELD if now < self.held_until else NumberState.FREE
        if self.state is NumberState.QUARANTINED and self.quarantined_until is not None:
            return NumberState.QUARANTINED if now < self.quarantined_until else NumberState.FREE
        return self.state

    def until(self, now: datetime) -> datetime | None:
        """When the effective state ends by itself: the hold's or the quarantine's end."""
        state = self.effective(now)
        if state is NumberState.HELD:
            return self.held_until
        if state is NumberState.QUARANTINED:
            return self.quarantined_until
        return None

    def available(self, now: datetime) -> bool:
        return self.effective(now) is NumberState.FREE

    def held(self, offer_id: str, until: datetime) -> PooledNumber:
        return PooledNumber(self.e164, NumberState.HELD, offer_id, until, None)

    def freed(self) -> PooledNumber:
        return PooledNumber(self.e164)

    def assigned(self, offer_id: str | None, now: datetime) -> PooledNumber:
        """Assign the number: held by *offer_id* and not expired, or (no offer) free."""
        state = self.effective(now)
        if state is NumberState.ASSIGNED:
            raise NumberUnavailable(f"{self.e164} is already assigned to a line")
        if state is NumberState.QUARANTINED:
            ends = _day(self.quarantined_until)
            raise NumberUnavailable(f"{self.e164} is in quarantine until {ends}")
        if offer_id is None:
            if state is NumberState.HELD:
                raise NumberUnavailable(
                    f"{self.e164} is held by an offer to someone else until"
                    f" {_minute(self.held_until)}"
                )
        elif self.offer_id != offer_id or self.state is not NumberState.HELD:
            if state is NumberState.HELD:
                raise NumberUnavailable(f"{self.e164} is held by another offer")
            raise NumberUnavailable(f"{self.e164} is not one of the numbers offered")
        elif state is not NumberState.HELD:
            raise NumberUnavailable(
                f"the hold on {self.e164} expired at {_minute(self.held_until)}: ask for a"
                " new offer"
            )
        return PooledNumber(self.e164, NumberState.ASSIGNED)

    def released(self, now: datetime, quarantine: timedelta) -> PooledNumber:
        """The number given back by its line: in quarantine until ``now + quarantine``.

        A zero quarantine frees it at once: for a new line whose first SIM never reached a
        device, nobody ever called that number, so nobody can call it by mistake later.
        """
        if quarantine < timedelta(0):
            raise InvalidInput(f"a quarantine cannot be negative, not {quarantine}")
        if self.state is not NumberState.ASSIGNED:
            raise NumberUnavailable(
                f"{self.e164} is {self.effective(now)}, not assigned: there is nothing to release"
            )
        if quarantine == timedelta(0):
            return PooledNumber(self.e164, NumberState.FREE)
        return PooledNumber(self.e164, NumberState.QUARANTINED, None, None, now + quarantine)


def _day(at: datetime | None) -> str:
    return at.date().isoformat() if at is not None else "further notice"


def _minute(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at is not None else "further notice"


def not_offered(msisdn: Msisdn) -> NumberUnavailable:
    """A number outside every range (ported in) cannot be taken from an offer."""
    return NumberUnavailable(
        f"{msisdn} is not one of the numbers offered (it is not in the operator's ranges)"
    )


def no_ranges() -> NumberUnavailable:
    return NumberUnavailable("the operator has no number ranges yet: add a range first")


def none_free() -> NumberUnavailable:
    return NumberUnavailable(
        "no free number in the pool: every number is held, assigned or in quarantine"
    )
