"""The Gy server: a Diameter node (RFC 6733) in the responder role with the credit-control
application (RFC 4006), on one asyncio event loop.

Why famsim's own transport and not python-diameter's ``Node``: measured with ``famsim
bench gy``, the Node answered 1,560 CCR/s at p99 52 ms on the 2-core machine, a quarter of
the engine's in-process rate. It reads 2 KiB per ``recv``, runs a reader and a writer
thread per connection and decodes through its full message classes; the hot path here is
one loop thread, large reads, the hand-written codec of :mod:`.wire` and one write per
connection for every answer that became ready together.

Threads. The loop thread (``famsim-gy``) accepts, frames, decodes and answers every peer.
The charging engine runs on the group committer's writer thread: a CCR is decoded on the
loop and submitted; when its answer is durable, the writer thread queues it and wakes the
loop once for everything queued meanwhile. A slow database therefore delays CCAs only:
CER, DWR and DPR are answered on the loop at once, and watchdogs keep running.

Peers (RFC 6733 5, the responder's side):

- the first message on a connection must be a CER, anything else closes it; a CER from an
  Origin-Host that is not a configured peer is answered 3010 DIAMETER_UNKNOWN_PEER, and
  one without application 4 (or the relay application) 5010 DIAMETER_NO_COMMON_APPLICATION,
  and the connection is closed after either;
- then DWR is answered DWA, DPR is answered DPA and the connection closed, CCR (command 272
  of application 4) is charged; another command is 3001, another application 3007, both
  with the E bit; answers from the peer are read for the watchdog and DPR only;
- watchdog (RFC 3539): after ``watchdog_seconds`` without a byte from a peer, a DWR is
  sent; after as long again without one, the connection is closed. A connection that sends
  no CER within ``watchdog_seconds`` is closed;
- a message whose header cannot be trusted (version, length, longer than
  ``max_message_bytes``) is answered with its error (5011, 5015) and the connection closed,
  since where the next message starts is unknown; a message with a readable length but
  broken AVPs is answered (5014, 3009, 5004, 5005) and the connection kept;
- a peer that stops reading its answers is not read either (flow control) until it does.

Stopping sends DPR (Disconnect-Cause REBOOTING) to every open peer, waits up to the given
timeout for the peers to answer or close, then closes what is left and the engine's writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from functools import partial

from famsim.adapters.diameter import wire
from famsim.adapters.diameter.gy_mapping import (
    AVP_AUTH_APPLICATION_ID,
    AVP_ORIGIN_HOST,
    AVP_RESULT_CODE,
    CREDIT_CONTROL,
    GY_APPLICATION_ID,
    UNABLE_TO_COMPLY,
    VENDOR_3GPP,
    CcrRejected,
    DecodedCcr,
    Identity,
    decode_ccr,
    encode_cca,
    encode_error,
    encode_rejection,
)
from famsim.adapters.diameter.wire import Header, WireError
from famsim.domain.charging.rating_groups import RatingGroups
from famsim.service.charging import ChargingAnswer, ChargingRequest

log = logging.getLogger("famsim.gy")

Submit = Callable[[ChargingRequest], Future[ChargingAnswer]]

BASE_APPLICATION = 0
CER, DWR, DPR = 257, 280, 282
RELAY_APPLICATION = 0xFFFFFFFF
SUCCESS = 2001
COMMAND_UNSUPPORTED = 3001
REALM_NOT_SERVED = 3003
APPLICATION_UNSUPPORTED = 3007
UNKNOWN_PEER = 3010
NO_COMMON_APPLICATION = 5010
REBOOTING = 0

AVP_HOST_IP_ADDRESS = 257
AVP_VENDOR_ID = 266
AVP_PRODUCT_NAME = 269
AVP_SUPPORTED_VENDOR_ID = 265
AVP_VENDOR_SPECIFIC_APPLICATION_ID = 260
AVP_ORIGIN_STATE_ID = 278
AVP_DISCONNECT_CAUSE = 273

WATCHDOG_SECONDS = 30.0
"""Tw, RFC 3539's default."""
_READ_PAUSE_BYTES = 4 * 1024 * 1024
"""Answers queued to a peer that is not reading them: above this, stop reading it."""


class GyServer:
    """A Gy node listening on *host*:*port*; :meth:`start` and :meth:`stop` it."""

    def __init__(
        self,
        submit: Submit,
        *,
        host: str,
        port: int,
        origin_host: str,
        origin_realm: str,
        peers: Iterable[str],
        rating_groups: RatingGroups,
        on_stop: Callable[[], None] | None = None,
        wakeup_seconds: float = 1.0,
        watchdog_seconds: float = WATCHDOG_SECONDS,
        max_message_bytes: int = wire.MAX_MESSAGE_BYTES,
        batched: bool = False,
    ) -> None:
        if not 1 <= port <= 65535:
            raise ValueError(f"port {port} is not a TCP port")
        if max_message_bytes < wire.HEADER_LENGTH:
            raise ValueError("a message is at least its 20-byte header")
        self.host = host
        self.port = port
        self.origin_host = origin_host
        self.origin_realm = origin_realm
        self.peers = frozenset(p.strip().lower() for p in peers if p.strip())
        self.rating_groups = rating_groups
        self.watchdog_seconds = watchdog_seconds
        self.max_message_bytes = max_message_bytes
        self._submit = submit
        self._on_stop = on_stop
        self._wakeup = wakeup_seconds
        self.identity = Identity(origin_host, origin_realm).avps
        self.state_id = int(time.time()) & 0xFFFFFFFF
        """Origin-State-Id: changes when the server restarts (RFC 6733 8.16)."""
        self._ids = itertools.count((self.state_id & 0xFFF) << 20)
        self._connections: set[_Connection] = set()
        self._ready: deque[tuple[_Connection, Header, DecodedCcr, Future[ChargingAnswer]]]
        self._ready = deque()
        self._wake_pending = False
        self._batched = batched
        """True: whoever resolves the futures calls :meth:`wake` once per batch (the group
        committer's ``after_batch``), so a batch of answers costs one wake-up of the loop."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- life cycle
    def start(self, announce: Callable[[], None] | None = None) -> None:
        """Bind (a port in use raises here), call *announce*, then serve on the loop thread.

        *announce* runs once the address is known to be free and before any peer can
        connect (``famsim gy serve`` prints its banner there, so its log reads in order).
        The loop is created and run only on its own thread: the caller's thread may have an
        event loop of its own running (a web server, a test's browser driver)."""
        listening: Future[None] = Future()
        loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._listener = loop.run_until_complete(
                    loop.create_server(
                        lambda: _Connection(self),
                        self.host,
                        self.port,
                        reuse_address=True,
                        start_serving=False,
                    )
                )
            except BaseException as exc:
                loop.close()
                listening.set_exception(exc)
                return
            loop.call_later(self._wakeup, self._tick)
            listening.set_result(None)
            loop.run_forever()

        thread = threading.Thread(target=serve, name="famsim-gy", daemon=True)
        self._loop = loop  # before the first peer: its answers wake this loop
        thread.start()
        try:
            listening.result()  # the bind error, if any, raised here
        except BaseException:
            self._loop = None
            thread.join()
            raise
        self._thread = thread
        if announce is not None:
            announce()
        listener = self._listener
        assert listener is not None
        asyncio.run_coroutine_threadsafe(listener.start_serving(), loop).result()
        log.info(
            "Gy server %s (%s) on %s:%s, peers %s",
            self.origin_host,
            self.origin_realm,
            self.host,
            self.port,
            ", ".join(sorted(self.peers)) or "(none)",
        )

    def stop(self, timeout: float = 5) -> None:
        """Send DPR to the connected peers, wait up to *timeout* s, close, stop the engine's
        writer (answering what is queued)."""
        loop, thread = self._loop, self._thread
        self._thread = None
        try:
            if loop is not None and thread is not None:
                # The loop keeps answering CCRs that complete while the peers are told.
                done = asyncio.run_coroutine_threadsafe(self._shutdown(timeout), loop)
                with contextlib.suppress(Exception):
                    done.result(timeout + 5)
                self._loop = None  # from here on, answers are dropped (peers are gone)
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout + 5)
                if not thread.is_alive():
                    loop.close()
        finally:
            if self._on_stop is not None:
                self._on_stop()

    async def _shutdown(self, timeout: float) -> None:
        if self._listener is not None:
            self._listener.close()
        for connection in list(self._connections):
            connection.disconnect()
        deadline = time.monotonic() + timeout
        while self._connections and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for connection in list(self._connections):
            connection.abort()

    def _tick(self) -> None:
        """Peer timers, every *wakeup_seconds*."""
        now = time.monotonic()
        for connection in list(self._connections):
            connection.check_timers(now)
        loop = self._loop
        if loop is not None:
            loop.call_later(self._wakeup, self._tick)

    def next_id(self) -> int:
        """The next hop-by-hop / end-to-end identifier for a request this node sends."""
        return next(self._ids) & 0xFFFFFFFF

    # ----------------------------------------------------------------- charging
    def charge(self, connection: _Connection, header: Header, data: bytes) -> None:
        """A CCR, on the loop: decode, check the realm, submit; answered by :meth:`_drain`."""
        try:
            decoded = decode_ccr(data, self.rating_groups)
        except CcrRejected as rejected:
            connection.write(encode_rejection(header, self.identity, rejected))
            return
        if decoded.destination_realm.lower() != self.origin_realm.lower():
            refused = WireError(
                REALM_NOT_SERVED, f"realm {decoded.destination_realm!r} is not served here"
            )
            connection.write(
                encode_error(header, self.identity, refused, session_id=decoded.request.session_id)
            )
            return
        try:
            future = self._submit(decoded.request)
        except Exception as exc:  # the writer is closed: the server is stopping
            connection.write(self._failure(header, decoded, exc))
            return
        future.add_done_callback(partial(self._answered, connection, header, decoded))

    def _answered(
        self,
        connection: _Connection,
        header: Header,
        decoded: DecodedCcr,
        future: Future[ChargingAnswer],
    ) -> None:
        """On the writer thread, once the answer is durable: queue it (and wake the loop,
        unless the writer wakes it once for the whole batch)."""
        self._ready.append((connection, header, decoded, future))
        if not self._batched:
            self.wake()

    def wake(self) -> None:
        """Have the loop write the queued answers; from any thread, at most one wake-up
        pending at a time (each one a write to the loop's self-pipe)."""
        if self._ready and not self._wake_pending:
            self._wake_pending = True
            loop = self._loop
            if loop is not None:
                with contextlib.suppress(RuntimeError):  # the loop is closed: stopping
                    loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        """On the loop: encode every ready answer, one write per connection."""
        self._wake_pending = False  # first: an answer queued from now on wakes us again
        out: dict[_Connection, list[bytes]] = {}
        ready = self._ready
        while ready:
            connection, header, decoded, future = ready.popleft()
            try:
                error = future.exception()
                if error is None:
                    answer = encode_cca(header, self.identity, decoded, future.result())
                else:
                    answer = self._failure(header, decoded, error)
            except Exception:  # never let one answer stop the others
                log.exception(
                    "cannot answer CCR %s/%s",
                    decoded.request.session_id,
                    decoded.request.request_number,
                )
                continue
            out.setdefault(connection, []).append(answer)
        for connection, answers in out.items():
            connection.write(b"".join(answers))

    def _failure(self, header: Header, decoded: DecodedCcr, error: BaseException) -> bytes:
        log.warning(
            "CCR %s/%s failed: %s",
            decoded.request.session_id,
            decoded.request.request_number,
            error,
        )
        request = decoded.request
        rejected = CcrRejected(UNABLE_TO_COMPLY, str(error)[:200] or type(error).__name__)
        rejected.echoing(request.session_id, decoded.cc_request_type, request.request_number)
        return encode_rejection(header, self.identity, rejected)

    # ----------------------------------------------------------------- base messages
    def capabilities(self, local_ip: str) -> bytes:
        """The AVPs of a successful CEA after the Result-Code."""
        return b"".join(
            (
                self.identity,
                wire.address(AVP_HOST_IP_ADDRESS, local_ip),
                wire.u32(AVP_VENDOR_ID, VENDOR_3GPP),
                wire.text(AVP_PRODUCT_NAME, "famsim", mandatory=False),
                wire.u32(AVP_ORIGIN_STATE_ID, self.state_id),
                wire.u32(AVP_SUPPORTED_VENDOR_ID, VENDOR_3GPP),
                wire.u32(AVP_AUTH_APPLICATION_ID, GY_APPLICATION_ID),
            )
        )

    def local_ip(self, sockname: object) -> str:
        """Host-IP-Address: the configured host if it is one address, else the socket's."""
        with contextlib.suppress(ValueError):
            if not ipaddress.ip_address(self.host).is_unspecified:
                return self.host
        if isinstance(sockname, tuple) and sockname:
            return str(sockname[0])
        return "127.0.0.1"


class _Connection(asyncio.Protocol):
    """One peer's TCP connection, on the loop thread."""

    def __init__(self, server: GyServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.peer: str | None = None
        """The peer's Origin-Host once its CER is accepted."""
        self.opened_at = self.last_read = time.monotonic()
        self.watchdog_sent: float | None = None
        self.closing = False

    # ------------------------------------------------------------ asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=_READ_PAUSE_BYTES)
        self.server._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._connections.discard(self)
        self.transport = None
        if self.peer is not None:
            log.info("peer %s disconnected%s", self.peer, f": {exc}" if exc else "")

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        self.last_read = time.monotonic()
        self.watchdog_sent = None  # any traffic shows the peer is alive (RFC 3539 3.4.1)
        buffer = self.buffer
        buffer += data
        at, size = 0, len(buffer)
        server = self.server
        while size - at >= wire.HEADER_LENGTH and not self.closing:
            header = wire.parse_header(buffer, at)
            try:
                wire.check_framing(header, server.max_message_bytes)
            except WireError as error:
                log.warning("closing the connection of %s: %s", self.peer or "a peer", error)
                if header.is_request:
                    self.write(encode_error(header, server.identity, error))
                self.close()
                break
            if size - at < header.length:
                break
            message = bytes(buffer[at : at + header.length])
            at += header.length
            try:
                self.received(header, message)
            except Exception:  # a bug must cost one message, not the loop
                log.exception("cannot handle command %s from %s", header.command, self.peer)
                if header.is_request:
                    failed = WireError(UNABLE_TO_COMPLY, "internal error")
                    self.write(encode_error(header, server.identity, failed))
        del buffer[:at]

    # ------------------------------------------------------------ messages
    def received(self, header: Header, message: bytes) -> None:
        server = self.server
        if not header.is_request:
            if header.command == DPR:
                self.close()  # our DPR is answered
            return  # DWA: the read already counted; CEA and others: nothing to do
        try:
            wire.check_header_bits(header)
        except WireError as error:
            self.write(encode_error(header, server.identity, error))
            if self.peer is None:  # not even a well-formed CER first: no peer to keep
                self.close()
            return
        if self.peer is None:
            if header.command == CER and header.application == BASE_APPLICATION:
                self.capabilities_exchange(header, message)
            else:
                log.warning("closing a connection that sent command %s before CER", header.command)
                self.close()
            return
        if header.application == GY_APPLICATION_ID and header.command == CREDIT_CONTROL:
            server.charge(self, header, message)
        elif header.application == BASE_APPLICATION and header.command == DWR:
            self.answer(header, SUCCESS, wire.u32(AVP_ORIGIN_STATE_ID, server.state_id))
        elif header.application == BASE_APPLICATION and header.command == DPR:
            self.answer(header, SUCCESS)
            log.info("peer %s disconnects", self.peer)
            self.close()
        elif header.application == BASE_APPLICATION and header.command == CER:
            refused = WireError(UNABLE_TO_COMPLY, "capabilities were already exchanged")
            self.write(encode_error(header, server.identity, refused))
        elif header.application in (BASE_APPLICATION, GY_APPLICATION_ID):
            unsupported = WireError(COMMAND_UNSUPPORTED, f"command {header.command} is not served")
            self.write(encode_error(header, server.identity, unsupported))
        else:
            unsupported = WireError(
                APPLICATION_UNSUPPORTED, f"application {header.application} is not served"
            )
            self.write(encode_error(header, server.identity, unsupported))

    def capabilities_exchange(self, header: Header, message: bytes) -> None:
        server = self.server
        try:
            origin_host, applications = _read_cer(message)
        except WireError as error:
            self.write(encode_error(header, server.identity, error))
            self.close()
            return
        if origin_host.lower() not in server.peers:
            log.warning("refusing unknown peer %r (3010)", origin_host)
            self.write(
                encode_error(header, server.identity, WireError(UNKNOWN_PEER, "unknown peer"))
            )
            self.close()
            return
        if not applications & {GY_APPLICATION_ID, RELAY_APPLICATION}:
            log.warning("refusing peer %r: no credit-control application (5010)", origin_host)
            refused = WireError(NO_COMMON_APPLICATION, "credit control (4) is not advertised")
            self.write(encode_error(header, server.identity, refused))
            self.close()
            return
        sockname = self.transport.get_extra_info("sockname") if self.transport else None
        capabilities = server.capabilities(server.local_ip(sockname))
        self.write(wire.answer_to(header, wire.u32(AVP_RESULT_CODE, SUCCESS) + capabilities))
        self.peer = origin_host
        log.info("peer %s connected", origin_host)

    def answer(self, header: Header, result_code: int, extra: bytes = b"") -> None:
        body = wire.u32(AVP_RESULT_CODE, result_code) + self.server.identity + extra
        self.write(wire.answer_to(header, body))

    def request(self, command: int, extra: bytes = b"") -> None:
        """Send a base-protocol request (DWR, DPR) of this node."""
        server = self.server
        identifier = server.next_id()
        body = server.identity + extra
        flags = wire.FLAG_REQUEST
        self.write(wire.message(command, BASE_APPLICATION, flags, identifier, identifier, body))

    # ------------------------------------------------------------ timers and closing
    def check_timers(self, now: float) -> None:
        limit = self.server.watchdog_seconds
        if self.peer is None:
            if now - self.opened_at >= limit:
                log.warning("closing a connection that sent no CER in %.0f s", limit)
                self.abort()
            return
        if self.watchdog_sent is None:
            if now - self.last_read >= limit:
                self.request(DWR, wire.u32(AVP_ORIGIN_STATE_ID, self.server.state_id))
                self.watchdog_sent = now
        elif now - self.watchdog_sent >= limit:
            log.warning("peer %s answers no watchdog: closing its connection", self.peer)
            self.abort()

    def disconnect(self) -> None:
        """DPR to an open peer (the server stops); a connection without CER just closes."""
        if self.peer is None or self.transport is None:
            self.abort()
            return
        self.request(DPR, wire.u32(AVP_DISCONNECT_CAUSE, REBOOTING))

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        """Close once what is written is sent."""
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()


def _read_cer(message: bytes) -> tuple[str, set[int]]:
    """The Origin-Host of a CER and the applications it advertises (Auth- and
    Acct-Application-Id, also within Vendor-Specific-Application-Id)."""
    origin_host = ""
    applications: set[int] = set()
    for code, _flags, vendor, a, b in wire.avps(message, wire.HEADER_LENGTH, len(message)):
        if vendor:
            continue
        if code == AVP_ORIGIN_HOST:
            origin_host = wire.utf8(message, a, b, code)
        elif code in (AVP_AUTH_APPLICATION_ID, _ACCT_APPLICATION_ID):
            applications.add(wire.unsigned32(message, a, b, code))
        elif code == AVP_VENDOR_SPECIFIC_APPLICATION_ID:
            for inner, _f, inner_vendor, x, y in wire.avps(message, a, b):
                if not inner_vendor and inner in (AVP_AUTH_APPLICATION_ID, _ACCT_APPLICATION_ID):
                    applications.add(wire.unsigned32(message, x, y, inner))
    if not origin_host:
        raise WireError(5005, "Origin-Host is missing", (AVP_ORIGIN_HOST, 0))
    return origin_host, applications


_ACCT_APPLICATION_ID = 259
