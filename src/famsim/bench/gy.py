"""Gy benchmark: ``famsim bench gy`` / ``.venv/bin/python bench/gy.py``.

What it measures: CCR-UPDATE answers per second and their latency on loopback, many
sessions at once, each CCR reporting used units (Multiple-Services-Credit-Control,
Rating-Group 10, Used-Service-Unit) and answered by famsim's Gy server only when the
charge is durable (SQLite, WAL, ``synchronous=FULL``). Next to it, in the same run and on
the same database, the engine's in-process rate: equivalent UPDATE requests submitted to
the same group committer the server uses (``GroupCommitter`` over
``ChargingService.handle_batch``), without Diameter. The ratio Gy / in-process shows what
the protocol costs. Target on the 2-core machine: >= 5,000 CCR/s with p99 <= 20 ms.

Set-up (untimed): a scratch SQLite famsim with ``--families`` one-line families (the
charging benchmark's bulk set-up), one session per line. The server runs

* as ``famsim gy serve`` in a subprocess (the realistic case: its own interpreter and
  GIL, started with ``FAMSIM_GY_*`` settings as an operator would), and
* (``--server both``, the default) in this process too, through ``App.gy_server`` after
  ``gc.freeze()`` as the in-process engine run has.

The load comes from ``--clients`` separate processes (so the gateway's Python does not
share the server's GIL) holding ``--connections`` Diameter connections in all, each with
its own Origin-Host (all allowed as peers): CER, one CCR-INITIAL per session and one
untimed CCR-UPDATE per session (every family in the server's memory), then the timed
``--ops`` CCR-UPDATEs with ``--in-flight`` requests outstanding per connection (a session
never has two). CCRs are encoded once per session by python-diameter's encoder; only the
CC-Request-Number and the hop-by-hop / end-to-end identifiers are patched into the bytes,
and answers are read by walking their AVP headers for Result-Code (the message's and the
MSCC's), so the load generator spends little CPU on this 2-core machine. Latency runs
from a CCR's send to its CCA's arrival. Prints figures only; nothing is asserted.

The load is a closed loop, so latency is about (requests in flight) / rate (Little's law):
the default 8 connections x 8 in flight (64) keeps the mean near 13 ms at the target rate,
inside the p99 budget; more in flight raises the rate only as far as bigger group commits
help, and the latency with it. The printed "Diameter cost per CCR" is 1 / Gy rate - 1 /
in-process rate: what the protocol adds to each request on the server's one interpreter.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import multiprocessing
import os
import queue
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from famsim.bench.charging import Identities, bench_plan, many_families
from famsim.bench.figures import percentile
from famsim.bootstrap import App, bootstrap
from famsim.config import Settings
from famsim.domain.units import Resource
from famsim.service.charging import ChargingAnswer, ChargingRequest, RequestType, ServiceUse
from famsim.service.commands import LoadPlans
from famsim.service.group_commit import SWITCH_INTERVAL, GroupCommitter

SERVING_GC_THRESHOLD = 50_000
"""The youngest generation's threshold ``famsim gy serve`` runs with (gc_tuning.py)."""
TARGET_RATE = 5_000
TARGET_P99_MS = 20.0
USED_OCTETS = 1_000
"""Bytes reported per UPDATE: the pools never run dry, however long the run."""
REQUESTED_OCTETS = 1_000_000
RATING_GROUP = 10
ORIGIN_HOST = "ocs.bench.test"
REALM = "famsim.bench"
GATEWAY_REALM = b"gw.bench"
SUCCESS = 2001

_SESSION_ID, _RESULT_CODE, _CC_REQUEST_NUMBER, _MSCC = 263, 268, 415, 456
_DWR = 280
_SENTINEL = 0x7A5B3C1D


# --------------------------------------------------------------------------- figures
@dataclass
class Run:
    label: str
    ops: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    codes: Counter[int] = field(default_factory=Counter)
    """Result-Code of each answer (2001 only when the MSCC's is 2001 as well)."""

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def percentile(self, p: int) -> float:
        return percentile(self.latencies, p)

    def answers(self) -> str:
        if not self.codes:
            return "-"
        ok = self.codes[SUCCESS]
        others = ", ".join(f"{c}: {n:,}" for c, n in sorted(self.codes.items()) if c != SUCCESS)
        return f"{ok:,} of {self.ops:,} 2001" + (f" ({others})" if others else "")

    def row(self) -> str:
        return (
            f"| {self.label} | {self.rate:,.0f} | {self.percentile(50) * 1e3:.2f} ms | "
            f"{self.percentile(99) * 1e3:.2f} ms | {self.answers()} |"
        )


# ----------------------------------------------------------------------- wire (client)
def _avps(data: bytes | bytearray, start: int, end: int) -> Any:
    """(code, value start, value end) of each AVP between *start* and *end*."""
    at = start
    while at + 8 <= end:
        code = int.from_bytes(data[at : at + 4], "big")
        length = int.from_bytes(data[at + 5 : at + 8], "big")
        head = 12 if data[at + 4] & 0x80 else 8
        yield code, at + head, at + length
        at += (length + 3) & ~3


def result_code(answer: bytes | bytearray) -> int:
    """The CCA's Result-Code; the MSCC's instead when the message's is 2001 and it differs."""
    code = 0
    for avp, begin, end in _avps(answer, 20, len(answer)):
        if avp == _RESULT_CODE:
            code = int.from_bytes(answer[begin:end], "big")
        elif avp == _MSCC:
            for inner, b, e in _avps(answer, begin, end):
                if inner == _RESULT_CODE and code in (0, SUCCESS):
                    mscc = int.from_bytes(answer[b:e], "big")
                    if mscc != SUCCESS:
                        return mscc
    return code


def _ccr(origin_host: str, session_id: str, imsi: str, cc_type: int, number: int) -> bytes:
    from diameter.message.avp.grouped import RequestedServiceUnit, UsedServiceUnit
    from diameter.message.commands import CreditControlRequest

    message = CreditControlRequest()
    message.header.application_id = 4
    message.session_id = session_id
    message.origin_host = origin_host.encode()
    message.origin_realm = GATEWAY_REALM
    message.destination_realm = REALM.encode()
    message.service_context_id = "32251@3gpp.org"
    message.cc_request_type = cc_type
    message.cc_request_number = number
    message.add_subscription_id(1, imsi)  # END_USER_IMSI
    mscc: dict[str, Any] = {
        "rating_group": RATING_GROUP,
        "requested_service_unit": RequestedServiceUnit(cc_total_octets=REQUESTED_OCTETS),
    }
    if cc_type == 2:
        mscc["used_service_unit"] = UsedServiceUnit(cc_total_octets=USED_OCTETS)
    message.add_multiple_services_credit_control(**mscc)
    data: bytes = message.as_bytes()
    return data


def _cer(origin_host: str) -> bytes:
    from diameter.message.commands import CapabilitiesExchangeRequest

    cer = CapabilitiesExchangeRequest()
    cer.header.hop_by_hop_identifier = 1
    cer.header.end_to_end_identifier = 1
    cer.origin_host = origin_host.encode()
    cer.origin_realm = GATEWAY_REALM
    cer.host_ip_address = ["127.0.0.1"]
    cer.vendor_id = 10415
    cer.product_name = "famsim-bench"
    cer.auth_application_id = [4]
    cer.supported_vendor_id = [10415]
    data: bytes = cer.as_bytes()
    return data


def _dwa(request: bytes, origin_host: str) -> bytes:
    from diameter.message import Message
    from diameter.message.commands import DeviceWatchdogAnswer

    dwr = Message.from_bytes(request)
    dwa = DeviceWatchdogAnswer()
    dwa.header.hop_by_hop_identifier = dwr.header.hop_by_hop_identifier
    dwa.header.end_to_end_identifier = dwr.header.end_to_end_identifier
    dwa.result_code = SUCCESS
    dwa.origin_host = origin_host.encode()
    dwa.origin_realm = GATEWAY_REALM
    data: bytes = dwa.as_bytes()
    return data


class _Session:
    __slots__ = ("imsi", "number", "offset", "session_id", "template")

    def __init__(self, session_id: str, imsi: str) -> None:
        self.session_id = session_id
        self.imsi = imsi
        self.number = 0
        self.template = bytearray()
        self.offset = 0

    def prepare(self, origin_host: str) -> None:
        """Encode the UPDATE once; later ones patch the CC-Request-Number in place."""
        self.template = bytearray(_ccr(origin_host, self.session_id, self.imsi, 2, _SENTINEL))
        for code, begin, _ in _avps(self.template, 20, len(self.template)):
            if code == _CC_REQUEST_NUMBER:
                self.offset = begin
        if not self.offset:
            raise RuntimeError("no CC-Request-Number in the encoded CCR")

    def update(self, hop: int) -> bytes:
        self.number += 1
        struct.pack_into(">I", self.template, self.offset, self.number)
        struct.pack_into(">II", self.template, 12, hop, hop)
        return bytes(self.template)


class _Connection:
    def __init__(self, port: int, origin_host: str, sessions: list[_Session]) -> None:
        self.origin_host = origin_host
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sessions = sessions
        self.buffer = bytearray()
        self.hop = 1

    def handshake(self) -> None:
        self.sock.sendall(_cer(self.origin_host))
        code = result_code(self._read_one())
        if code != SUCCESS:
            raise RuntimeError(f"{self.origin_host}: CEA {code}")
        self.sock.setblocking(False)

    def _read_one(self) -> bytes:
        while True:
            message = self.take()
            if message is not None:
                return message
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buffer += chunk

    def take(self) -> bytes | None:
        """One whole message from the buffer, or None."""
        if len(self.buffer) < 4:
            return None
        length = int.from_bytes(self.buffer[1:4], "big")
        if len(self.buffer) < length:
            return None
        message = bytes(self.buffer[:length])
        del self.buffer[:length]
        return message

    def next_hop(self) -> int:
        self.hop += 1
        return self.hop


def _pump(
    connections: list[_Connection], ops_each: int, in_flight: int, kind: str
) -> tuple[list[float], Counter[int]]:
    """Send *ops_each* CCRs per connection (``initial`` or ``update``), *in_flight*
    outstanding per connection, sessions taking turns; latencies and Result-Codes."""
    selector = selectors.DefaultSelector()
    latencies: list[float] = []
    codes: Counter[int] = Counter()
    clock = time.perf_counter
    state: dict[int, Any] = {}
    left = 0

    def make(conn: _Connection, s: _Session) -> tuple[int, bytes]:
        hop = conn.next_hop()
        if kind == "initial":
            data = bytearray(_ccr(conn.origin_host, s.session_id, s.imsi, 1, 0))
            struct.pack_into(">II", data, 12, hop, hop)
            return hop, bytes(data)
        return hop, s.update(hop)

    for conn in connections:
        idle = deque(conn.sessions)
        pending: dict[int, tuple[float, _Session]] = {}
        todo = [ops_each]
        state[conn.sock.fileno()] = (conn, idle, pending, todo)
        selector.register(conn.sock, selectors.EVENT_READ, conn)
        out = []
        for _ in range(min(in_flight, ops_each, len(idle))):
            s = idle.popleft()
            hop, data = make(conn, s)
            pending[hop] = (clock(), s)
            out.append(data)
            todo[0] -= 1
        conn.sock.sendall(b"".join(out))
        left += ops_each
    while left:
        events = selector.select(timeout=30)
        if not events:
            raise TimeoutError(f"no answer for 30 s ({left} outstanding)")
        for key, _ in events:
            conn, idle, pending, todo = state[key.fd]
            chunk = conn.sock.recv(262144)
            if not chunk:
                raise ConnectionError(f"{conn.origin_host}: the server closed the connection")
            conn.buffer += chunk
            out = []
            while (message := conn.take()) is not None:
                now = clock()
                if message[4] & 0x80:  # a request from the server: a DWR, answered
                    if int.from_bytes(message[5:8], "big") == _DWR:
                        out.append(_dwa(message, conn.origin_host))
                    continue
                hop = int.from_bytes(message[12:16], "big")
                sent, s = pending.pop(hop)
                latencies.append(now - sent)
                codes[result_code(message)] += 1
                left -= 1
                idle.append(s)
                if todo[0] > 0:
                    todo[0] -= 1
                    following = idle.popleft()
                    hop, data = make(conn, following)
                    pending[hop] = (clock(), following)
                    out.append(data)
            if out:
                conn.sock.setblocking(True)
                conn.sock.sendall(b"".join(out))
                conn.sock.setblocking(False)
    selector.close()
    return latencies, codes


@dataclass(frozen=True)
class ClientJob:
    port: int
    connections: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    """(Origin-Host, ((Session-Id, IMSI), ...)) of each connection."""
    ops_each: int
    in_flight: int


def client_process(job: ClientJob, barrier: Any, results: Any) -> None:
    """One load-generator process: its connections, set up, then the timed UPDATEs."""
    try:
        connections = []
        for origin_host, sessions in job.connections:
            conn = _Connection(job.port, origin_host, [_Session(i, m) for i, m in sessions])
            conn.handshake()
            for s in conn.sessions:
                s.prepare(origin_host)
            connections.append(conn)
        opened = min(len(c.sessions) for c in connections)
        _, initial = _pump(connections, opened, job.in_flight, "initial")
        _, warm = _pump(connections, opened, job.in_flight, "update")
        if set(initial) | set(warm) != {SUCCESS}:
            raise RuntimeError(f"set-up answers: INITIAL {dict(initial)}, UPDATE {dict(warm)}")
        gc.collect()
        gc.disable()  # a collection here would count as the server's latency
        barrier.wait(timeout=600)
        start = time.perf_counter()
        latencies, codes = _pump(connections, job.ops_each, job.in_flight, "update")
        end = time.perf_counter()
        for conn in connections:
            conn.sock.close()
        results.put(("ok", start, end, latencies, dict(codes)))
    except BaseException as exc:
        barrier.abort()
        results.put(("error", repr(exc)))


def drive_gy(
    label: str, port: int, gateways: Sequence[str], sessions: Sequence[tuple[str, str]], o: Options
) -> Run:
    """Start the client processes on *port*, wait for their figures, merge them."""
    each = len(sessions) // len(gateways)  # the same number on every connection
    per_connection = [tuple(sessions[k * each : (k + 1) * each]) for k in range(len(gateways))]
    conns = list(zip(gateways, per_connection, strict=True))
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(o.clients + 1)
    results = context.Queue()
    ops_each = o.ops // len(gateways)
    jobs = [
        ClientJob(port, tuple(conns[i :: o.clients]), ops_each, o.in_flight)
        for i in range(o.clients)
    ]
    processes = [
        context.Process(target=client_process, args=(job, barrier, results)) for job in jobs
    ]
    for p in processes:
        p.start()
    try:
        outcomes = _outcomes(processes, barrier, results)
    finally:
        for p in processes:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    errors = [o[1] for o in outcomes if o[0] == "error"]
    if errors:
        raise SystemExit(f"{label}: a load generator failed: {errors[0]}")
    codes: Counter[int] = Counter()
    for outcome in outcomes:
        codes.update(outcome[4])
    latencies = [x for outcome in outcomes for x in outcome[3]]
    seconds = max(x[2] for x in outcomes) - min(x[1] for x in outcomes)
    return Run(label, len(latencies), seconds, latencies, codes)


def _outcomes(processes: Sequence[Any], barrier: Any, results: Any) -> list[Any]:
    """Release the clients together once all are set up; then one report from each. A
    client that dies without reporting (killed, failed to start) fails the run at once."""
    outcomes: list[Any] = []
    released = False
    deadline = time.monotonic() + 1800
    while len(outcomes) < len(processes):
        if not released and barrier.n_waiting == len(processes):
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=60)
            released = True
        try:
            outcomes.append(results.get(timeout=0.2))
            continue
        except queue.Empty:
            pass
        if any(p.exitcode not in (None, 0) for p in processes) or time.monotonic() > deadline:
            with contextlib.suppress(Exception):
                outcomes.append(results.get(timeout=1))
            if len(outcomes) < len(processes):
                return [*outcomes, ("error", "a load generator exited without its figures")]
    return outcomes


# -------------------------------------------------------------------------- servers
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for(port: int, process: subprocess.Popen[bytes] | None, log: Path | None) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            exited = process is not None and process.poll() is not None
            if exited or time.monotonic() > deadline:
                detail = log.read_text()[-2000:] if log is not None and log.exists() else ""
                raise SystemExit(f"the Gy server on {port} did not start: {detail}") from None
            time.sleep(0.1)


def _server_env(data_dir: Path, gateways: Sequence[str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAMSIM_")}
    env.update(
        FAMSIM_DATA_DIR=str(data_dir),
        FAMSIM_GY_ORIGIN_HOST=ORIGIN_HOST,
        FAMSIM_GY_ORIGIN_REALM=REALM,
        FAMSIM_GY_PEERS=",".join(gateways),
    )
    return env


def gy_subprocess(data_dir: Path, gateways: Sequence[str], sessions: list[Any], o: Options) -> Run:
    """``famsim gy serve`` in its own process, stopped with Ctrl-C (SIGINT) afterwards."""
    port = _free_port()
    log = data_dir / "gy-serve.log"
    serve = [
        sys.executable,
        "-c",
        "import sys; from famsim.entrypoints.cli import main; "
        f"sys.argv = ['famsim', 'gy', 'serve', '--port', '{port}']; main()",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            serve,
            env=_server_env(data_dir, gateways),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        _wait_for(port, process, log)
        label = f"Gy, `famsim gy serve` subprocess ({o.connections} conns x {o.in_flight})"
        return drive_gy(label, port, gateways, sessions, o)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def gy_in_process(app: App, gateways: Sequence[str], sessions: list[Any], o: Options) -> Run:
    """``App.gy_server`` in this process (its event-loop thread and its writer thread
    share this interpreter), with the garbage collector tuned as ``famsim gy serve`` tunes
    it; the load still comes from the client processes."""
    port = _free_port()
    server = app.gy_server(host="127.0.0.1", port=port)
    threshold = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(SERVING_GC_THRESHOLD, *threshold[1:])
    server.start()
    try:
        _wait_for(port, None, None)
        label = f"Gy, server in this process ({o.connections} conns x {o.in_flight})"
        return drive_gy(label, port, gateways, sessions, o)
    finally:
        server.stop(timeout=2)
        gc.set_threshold(*threshold)


# --------------------------------------------------------------------- in-process run
def _request(session: list[Any], kind: RequestType) -> ChargingRequest:
    used = USED_OCTETS if kind is RequestType.UPDATE else None
    if kind is RequestType.UPDATE:
        session[2] += 1
    use = ServiceUse(Resource.DATA, requested=REQUESTED_OCTETS, used=used)
    return ChargingRequest(session[0], session[2], kind, session[1], (use,))


def engine_run(
    committer: GroupCommitter, sessions: list[list[Any]], ops: int, in_flight: int
) -> Run:
    """*ops* UPDATEs through the committer, *in_flight* outstanding, sessions taking turns."""
    idle = deque(sessions)
    lock = threading.Lock()
    done = threading.Event()
    latencies: list[float] = []
    codes: Counter[int] = Counter()
    counts = {"sent": 0, "answered": 0}
    errors: list[BaseException] = []

    def send() -> None:
        with lock:
            if counts["sent"] >= ops or not idle:
                return
            counts["sent"] += 1
            s = idle.popleft()
        since = time.perf_counter()
        future = committer.submit(_request(s, RequestType.UPDATE))
        future.add_done_callback(lambda f: answered(f.result, s, since))

    def answered(result: Any, s: list[Any], since: float) -> None:
        try:
            answer: ChargingAnswer = result()
        except BaseException as exc:
            errors.append(exc)
            done.set()
            return
        now = time.perf_counter()
        ok = answer.outcome == "success" and answer.services[0].outcome == "success"
        with lock:
            latencies.append(now - since)
            codes[SUCCESS if ok else 0] += 1
            counts["answered"] += 1
            idle.append(s)
            if counts["answered"] >= ops:
                done.set()
        send()

    start = time.perf_counter()
    for _ in range(min(in_flight, ops, len(sessions))):
        send()
    done.wait()
    if errors:
        raise RuntimeError(f"a request failed: {errors[0]!r}") from errors[0]
    return Run("", ops, time.perf_counter() - start, latencies, codes)


def in_process(app: App, imsis: Sequence[str], o: Options) -> Run:
    """The engine alone: INITIAL and one warm-up UPDATE per session (untimed), then the
    timed UPDATEs, the same in-flight total as the Gy load."""
    sessions: list[list[Any]] = [[f"engine;{i}", imsi, 0] for i, imsi in enumerate(imsis)]
    total = o.connections * o.in_flight
    with GroupCommitter(app.charging) as committer:
        for future in [committer.submit(_request(s, RequestType.INITIAL)) for s in sessions]:
            if future.result().outcome != "success":
                raise SystemExit("the in-process run could not open its sessions")
        engine_run(committer, sessions, len(sessions), total)
        gc.collect()
        gc.freeze()
        run = engine_run(committer, sessions, o.ops, total)
    run.label = f"engine in-process, group commit ({total} in flight, no Diameter)"
    return run


# ---------------------------------------------------------------------------- the run
@dataclass
class Options:
    families: int = 10_000
    connections: int = 8
    in_flight: int = 8
    ops: int = 50_000
    clients: int = 1
    server: str = "both"

    def command(self) -> str:
        return (
            f"famsim bench gy --families {self.families} --connections {self.connections} "
            f"--in-flight {self.in_flight} --ops {self.ops} --clients {self.clients} "
            f"--server {self.server}"
        )


def _setup(app: App, families: int) -> list[str]:
    app.initialise()
    app.bus.handle(LoadPlans(tuple(app.read_catalog())))
    plan = bench_plan(app, pool_units=10**15)
    return many_families(app, Identities(), families, plan)


def report(engine: Run, runs: Sequence[Run], o: Options) -> None:
    print(
        f"\n{o.ops:,} CCR-UPDATEs per run (used {USED_OCTETS:,} octets each), {o.families:,} "
        f"sessions, {o.connections} connections x {o.in_flight} in flight, "
        f"{o.clients} load-generator process(es)\n"
    )
    print("| run | CCR/s | p50 | p99 | answers |")
    print("|---|---|---|---|---|")
    print(engine.row())
    for run in runs:
        print(run.row())
    print()
    for run in runs:
        ratio = run.rate / engine.rate if engine.rate else 0.0
        rate_ok = run.rate >= TARGET_RATE
        p99_ok = run.percentile(99) * 1e3 <= TARGET_P99_MS
        extra = 1e6 / run.rate - 1e6 / engine.rate if run.rate and engine.rate else 0.0
        print(
            f"{run.label}: Gy rate / in-process rate = {ratio:.2f} "
            f"(Diameter cost per CCR: {extra:,.0f} us)"
        )
        print(
            f"  target >= {TARGET_RATE:,} CCR/s: {'met' if rate_ok else 'NOT met'} "
            f"({run.rate:,.0f}); p99 <= {TARGET_P99_MS:.0f} ms: "
            f"{'met' if p99_ok else 'NOT met'} ({run.percentile(99) * 1e3:.2f} ms)"
        )
    print(f"\ncommand: {o.command()}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    d = Options()
    p.add_argument("--families", type=int, default=d.families, help="one line and session each")
    p.add_argument("--connections", type=int, default=d.connections, help="gateway connections")
    p.add_argument("--in-flight", type=int, default=d.in_flight, help="CCRs per connection")
    p.add_argument("--ops", type=int, default=d.ops, help="timed CCR-UPDATEs per run")
    p.add_argument("--clients", type=int, default=d.clients, help="load-generator processes")
    p.add_argument(
        "--server",
        choices=("subprocess", "in-process", "both"),
        default=d.server,
        help="where the Gy server runs",
    )
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    o = Options(
        args.families, args.connections, args.in_flight, args.ops, args.clients, args.server
    )
    if o.connections < 1 or o.in_flight < 1 or o.clients < 1:
        raise SystemExit("--connections, --in-flight and --clients must be at least 1")
    if o.clients > o.connections:
        raise SystemExit("--clients cannot exceed --connections")
    if o.families < o.connections * o.in_flight:
        raise SystemExit("--families must be at least --connections x --in-flight")
    if o.ops < o.connections:
        raise SystemExit("--ops must be at least --connections")
    o.ops -= o.ops % o.connections  # the same count on every connection
    sys.setswitchinterval(SWITCH_INTERVAL)
    gateways = [f"pgw{k + 1}.gw.bench" for k in range(o.connections)]
    with tempfile.TemporaryDirectory(prefix="famsim-bench-gy-") as tmp:
        data_dir = Path(tmp)
        settings = Settings(
            data_dir=data_dir,
            gy_origin_host=ORIGIN_HOST,
            gy_origin_realm=REALM,
            gy_peers=",".join(gateways),
        )
        app = bootstrap(settings)
        try:
            print(
                f"Gy benchmark on SQLite (WAL, synchronous=FULL), {os.cpu_count()} CPUs",
                flush=True,
            )
            started = time.perf_counter()
            imsis = _setup(app, o.families)
            print(
                f"setup: {o.families:,} families of 1 line (bulk) in "
                f"{time.perf_counter() - started:.1f} s",
                flush=True,
            )
            runs = []
            if o.server in ("subprocess", "both"):
                sessions = [(f"sub;{i}", imsi) for i, imsi in enumerate(imsis)]
                runs.append(gy_subprocess(data_dir, gateways, sessions, o))
                print(runs[-1].row(), flush=True)
            engine = in_process(app, imsis, o)
            print(engine.row(), flush=True)
            if o.server in ("in-process", "both"):
                sessions = [(f"inp;{i}", imsi) for i, imsi in enumerate(imsis)]
                runs.append(gy_in_process(app, gateways, sessions, o))
                print(runs[-1].row(), flush=True)
        finally:
            gc.unfreeze()
            app.close()
        report(engine, runs, o)


if __name__ == "__main__":
    main()
