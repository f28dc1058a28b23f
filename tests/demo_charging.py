"""The charging tests' shared vocabulary: the demo family's subscribers, small quanta, a clock.

The demo family (``famsim.demo``: the Chans on the Hong Kong plan) is what most charging
tests drive; these are its subscribers as the network names them, and the pieces every
such test needs. Not a test module: tests import it (``tests/`` is on the path).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from famsim.domain.charging.grants import ChargingRules, Quantum
from famsim.domain.units import Resource, Zone
from famsim.service.charging import RequestType

DATA, VOICE, SMS = Resource.DATA, Resource.VOICE, Resource.SMS
GREATER_CHINA = Zone("greater-china")
RULES = ChargingRules(
    quanta={DATA: Quantum(1_000_000, 60), VOICE: Quantum(60, 60), SMS: Quantum(1, 60)}
)
"""1 MB of data, a minute of voice, one SMS per grant, each valid for 60 seconds."""
T0 = datetime(2026, 2, 3, 12, 0, tzinfo=UTC)
"""12:00 UTC: 20:00 in Hong Kong, the demo family's time zone."""
MB, GB = 10**6, 10**9

OWNER = "454001230000001"  # Chan Tai Man
SPOUSE = "454001230000002"  # Wong Mei Ling
SPOUSE_MSISDN = "+85261230002"
TEEN = "454001230000003"  # Chan Ka Ho, a child (physical SIM)
CHILD = "454001230000004"  # Chan Ka Yan, a child
CHILD_MSISDN = "+85294560004"
WATCH = "454001230000005"  # Chan Ka Yan's watch, on her number
TABLET = "454001230000006"  # a data-only line
UNKNOWN = "454001239999999"
CHINA = "46000"  # a serving network in the greater-china zone
GERMANY = "26201"  # a serving network no sample plan covers

INITIAL, UPDATE, TERMINATION, EVENT = (
    RequestType.INITIAL,
    RequestType.UPDATE,
    RequestType.TERMINATION,
    RequestType.EVENT,
)


class Now:
    """A controllable now() for the charging service: aware UTC, moved by the test."""

    def __init__(self, start: datetime = T0) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)
