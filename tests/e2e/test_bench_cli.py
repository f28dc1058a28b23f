"""`famsim bench charging`: the benchmark runs from the installed command and prints its rows.

A tiny run (100 UPDATEs, 3 families): what is checked is that every figure the issue asks
for is printed (raw baseline, engine, group commit, paced, the ratio) for both shapes and
that the user's data directory is left alone; the rates themselves are not judged here.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from e2e.cli_runner import Cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RATE = r"[\d,]+ ops/s  p50 +[\d.]+ ms  p99 +[\d.]+ ms"


def test_bench_charging_prints_every_figure(make_cli: Callable[..., Cli]) -> None:
    cli = make_cli()

    out = cli.ok("bench", "charging", "--ops", "100", "--families", "3").stdout

    assert "charging benchmark on SQLite (WAL, synchronous=FULL)" in out
    for shape in ("(a) one hot family, 6 members", "(b) 3 families, one line each"):
        section = out.split(shape, 1)[1]
        for row in (
            "raw SQL, one transaction per event (baseline)",
            "engine, one request per transaction",
            "engine, group commit, 256 in flight",
            "engine, group commit, paced at 80 %",
        ):
            assert re.search(re.escape(row) + r".*?" + RATE, section), (row, section)
        assert re.search(r"engine \(group commit\) / raw baseline: \d+\.\d\d", section)
    assert "PostgreSQL: skipped" in out
    assert not cli.db_path.exists()  # it ran in a scratch database, not in FAMSIM_DATA_DIR


def test_bench_charging_refuses_a_run_too_small_to_measure(make_cli: Callable[..., Cli]) -> None:
    message = make_cli().error("bench", "charging", "--ops", "5")

    assert "--ops" in message
    assert "100" in message
