"""`famsim simulate` from the installed command: simulated families charged on the data
directory's database, a summary on stdout, usage that `famsim family show` then shows, the
same traffic for the same seed, and one-line errors for bad options."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from e2e.cli_runner import Cli, Result, copy_data_dir

pytestmark = pytest.mark.e2e

START = "2026-02-02T08:00+08:00"  # a Monday morning in Hong Kong


def initialised(make_cli: Callable[..., Cli], source: tuple[Path, Result], dest: Path) -> Cli:
    return make_cli(copy_data_dir(source[0], dest))


def summary(out: str) -> str:
    """The summary without its last line (real time and the rate vary)."""
    tables = out[out.index("Requests") :]
    return tables.rsplit("\n", 2)[0]


def test_simulate_two_families_for_a_day(
    make_cli: Callable[..., Cli], initialised_dir: tuple[Path, Result], tmp_path: Path
) -> None:
    cli = initialised(make_cli, initialised_dir, tmp_path / "data")

    out = cli.ok("simulate", "--families", "2", "--days", "1", "--seed", "7").stdout

    assert "Simulating 2 families (12 devices)" in out
    assert "seed 7, as fast as possible" in out
    for title in ("Requests", "Answers by outcome", "Units", "Personas"):
        assert title in out
    for persona in ("teen_streamer", "parent_voice", "child_watch", "tablet", "traveller"):
        assert persona in out
    requests = int(re.search(r"│ all\s+│ (\d+)", out).group(1))  # type: ignore[union-attr]
    assert requests > 100
    assert re.search(rf"{requests} requests in \d+ batches, [\d.]+ s: \d+ requests per real", out)

    families = {f["name"] for f in cli.json("family", "list")}
    assert families == {"Sim family 001", "Sim family 002"}
    detail = cli.json("family", "show", "Sim family 001")
    used = {(p["resource"], p["zone"]): p["used"] for p in detail["cycle"]["pools"]}
    assert used["data", "home"] > 0
    assert used["data", "greater-china"] > 0  # its adult travels
    assert used["voice", "home"] > 0

    # An existing family by name, beside no new ones: it gets six devices of traffic.
    out = cli.ok(
        "simulate", "--families", "0", "--family", "Sim family 002", "--days", "0.1"
    ).stdout
    assert "Simulating 1 family (6 devices)" in out
    assert len(cli.json("family", "list")) == 2


def test_the_same_seed_and_start_make_the_same_traffic(
    make_cli: Callable[..., Cli], initialised_dir: tuple[Path, Result], tmp_path: Path
) -> None:
    args = ("simulate", "--families", "1", "--days", "0.5", "--seed", "3", "--start", START)
    first = initialised(make_cli, initialised_dir, tmp_path / "one")
    second = initialised(make_cli, initialised_dir, tmp_path / "two")

    out = first.ok(*args).stdout

    assert "from 2026-02-02 00:00 UTC to 2026-02-02 12:00 UTC" in out
    assert summary(second.ok(*args).stdout) == summary(out)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--days", "0"), "--days must be more than 0"),
        (("--speed", "-1"), "--speed must be 0"),
        (("--start", "next tuesday"), "invalid --start 'next tuesday'"),
        (("--families", "0"), "nothing to simulate"),
        (("--family", "No such family"), "no family 'No such family'"),
    ],
    ids=["no-days", "negative-speed", "bad-start", "nothing", "unknown"],
)
def test_bad_options_are_one_line_errors_and_change_nothing(
    make_cli: Callable[..., Cli],
    initialised_dir: tuple[Path, Result],
    tmp_path: Path,
    args: tuple[str, ...],
    expected: str,
) -> None:
    cli = initialised(make_cli, initialised_dir, tmp_path / "data")

    assert expected in cli.fails("simulate", *args)


def test_simulate_needs_an_initialised_database(make_cli: Callable[..., Cli]) -> None:
    assert "famsim init" in make_cli().error("simulate")
