"""`famsim smdp stock|list|serve`: the built-in SM-DP+ from the installed command."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

import smdp_server
from e2e.cli_runner import Cli
from famsim.bootstrap import bootstrap
from famsim.config import Settings
from famsim.domain.identifiers import Iccid
from smdp_server import Operator, served, wait_for

pytestmark = pytest.mark.e2e

FIRST = "8985200001230000010"


@pytest.fixture
def cli(make_cli: Callable[..., Cli]) -> Cli:
    cli = make_cli()
    cli.ok("init")
    return cli


def test_stock_and_list(cli: Cli) -> None:
    out = cli.ok("smdp", "stock", "--type", "phone-5g", "--first-iccid", FIRST, "--count", "3")
    assert "added 3 phone-5g profile(s): 8985200001230000010 .. 8985200001230000036" in out.stdout

    assert cli.json("smdp", "list") == [
        {"profile_type": "phone-5g", "state": "Available", "profiles": 3}
    ]


def test_stock_is_all_or_nothing(cli: Cli) -> None:
    cli.ok("smdp", "stock", "--type", "watch", "--first-iccid", "8985200001230000036")

    message = cli.fails(
        "smdp", "stock", "--type", "phone-5g", "--first-iccid", FIRST, "--count", "5"
    )

    assert "8985200001230000036 is already in the SM-DP+ inventory" in message
    assert cli.json("smdp", "list") == [
        {"profile_type": "watch", "state": "Available", "profiles": 1}
    ]


def test_a_bad_first_iccid_names_the_check(cli: Cli) -> None:
    message = cli.fails("smdp", "stock", "--type", "x", "--first-iccid", "8985200001230000011")
    assert "checksum" in message


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_answers_es2plus(cli: Cli) -> None:
    cli.ok("smdp", "stock", "--type", "phone-5g", "--first-iccid", FIRST)
    port = _free_port()
    server = subprocess.Popen(
        [str(cli.command), "smdp", "serve", "--port", str(port)],
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
                assert time.monotonic() < deadline, "famsim smdp serve did not start"
                time.sleep(0.1)
        response = httpx.post(
            f"http://127.0.0.1:{port}/gsma/rsp2/es2plus/downloadOrder",
            headers={"X-Admin-Protocol": "gsma/rsp/v2.2.0"},
            json={
                "header": {"functionRequesterIdentifier": "op", "functionCallIdentifier": "1"},
                "profileType": "phone-5g",
            },
            timeout=10,
        )
    finally:
        server.terminate()
        out, err = server.communicate(timeout=20)
    assert response.status_code == 200
    assert response.json() == {
        "header": {"functionExecutionStatus": {"status": "Executed-Success"}},
        "iccid": FIRST,
    }
    assert "ES2+ on http://127.0.0.1" in out
    assert "Traceback" not in err
    assert cli.json("smdp", "list") == [
        {"profile_type": "phone-5g", "state": "Allocated", "profiles": 1}
    ]


def test_import_takes_a_file_whole_or_not_at_all(cli: Cli, tmp_path: Path) -> None:
    good = tmp_path / "stock.csv"
    good.write_text(
        "iccid,profile_type\n8985200001230000010,phone-5g\n8985200001230000028,watch\n",
        encoding="utf-8",
    )
    out = cli.ok("smdp", "import", str(good)).stdout
    assert "imported 2 profile(s)" in out
    assert "1 phone-5g, 1 watch" in out

    bad = tmp_path / "more.csv"
    bad.write_text(
        "iccid,profile_type\n8985200001230000036,phone-5g\n8985200001230000011,phone-5g\n",
        encoding="utf-8",
    )
    assert "line 3: invalid ICCID" in cli.fails("smdp", "import", str(bad))
    again = cli.fails("smdp", "import", str(good))
    assert "line 2: ICCID 8985200001230000010 is already in the SM-DP+ inventory" in again
    assert sum(row["profiles"] for row in cli.json("smdp", "list")) == 2


# ---------------------------------------------------------------- the simulated device

PHONE_EID = str(smdp_server.PHONE)


def _released(cli: Cli, iccid: str, code: str | None = None) -> str:
    """Order and release *iccid* on the database of *cli*, as the operator would over ES2+
    (done in-process: the CLI has no ES2+ ordering command of its own); its activation code."""
    app = bootstrap(Settings(data_dir=cli.data_dir))
    try:
        smdp = app.smdp()
        smdp.run(lambda inv, now: inv.download_order(now=now, iccid=Iccid.parse(iccid)))
        confirmation = smdp.run(
            lambda inv, now: inv.confirm_order(
                now=now, iccid=Iccid.parse(iccid), release=True, confirmation_code=code
            )
        )
        return confirmation.activation_code.qr_payload
    finally:
        app.close()


def test_device_steps_leave_notifications_that_deliver_retries(cli: Cli) -> None:
    # An operator that orders from another SM-DP+ (FAMSIM_SMDP_URL) is not this famsim, so
    # nothing is delivered in-process: notifications wait for a notify URL.
    cli = make_cli_like(cli, FAMSIM_SMDP_URL="https://smdp.example.com")
    cli.ok("smdp", "stock", "--type", "phone-5g", "--first-iccid", FIRST)
    code = _released(cli, FIRST, "1234")

    message = cli.error(
        "smdp", "device", "download", "--activation-code", code, "--eid", PHONE_EID,
        "--confirmation-code", "9",
    )  # fmt: skip
    assert "wrong confirmation code" in message
    assert "(ES2+ 8.2.7/3.8)" in message
    out = cli.ok(
        "smdp", "device", "download", "--activation-code", code, "--eid", PHONE_EID,
        "--confirmation-code", "1234",
    )  # fmt: skip
    assert out.stdout.strip() == f"{FIRST}: Downloaded"
    for step in ("install", "enable", "delete"):
        assert cli.ok("smdp", "device", step, FIRST).stdout.strip() == f"{FIRST}: Installed"
    again = cli.fails("smdp", "device", "enable", FIRST)
    assert "deleted on the device" in again
    assert "(ES2+ 8.2.1/3.5)" in again

    pending = cli.json("smdp", "notifications")
    assert [(n["point"], n["status"], n["attempts"]) for n in pending] == [
        (2, "Failed", 0),
        (3, "Executed-Success", 0),
        (4, "Executed-Success", 0),
        (101, "Executed-Success", 0),
        (103, "Executed-Success", 0),
    ]
    assert all(n["delivered_at"] is None and n["iccid"] == FIRST for n in pending)
    assert "nowhere to deliver" in cli.fails("smdp", "deliver")

    operator = Operator(refuse_first=1)
    with served(operator) as url:
        sending = make_cli_like(cli, FAMSIM_SMDP_NOTIFY_URL=url)
        first = sending.ok("smdp", "deliver").stdout
        assert "point 2: failed (HTTP 503 from http://127.0.0.1:" in first
        assert "0 of 1 due notification(s) delivered" in first

        def delivered_all() -> bool:
            sending.ok("smdp", "deliver")
            return not sending.json("smdp", "notifications", "--pending")

        wait_for(delivered_all)
    after = cli.json("smdp", "notifications")
    assert [n["attempts"] for n in after] == [2, 1, 1, 1, 1]
    assert [n["function_call_id"] for n in after] == [n["function_call_id"] for n in pending]
    calls = operator.calls()
    assert [c[1]["notificationPointId"] for c in calls] == [2, 2, 3, 4, 101, 103]
    assert calls[0][1] == calls[1][1]  # the retry is the same body, the same identifier
    text = cli.ok("smdp", "notifications").stdout
    assert f"#1 {FIRST} point 2 Failed: delivered " in text


def test_a_bad_activation_code_or_eid_names_the_problem(cli: Cli) -> None:
    cli.ok("smdp", "stock", "--type", "phone-5g", "--first-iccid", FIRST)
    code = _released(cli, FIRST)
    other = code.replace("SMDP.FAMSIM.LOCALHOST", "SMDP.EXAMPLE.COM")
    args = ("smdp", "device", "download", "--activation-code")
    assert "SMDP.EXAMPLE.COM" in cli.fails(*args, other, "--eid", PHONE_EID)
    assert "EID" in cli.fails(*args, code, "--eid", "1234")
    assert "format" in cli.fails(*args, "2$X$Y", "--eid", PHONE_EID)
    assert "not in the inventory" in cli.fails("smdp", "device", "install", smdp_server_iccid())
    assert "Released" in cli.fails("smdp", "device", "install", FIRST)


def test_serve_delivers_notifications_to_the_configured_url(cli: Cli) -> None:
    cli.ok("smdp", "stock", "--type", "phone-5g", "--first-iccid", FIRST)
    code = _released(cli, FIRST)
    operator = Operator(refuse_first=0)
    with served(operator) as url:
        serving_cli = make_cli_like(cli, FAMSIM_SMDP_NOTIFY_URL=url)
        port = _free_port()
        server = subprocess.Popen(
            [str(cli.command), "smdp", "serve", "--port", str(port)],
            env=serving_cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"

            def up() -> bool:
                assert server.poll() is None, server.communicate()
                try:
                    httpx.get(base + "/", timeout=1)
                except httpx.TransportError:
                    return False
                return True

            wait_for(up)
            answer = httpx.post(
                base + "/simulator/device/download",
                json={"activationCode": code, "eid": PHONE_EID},
                timeout=10,
            )
            assert answer.json() == {"iccid": FIRST, "state": "Downloaded"}
            wait_for(lambda: len(operator.calls()) == 1)
        finally:
            server.terminate()
            out, err = server.communicate(timeout=20)
    assert operator.calls()[0][1]["notificationPointId"] == 3
    assert f"progress notifications to {url}" in out
    assert "Traceback" not in err
    assert cli.json("smdp", "notifications")[0]["delivered_at"] is not None


def make_cli_like(cli: Cli, **env: str) -> Cli:
    """Another Cli on the same data directory, with extra settings."""
    return Cli(cli.command, cli.data_dir, env)


def smdp_server_iccid() -> str:
    return str(smdp_server.iccid(99))
