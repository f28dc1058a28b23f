"""The family view shows pool usage from the charging ledger, the one record of usage."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from famsim.adapters.memory import MemoryStore, MemoryUnitOfWork
from famsim.demo import create_demo_family
from famsim.domain.units import Resource
from famsim.service import views
from famsim.service.charging import ChargingRequest, ChargingService, RequestType, ServiceUse
from famsim.service.messagebus import MessageBus

pytestmark = pytest.mark.unit

TEEN_IMSI = "454001230000003"


def test_pools_in_the_family_view_show_charged_usage(
    memory_store: MemoryStore, memory_bus: MessageBus
) -> None:
    family_id = create_demo_family(memory_bus)
    charging = ChargingService(
        lambda: MemoryUnitOfWork(memory_store), now=lambda: datetime(2026, 1, 31, tzinfo=UTC)
    )
    start = ChargingRequest("s", 0, RequestType.INITIAL, TEEN_IMSI, (ServiceUse(Resource.DATA),))
    granted = charging.handle(start).services[0].granted
    used = ServiceUse(Resource.DATA, used=granted // 2)
    charging.handle(ChargingRequest("s", 1, RequestType.TERMINATION, TEEN_IMSI, (used,)))

    pools = views.family_detail(MemoryUnitOfWork(memory_store), family_id)["cycle"]["pools"]
    home_data = next(p for p in pools if (p["resource"], p["zone"]) == ("data", "home"))
    assert (home_data["used"], home_data["reserved"]) == (granted // 2, 0)
