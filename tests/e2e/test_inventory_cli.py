"""`famsim inventory` and `famsim numbers` from the installed command."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from e2e.cli_runner import Cli
from famsim.domain.identifiers import Iccid

pytestmark = pytest.mark.e2e

ICCIDS = [str(Iccid.from_body(f"89852000099{n:07d}")) for n in range(1, 6)]
BAD_LUHN = ICCIDS[0][:-1] + str((int(ICCIDS[0][-1]) + 1) % 10)


@pytest.fixture
def cli(make_cli: Callable[..., Cli]) -> Cli:
    cli = make_cli()
    cli.ok("init")
    return cli


def delivery(tmp_path: Path, *rows: str, header: str = "iccid,imsi,sim_type,profile_type") -> Path:
    path = tmp_path / "delivery.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_import_and_list(cli: Cli, tmp_path: Path) -> None:
    path = delivery(
        tmp_path,
        f"{ICCIDS[0]},454009900000001,esim,phone-5g",
        f"{ICCIDS[1]},454009900000002,esim,phone-5g",
        f"{ICCIDS[2]},454009900000003,physical,",
    )
    out = cli.ok("inventory", "import", str(path))
    assert "stocked 3 SIM(s)" in out.stdout
    assert "2 phone-5g, 1 physical" in out.stdout

    cli.ok("inventory", "add-sim", "--iccid", ICCIDS[3], "--imsi", "454009900000004")

    assert cli.json("inventory", "list") == [
        {"sim_type": "esim", "profile_type": "phone-5g", "state": "free", "sims": 2},
        {"sim_type": "physical", "profile_type": None, "state": "free", "sims": 2},
    ]
    table = cli.ok("inventory", "list").stdout
    assert "phone-5g" in table
    assert "physical" in table


def test_a_bad_file_names_every_bad_line_and_stocks_nothing(cli: Cli, tmp_path: Path) -> None:
    path = delivery(
        tmp_path,
        f"{ICCIDS[0]},454009900000001,esim,phone-5g",
        f"{BAD_LUHN},454009900000002,esim,phone-5g",
        f"{ICCIDS[2]},454009900000003,physical,watch",
        f"{ICCIDS[0]},454009900000004,esim,phone-5g",
    )
    message = cli.fails("inventory", "import", str(path))
    assert "3 bad rows, nothing stocked" in message
    assert "line 3: invalid ICCID" in message
    assert "line 4: physical SIM" in message
    assert f"line 5: ICCID {ICCIDS[0]} is already on line 2" in message
    assert cli.json("inventory", "list") == []


def test_an_import_of_sims_already_in_stock_names_them_all(cli: Cli, tmp_path: Path) -> None:
    cli.ok("inventory", "add-sim", "--iccid", ICCIDS[1], "--imsi", "454009900000002")
    cli.ok("inventory", "add-sim", "--iccid", ICCIDS[4], "--imsi", "454009900000005")
    path = delivery(
        tmp_path,
        f"{ICCIDS[0]},454009900000001,physical",
        f"{ICCIDS[1]},454009900000009,physical",
        f"{ICCIDS[2]},454009900000005,physical",
        header="iccid,imsi,sim_type",
    )
    message = cli.fails("inventory", "import", str(path))
    assert "2 SIM(s) already in stock, nothing stocked" in message
    assert f"line 3: ICCID {ICCIDS[1]} is already in stock" in message
    assert f"line 4: IMSI 454009900000005 is already in stock (ICCID {ICCIDS[4]})" in message


def test_add_sim_refuses_bad_identifiers(cli: Cli) -> None:
    assert "checksum" in cli.fails(
        "inventory", "add-sim", "--iccid", BAD_LUHN, "--imsi", "454009900000001"
    )
    cli.ok("inventory", "add-sim", "--iccid", ICCIDS[0], "--imsi", "454009900000001")
    assert "is already in stock" in cli.fails(
        "inventory", "add-sim", "--iccid", ICCIDS[0], "--imsi", "454009900000002"
    )


def test_numbers_add_range_offer_and_list(cli: Cli) -> None:
    out = cli.ok("numbers", "add-range", "+852 9123 0000", "+85291230009")
    assert "added 10 number(s): +85291230000 .. +85291230009" in out.stdout

    offer = cli.json("numbers", "offer", "--count", "3")
    assert len(offer["numbers"]) == len(set(offer["numbers"])) == 3
    assert offer["offer_id"]
    assert offer["held_until"].endswith("+00:00")

    held = cli.json("numbers", "list", "--state", "held")
    assert [row["msisdn"] for row in held] == offer["numbers"]
    assert {row["until"] for row in held} == {offer["held_until"]}
    free = cli.json("numbers", "list", "--state", "free", "--limit", "100")
    assert len(free) == 7
    assert not set(offer["numbers"]) & {row["msisdn"] for row in free}

    second = cli.ok("numbers", "offer", "--count", "7").stdout
    assert "held until" in second
    assert "no free number in the pool" in cli.fails("numbers", "offer")
    table = cli.ok("numbers", "list").stdout
    assert "0 free, 10 held, 0 assigned, 0 quarantined" in table


def test_numbers_refuse_bad_ranges(cli: Cli) -> None:
    cli.ok("numbers", "add-range", "+85291230000", "+85291230009")
    assert "overlaps the range +85291230000 .. +85291230009" in cli.fails(
        "numbers", "add-range", "+85291230005", "+85291230015"
    )
    assert "the first number is after the last" in cli.fails(
        "numbers", "add-range", "+85291230020", "+85291230010"
    )
    assert "country code" in cli.fails("numbers", "add-range", "91230000", "91230009")
    assert "--state" in cli.error("numbers", "list", "--state", "gone")


def test_an_offer_from_an_empty_pool_is_refused(cli: Cli) -> None:
    assert "no number ranges yet" in cli.fails("numbers", "offer")
