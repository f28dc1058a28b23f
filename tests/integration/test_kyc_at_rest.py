"""Acceptance: the database holds no KYC field in clear text (SQLite and PostgreSQL).

A family is opened and members join with recognizable identities; then every column of
every row of every table (reflected from the database itself, so a table added later is
scanned too) is read and searched for the legal names, the document numbers (as written
and as stored) and the dates of birth. Only sealed bytes may hold them.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, date, datetime
from typing import Any

import argon2
from sqlalchemy import MetaData, select
from stdnum.cn import ric

from famsim.adapters.notifier import LogNotifier
from famsim.adapters.security.keyring import KeyRing
from famsim.adapters.security.passwords import Argon2Passwords
from famsim.bootstrap import App
from famsim.domain.access import Principal
from famsim.domain.kyc import DocumentType, KycData
from famsim.domain.members import Role
from famsim.service.accounts import AccountService
from famsim.service.invitations import InvitationService

NOW = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
PASSWORD = "correct Horse 42"
FAST = Argon2Passwords(argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))

ADULT_BORN = date(1987, 11, 23)
ADULT_BODY = f"110101{ADULT_BORN:%Y%m%d}457"
ADULT_NUMBER = ADULT_BODY + ric.calc_check_digit(ADULT_BODY + "0")
IDENTITIES = {
    Role.OWNER: KycData(
        "Quintessa Marlowe-Xiang", date(1979, 4, 17), DocumentType.HK_ID, "AB987654(3)"
    ),
    Role.ADULT: KycData(
        "Bartholomew Zhuangzi", ADULT_BORN, DocumentType.CN_RESIDENT_ID, ADULT_NUMBER
    ),
    Role.CHILD: KycData("Octavia Wrenfield", date(2014, 9, 30), DocumentType.PASSPORT, "QZ7788991"),
}


def secrets_to_find() -> list[str]:
    """Every KYC value in every spelling it might be stored in."""
    found: list[str] = []
    for kyc in IDENTITIES.values():
        number = re.sub(r"[()\s]", "", kyc.document_number)
        found += [kyc.legal_name, kyc.legal_name.lower(), kyc.document_number, number]
        found += [kyc.date_of_birth.isoformat(), f"{kyc.date_of_birth:%d/%m/%Y}"]
    return found


def as_text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("latin-1")  # every byte kept; a clear UTF-8 name shows
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def dump(app: App) -> dict[str, list[str]]:
    """Every value of every row of every table, as text, by table."""
    metadata = MetaData()
    metadata.reflect(app.engine)
    assert {"kyc_records", "invitations", "members", "audit_events", "outbox"} <= set(
        metadata.tables
    )
    tables: dict[str, list[str]] = {}
    with app.engine.connect() as connection:
        for name, table in metadata.tables.items():
            rows = connection.execute(select(table)).all()
            tables[name] = [as_text(value) for row in rows for value in row]
    return tables


def test_the_database_holds_no_kyc_field_in_clear_text(sql_app: App) -> None:
    ring = KeyRing([("k1", secrets.token_bytes(32))])
    accounts = AccountService(sql_app.uow, FAST, ring, lambda: NOW)
    service = InvitationService(sql_app.uow, accounts, ring, LogNotifier(sql_app.uow), lambda: NOW)
    family_id, owner_account = service.open_family(
        name="Marlowe family",
        plan_code="hk-family-5g-100",
        owner_name="Quin",
        owner_kyc=IDENTITIES[Role.OWNER],
        owner_login="quin@example.com",
        owner_password=PASSWORD,
    )
    with sql_app.uow() as uow:
        owner_id = uow.families.get(family_id).owner_id
    owner = Principal.member(owner_account, family_id, owner_id)
    invitation = service.invite(
        owner, name="Bart", role=Role.ADULT, channel="email", address="bart@example.com"
    )
    with sql_app.uow() as uow:
        (event,) = [e for e in uow.outbox.for_family(family_id) if e.kind == "notification"]
    code = re.search(r": (\d{6}) ", event.payload["text"])
    assert code is not None
    member_id, _ = service.accept(
        invitation.id,
        code=code.group(1),
        consent=True,
        kyc=IDENTITIES[Role.ADULT],
        login="bart@example.com",
        password=PASSWORD,
    )
    child_id = service.add_child(owner, name="Tavi", kyc=IDENTITIES[Role.CHILD])

    tables = dump(sql_app)
    everything = "\n".join(text for values in tables.values() for text in values)
    assert "Bart" in everything  # the scan does see what is stored in clear (display names)
    assert len(tables["kyc_records"]) == 3 * 5  # three sealed identities, five columns
    for secret in secrets_to_find():
        holders = [name for name, values in tables.items() if any(secret in v for v in values)]
        assert holders == [], f"{secret!r} is stored in clear in {holders}"

    # and yet it is all there, for whoever holds the key
    assert service.kyc_summary(owner, member_id)["legal_name"] == "Bartholomew Zhuangzi"
    assert service.kyc_summary(owner, child_id)["document_number_last4"] == "8991"
