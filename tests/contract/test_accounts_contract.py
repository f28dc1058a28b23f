"""Accounts, sign-in, sessions, TOTP and API keys alike in memory, on SQLite and PostgreSQL.

The repositories (``uow.accounts``, ``uow.sessions``, ``uow.api_keys``) first, then the
AccountService on top of them with a clock the tests move by hand (lockouts end, sessions
expire, rate windows pass) and argon2 at its cheapest so the suite stays fast.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import argon2
import pyotp
import pytest
import sqlalchemy as sa

from famsim.adapters.memory import MemoryUnitOfWork
from famsim.adapters.security.keyring import KeyRing
from famsim.adapters.security.passwords import Argon2Passwords
from famsim.domain.access import Principal, PrincipalKind, Scope
from famsim.domain.accounts import (
    Account,
    ApiKey,
    LoginPolicy,
    SessionKind,
    token_hash,
)
from famsim.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RuleViolation,
    TooManyAttempts,
    Unauthenticated,
)
from famsim.domain.members import Role
from famsim.domain.sealed import Sealed
from famsim.service import commands as c
from famsim.service.accounts import AccountService, SecondFactorRequired
from famsim.service.messagebus import MessageBus

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
PASSWORD = "correct horse 7"
OTHER_PASSWORD = "Battery staple 8"


class Now:
    """A clock the test moves: ``now.advance(minutes=15)``."""

    def __init__(self) -> None:
        self.value = START

    def __call__(self) -> datetime:
        return self.value

    def advance(self, **delta: float) -> None:
        self.value += timedelta(**delta)


def fast_passwords() -> Argon2Passwords:
    return Argon2Passwords(argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@dataclasses.dataclass
class Family:
    id: str
    owner: str
    adult: str
    child: str


@pytest.fixture
def family(bus: MessageBus) -> Family:
    family_id = bus.handle(c.CreateFamily("Chan family", "hk-family-5g-100", "Ann"))
    with bus._uow_factory() as uow:
        owner = uow.families.get(family_id).owner_id
    adult = bus.handle(c.AddMember(family_id, "Bob", Role.ADULT))
    child = bus.handle(c.AddMember(family_id, "Cat", Role.CHILD, guardian_id=owner))
    return Family(family_id, owner, adult, child)


@pytest.fixture
def now() -> Now:
    return Now()


@pytest.fixture
def sealer() -> KeyRing:
    return KeyRing([("k1", os.urandom(32))])


@pytest.fixture
def service(uow_factory: Any, now: Now, sealer: KeyRing) -> AccountService:
    return AccountService(uow_factory, fast_passwords(), sealer, now)


@pytest.fixture
def ann(service: AccountService, family: Family) -> Account:
    return service.create_account(family.id, family.owner, "Ann@Example.com", PASSWORD)


def sign_in(service: AccountService, kind: SessionKind = SessionKind.COOKIE, **kw: Any) -> Any:
    return service.login("ann@example.com", kw.pop("password", PASSWORD), kind=kind, **kw)


def login_results(service: AccountService, account: Account) -> list[Any]:
    member = Principal.member(account.id, account.family_id, account.member_id)
    return [e.detail["result"] for e in service.login_history(member)]


# ------------------------------------------------------------------- repositories
def test_accounts_read_back_equal_and_stay_unique(uow_factory: Any, family: Family) -> None:
    sealed = Sealed("k1", b"\x01" * 12, b"ciphertext and tag")
    account = Account(
        "acc1", "ann@example.com", family.id, family.owner, "hash", sealed, 2, START, START
    )
    with uow_factory() as uow:
        uow.accounts.add(account)
        uow.commit()
    with uow_factory() as uow:
        assert uow.accounts.get("acc1") == account
        assert uow.accounts.by_login("ann@example.com") == account
        assert uow.accounts.by_member(family.owner) == account
        assert uow.accounts.get("nope") is None
        assert uow.accounts.by_login("x@y.z") is None
        changed = dataclasses.replace(account, totp=None, failed_logins=0, locked_until=None)
        uow.accounts.save(changed)
        uow.commit()
    with uow_factory() as uow:
        assert uow.accounts.get("acc1", for_update=True) == changed
    twin = dataclasses.replace(account, id="acc2", member_id=family.adult)
    with uow_factory() as uow, pytest.raises(Conflict, match="already taken"):
        uow.accounts.add(twin)
    same_member = dataclasses.replace(account, id="acc3", login="other@example.com")
    with uow_factory() as uow, pytest.raises(Conflict, match="already has an account"):
        uow.accounts.add(same_member)


def test_an_account_not_committed_is_gone(uow_factory: Any, family: Family) -> None:
    account = Account("acc1", "a@b.co", family.id, family.owner, None, None, 0, None, START)
    with uow_factory() as uow:
        uow.accounts.add(account)
    with uow_factory() as uow:
        assert uow.accounts.get("acc1") is None


def test_sessions_revoke_one_or_all_but_one(uow_factory: Any, family: Family) -> None:
    account = Account("acc1", "a@b.co", family.id, family.owner, None, None, 0, None, START)
    later = START + timedelta(hours=1)
    with uow_factory() as uow:
        uow.accounts.add(account)
        for name in "abc":
            uow.sessions.add(token_hash(name), "acc1", SessionKind.BEARER, START, later)
        uow.commit()
    with uow_factory() as uow:
        stored = uow.sessions.get(token_hash("a"))
        assert stored is not None
        assert (stored.account_id, stored.kind, stored.expires_at) == (
            "acc1",
            SessionKind.BEARER,
            later,
        )
        assert stored.revoked_at is None
        assert uow.sessions.get(token_hash("zz")) is None
        uow.sessions.revoke(token_hash("a"), START)
        uow.commit()
    with uow_factory() as uow:
        assert uow.sessions.revoke_all("acc1", START, keep=token_hash("c")) == 1
        uow.commit()
    with uow_factory() as uow:
        revoked = {n: uow.sessions.get(token_hash(n)).revoked_at for n in "abc"}  # type: ignore[union-attr]
    assert revoked == {"a": START, "b": START, "c": None}


def test_api_keys_by_hash_listing_and_revocation(uow_factory: Any) -> None:
    one = ApiKey("k1", "aaaa1111", "billing", frozenset({Scope.CHARGING}), START)
    two = ApiKey(
        "k2",
        "bbbb2222",
        "portal",
        frozenset({Scope.PLANS_READ, Scope.FAMILIES_READ}),
        START + timedelta(seconds=1),
    )
    with uow_factory() as uow:
        uow.api_keys.add(one, "1" * 64)
        uow.api_keys.add(two, "2" * 64)
        uow.commit()
    with uow_factory() as uow:
        assert uow.api_keys.by_hash("2" * 64) == two
        assert uow.api_keys.by_hash("3" * 64) is None
        assert uow.api_keys.get("k1") == one
        assert uow.api_keys.listing() == [one, two]
        uow.api_keys.revoke("k1", START)
        uow.commit()
    with uow_factory() as uow:
        assert uow.api_keys.get("k1") == dataclasses.replace(one, revoked_at=START)


# ------------------------------------------------------------------------ accounts
def test_create_an_account_for_an_active_member(
    service: AccountService, family: Family, uow_factory: Any
) -> None:
    account = service.create_account(family.id, "Bob", "+852 9123 4567", PASSWORD)
    assert (account.login, account.member_id, account.family_id) == (
        "+85291234567",
        family.adult,
        family.id,
    )
    assert account.password_hash
    assert PASSWORD not in account.password_hash
    with uow_factory() as uow:
        events = uow.audit.for_family(family.id)
    created = [e.subject for e in events if e.action == "account.created"]
    assert created == [account.id]


def test_account_creation_refusals(service: AccountService, family: Family, bus: Any) -> None:
    service.create_account(family.id, family.owner, "ann@example.com", PASSWORD)
    with pytest.raises(Conflict, match="already taken"):
        service.create_account(family.id, family.adult, "ANN@example.com", PASSWORD)
    with pytest.raises(Conflict, match="already has an account"):
        service.create_account(family.id, family.owner, "ann2@example.com", PASSWORD)
    with pytest.raises(InvalidInput, match="at least 10 characters"):
        service.create_account(family.id, family.adult, "bob@example.com", "short")
    with pytest.raises(InvalidInput, match="exactly one @"):
        service.create_account(family.id, family.adult, "bob@@example.com", PASSWORD)
    with pytest.raises(NotFound):
        service.create_account(family.id, "nobody", "bob@example.com", PASSWORD)
    with pytest.raises(NotFound):
        service.create_account("no-family", family.adult, "bob@example.com", PASSWORD)
    bus.handle(c.RemoveMember(family.id, family.child))
    with pytest.raises(RuleViolation, match="removed"):
        service.create_account(family.id, family.child, "cat@example.com", PASSWORD)


# ------------------------------------------------------------------------- sign-in
def test_sign_in_and_authenticate(service: AccountService, ann: Account, now: Now) -> None:
    issued = sign_in(service, ip="192.0.2.1", user_agent="pytest/1")
    assert issued.kind is SessionKind.COOKIE
    assert issued.expires_at == START + timedelta(hours=12)
    expected = Principal.member(ann.id, ann.family_id, ann.member_id)
    assert issued.principal == expected
    assert service.authenticate(issued.token) == expected
    member = Principal.member(ann.id, ann.family_id, ann.member_id)
    [event] = service.login_history(member)
    assert (event.action, event.actor, event.subject, event.family_id) == (
        "login",
        ann.id,
        ann.id,
        ann.family_id,
    )
    assert dict(event.detail) == {
        "result": "ok",
        "ip": "192.0.2.1",
        "user_agent": "pytest/1",
        "kind": "cookie",
    }


def test_wrong_password_and_unknown_login_look_the_same(
    service: AccountService, ann: Account, uow_factory: Any
) -> None:
    with pytest.raises(Unauthenticated) as wrong:
        sign_in(service, password="Wrong password 1")
    with pytest.raises(Unauthenticated) as unknown:
        service.login("Nobody@Example.com", PASSWORD, kind=SessionKind.COOKIE, ip="192.0.2.9")
    with pytest.raises(Unauthenticated) as garbage:
        service.login("not a login", PASSWORD, kind=SessionKind.COOKIE)
    assert str(wrong.value) == str(unknown.value) == str(garbage.value) == "wrong login or password"
    assert type(wrong.value) is type(unknown.value) is Unauthenticated
    with uow_factory() as uow:
        events = [e for e in uow.audit.recent() if e.action == "login"]
    stranger = next(e for e in events if e.subject == "nobody@example.com")
    assert (stranger.actor, stranger.family_id) == ("unknown", None)
    assert stranger.detail["result"] == "unknown_login"
    assert stranger.detail["ip"] == "192.0.2.9"
    assert login_results(service, ann) == ["wrong_password"]


def test_lockout_after_max_failures_even_with_the_right_password(
    service: AccountService, ann: Account, now: Now, uow_factory: Any
) -> None:
    for _ in range(4):
        with pytest.raises(Unauthenticated):
            sign_in(service, password="Wrong password 1")
    with pytest.raises(TooManyAttempts, match="locked for 15 more minutes") as locked:
        sign_in(service, password="Wrong password 1")
    assert locked.value.retry_after_s == 15 * 60
    now.advance(minutes=5)
    with pytest.raises(TooManyAttempts) as still:
        sign_in(service)  # the right password
    assert still.value.retry_after_s == 10 * 60
    with uow_factory() as uow:
        stored = uow.accounts.get(ann.id)
    assert stored is not None
    assert (stored.failed_logins, stored.locked_until) == (5, START + timedelta(minutes=15))
    now.advance(minutes=10)
    assert sign_in(service).principal.id == ann.id
    with uow_factory() as uow:
        stored = uow.accounts.get(ann.id)
    assert stored is not None
    assert (stored.failed_logins, stored.locked_until) == (0, None)
    assert login_results(service, ann) == ["wrong_password"] * 5 + ["locked", "ok"]


def test_a_success_resets_the_count(service: AccountService, ann: Account) -> None:
    for _ in range(4):
        with pytest.raises(Unauthenticated):
            sign_in(service, password="Wrong password 1")
    sign_in(service)
    for _ in range(4):
        with pytest.raises(Unauthenticated):
            sign_in(service, password="Wrong password 1")
    sign_in(service)


def test_one_address_failing_too_often_is_refused_before_any_check(
    uow_factory: Any, now: Now, sealer: KeyRing, family: Family
) -> None:
    policy = LoginPolicy(max_failures=100, ip_failures_per_minute=3)
    service = AccountService(uow_factory, fast_passwords(), sealer, now, policy=policy)
    service.create_account(family.id, family.owner, "ann@example.com", PASSWORD)
    for n in range(3):
        with pytest.raises(Unauthenticated):
            service.login(f"user{n}@example.com", "x", kind=SessionKind.COOKIE, ip="192.0.2.7")
        now.advance(seconds=10)
    with pytest.raises(TooManyAttempts, match="from this address") as refused:
        sign_in(service, ip="192.0.2.7")  # right password, same address
    assert refused.value.retry_after_s == 30  # the first failure leaves the window then
    assert sign_in(service, ip="198.51.100.1").principal  # another address is fine
    now.advance(seconds=30)
    assert sign_in(service, ip="192.0.2.7").principal


def test_a_removed_member_cannot_sign_in(service: AccountService, family: Family, bus: Any) -> None:
    service.create_account(family.id, family.adult, "bob@example.com", PASSWORD)
    bus.handle(c.RemoveMember(family.id, family.adult))
    with pytest.raises(Unauthenticated, match="left the family"):
        service.login("bob@example.com", PASSWORD, kind=SessionKind.COOKIE)


def test_an_outdated_hash_is_replaced_at_sign_in(
    uow_factory: Any, now: Now, sealer: KeyRing, family: Family
) -> None:
    class Outdated(Argon2Passwords):
        def needs_rehash(self, stored: str) -> bool:
            return True

    service = AccountService(uow_factory, Outdated(argon2.PasswordHasher(1, 8, 1)), sealer, now)
    account = service.create_account(family.id, family.owner, "ann@example.com", PASSWORD)
    sign_in(service)
    with uow_factory() as uow:
        stored = uow.accounts.get(account.id)
    assert stored is not None
    assert stored.password_hash != account.password_hash
    assert sign_in(service).principal.id == account.id


# ------------------------------------------------------------------------ sessions
def test_cookies_last_a_day_tokens_a_month(service: AccountService, ann: Account, now: Now) -> None:
    cookie = sign_in(service)
    bearer = sign_in(service, SessionKind.BEARER)
    assert bearer.expires_at == START + timedelta(days=30)
    now.advance(hours=12)
    with pytest.raises(Unauthenticated, match="expired"):
        service.authenticate(cookie.token)
    assert service.authenticate(bearer.token).id == ann.id
    now.advance(days=30)
    with pytest.raises(Unauthenticated):
        service.authenticate(bearer.token)


def test_logout_ends_only_that_session(service: AccountService, ann: Account) -> None:
    one, two = sign_in(service), sign_in(service, SessionKind.BEARER)
    service.logout(one.token)
    service.logout(one.token)  # twice: nothing more happens
    service.logout("never issued")
    with pytest.raises(Unauthenticated):
        service.authenticate(one.token)
    assert service.authenticate(two.token).id == ann.id
    for bad in ("", "x" * 10_000, "never issued"):
        with pytest.raises(Unauthenticated):
            service.authenticate(bad)


def test_change_password_ends_the_other_sessions(service: AccountService, ann: Account) -> None:
    mine, other = sign_in(service), sign_in(service, SessionKind.BEARER)
    me = mine.principal
    with pytest.raises(Unauthenticated, match="current password is wrong"):
        service.change_password(me, "Wrong password 1", OTHER_PASSWORD)
    with pytest.raises(InvalidInput, match="at least two kinds"):
        service.change_password(me, PASSWORD, "onlylowercaseletters")
    with pytest.raises(InvalidInput, match="must differ"):
        service.change_password(me, PASSWORD, PASSWORD)
    service.change_password(me, PASSWORD, OTHER_PASSWORD, keep_token=mine.token)
    assert service.authenticate(mine.token).id == ann.id
    with pytest.raises(Unauthenticated):
        service.authenticate(other.token)
    with pytest.raises(Unauthenticated, match="wrong login or password"):
        sign_in(service)
    assert sign_in(service, password=OTHER_PASSWORD).principal.id == ann.id
    staff = Principal.staff("k", frozenset(Scope))
    with pytest.raises(Forbidden):
        service.change_password(staff, PASSWORD, OTHER_PASSWORD)


# ---------------------------------------------------------------------------- TOTP
def code(secret: str, at: datetime) -> str:
    return pyotp.TOTP(secret).at(at)


def test_totp_on_then_sign_in_with_and_without_a_code(
    service: AccountService, ann: Account, now: Now, sealer: KeyRing, uow_factory: Any
) -> None:
    me = sign_in(service).principal
    setup = service.start_totp(me)
    assert setup.uri.startswith("otpauth://totp/famsim:ann%40example.com?secret=")
    assert setup.secret in setup.uri
    assert sign_in(service).principal.second_factor is False  # not on until confirmed
    with pytest.raises(InvalidInput, match="code"):
        service.confirm_totp(me, "000000" if code(setup.secret, START) != "000000" else "111111")
    service.confirm_totp(me, code(setup.secret, START))
    with uow_factory() as uow:
        stored = uow.accounts.get(ann.id)
    assert stored is not None
    assert stored.totp is not None
    assert setup.secret.encode() not in stored.totp.ciphertext
    assert sealer.open(stored.totp, f"totp:{ann.id}") == setup.secret.encode()

    with pytest.raises(SecondFactorRequired, match=r"one-time code .* is required") as missing:
        sign_in(service)
    assert isinstance(missing.value, Unauthenticated)
    now.advance(seconds=30)
    with pytest.raises(Unauthenticated, match="one-time code is wrong"):
        sign_in(service, totp="12345")
    with uow_factory() as uow:
        assert uow.accounts.get(ann.id).failed_logins == 1  # type: ignore[union-attr]
    issued = sign_in(service, SessionKind.BEARER, totp=code(setup.secret, now.value))
    assert issued.principal.second_factor is True
    assert service.authenticate(issued.token).second_factor is True
    with pytest.raises(Unauthenticated, match="already used"):  # a code works once
        sign_in(service, totp=code(setup.secret, now.value))
    assert login_results(service, ann)[-4:] == ["code_required", "wrong_code", "ok", "wrong_code"]


def test_totp_setup_refusals_and_turning_it_off(
    service: AccountService, ann: Account, now: Now
) -> None:
    me = sign_in(service).principal
    with pytest.raises(NotFound, match="no two-step sign-in setup"):
        service.confirm_totp(me, "123456")
    setup = service.start_totp(me)
    now.advance(minutes=11)
    with pytest.raises(NotFound, match="expired"):
        service.confirm_totp(me, code(setup.secret, now.value))
    setup = service.start_totp(me)
    service.confirm_totp(me, code(setup.secret, now.value))
    with pytest.raises(Conflict, match="already on"):
        service.start_totp(me)
    now.advance(seconds=30)
    with pytest.raises(Unauthenticated):
        service.disable_totp(me, "000000" if code(setup.secret, now.value) != "000000" else "1")
    service.disable_totp(me, code(setup.secret, now.value))
    with pytest.raises(Conflict, match="not on"):
        service.disable_totp(me, code(setup.secret, now.value))
    assert sign_in(service).principal.second_factor is False


# ------------------------------------------------------------------------ API keys
def test_api_keys_with_scopes_and_revocation(service: AccountService, now: Now) -> None:
    text, key = service.create_api_key("billing gateway", ["charging", Scope.USAGE_READ])
    assert text.startswith(f"fsk_{key.prefix}_")
    principal = service.authenticate_key(text)
    assert principal.kind is PrincipalKind.STAFF
    assert principal.id == key.id
    assert principal.scopes == {Scope.CHARGING, Scope.USAGE_READ}
    assert principal.has(Scope.CHARGING)
    assert not principal.has(Scope.PLANS_WRITE)
    with pytest.raises(InvalidInput, match="unknown scope 'plans:delete'"):
        service.create_api_key("x", ["plans:delete"])
    now.advance(seconds=1)
    _, other = service.create_api_key("portal", ["plans:read"])
    assert [k.id for k in service.api_keys()] == [key.id, other.id]
    revoked = service.revoke_api_key(key.id)
    assert revoked.revoked_at is not None
    with pytest.raises(Unauthenticated, match="revoked"):
        service.authenticate_key(text)
    assert service.revoke_api_key(other.prefix).id == other.id  # by its prefix
    assert all(k.revoked_at is not None for k in service.api_keys())
    with pytest.raises(NotFound):
        service.revoke_api_key("nope")
    for bad in ("", "fsk_nope", text + "x", "Bearer " + text):
        with pytest.raises(Unauthenticated):
            service.authenticate_key(bad)


# ------------------------------------------------------------------------- history
def test_login_history_is_per_account(service: AccountService, family: Family) -> None:
    ann = service.create_account(family.id, family.owner, "ann@example.com", PASSWORD)
    bob = service.create_account(family.id, family.adult, "bob@example.com", PASSWORD)
    sign_in(service)
    with pytest.raises(Unauthenticated):
        service.login("bob@example.com", "Wrong password 1", kind=SessionKind.BEARER)
    ann_p = Principal.member(ann.id, family.id, family.owner)
    bob_p = Principal.member(bob.id, family.id, family.adult)
    assert [e.detail["result"] for e in service.login_history(ann_p)] == ["ok"]
    assert [e.detail["result"] for e in service.login_history(bob_p)] == ["wrong_password"]
    with pytest.raises(Forbidden, match="only its own"):
        service.login_history(bob_p, account_id=ann.id)
    with pytest.raises(Forbidden, match="audit:read"):
        service.login_history(Principal.staff("k", frozenset({Scope.CHARGING})), account_id=ann.id)
    auditor = Principal.staff("k", frozenset({Scope.AUDIT_READ}))
    assert len(service.login_history(auditor, account_id=bob.id)) == 1
    assert service.login_history(ann_p, limit=0) == []


# ------------------------------------------------------------- nothing in clear text
@pytest.fixture
def stored_text(request: pytest.FixtureRequest, uow_factory: Any) -> Iterator[Any]:
    """Everything stored in the account tables, as one string per backend."""
    engine = None
    if uow_factory.backend != "memory":
        fixture = "sqlite_url" if uow_factory.backend == "sqlite" else "fresh_postgres_url"
        engine = sa.create_engine(request.getfixturevalue(fixture))

    def dump() -> str:
        if engine is None:
            uow = uow_factory()
            assert isinstance(uow, MemoryUnitOfWork)
            return repr(uow._store.account_tables) + repr(uow._store.audit)
        with engine.connect() as connection:
            return "\n".join(
                repr(list(connection.execute(sa.text(f"SELECT * FROM {table}"))))
                for table in ("accounts", "sessions", "api_keys", "audit_events")
            )

    yield dump
    if engine is not None:
        engine.dispose()


def test_tokens_keys_passwords_and_totp_secrets_are_never_stored_in_clear(
    service: AccountService, ann: Account, now: Now, stored_text: Any
) -> None:
    cookie = sign_in(service)
    bearer = sign_in(service, SessionKind.BEARER)
    setup = service.start_totp(cookie.principal)
    service.confirm_totp(cookie.principal, code(setup.secret, now.value))
    key, _ = service.create_api_key("billing", ["charging"])
    text = stored_text()
    assert token_hash(cookie.token) in text
    assert token_hash(key) in text
    for secret in (cookie.token, bearer.token, key, key.split("_", 2)[2], PASSWORD, setup.secret):
        assert secret not in text
