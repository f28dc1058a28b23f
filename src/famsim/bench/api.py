"""REST charging benchmark: ``famsim bench api`` / ``.venv/bin/python bench/api.py``.

What it measures: UPDATE requests with used units on ``POST /v1/charging/update`` under
32 concurrent keep-alive connections on loopback, each answered only once durable (the
API charges through the group committer, on SQLite by default). Next to it, in the same
run, a bare endpoint of the same framework (FastAPI under uvicorn) that does no work: the
ratio shows what famsim's own code costs. Target on the 2-core machine: >= 3,000
requests/s with p99 <= 25 ms.

Both servers run as separate processes started here (``famsim serve`` and
``famsim.bench.bare_api``); the load comes from this process. The load generator is
written by hand: a few lines of asyncio speaking HTTP/1.1 with pre-built requests, because
the Python HTTP clients (httpx, aiohttp) spend more CPU per request than the server under
test, and an external tool (wrk) may not be installed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from famsim.bench.charging import Identities, bench_plan, many_families
from famsim.bench.figures import percentile
from famsim.bootstrap import bootstrap
from famsim.config import Settings
from famsim.domain.access import Scope
from famsim.service.commands import LoadPlans

CONNECTIONS = 32
TARGET_RATE = 3_000
TARGET_P99_MS = 25.0
USED_PER_UPDATE = 1_000  # bytes reported per update: the pools never run dry


@dataclass
class Run:
    label: str
    requests: int
    seconds: float
    latencies_ms: list[float]
    failures: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: int) -> float:
        return percentile(self.latencies_ms, p)

    def line(self) -> str:
        return (
            f"| {self.label} | {self.rate:,.0f} req/s | {self.percentile(50):.1f} ms | "
            f"{self.percentile(99):.1f} ms | {self.failures} |"
        )


# ---------------------------------------------------------------------- load generator
async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return status, body


def _request(port: int, path: str, body: bytes, token: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _drive(
    port: int, per_connection: Sequence[Callable[[int], bytes]], count: int
) -> tuple[list[float], int, float]:
    """Send *count* requests per connection, one at a time each; latencies and failures."""
    latencies: list[float] = []
    failures = 0

    async def one(make: Callable[[int], bytes]) -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in range(count):
                data = make(i)
                began = time.perf_counter()
                writer.write(data)
                status, _ = await _read_response(reader)
                latencies.append((time.perf_counter() - began) * 1000)
                if status != 200:
                    failures += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one(make) for make in per_connection))
    return latencies, failures, time.perf_counter() - started


def measure(
    label: str, port: int, per_connection: Sequence[Callable[[int], bytes]], count: int
) -> Run:
    # The load generator's own cyclic garbage collections (a full one took ~50 ms here)
    # would stall every connection and count as the server's latency: off while timing.
    gc.collect()
    gc.disable()
    try:
        latencies, failures, seconds = asyncio.run(_drive(port, per_connection, count))
    finally:
        gc.enable()
    return Run(label, len(latencies), seconds, latencies, failures)


# ---------------------------------------------------------------------------- servers
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start(argv: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                _, err = process.communicate(timeout=5)
                raise SystemExit(f"server {argv} did not start: {err.decode()[-2000:]}") from None
            time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


# ---------------------------------------------------------------------------- the run
def _setup(data_dir: Path, families: int) -> tuple[list[str], str]:
    """Families with one line each and an operator key with the charging scope."""
    app = bootstrap(Settings(data_dir=data_dir))
    try:
        app.initialise()
        app.bus.handle(LoadPlans(tuple(app.read_catalog())))
        plan = bench_plan(app, pool_units=10**15)
        imsis = many_families(app, Identities(), families, plan)
        key, _ = app.accounts().create_api_key("bench", [Scope.CHARGING])
    finally:
        app.close()
    return imsis, key


def _open_sessions(port: int, token: str, imsis: Sequence[str], prefix: str) -> None:
    """One INITIAL per session, untimed: every later UPDATE has a grant to report on."""
    body = [
        _request(
            port,
            "/v1/charging/reserve",
            json.dumps(
                {
                    "session_id": f"{prefix}-{imsi}",
                    "request_number": 0,
                    "subscriber": imsi,
                    "services": [{"resource": "data"}],
                }
            ).encode(),
            token,
        )
        for imsi in imsis
    ]
    groups = [body[k::CONNECTIONS] for k in range(CONNECTIONS)]
    makers = [(lambda i, g=g: g[i]) for g in groups if g]
    count = min(len(g) for g in groups if g)
    run = measure("open", port, makers, count)
    if run.failures:
        raise SystemExit(f"{run.failures} sessions could not be opened")


def _updates(
    port: int, token: str, imsis: Sequence[str], prefix: str
) -> list[Callable[[int], bytes]]:
    """Per connection: UPDATEs cycling over its own sessions, request numbers counting up."""
    makers: list[Callable[[int], bytes]] = []
    for k in range(CONNECTIONS):
        mine = list(imsis[k::CONNECTIONS])
        numbers = dict.fromkeys(mine, 0)

        def make(i: int, mine: list[str] = mine, numbers: dict[str, int] = numbers) -> bytes:
            imsi = mine[i % len(mine)]
            numbers[imsi] += 1
            body = (
                f'{{"session_id":"{prefix}-{imsi}","request_number":{numbers[imsi]},'
                f'"subscriber":"{imsi}","services":[{{"resource":"data",'
                f'"used":{USED_PER_UPDATE},"requested":1000000}}]}}'
            ).encode()
            return _request(port, "/v1/charging/update", body, token)

        makers.append(make)
    return makers


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000, help="per connection")
    parser.add_argument("--families", type=int, default=CONNECTIONS * 8)
    args = parser.parse_args(argv)
    if args.families < CONNECTIONS:
        raise SystemExit(f"--families must be at least {CONNECTIONS}")
    data_dir = Path(tempfile.mkdtemp(prefix="famsim-bench-api-"))
    try:
        print(f"setting up {args.families} families on SQLite ({data_dir}) ...", flush=True)
        imsis, token = _setup(data_dir, args.families)
        env = {**os.environ, "FAMSIM_DATA_DIR": str(data_dir)}
        env.pop("FAMSIM_DATABASE_URL", None)
        bare_port, api_port = _free_port(), _free_port()
        bare = _start(
            [sys.executable, "-m", "famsim.bench.bare_api", "--port", str(bare_port)],
            env,
            bare_port,
        )
        serve = [
            sys.executable,
            "-c",
            "import sys; from famsim.entrypoints.cli import main; "
            f"sys.argv = ['famsim', 'serve', '--port', '{api_port}']; main()",
        ]
        api = _start(serve, env, api_port)
        try:
            warm = max(50, args.requests // 10)
            measure("warm-up", bare_port, _bare(bare_port, token), warm)
            bare_run = measure(
                "bare FastAPI endpoint (no work)", bare_port, _bare(bare_port, token), args.requests
            )
            _open_sessions(api_port, token, imsis, "bench")
            makers = _updates(api_port, token, imsis, "bench")
            measure("warm-up", api_port, makers, warm)
            famsim_run = measure(
                "famsim charging update (durable)", api_port, makers, args.requests
            )
        finally:
            _stop(api)
            _stop(bare)
        report(bare_run, famsim_run)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


BARE_BODY = json.dumps(
    {
        "session_id": "s",
        "request_number": 1,
        "subscriber": "454000000000001",
        "services": [{"resource": "data", "used": USED_PER_UPDATE}],
    }
).encode()


def _bare(port: int, token: str) -> list[Callable[[int], bytes]]:
    """The same request, over and over: the bare endpoint does not look at it."""
    request = _request(port, "/v1/charging/update", BARE_BODY, token)

    def make(_: int) -> bytes:
        return request

    return [make] * CONNECTIONS


def report(bare: Run, famsim: Run) -> None:
    print(f"\n{CONNECTIONS} keep-alive connections on loopback, one request at a time each\n")
    print("| endpoint | rate | p50 | p99 | failures |")
    print("|---|---|---|---|---|")
    print(bare.line())
    print(famsim.line())
    ratio = famsim.rate / bare.rate if bare.rate else 0.0
    print(f"\nfamsim / bare: {ratio:.2f} of the framework's own rate")
    rate_ok = famsim.rate >= TARGET_RATE
    p99_ok = famsim.percentile(99) <= TARGET_P99_MS
    print(
        f"target >= {TARGET_RATE:,} req/s: {'met' if rate_ok else 'NOT met'}; "
        f"p99 <= {TARGET_P99_MS:.0f} ms: {'met' if p99_ok else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
