"""ES2+, the interface between an operator and an SM-DP+ (GSMA SGP.22 5.3), over HTTPS and JSON.

:mod:`famsim.adapters.es2plus.messages` is the wire format that famsim's ES2+ client, its
callback receiver and its built-in SM-DP+ server all share, so the three cannot drift apart.
"""
