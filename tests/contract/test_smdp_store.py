"""The built-in SM-DP+'s inventory survives restarts alike on memory, SQLite and PostgreSQL.

Each test drives :class:`SmdpService` on one store, then starts a second service on the
same store (a restart) and checks that it sees exactly the same profiles, state logs and
attempt counters, refused calls included.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from famsim.adapters.es2plus.messages import HandleDownloadProgressInfoRequest, parse
from famsim.adapters.memory import MemorySmdpStore
from famsim.adapters.sql.smdp_store import SqlSmdpStore
from famsim.bootstrap import bootstrap
from famsim.config import Settings
from famsim.domain.esim.profile_state import ProfileAction, ProfileState
from famsim.domain.esim.progress import NotificationPoint, ProgressNotification
from famsim.domain.esim.smdp import FinalStatus, SmdpProfile, SmdpRefusal
from famsim.domain.esim.status import CONFIRMATION_CODE_REFUSED
from famsim.domain.identifiers import Eid, Iccid
from famsim.service.ports import SmdpStore
from famsim.service.smdp import SmdpService
from famsim.service.smdp_outbox import OutgoingNotification

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

    def save(self, profiles: Any, logged: Any, notifications: Any = ()) -> None:
        if self.fail:
            raise OSError("disk full")
        super().save(profiles, logged, notifications)


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


# ---------------------------------------------------------------- the notification outbox


def installed(smdp: SmdpService, n: int) -> None:
    """Stock, order, release, download and install profile *n* (two notifications)."""
    smdp.run(lambda inv, _: inv.add(iccid(n), "phone-5g"))
    smdp.run(lambda inv, now: inv.download_order(now=now, iccid=iccid(n)))
    confirmation = smdp.run(
        lambda inv, now: inv.confirm_order(now=now, iccid=iccid(n), release=True)
    )
    smdp.run(
        lambda inv, now: inv.download(now=now, matching_id=confirmation.matching_id, eid=PHONE)
    )
    smdp.run(lambda inv, now: inv.install(now=now, iccid=iccid(n)))


def test_notifications_are_stored_with_the_step_that_made_them(store: SmdpStore) -> None:
    clock = Clock()
    smdp = start(store, clock)
    woken: list[int] = []
    smdp.listen(lambda: woken.append(1))
    installed(smdp, 1)

    stored = store.notifications()
    assert [(str(n.iccid), n.point, n.attempts, n.delivered_at) for n in stored] == [
        (str(iccid(1)), 3, 0, None),
        (str(iccid(1)), 4, 0, None),
    ]
    assert len(woken) == 2  # once per call that stored notifications
    assert len({n.function_call_id for n in stored}) == 2
    for n in stored:
        request = parse(HandleDownloadProgressInfoRequest, json.dumps(n.body))
        assert request.header.functionCallIdentifier == n.function_call_id
        assert request.header.functionRequesterIdentifier == "SMDP.FAMSIM.TEST"
        assert request.notificationPointStatus.status == "Executed-Success"
        assert request.eid == str(PHONE)
        assert n.body["timestamp"] == "2026-03-01T09:00:00Z"
        assert n.created_at == n.next_attempt_at == T0
    # A restart sees the same outbox, and carries on numbering.
    restarted = start(store, clock)
    restarted.run(lambda inv, now: inv.enable(now=now, iccid=iccid(1)))
    points = [n.point for n in store.notifications()]
    assert points == [3, 4, NotificationPoint.PROFILE_ENABLED]


def test_a_refusal_that_counts_is_notified_too(store: SmdpStore) -> None:
    smdp = start(store, Clock())
    smdp.run(lambda inv, _: inv.add(iccid(2), "watch"))
    smdp.run(lambda inv, now: inv.download_order(now=now, iccid=iccid(2)))
    confirmation = smdp.run(
        lambda inv, now: inv.confirm_order(
            now=now, iccid=iccid(2), release=True, confirmation_code="1234"
        )
    )
    with pytest.raises(SmdpRefusal):
        smdp.run(
            lambda inv, now: inv.download(
                now=now, matching_id=confirmation.matching_id, eid=PHONE, confirmation_code="9"
            )
        )
    [notification] = store.notifications()
    status = notification.body["notificationPointStatus"]
    assert notification.point == NotificationPoint.CONFIRMATION_FAILURE
    assert status["status"] == "Failed"
    assert (status["statusCodeData"]["subjectCode"], status["statusCodeData"]["reasonCode"]) == (
        CONFIRMATION_CODE_REFUSED.subject_code,
        CONFIRMATION_CODE_REFUSED.reason_code,
    )


def test_profiles_and_notifications_are_saved_together_or_not_at_all(store: SmdpStore) -> None:
    smdp = start(store, Clock())
    smdp.run(lambda inv, _: inv.add(iccid(3), "phone-5g"))
    [profile] = store.load()
    profile.move(ProfileAction.ORDER, T0)
    note = ProgressNotification(
        iccid(3), None, "phone-5g", T0, NotificationPoint.BPP_DOWNLOAD, True
    )
    twice = [OutgoingNotification("same-id", "SMDP.FAMSIM.TEST", note)] * 2

    # The second row breaks the unique functionCallIdentifier: the whole save must fail.
    with pytest.raises(Exception):  # noqa: B017, PT011  each store raises its own kind
        store.save([profile], {iccid(3): 0}, twice)

    [after] = store.load()
    assert after.state is ProfileState.AVAILABLE
    assert after.history == []
    assert store.notifications() == []


def test_due_hands_out_the_oldest_pending_per_profile_and_marks_stick(store: SmdpStore) -> None:
    clock = Clock()
    smdp = start(store, clock)
    installed(smdp, 4)
    clock.now += timedelta(seconds=10)
    installed(smdp, 5)
    first4, second4, first5, second5 = store.notifications()

    # One at a time per profile, so the operator hears them in order.
    assert [n.id for n in store.due(clock.now, 10)] == [first4.id, first5.id]
    assert [n.id for n in store.due(T0, 10)] == [first4.id]
    assert [n.id for n in store.due(clock.now, 1)] == [first4.id]
    assert store.next_attempt_at() == T0

    retry = clock.now + timedelta(seconds=1)
    store.mark_failed(first4.id, clock.now, "HTTP 503 " + "x" * 300, retry)
    store.mark_delivered(first5.id, clock.now)

    assert [n.id for n in store.due(clock.now, 10)] == [second5.id]
    assert [n.id for n in store.due(retry, 10)] == [second5.id, first4.id]  # by due time
    assert store.next_attempt_at() == clock.now  # second5; second4 waits behind first4
    failed = next(n for n in store.notifications() if n.id == first4.id)
    assert (failed.attempts, failed.next_attempt_at, failed.delivered_at) == (1, retry, None)
    assert failed.last_error is not None
    assert failed.last_error.startswith("HTTP 503")
    assert len(failed.last_error) == 200
    delivered = next(n for n in store.notifications() if n.id == first5.id)
    assert (delivered.attempts, delivered.delivered_at) == (1, clock.now)
    assert [n.id for n in store.notifications(pending_only=True)] == [
        first4.id,
        second4.id,
        second5.id,
    ]
    assert (
        second4.function_call_id
        == next(n for n in store.notifications() if n.id == second4.id).function_call_id
    )

    for n in store.notifications(pending_only=True):
        store.mark_delivered(n.id, retry)
    assert store.due(retry + timedelta(days=1), 10) == []
    assert store.next_attempt_at() is None
