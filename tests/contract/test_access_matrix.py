"""The privacy matrix: every role against every read and write of a family, in the service
layer. Each allowed cell is checked to work and each forbidden one to be refused.

The family: owner Olivia; adults Ada (who let Olivia see her detail) and Ben (who did not);
child Cai (Ada's ward) and child Dot (Olivia's ward). Outside: Xavier, owner of another
family, and operator keys with one scope each (or none).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from famsim.domain.access import Principal, Scope
from famsim.domain.allocation import Limit
from famsim.domain.errors import Forbidden, NotFound
from famsim.domain.family import Family
from famsim.domain.members import Role
from famsim.domain.plan import Plan
from famsim.domain.units import Resource, zone
from famsim.service.access import FamilyReads, FamilyWrites, Visibility, member_visibility
from famsim.service.commands import SetAllocation
from famsim.service.messagebus import MessageBus

pytestmark = pytest.mark.integration

MEMBERS = ("olivia", "ada", "ben", "cai", "dot")
STAFF_SCOPES = (None, *Scope)
V = Visibility


@dataclass
class Setting:
    family: Family
    other: Family
    ids: dict[str, str]
    reads: FamilyReads
    writes: FamilyWrites
    consents: set[tuple[str, str]]

    def member(self, name: str) -> Principal:
        return Principal.member(f"acct-{name}", self.family.id, self.ids[name])


@pytest.fixture
def setting(uow_factory: Any, hk_plan: Plan, clock: Any) -> Setting:
    today = clock.today()
    family = Family.create(name="Ng family", plan=hk_plan, owner_name="Olivia", today=today)
    ada = family.add_member(hk_plan, name="Ada", role=Role.ADULT, today=today)
    ben = family.add_member(hk_plan, name="Ben", role=Role.ADULT, today=today)
    cai = family.add_member(hk_plan, name="Cai", role=Role.CHILD, today=today, guardian_id=ada.id)
    dot = family.add_member(
        hk_plan, name="Dot", role=Role.CHILD, today=today, guardian_id=family.owner_id
    )
    other = Family.create(name="Xu family", plan=hk_plan, owner_name="Xavier", today=today)
    with uow_factory() as uow:
        uow.families.add(family)
        uow.families.add(other)
        uow.commit()
    ids = {"olivia": family.owner_id, "ada": ada.id, "ben": ben.id, "cai": cai.id, "dot": dot.id}
    consents = {(ada.id, family.owner_id)}  # Ada lets Olivia see her detail
    with uow_factory() as uow:
        uow.consents.grant(ada.id, family.owner_id, datetime.now(UTC))
        uow.commit()
    reads = FamilyReads(uow_factory)
    writes = FamilyWrites(uow_factory, MessageBus(uow_factory, clock).handle)
    return Setting(family, other, ids, reads, writes, consents)


# Who sees how much of whom: the rules of service/access.py, spelled out cell by cell.
EXPECTED: dict[str, dict[str, Visibility]] = {
    "olivia": {
        "olivia": V.DETAIL,
        "ada": V.DETAIL,
        "ben": V.TOTALS,
        "cai": V.DETAIL,
        "dot": V.DETAIL,
    },
    "ada": {"olivia": V.NONE, "ada": V.DETAIL, "ben": V.NONE, "cai": V.DETAIL, "dot": V.NONE},
    "ben": {"olivia": V.NONE, "ada": V.NONE, "ben": V.DETAIL, "cai": V.NONE, "dot": V.NONE},
    "cai": {"olivia": V.NONE, "ada": V.NONE, "ben": V.NONE, "cai": V.DETAIL, "dot": V.NONE},
    "dot": {"olivia": V.NONE, "ada": V.NONE, "ben": V.NONE, "cai": V.NONE, "dot": V.DETAIL},
}


def principals(s: Setting) -> dict[str, Principal]:
    found = {name: s.member(name) for name in MEMBERS}
    found["xavier"] = Principal.member("acct-x", s.other.id, s.other.owner_id)
    for scope in STAFF_SCOPES:
        scopes = frozenset() if scope is None else frozenset({scope})
        found[f"staff:{scope.value if scope else 'none'}"] = Principal.staff("key", scopes)
    return found


def expected_visibility(who: str, target: str) -> Visibility:
    if who in EXPECTED:
        return EXPECTED[who][target]
    if who == "staff:usage:read":
        return V.DETAIL
    if who == "staff:families:read":
        return V.TOTALS
    return V.NONE


def outcome(action: Callable[[], Any]) -> str:
    try:
        action()
    except Forbidden:
        return "forbidden"
    except NotFound:
        return "not found"
    return "ok"


def test_every_role_sees_exactly_what_it_may(setting: Setting) -> None:
    def consented(grantor: str, grantee: str) -> bool:
        return (grantor, grantee) in setting.consents

    for who, principal in principals(setting).items():
        for target in MEMBERS:
            got = member_visibility(principal, setting.family, setting.ids[target], consented)
            assert got == expected_visibility(who, target), (who, target)


def test_reading_the_family_shows_only_what_each_may_see(setting: Setting) -> None:
    for who, principal in principals(setting).items():
        may_read = who in EXPECTED or who == "staff:families:read"
        if not may_read:
            refusal = "not found" if who == "xavier" else "forbidden"
            assert (
                outcome(lambda p=principal: setting.reads.family(p, setting.family.id)) == refusal
            ), who
            continue
        seen = setting.reads.family(principal, setting.family.id)
        by_id = {m["id"]: m for m in seen["members"]}
        for target in MEMBERS:
            entry = by_id[setting.ids[target]]
            level = expected_visibility(who, target)
            assert ("usage" in entry) is (level >= V.TOTALS), (who, target)
            assert ("allocation" in entry) is (level >= V.TOTALS), (who, target)
            assert ("lines" in entry) is (level >= V.DETAIL), (who, target)
        sees_pools = who not in ("cai", "dot")
        assert (seen["pools"] is not None) is sees_pools, who


def test_usage_by_day_only_with_detail(setting: Setting) -> None:
    for who, principal in principals(setting).items():
        for target in MEMBERS:
            got = outcome(
                lambda p=principal, t=target: setting.reads.usage_by_day(
                    p, setting.family.id, setting.ids[t]
                )
            )
            if who == "xavier":
                assert got == "not found"
            elif who.startswith("staff:") and who != "staff:usage:read":
                assert got == "forbidden", (who, target)
            else:
                allowed = expected_visibility(who, target) is V.DETAIL
                assert got == ("ok" if allowed else "forbidden"), (who, target)


def test_only_the_owner_and_staff_with_families_write_change_allocations(setting: Setting) -> None:
    for who, principal in principals(setting).items():
        for target in MEMBERS:
            command = SetAllocation(
                family_id=setting.family.id,
                member_id=setting.ids[target],
                limits={(Resource.DATA, zone("home")): Limit(quota=10**9)},
            )
            got = outcome(lambda p=principal, c=command: setting.writes.set_allocation(p, c))
            if who in ("olivia", "staff:families:write"):
                assert got == "ok", (who, target)
            elif who == "xavier":
                assert got == "not found"
            else:
                assert got == "forbidden", (who, target)


def test_only_the_owner_and_staff_with_audit_read_see_the_audit(setting: Setting) -> None:
    for who, principal in principals(setting).items():
        got = outcome(lambda p=principal: setting.reads.audit(p, setting.family.id, 50))
        if who in ("olivia", "staff:audit:read"):
            assert got == "ok", who
        elif who == "xavier":
            assert got == "not found"
        else:
            assert got == "forbidden", who


def test_the_pools_daily_usage_for_whoever_sees_the_pools(setting: Setting) -> None:
    for who, principal in principals(setting).items():
        got = outcome(lambda p=principal: setting.reads.pool_usage_by_day(p, setting.family.id))
        if who in ("olivia", "ada", "ben", "staff:families:read"):
            assert got == "ok", who
        elif who == "xavier":
            assert got == "not found"
        else:
            assert got == "forbidden", who
