"""The Gy server against peers that misbehave, over raw loopback sockets: a message whose
header cannot be trusted (version, length, size) is answered and the connection closed; a
message with broken AVPs or bits is answered and the connection kept; a message before
CER, a CER without credit control, silence and a peer that never sends CER end the
connection; garbage on one connection never stops another; a gateway that vanishes
mid-session leaves its reservation to ``expire_due``; stopping sends DPR.

Nothing here is timed: timers run on servers built with a watchdog of a fraction of a
second, and every read has a socket timeout of a few seconds only so that a broken
server fails the test instead of hanging it."""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from diameter.message.avp.grouped import (
    RequestedServiceUnit,
    ServiceInformation,
    SmsInformation,
    UsedServiceUnit,
)
from diameter.message.commands import (
    CapabilitiesExchangeRequest,
    DeviceWatchdogAnswer,
    DeviceWatchdogRequest,
    DisconnectPeerAnswer,
    DisconnectPeerRequest,
)

from e2e.diameter.gy_wire import GATEWAY, REALM, Gateway, ccr, demo_famsim, free_port
from famsim.adapters.diameter import wire
from famsim.adapters.diameter.gy_server import GyServer
from famsim.bootstrap import App, bootstrap
from famsim.service import views
from famsim.service.group_commit import GroupCommitter

pytestmark = pytest.mark.e2e

OWNER = "85291230001"  # Chan Tai Man
ORIGIN_HOST = "ocs.famsim.test"
TIMEOUT = 5.0
"""Socket timeout of every read: a server that neither answers nor closes fails the test."""
WATCHDOG = 1.0
"""Tw of the servers whose watchdog a test waits for: short, yet long enough for a slow
machine to send its CER and answer a DWR in time (a peer without CER gets 0.3 s)."""


@dataclass
class Clock:
    """The network's instant of the famsim under test, moved by hand."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Famsim:
    app: App
    family_id: str
    clock: Clock


@pytest.fixture(scope="module")
def famsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Famsim]:
    tmp_path = tmp_path_factory.mktemp("gy-robustness")
    # early in the day: the two hours the expiry test moves on stay in the same cycle
    clock = Clock(datetime.now(UTC).replace(hour=1, minute=0, second=0, microsecond=0))
    app, family_id = demo_famsim(tmp_path, origin_host=ORIGIN_HOST, peers=GATEWAY, now=clock)
    try:
        yield Famsim(app, family_id, clock)
    finally:
        app.close()


@pytest.fixture(scope="module")
def server(famsim: Famsim) -> Iterator[Any]:
    """``App.gy_server`` as famsim builds it (30 s watchdog, 64 KiB messages)."""
    gy = famsim.app.gy_server(host="127.0.0.1", port=free_port())
    gy.start()
    try:
        yield gy
    finally:
        gy.stop(timeout=1)


@contextmanager
def own_server(app: App, **options: Any) -> Iterator[GyServer]:
    """A server built as ``App.gy_server`` builds it, with *options* (watchdog_seconds,
    wakeup_seconds, max_message_bytes)."""
    committer = GroupCommitter(app.charging)
    gy = GyServer(
        committer.submit,
        host="127.0.0.1",
        port=free_port(),
        origin_host=ORIGIN_HOST,
        origin_realm=REALM,
        peers=[GATEWAY],
        rating_groups=app.rating_groups(),
        on_stop=committer.close,
        **options,
    )
    gy.start()
    try:
        yield gy
    finally:
        gy.stop(timeout=1)


class Peer(Gateway):
    """A gateway that can also send raw bytes."""

    def __init__(self, port: int, origin_host: str = GATEWAY) -> None:
        super().__init__(port, origin_host)
        self.sock.settimeout(TIMEOUT)
        self.hop = 0x7000

    def send(self, raw: bytes) -> None:
        self.sock.sendall(raw)

    def next_hop(self) -> int:
        self.hop += 1
        return self.hop

    def ready(self) -> Peer:
        cea = self.cer()
        assert cea.result_code == 2001
        return self

    def assert_closed(self) -> None:
        """The server ends the connection (an end of stream or a reset, not a timeout)."""
        try:
            message = self.read()
        except ConnectionError:
            return
        raise AssertionError(f"a message instead of the end of the connection: {message}")

    def watchdog(self) -> None:
        """DWR / DWA: the connection is still served."""
        dwr = DeviceWatchdogRequest()
        dwr.origin_host = self.origin_host.encode()
        dwr.origin_realm = b"gw.test"
        dwa = self.exchange(dwr)
        assert isinstance(dwa, DeviceWatchdogAnswer)
        assert dwa.result_code == 2001


@contextmanager
def peer(port: int, *, cer: bool = True, origin_host: str = GATEWAY) -> Iterator[Peer]:
    client = Peer(port, origin_host)
    try:
        yield client.ready() if cer else client
    finally:
        client.close()


def raw(message: Any, hop: int) -> bytes:
    message.header.hop_by_hop_identifier = hop
    message.header.end_to_end_identifier = 0x10000 + hop
    encoded: bytes = message.as_bytes()
    return encoded


def header(
    *, version: int = 1, length: int = 20, flags: int = 0xC0, command: int = 272, app: int = 4
) -> bytes:
    return struct.pack(">5I", version << 24 | length, flags << 24 | command, app, 0xABC, 0xDEF)


def result_code(message: Any) -> int:
    """The Result-Code of any answer (python-diameter types only the commands it knows)."""
    (code,) = [a.value for a in message.avps if a.code == 268]
    assert isinstance(code, int)
    return code


def failed_avps(message: Any) -> list[tuple[int, int]]:
    return [
        (inner.code, inner.vendor_id)
        for group in message.avps
        if group.code == 279
        for inner in group.value
    ]


def data(requested: int | None = None, used: int | None = None) -> dict[str, Any]:
    mscc: dict[str, Any] = {"rating_group": 10}
    if requested is not None:
        mscc["requested_service_unit"] = RequestedServiceUnit(cc_total_octets=requested)
    if used is not None:
        mscc["used_service_unit"] = UsedServiceUnit(cc_total_octets=used)
    return mscc


def charged(client: Peer, session: str) -> None:
    """A CCR-INITIAL and its TERMINATION are answered 2001 on *client*'s connection."""
    first = client.exchange(ccr(session, 1, 0, OWNER, data(requested=1000)))
    assert (first.result_code, first.session_id) == (2001, session)
    last = client.exchange(ccr(session, 3, 1, OWNER, data(used=10)))
    assert (last.result_code, last.cc_request_number) == (2001, 1)


# ------------------------------------------------------------------------------ framing
def test_version_2_is_answered_5011_then_closed(server: Any) -> None:
    with peer(server.port) as client:
        message = bytearray(raw(ccr("gw;v2", 1, 0, OWNER, data(1000)), 0x51))
        message[0] = 2
        client.send(bytes(message))
        answer = client.read()
        assert result_code(answer) == 5011
        assert answer.header.hop_by_hop_identifier == 0x51
        assert not answer.header.is_request
        client.assert_closed()


@pytest.mark.parametrize("length", [19, 21, 65_540, 0xFFFFFC], ids=["19", "21", "over", "max"])
def test_a_bad_message_length_is_answered_5015_then_closed(server: Any, length: int) -> None:
    with peer(server.port) as client:
        client.send(header(length=length))  # and nothing else: the length is refused at once
        answer = client.read()
        assert result_code(answer) == 5015
        assert answer.header.hop_by_hop_identifier == 0xABC
        client.assert_closed()


def test_a_message_over_the_configured_size_is_5015_then_closed(famsim: Famsim) -> None:
    with own_server(famsim.app, max_message_bytes=512) as gy, peer(gy.port) as client:
        client.watchdog()
        big = ccr("gw;big", 1, 0, OWNER, data(1000), user_name="x" * 600)
        client.send(raw(big, 0x52))
        answer = client.read()
        assert (result_code(answer), answer.header.hop_by_hop_identifier) == (5015, 0x52)
        client.assert_closed()


def test_a_bad_length_before_cer_is_answered_then_closed(server: Any) -> None:
    with peer(server.port, cer=False) as client:
        client.send(header(length=21, command=257, app=0))
        assert result_code(client.read()) == 5015
        client.assert_closed()


# ------------------------------------------------------------------------------ kept
def test_a_broken_avp_length_is_5014_and_the_connection_stays(server: Any) -> None:
    with peer(server.port) as client:
        message = bytearray(raw(ccr("gw;avp", 1, 0, OWNER, data(1000)), 0x53))
        # Service-Context-Id (461) with a Length shorter than its own header
        at = message.index(struct.pack(">I", 461) + b"\x40")
        message[at + 5 : at + 8] = (5).to_bytes(3, "big")
        client.send(bytes(message))
        answer = client.read()
        assert (answer.result_code, answer.header.hop_by_hop_identifier) == (5014, 0x53)
        assert answer.session_id == "gw;avp"  # read before the broken AVP
        assert failed_avps(answer) == [(461, 0)]
        assert not answer.header.is_error
        charged(client, "gw;after-5014")


def test_an_avp_running_past_the_message_is_5014_and_the_connection_stays(server: Any) -> None:
    with peer(server.port) as client:
        message = bytearray(raw(ccr("gw;past", 1, 0, OWNER, data(1000)), 0x54))
        at = message.index(struct.pack(">I", 456) + b"\x40")  # the MSCC
        message[at + 5 : at + 8] = (0x00FFFF).to_bytes(3, "big")
        client.send(bytes(message))
        answer = client.read()
        assert answer.result_code == 5014
        assert failed_avps(answer) == [(456, 0)]
        client.watchdog()


def test_reserved_avp_flags_are_3009(server: Any) -> None:
    with peer(server.port) as client:
        message = bytearray(raw(ccr("gw;flags", 1, 0, OWNER, data(1000)), 0x55))
        at = message.index(struct.pack(">I", 461) + b"\x40")
        message[at + 4] = 0x41
        client.send(bytes(message))
        answer = client.read()
        assert result_code(answer) == 3009
        assert answer.header.is_error
        assert failed_avps(answer) == [(461, 0)]
        charged(client, "gw;after-3009")


def test_a_request_with_the_e_bit_is_3008(server: Any) -> None:
    with peer(server.port) as client:
        message = bytearray(raw(ccr("gw;ebit", 1, 0, OWNER, data(1000)), 0x56))
        message[4] |= wire.FLAG_ERROR
        client.send(bytes(message))
        answer = client.read()
        assert result_code(answer) == 3008
        assert answer.header.is_error
        assert answer.header.hop_by_hop_identifier == 0x56
        client.watchdog()


def test_an_unknown_application_is_3007(server: Any) -> None:
    with peer(server.port) as client:
        gx = ccr("gw;gx", 1, 0, OWNER)
        gx.header.application_id = 16_777_238
        client.send(raw(gx, 0x57))
        answer = client.read()
        assert result_code(answer) == 3007
        assert answer.header.is_error
        assert (answer.header.application_id, answer.header.hop_by_hop_identifier) == (
            16_777_238,
            0x57,
        )
        client.watchdog()


@pytest.mark.parametrize(("command", "app"), [(999, 4), (274, 0)], ids=["gy-999", "base-ASR"])
def test_an_unknown_command_is_3001(server: Any, command: int, app: int) -> None:
    with peer(server.port) as client:
        body = wire.text(263, "gw;cmd") + wire.text(264, GATEWAY) + wire.text(296, "gw.test")
        client.send(wire.message(command, app, 0xC0, 0x58, 0x58, body))
        answer = client.read()
        assert result_code(answer) == 3001
        assert answer.header.is_error
        assert (answer.header.command_code, answer.header.hop_by_hop_identifier) == (
            command,
            0x58,
        )
        client.watchdog()


def test_a_deeply_nested_ccr_is_answered_and_the_connection_stays(server: Any) -> None:
    """Service-Information nested 2,000 deep (24 KB) once made decoding recurse into
    RecursionError, answered 5012 by the server's catch-all."""
    node = wire.avp(18, b"45400", vendor=10415)
    for _ in range(2_000):
        node = wire.avp(873, node, vendor=10415)
    with peer(server.port) as client:
        event = ccr(
            "gw;deep",
            4,
            0,
            OWNER,
            context="32274@3gpp.org",
            requested_action=0,
            requested_service_unit=RequestedServiceUnit(cc_service_specific_units=1),
        )
        base = raw(event, 0x59)
        client.send(wire.message(272, 4, 0xC0, 0x59, 0x59, base[wire.HEADER_LENGTH :] + node))
        answer = client.read()
        assert answer.header.hop_by_hop_identifier == 0x59
        assert answer.result_code != 5012  # not the internal-error answer
        client.watchdog()


def test_a_broken_unknown_avp_is_5014(server: Any) -> None:
    """An AVP outside python-diameter's dictionary, named in Failed-AVP (once answered
    5012 by the server's catch-all: failed_avp raised ValueError)."""
    with peer(server.port) as client:
        base = raw(ccr("gw;unknown-avp", 1, 0, OWNER, data(1000)), 0x5A)
        body = base[wire.HEADER_LENGTH :] + struct.pack(">II", 99_999, 0x40 << 24 | 3)
        client.send(wire.message(272, 4, 0xC0, 0x5A, 0x5A, body))
        answer = client.read()
        assert answer.header.hop_by_hop_identifier == 0x5A
        assert (answer.result_code, failed_avps(answer)) == (5014, [(99_999, 0)])
        client.watchdog()


# ------------------------------------------------------------------------------ peers
def test_a_message_before_cer_closes_the_connection(server: Any) -> None:
    with peer(server.port, cer=False) as client:
        client.send(raw(DeviceWatchdogRequest(), 0x60))
        client.assert_closed()
    with peer(server.port, cer=False) as client:
        client.send(raw(ccr("gw;early", 1, 0, OWNER, data(1000)), 0x61))
        client.assert_closed()


def test_a_cer_without_credit_control_is_5010_then_closed(server: Any) -> None:
    with peer(server.port, cer=False) as client:
        cer = CapabilitiesExchangeRequest()
        cer.origin_host = GATEWAY.encode()
        cer.origin_realm = b"gw.test"
        cer.host_ip_address = ["127.0.0.1"]
        cer.vendor_id = 10415
        cer.product_name = "gx-only"
        cer.auth_application_id = [16_777_238]
        cea = client.exchange(cer)
        assert cea.result_code == 5010
        client.assert_closed()


def test_a_truncated_message_then_a_close_leaves_the_server_serving(server: Any) -> None:
    with peer(server.port) as client:
        message = raw(ccr("gw;cut", 1, 0, OWNER, data(1000)), 0x62)
        client.send(message[: len(message) // 2])
    with peer(server.port, cer=False) as client:
        client.send(header(length=200)[:12])  # not even a whole header
    with peer(server.port) as other:
        charged(other, "gw;after-cut")
    assert server._thread.is_alive()


def test_a_truncated_message_then_silence_gets_a_watchdog_then_a_close(famsim: Famsim) -> None:
    with (
        own_server(famsim.app, watchdog_seconds=WATCHDOG, wakeup_seconds=0.05) as gy,
        peer(gy.port) as client,
    ):
        message = raw(ccr("gw;silent", 1, 0, OWNER, data(1000)), 0x63)
        client.send(message[:30])
        dwr = client.read()
        assert isinstance(dwr, DeviceWatchdogRequest)
        assert dwr.header.is_request
        assert dwr.origin_host == ORIGIN_HOST.encode()
        client.assert_closed()  # the DWR is not answered


def test_a_watchdog_answered_keeps_the_connection(famsim: Famsim) -> None:
    with (
        own_server(famsim.app, watchdog_seconds=WATCHDOG, wakeup_seconds=0.05) as gy,
        peer(gy.port) as client,
    ):
        for _ in range(2):
            dwr = client.read()
            assert isinstance(dwr, DeviceWatchdogRequest)
            dwa = DeviceWatchdogAnswer()
            dwa.header = dwr.header
            dwa.header.is_request = False
            dwa.result_code = 2001
            dwa.origin_host = GATEWAY.encode()
            dwa.origin_realm = b"gw.test"
            client.send(dwa.as_bytes())
        client.watchdog()  # and it is still served


def test_a_peer_that_never_sends_cer_is_closed(famsim: Famsim) -> None:
    with (
        own_server(famsim.app, watchdog_seconds=0.3, wakeup_seconds=0.05) as gy,
        peer(gy.port, cer=False) as client,
    ):
        client.assert_closed()
    with (
        own_server(famsim.app, watchdog_seconds=0.3, wakeup_seconds=0.05) as gy,
        peer(gy.port, cer=False) as client,
    ):
        client.send(header(length=200, command=257, app=0) + b"\0" * 40)  # a CER begun
        client.assert_closed()


def _garbage(rng: random.Random, seed: bytes) -> bytes:
    """Bytes of one of several kinds: noise, a sound header with a noisy body, a CCR
    with bytes flipped, cut short or with an AVP Length overwritten."""
    kind = rng.randrange(5)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 300))
    if kind == 1:
        size = 20 + 4 * rng.randrange(0, 40)
        flags = rng.choice([0x80, 0xC0, 0x00, 0xE0, 0x8F])
        command = rng.choice([272, 257, 280, 282, 999])
        app = rng.choice([0, 4, 7])
        return header(length=size, flags=flags, command=command, app=app) + rng.randbytes(size - 20)
    message = bytearray(seed)
    if kind == 2:
        for _ in range(rng.randrange(1, 6)):
            message[rng.randrange(20, len(message))] ^= rng.randrange(1, 256)
    elif kind == 3:
        del message[rng.randrange(1, len(message)) :]
    else:
        at = 20
        for _ in range(rng.randrange(0, 6)):
            at += (int.from_bytes(message[at + 5 : at + 8], "big") + 3) & ~3
        if at + 8 <= len(message):
            message[at + 5 : at + 8] = rng.randrange(0, 0x1000).to_bytes(3, "big")
    return bytes(message)


def test_garbage_on_one_connection_never_stops_another(
    server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(20240611)
    seed = raw(
        ccr(
            "gw;garbage",
            4,
            0,
            OWNER,
            context="32274@3gpp.org",
            requested_action=0,
            requested_service_unit=RequestedServiceUnit(cc_service_specific_units=1),
            service_information=ServiceInformation(sms_information=SmsInformation()),
        ),
        0x70,
    )
    with peer(server.port) as good:
        for _ in range(50):
            with peer(server.port, cer=rng.random() < 0.7) as bad:
                for _ in range(rng.randrange(1, 4)):
                    try:
                        bad.send(_garbage(rng, seed))
                    except OSError:  # the server closed it after an earlier chunk
                        break
            good.watchdog()
        charged(good, "gw;after-garbage")
    assert server._thread.is_alive()
    # every piece of garbage was refused by a rule, none by the catch-all for bugs
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


# ------------------------------------------------------------------------------ sessions
def home_pool(famsim: Famsim, resource: str) -> dict[str, int]:
    detail = views.family_detail(famsim.app.uow(), famsim.family_id)
    (pool,) = (
        p for p in detail["cycle"]["pools"] if p["resource"] == resource and p["zone"] == "home"
    )
    return {k: pool[k] for k in ("total", "used", "reserved")}


def test_a_vanished_peer_leaves_its_reservation_to_expire(famsim: Famsim, server: Any) -> None:
    app, clock = famsim.app, famsim.clock
    clock.advance(3601)  # whatever earlier tests left open is past its validity (1 h)
    app.charging.expire_due()
    before = home_pool(famsim, "data")

    with peer(server.port) as client:
        initial = client.exchange(ccr("gw;vanished", 1, 0, OWNER, data(requested=40_000_000)))
        assert initial.result_code == 2001
        (mscc,) = initial.multiple_services_credit_control
        granted = mscc.granted_service_unit.cc_total_octets
        validity = mscc.validity_time
        assert granted > 0
        assert validity > 0
    # closed without CCR-TERMINATION or DPR: the units stay reserved...
    with peer(server.port) as other:
        other.watchdog()  # the server goes on
    assert home_pool(famsim, "data")["reserved"] == before["reserved"] + granted
    assert app.charging.expire_due() == 0  # ...until their validity passes
    clock.advance(validity - 1)
    assert app.charging.expire_due() == 0
    assert home_pool(famsim, "data")["reserved"] == before["reserved"] + granted

    clock.advance(2)
    assert app.charging.expire_due() == 1
    after = home_pool(famsim, "data")
    assert after["reserved"] == before["reserved"]
    assert after["used"] == before["used"]  # nothing was reported used
    assert app.charging.expire_due() == 0


# ------------------------------------------------------------------------------ stopping
def test_stopping_sends_dpr_to_a_connected_peer(famsim: Famsim) -> None:
    with own_server(famsim.app) as gy, peer(gy.port) as client:
        stopping = threading.Thread(target=gy.stop, kwargs={"timeout": TIMEOUT})
        stopping.start()
        try:
            dpr = client.read()
            assert isinstance(dpr, DisconnectPeerRequest)
            assert dpr.header.is_request
            assert dpr.disconnect_cause == 0  # REBOOTING
            assert dpr.origin_host == ORIGIN_HOST.encode()
            dpa = DisconnectPeerAnswer()
            dpa.header = dpr.header
            dpa.header.is_request = False
            dpa.result_code = 2001
            dpa.origin_host = GATEWAY.encode()
            dpa.origin_realm = b"gw.test"
            client.send(dpa.as_bytes())
            client.assert_closed()
        finally:
            stopping.join(TIMEOUT + 10)
        assert not stopping.is_alive()


def test_a_request_with_the_e_bit_before_cer_closes_the_connection(server: Any) -> None:
    with peer(server.port, cer=False) as client:
        client.sock.settimeout(2.0)
        cer = bytearray(raw(CapabilitiesExchangeRequest(), 0x64))
        cer[4] |= wire.FLAG_ERROR
        client.send(bytes(cer))
        try:
            first = client.read()  # a 3008 answer may come first
        except ConnectionError:
            return
        assert result_code(first) == 3008
        client.assert_closed()


def test_the_operator_settings_reach_the_server(famsim: Famsim) -> None:
    """FAMSIM_GY_MAX_MESSAGE_BYTES and FAMSIM_GY_WATCHDOG_SECONDS, through App.gy_server."""
    settings = famsim.app.settings.model_copy(
        update={"gy_max_message_bytes": 1024, "gy_watchdog_seconds": 1.0}
    )
    app = bootstrap(settings, now=famsim.clock)
    gy = app.gy_server(host="127.0.0.1", port=free_port())
    gy.start()
    try:
        with peer(gy.port) as client:
            big = ccr("gw;settings", 1, 0, OWNER, data(1000), user_name="x" * 1100)
            client.send(raw(big, 0x53))
            answer = client.read()
            assert (result_code(answer), answer.header.hop_by_hop_identifier) == (5015, 0x53)
            client.assert_closed()
        with peer(gy.port, cer=False) as client:
            client.assert_closed()  # no CER within the 1 s watchdog (TIMEOUT is longer)
    finally:
        gy.stop(timeout=1)
        app.close()


def test_the_server_starts_from_a_thread_with_its_own_event_loop_running(famsim: Famsim) -> None:
    """An embedding web server, or a test's browser driver, may have a loop running on the
    thread that starts the Gy server (seen in the full suite after the browser tests)."""

    async def embedded() -> None:
        with own_server(famsim.app) as gy, peer(gy.port) as client:
            client.watchdog()

    # On a thread of its own: this test worker's main thread may already run a loop.
    failures: list[BaseException] = []

    def host() -> None:
        try:
            asyncio.run(embedded())
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=host)
    thread.start()
    thread.join(TIMEOUT * 4)
    assert not thread.is_alive()
    assert failures == []


def test_a_port_in_use_is_an_error_from_start(famsim: Famsim, server: Any) -> None:
    committer = GroupCommitter(famsim.app.charging)
    busy = GyServer(
        committer.submit,
        host="127.0.0.1",
        port=server.port,
        origin_host=ORIGIN_HOST,
        origin_realm=REALM,
        peers=[GATEWAY],
        rating_groups=famsim.app.rating_groups(),
        on_stop=committer.close,
    )
    with pytest.raises(OSError, match="in use"):
        busy.start()
    busy.stop()  # nothing started: only the committer is closed


def test_a_slow_engine_never_stalls_watchdogs_or_other_peers(famsim: Famsim) -> None:
    """CCRs wait for the engine (here: held until released); DWR, CER and DPR do not."""
    held: list[tuple[Any, Future[Any]]] = []
    committer = GroupCommitter(famsim.app.charging)

    def slow_submit(request: Any) -> Future[Any]:
        waiting: Future[Any] = Future()
        held.append((request, waiting))
        return waiting

    gy = GyServer(
        slow_submit,
        host="127.0.0.1",
        port=free_port(),
        origin_host=ORIGIN_HOST,
        origin_realm=REALM,
        peers=[GATEWAY, "pgw2.gw.test"],
        rating_groups=famsim.app.rating_groups(),
        on_stop=committer.close,
    )
    gy.start()
    try:
        with peer(gy.port) as client, peer(gy.port, origin_host="pgw2.gw.test") as other:
            client.send(raw(ccr("gw;slow", 1, 0, OWNER, data(1000)), 0x61))
            pause = threading.Event()
            for _ in range(int(TIMEOUT / 0.01)):  # wait for the loop to submit it
                if held or pause.wait(0.01):
                    break
            assert len(held) == 1  # the CCR is with the engine, unanswered
            client.watchdog()  # answered meanwhile, on the same connection
            other.watchdog()  # and another peer's too
            request, waiting = held[0]
            waiting.set_result(committer.submit(request).result())  # the engine answers
            answer = client.read()
            assert (result_code(answer), answer.header.hop_by_hop_identifier) == (2001, 0x61)
    finally:
        gy.stop(timeout=1)
