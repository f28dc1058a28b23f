"""``famsim gy serve``, the installed command: it answers a gateway on the port it is
given, reads the FAMSIM_GY_* settings, stops cleanly on Ctrl-C, and refuses a bad
rating-group mapping with the one-line user error."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from e2e.cli_runner import Cli
from e2e.diameter.gy_wire import GATEWAY, REALM, Gateway, ccr, free_port

pytestmark = pytest.mark.e2e


def wait_for_port(port: int, process: subprocess.Popen[str], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"famsim gy serve exited: {process.communicate()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port} after {seconds} s")


def test_serve_answers_and_stops_on_ctrl_c(
    make_cli: Callable[..., Cli], tmp_path: Path, famsim_command: Path
) -> None:
    cli = make_cli(
        tmp_path / "data",
        FAMSIM_GY_PEERS=GATEWAY,
        FAMSIM_GY_ORIGIN_HOST="ocs.cli.test",
        FAMSIM_GY_ORIGIN_REALM=REALM,
    )
    cli.ok("init")
    port = free_port()
    process = subprocess.Popen(
        [str(famsim_command), "gy", "serve", "--port", str(port)],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        gateway = Gateway(port)
        try:
            cea = gateway.cer()
            assert (cea.result_code, cea.origin_host) == (2001, b"ocs.cli.test")
            answer = gateway.exchange(ccr("pgw1.gw.test;cli;1", 1, 0, "85291239999"))
            assert (answer.result_code, answer.cc_request_number) == (5030, 0)
        finally:
            gateway.close()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert f"famsim Gy on 127.0.0.1:{port} as ocs.cli.test" in stdout
    assert "Traceback" not in stderr


def test_a_bad_rating_group_mapping_is_a_user_error(
    make_cli: Callable[..., Cli], tmp_path: Path
) -> None:
    cli = make_cli(tmp_path / "data", FAMSIM_RATING_GROUPS="10=video")
    cli.ok("init")
    assert "'video' is not one of" in cli.error("gy", "serve", "--port", str(free_port()))


def test_a_port_in_use_is_a_user_error(make_cli: Callable[..., Cli], tmp_path: Path) -> None:
    cli = make_cli(tmp_path / "data")
    cli.ok("init")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        message = cli.error("gy", "serve", "--port", str(port))
    assert f"cannot listen on 127.0.0.1:{port}" in message
    assert "in use" in message
