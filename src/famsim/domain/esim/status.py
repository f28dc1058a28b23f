"""ES2+ status codes (SGP.22 5.3 / 6.5): why an SM-DP+ function failed.

A failed ES2+ call answers HTTP 200 with ``functionExecutionStatus.status = "Failed"`` and
``statusCodeData {subjectCode, reasonCode, message}``; these are the ones famsim's SM-DP+
sends and its client understands by name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StatusCode:
    subject_code: str
    reason_code: str
    meaning: str

    def __str__(self) -> str:
        return f"{self.subject_code}/{self.reason_code} {self.meaning}"


PROFILE_UNKNOWN = StatusCode("8.2.1", "3.9", "Profile ICCID unknown")
PROFILE_IN_USE = StatusCode("8.2.1", "3.3", "Profile ICCID already in use")
INVALID_TRANSITION = StatusCode("8.2.1", "3.5", "Invalid Profile state transition")
NO_PROFILE_OF_TYPE = StatusCode("8.2.5", "3.7", "No more Profile available for this type")
MATCHING_ID_CONFLICT = StatusCode("8.2.6", "3.3", "Matching ID already in use")
EID_DIFFERS = StatusCode("8.1.1", "3.10", "EID different from the one the order is for")
