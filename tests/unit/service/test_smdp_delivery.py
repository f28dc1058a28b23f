"""Delivering the SM-DP+'s notifications: retries with back-off, the same identifier on
every attempt, order per profile, the background thread; and the HTTP destination's rules
(with httpx's MockTransport standing in for the operator)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from famsim.adapters.es2plus.notifier import HttpDestination, callback_url
from famsim.adapters.memory import MemorySmdpStore
from famsim.domain.errors import InvalidInput
from famsim.domain.identifiers import Eid, Iccid
from famsim.service.smdp import SmdpService
from famsim.service.smdp_delivery import DeliveryFailed, NotificationSender, body_bytes
from famsim.service.smdp_outbox import retry_delay

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PHONE = Eid.from_body("890490320000300000000000000001"[:30])


def iccid(n: int) -> Iccid:
    return Iccid.from_body(f"898520000123{n:06d}")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Receiver:
    """An in-process destination: fails while ``failures`` is positive, records bodies."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.bodies: list[dict[str, object]] = []
        self.lock = threading.Lock()

    def __call__(self, body: bytes) -> None:
        with self.lock:
            self.bodies.append(json.loads(body))
            if self.failures > 0:
                self.failures -= 1
                raise DeliveryFailed("HTTP 503 from the operator")

    def ids(self) -> list[str]:
        with self.lock:
            return [b["header"]["functionCallIdentifier"] for b in self.bodies]  # type: ignore[index]


def smdp_with_installed(clock: Clock, *profiles: int) -> tuple[SmdpService, MemorySmdpStore]:
    store = MemorySmdpStore()
    smdp = SmdpService(store, "smdp.famsim.test", clock)
    for n in profiles:
        smdp.run(lambda inv, _, n=n: inv.add(iccid(n), "phone-5g"))
        smdp.run(lambda inv, now, n=n: inv.download_order(now=now, iccid=iccid(n)))
        matching_id = smdp.run(
            lambda inv, now, n=n: inv.confirm_order(now=now, iccid=iccid(n), release=True)
        ).matching_id
        smdp.run(lambda inv, now, m=matching_id: inv.download(now=now, matching_id=m, eid=PHONE))
        smdp.run(lambda inv, now, n=n: inv.install(now=now, iccid=iccid(n)))
    return smdp, store


def test_back_off_doubles_from_one_second_to_five_minutes() -> None:
    delays = [retry_delay(n).total_seconds() for n in range(1, 12)]
    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert retry_delay(1000) == timedelta(minutes=5)


def test_a_failed_notification_is_retried_later_with_the_same_identifier() -> None:
    clock = Clock()
    _, store = smdp_with_installed(clock, 1)
    receiver = Receiver(failures=2)
    sender = NotificationSender(store, receiver, clock)

    [first] = sender.deliver_due()
    assert (first.delivered, first.attempts, first.point) == (False, 1, 3)
    assert first.error == "HTTP 503 from the operator"
    assert first.next_attempt_at == T0 + timedelta(seconds=1)
    assert sender.deliver_due() == []  # not due yet, and point 4 waits behind point 3

    clock.now += timedelta(seconds=1)
    [second] = sender.deliver_due()
    assert (second.delivered, second.attempts) == (False, 2)
    assert second.next_attempt_at == clock.now + timedelta(seconds=2)

    clock.now += timedelta(seconds=2)
    third, install = sender.deliver_due()
    assert (third.delivered, third.attempts, third.function_call_id) == (
        True,
        3,
        first.function_call_id,
    )
    assert (install.delivered, install.point) == (True, 4)
    assert receiver.ids() == [first.function_call_id] * 3 + [install.function_call_id]
    assert store.notifications(pending_only=True) == []
    assert [n.last_error for n in store.notifications()] == [None, None]


def test_every_attempt_sends_the_stored_body_byte_for_byte() -> None:
    _, store = smdp_with_installed(Clock(), 2)
    sent: list[bytes] = []
    NotificationSender(store, sent.append, Clock()).deliver_due()
    assert sent == [body_bytes(n) for n in store.notifications()]


def test_a_destination_that_raises_anything_is_a_failure_not_a_crash() -> None:
    clock = Clock()
    _, store = smdp_with_installed(clock, 3)

    def broken(body: bytes) -> None:
        raise RuntimeError("receiver bug")

    [result] = NotificationSender(store, broken, clock).deliver_due()
    assert result.error == "RuntimeError: receiver bug"
    assert store.notifications()[0].last_error == "RuntimeError: receiver bug"


def test_the_thread_delivers_when_woken_and_stops() -> None:
    clock = Clock()
    clock.now = datetime.now(UTC)  # the thread runs on the real clock
    smdp, store = smdp_with_installed(clock, 4)
    receiver = Receiver()
    sender = NotificationSender(store, receiver, lambda: datetime.now(UTC), idle_s=60)
    smdp.listen(sender.wake)
    with sender:
        _wait_for(lambda: len(receiver.ids()) == 2)
        smdp.run(lambda inv, now: inv.enable(now=now, iccid=iccid(4)))  # wakes the thread
        _wait_for(lambda: len(receiver.ids()) == 3)
    assert store.notifications(pending_only=True) == []
    assert [b["notificationPointId"] for b in receiver.bodies] == [3, 4, 101]


def _wait_for(condition: object, deadline_s: float = 20) -> None:
    """Poll until *condition* holds; the deadline guards a hang, it is not a timing check."""
    assert callable(condition)
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, "not delivered in time"
        time.sleep(0.01)


# ---------------------------------------------------------------- the HTTP destination


def test_the_callback_url_is_the_specs_path_on_the_operators_base() -> None:
    path = "/gsma/rsp2/es2plus/handleDownloadProgressInfo"
    assert callback_url("https://op.example") == "https://op.example" + path
    assert callback_url("https://op.example/es2/") == "https://op.example/es2" + path
    assert callback_url("http://127.0.0.1:8080" + path) == "http://127.0.0.1:8080" + path
    assert callback_url("http://localhost:1") == "http://localhost:1" + path
    with pytest.raises(InvalidInput, match="loopback"):
        callback_url("http://op.example")
    with pytest.raises(InvalidInput, match="expected https"):
        callback_url("ftp://op.example")


def test_http_destination_posts_with_the_protocol_header_and_judges_the_status() -> None:
    answers = iter([204, 200, 503, 301])
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(next(answers), text="busy" if len(seen) == 3 else "")

    destination = HttpDestination("https://op.example", transport=httpx.MockTransport(handler))
    destination(b"{}")
    destination(b"{}")
    with pytest.raises(DeliveryFailed, match=r"HTTP 503 from https://op\.example/.*: busy"):
        destination(b"{}")
    with pytest.raises(DeliveryFailed, match="HTTP 301"):
        destination(b"{}")
    destination.close()
    assert {r.headers["X-Admin-Protocol"] for r in seen} == {"gsma/rsp/v2.2.0"}
    assert {r.url.path for r in seen} == {"/gsma/rsp2/es2plus/handleDownloadProgressInfo"}
    assert seen[0].content == b"{}"


def test_http_destination_reports_no_answer_as_a_failure() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    destination = HttpDestination("https://op.example", transport=httpx.MockTransport(handler))
    with pytest.raises(DeliveryFailed, match=r"no answer from .*connection refused"):
        destination(b"{}")
