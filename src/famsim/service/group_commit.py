"""Group commit: concurrent charging requests share one transaction and one fsync.

A durable answer costs one synchronous disk flush; a network element with thousands of
sessions in flight cannot wait for one flush per request. Callers (Diameter, Nchf and
REST handlers, each on its own thread or event loop) submit requests; one writer thread
takes everything that queued up while the previous batch was being written, runs it as a
single batch (:meth:`ChargingService.handle_batch`), commits, and only then resolves the
callers' futures. An acknowledged answer is therefore on disk: a kill -9 after it loses
nothing, and a kill -9 before it loses only requests nobody was told about. Nothing waits
on a timer: under light load a batch is one request, under heavy load batches grow.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from types import TracebackType
from typing import Self

from famsim.service.charging import ChargingAnswer, ChargingRequest, ChargingService

SWITCH_INTERVAL = 0.0005
"""Seconds between GIL hand-offs (``sys.setswitchinterval``) for a process that charges
through a group committer. CPython's default, 5 ms, lets the writer thread keep the
interpreter for a whole batch while answers wait to be delivered, and the network thread
keep it while the writer has a batch ready; every such wait adds to each answer's
latency. ``famsim gy serve`` and the charging benchmarks set this."""

DEFAULT_MAX_BATCH = 64
"""Large enough that one fsync serves many requests (a commit costs about as much as two or
three requests' rules), small enough that a batch takes a few milliseconds: measured with
``famsim bench charging``, 64 gives the same throughput as 256 with far lower latency."""


class GroupCommitClosed(RuntimeError):
    """The committer was closed: no more requests are taken."""


class GroupCommitter:
    """One writer thread that batches the requests submitted from any thread."""

    def __init__(
        self,
        service: ChargingService,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        after_batch: Callable[[], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("a batch holds at least one request")
        self._service = service
        self._max_batch = max_batch
        self.after_batch = after_batch
        """Called on the writer thread once every future of a batch is resolved: a network
        server queues answers in its futures' callbacks and wakes its event loop here, once
        per batch rather than once per answer (settable after construction)."""
        self._queue: queue.SimpleQueue[tuple[ChargingRequest, Future[ChargingAnswer]] | None] = (
            queue.SimpleQueue()
        )
        self._closed = False
        self._lock = threading.Lock()
        self.batches = 0
        """How many transactions were committed (figures for benchmarks and the console)."""
        self.requests = 0
        self._writer = threading.Thread(target=self._write, name="famsim-group-commit")
        self._writer.daemon = True
        self._writer.start()

    def submit(self, request: ChargingRequest) -> Future[ChargingAnswer]:
        """Queue a request; the future resolves once its answer is durable."""
        future: Future[ChargingAnswer] = Future()
        with self._lock:
            if self._closed:
                raise GroupCommitClosed("the charging writer is closed")
            self._queue.put((request, future))
        return future

    def handle(self, request: ChargingRequest) -> ChargingAnswer:
        """Submit and wait: the same contract as :meth:`ChargingService.handle`."""
        return self.submit(request).result()

    def close(self) -> None:
        """Answer everything already queued, then stop the writer."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._writer.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _write(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True  # finish this batch, then stop
                    break
                batch.append(item)
            self._run(batch)

    def _run(self, batch: list[tuple[ChargingRequest, Future[ChargingAnswer]]]) -> None:
        live = [(r, f) for r, f in batch if f.set_running_or_notify_cancel()]  # not cancelled
        if not live:
            return
        requests = [request for request, _ in live]
        futures = [future for _, future in live]
        try:
            results = self._service.handle_batch(requests)
        except BaseException as exc:  # storage failure: nothing of the batch was committed
            for future in futures:
                future.set_exception(exc)
            self._batch_done()
            if not isinstance(exc, Exception):
                raise
            return
        self.batches += 1
        self.requests += len(requests)
        for future, result in zip(futures, results, strict=True):
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
        self._batch_done()

    def _batch_done(self) -> None:
        hook = self.after_batch
        if hook is not None:
            hook()
