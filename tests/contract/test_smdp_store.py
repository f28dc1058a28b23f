"""The built-in SM-DP+'s inventory survives restarts alike on memory, SQLite and PostgreSQL.

Each test drives :class:`SmdpService` on one store, then starts a second service on the
same store (a restart) and checks that it sees exactly the same profiles, state logs and
attempt counters, refused calls included.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from famsim.adapters.memory import MemorySmdpStore
from famsim.adapters.sql.smdp_store import SqlSmdpStore
from famsim.bootstrap import bootstrap
from famsim.config import Settings
from famsim.domain.esim.profile_state import ProfileState
from famsim.domain.esim.smdp import FinalStatus, SmdpProfile, SmdpRefusal
from famsim.domain.esim.status import CONFIRMATION_CODE_REFUSED
from famsim.domain.identifiers import Eid, Iccid
from famsim.service.ports import SmdpStore
from famsim.service.smdp import SmdpService

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PHONE = Eid.from_body("890490320000300000000000000001"[:30])


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def iccid(n: int) -> Iccid:
    return Iccid.from_body(f"898520000123{n:06d}")


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SmdpStore]:
    if request.param == "memory":
        yield MemorySmdpStore()
        return
    fixture = "sqlite_url" if request.param == "sqlite" else "fresh_postgres_url"
    url: str = request.getfixturevalue(fixture)
    app = bootstrap(Settings(database_url=url, data_dir=tmp_path))
    try:
        app.initialise()
        yield SqlSmdpStore(app.engine)
    finally:
        app.close()


def start(store: SmdpStore, clock: Clock) -> SmdpService:
    return SmdpService(store, "smdp.famsim.test", clock, order_validity=timedelta(hours=1))


def snapshot(service: SmdpService) -> list[tuple[Any, ...]]:
    def one(p: SmdpProfile) -> tuple[Any, ...]:
        return (
            str(p.iccid),
            p.profile_type,
            p.state,
            p.eid,
            p.matching_id,
            p.confirmation_code_sha256,
            p.failed_confirmations,
            p.order_expires_at,
            [(t.at, t.action, t.before, t.after) for t in p.history],
        )

    return service.run(lambda inv, _: sorted(one(p) for p in inv.profiles.values()))


def test_the_inventory_and_every_order_survive_a_restart(store: SmdpStore) -> None:
    clock = Clock()
    smdp = start(store, clock)
    for n in range(4):
        smdp.run(lambda inv, _, n=n: inv.add(iccid(n), "phone-5g"))
    linked = smdp.run(
        lambda inv, now: inv.download_order(now=now, eid=PHONE, profile_type="phone-5g")
    )
    confirmation = smdp.run(
        lambda inv, now: inv.confirm_order(
            now=now, iccid=linked.iccid, release=True, confirmation_code="424242"
        )
    )
    clock.now += timedelta(minutes=5)
    smdp.run(lambda inv, now: inv.download_order(now=now, iccid=iccid(2)))
    smdp.run(
        lambda inv, now: inv.cancel_order(now=now, iccid=iccid(2), final=FinalStatus.UNAVAILABLE)
    )

    restarted = start(store, clock)

    assert snapshot(restarted) == snapshot(smdp)
    states = restarted.run(lambda inv, _: {str(i): p.state for i, p in inv.profiles.items()})
    assert states == {
        str(iccid(0)): ProfileState.RELEASED,
        str(iccid(1)): ProfileState.AVAILABLE,
        str(iccid(2)): ProfileState.UNAVAILABLE,
        str(iccid(3)): ProfileState.AVAILABLE,
    }
    # The restarted SM-DP+ carries on: the device downloads with the right code.
    restarted.run(
        lambda inv, now: inv.download(
            now=now, matching_id=confirmation.matching_id, eid=PHONE, confirmation_code="424242"
        )
    )
    assert start(store, clock).run(lambda inv, _: inv.profiles[linked.iccid].state) is (
        ProfileState.DOWNLOADED
    )


def test_a_refused_attempt_stays_counted_after_a_restart(store: SmdpStore) -> None:
    clock = Clock()
    smdp = start(store, clock)
    smdp.run(lambda inv, _: inv.add(iccid(7), "watch"))
    smdp.run(lambda inv, now: inv.download_order(now=now, iccid=iccid(7)))
    confirmation = smdp.run(
        lambda inv, now: inv.confirm_order(
            now=now, iccid=iccid(7), release=True, confirmation_code="1234"
        )
    )

    with pytest.raises(SmdpRefusal) as raised:
        smdp.run(
            lambda inv, now: inv.download(
                now=now, matching_id=confirmation.matching_id, eid=PHONE, confirmation_code="9"
            )
        )
    assert raised.value.status is CONFIRMATION_CODE_REFUSED

    restarted = start(store, clock)
    assert restarted.run(lambda inv, _: inv.profiles[iccid(7)].failed_confirmations) == 1
    assert snapshot(restarted) == snapshot(smdp)


class FailingStore(MemorySmdpStore):
    def __init__(self) -> None:
        super().__init__()
        self.fail = False

    def save(self, profiles: Any, logged: Any) -> None:
        if self.fail:
            raise OSError("disk full")
        super().save(profiles, logged)


def test_when_saving_fails_memory_goes_back_to_what_is_stored() -> None:
    store = FailingStore()
    smdp = start(store, Clock())
    smdp.run(lambda inv, _: inv.add(iccid(1), "phone-5g"))
    store.fail = True

    with pytest.raises(OSError, match="disk full"):
        smdp.run(lambda inv, now: inv.download_order(now=now, iccid=iccid(1)))

    assert smdp.run(lambda inv, _: inv.profiles[iccid(1)].state) is ProfileState.AVAILABLE
    store.fail = False
    smdp.run(lambda inv, now: inv.download_order(now=now, iccid=iccid(1)))
    assert start(store, Clock()).run(lambda inv, _: inv.profiles[iccid(1)].state) is (
        ProfileState.ALLOCATED
    )
