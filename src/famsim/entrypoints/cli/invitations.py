"""``famsim family open``, ``famsim invite`` and ``famsim accept``: joining a family.

The operator opens a family for its owner (identity checked and sealed, the owner's
account made); a member invites someone, whose one-time code goes out through the
notifier (in development: the outbox and the log); the invitee accepts with the code, its
identity and its explicit consent. Passwords are never arguments: a hidden prompt, twice,
or ``--password-stdin``.
"""

from __future__ import annotations

import sys
from datetime import date
from typing import Annotated

import typer

from famsim.domain.errors import InvalidInput
from famsim.domain.kyc import DocumentType, KycData
from famsim.domain.members import Role
from famsim.entrypoints.cli import render
from famsim.entrypoints.cli.common import FamilyArg, JsonOption, family_id_of, opened

LegalName = Annotated[str, typer.Option("--legal-name", help="Name as on the ID document.")]
Dob = Annotated[str, typer.Option("--dob", help="Date of birth, YYYY-MM-DD.")]
DocType = Annotated[DocumentType, typer.Option("--doc-type", help="The ID document's type.")]
DocNumber = Annotated[str, typer.Option("--doc-number", help="The ID document's number.")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


def _kyc(legal_name: str, dob: str, doc_type: DocumentType, doc_number: str) -> KycData:
    try:
        born = date.fromisoformat(dob.strip())
    except ValueError:
        raise InvalidInput(f"date_of_birth: {dob!r} is not a date (YYYY-MM-DD)") from None
    return KycData(legal_name, born, doc_type, doc_number)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InvalidInput("no password on standard input")
        return password
    typed: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return typed


def family_open(
    name: Annotated[str, typer.Option(help="Family name, e.g. 'Chan family'.")],
    plan: Annotated[str, typer.Option(help="Plan code from `famsim plans list`.")],
    owner: Annotated[str, typer.Option(help="The owner's display name in the family.")],
    login: Annotated[str, typer.Option(help="The owner's login: e-mail or phone (+852...).")],
    legal_name: LegalName,
    dob: Dob,
    doc_type: DocType,
    doc_number: DocNumber,
    time_zone: Annotated[
        str | None, typer.Option(help="IANA time zone; default: the plan's.")
    ] = None,
    password_stdin: PasswordStdin = False,
    as_json: JsonOption = False,
) -> None:
    """Open a family for its owner: identity verified and sealed, the owner's account made."""
    kyc = _kyc(legal_name, dob, doc_type, doc_number)
    password = _password(password_stdin)
    with opened() as famsim:
        family_id, account_id = famsim.invitations().open_family(
            name=name,
            plan_code=plan,
            owner_name=owner,
            owner_kyc=kyc,
            owner_login=login,
            owner_password=password,
            time_zone=time_zone,
        )
    if as_json:
        render.print_json({"family_id": family_id, "account_id": account_id})
        return
    render.console.print(
        f"family {family_id} opened for {owner}; owner's account {account_id}", soft_wrap=True
    )


def invite(
    family: FamilyArg,
    by: Annotated[str, typer.Option("--by", help="The inviting member (id or name).")],
    name: Annotated[str, typer.Option(help="The invitee's display name in the family.")],
    role: Annotated[Role, typer.Option(help="adult (by the owner) or child.")],
    phone: Annotated[str | None, typer.Option(help="Send the code by SMS to this number.")] = None,
    email: Annotated[str | None, typer.Option(help="Send the code to this e-mail.")] = None,
    guardian: Annotated[
        str | None, typer.Option(help="A child's guardian (default: the inviter).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Invite someone to the family; a one-time code goes to the phone or e-mail given."""
    if (phone is None) == (email is None):
        raise InvalidInput("give exactly one of --phone or --email")
    channel, address = ("phone", phone) if phone is not None else ("email", email or "")
    with opened() as famsim:
        service = famsim.invitations()
        family_id = family_id_of(famsim, family)
        principal = service.console_principal(family_id, by)
        guardian_id = (
            None if guardian is None else service.console_principal(family_id, guardian).member_id
        )
        invitation = service.invite(
            principal,
            name=name,
            role=role,
            channel=channel,
            address=address,
            guardian_id=guardian_id,
        )
    if as_json:
        render.print_json(
            {
                "invitation_id": invitation.id,
                "family_id": invitation.family_id,
                "role": invitation.role.value,
                "channel": invitation.channel.value,
                "address": invitation.address,
                "expires_at": invitation.expires_at.isoformat(),
            }
        )
        return
    render.console.print(
        f"invitation {invitation.id} sent to {invitation.address} ({invitation.channel.value});"
        f" valid until {invitation.expires_at:%Y-%m-%d %H:%M} UTC",
        soft_wrap=True,
    )


def accept(
    invitation: Annotated[str, typer.Argument(help="The invitation id from the message.")],
    code: Annotated[str, typer.Option(help="The six-digit code from the message.")],
    login: Annotated[str, typer.Option(help="Your login: e-mail or phone (+852...).")],
    legal_name: LegalName,
    dob: Dob,
    doc_type: DocType,
    doc_number: DocNumber,
    consent: Annotated[
        bool,
        typer.Option(
            "--consent",
            help="I agree to the family's terms and to the owner seeing my usage totals.",
        ),
    ] = False,
    password_stdin: PasswordStdin = False,
    as_json: JsonOption = False,
) -> None:
    """Accept an invitation: your identity, your consent, and the account you sign in with."""
    kyc = _kyc(legal_name, dob, doc_type, doc_number)
    password = _password(password_stdin)
    with opened() as famsim:
        member_id, account_id = famsim.invitations().accept(
            invitation, code=code, consent=consent, kyc=kyc, login=login, password=password
        )
    if as_json:
        render.print_json({"member_id": member_id, "account_id": account_id})
        return
    render.console.print(f"welcome: member {member_id}, account {account_id}", soft_wrap=True)
