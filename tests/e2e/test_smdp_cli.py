"""`famsim smdp stock|list|serve`: the built-in SM-DP+ from the installed command."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from e2e.cli_runner import Cli

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
