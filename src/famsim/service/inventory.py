"""The operator's registries as use cases: stock SIMs, add number ranges, offer numbers.

Each opens its own unit of work, records what it did in the audit log (no family: these
are the operator's own registries) and commits both together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from famsim.domain.audit import AuditEvent
from famsim.domain.esim.stock import AlreadyInStock, StockedSim
from famsim.domain.identifiers import Msisdn
from famsim.domain.numbers import NumberOffer, NumberState
from famsim.service.ports import UnitOfWork

UowFactory = Callable[[], UnitOfWork]


def stock_conflicts(uow: UowFactory, sims: Sequence[StockedSim]) -> list[AlreadyInStock]:
    """Every SIM of a delivery whose ICCID or IMSI is stocked already (none: fine)."""
    with uow() as work:
        return work.sims.already_stocked(sims)


def stock_sims(uow: UowFactory, sims: Sequence[StockedSim], now: datetime, actor: str) -> None:
    """Stock a delivery whole or not at all (AlreadyInStock names the first offender)."""
    with uow() as work:
        work.sims.add_all(sims, now)
        kinds = sorted({sim.profile_type or sim.sim_type.value for sim in sims})
        work.audit.record(
            AuditEvent(
                now,
                None,
                actor,
                "sims.stocked",
                f"{len(sims)} SIM(s) from {sims[0].iccid}" if sims else "no SIMs",
                {"count": len(sims), "kinds": ", ".join(kinds)[:200]},
            )
        )
        work.commit()


def sim_counts(uow: UowFactory) -> list[dict[str, str | int | None]]:
    with uow() as work:
        counts = work.sims.counts()
    return [
        {"sim_type": sim_type, "profile_type": profile_type, "state": state, "sims": n}
        for sim_type, profile_type, state, n in counts
    ]


def add_number_range(
    uow: UowFactory, first: Msisdn, last: Msisdn, now: datetime, actor: str
) -> int:
    with uow() as work:
        added = work.numbers.add_range(first, last, now)
        work.audit.record(
            AuditEvent(
                now, None, actor, "numbers.range_added", f"{first} .. {last}", {"count": added}
            )
        )
        work.commit()
    return added


def offer_numbers(uow: UowFactory, count: int, now: datetime, actor: str) -> NumberOffer:
    with uow() as work:
        offer = work.numbers.offer(count, now)
        work.audit.record(
            AuditEvent(
                now,
                None,
                actor,
                "numbers.offered",
                offer.offer_id,
                {"numbers": " ".join(str(n) for n in offer.numbers)},
            )
        )
        work.commit()
    return offer


def number_listing(
    uow: UowFactory, now: datetime, state: NumberState | None, limit: int
) -> tuple[dict[NumberState, int], list[tuple[Msisdn, NumberState, datetime | None]]]:
    """How many numbers are in each state, and the first *limit* (of *state*) in order."""
    with uow() as work:
        return work.numbers.counts(now), work.numbers.listing(now, state, limit)
