"""Billing benchmark (see famsim.bench.billing): `.venv/bin/python bench/billing.py`.

The benchmark lives in the package so that `famsim bench billing` runs the same code.
As bench/charging.py does, ``--postgres-cluster`` starts a throwaway PostgreSQL cluster
from Debian's binaries (durable settings: fsync and synchronous commit on), benchmarks on
it too, and removes it, when no server URL is given.
"""

from __future__ import annotations

import sys
from pathlib import Path

from famsim.bench.billing import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--postgres-cluster" in argv:
        argv.remove("--postgres-cluster")
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from pg_cluster import PgCluster

        with PgCluster.start(durable=True) as cluster:
            main([*argv, "--postgres-url", cluster.url()])
    else:
        main(argv)
