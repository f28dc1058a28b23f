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

# The device-side refusals (ES9+, the LPA's download functions in SGP.22 5.6), which the
# built-in SM-DP+ uses for its simulated downloads. They are not in esim.md; taken from
# SGP.22's ES9+ status tables.
CONFIRMATION_CODE_REFUSED = StatusCode("8.2.7", "3.8", "Confirmation Code refused")
CONFIRMATION_ATTEMPTS_EXCEEDED = StatusCode(
    "8.2.7", "6.4", "Confirmation Code: maximum number of retries exceeded"
)
ORDER_EXPIRED = StatusCode("8.8.5", "4.10", "Download order: time to live expired")

# Failures the simulated device reports and the SM-DP+ forwards to the operator in
# HandleDownloadProgressInfo. SGP.22 carries an end user's refusal from the device as
# ES9+ CancelSession with reason endUserRejection(0); which subject/reason pair an SM-DP+
# then puts in the ES2+ notification's statusCodeData is not in the text famsim builds on
# (esim.md), so these two pairs are FAMSIM'S CHOICE (8.1 = the eUICC as subject), not
# values quoted from the spec: a receiver should match them by these names.
END_USER_REJECTED = StatusCode("8.1", "3.8", "End user rejected the profile on the device")
DEVICE_FAILURE = StatusCode(
    "8.1", "4.2", "Download or installation failed on the device (famsim's code)"
)
