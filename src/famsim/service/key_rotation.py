"""Re-sealing everything sealed at rest under the key ring's current key (key rotation).

Identity records, TOTP secrets and webhook signing secrets are each sealed with the key
that was current when they were written. After a new key is put first in the key ring
(the old ones still open what they sealed), :func:`reseal_all` re-seals whatever is under
an older key, in one transaction; then the old keys can be removed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from famsim.domain.audit import AuditEvent
from famsim.service.accounts import totp_context
from famsim.service.ports import Sealer, UnitOfWork
from famsim.service.webhooks import secret_context


def kyc_context(member_id: str) -> str:
    """Where a member's identity record is sealed (its AAD): it opens for this member only."""
    return f"kyc:{member_id}"


def reseal_all(uow: UnitOfWork, sealer: Sealer, now: datetime, actor: str) -> dict[str, int]:
    """Re-seal what an older key sealed; how many of each kind. Commits."""
    counts = {"kyc": 0, "totp": 0, "webhook": 0}
    for member_id, sealed in uow.kyc.all_sealed():
        if sealer.needs_reseal(sealed):
            context = kyc_context(member_id)
            uow.kyc.replace(member_id, sealer.seal(sealer.open(sealed, context), context))
            counts["kyc"] += 1
    for account in uow.accounts.with_totp():
        if account.totp is not None and sealer.needs_reseal(account.totp):
            context = totp_context(account.id)
            resealed = sealer.seal(sealer.open(account.totp, context), context)
            uow.accounts.save(replace(account, totp=resealed))
            counts["totp"] += 1
    for endpoint_id, sealed in uow.webhooks.secrets():
        if sealer.needs_reseal(sealed):
            context = secret_context(endpoint_id)
            uow.webhooks.replace_secret(
                endpoint_id, sealer.seal(sealer.open(sealed, context), context)
            )
            counts["webhook"] += 1
    uow.audit.record(
        AuditEvent(now, None, actor, "keys.rotated", sealer.current_key_id, dict(counts))
    )
    uow.commit()
    return counts
