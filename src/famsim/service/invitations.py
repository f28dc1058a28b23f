"""Joining a family: opening it with its owner, invitations with one-time codes, a child
added by its guardian, identity (KYC) sealed at rest, and privacy consents between members.

Identity data is checked (``famsim.domain.kyc``) and sealed at once, bound to the member
(context ``kyc:<member id>``), so the database holds only ciphertext; the owner or the
member itself may read back a summary (name, document type, last four characters).

Accounts are made by the account service, which commits on its own. A member's account
needs the member to exist first (the account points at it), so joining goes in two steps:
the family change (member, sealed identity, invitation accepted, audit) commits, then the
account is made. Everything the second step can refuse (login format, login taken,
password strength) is checked before the first, so in practice only a race on the same
login or a storage failure can stop it; then the first step is undone by a compensating
unit of work (see :meth:`InvitationService.accept`) so nothing is left half made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from famsim.domain.access import Principal
from famsim.domain.accounts import check_password_strength, normalize_login
from famsim.domain.audit import AuditEvent
from famsim.domain.errors import (
    Conflict,
    FamsimError,
    Forbidden,
    InvalidInput,
    RuleViolation,
    TooManyAttempts,
    Unauthenticated,
)
from famsim.domain.family import Family
from famsim.domain.ids import MemberId
from famsim.domain.invitations import Invitation, InvitationVoid, WrongCode
from famsim.domain.kyc import KycData
from famsim.domain.members import Member, Role
from famsim.domain.plan import Plan
from famsim.service.key_rotation import kyc_context, reseal_all
from famsim.service.ports import Notifier, Sealer, UnitOfWork

log = logging.getLogger(__name__)

DEFAULT_CODE_TTL = timedelta(days=7)
DEFAULT_MAX_ATTEMPTS = 5


class _AccountLike(Protocol):
    @property
    def id(self) -> str: ...


class AccountMaker(Protocol):
    """What this service needs of :class:`famsim.service.accounts.AccountService`."""

    def create_account(
        self, family_id: str, member_id: str, login: str, password: str
    ) -> _AccountLike: ...


class ConsentRequired(RuleViolation):
    """The invitee did not agree to the family's terms (and to the owner seeing its
    totals); nobody joins a family without saying so."""


def _acting_member(principal: Principal) -> tuple[str, str]:
    """The caller's family and member; staff act on families, not as members of them."""
    if principal.is_staff:
        raise Forbidden("this is done by a member of the family, not by operator staff")
    if principal.family_id is None or principal.member_id is None:
        raise Unauthenticated("sign in as a member of the family")
    return principal.family_id, principal.member_id


def _actor(member: Member) -> str:
    return f"{member.role.value}:{member.id}"


class InvitationService:
    """The use cases of joining a family (see the module docstring)."""

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        accounts: AccountMaker,
        sealer: Sealer,
        notifier: Notifier,
        now: Callable[[], datetime],
        *,
        code_ttl: timedelta = DEFAULT_CODE_TTL,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        if max_attempts < 1:
            raise InvalidInput("max_attempts must be at least 1")
        self._uow = uow
        self._accounts = accounts
        self._sealer = sealer
        self._notifier = notifier
        self._now = now
        self._code_ttl = code_ttl
        self._max_attempts = max_attempts

    # ------------------------------------------------------------------ helpers
    def _check_login(self, uow: UnitOfWork, login: str, password: str) -> str:
        """Refuse now what the account step would refuse later (see the module docstring)."""
        normalized = normalize_login(login)
        check_password_strength(password, normalized)
        if uow.accounts.by_login(normalized) is not None:
            raise Conflict(f"the login {normalized!r} is already taken")
        return normalized

    def _seal_kyc(self, uow: UnitOfWork, member_id: str, kyc: KycData, at: datetime) -> None:
        sealed = self._sealer.seal(kyc.to_bytes(), kyc_context(member_id))
        uow.kyc.put(member_id, sealed, at)

    @staticmethod
    def _plans(uow: UnitOfWork, family: Family) -> tuple[Plan, Plan | None]:
        plan = uow.plans.get(family.plan_code)
        pending = family.pending_plan_code
        return plan, (uow.plans.get(pending) if pending else None)

    # ------------------------------------------------------------------ opening
    def open_family(
        self,
        *,
        name: str,
        plan_code: str,
        owner_name: str,
        owner_kyc: KycData,
        owner_login: str,
        owner_password: str,
        time_zone: str | None = None,
    ) -> tuple[str, str]:
        """The operator opens a family for its owner: (family id, account id).

        The family, the owner and its sealed identity commit together, then the owner's
        account is made; if that fails, the family is closed again (see
        :meth:`_undo_open`), so an owner never holds a family it cannot sign in to.
        """
        now = self._now()
        kyc = owner_kyc.check(Role.OWNER, now.date())
        with self._uow() as uow:
            login = self._check_login(uow, owner_login, owner_password)
            plan = uow.plans.get(plan_code)
            family = Family.create(
                name=name, plan=plan, owner_name=owner_name, today=now.date(), time_zone=time_zone
            )
            uow.families.add(family)
            self._seal_kyc(uow, family.owner_id, kyc, now)
            uow.audit.record(
                AuditEvent(
                    now,
                    family.id,
                    "operator",
                    "family.opened",
                    family.id,
                    {"plan": plan.code, "owner": family.owner_id},
                )
            )
            uow.commit()
        try:
            account = self._accounts.create_account(
                family.id, family.owner_id, login, owner_password
            )
        except FamsimError:
            self._undo_open(family.id)
            raise
        return family.id, account.id

    def _undo_open(self, family_id: str) -> None:
        """The owner's account could not be made: forget the owner's identity and record
        that the family never opened. Families are never deleted (their rows carry the
        history), so the family stays, with no account and no identity data, and the
        operator opens it again; the audit says why."""
        now = self._now()
        with self._uow() as uow:
            family = uow.families.get(family_id, for_update=True)
            uow.kyc.discard(family.owner_id)
            uow.audit.record(
                AuditEvent(now, family_id, "operator", "family.not_opened", family_id, {})
            )
            uow.commit()

    def console_principal(self, family_id: str, member: str) -> Principal:
        """The operator at the console acting as *member* (id or exact name) of a family,
        for the command line: the service's rules then apply as for that member."""
        with self._uow() as uow:
            found = uow.families.get(family_id).active_member(member)
        return Principal.member("console", family_id, found.id)

    # -------------------------------------------------------------- invitations
    def invite(
        self,
        principal: Principal,
        *,
        name: str,
        role: Role,
        channel: str,
        address: str,
        guardian_id: str | None = None,
    ) -> Invitation:
        """Invite someone to join the caller's family; the code goes out by the notifier.

        The owner invites adults; the owner or an adult invites a child (in the inviter's
        care unless the owner names another guardian). Returns the invitation, never the
        code: only the invitee learns it.
        """
        family_id, member_id = _acting_member(principal)
        now = self._now()
        with self._uow() as uow:
            family = uow.families.get(family_id)
            inviter = family.active_member(member_id)
            invitation, code = Invitation.issue(
                family,
                invited_by=inviter.id,
                name=name,
                role=Role(role),
                channel=channel,
                address=address,
                guardian_id=guardian_id,
                now=now,
                ttl=self._code_ttl,
            )
            uow.invitations.add(invitation)
            uow.audit.record(
                AuditEvent(
                    now,
                    family.id,
                    _actor(inviter),
                    "invitation.sent",
                    invitation.id,
                    {"role": invitation.role.value, "channel": invitation.channel.value},
                )
            )
            # For the operator's webhooks: who was invited, never the code.
            uow.outbox.add(
                family.id,
                "invitation.sent",
                {
                    "invitation_id": invitation.id,
                    "name": invitation.name,
                    "role": invitation.role.value,
                    "channel": invitation.channel.value,
                    "expires_at": invitation.expires_at.isoformat(),
                },
                now,
            )
            uow.commit()
        text = (
            f"Your famsim invitation code for {family.name}: {code}"
            f" (invitation {invitation.id}, valid until {invitation.expires_at:%Y-%m-%d %H:%M} UTC)"
        )
        # After the commit: a code is only ever sent for an invitation that exists.
        self._notifier.send(family.id, invitation.channel.value, invitation.address, text, now)
        return invitation

    def invitations(self, principal: Principal) -> list[Invitation]:
        """The caller's family's invitations (the owner's and adults' view), oldest first."""
        family_id, member_id = _acting_member(principal)
        with self._uow() as uow:
            me = uow.families.get(family_id).active_member(member_id)
            if not me.can_be_guardian:
                raise Forbidden("a child does not see the family's invitations")
            return uow.invitations.for_family(family_id)

    def accept(
        self,
        invitation_id: str,
        *,
        code: str,
        consent: bool,
        kyc: KycData,
        login: str,
        password: str,
    ) -> tuple[str, str]:
        """Join the family: (member id, account id).

        Refused without explicit consent. The code is compared in constant time; each
        wrong one counts (even though acceptance fails), and at the limit the invitation
        is void. The identity is checked for the invited role and sealed, the member added,
        then the account made; if the account cannot be made, the joining is undone.
        """
        if consent is not True:
            raise ConsentRequired(
                "consent: joining needs your explicit agreement to the family's terms"
                " and to the owner seeing your usage totals"
            )
        now = self._now()
        with self._uow() as uow:
            invitation = uow.invitations.get(invitation_id, for_update=True)
            if not invitation.try_code(code, now, self._max_attempts):
                uow.commit()  # the wrong code counts
                if invitation.is_void:
                    raise TooManyAttempts(
                        f"wrong invitation code {self._max_attempts} times: the invitation"
                        " is void; ask the family for a new one",
                        retry_after_s=0,
                    )
                raise WrongCode(self._max_attempts - invitation.attempts)
            checked = kyc.check(invitation.role, now.date())
            normalized = self._check_login(uow, login, password)
            family = uow.families.get(invitation.family_id, for_update=True)
            plan, next_plan = self._plans(uow, family)
            member = family.add_member(
                plan,
                name=invitation.name,
                role=invitation.role,
                today=now.date(),
                guardian_id=invitation.guardian_id,
                next_plan=next_plan,
            )
            self._seal_kyc(uow, member.id, checked, now)
            invitation.accept(member.id)
            uow.audit.record(
                AuditEvent(
                    now,
                    family.id,
                    _actor(member),
                    "invitation.accepted",
                    invitation.id,
                    {"member": member.id, "role": member.role.value, "consent": True},
                )
            )
            uow.commit()
        try:
            account = self._accounts.create_account(family.id, member.id, normalized, password)
        except FamsimError:
            self._undo_accept(invitation.id, member.id)
            raise
        return member.id, account.id

    def _undo_accept(self, invitation_id: str, member_id: MemberId) -> None:
        """The account could not be made: take the member out again (members stay for
        history, removed), forget its identity and open the invitation again."""
        now = self._now()
        with self._uow() as uow:
            invitation = uow.invitations.get(invitation_id, for_update=True)
            family = uow.families.get(invitation.family_id, for_update=True)
            family.remove_member(member_id, now.date())
            uow.kyc.discard(member_id)
            invitation.reopen()
            uow.audit.record(
                AuditEvent(
                    now,
                    family.id,
                    "famsim",
                    "invitation.undone",
                    invitation.id,
                    {"member": member_id, "reason": "the account could not be made"},
                )
            )
            uow.commit()

    # ------------------------------------------------------------------ children
    def add_child(self, principal: Principal, *, name: str, kyc: KycData) -> str:
        """A guardian (the owner or an adult) adds a child in its own care; the child's id.

        The child gets no account here: one comes by invitation, when it is old enough.
        """
        family_id, member_id = _acting_member(principal)
        now = self._now()
        checked = kyc.check(Role.CHILD, now.date())
        with self._uow() as uow:
            family = uow.families.get(family_id, for_update=True)
            guardian = family.active_member(member_id)
            if not guardian.can_be_guardian:
                raise Forbidden("only the owner or an adult may add a child")
            plan, next_plan = self._plans(uow, family)
            child = family.add_member(
                plan,
                name=name,
                role=Role.CHILD,
                today=now.date(),
                guardian_id=guardian.id,
                next_plan=next_plan,
            )
            self._seal_kyc(uow, child.id, checked, now)
            uow.audit.record(
                AuditEvent(
                    now,
                    family.id,
                    _actor(guardian),
                    "member.added",
                    child.id,
                    {"role": Role.CHILD.value, "guardian": guardian.id},
                )
            )
            uow.commit()
        return child.id

    # ------------------------------------------------------------------ identity
    def kyc_summary(self, principal: Principal, member_id: str) -> dict[str, Any]:
        """What the owner or the member itself may see of a member's verified identity:
        the legal name, the document type and the number's last four characters."""
        family_id, me_id = _acting_member(principal)
        with self._uow() as uow:
            family = uow.families.get(family_id)
            me = family.active_member(me_id)
            target = family.member(member_id)
            if me.role is not Role.OWNER and target.id != me.id:
                raise Forbidden("only the owner or the member itself sees its identity")
            found = uow.kyc.get(target.id)
        if found is None:
            raise RuleViolation(f"no verified identity is recorded for {target.name!r}")
        sealed, verified_at = found
        kyc = KycData.from_bytes(self._sealer.open(sealed, kyc_context(target.id)))
        return {
            "member_id": target.id,
            "legal_name": kyc.legal_name,
            "document_type": kyc.document_type.value,
            "document_number_last4": kyc.number_last4,
            "verified_at": verified_at.isoformat(),
        }

    def rotate_keys(self) -> int:
        """Re-seal everything sealed at rest under an older key (identity records, TOTP
        and webhook secrets); how many. Run after putting a new key first in the key ring;
        once this returns, the old keys can be removed."""
        with self._uow() as uow:
            counts = reseal_all(uow, self._sealer, self._now(), "operator")
        return sum(counts.values())

    # ------------------------------------------------------------------ consents
    def _consent_parties(
        self, uow: UnitOfWork, principal: Principal, grantee: str
    ) -> tuple[Family, Member, Member]:
        family_id, me_id = _acting_member(principal)
        family = uow.families.get(family_id)
        me = family.active_member(me_id)
        if me.role is Role.CHILD:
            raise Forbidden("a child cannot give consent: its guardian looks after it")
        other = family.member(grantee)
        if other.id == me.id:
            raise InvalidInput("grantee: a member always sees its own detail")
        return family, me, other

    def grant_consent(self, principal: Principal, grantee_member_id: str) -> None:
        """The caller (an adult or the owner) lets another member see its detail; granting
        again changes nothing."""
        now = self._now()
        with self._uow() as uow:
            family, me, other = self._consent_parties(uow, principal, grantee_member_id)
            if not other.is_active:
                raise RuleViolation(f"{other.name!r} has left the family")
            if uow.consents.granted(me.id, other.id):
                return  # granted already: the first time stands
            uow.consents.grant(me.id, other.id, now)
            uow.audit.record(
                AuditEvent(now, family.id, _actor(me), "consent.granted", other.id, {})
            )
            uow.commit()

    def revoke_consent(self, principal: Principal, grantee_member_id: str) -> None:
        """The caller takes back its consent; nothing happens if there was none."""
        now = self._now()
        with self._uow() as uow:
            family, me, other = self._consent_parties(uow, principal, grantee_member_id)
            if not uow.consents.granted(me.id, other.id):
                return
            uow.consents.revoke(me.id, other.id)
            uow.audit.record(
                AuditEvent(now, family.id, _actor(me), "consent.revoked", other.id, {})
            )
            uow.commit()

    def consents(self, principal: Principal) -> list[str]:
        """The members the caller lets see its detail."""
        family_id, me_id = _acting_member(principal)
        with self._uow() as uow:
            uow.families.get(family_id).active_member(me_id)
            return uow.consents.grantees(me_id)

    def consented(self, grantor: str, grantee: str) -> bool:
        """Has *grantor* let *grantee* see its detail (for the access rules)."""
        with self._uow() as uow:
            return uow.consents.granted(grantor, grantee)


__all__ = ["AccountMaker", "ConsentRequired", "InvitationService", "InvitationVoid", "kyc_context"]
