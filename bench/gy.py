"""Gy benchmark (see famsim.bench.gy): `.venv/bin/python bench/gy.py` (``--help``).

The benchmark lives in the package so that `famsim bench gy` runs the same code.
"""

from __future__ import annotations

import sys

from famsim.bench.gy import main

if __name__ == "__main__":
    main(sys.argv[1:])
