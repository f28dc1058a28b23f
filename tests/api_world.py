"""A famsim with the demo family, accounts and operator keys, for API tests (not a test
module): the owner Chan Tai Man, the adult Wong Mei Ling and the child Chan Ka Yan can sign
in; SIMs, numbers and the built-in SM-DP+ are stocked as by ``famsim demo``; ``keys``
holds one operator key with every scope and one that may only read plans."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from famsim.bootstrap import App, bootstrap
from famsim.config import Settings
from famsim.demo import DEMO_NUMBERS, create_demo_family, demo_stock
from famsim.domain.access import Scope
from famsim.domain.identifiers import Msisdn
from famsim.service import inventory
from famsim.service.commands import LoadPlans

PASSWORD = "correct horse battery 42"
LOGINS = {
    "owner": ("Chan Tai Man", "chan@example.com"),
    "adult": ("Wong Mei Ling", "wong@example.com"),
    "child": ("Chan Ka Yan", "+85294560004"),
}


@dataclass
class ApiWorld:
    app: App
    family_id: str
    members: dict[str, str]  # role -> member id
    keys: dict[str, str]  # "all" / "none" -> API key text

    def login(self, who: str) -> str:
        return LOGINS[who][1]


def build(tmp_path: Path, **settings: Any) -> ApiWorld:
    app = bootstrap(
        Settings(database_url=f"sqlite:///{tmp_path}/api.db", data_dir=tmp_path, **settings)
    )
    app.initialise()
    app.bus.handle(LoadPlans(tuple(app.read_catalog())))
    family_id = create_demo_family(app.bus)
    accounts = app.accounts()
    members: dict[str, str] = {}
    for role, (name, login) in LOGINS.items():
        account = accounts.create_account(family_id, name, login, PASSWORD)
        members[role] = account.member_id
    now = datetime.now(UTC)
    stock = demo_stock()
    inventory.stock_sims(app.uow, stock, now, "tests")
    profiles = [(s.iccid, s.profile_type) for s in stock if s.profile_type is not None]
    app.smdp().run(lambda smdp, _: smdp.add_all(profiles))
    first, last = (Msisdn.parse(n) for n in DEMO_NUMBERS)
    inventory.add_number_range(app.uow, first, last, now, "tests")
    keys = {
        "all": accounts.create_api_key("tests: every scope", list(Scope))[0],
        "plans": accounts.create_api_key("tests: plans only", [Scope.PLANS_READ])[0],
    }
    return ApiWorld(app, family_id, members, keys)
