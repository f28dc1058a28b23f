"""Property: whatever owners and the operator do, in any order and at any pace, a number is
never offered or assigned to two at once (the number pool in memory, the contract's reference).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from famsim.adapters import memory
from famsim.adapters.memory import MemoryStore, MemoryUnitOfWork
from famsim.domain.errors import RuleViolation
from famsim.domain.identifiers import Msisdn
from famsim.domain.numbers import NumberOffer, NumberState, NumberUnavailable

START = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
SIZE = 12
NUMBERS = [Msisdn(f"+852912300{n:02d}") for n in range(SIZE)]


class NumberPoolMachine(RuleBasedStateMachine):
    """A model of who holds what: live offers (until when) and assigned numbers."""

    def __init__(self) -> None:
        super().__init__()
        # The pool picks with SystemRandom; replaying a failing example needs the same picks.
        self._system_random = memory._RANDOM
        memory._RANDOM = random.Random(0)  # type: ignore[assignment]
        self.store = MemoryStore()
        self.now = START
        self.offers: dict[str, NumberOffer] = {}
        self.held: dict[Msisdn, str] = {}  # number -> the offer holding it (while live)
        self.assigned: set[Msisdn] = set()
        self.resting: dict[Msisdn, datetime] = {}  # quarantined until

    def uow(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.store)

    @initialize()
    def add_range(self) -> None:
        with self.uow() as uow:
            uow.numbers.add_range(NUMBERS[0], NUMBERS[-1], self.now)
            uow.commit()

    def _expire(self) -> None:
        for number, offer_id in list(self.held.items()):
            if self.offers[offer_id].held_until <= self.now:
                del self.held[number]
        for number, until in list(self.resting.items()):
            if until <= self.now:
                del self.resting[number]

    @rule(minutes=st.integers(min_value=0, max_value=30))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)
        self._expire()

    @rule(count=st.integers(min_value=1, max_value=5), hold=st.integers(min_value=1, max_value=20))
    def offer(self, count: int, hold: int) -> None:
        free = [n for n in NUMBERS if n not in self.held and n not in self.assigned]
        free = [n for n in free if n not in self.resting]
        try:
            with self.uow() as uow:
                offer = uow.numbers.offer(count, self.now, timedelta(minutes=hold))
                uow.commit()
        except NumberUnavailable:
            assert free == []
            return
        assert len(offer.numbers) == min(count, len(free))
        assert set(offer.numbers) <= set(free), "offered a number someone else has"
        self.offers[offer.offer_id] = offer
        for number in offer.numbers:
            self.held[number] = offer.offer_id

    @precondition(lambda self: bool(self.offers))
    @rule(data=st.data())
    def assign_from_an_offer(self, data: st.DataObject) -> None:
        offer = data.draw(st.sampled_from(list(self.offers.values())))  # in the order made
        number = data.draw(st.sampled_from(offer.numbers))
        allowed = self.held.get(number) == offer.offer_id
        try:
            with self.uow() as uow:
                uow.numbers.assign(number, offer.offer_id, self.now)
                uow.commit()
        except NumberUnavailable:
            assert not allowed
            return
        assert allowed, f"{number} was assigned from an offer that no longer held it"
        for other, holder in list(self.held.items()):
            if holder == offer.offer_id:
                del self.held[other]
        self.assigned.add(number)

    @rule(index=st.integers(min_value=0, max_value=SIZE - 1))
    def assign_directly(self, index: int) -> None:
        number = NUMBERS[index]
        allowed = not (number in self.held or number in self.assigned or number in self.resting)
        try:
            with self.uow() as uow:
                uow.numbers.assign(number, None, self.now)
                uow.commit()
        except NumberUnavailable:
            assert not allowed
            return
        assert allowed
        self.assigned.add(number)

    @precondition(lambda self: bool(self.assigned))
    @rule(data=st.data(), days=st.integers(min_value=0, max_value=2))
    def release(self, data: st.DataObject, days: int) -> None:
        number = data.draw(st.sampled_from(sorted(self.assigned, key=str)))
        with self.uow() as uow:
            until = uow.numbers.release(number, self.now, timedelta(days=days))
            uow.commit()
        # a zero quarantine frees the number at once (nothing rests, nothing to wait for)
        assert until == (self.now + timedelta(days=days) if days else None)
        self.assigned.discard(number)
        if days:
            self.resting[number] = until

    @precondition(lambda self: bool(self.offers))
    @rule(data=st.data())
    def close_the_picker(self, data: st.DataObject) -> None:
        offer_id = data.draw(st.sampled_from(list(self.offers)))  # ids are random: not sorted
        with self.uow() as uow:
            uow.numbers.unhold(offer_id, self.now)
            uow.commit()
        for number, holder in list(self.held.items()):
            if holder == offer_id:
                del self.held[number]

    @rule(index=st.integers(min_value=0, max_value=SIZE - 1))
    def release_a_free_number_is_refused(self, index: int) -> None:
        number = NUMBERS[index]
        if number in self.assigned:
            return
        try:
            with self.uow() as uow:
                uow.numbers.release(number, self.now)
        except RuleViolation:
            return
        raise AssertionError(f"{number} was released without being assigned")

    def teardown(self) -> None:
        memory._RANDOM = self._system_random

    @invariant()
    def the_pool_agrees_with_the_model(self) -> None:
        with self.uow() as uow:
            counts = uow.numbers.counts(self.now)
            states = {n: uow.numbers.state_of(n, self.now) for n in NUMBERS}
        assert sum(counts.values()) == SIZE
        for number, state in states.items():
            if number in self.assigned:
                expected = NumberState.ASSIGNED
            elif number in self.held:
                expected = NumberState.HELD
            elif number in self.resting:
                expected = NumberState.QUARANTINED
            else:
                expected = NumberState.FREE
            assert state is expected, f"{number}: {state} in the pool, {expected} in the model"


NumberPoolMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None
)
test_number_pool = NumberPoolMachine.TestCase
