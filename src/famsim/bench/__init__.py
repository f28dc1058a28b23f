"""Benchmarks that ship with famsim (``famsim bench ...``, ``bench/*.py``).

They compose the application like an entrypoint does (through :mod:`famsim.bootstrap`)
and, for their baselines, talk to the database drivers directly; they print figures and
assert no budgets.
"""
