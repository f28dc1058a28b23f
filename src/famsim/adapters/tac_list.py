"""The operator's device allow-list file: one approved model (TAC) per CSV row.

Format: a CSV file whose first column is the 8-digit Type Allocation Code; other columns
(maker, model) are for people and ignored; an optional header row whose first cell is
``tac``; blank lines and lines starting with ``#`` are skipped. The whole file is read
before anything is used: a bad row is reported with its line number and the list is not
loaded at all.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from famsim.domain.errors import InvalidInput
from famsim.domain.esim.device import TAC_LENGTH, TacAllowList


class TacListError(InvalidInput):
    """The allow-list file cannot be read or has a bad row; the message gives the line."""


def load_tac_allow_list(path: Path) -> TacAllowList:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise TacListError(f"cannot read device list {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TacListError(f"device list {path} is not UTF-8 text") from None
    return parse_tac_allow_list(text, source=str(path))


def parse_tac_allow_list(text: str, *, source: str = "device list") -> TacAllowList:
    tacs: set[str] = set()
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        first = row[0].strip() if row else ""
        if not first or first.startswith("#"):
            continue
        if number == 1 and first.lower() == "tac":
            continue
        if len(first) != TAC_LENGTH or not first.isascii() or not first.isdigit():
            raise TacListError(
                f"{source}: line {number}: {first!r} is not a TAC (8 digits, the first 8 of "
                "an IMEI)"
            )
        tacs.add(first)
    if not tacs:
        raise TacListError(f"{source}: no TAC in the file; an empty list would refuse every device")
    return TacAllowList(frozenset(tacs))
