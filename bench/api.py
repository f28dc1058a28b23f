"""REST charging benchmark (see famsim.bench.api): `.venv/bin/python bench/api.py`."""

from __future__ import annotations

import sys

from famsim.bench.api import main

if __name__ == "__main__":
    main(sys.argv[1:])
