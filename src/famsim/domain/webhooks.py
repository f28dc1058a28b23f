"""Webhooks: operator-registered endpoints and the deliveries of outbox events to them.

An endpoint subscribes to event kinds (or ``*``). Each committed outbox event is fanned
out once into one delivery per matching active endpoint; a delivery is retried with the
same idempotency key and the same body until the receiver answers 2xx, so receivers get
every event at least once and can drop repeats by the key.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from famsim.domain.backoff import backoff
from famsim.domain.charging.thresholds import ThresholdCrossed
from famsim.domain.errors import InvalidInput, NotFound

THRESHOLD_CROSSED = ThresholdCrossed.KIND  # "threshold_crossed", as the ledger writes it
ESIM_STATE_CHANGED = "esim.state_changed"
INVITATION_SENT = "invitation.sent"
NOTIFICATION = "notification"  # a message for a person (e.g. an invitation code) to send on
INVOICE_ISSUED = "invoice.issued"
REBALANCED = "rebalanced"  # quota moved from a member forecast to under-use to one in need
RUNS_OUT = "forecast.runs_out"  # a member's quota will run out on day D at this pace
ALL_KINDS = "*"
EVENT_KINDS = (
    THRESHOLD_CROSSED,
    ESIM_STATE_CHANGED,
    INVITATION_SENT,
    NOTIFICATION,
    INVOICE_ISSUED,
    REBALANCED,
    RUNS_OUT,
)
"""The kinds an endpoint may subscribe to (besides ``*``, every kind, also future ones)."""

MAX_URL = 2000  # the webhook_endpoints.url column
MAX_KINDS = 20
FIRST_RETRY = timedelta(seconds=1)
LONGEST_RETRY = timedelta(minutes=10)
SECRET_PREFIX = "whsec_"  # noqa: S105 - a visible prefix, not a secret


class WebhookNotFound(NotFound):
    """No webhook endpoint has this id."""


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """Where events go: an https URL (http only on loopback) and the kinds it wants."""

    id: str
    url: str
    kinds: tuple[str, ...]
    created_at: datetime
    disabled_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def wants(self, kind: str) -> bool:
        """Whether an event of *kind* goes to this endpoint (only while it is active)."""
        return self.active and (ALL_KINDS in self.kinds or kind in self.kinds)


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event on its way to one endpoint: attempts so far and when to try next."""

    id: int
    endpoint_id: str
    event_id: int
    idempotency_key: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.delivered_at is not None


def check_url(url: str) -> str:
    """The endpoint URL, stripped, or InvalidInput saying what is wrong with it.

    Events carry usage and family identifiers, so they travel over HTTPS; plain HTTP is
    accepted only for a receiver on this machine (loopback), as in development and tests.
    Credentials in the URL are refused: they would show in every listing and log.
    """
    text = url.strip()
    if not text:
        raise InvalidInput("a webhook needs a URL")
    if len(text) > MAX_URL:
        raise InvalidInput(f"a webhook URL has at most {MAX_URL} characters")
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise InvalidInput(f"webhook URL {text!r} is malformed: {exc}") from None
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidInput(f"webhook URL {text!r}: expected https://host[:port]/path")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(f"webhook URL {text!r}: leave credentials out of the URL")
    if parts.fragment:
        raise InvalidInput(f"webhook URL {text!r}: a URL with a #fragment is not sent anywhere")
    if parts.scheme == "http" and not is_loopback(host):
        raise InvalidInput(
            f"webhook URL {text!r}: events are sent over HTTPS; plain HTTP is only for a "
            "receiver on this machine (localhost, 127.0.0.1 or ::1)"
        )
    return text


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """The kinds to subscribe to, deduplicated in order; InvalidInput names an unknown one."""
    chosen: list[str] = []
    for raw in kinds:
        kind = raw.strip()
        if kind != ALL_KINDS and kind not in EVENT_KINDS:
            known = ", ".join((*EVENT_KINDS, ALL_KINDS))
            raise InvalidInput(f"unknown event kind {raw!r}: choose from {known}")
        if kind not in chosen:
            chosen.append(kind)
    if not chosen:
        raise InvalidInput("a webhook needs at least one event kind (or * for all)")
    if len(chosen) > MAX_KINDS:
        raise InvalidInput(f"a webhook subscribes to at most {MAX_KINDS} kinds")
    return tuple(chosen)


def new_secret() -> str:
    """A signing secret: 256 random bits, URL-safe, recognisable by its prefix."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def idempotency_key(endpoint_id: str, event_id: int) -> str:
    """The delivery's key, the same however often the event is fanned out (64 hex digits).

    Derived, not drawn: a second fan-out of the same event to the same endpoint yields the
    same key, which the store keeps unique, so it creates nothing.
    """
    return hashlib.sha256(f"{endpoint_id}:{event_id}".encode()).hexdigest()


def retry_delay(failures: int) -> timedelta:
    """The wait after the *failures*-th failed attempt: 1 s, 2 s, 4 s ... at most 10 min."""
    return backoff(failures, FIRST_RETRY, LONGEST_RETRY)
