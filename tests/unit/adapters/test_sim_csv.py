"""SIM delivery files: columns by name, every bad row named with its line, then all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from famsim.adapters.sim_csv import SimFileError, load_sim_file, parse_sim_file
from famsim.domain.esim.stock import StockedSim
from famsim.domain.identifiers import Iccid, Imsi
from famsim.domain.lines import SimType

ICCID_1 = str(Iccid.from_body("898520000990000001"))
ICCID_2 = str(Iccid.from_body("898520000990000002"))
ICCID_3 = str(Iccid.from_body("898520000990000003"))
BAD_LUHN = ICCID_1[:-1] + str((int(ICCID_1[-1]) + 1) % 10)


def test_columns_are_found_by_name_in_any_order() -> None:
    text = (
        "Profile_Type,batch,IMSI,sim_type,ICCID\n"
        f"phone-5g,b1,454009900000001,esim,{ICCID_1}\n"
        "\n"  # blank lines are skipped, not errors
        f",b1,454009900000002,PHYSICAL,{ICCID_2}\n"
    )
    rows = parse_sim_file(text)
    assert [(r.line, r.sim) for r in rows] == [
        (2, StockedSim(Iccid(ICCID_1), Imsi("454009900000001"), SimType.ESIM, "phone-5g")),
        (4, StockedSim(Iccid(ICCID_2), Imsi("454009900000002"), SimType.PHYSICAL, None)),
    ]


def test_without_a_sim_type_column_every_row_is_an_esim() -> None:
    rows = parse_sim_file(f"iccid,imsi,profile_type\n{ICCID_1},454009900000001,watch\n")
    assert rows[0].sim.sim_type is SimType.ESIM
    assert rows[0].sim.profile_type == "watch"


def test_every_bad_row_is_named_with_its_line() -> None:
    text = (
        "iccid,imsi,sim_type,profile_type\n"
        f"{BAD_LUHN},454009900000001,esim,phone-5g\n"  # 2: checksum
        f"{ICCID_1},999009900000001,esim,phone-5g\n"  # 3: unknown MCC
        f"{ICCID_1},454009900000003,esim,\n"  # 4: eSIM without a type
        f"{ICCID_1},454009900000004,physical,watch\n"  # 5: card with a type
        f"{ICCID_1},454009900000005,sim,\n"  # 6: unknown type
        f"{ICCID_2},454009900000006,esim,phone-5g\n"  # fine
        f"{ICCID_2},454009900000007,esim,phone-5g\n"  # 8: ICCID repeated
        f"{ICCID_3},454009900000006,esim,phone-5g\n"  # 9: IMSI repeated
    )
    with pytest.raises(SimFileError) as refused:
        parse_sim_file(text, source="d.csv")
    message = str(refused.value)
    assert message.startswith("d.csv: 7 bad rows, nothing stocked: line 2: invalid ICCID")
    for expected in (
        "line 2: invalid ICCID",
        "checksum",
        "line 3: invalid IMSI",
        f"line 4: eSIM {ICCID_1} needs a profile_type",
        f"line 5: physical SIM {ICCID_1} has a profile_type ('watch')",
        "line 6: sim_type 'sim' is neither 'esim' nor 'physical'",
        f"line 8: ICCID {ICCID_2} is already on line 7",
        "line 9: IMSI 454009900000006 is already on line 7",
    ):
        assert expected in message
    assert "\n" not in message


def test_many_bad_rows_are_counted_after_the_first_twenty() -> None:
    text = "iccid,imsi\n" + "".join(f"{BAD_LUHN},454009900000001\n" for _ in range(25))
    with pytest.raises(SimFileError, match=r"25 bad rows.*line 21: .*; and 5 more$"):
        parse_sim_file(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("iccid,profile_type\n", "line 1: the header must name the columns iccid, imsi"),
        ("", "missing iccid, imsi"),
        ("iccid,imsi\n\n", "no SIMs in the file"),
    ],
)
def test_files_without_sims_are_refused(text: str, reason: str) -> None:
    with pytest.raises(SimFileError, match=reason):
        parse_sim_file(text)


def test_reading_a_file(tmp_path: Path) -> None:
    path = tmp_path / "delivery.csv"
    path.write_text(f"\ufefficcid,imsi\n{ICCID_1},454009900000001\n", encoding="utf-8")
    with pytest.raises(SimFileError, match="needs a profile_type"):
        load_sim_file(path)
    path.write_text(f"iccid,imsi,profile_type\n{ICCID_1},454009900000001,x\n", encoding="utf-8")
    assert [r.line for r in load_sim_file(path)] == [2]
    with pytest.raises(SimFileError, match="cannot read"):
        load_sim_file(tmp_path / "missing.csv")
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SimFileError, match="is not UTF-8 text"):
        load_sim_file(path)
