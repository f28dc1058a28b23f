"""Profile inventory files: the ICCIDs an SM-DP+ (or the SIM vendor) hands the operator.

CSV with a header row naming the columns ``iccid`` and ``profile_type`` (in any order; other
columns such as ``imsi`` or ``batch`` are kept by nobody and ignored). Every row is checked
before anything is imported: an ICCID that fails its Luhn check, a row without a type, or
an ICCID given twice is reported with its line number, and then nothing at all is
imported, so a vendor's file is either taken whole or sent back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from famsim.adapters.csv_rows import read_text, records
from famsim.domain.errors import InvalidIdentifier, InvalidInput
from famsim.domain.identifiers import Iccid

REQUIRED = ("iccid", "profile_type")


class ProfileFileError(InvalidInput):
    """The inventory file cannot be read or has a bad row; the message gives the line."""


@dataclass(frozen=True, slots=True)
class ProfileRow:
    line: int
    iccid: Iccid
    profile_type: str


def load_profile_file(path: Path) -> list[ProfileRow]:
    return parse_profile_file(read_text(path, ProfileFileError), source=str(path))


def parse_profile_file(text: str, *, source: str = "profile file") -> list[ProfileRow]:
    rows: list[ProfileRow] = []
    first_line: dict[Iccid, int] = {}
    for line, values in records(text, required=REQUIRED, source=source, error=ProfileFileError):
        try:
            iccid = Iccid.parse(values["iccid"])
        except InvalidIdentifier as exc:
            raise ProfileFileError(f"{source}: line {line}: {exc}") from None
        profile_type = values["profile_type"]
        if not profile_type:
            raise ProfileFileError(f"{source}: line {line}: the profile_type is empty")
        if iccid in first_line:
            raise ProfileFileError(
                f"{source}: line {line}: ICCID {iccid} is already on line {first_line[iccid]}"
            )
        first_line[iccid] = line
        rows.append(ProfileRow(line, iccid, profile_type))
    if not rows:
        raise ProfileFileError(f"{source}: no profiles in the file")
    return rows
