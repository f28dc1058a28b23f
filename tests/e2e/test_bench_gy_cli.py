"""`famsim bench gy`: the Gy benchmark runs from the installed command and prints its table.

A tiny run (32 families, 2 connections x 4 in flight, 200 timed CCR-UPDATEs per run): what
is checked is that every figure issue 8 asks for is printed (the Gy rate and p50 / p99
next to the engine's in-process rate, the ratio, the target, the command) and that every
answer, over Diameter and in process, was 2001; the figures themselves are not judged.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from e2e.cli_runner import Cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FIGURES = r"\| [\d,]+ \| \d+\.\d\d ms \| \d+\.\d\d ms \| 200 of 200 2001 \|"


def test_bench_gy_prints_the_table_and_every_answer_is_2001(
    make_cli: Callable[..., Cli],
) -> None:
    cli = make_cli()
    args = ("--families", "32", "--connections", "2", "--in-flight", "4", "--ops", "200")

    out = cli.ok("bench", "gy", *args).stdout

    assert "Gy benchmark on SQLite (WAL, synchronous=FULL)" in out
    assert "setup: 32 families of 1 line (bulk)" in out
    table = out[out.index("| run | CCR/s | p50 | p99 | answers |") :].split("\n\n")[0]
    rows = table.splitlines()[2:]  # below the header and its |---| line
    assert len(rows) == 3, out
    labels = [
        r"engine in-process, group commit \(8 in flight, no Diameter\)",
        r"Gy, `famsim gy serve` subprocess \(2 conns x 4\)",
        r"Gy, server in this process \(2 conns x 4\)",
    ]
    for row, label in zip(rows, labels, strict=True):
        assert re.fullmatch(rf"\| {label} {FIGURES}", row), row
    for server in ("`famsim gy serve` subprocess", "server in this process"):
        assert re.search(
            rf"Gy, {server} \(2 conns x 4\): Gy rate / in-process rate = \d+\.\d\d "
            r"\(Diameter cost per CCR: -?[\d,]+ us\)",
            out,
        ), out
    targets = re.findall(
        r"target >= 5,000 CCR/s: (met|NOT met) \([\d,]+\); p99 <= 20 ms: (met|NOT met) "
        r"\(\d+\.\d\d ms\)",
        out,
    )
    assert len(targets) == 2, out
    assert (
        "command: famsim bench gy --families 32 --connections 2 --in-flight 4 --ops 200 "
        "--clients 1 --server both" in out
    )
    assert not cli.db_path.exists()  # a scratch database, not FAMSIM_DATA_DIR's
