"""The demo family, built only through service commands (as any client would).

A Hong Kong family on the sample HK plan: the owner, a spouse, a teenager, a younger child
whose watch shares the child's number, and a data-only tablet. Identifiers are generated
with valid check digits so every one of them passes the same validation as real input.
"""

from __future__ import annotations

from dataclasses import dataclass

from famsim.domain.access import Scope
from famsim.domain.allocation import ExhaustionAction, Limit
from famsim.domain.errors import NotFound
from famsim.domain.esim.stock import StockedSim
from famsim.domain.identifiers import Eid, Iccid, Imei, Imsi
from famsim.domain.ids import FamilyId
from famsim.domain.lines import SimType
from famsim.domain.members import Role
from famsim.domain.money import Money
from famsim.domain.plan import DeviceKind
from famsim.domain.units import HOME, Resource, Zone, parse_amount
from famsim.service import commands as c
from famsim.service.accounts import AccountService
from famsim.service.messagebus import MessageBus

DEMO_PLAN = "hk-family-5g-100"
DEMO_FAMILY = "Chan family"
GREATER_CHINA = Zone("greater-china")


def _sub(n: int, device: DeviceKind, *, esim: bool = True) -> c.SubscriptionSpec:
    return c.SubscriptionSpec(
        iccid=str(Iccid.from_body(f"8985200001230{n:05d}")),
        imsi=f"4540012300{n:05d}",
        sim_type=SimType.ESIM if esim else SimType.PHYSICAL,
        device_kind=device,
        eid=str(Eid.from_body(f"8904903200001000000000000{n:05d}")) if esim else None,
        imei=str(Imei.from_body(f"353322110{n:05d}")),
    )


def _gb(text: str) -> int:
    return parse_amount(Resource.DATA, text)


def create_demo_family(bus: MessageBus) -> FamilyId:
    """Create the demo family and return its id."""
    hkd = "HKD"
    family: FamilyId = bus.handle(
        c.CreateFamily(
            name=DEMO_FAMILY,
            plan_code=DEMO_PLAN,
            owner_name="Chan Tai Man",
            money_cap=Money.parse("500.00", hkd),
        )
    )
    owner = "Chan Tai Man"
    bus.handle(c.AddMember(family, "Wong Mei Ling", Role.ADULT))
    bus.handle(c.AddMember(family, "Chan Ka Ho", Role.CHILD, guardian_id=owner))
    bus.handle(c.AddMember(family, "Chan Ka Yan", Role.CHILD, guardian_id="Wong Mei Ling"))

    bus.handle(c.AddLine(family, owner, "+85291230001", _sub(1, DeviceKind.PHONE)))
    bus.handle(c.AddLine(family, "Wong Mei Ling", "+85261230002", _sub(2, DeviceKind.PHONE)))
    bus.handle(
        c.AddLine(family, "Chan Ka Ho", "+85251230003", _sub(3, DeviceKind.PHONE, esim=False))
    )
    bus.handle(c.AddLine(family, "Chan Ka Yan", "+85294560004", _sub(4, DeviceKind.PHONE)))
    bus.handle(c.AddCompanion(family, "+85294560004", _sub(5, DeviceKind.WATCH)))
    bus.handle(
        c.AddLine(
            family, "Wong Mei Ling", "+85294560005", _sub(6, DeviceKind.TABLET), data_only=True
        )
    )

    bus.handle(
        c.SetAllocation(
            family,
            "Wong Mei Ling",
            limits={(Resource.DATA, GREATER_CHINA): Limit(quota=_gb("4GB"))},
            money_cap=Money.parse("200.00", hkd),
        )
    )
    bus.handle(
        c.SetAllocation(
            family,
            "Chan Ka Ho",
            limits={(Resource.DATA, HOME): Limit(quota=_gb("20GB"), hard_cap=_gb("25GB"))},
            hotspot_quota=_gb("2GB"),
            exhaustion=ExhaustionAction.THROTTLE,
            money_cap=Money.parse("50.00", hkd),
            roaming_allowed=False,
        )
    )
    bus.handle(
        c.SetAllocation(
            family,
            "Chan Ka Yan",
            limits={
                (Resource.DATA, HOME): Limit(quota=_gb("3GB"), hard_cap=_gb("3GB")),
                (Resource.SMS, HOME): Limit(quota=50, hard_cap=50),
            },
            hotspot_quota=0,
            exhaustion=ExhaustionAction.BLOCK,
            money_cap=Money.zero(hkd),
            roaming_allowed=False,
        )
    )
    return family


# The operator's stock beside the demo family, so `famsim esim order` works at once: eSIM
# profiles (at the built-in SM-DP+ too), a few physical cards, and a range of numbers.
DEMO_NUMBERS = ("+85290120000", "+85290120099")


def demo_stock() -> list[StockedSim]:
    """20 phone eSIMs, 5 watch eSIMs and 5 physical cards (ICCIDs apart from the family's)."""
    kinds = [("phone-5g", 20), ("watch-lte", 5), (None, 5)]
    stock: list[StockedSim] = []
    for profile_type, count in kinds:
        for _ in range(count):
            n = len(stock) + 1
            stock.append(
                StockedSim(
                    Iccid.from_body(f"8985200001240{n:05d}"),
                    Imsi.parse(f"4540012400{n:05d}"),
                    SimType.ESIM if profile_type else SimType.PHYSICAL,
                    profile_type,
                )
            )
    return stock


# ------------------------------------------------------------------ demo sign-ins
# The demo's people sign in with these (printed by `famsim demo`, and written to
# demo-logins.json in the data directory); a real family sets its own.
@dataclass(frozen=True, slots=True)
class DemoLogin:
    role: str
    member: str
    login: str
    password: str


DEMO_LOGINS = (
    DemoLogin("owner", "Chan Tai Man", "taiman@chan-family.example", "demo-owner-2026"),
    DemoLogin("adult", "Wong Mei Ling", "meiling@chan-family.example", "demo-adult-2026"),
    DemoLogin("child", "Chan Ka Yan", "kayan@chan-family.example", "demo-child-2026"),
)
DEMO_KEY_NAME = "demo operator console"
HISTORY_DAYS = 9
"""The demo family's cycle began this many days before its first `famsim demo`, and
the traffic simulator fills those days in, so the charts have a history to show."""


def create_demo_accounts(accounts: AccountService, family_id: str) -> None:
    """The demo people's accounts (those missing)."""
    for person in DEMO_LOGINS:
        try:
            accounts.account_by_login(person.login)
        except NotFound:
            accounts.create_account(
                family_id, person.member, person.login, person.password, actor="demo"
            )


def demo_operator_key(accounts: AccountService) -> str:
    """A new operator key with every scope, for the demo's console."""
    key, _ = accounts.create_api_key(DEMO_KEY_NAME, list(Scope), actor="demo")
    return key
