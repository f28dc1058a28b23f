"""`famsim billing` as installed: close (idempotent), show, credit, split and advise on
the demo's data, and bad input refused with one line and nothing changed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from e2e.cli_runner import Cli


def test_close_show_credit_split_and_advise(make_cli: Callable[..., Cli]) -> None:
    cli = make_cli()
    cli.ok("demo", "--no-serve")
    today = datetime.now(UTC).date()
    assert "nothing invoiced" in cli.ok("billing", "close", "--at", today.isoformat()).stdout
    later = (today + timedelta(days=70)).isoformat()  # the demo's cycle began 9 days ago
    invoices = cli.json("billing", "close", "--family", "Chan family", "--at", later)
    assert len(invoices) in (2, 3)
    issued = invoices[0]
    assert issued["number"].endswith("-000001")
    assert sum(line["minor"] for line in issued["lines"]) == issued["total_minor"]
    assert cli.json("billing", "close", "--at", later) == []  # nothing left due

    number = issued["number"]
    shown = cli.ok("billing", "show", number).stdout
    assert "plan fee" in shown
    assert "Chan Tai Man" in shown
    credited = cli.ok("billing", "credit", number, "10.00", "--reason", "goodwill").stdout
    assert "credit note CN-" in credited
    assert cli.json("billing", "show", number, "--json")["credit_notes"][0]["minor"] == 1000

    assert "left to credit" in cli.fails("billing", "credit", number, "99999.00", "--reason", "x")
    assert "add up to 60" in cli.fails(
        "billing", "split", "Chan family", "custom", "--share", "Chan Tai Man=60"
    )
    assert "no member called" in cli.fails(
        "billing", "split", "Chan family", "custom", "--share", "Nobody=100"
    )
    cli.ok("billing", "split", "Chan family", "equal")
    advice = cli.json("billing", "advise", "Chan family")
    assert advice["current_plan"] == "hk-family-5g-100"
    assert "advice:" in cli.ok("billing", "advise", "Chan family").stdout


def test_rebalance_policy_and_a_run_now(make_cli: Callable[..., Cli]) -> None:
    cli = make_cli()
    cli.ok("demo", "--no-serve")
    shown = cli.ok(
        "billing",
        "rebalance",
        "Chan family",
        "--auto",
        "--bound",
        "Chan Ka Ho:data:home=5GB..25GB",
        "--now",
    ).stdout
    assert "auto-rebalance: on" in shown
    assert "5 GB .. 25 GB" in shown
    assert "nothing to move" in shown or "moved " in shown
    assert (
        "auto-rebalance: off" in cli.ok("billing", "rebalance", "Chan family", "--no-auto").stdout
    )
    assert "MIN..MAX" in cli.fails(
        "billing", "rebalance", "Chan family", "--bound", "Chan Ka Ho:data:home=5GB"
    )
    assert "no member called" in cli.fails(
        "billing", "rebalance", "Chan family", "--bound", "Nobody:data:home=1GB..2GB"
    )
