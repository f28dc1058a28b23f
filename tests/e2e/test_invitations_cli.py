"""`famsim family open`, `famsim invite`, `famsim accept` and `famsim keys` from the
installed command: the code read from the outbox as a developer would, refusals in one
line naming the field, and a key rotation."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from e2e.cli_runner import TIMEOUT_S, Cli, Result

pytestmark = pytest.mark.e2e

PASSWORD = "correct Horse 42\n"
OWNER = (
    "--legal-name", "Wong Siu Ming", "--dob", "1980-05-06",
    "--doc-type", "hk_id", "--doc-number", "A123456(3)",
)  # fmt: skip
ADULT = (
    "--legal-name", "Chan Hong", "--dob", "1991-07-08",
    "--doc-type", "passport", "--doc-number", "K1234567",
)  # fmt: skip


def with_stdin(cli: Cli, text: str, *args: str) -> Result:
    """Run famsim with *text* on standard input (Cli.run gives it none)."""
    proc = subprocess.run(
        [str(cli.command), *args],
        env=cli.env,
        input=text,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    result = Result(tuple(args), proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in result.stdout + result.stderr, result.describe()
    return result


def ok(cli: Cli, *args: str) -> Any:
    result = with_stdin(cli, PASSWORD, *args, "--password-stdin", "--json")
    assert result.returncode == 0, result.describe()
    return result.json()


def error(cli: Cli, *args: str) -> str:
    result = with_stdin(cli, PASSWORD, *args, "--password-stdin")
    assert result.returncode == 2, result.describe()
    assert result.stdout == "", result.describe()
    assert len(result.stderr.splitlines()) == 1, result.describe()
    return result.stderr.strip().removeprefix("famsim: error: ")


def query(cli: Cli, sql: str) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(cli.db_path)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def last_code(cli: Cli) -> str:
    (payload,) = query(
        cli, "SELECT payload FROM outbox WHERE kind = 'notification' ORDER BY id DESC LIMIT 1"
    )[0]
    text = json.loads(payload)["text"]
    found = re.search(r": (\d{6}) ", text)
    assert found is not None, text
    return found.group(1)


def open_family(cli: Cli) -> str:
    opened = ok(
        cli, "family", "open", "--name", "Wong family", "--plan", "hk-family-5g-100",
        "--owner", "Ming", "--login", "owner@example.com", *OWNER,
    )  # fmt: skip
    return str(opened["family_id"])


@pytest.fixture
def cli(make_cli: Callable[..., Cli]) -> Cli:
    cli = make_cli()
    cli.ok("init")
    return cli


def test_open_invite_accept(cli: Cli) -> None:
    family_id = open_family(cli)
    sent = cli.json(
        "invite", "Wong family", "--by", "Ming", "--name", "Hong", "--role", "adult",
        "--email", "Hong@Example.com",
    )  # fmt: skip
    assert sent["address"] == "Hong@example.com"
    assert sent["family_id"] == family_id
    code = last_code(cli)
    joined = ok(
        cli, "accept", sent["invitation_id"], "--code", code, "--login", "hong@example.com",
        "--consent", *ADULT,
    )  # fmt: skip
    rows = query(cli, f"SELECT name, role FROM members WHERE id = '{joined['member_id']}'")
    assert rows == [("Hong", "adult")]
    assert query(cli, "SELECT count(*) FROM kyc_records") == [(2,)]
    assert query(cli, "SELECT status FROM invitations") == [("accepted",)]
    human = cli.ok(
        "invite", "Wong family", "--by", "Hong", "--name", "Kid", "--role", "child",
        "--phone", "+852 9123 4567",
    )  # fmt: skip
    assert "sent to +85291234567 (phone)" in human.stdout


def test_refusals_name_the_problem_and_change_nothing(cli: Cli) -> None:
    open_family(cli)
    sent = cli.json(
        "invite", "Wong family", "--by", "Ming", "--name", "Hong", "--role", "adult",
        "--email", "hong@example.com",
    )  # fmt: skip
    code = last_code(cli)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    accept = ("accept", sent["invitation_id"], "--login", "hong@example.com")
    assert "consent" in error(cli, *accept, "--code", code, *ADULT)
    assert "wrong invitation code: 4 more tries" in error(
        cli, *accept, "--code", wrong, "--consent", *ADULT
    )
    bad_hkid = (*ADULT[:4], "--doc-type", "hk_id", "--doc-number", "A123456(4)")
    assert "document_number: checksum check failed" in error(
        cli, *accept, "--code", code, "--consent", *bad_hkid
    )
    too_young = ("--legal-name", "Kid", "--dob", "2015-01-01", *ADULT[4:])
    assert "date_of_birth: age check failed" in error(
        cli, *accept, "--code", code, "--consent", *too_young
    )
    assert "date_of_birth" in error(
        cli, *accept, "--code", code, "--consent", *ADULT[:2], "--dob", "1991-13-01", *ADULT[4:]
    )
    assert query(cli, "SELECT status, attempts FROM invitations") == [("pending", 1)]
    assert cli.fails(
        "invite", "Wong family", "--by", "Hong", "--name", "X", "--role", "adult",
        "--email", "x@example.com",
    )  # fmt: skip
    assert "exactly one of --phone or --email" in cli.fails(
        "invite", "Wong family", "--by", "Ming", "--name", "X", "--role", "adult"
    )
    assert "already taken" in error(
        cli, "family", "open", "--name", "Other", "--plan", "hk-family-5g-100",
        "--owner", "Other", "--login", "owner@example.com", *OWNER,
    )  # fmt: skip


def test_key_rotation(make_cli: Callable[..., Cli]) -> None:
    plain = make_cli()
    k1 = plain.ok("keys", "new", "--id", "k1").stdout.strip()
    k2 = plain.ok("keys", "new", "--id", "k2").stdout.strip()
    assert re.fullmatch(r"k2:[A-Za-z0-9+/]{43}=", k2)
    assert "key id" in plain.error("keys", "new", "--id", "no good")
    cli = make_cli(FAMSIM_DATA_KEYS=k1)
    cli.ok("init")
    open_family(cli)
    assert query(cli, "SELECT key_id FROM kyc_records") == [("k1",)]
    rotating = make_cli(FAMSIM_DATA_KEYS=f"{k2},{k1}")
    assert "re-sealed 1 identity record under key k2" in rotating.ok("keys", "rotate").stdout
    assert query(cli, "SELECT key_id FROM kyc_records") == [("k2",)]
    only_new = make_cli(FAMSIM_DATA_KEYS=k2)
    assert "re-sealed 0 identity records" in only_new.ok("keys", "rotate").stdout
