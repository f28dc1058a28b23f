"""Inventory files: header by name, every row checked, line numbers, all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from famsim.adapters.profile_csv import ProfileFileError, load_profile_file, parse_profile_file
from famsim.domain.identifiers import Iccid

pytestmark = pytest.mark.unit

A = str(Iccid.from_body("898520000123000001"))
B = str(Iccid.from_body("898520000123000002"))
BROKEN = A[:-1] + str((int(A[-1]) + 1) % 10)  # wrong check digit


def test_rows_in_any_column_order_with_extra_columns() -> None:
    text = f"batch,Profile_Type,ICCID\n7,phone-5g,{A}\n\n7,watch,{B}F\n"
    rows = parse_profile_file(text)
    assert [(r.line, str(r.iccid), r.profile_type) for r in rows] == [
        (2, A, "phone-5g"),
        (4, B, "watch"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"iccid\n{A}\n", "line 1: .*missing profile_type"),
        (f"iccid,profile_type\n{A},phone\n{BROKEN},phone\n", "line 3: invalid ICCID"),
        (f"iccid,profile_type\n{A},phone\n{B},\n", "line 3: the profile_type is empty"),
        (f"iccid,profile_type\n{A},phone\n{B},phone\n{A},watch\n", "line 4: .*already on line 2"),
        ("iccid,profile_type\n", "no profiles"),
    ],
)
def test_a_bad_file_names_the_line(text: str, message: str) -> None:
    with pytest.raises(ProfileFileError, match=message):
        parse_profile_file(text, source="stock.csv")


def test_reading_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "stock.csv"
    path.write_text(f"\ufefficcid,profile_type\n{A},phone\n", encoding="utf-8")
    assert [str(r.iccid) for r in load_profile_file(path)] == [A]
    with pytest.raises(ProfileFileError, match="cannot read"):
        load_profile_file(tmp_path / "missing.csv")
