"""Reading the operator's CSV files (SIM deliveries, profile inventories): the text, the
header checked by column name, each non-empty row with its line number.

What is in a row is each file's own business; this is only the part they share, so that
every file is read the same way: UTF-8 (with or without a byte-order mark), columns found
by name in any order and case, blank rows skipped, a file that is not CSV refused with a
message rather than a traceback.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from pathlib import Path

from famsim.domain.errors import InvalidInput


def read_text(path: Path, error: type[InvalidInput]) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise error(f"{path} is not UTF-8 text") from None


def records(
    text: str,
    *,
    required: Sequence[str],
    source: str,
    error: type[InvalidInput],
    hint: str = "",
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, {column: stripped value}) for every row with something in it."""
    try:
        reader = csv.DictReader(io.StringIO(text))
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        missing = [c for c in required if c not in columns]
        if missing:
            raise error(
                f"{source}: line 1: the header must name the columns {', '.join(required)}"
                f"{hint}; missing {', '.join(missing)}"
            )
        reader.fieldnames = columns
        for record in reader:
            values = {k: (v or "").strip() for k, v in record.items() if k is not None}
            if any(values.values()):
                yield reader.line_num, values
    except csv.Error as exc:
        raise error(f"{source}: not a CSV file: {exc}") from None
