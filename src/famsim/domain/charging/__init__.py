"""Charging rules: how much credit a request gets (grants) and when usage alerts (thresholds).

Pure functions over explicit state: the service layer reads the counters, asks these rules,
and writes the result in one transaction. Keeping the rules free of storage is what lets
the same decision be proved with Hypothesis and reused by every protocol front end.
"""
