"""The operator's SIM stock: eSIM profiles and physical cards it owns, given out or not.

The operator buys profiles from an SM-DP+ vendor and cards from a SIM vendor; each comes
with an ICCID and the IMSI the network will see. A line is only ever given a SIM from
stock, and a SIM is given out once: FREE -> ASSIGNED, and ASSIGNED -> RETIRED when the
order failed or was cancelled (a profile that may have left the building is never reused).
An eSIM is ordered by profile type (``phone-5g``, ``watch``); a physical card has none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from famsim.domain.errors import Conflict, InvalidInput, NotFound, RuleViolation
from famsim.domain.identifiers import Iccid, Imsi
from famsim.domain.lines import SimType

MAX_PROFILE_TYPE = 64  # the width of sim_stock.profile_type


class StockState(StrEnum):
    FREE = "free"
    ASSIGNED = "assigned"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class StockedSim:
    """One SIM of the stock: an eSIM profile (with its type) or a physical card (none)."""

    iccid: Iccid
    imsi: Imsi
    sim_type: SimType
    profile_type: str | None
    state: StockState = StockState.FREE

    def __post_init__(self) -> None:
        """An eSIM names its profile type, a physical card has none: refuse anything else."""
        if self.sim_type is SimType.ESIM:
            if self.profile_type is None or not self.profile_type.strip():
                raise InvalidInput(f"eSIM {self.iccid} needs a profile type, e.g. 'phone-5g'")
            if self.profile_type != self.profile_type.strip():
                raise InvalidInput(
                    f"eSIM {self.iccid}: profile type {self.profile_type!r} has blanks around it"
                )
            if len(self.profile_type) > MAX_PROFILE_TYPE:
                raise InvalidInput(
                    f"eSIM {self.iccid}: a profile type has at most {MAX_PROFILE_TYPE} characters"
                )
        elif self.profile_type is not None:
            raise InvalidInput(
                f"physical SIM {self.iccid} has no profile type (only an eSIM profile does),"
                f" got {self.profile_type!r}"
            )


class OutOfStock(RuleViolation):
    """No free eSIM profile of the type asked for."""


class SimNotInStock(NotFound):
    """The ICCID is not in the operator's stock."""


class SimNotFree(RuleViolation):
    """The SIM is in stock but was given out already (or retired)."""


class AlreadyInStock(Conflict):
    """A SIM of a delivery is in stock already, or twice in the delivery.

    ``position`` is its index in the delivery, so an import can name the file's line.
    """

    def __init__(self, position: int, message: str) -> None:
        self.position = position
        super().__init__(message)


def check_delivery(sims: Sequence[StockedSim]) -> None:
    """Refuse a delivery that names an ICCID or an IMSI twice (the first repeat raises)."""
    iccids: dict[Iccid, int] = {}
    imsis: dict[Imsi, int] = {}
    for position, sim in enumerate(sims):
        if sim.state is not StockState.FREE:
            raise InvalidInput(f"SIM {sim.iccid} of a delivery must be free, not {sim.state}")
        if sim.iccid in iccids:
            raise AlreadyInStock(
                position,
                f"ICCID {sim.iccid} is twice in the delivery (also at {iccids[sim.iccid]})",
            )
        if sim.imsi in imsis:
            raise AlreadyInStock(
                position, f"IMSI {sim.imsi} is twice in the delivery (also at {imsis[sim.imsi]})"
            )
        iccids[sim.iccid] = position
        imsis[sim.imsi] = position


def iccid_stocked(position: int, iccid: Iccid) -> AlreadyInStock:
    return AlreadyInStock(position, f"ICCID {iccid} is already in stock")


def imsi_stocked(position: int, imsi: Imsi, holder: str) -> AlreadyInStock:
    return AlreadyInStock(position, f"IMSI {imsi} is already in stock (ICCID {holder})")


def out_of_stock(profile_type: str, ever_stocked: bool) -> OutOfStock:
    """The refusal of ``take``: none left, or a type the operator never stocked (a typo?)."""
    if ever_stocked:
        return OutOfStock(f"no free eSIM profile of type {profile_type!r} in stock")
    return OutOfStock(f"no eSIM profile of type {profile_type!r} was ever stocked")


def check_take(sim: StockedSim | None, iccid: Iccid) -> StockedSim:
    """The SIM given out by ICCID: it must be in stock and free."""
    if sim is None:
        raise SimNotInStock(f"ICCID {iccid} is not in the operator's SIM stock")
    if sim.state is not StockState.FREE:
        raise SimNotFree(f"SIM {iccid} is {sim.state}, not free: it was given out already")
    return sim


def check_retire(sim: StockedSim | None, iccid: Iccid) -> StockedSim:
    """Only a SIM given out can be retired (an order that failed or was cancelled)."""
    if sim is None:
        raise SimNotInStock(f"ICCID {iccid} is not in the operator's SIM stock")
    if sim.state is not StockState.ASSIGNED:
        raise RuleViolation(f"SIM {iccid} is {sim.state}: only an assigned SIM can be retired")
    return sim
