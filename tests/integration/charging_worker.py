"""A charging client in its own process, for test_charging_processes (not a test module).

Usage::

    python charging_worker.py stress URL INDEX SESSIONS IMSI...
    python charging_worker.py crash URL INDEX LOGFILE IMSI...
    python charging_worker.py crash-group URL INDEX LOGFILE IMSI...

Both modes bootstrap their own App on URL and run data sessions (INITIAL, one to three
UPDATEs reporting the grant or a little more, TERMINATION) through ``app.charging``. A
:class:`Conflict` is retried with the same request number; any other exception (or an
answer that is not ``success``) ends the process with a non-zero status.

``stress`` runs SESSIONS sessions, prints its statistics, and as the last stdout line the
total of the used units it reported in answered requests.

``crash`` runs sessions until killed; after every answered request it appends the line
``session request used`` to LOGFILE and flushes and fsyncs it, so the log holds only
acknowledged requests.

``crash-group`` is ``crash`` through a :class:`GroupCommitter`: GROUP_THREADS threads each
run their own sessions (prefix ``crash-INDEX-tN``), submitting to the one committer and
logging a request only after its future resolved, i.e. after its batch committed. Any
thread's failure ends the process at once with a non-zero status.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Protocol

from famsim.bootstrap import bootstrap
from famsim.config import Settings
from famsim.domain.errors import Conflict
from famsim.domain.units import Resource
from famsim.service.charging import (
    ChargingAnswer,
    ChargingRequest,
    RequestType,
    ServiceUse,
)
from famsim.service.group_commit import GroupCommitter

MAX_RETRIES = 500
MAX_OVERSHOOT = 200_000
GROUP_THREADS = 4


class Charger(Protocol):
    """ChargingService or GroupCommitter: both answer a request once it is durable."""

    def handle(self, request: ChargingRequest) -> ChargingAnswer: ...


class Stats:
    def __init__(self) -> None:
        self.used = 0
        self.overshoot = 0
        self.requests = 0
        self.retries = 0
        self.denials = 0


def send(service: Charger, request: ChargingRequest, stats: Stats) -> ChargingAnswer:
    for _ in range(MAX_RETRIES):
        try:
            answer = service.handle(request)
        except Conflict:
            stats.retries += 1
            time.sleep(0.002)
            continue
        if answer.outcome != "success":
            raise RuntimeError(f"unexpected answer {answer} to {request}")
        stats.requests += 1
        stats.denials += sum(s.outcome == "limit_reached" for s in answer.services)
        return answer
    raise RuntimeError(f"{request} still conflicting after {MAX_RETRIES} tries")


def sessions(
    service: Charger,
    prefix: str,
    imsis: list[str],
    rng: random.Random,
    stats: Stats,
    on_answer: Callable[[str, int, int], None],
) -> Iterator[None]:
    """Run one session per iteration; ``on_answer(session, number, used)`` after each."""
    n = 0
    while True:
        sid = f"{prefix}-{n}"
        imsi = rng.choice(imsis)
        number = 0
        wanted = rng.randint(200_000, 1_500_000)
        first = ChargingRequest(
            sid,
            number,
            RequestType.INITIAL,
            imsi,
            (ServiceUse(Resource.DATA, requested=wanted),),
        )
        answer = send(service, first, stats)
        on_answer(sid, number, 0)
        updates = rng.randint(1, 3)
        for step in range(updates + 1):
            granted = answer.services[0].granted
            extra = rng.choice((0, 0, 0, rng.randint(1, MAX_OVERSHOOT))) if granted else 0
            used = granted + extra
            number += 1
            last = step == updates
            kind = RequestType.TERMINATION if last else RequestType.UPDATE
            request = ChargingRequest(
                sid,
                number,
                kind,
                imsi,
                (ServiceUse(Resource.DATA, requested=None if last else wanted, used=used or None),),
            )
            answer = send(service, request, stats)
            stats.used += used
            stats.overshoot += extra
            on_answer(sid, number, used)
        n += 1
        yield


def main(argv: list[str]) -> int:
    mode, url, index = argv[0], argv[1], int(argv[2])
    app = bootstrap(Settings(database_url=url))
    rng = random.Random(7919 * index + 1)
    stats = Stats()
    try:
        if mode == "stress":
            count, imsis = int(argv[3]), argv[4:]
            runner = sessions(app.charging, f"proc-{index}", imsis, rng, stats, lambda *a: None)
            for _ in range(count):
                next(runner)
            print(
                f"requests={stats.requests} retries={stats.retries} "
                f"denials={stats.denials} overshoot={stats.overshoot}"
            )
            print(stats.used, flush=True)
            return 0
        if mode == "crash":
            log_path, imsis = argv[3], argv[4:]
            fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

            def log(sid: str, number: int, used: int) -> None:
                os.write(fd, f"{sid} {number} {used}\n".encode())
                os.fsync(fd)

            for _ in sessions(app.charging, f"crash-{index}", imsis, rng, stats, log):
                pass
        if mode == "crash-group":
            log_path, imsis = argv[3], argv[4:]
            fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            committer = GroupCommitter(app.charging)

            def log_line(sid: str, number: int, used: int) -> None:
                # One write per line on an O_APPEND file: lines of threads never interleave.
                os.write(fd, f"{sid} {number} {used}\n".encode())
                os.fsync(fd)

            def run(thread: int) -> None:
                try:
                    mine = random.Random(7919 * index + 101 * thread + 1)
                    prefix = f"crash-{index}-t{thread}"
                    for _ in sessions(committer, prefix, imsis, mine, Stats(), log_line):
                        pass
                except BaseException:
                    traceback.print_exc()
                    sys.stderr.flush()
                    os._exit(3)

            threads = [
                threading.Thread(target=run, args=(t,), daemon=True) for t in range(GROUP_THREADS)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()  # until killed: the sessions never end
        raise SystemExit(f"unknown mode {mode!r}")
    finally:
        app.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
