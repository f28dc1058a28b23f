"""``famsim account`` and ``famsim apikey``: family users' accounts and operator API keys.

The command line runs with the database's own rights (the operator at the console), so
it reads any account's sign-in history as staff with ``audit:read`` would. Passwords are
never taken as arguments (they would land in shell history and ``ps``): they are typed
at a hidden prompt, twice, or read from standard input for scripts.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from famsim.domain.access import Principal, Scope
from famsim.domain.accounts import ApiKey
from famsim.domain.audit import AuditEvent
from famsim.domain.errors import InvalidInput
from famsim.entrypoints.cli import render
from famsim.entrypoints.cli.common import FamilyArg, JsonOption, family_id_of, opened

ACTOR = "operator:cli"
CONSOLE = Principal.staff("cli", frozenset({Scope.AUDIT_READ}))

account_app = typer.Typer(help="Family users' accounts and their sign-ins.", no_args_is_help=True)
apikey_app = typer.Typer(help="Operator API keys and their scopes.", no_args_is_help=True)


# ---------------------------------------------------------------------- accounts
@account_app.command("create")
def account_create(
    family: FamilyArg,
    member: Annotated[str, typer.Argument(help="Member id or exact member name.")],
    login: Annotated[str, typer.Option(help="E-mail address or phone number (+852...).")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Let a member sign in: an account with a login and a password."""
    password = _read_password() if password_stdin else _prompt_password()
    with opened() as famsim:
        family_id = family_id_of(famsim, family)
        account = famsim.accounts().create_account(family_id, member, login, password, actor=ACTOR)
    render.console.print(f"account {account.id} created: login {account.login}", soft_wrap=True)


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise InvalidInput("no password on standard input")
    return password


def _prompt_password() -> str:
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@account_app.command("history")
def account_history(
    login: Annotated[str, typer.Argument(help="The account's login.")],
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many, latest.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Sign-in attempts on an account (time, result, address, user agent), oldest first."""
    with opened() as famsim:
        service = famsim.accounts()
        account = service.account_by_login(login)
        events = service.login_history(CONSOLE, limit, account_id=account.id)
    rows = [_attempt(event) for event in events]
    if as_json:
        render.print_json(rows)
        return
    if not rows:
        render.console.print(f"no sign-in attempts on {account.login} yet", soft_wrap=True)
        return
    table = Table(title=f"Sign-ins of {account.login}")
    for column in ("at", "result", "kind", "ip", "user agent"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["at"], row["result"], row["kind"] or "", row["ip"] or "", row["user_agent"] or ""
        )
    render.console.print(table)


def _attempt(event: AuditEvent) -> dict[str, Any]:
    return {
        "at": event.at.isoformat(),
        "result": event.detail.get("result"),
        "kind": event.detail.get("kind"),
        "ip": event.detail.get("ip"),
        "user_agent": event.detail.get("user_agent"),
    }


# ---------------------------------------------------------------------- API keys
@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
    scope: Annotated[
        list[str],
        typer.Option(help=f"A scope to grant (repeat): {', '.join(s.value for s in Scope)}."),
    ],
) -> None:
    """Make an API key; the key is printed this once and cannot be shown again."""
    with opened() as famsim:
        text, key = famsim.accounts().create_api_key(name, scope, actor=ACTOR)
    render.console.print(
        f"API key {key.id} ({key.prefix}) for {key.name!r}, scopes {_scopes(key)}:",
        soft_wrap=True,
    )
    print(text)
    render.console.print("Keep it now: famsim stores only its hash and cannot show it again.")


@apikey_app.command("list")
def apikey_list(as_json: JsonOption = False) -> None:
    """Every API key (never the key itself), revoked ones too."""
    with opened() as famsim:
        keys = famsim.accounts().api_keys()
    rows = [_key(key) for key in keys]
    if as_json:
        render.print_json(rows)
        return
    if not rows:
        render.console.print("no API keys yet: `famsim apikey create --name ... --scope ...`")
        return
    table = Table(title="API keys")
    for column in ("id", "prefix", "name", "scopes", "created", "revoked"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["id"],
            row["prefix"],
            row["name"],
            " ".join(row["scopes"]),
            row["created_at"],
            row["revoked_at"] or "",
        )
    render.console.print(table)


@apikey_app.command("revoke")
def apikey_revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="Key id, or its prefix.")],
) -> None:
    """Revoke a key at once (it stays listed, marked revoked)."""
    with opened() as famsim:
        key = famsim.accounts().revoke_api_key(key_id, actor=ACTOR)
    render.console.print(
        f"API key {key.id} ({key.prefix}, {key.name!r}) is revoked", soft_wrap=True
    )


def _scopes(key: ApiKey) -> str:
    return " ".join(sorted(s.value for s in key.scopes))


def _key(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "prefix": key.prefix,
        "name": key.name,
        "scopes": sorted(s.value for s in key.scopes),
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }
