"""How long `famsim demo` takes to serve its first page (the issue's budget: 10 s once
installed), first on a fresh data directory (setting up, 9 days of traffic simulated)
and then again on the same data, next to the bare cost of starting the command
(`famsim --help`) measured in the same run.

    .venv/bin/python bench/demo.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

BUDGET_S = 10.0
TIMEOUT_S = 120.0
FAMSIM = Path(sys.executable).with_name("famsim")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def first_page_s(data_dir: Path) -> float:
    """Seconds from starting `famsim demo` to its /login answering 200."""
    port = free_port()
    env = os.environ | {"FAMSIM_DATA_DIR": str(data_dir)}
    began = time.perf_counter()
    process = subprocess.Popen(
        [str(FAMSIM), "demo", "--port", str(port), "--speed", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while time.perf_counter() - began < TIMEOUT_S:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - began
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if process.poll() is not None:
                raise SystemExit(f"famsim demo exited with {process.returncode}")
            time.sleep(0.05)
        raise SystemExit("famsim demo did not serve within the timeout")
    finally:
        process.terminate()
        process.wait(timeout=30)


def command_start_s() -> float:
    began = time.perf_counter()
    subprocess.run([str(FAMSIM), "--help"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args(argv).runs
    fresh, again, bare = [], [], []
    for _ in range(runs):
        scratch = Path(tempfile.mkdtemp(prefix="famsim-demo-bench-"))
        try:
            fresh.append(first_page_s(scratch / "data"))
            again.append(first_page_s(scratch / "data"))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        bare.append(command_start_s())
    base = statistics.median(bare)
    print(f"famsim demo, first page served (median of {runs}, budget {BUDGET_S:.0f} s):")
    for name, times in (("fresh data directory", fresh), ("data already set up", again)):
        median = statistics.median(times)
        verdict = "within" if median <= BUDGET_S else "OVER"
        print(
            f"  {name:<22} {median:6.2f} s  ({median / base:4.1f}x the bare command start,"
            f" {verdict} budget)"
        )
    print(f"  {'famsim --help (baseline)':<22} {base:6.2f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
