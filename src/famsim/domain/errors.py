"""The error hierarchy every layer raises and every entrypoint maps.

One base class, :class:`FamsimError`, so that the command line and the API can turn any
expected failure into a one-line message (or a 4xx problem) without catching bare
``Exception``. Subclasses group failures by what the caller can do about them, in the
spirit of httpx's hierarchy: fix the input, pick something that exists, or retry.
"""

from __future__ import annotations


class FamsimError(Exception):
    """Base of every error famsim raises on purpose."""


class InvalidInput(FamsimError):
    """The caller gave a value that can never be valid; fixing the input is the cure."""


class InvalidIdentifier(InvalidInput):
    """An identifier (ICCID, EID, IMEI, IMSI, MSISDN) failed one named check.

    ``check`` is one of ``length``, ``format``, ``checksum``, ``prefix`` or ``unknown``
    (a syntactically fine value that names nothing real, such as an unassigned MCC).
    """

    def __init__(self, kind: str, check: str, value: str, reason: str) -> None:
        self.kind = kind
        self.check = check
        self.value = value
        self.reason = reason
        super().__init__(f"invalid {kind} {value!r}: {check} check failed: {reason}")


class InvalidAmount(InvalidInput):
    """A quantity or a sum of money is malformed, negative or in the wrong currency."""


class RuleViolation(FamsimError):
    """The request is well formed but a business rule forbids it in the current state."""


class NotFound(FamsimError):
    """The request names something (a plan, a family, a member, a line) that does not exist."""


class Conflict(FamsimError):
    """The request clashes with existing state: a number already in use, a concurrent change."""


class Unauthenticated(FamsimError):
    """The caller is not signed in, or its credentials are wrong or expired.

    Messages never say whether a login exists (``wrong login or password``).
    """


class Forbidden(FamsimError):
    """The caller is known but may not see or do this (role, privacy or scope)."""


class TooManyAttempts(FamsimError):
    """Too many failures in a row: wait (``retry_after_s`` seconds) before trying again."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)
