"""The cyclic garbage collector kept out of the way of a long-running server."""

from __future__ import annotations

import gc


def tune_gc_for_serving() -> None:
    """Called once the server's long-lived objects exist (``famsim serve``).

    CPython's cyclic garbage collector scans every tracked object in a full collection:
    in the API process (FastAPI, SQLAlchemy, pydantic and famsim's modules and caches,
    ~180,000 objects) one took 40-100 ms with the GIL held, stalling every request in
    flight (it was most of the charging benchmark's p99). What exists at start-up lives
    as long as the process, so it is frozen out of collections (:func:`gc.freeze`), and
    the youngest generation is collected every 50,000 allocations instead of 700 (most
    garbage here is freed by reference counting; collections still run, less often).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 10, 10)
