"""The Gy server: a python-diameter :class:`Node` in the server role with one credit-control
application.

python-diameter answers CER / DWR / DPR itself on its connection thread; it refuses a CER
whose Origin-Host is not a configured peer with 3010 DIAMETER_UNKNOWN_PEER and closes the
connection, and answers a request missing a mandatory AVP of its dictionary (Session-Id,
Origin-Host / -Realm, Destination-Realm, Auth-Application-Id, Service-Context-Id,
CC-Request-Type, CC-Request-Number) with 5005 DIAMETER_MISSING_AVP and a Failed-AVP.

The application decodes each CCR on the connection thread (cheap, no I/O) and hands the
charging request to *submit* (famsim's group committer: one writer thread runs the engine
and commits), so a slow database never stalls the connection thread, its watchdogs or
other peers. The CCA is encoded and queued for sending when the answer is durable, on
the writer thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

from diameter.node import Node
from diameter.node.application import Application

from famsim.adapters.diameter.gy_mapping import (
    GY_APPLICATION_ID,
    UNABLE_TO_COMPLY,
    VENDOR_3GPP,
    CcrRejected,
    DecodedCcr,
    decode_ccr,
    fill_cca,
    fill_rejection,
)
from famsim.domain.charging.rating_groups import RatingGroups
from famsim.service.charging import ChargingAnswer, ChargingRequest

log = logging.getLogger("famsim.gy")

Submit = Callable[[ChargingRequest], Future[ChargingAnswer]]
_CREDIT_CONTROL = 272
_COMMAND_UNSUPPORTED = 3001


class GyApplication(Application):  # type: ignore[misc]
    """Credit control (application 4): CCR in, CCA out."""

    def __init__(self, submit: Submit, rating_groups: RatingGroups) -> None:
        super().__init__(GY_APPLICATION_ID, is_auth_application=True)
        self._submit = submit
        self._rating_groups = rating_groups

    def handle_request(self, message: Any) -> None:
        """Called on the node's connection thread: decode, queue, return at once."""
        if message.header.command_code != _CREDIT_CONTROL:
            answer = self.generate_answer(message, result_code=_COMMAND_UNSUPPORTED)
            answer.header.is_error = True
            self.send_answer(answer)
            return
        try:
            decoded = decode_ccr(message, self._rating_groups)
        except CcrRejected as rejected:
            answer = self.generate_answer(message)
            fill_rejection(answer, message, rejected)
            self.send_answer(answer)
            return
        try:
            future = self._submit(decoded.request)
        except Exception as exc:  # the writer is closed: the server is stopping
            self._send_failure(message, decoded, exc)
            return
        future.add_done_callback(lambda done: self._answer(message, decoded, done))

    def _answer(self, message: Any, decoded: DecodedCcr, done: Future[ChargingAnswer]) -> None:
        try:
            error = done.exception()
            if error is not None:
                self._send_failure(message, decoded, error)
                return
            answer = self.generate_answer(message)
            fill_cca(answer, decoded, done.result())
            self._send(answer)
        except Exception:  # never let one answer take the writer thread's callback down
            log.exception(
                "cannot answer CCR %s/%s",
                decoded.request.session_id,
                decoded.request.request_number,
            )

    def _send_failure(self, message: Any, decoded: DecodedCcr, error: BaseException) -> None:
        log.warning(
            "CCR %s/%s failed: %s",
            decoded.request.session_id,
            decoded.request.request_number,
            error,
        )
        answer = self.generate_answer(message)
        fill_rejection(answer, message, CcrRejected(UNABLE_TO_COMPLY, str(error)[:200]))
        self._send(answer)

    def _send(self, answer: Any) -> None:
        """Send from this (writer) thread. python-diameter's answer routing iterates its
        table of pending requests, which the connection thread may grow meanwhile (a new
        peer): that race raises RuntimeError, and trying again is safe."""
        for attempt in range(3):
            try:
                self.send_answer(answer)
                return
            except RuntimeError:
                if attempt == 2:
                    raise


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
        wakeup_seconds: int = 1,
    ) -> None:
        if not 1 <= port <= 65535:
            raise ValueError(f"port {port} is not a TCP port")
        self.host = host
        self.port = port
        self.origin_host = origin_host
        self.origin_realm = origin_realm
        self.peers = tuple(p.strip().lower() for p in peers if p.strip())
        self._on_stop = on_stop
        node = Node(
            origin_host,
            origin_realm,
            ip_addresses=[host],
            tcp_port=port,
            vendor_ids=[VENDOR_3GPP],
        )
        node.vendor_id = VENDOR_3GPP
        node.product_name = "famsim"
        # A retransmission (T flag, an end-to-end id already answered) would be refused
        # with 5012 by the node: let it through, the engine answers it from the stored
        # answer of its (Session-Id, CC-Request-Number), unchanged and charged once.
        node.retransmit_queue_size = 0
        # The connection thread's select() timeout: how quickly stop() is noticed and the
        # granularity of the peer timers (watchdogs).
        node.wakeup_interval = wakeup_seconds
        known = [node.add_peer(f"aaa://{name}", realm_name=origin_realm) for name in self.peers]
        self.application = GyApplication(submit, rating_groups)
        node.add_application(self.application, known)
        self.node = node
        self._started = False

    def start(self) -> None:
        self.node.start()
        self._started = True
        log.info(
            "Gy server %s (%s) on %s:%s, peers %s",
            self.origin_host,
            self.origin_realm,
            self.host,
            self.port,
            ", ".join(self.peers) or "(none)",
        )

    def stop(self, timeout: int = 5) -> None:
        """Send DPR to the connected peers, wait up to *timeout* s, close, stop the engine's
        writer (answering what is queued)."""
        try:
            if self._started:
                self._started = False
                self.node.stop(wait_timeout=timeout)
        finally:
            if self._on_stop is not None:
                self._on_stop()
