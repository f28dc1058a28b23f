"""`famsim bench billing`: the benchmark runs from the installed command and prints its table.

A tiny run (50 families, 2,000 usage records): what is checked is that every figure the
issue asks for is printed (the raw SQL aggregate, famsim's closing run, invoices a second,
the ratio, the target) and that the correctness check passed (every family invoiced, a
sample invoice's overage priced by hand); the times themselves are not judged here.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from e2e.cli_runner import Cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SECONDS = r"[\d,]+\.\d{3}"


def test_bench_billing_prints_the_table_and_the_check(make_cli: Callable[..., Cli]) -> None:
    cli = make_cli()

    out = cli.ok("bench", "billing", "--families", "50", "--records", "2000").stdout

    assert "billing benchmark on SQLite (WAL, synchronous=FULL): plan hk-family-5g-100" in out
    assert "setup: 50 families of 4 members, 4 lines and 5 SIMs" in out
    assert "loads through famsim's repositories" in out
    assert "| run | families | records | seconds | invoices/s |" in out
    raw = rf"\| raw SQL aggregate \([\d,]+ groups, baseline\) \| 50 \| 2,000 \| {SECONDS} \| - \|"
    assert re.search(raw, out), out
    ours = (
        r"\| famsim BillingService\.close_due \(1 process\) "
        rf"\| 50 \| 2,000 \| {SECONDS} \| [\d,]+ \|"
    )
    assert re.search(ours, out), out
    assert re.search(r"famsim / raw: [\d,]+\.\dx", out), out
    assert "target <= 10 s for 10,000 families and 1,000,000 records" in out
    check = re.search(
        r"check: 50 invoices stored, 50 issued for 50 families; sample invoice "
        r"INV-\d{4}-\d{6}: (\d+) overage/roaming lines, [\d,]+\.\d\d HKD, against its "
        r"records' overage priced by hand: ok",
        out,
    )
    assert check, out
    assert int(check.group(1)) >= 1  # the sample does have overage to price
    assert "PostgreSQL: skipped" in out
    assert not cli.db_path.exists()  # a scratch database, not FAMSIM_DATA_DIR's


def test_bench_billing_refuses_no_families(make_cli: Callable[..., Cli]) -> None:
    message = make_cli().error("bench", "billing", "--families", "0")

    assert "--families" in message
