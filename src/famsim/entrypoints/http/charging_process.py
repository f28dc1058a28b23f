"""The charging engine in a process of its own, for ``famsim serve``.

One Python process has one GIL: with HTTP on the event loop and the group committer's
writer thread in the same process, the two took turns on one core of the two. Here the
API process sends each charging request through a pipe to a child process that runs the
very same group commit (everything that queued up while the previous batch was written
is one transaction, answered only after its commit) and sends each batch's answers back
in one message. Durability is unchanged: an answer leaves the child only once committed.

The child is started with the API (``spawn``: a fresh interpreter, its own connections)
and stopped with it: closing the pipe makes it answer what it has and exit. If it dies,
every request waiting for it, and every later one, fails with ``StorageUnavailable``
(a 503 problem), as a lost database would.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import pickle
import signal
import threading
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any

from famsim.bootstrap import bootstrap
from famsim.config import Settings
from famsim.entrypoints.http.gc_tuning import tune_gc_for_serving
from famsim.service.charging import ChargingAnswer, ChargingRequest
from famsim.service.group_commit import DEFAULT_MAX_BATCH, GroupCommitClosed
from famsim.service.ports import StorageUnavailable

log = logging.getLogger("famsim.api")
START_TIMEOUT_S = 60.0


class ChargingProcess:
    """``submit(request) -> Future`` like :class:`GroupCommitter`, the engine in a child."""

    def __init__(self, settings: Settings, *, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_end = context.Pipe()
        self._child = context.Process(
            target=_serve, args=(settings, child_end, max_batch), name="famsim-charging"
        )
        self._child.daemon = True
        self._child.start()
        child_end.close()
        try:
            started = self._conn.poll(START_TIMEOUT_S) and self._conn.recv() == "ready"
        except (EOFError, OSError):
            started = False
        if not started:
            self._child.kill()
            self._child.join()
            self._conn.close()
            raise StorageUnavailable("the charging engine did not start (see its log)")
        self._lock = threading.Lock()
        self._waiting: dict[int, Future[ChargingAnswer]] = {}
        self._next = 0
        self._closed = False
        self._gone = False
        self._reader = threading.Thread(target=self._read, name="famsim-charging-answers")
        self._reader.daemon = True
        self._reader.start()

    def submit(self, request: ChargingRequest) -> Future[ChargingAnswer]:
        future: Future[ChargingAnswer] = Future()
        with self._lock:
            if self._gone:
                raise StorageUnavailable("the charging engine stopped")
            if self._closed:
                raise GroupCommitClosed("the charging writer is closed")
            self._next += 1
            self._waiting[self._next] = future
            try:
                self._conn.send((self._next, request))
            except OSError:
                self._waiting.pop(self._next)
                raise StorageUnavailable("the charging engine is gone") from None
        return future

    def close(self) -> None:
        """Let the child answer what it has, then stop it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with contextlib.suppress(OSError):  # unless the child is gone already
                self._conn.send(None)
        self._reader.join()
        self._child.join(timeout=30)
        if self._child.is_alive():
            self._child.kill()
        self._conn.close()

    def _read(self) -> None:
        while True:
            try:
                answers: list[tuple[int, Any]] = self._conn.recv()
            except (EOFError, OSError):
                break
            except Exception:  # an answer that cannot be read: stop rather than guess
                log.exception("unreadable answer from the charging engine; stopping it")
                self._child.kill()
                break
            with self._lock:
                futures = [self._waiting.pop(key) for key, _ in answers]
            for future, (_, result) in zip(futures, answers, strict=True):
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        with self._lock:  # the child is gone: nobody will answer these
            self._gone = True
            left, self._waiting = self._waiting, {}
        for future in left.values():
            future.set_exception(StorageUnavailable("the charging engine stopped"))


def _serve(settings: Settings, conn: Connection, max_batch: int) -> None:
    """The child: take what queued up, run it as one batch, send the answers back."""
    # Ctrl-C reaches the whole process group: the child stops when the API closes the
    # pipe (after answering what it has), or when the pipe breaks because the API died.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    app = bootstrap(settings)
    try:
        service = app.charging
        tune_gc_for_serving()  # as the API process does
        conn.send("ready")
        stopping = False
        while not stopping:
            try:
                first = conn.recv()
            except EOFError:
                return
            if first is None:
                return
            batch = [first]
            while len(batch) < max_batch and conn.poll():
                item = conn.recv()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            try:
                results: list[Any] = service.handle_batch([request for _, request in batch])
            except Exception as exc:  # storage failure: nothing of the batch was committed
                results = [exc] * len(batch)
            conn.send(
                [(key, _portable(result)) for (key, _), result in zip(batch, results, strict=True)]
            )
    finally:
        conn.close()
        app.close()


def _portable(result: Any) -> Any:
    """*result*, or for an exception that does not survive pickling (one whose
    ``__init__`` takes other arguments than its message, e.g. ``InvalidIdentifier``), the
    nearest base class that does, with the same message: the same problem status."""
    if not isinstance(result, BaseException):
        return result
    for kind in type(result).__mro__:
        try:
            candidate = result if kind is type(result) else kind(str(result))
            pickle.loads(pickle.dumps(candidate))  # noqa: S301 - our own bytes, just made
        except Exception:  # noqa: S112 - try the next base class
            continue
        return candidate
    return RuntimeError(str(result))
