"""Joining a family on memory, SQLite and PostgreSQL: the repositories for invitations,
sealed identities and consents, and the InvitationService over them (opening a family with
its owner's account, invitations with one-time codes, a child by its guardian, identity
summaries, consents, key rotation)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import argon2
import pytest
from stdnum.cn import ric

from famsim.adapters.security.keyring import KeyRing
from famsim.adapters.security.passwords import Argon2Passwords
from famsim.domain.access import Principal, Scope
from famsim.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RuleViolation,
    TooManyAttempts,
)
from famsim.domain.invitations import (
    Invitation,
    InvitationExpired,
    InvitationNotFound,
    InvitationStatus,
    InvitationVoid,
    WrongCode,
)
from famsim.domain.kyc import DocumentType, InvalidKyc, KycData
from famsim.domain.members import MemberStatus, Role
from famsim.domain.sealed import Sealed
from famsim.service.accounts import AccountService
from famsim.service.invitations import ConsentRequired, InvitationService

from .conftest import UowFactory

START = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
PASSWORD = "correct Horse 42"
PLAN = "hk-family-5g-100"


def cn_id(born: date, order: str = "123") -> str:
    body = f"110101{born:%Y%m%d}{order}"
    return body + ric.calc_check_digit(body + "0")


OWNER_KYC = KycData("Wong Siu Ming", date(1980, 5, 6), DocumentType.HK_ID, "A123456(3)")
ADULT_KYC = KycData(
    "Li Xiaohong", date(1991, 7, 8), DocumentType.CN_RESIDENT_ID, cn_id(date(1991, 7, 8))
)
CHILD_KYC = KycData("Wong Ka Yan", date(2015, 2, 3), DocumentType.PASSPORT, "KJ0412345")


def key_ring(*keys: tuple[str, bytes]) -> KeyRing:
    return KeyRing(list(keys))


@dataclass
class Outbox:
    """A notifier that keeps what it was asked to send (the code is read from the text)."""

    sent: list[tuple[str, str, str, str]] = field(default_factory=list)

    def send(self, family_id: str, channel: str, address: str, text: str, at: datetime) -> None:
        self.sent.append((family_id, channel, address, text))

    def last_code(self) -> str:
        match = re.search(r": (\d{6}) ", self.sent[-1][3])
        assert match is not None, self.sent[-1]
        return match.group(1)


@dataclass
class World:
    uow: UowFactory
    service: InvitationService
    notifier: Outbox
    clock: list[datetime]
    key1: tuple[str, bytes]

    def with_keys(self, *keys: tuple[str, bytes]) -> InvitationService:
        ring = key_ring(*keys)
        accounts = AccountService(self.uow, FAST, ring, lambda: self.clock[0])
        return InvitationService(self.uow, accounts, ring, self.notifier, lambda: self.clock[0])


FAST = Argon2Passwords(argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def world(uow_factory: UowFactory) -> World:
    clock = [START]
    key1 = ("k1", secrets.token_bytes(32))
    ring = key_ring(key1)
    notifier = Outbox()
    accounts = AccountService(uow_factory, FAST, ring, lambda: clock[0])
    service = InvitationService(uow_factory, accounts, ring, notifier, lambda: clock[0])
    return World(uow_factory, service, notifier, clock, key1)


def open_family(world: World, login: str = "owner@example.com") -> tuple[str, str, Principal]:
    family_id, account_id = world.service.open_family(
        name="Wong family",
        plan_code=PLAN,
        owner_name="Ming",
        owner_kyc=OWNER_KYC,
        owner_login=login,
        owner_password=PASSWORD,
    )
    with world.uow() as uow:
        owner_id = uow.families.get(family_id).owner_id
    return family_id, owner_id, Principal.member(account_id, family_id, owner_id)


def join(
    world: World,
    owner: Principal,
    *,
    name: str = "Hong",
    role: Role = Role.ADULT,
    kyc: KycData = ADULT_KYC,
    login: str = "hong@example.com",
    by: Principal | None = None,
) -> Principal:
    invitation = world.service.invite(
        by or owner, name=name, role=role, channel="email", address=f"{name.lower()}@example.com"
    )
    member_id, account_id = world.service.accept(
        invitation.id,
        code=world.notifier.last_code(),
        consent=True,
        kyc=kyc,
        login=login,
        password=PASSWORD,
    )
    assert owner.family_id is not None
    return Principal.member(account_id, owner.family_id, member_id)


# ------------------------------------------------------------------ repositories
def test_repositories_write_with_the_commit_only(world: World) -> None:
    family_id, owner_id, _ = open_family(world)
    sealed = Sealed("k9", b"n" * 12, b"cipher")
    with world.uow() as uow:
        family = uow.families.get(family_id)
        invitation, _code = Invitation.issue(
            family,
            invited_by=owner_id,
            name="Kit",
            role=Role.ADULT,
            channel="phone",
            address="+852 9123 4567",
            guardian_id=None,
            now=START,
            ttl=timedelta(days=1),
        )
        uow.invitations.add(invitation)
        uow.consents.grant(owner_id, owner_id + "x", START)
        assert uow.invitations.get(invitation.id) is invitation
        # no commit: nothing stays
    with world.uow() as uow:
        with pytest.raises(InvitationNotFound):
            uow.invitations.get(invitation.id)
        assert uow.invitations.for_family(family_id) == []
        uow.invitations.add(invitation)
        uow.commit()
    with world.uow() as uow:
        stored = uow.invitations.get(invitation.id, for_update=True)
        assert stored == invitation
        assert stored.address == "+85291234567"
        assert stored.try_code("000000" if _code != "000000" else "111111", START, 5) is False
        uow.commit()
    with world.uow() as uow:
        assert uow.invitations.get(invitation.id).attempts == 1
        assert [i.id for i in uow.invitations.for_family(family_id)] == [invitation.id]

    with world.uow() as uow:
        before = uow.kyc.get(owner_id)
        assert before is not None
        uow.kyc.replace(owner_id, sealed)
        assert uow.kyc.get(owner_id) == (sealed, before[1])
        uow.rollback()
        assert uow.kyc.get(owner_id) == before
        uow.kyc.replace(owner_id, sealed)
        uow.commit()
    with world.uow() as uow:
        assert uow.kyc.get(owner_id) == (sealed, before[1])
        assert uow.kyc.all_sealed() == [(owner_id, sealed)]
        assert uow.kyc.get("nobody") is None
        uow.kyc.discard(owner_id)
        assert uow.kyc.all_sealed() == []
        uow.commit()
    with world.uow() as uow:
        assert uow.kyc.get(owner_id) is None


def test_consents_are_granted_once_and_revoked(world: World) -> None:
    _family_id, owner_id, owner = open_family(world)
    hong = join(world, owner)
    assert hong.member_id is not None
    with world.uow() as uow:
        uow.consents.grant(hong.member_id, owner_id, START)
        assert uow.consents.granted(hong.member_id, owner_id)
        uow.commit()
    with world.uow() as uow:
        uow.consents.grant(hong.member_id, owner_id, START + timedelta(days=1))
        assert uow.consents.grantees(hong.member_id) == [owner_id]
        assert not uow.consents.granted(owner_id, hong.member_id)
        uow.consents.revoke(hong.member_id, owner_id)
        assert not uow.consents.granted(hong.member_id, owner_id)
        uow.commit()
    with world.uow() as uow:
        assert uow.consents.grantees(hong.member_id) == []


# ------------------------------------------------------------------ opening a family
def test_open_family_makes_the_owner_with_sealed_identity_and_an_account(world: World) -> None:
    family_id, owner_id, owner = open_family(world)
    with world.uow() as uow:
        family = uow.families.get(family_id)
        assert family.owner.name == "Ming"
        account = uow.accounts.by_member(owner_id)
        assert account is not None
        assert account.login == "owner@example.com"
        sealed, verified_at = uow.kyc.get(owner_id) or pytest.fail("no KYC")
        assert verified_at == START
        assert b"Wong Siu Ming" not in sealed.ciphertext
        assert "family.opened" in [e.action for e in uow.audit.for_family(family_id)]
    assert world.service.kyc_summary(owner, owner_id) == {
        "member_id": owner_id,
        "legal_name": "Wong Siu Ming",
        "document_type": "hk_id",
        "document_number_last4": "4563",
        "verified_at": START.isoformat(),
    }


def test_open_family_refuses_bad_identity_login_or_password_before_anything(
    world: World,
) -> None:
    open_family(world)
    too_young = KycData("Kid", date(2010, 1, 1), DocumentType.PASSPORT, "K1234567")
    cases: list[tuple[dict[str, object], type[Exception]]] = [
        ({"owner_kyc": too_young}, InvalidKyc),
        ({"owner_login": "owner@example.com"}, Conflict),  # taken
        ({"owner_login": "not a login"}, InvalidInput),
        ({"owner_password": "short"}, InvalidInput),
        ({"plan_code": "no-such-plan"}, NotFound),
    ]
    for change, error in cases:
        arguments: dict[str, object] = {
            "name": "Other family",
            "plan_code": PLAN,
            "owner_name": "Other",
            "owner_kyc": OWNER_KYC,
            "owner_login": "other@example.com",
            "owner_password": PASSWORD,
        } | change
        with pytest.raises(error):
            world.service.open_family(**arguments)  # type: ignore[arg-type]
    with world.uow() as uow:
        assert [s.name for s in uow.families.summaries()] == ["Wong family"]


# ------------------------------------------------------------------ invitations
def test_invite_and_accept(world: World) -> None:
    family_id, _owner_id, owner = open_family(world)
    invitation = world.service.invite(
        owner, name="Hong", role=Role.ADULT, channel="phone", address="+852 9123 4567"
    )
    assert invitation.status is InvitationStatus.PENDING
    assert not hasattr(invitation, "code")
    sent_to = world.notifier.sent[-1]
    assert sent_to[:3] == (family_id, "phone", "+85291234567")
    assert sent_to[3].startswith("Your famsim invitation code for Wong family: ")
    code = world.notifier.last_code()
    assert code not in repr(invitation)

    member_id, account_id = world.service.accept(
        invitation.id,
        code=code,
        consent=True,
        kyc=ADULT_KYC,
        login="+852 9123 4567",
        password=PASSWORD,
    )
    with world.uow() as uow:
        family = uow.families.get(family_id)
        member = family.member(member_id)
        assert (member.name, member.role) == ("Hong", Role.ADULT)
        stored = uow.invitations.get(invitation.id)
        assert (stored.status, stored.member_id) == (InvitationStatus.ACCEPTED, member_id)
        account = uow.accounts.by_member(member_id)
        assert account is not None
        assert account.id == account_id
        actions = [e.action for e in uow.audit.for_family(family_id)]
        assert "invitation.sent" in actions
        assert "invitation.accepted" in actions
    hong = Principal.member(account_id, family_id, member_id)
    summary = world.service.kyc_summary(hong, member_id)
    assert summary["legal_name"] == "Li Xiaohong"
    assert summary["document_type"] == "cn_resident_id"
    assert summary["document_number_last4"] == ADULT_KYC.document_number[-4:]
    assert set(summary) == {
        "member_id",
        "legal_name",
        "document_type",
        "document_number_last4",
        "verified_at",
    }
    # the same invitation cannot be used twice
    with pytest.raises(RuleViolation):
        world.service.accept(
            invitation.id,
            code=code,
            consent=True,
            kyc=ADULT_KYC,
            login="hong2@example.com",
            password=PASSWORD,
        )


def test_consent_is_required(world: World) -> None:
    _, _, owner = open_family(world)
    invitation = world.service.invite(
        owner, name="Hong", role=Role.ADULT, channel="email", address="hong@example.com"
    )
    with pytest.raises(ConsentRequired, match="consent"):
        world.service.accept(
            invitation.id,
            code=world.notifier.last_code(),
            consent=False,
            kyc=ADULT_KYC,
            login="hong@example.com",
            password=PASSWORD,
        )
    with world.uow() as uow:
        stored = uow.invitations.get(invitation.id)
        assert (stored.status, stored.attempts) == (InvitationStatus.PENDING, 0)


def test_wrong_codes_count_and_void_the_invitation(world: World) -> None:
    _, _, owner = open_family(world)
    invitation = world.service.invite(
        owner, name="Hong", role=Role.ADULT, channel="email", address="hong@example.com"
    )
    code = world.notifier.last_code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    def attempt(given: str) -> None:
        world.service.accept(
            invitation.id,
            code=given,
            consent=True,
            kyc=ADULT_KYC,
            login="hong@example.com",
            password=PASSWORD,
        )

    for left in (4, 3, 2, 1):
        with pytest.raises(WrongCode) as caught:
            attempt(wrong)
        assert caught.value.attempts_left == left
    with pytest.raises(TooManyAttempts, match="void"):
        attempt(wrong)
    with pytest.raises(InvitationVoid):
        attempt(code)  # even the right code, now
    with world.uow() as uow:
        stored = uow.invitations.get(invitation.id)
        assert (stored.status, stored.attempts) == (InvitationStatus.VOID, 5)
        assert stored.member_id is None


def test_an_expired_invitation_is_refused(world: World) -> None:
    _, _, owner = open_family(world)
    invitation = world.service.invite(
        owner, name="Hong", role=Role.ADULT, channel="email", address="hong@example.com"
    )
    world.clock[0] = START + timedelta(days=7)
    with pytest.raises(InvitationExpired):
        world.service.accept(
            invitation.id,
            code=world.notifier.last_code(),
            consent=True,
            kyc=ADULT_KYC,
            login="hong@example.com",
            password=PASSWORD,
        )


def test_an_invitation_just_before_expiry_is_accepted(world: World) -> None:
    _, _, owner = open_family(world)
    invitation = world.service.invite(
        owner, name="Hong", role=Role.ADULT, channel="email", address="hong@example.com"
    )
    world.clock[0] = START + timedelta(days=7) - timedelta(seconds=1)
    world.service.accept(
        invitation.id,
        code=world.notifier.last_code(),
        consent=True,
        kyc=ADULT_KYC,
        login="hong@example.com",
        password=PASSWORD,
    )


def test_identity_must_fit_the_invited_role(world: World) -> None:
    _, _, owner = open_family(world)
    invitation = world.service.invite(
        owner, name="Kid", role=Role.CHILD, channel="email", address="kid@example.com"
    )
    with pytest.raises(InvalidKyc, match="date_of_birth: age"):
        world.service.accept(
            invitation.id,
            code=world.notifier.last_code(),
            consent=True,
            kyc=ADULT_KYC,
            login="kid@example.com",
            password=PASSWORD,
        )
    member_id, _ = world.service.accept(
        invitation.id,
        code=world.notifier.last_code(),
        consent=True,
        kyc=CHILD_KYC,
        login="kid@example.com",
        password=PASSWORD,
    )
    with world.uow() as uow:
        assert owner.family_id is not None
        child = uow.families.get(owner.family_id).member(member_id)
        assert (child.role, child.guardian_id) == (Role.CHILD, owner.member_id)


def test_who_may_invite_whom(world: World) -> None:
    family_id, owner_id, owner = open_family(world)
    hong = join(world, owner)
    kid = join(
        world, owner, name="Kid", role=Role.CHILD, kyc=CHILD_KYC, login="kid@example.com", by=hong
    )
    with world.uow() as uow:
        assert uow.families.get(family_id).member(kid.member_id or "").guardian_id == hong.member_id

    def invite(by: Principal, role: Role, guardian_id: str | None = None) -> None:
        world.service.invite(
            by,
            name="Someone",
            role=role,
            channel="email",
            address="x@example.com",
            guardian_id=guardian_id,
        )

    with pytest.raises(Forbidden):
        invite(hong, Role.ADULT)  # only the owner invites adults
    with pytest.raises(Forbidden):
        invite(kid, Role.CHILD)
    with pytest.raises(Forbidden):
        invite(kid, Role.ADULT)
    with pytest.raises(Forbidden):
        invite(hong, Role.CHILD, guardian_id=owner_id)  # an adult: its own wards only
    with pytest.raises(Forbidden):
        invite(Principal.staff("key", frozenset(Scope)), Role.ADULT)
    with pytest.raises(RuleViolation):
        invite(owner, Role.OWNER)
    with pytest.raises(InvalidInput):
        world.service.invite(owner, name="X", role=Role.ADULT, channel="email", address="nope")
    with pytest.raises(InvalidInput):
        world.service.invite(owner, name="X", role=Role.ADULT, channel="phone", address="123")
    with pytest.raises(InvalidInput):
        world.service.invite(owner, name="X", role=Role.ADULT, channel="fax", address="123")
    invite(owner, Role.CHILD, guardian_id=hong.member_id)  # the owner may name a guardian
    with world.uow() as uow:
        (named,) = [i for i in uow.invitations.for_family(family_id) if i.name == "Someone"]
        assert named.guardian_id == hong.member_id


# ------------------------------------------------------------------ children, identity
def test_a_guardian_adds_a_child_without_an_account(world: World) -> None:
    family_id, owner_id, owner = open_family(world)
    hong = join(world, owner)
    child_id = world.service.add_child(hong, name="Bao", kyc=CHILD_KYC)
    with world.uow() as uow:
        child = uow.families.get(family_id).member(child_id)
        assert (child.role, child.guardian_id) == (Role.CHILD, hong.member_id)
        assert uow.accounts.by_member(child_id) is None
        assert uow.kyc.get(child_id) is not None
    with pytest.raises(InvalidKyc):
        world.service.add_child(owner, name="Big", kyc=ADULT_KYC)
    kid = join(world, owner, name="Kid", role=Role.CHILD, kyc=CHILD_KYC, login="kid@example.com")
    with pytest.raises(Forbidden):
        world.service.add_child(kid, name="Tiny", kyc=CHILD_KYC)
    # identity summaries: the owner and the member itself only
    assert world.service.kyc_summary(owner, child_id)["legal_name"] == "Wong Ka Yan"
    assert world.service.kyc_summary(hong, hong.member_id or "")["legal_name"] == "Li Xiaohong"
    for viewer, target in ((hong, owner_id), (kid, child_id), (hong, child_id)):
        with pytest.raises(Forbidden):
            world.service.kyc_summary(viewer, target)


def test_consents_between_members(world: World) -> None:
    family_id, owner_id, owner = open_family(world)
    hong = join(world, owner)
    kid = join(world, owner, name="Kid", role=Role.CHILD, kyc=CHILD_KYC, login="kid@example.com")
    assert hong.member_id is not None
    world.service.grant_consent(hong, owner_id)
    world.service.grant_consent(hong, owner_id)  # twice is once
    assert world.service.consents(hong) == [owner_id]
    assert world.service.consented(hong.member_id, owner_id)
    with pytest.raises(Forbidden):
        world.service.grant_consent(kid, owner_id)
    with pytest.raises(InvalidInput):
        world.service.grant_consent(hong, hong.member_id)
    world.service.revoke_consent(hong, owner_id)
    world.service.revoke_consent(hong, owner_id)
    assert not world.service.consented(hong.member_id, owner_id)
    with world.uow() as uow:
        actions = [e.action for e in uow.audit.for_family(family_id)]
    assert actions.count("consent.granted") == 1
    assert actions.count("consent.revoked") == 1


def test_a_failed_account_undoes_the_joining(world: World) -> None:
    family_id, _, owner = open_family(world)
    invitation = world.service.invite(
        owner, name="Hong", role=Role.ADULT, channel="email", address="hong@example.com"
    )
    code = world.notifier.last_code()

    class Refusing:
        def create_account(self, family_id: str, member_id: str, login: str, password: str):  # type: ignore[no-untyped-def]
            raise Conflict("the login 'hong@example.com' is already taken")

    service = InvitationService(
        world.uow, Refusing(), key_ring(world.key1), world.notifier, lambda: world.clock[0]
    )
    with pytest.raises(Conflict):
        service.accept(
            invitation.id,
            code=code,
            consent=True,
            kyc=ADULT_KYC,
            login="hong@example.com",
            password=PASSWORD,
        )
    with world.uow() as uow:
        family = uow.families.get(family_id)
        assert [m.name for m in family.active_members] == ["Ming"]
        removed = [m for m in family.members.values() if m.status is MemberStatus.REMOVED]
        assert [m.name for m in removed] == ["Hong"]
        assert uow.kyc.get(removed[0].id) is None
        assert uow.invitations.get(invitation.id).status is InvitationStatus.PENDING
    # the invitation still works
    world.service.accept(
        invitation.id,
        code=code,
        consent=True,
        kyc=ADULT_KYC,
        login="hong@example.com",
        password=PASSWORD,
    )


# ------------------------------------------------------------------ key rotation
def test_rotation_reseals_everything_under_the_new_key(world: World) -> None:
    _family_id, owner_id, owner = open_family(world)
    hong = join(world, owner)
    child_id = world.service.add_child(owner, name="Bao", kyc=CHILD_KYC)
    key2 = ("k2", secrets.token_bytes(32))
    rotated = world.with_keys(key2, world.key1)
    # before rotating, the old key's records still open through the new ring
    assert rotated.kyc_summary(owner, child_id)["legal_name"] == "Wong Ka Yan"
    assert rotated.rotate_keys() == 3
    with world.uow() as uow:
        assert {s.key_id for _, s in uow.kyc.all_sealed()} == {"k2"}
    assert rotated.rotate_keys() == 0
    only_new = world.with_keys(key2)  # the old key removed
    assert only_new.kyc_summary(owner, owner_id)["legal_name"] == "Wong Siu Ming"
    assert only_new.kyc_summary(owner, hong.member_id or "")["legal_name"] == "Li Xiaohong"
    assert only_new.kyc_summary(owner, child_id)["legal_name"] == "Wong Ka Yan"
    with world.uow() as uow:
        assert "keys.rotated" in [e.action for e in uow.audit.recent()]
