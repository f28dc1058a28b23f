"""eSIM provisioning in the domain: activation codes, ES2+ status codes, profile states.

Facts from GSMA SGP.22 (see ``shared/docs/esim.md``); no HTTP, no QR drawing here.
"""
