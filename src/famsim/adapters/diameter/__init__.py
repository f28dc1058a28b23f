"""Diameter Gy (RFC 4006 / 3GPP TS 32.299) on python-diameter: the CCR <-> charging
request mapping (:mod:`.gy_mapping`, :mod:`.rating_groups`) and the server node
(:mod:`.gy_server`). See ``docs/diameter.md``."""
