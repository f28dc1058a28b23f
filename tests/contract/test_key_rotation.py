"""Key rotation: after a new key is put first, everything sealed under the old one (identity
records, TOTP secrets, webhook signing secrets) is re-sealed under the new key and still
opens; the old key alone then opens nothing. On memory, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from famsim.adapters.security.keyring import SealBroken, new_key_entry, parse_keys
from famsim.domain.accounts import Account
from famsim.domain.family import Family
from famsim.domain.ids import new_id
from famsim.domain.plan import Plan
from famsim.domain.webhooks import WebhookEndpoint
from famsim.service.accounts import totp_context
from famsim.service.key_rotation import kyc_context, reseal_all
from famsim.service.webhooks import secret_context

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def test_everything_sealed_moves_to_the_new_key(uow_factory: Any, hk_plan: Plan) -> None:
    old_entry, new_entry = new_key_entry("k1"), new_key_entry("k2")
    old = parse_keys(old_entry)
    family = Family.create(name="Ip family", plan=hk_plan, owner_name="Ip", today=NOW.date())
    owner = family.owner_id
    account_id = new_id()
    account = Account(
        id=account_id,
        login="ip@example.com",
        family_id=family.id,
        member_id=owner,
        password_hash=None,
        totp=old.seal(b"JBSWY3DPEHPK3PXP", totp_context(account_id)),
        failed_logins=0,
        locked_until=None,
        created_at=NOW,
    )
    endpoint = WebhookEndpoint(new_id(), "https://hooks.example.com/famsim", ("*",), NOW)
    with uow_factory() as uow:
        uow.families.add(family)
        uow.commit()
    with uow_factory() as uow:
        uow.kyc.put(owner, old.seal(b"IP Man|A1234563", kyc_context(owner)), NOW)
        uow.accounts.add(account)
        uow.webhooks.add(endpoint, old.seal(b"whsec", secret_context(endpoint.id)))
        uow.commit()

    ring = parse_keys(f"{new_entry},{old_entry}")
    with uow_factory() as uow:
        assert reseal_all(uow, ring, NOW, "test") == {"kyc": 1, "totp": 1, "webhook": 1}
    with uow_factory() as uow:
        assert reseal_all(uow, ring, NOW, "test") == {"kyc": 0, "totp": 0, "webhook": 0}

    new_only = parse_keys(new_entry)
    with uow_factory() as uow:
        kyc, _ = uow.kyc.get(owner)
        stored = uow.accounts.get(account.id)
        secrets = dict(uow.webhooks.secrets())
    assert stored is not None
    assert stored.totp is not None
    assert new_only.open(kyc, kyc_context(owner)) == b"IP Man|A1234563"
    assert new_only.open(stored.totp, totp_context(account.id)) == b"JBSWY3DPEHPK3PXP"
    assert new_only.open(secrets[endpoint.id], secret_context(endpoint.id)) == b"whsec"
    with pytest.raises(SealBroken):
        old.open(kyc, kyc_context(owner))
