"""The one character check every identifier shares: ASCII digits only."""

from __future__ import annotations


def is_ascii_digits(text: str) -> bool:
    """Whether *text* has only the digits 0-9 (the empty string too: length is checked
    apart). ``str.isdigit`` alone would also let Unicode digits such as ``²`` or ``４``
    through; with ``isascii`` first it cannot, and both run at C speed (identifiers are
    checked on every family load)."""
    return not text or (text.isascii() and text.isdigit())
