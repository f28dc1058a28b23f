"""``famsim webhooks add|list|disable|deliver`` from the installed command.

The endpoint is a receiver served on loopback in this process; an event is put in the
outbox of the command's own database, and ``famsim webhooks deliver`` sends it: the
receiver's first 500 leaves it pending, a later ``deliver`` gets it through with the same
key and body, signed with the secret ``add`` printed once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from e2e.cli_runner import Cli
from famsim.bootstrap import bootstrap
from famsim.config import Settings
from famsim.demo import create_demo_family
from smdp_server import served
from webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e
DEADLINE_S = 30.0


@pytest.fixture
def cli(make_cli: Callable[..., Cli]) -> Cli:
    cli = make_cli()
    cli.ok("init")
    return cli


def add_event(cli: Cli) -> str:
    """The demo family and one invitation event in the command's database."""
    app = bootstrap(Settings(data_dir=cli.data_dir))
    try:
        family_id = str(create_demo_family(app.bus))
        with app.uow() as uow:
            uow.outbox.add(family_id, "invitation.sent", {"to": "+85291230009"}, datetime.now(UTC))
            uow.commit()
    finally:
        app.close()
    return family_id


def deliver_until_delivered(cli: Cli) -> list[dict[str, Any]]:
    """Run ``deliver`` until an attempt delivers (the retry is 1 s away); every attempt."""
    attempts: list[dict[str, Any]] = []
    deadline = time.monotonic() + DEADLINE_S
    while not any(a["delivered"] for a in attempts):
        assert time.monotonic() < deadline, "timed out (a hang guard, not a timing check)"
        attempts += cli.json("webhooks", "deliver")["attempts"]
        time.sleep(0.2)
    return attempts


def test_add_deliver_with_a_retry_list_and_disable(cli: Cli) -> None:
    receiver = WebhookReceiver(refuse_first=1)
    with served(receiver) as base:
        url = f"{base}/hooks"
        added = cli.ok("webhooks", "add", url, "--kind", "invitation.sent", "--kind", "*")
        secret_line = next(
            line for line in added.stdout.splitlines() if line.startswith("signing secret: ")
        )
        secret = secret_line.removeprefix("signing secret: ").strip()
        assert secret.startswith("whsec_")
        assert "not shown again" in added.stdout
        receiver.secret = secret

        (listed,) = cli.json("webhooks", "list")
        assert (listed["url"], listed["kinds"], listed["active"]) == (
            url,
            ["invitation.sent", "*"],
            True,
        )
        assert "secret" not in listed
        assert secret not in cli.ok("webhooks", "list").stdout

        family_id = add_event(cli)
        first = cli.json("webhooks", "deliver")
        assert first["dispatched"] == 1
        (failed,) = first["attempts"]
        assert (failed["delivered"], failed["status"], failed["attempts"]) == (False, 500, 1)
        assert failed["next_attempt_at"] is not None

        attempts = deliver_until_delivered(cli)
        assert attempts[-1]["status"] == 204
        assert attempts[-1]["idempotency_key"] == failed["idempotency_key"]
        assert cli.json("webhooks", "deliver") == {"dispatched": 0, "attempts": []}
        calls = receiver.calls()

    assert [c.answer for c in calls] == [500, 204]
    assert all(c.signature_valid for c in calls)
    assert calls[0].body == calls[1].body
    assert {c.headers["idempotency-key"] for c in calls} == {failed["idempotency_key"]}
    assert f'"family_id":"{family_id}"'.encode() in calls[0].body

    disabled = cli.ok("webhooks", "disable", listed["id"])
    assert f"webhook {listed['id']} disabled" in disabled.stdout
    (after,) = cli.json("webhooks", "list")
    assert after["active"] is False
    assert after["disabled_at"] is not None


def test_a_human_readable_delivery_report(cli: Cli) -> None:
    with served(WebhookReceiver(refuse_first=0)) as base:
        cli.ok("webhooks", "add", f"{base}/h", "--kind", "*")
        add_event(cli)
        out = cli.ok("webhooks", "deliver").stdout
    assert "1 new delivery(ies) from the outbox" in out
    assert "invitation.sent" in out
    assert "delivered (HTTP 204) after 1 attempt(s)" in out
    assert "Nothing due." in cli.ok("webhooks", "deliver").stdout
    assert "No webhook endpoints." not in cli.ok("webhooks", "list").stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("http://hooks.example.com/x", "--kind", "*"), "plain HTTP is only for a receiver"),
        (("https://hooks.example.com/x", "--kind", "usage"), "unknown event kind 'usage'"),
        (("ftp://hooks.example.com/x", "--kind", "*"), "expected https://host"),
    ],
)
def test_bad_endpoints_are_refused_in_one_line_changing_nothing(
    cli: Cli, args: tuple[str, ...], says: str
) -> None:
    assert says in cli.fails("webhooks", "add", *args)


def test_disable_an_unknown_endpoint(cli: Cli) -> None:
    assert "no webhook endpoint 'nope'" in cli.fails("webhooks", "disable", "nope")
    assert "No webhook endpoints." in cli.ok("webhooks", "list").stdout
