"""SIM delivery files: the cards and eSIM profiles a vendor hands the operator for its stock.

CSV with a header row naming the columns (in any order, by name, case ignored): ``iccid``
and ``imsi`` always, ``sim_type`` (``esim`` or ``physical``; without the column every row
is an eSIM) and ``profile_type`` (required for an eSIM, empty for a physical card). Other
columns are ignored. Every row is checked before anything is stocked, and every bad row is
reported with its line number (an ICCID failing its Luhn check, an unknown IMSI network, an
ICCID or IMSI given twice), so a vendor's file is fixed in one go and then taken whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from famsim.adapters.csv_rows import read_text, records
from famsim.domain.errors import InvalidInput
from famsim.domain.esim.stock import StockedSim
from famsim.domain.identifiers import Iccid, Imsi
from famsim.domain.lines import SimType

REQUIRED = ("iccid", "imsi")
MAX_REPORTED = 20  # bad rows named in the message; the rest are counted


class SimFileError(InvalidInput):
    """The delivery file cannot be read or has bad rows; the message names their lines."""


@dataclass(frozen=True, slots=True)
class SimRow:
    line: int
    sim: StockedSim


def load_sim_file(path: Path) -> list[SimRow]:
    return parse_sim_file(read_text(path, SimFileError), source=str(path))


def parse_sim_file(text: str, *, source: str = "SIM file") -> list[SimRow]:
    """Every row as a free SIM, or :class:`SimFileError` naming every bad line."""
    rows: list[SimRow] = []
    errors: list[str] = []
    iccid_lines: dict[Iccid, int] = {}
    imsi_lines: dict[Imsi, int] = {}
    hint = " (and sim_type, profile_type as needed)"
    for line, values in records(
        text, required=REQUIRED, source=source, error=SimFileError, hint=hint
    ):
        try:
            sim = _sim(values)
        except InvalidInput as exc:
            errors.append(f"line {line}: {exc}")
            continue
        if sim.iccid in iccid_lines:
            errors.append(
                f"line {line}: ICCID {sim.iccid} is already on line {iccid_lines[sim.iccid]}"
            )
            continue
        if sim.imsi in imsi_lines:
            errors.append(f"line {line}: IMSI {sim.imsi} is already on line {imsi_lines[sim.imsi]}")
            continue
        iccid_lines[sim.iccid] = line
        imsi_lines[sim.imsi] = line
        rows.append(SimRow(line, sim))
    if errors:
        raise SimFileError(report(source, errors))
    if not rows:
        raise SimFileError(f"{source}: no SIMs in the file")
    return rows


def report(source: str, errors: list[str]) -> str:
    """One line naming every bad row (the first :data:`MAX_REPORTED`; the rest counted)."""
    named = "; ".join(errors[:MAX_REPORTED])
    more = len(errors) - MAX_REPORTED
    rest = f"; and {more} more" if more > 0 else ""
    noun = "row" if len(errors) == 1 else "rows"
    return f"{source}: {len(errors)} bad {noun}, nothing stocked: {named}{rest}"


def _sim(values: dict[str, str]) -> StockedSim:
    iccid = Iccid.parse(values["iccid"])
    imsi = Imsi.parse(values["imsi"])
    kind = values.get("sim_type", "").lower() or SimType.ESIM.value
    try:
        sim_type = SimType(kind)
    except ValueError:
        raise InvalidInput(
            f"sim_type {values['sim_type']!r} is neither 'esim' nor 'physical'"
        ) from None
    profile_type = values.get("profile_type") or None
    if sim_type is SimType.ESIM and profile_type is None:
        raise InvalidInput(f"eSIM {iccid} needs a profile_type")
    if sim_type is SimType.PHYSICAL and profile_type is not None:
        raise InvalidInput(
            f"physical SIM {iccid} has a profile_type ({profile_type!r}); leave it empty"
        )
    return StockedSim(iccid, imsi, sim_type, profile_type)
