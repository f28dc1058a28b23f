"""`famsim esim` from the installed command, on the built-in SM-DP+ (no SM-DP+ configured).

An operator stocks SIMs and numbers, orders a line for a member, the QR code it wrote is
read back by zbarimg, the simulated device downloads and installs, a watch joins, the phone
is replaced, and every step is in the SIM's history. Bad input changes nothing.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.cli_runner import Cli
from famsim.domain.identifiers import Eid, Iccid
from qr_decoder import decode, find_zbarimg
from smdp_server import free_port, wait_for

pytestmark = pytest.mark.e2e

FAMILY = "Ho family"
OWNER = "Ho Ka Wai"
PHONES = [str(Iccid.from_body(f"89852000077{n:07d}")) for n in range(1, 5)]
WATCH = str(Iccid.from_body("898520000770000011"))
CARD = str(Iccid.from_body("898520000770000021"))
PHONE_EID = str(Eid.from_body("890490320000500000000000000001"))
NEW_PHONE_EID = str(Eid.from_body("890490320000500000000000000002"))
WATCH_EID = str(Eid.from_body("890490320000500000000000000003"))


@pytest.fixture
def cli(make_cli: Callable[..., Cli], tmp_path: Path) -> Cli:
    cli = make_cli()
    cli.ok("init")
    cli.ok("family", "create", "--name", FAMILY, "--plan", "hk-family-5g-100", "--owner", OWNER)
    cli.ok("numbers", "add-range", "+85291250000", "+85291250009")
    rows = [f"{i},4540077000000{n:02d},esim,phone-5g" for n, i in enumerate(PHONES)]
    rows += [f"{WATCH},454007700000011,esim,watch-lte", f"{CARD},454007700000021,physical,"]
    sims = tmp_path / "sims.csv"
    sims.write_text("iccid,imsi,sim_type,profile_type\n" + "\n".join(rows) + "\n")
    cli.ok("inventory", "import", str(sims))
    profiles = tmp_path / "profiles.csv"
    profiles.write_text(
        "iccid,profile_type\n" + "".join(f"{i},phone-5g\n" for i in PHONES) + f"{WATCH},watch-lte\n"
    )
    cli.ok("smdp", "import", str(profiles))
    return cli


def sims(cli: Cli) -> dict[str, dict[str, Any]]:
    shown = cli.json("esim", "show", FAMILY)
    return {s["iccid"]: s for s in shown["subscriptions"]}


def download(cli: Cli, ordered: dict[str, Any], eid: str) -> None:
    cli.ok(
        "smdp", "device", "download", "--activation-code", "LPA:" + ordered["activation_code"],
        "--eid", eid, "--confirmation-code", ordered["confirmation_code"],
    )  # fmt: skip


def test_order_scan_download_install_and_history(cli: Cli, tmp_path: Path) -> None:
    offer = cli.json("numbers", "offer", "--count", "3")
    number = offer["numbers"][2]
    qr = tmp_path / "line.png"
    ordered = cli.json(
        "esim", "order", FAMILY, OWNER, "--type", "phone-5g", "--eid", PHONE_EID,
        "--number", number, "--offer", offer["offer_id"], "--qr", str(qr),
    )  # fmt: skip
    assert ordered["number"] == number
    assert ordered["state"] == "released"
    assert ordered["activation_code"].startswith("1$SMDP.FAMSIM.LOCALHOST$")
    assert ordered["activation_code"].endswith("$$1"), "a confirmation code is required"
    assert decode(find_zbarimg(), qr) == "LPA:" + ordered["activation_code"]
    assert ordered["confirmation_code"] not in decode(find_zbarimg(), qr)

    # The QR code can be written again while the order waits, as SVG too.
    svg = tmp_path / "again.svg"
    again = cli.ok("esim", "qr", FAMILY, ordered["iccid"], "--out", str(svg)).stdout
    assert svg.read_text().startswith("<svg")
    assert ordered["confirmation_code"] in again

    download(cli, ordered, PHONE_EID)
    assert sims(cli)[ordered["iccid"]]["state"] == "downloaded"
    cli.ok("smdp", "device", "install", ordered["iccid"])
    cli.ok("smdp", "device", "enable", ordered["iccid"])
    assert sims(cli)[ordered["iccid"]]["state"] == "enabled"
    assert "only shown for an order released" in cli.fails(
        "esim", "qr", FAMILY, ordered["iccid"], "--out", str(svg)
    )

    history = cli.json("esim", "show", FAMILY, ordered["iccid"])["history"]
    assert [(h["action"], h["detail"].get("outcome")) for h in history] == [
        ("line.ordered", None),
        ("esim.released", None),
        ("esim.progress", "downloaded"),
        ("esim.progress", "installed"),
        ("esim.progress", "enabled"),
    ]
    text = cli.ok("esim", "show", FAMILY, ordered["iccid"]).stdout
    assert "esim.progress" in text
    assert "enabled" in text


def test_a_watch_joins_and_the_phone_is_replaced(cli: Cli) -> None:
    phone = cli.json("esim", "order", FAMILY, OWNER, "--type", "phone-5g", "--eid", PHONE_EID)
    download(cli, phone, PHONE_EID)
    cli.ok("smdp", "device", "install", phone["iccid"])
    watch = cli.json(
        "esim", "order", FAMILY, OWNER, "--companion-of", phone["number"], "--device", "watch",
        "--type", "watch-lte", "--eid", WATCH_EID,
    )  # fmt: skip
    assert watch["number"] == phone["number"]

    new = cli.json(
        "esim", "change-device", FAMILY, phone["iccid"], "--type", "phone-5g",
        "--eid", NEW_PHONE_EID,
    )  # fmt: skip
    assert new["number"] == phone["number"]
    assert sims(cli)[phone["iccid"]]["state"] == "installed", "the old phone keeps working"
    download(cli, new, NEW_PHONE_EID)
    cli.ok("smdp", "device", "install", new["iccid"])
    after = sims(cli)
    assert after[phone["iccid"]]["state"] == "deleted"
    assert after[new["iccid"]]["primary"] is True
    assert after[watch["iccid"]]["state"] == "released"


def test_a_rejected_new_phone_leaves_the_old_one(cli: Cli) -> None:
    phone = cli.json("esim", "order", FAMILY, OWNER, "--type", "phone-5g", "--eid", PHONE_EID)
    download(cli, phone, PHONE_EID)
    cli.ok("smdp", "device", "install", phone["iccid"])
    new = cli.json(
        "esim", "change-device", FAMILY, phone["iccid"], "--type", "phone-5g",
        "--eid", NEW_PHONE_EID,
    )  # fmt: skip
    cli.ok("smdp", "device", "reject", new["iccid"])
    after = sims(cli)
    assert after[phone["iccid"]]["state"] == "installed"
    assert after[phone["iccid"]]["primary"] is True
    assert after[new["iccid"]]["state"] == "error"


def test_a_physical_card_cancel_expire_and_close(cli: Cli) -> None:
    card = cli.json("esim", "order", FAMILY, OWNER, "--sim", CARD, "--device", "phone")
    assert card["state"] == "enabled"
    assert card["activation_code"] is None

    waiting = cli.json("esim", "order", FAMILY, OWNER, "--type", "phone-5g", "--eid", PHONE_EID)
    out = cli.ok("esim", "cancel", FAMILY, waiting["iccid"]).stdout
    assert f"the new line {waiting['number']}" in out or "is closed" in out
    assert sims(cli)[waiting["iccid"]]["state"] == "deleted"

    late = make_late(cli)
    stale = late.json("esim", "order", FAMILY, OWNER, "--type", "phone-5g", "--eid", PHONE_EID)
    assert "1 order(s) expired" in late.ok("esim", "expire").stdout
    assert sims(cli)[stale["iccid"]]["state"] == "error"

    closed = cli.ok("esim", "close-line", FAMILY, card["number"]).stdout
    assert "the number is free again from" in closed
    quarantined = cli.json("numbers", "list", "--state", "quarantined")
    assert [n["msisdn"] for n in quarantined] == [card["number"]]


def make_late(cli: Cli) -> Cli:
    """The same famsim with orders that expire as soon as they are made."""
    return Cli(cli.command, cli.data_dir, {"FAMSIM_ESIM_ORDER_HOURS": "0"})


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--type", "phone-5g", "--eid", PHONE_EID[:-1] + "0"), "checksum"),
        (("--type", "phone-5g"), "EID"),
        (("--type", "phone-6g", "--eid", PHONE_EID), "phone-6g"),
        (("--type", "phone-5g", "--eid", PHONE_EID, "--imei", "12345"), "IMEI"),
        (
            ("--type", "phone-5g", "--eid", PHONE_EID, "--number", "+85291250001", "--offer", "x"),
            "not one of the numbers offered",
        ),
        (("--sim", WATCH, "--device", "phone"), "eSIM"),
    ],
)
def test_bad_orders_are_refused_and_change_nothing(
    cli: Cli, args: tuple[str, ...], needle: str
) -> None:
    before = sims(cli)
    message = cli.fails("esim", "order", FAMILY, OWNER, *args)
    assert needle in message
    assert sims(cli) == before
    assert cli.json("numbers", "list", "--state", "assigned") == []


# --- three processes, as an operator deploys them ------------------------------------------


@contextmanager
def _serving_on(cli: Cli, port: int, *args: str) -> Iterator[None]:
    """Run `famsim ARGS --port PORT` in the background until the block ends."""
    server = subprocess.Popen(
        [str(cli.command), *args, "--port", str(port)],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30  # a start-up guard, not a timing assertion
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert server.poll() is None, server.communicate()
                assert time.monotonic() < deadline, f"famsim {args[0]} did not start"
                time.sleep(0.1)
        yield
    finally:
        server.terminate()
        _, err = server.communicate(timeout=20)
        assert "Traceback" not in err, err


def test_served_smdp_and_receiver_in_separate_processes(cli: Cli) -> None:
    """`famsim smdp serve` posts its callbacks to `famsim esim receive`; famsim orders from
    the served SM-DP+ over ES2+ (FAMSIM_SMDP_URL), like any operator system would."""
    receiver_port = free_port()
    receiver_url = f"http://127.0.0.1:{receiver_port}"
    smdp_port = free_port()
    operator = Cli(cli.command, cli.data_dir, {"FAMSIM_SMDP_URL": f"http://127.0.0.1:{smdp_port}"})
    smdp = Cli(cli.command, cli.data_dir, {"FAMSIM_SMDP_NOTIFY_URL": receiver_url})

    with (
        _serving_on(smdp, smdp_port, "smdp", "serve"),
        _serving_on(operator, receiver_port, "esim", "receive"),
    ):
        ordered = operator.json(
            "esim", "order", FAMILY, OWNER, "--type", "phone-5g", "--eid", PHONE_EID
        )
        again = cli.data_dir / "again.png"
        operator.ok("esim", "qr", FAMILY, ordered["iccid"], "--out", str(again))
        assert decode(find_zbarimg(), again) == "LPA:" + ordered["activation_code"]
        answer = httpx.post(
            f"http://127.0.0.1:{smdp_port}/simulator/device/download",
            json={
                "activationCode": "LPA:" + ordered["activation_code"],
                "eid": PHONE_EID,
                "confirmationCode": ordered["confirmation_code"],
            },
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        wait_for(lambda: sims(cli)[ordered["iccid"]]["state"] == "downloaded")
    delivered = cli.json("smdp", "notifications")
    assert [(n["point"], n["delivered_at"] is not None) for n in delivered] == [(3, True)]
