"""A Gy (RFC 4006 credit-control) client nobody here wrote: Erlang/OTP's ``diameter``.

Why: famsim's Diameter Gy server must be tested against a real, strict Diameter stack, not
only against a Python client from the same hands. Erlang/OTP's ``diameter`` application
(Debian's erlang-diameter) encodes and decodes by a dictionary and rejects an answer that
breaks it, e.g. a CCA without a mandatory AVP; the dictionary is RFC 4006's, as Erlang ships it
in erlang-examples. ``scripts/ensure-tools.sh`` installs all of it (erlang-base for erl/erlc,
erlang-diameter for diameterc, erlang-dev for diameter's headers, erlang-examples).

How:
- ``build(cache_dir)`` compiles, into a cache directory and never into the repository,
  the shipped ``rfc4005_nas.dia`` and ``rfc4006_cc.dia`` with diameterc (their
  ``@inherits common`` is pointed at diameter's own RFC 6733 base dictionary, which is what
  "common" means there), then ``erlang/*.erl`` with erlc.
- ``run_scenario(host, port, steps)`` writes the steps as Erlang terms and runs
  ``erl -noshell -run erlang_gy_client main ...`` (erlang/erlang_gy_client.erl): CER/CEA
  advertising Auth-Application-Id 4 and Supported-Vendor-Id 10415, then each step in order
  (``Ccr``, ``DWR``: wait for a watchdog DWR/DWA round, ``DPR``: remove the transport, which
  sends DPR). It returns one dict per JSON line the client printed: the CEA, each CCA as
  diameter decoded it (``result_code``, ``session_id``, ``cc_request_type``,
  ``cc_request_number``, ``mscc``: [{``rating_group``, ``result_code``, ``granted``:
  {``total_octets``, ``time``, ``units``}, ``validity_time``, ``final_unit_action``}],
  ``failed_avp``: [AVP names]), an E-bit answer as ``{"command": "answer-message",
  "result_code": 3xxx, ...}``, or ``{"command": "CCA", "error": ..., "errors": [{"avp": ...,
  "result_code": 5005}]}`` when diameter rejected the answer (a strict client: a CCA missing
  a mandatory AVP such as CC-Request-Number does not decode).
- ``erlang_server(...)`` starts erlang/erlang_gy_server.erl, a minimal Gy peer on the same
  stack, so tests/e2e/diameter/test_erlang_client_harness.py proves the harness on its own;
  it logs what it decoded from each CCR (``ErlangServer.requests()``), which checks what the
  client sends.

In a test module::

    @pytest.fixture(scope="session")
    def erlang_ebin(tmp_path_factory):
        return build_or_skip(tmp_path_factory.mktemp("erlang-gy"))

    answers = run_scenario("127.0.0.1", port, [Ccr("initial", "s1", 0, msccs=[Mscc(10)])],
                           ebin=erlang_ebin)

Missing tools skip the test, or fail it under FAMSIM_REQUIRE_TOOLS=1 (as ``make test`` sets).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

ERLANG_SOURCES = Path(__file__).resolve().parent / "erlang"
DICTIONARY_GLOB = "/usr/lib/erlang/lib/diameter-*/examples/dict"
DICTIONARIES = ("rfc4005_nas", "rfc4006_cc")  # in order: rfc4006_cc inherits rfc4005_nas
TOOLS = ("erl", "erlc", "diameterc")
START_TIMEOUT_S = 20.0

RequestType = Literal["initial", "update", "termination", "event"]


@dataclass(frozen=True)
class Units:
    """Requested-, Used- or Granted-Service-Unit: CC-Total-Octets, CC-Time (s),
    CC-Service-Specific-Units."""

    total_octets: int | None = None
    time: int | None = None
    units: int | None = None


@dataclass(frozen=True)
class Mscc:
    """One Multiple-Services-Credit-Control in a CCR."""

    rating_group: int | None
    requested: Units | None = None
    used: Units | None = None


@dataclass(frozen=True)
class Ccr:
    """A Credit-Control-Request; the Session-Id is ``"<origin host>;<session>"``."""

    type: RequestType
    session: str
    number: int
    subscription_type: int = 1  # 0 END_USER_E164, 1 END_USER_IMSI
    subscription_data: str | None = None
    msccs: Sequence[Mscc] = field(default_factory=tuple)
    service_context: str = "32251@3gpp.org"
    requested_action: int | None = None  # 0 DIRECT_DEBITING
    sgsn_mcc_mnc: str | None = None  # Service-Information > PS-Information > 3GPP-SGSN-MCC-MNC


@dataclass(frozen=True)
class _Marker:
    term: str


DWR = _Marker("{dwr}")  # wait for a watchdog DWR/DWA exchange (use a short tw_ms)
DPR = _Marker("{dpr}")  # disconnect: DPR/DPA


@dataclass(frozen=True)
class Sleep:
    millis: int


Step = Ccr | _Marker | Sleep


class ScenarioError(RuntimeError):
    """The Erlang client did not run the scenario (no connection, CER refused, a crash)."""

    def __init__(self, message: str, answers: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.answers = answers


# --- tools and build -------------------------------------------------------------------------


def tools_required() -> bool:
    return os.environ.get("FAMSIM_REQUIRE_TOOLS", "").strip().lower() in {"1", "true", "yes"}


def dictionary_dir() -> Path | None:
    """Where erlang-examples put diameter's example dictionaries, if it is installed."""
    for candidate in sorted(glob.glob(DICTIONARY_GLOB), reverse=True):
        path = Path(candidate)
        if all((path / f"{name}.dia").is_file() for name in DICTIONARIES):
            return path
    return None


def missing_tools() -> list[str]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if dictionary_dir() is None:
        missing.append("RFC 4006 dictionary (erlang-examples)")
    return missing


def build(cache_dir: Path) -> Path:
    """Compile the dictionaries and the Erlang modules into ``cache_dir``; returns it."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    source_dir = dictionary_dir()
    if source_dir is None:
        raise FileNotFoundError(f"no {DICTIONARIES} dictionaries under {DICTIONARY_GLOB}")
    for name in DICTIONARIES:
        text = (source_dir / f"{name}.dia").read_text(encoding="utf-8")
        # "common" is diameter's RFC 6733 base dictionary, known to diameterc by module name.
        text = text.replace("@inherits common", "@inherits diameter_gen_base_rfc6733")
        (cache_dir / f"{name}.dia").write_text(text, encoding="utf-8")
        _run(["diameterc", "-o", str(cache_dir), "-i", str(cache_dir), f"{name}.dia"], cache_dir)
        _run(["erlc", "-o", str(cache_dir), f"{name}.erl"], cache_dir)
    sources = sorted(str(path) for path in ERLANG_SOURCES.glob("*.erl"))
    _run(["erlc", "-Werror", "-o", str(cache_dir), *sources], cache_dir)
    return cache_dir


def build_or_skip(cache_dir: Path) -> Path:
    """``build``, or skip the test (fail it under FAMSIM_REQUIRE_TOOLS=1) without the tools."""
    missing = missing_tools()
    if missing:
        message = f"missing {', '.join(missing)}: run scripts/ensure-tools.sh"
        if tools_required():
            pytest.fail(f"FAMSIM_REQUIRE_TOOLS is set but {message}", pytrace=False)
        pytest.skip(message)
    return build(cache_dir)


def _run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )


# --- scenario ----------------------------------------------------------------------------------


def run_scenario(
    host: str,
    port: int,
    steps: Sequence[Step],
    *,
    ebin: Path,
    origin_host: str = "erlang-client.test",
    origin_realm: str = "test",
    tw_ms: int = 30_000,
    timeout_s: float = 60.0,
) -> list[dict[str, Any]]:
    """Run ``steps`` with the Erlang client; returns its answers (CEA first).

    Raises ScenarioError when the client could not connect or crashed; an answer that
    diameter rejected is an ``"error"`` entry in the list, not an exception.
    """
    scenario = ebin / f"scenario-{os.getpid()}-{time.monotonic_ns()}.terms"
    scenario.write_text("".join(f"{_term(step)}.\n" for step in steps), encoding="utf-8")
    try:
        result = subprocess.run(
            [
                "erl",
                "-noshell",
                "-pa",
                str(ebin),
                "-run",
                "erlang_gy_client",
                "main",
                host,
                str(port),
                origin_host,
                origin_realm,
                str(scenario),
                str(tw_ms),
            ],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    finally:
        scenario.unlink(missing_ok=True)
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0:
        raise ScenarioError(
            f"erlang_gy_client exited {result.returncode}: {answers}\n{result.stderr[-4000:]}",
            answers,
        )
    return answers


def _term(step: Step) -> str:
    if isinstance(step, _Marker):
        return step.term
    if isinstance(step, Sleep):
        return f"{{sleep, {int(step.millis)}}}"
    fields = {
        "type": step.type,
        "session": _binary(step.session),
        "number": str(int(step.number)),
        "service_context": _binary(step.service_context),
        "msccs": "[" + ", ".join(_mscc(mscc) for mscc in step.msccs) + "]",
    }
    if step.subscription_data is not None:
        fields["subscription"] = (
            f"{{{int(step.subscription_type)}, {_binary(step.subscription_data)}}}"
        )
    if step.requested_action is not None:
        fields["requested_action"] = str(int(step.requested_action))
    if step.sgsn_mcc_mnc is not None:
        fields["sgsn_mcc_mnc"] = _binary(step.sgsn_mcc_mnc)
    return "{ccr, " + _map(fields) + "}"


def _mscc(mscc: Mscc) -> str:
    fields: dict[str, str] = {}
    if mscc.rating_group is not None:
        fields["rating_group"] = str(int(mscc.rating_group))
    if mscc.requested is not None:
        fields["requested"] = _units(mscc.requested)
    if mscc.used is not None:
        fields["used"] = _units(mscc.used)
    return _map(fields)


def _units(units: Units) -> str:
    values = {"total_octets": units.total_octets, "time": units.time, "units": units.units}
    return _map({key: str(int(value)) for key, value in values.items() if value is not None})


def _map(fields: dict[str, str]) -> str:
    return "#{" + ", ".join(f"{key} => {value}" for key, value in fields.items()) + "}"


def _binary(text: str) -> str:
    """An Erlang binary literal of ``text``'s UTF-8 bytes."""
    data = text.encode("utf-8")
    if all(0x20 <= byte < 0x7F and byte not in b'"\\' for byte in data):
        return f'<<"{text}">>'
    return "<<" + ",".join(str(byte) for byte in data) + ">>"


# --- the harness's own peer -------------------------------------------------------------------


@dataclass(frozen=True)
class ErlangServer:
    host: str
    port: int
    origin_host: str
    origin_realm: str
    log_path: Path

    def requests(self) -> list[dict[str, Any]]:
        """What the server decoded from each CCR so far (session_id, cc_request_type,
        subscription_id, mscc [{rating_group, requested, used}], sgsn_mcc_mnc, ...)."""
        lines = self.log_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.startswith('{"') and '"ccr"' in line]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def erlang_server(
    ebin: Path,
    *,
    host: str = "127.0.0.1",
    origin_host: str = "erlang-server.test",
    origin_realm: str = "test",
) -> Iterator[ErlangServer]:
    """erlang/erlang_gy_server.erl on a free loopback port, stopped on exit."""
    port = free_port()
    log_path = ebin / f"erlang_gy_server-{port}.log"
    command = ["erl", "-noshell", "-pa", str(ebin), "-run", "erlang_gy_server", "main"]
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [*command, host, str(port), origin_host, origin_realm],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while '{"event":"listening"' not in log_path.read_text(encoding="utf-8"):
            if process.poll() is not None or time.monotonic() > deadline:
                output = log_path.read_text(encoding="utf-8")
                raise RuntimeError(f"erlang_gy_server did not start listening:\n{output}")
            time.sleep(0.05)
        yield ErlangServer(host, port, origin_host, origin_realm, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
