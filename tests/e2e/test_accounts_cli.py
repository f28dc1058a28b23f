"""`famsim account` and `famsim apikey` from the installed command.

Passwords go in on standard input (``--password-stdin``), as a script would give them;
sign-ins, which have no command, are made in-process on the same database so that
``famsim account history`` has something to show.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from e2e.cli_runner import TIMEOUT_S, Cli, Result
from famsim.bootstrap import bootstrap
from famsim.config import Settings
from famsim.domain.accounts import SessionKind
from famsim.domain.errors import Unauthenticated

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse 7"


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


def one_line_error(result: Result) -> str:
    assert result.returncode == 2, result.describe()
    assert result.stdout == "", result.describe()
    [line] = result.stderr.splitlines()
    return line.removeprefix("famsim: error: ")


def create(cli: Cli, login: str = "Ann@Example.com", password: str = PASSWORD) -> Result:
    return with_stdin(
        cli,
        password + "\n",
        "account",
        "create",
        "Chan family",
        "Ann",
        "--login",
        login,
        "--password-stdin",
    )


@pytest.fixture
def family_cli(make_cli: Callable[..., Cli]) -> Cli:
    cli = make_cli()
    cli.ok("init")
    cli.ok(
        "family", "create", "--name", "Chan family", "--plan", "hk-family-5g-100", "--owner", "Ann"
    )
    return cli


def test_create_an_account_and_read_its_sign_ins(family_cli: Cli) -> None:
    cli = family_cli
    created = create(cli)
    assert created.returncode == 0, created.describe()
    assert "created: login ann@example.com" in created.stdout
    assert PASSWORD not in "\n".join(cli.snapshot() or [])

    assert (
        "no sign-in attempts on ann@example.com yet"
        in cli.ok("account", "history", "ann@example.com").stdout
    )

    famsim = bootstrap(Settings(data_dir=cli.data_dir))
    try:
        service = famsim.accounts()
        service.login(
            "ann@example.com", PASSWORD, kind=SessionKind.COOKIE, ip="192.0.2.1", user_agent="ua/1"
        )
        with pytest.raises(Unauthenticated):
            service.login("ann@example.com", "Wrong password 1", kind=SessionKind.BEARER)
    finally:
        famsim.close()

    rows = cli.json("account", "history", "ANN@example.com")
    assert [(r["result"], r["kind"], r["ip"], r["user_agent"]) for r in rows] == [
        ("ok", "cookie", "192.0.2.1", "ua/1"),
        ("wrong_password", "bearer", None, None),
    ]
    table = cli.ok("account", "history", "ann@example.com").stdout
    assert "wrong_password" in table
    assert "192.0.2.1" in table


def test_account_refusals_are_one_line_and_change_nothing(family_cli: Cli) -> None:
    cli = family_cli
    before = cli.snapshot()
    assert "at least 10 characters" in one_line_error(create(cli, password="short"))
    assert "exactly one @" in one_line_error(create(cli, login="ann@@example.com"))
    assert "no password on standard input" in one_line_error(create(cli, password=""))
    assert cli.snapshot() == before
    assert create(cli).returncode == 0
    assert "already" in one_line_error(create(cli, login="other@example.com"))
    assert "no account" in cli.fails("account", "history", "nobody@example.com")
    prompt = cli.run("account", "create", "Chan family", "Ann", "--login", "x@example.com")
    assert prompt.returncode != 0  # no terminal, no stdin: nothing to read a password from


def test_api_keys_create_list_revoke(family_cli: Cli) -> None:
    cli = family_cli
    out = cli.ok(
        "apikey", "create", "--name", "billing", "--scope", "charging", "--scope", "plans:read"
    )
    [key] = [line for line in out.stdout.splitlines() if line.startswith("fsk_")]
    assert "cannot show it again" in out.stdout
    [listed] = cli.json("apikey", "list")
    assert listed["name"] == "billing"
    assert listed["scopes"] == ["charging", "plans:read"]
    assert listed["revoked_at"] is None
    assert key.startswith(f"fsk_{listed['prefix']}_")
    dump = "\n".join(cli.snapshot() or [])
    assert key not in dump
    assert key.split("_", 2)[2] not in dump

    famsim = bootstrap(Settings(data_dir=cli.data_dir))
    try:
        assert famsim.accounts().authenticate_key(key).id == listed["id"]
    finally:
        famsim.close()

    assert "unknown scope 'billing'" in cli.fails(
        "apikey", "create", "--name", "x", "--scope", "billing"
    )
    assert "no API key 'nope'" in cli.fails("apikey", "revoke", "nope")
    assert "is revoked" in cli.ok("apikey", "revoke", listed["id"]).stdout
    [revoked] = cli.json("apikey", "list")
    assert revoked["revoked_at"] is not None
    assert "billing" in cli.ok("apikey", "list").stdout

    famsim = bootstrap(Settings(data_dir=cli.data_dir))
    try:
        with pytest.raises(Unauthenticated, match="revoked"):
            famsim.accounts().authenticate_key(key)
    finally:
        famsim.close()
