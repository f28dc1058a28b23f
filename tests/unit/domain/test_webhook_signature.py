"""Signing webhook bodies and checking signatures as a receiver does."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from famsim.domain.errors import InvalidInput
from famsim.domain.webhook_signature import sign, verify_signature
from famsim.domain.webhooks import (
    ALL_KINDS,
    THRESHOLD_CROSSED,
    WebhookEndpoint,
    check_kinds,
    check_url,
    idempotency_key,
    retry_delay,
)

SECRET = "whsec_test-secret"
BODY = b'{"event_id":1,"kind":"threshold_crossed"}'
AT = datetime(2026, 1, 31, 10, 0, 0, tzinfo=UTC)


def test_a_signature_verifies_for_the_same_body_and_secret() -> None:
    header = sign(SECRET, BODY, AT)
    assert header.startswith(f"t={int(AT.timestamp())},v1=")
    assert verify_signature(SECRET, header, BODY, AT + timedelta(seconds=30))


def test_the_digest_is_hmac_sha256_of_timestamp_dot_body() -> None:
    """The recipe in docs/webhooks.md, written out independently."""
    t = int(AT.timestamp())
    expected = hmac.new(SECRET.encode(), f"{t}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, AT) == f"t={t},v1={expected}"


def test_a_tampered_body_fails() -> None:
    header = sign(SECRET, BODY, AT)
    assert not verify_signature(SECRET, header, BODY.replace(b"1", b"2"), AT)
    assert not verify_signature(SECRET, header, BODY + b" ", AT)


def test_a_wrong_secret_fails() -> None:
    header = sign(SECRET, BODY, AT)
    assert not verify_signature("whsec_other", header, BODY, AT)


def test_a_stale_or_future_timestamp_fails() -> None:
    header = sign(SECRET, BODY, AT)
    assert not verify_signature(SECRET, header, BODY, AT + timedelta(minutes=5, seconds=1))
    assert not verify_signature(SECRET, header, BODY, AT - timedelta(minutes=5, seconds=1))
    assert verify_signature(SECRET, header, BODY, AT + timedelta(minutes=5))
    assert verify_signature(
        SECRET, header, BODY, AT + timedelta(hours=1), tolerance=timedelta(hours=2)
    )


def test_a_changed_timestamp_fails() -> None:
    header = sign(SECRET, BODY, AT)
    later = int(AT.timestamp()) + 10
    moved = f"t={later}," + header.split(",", 1)[1]
    assert not verify_signature(SECRET, moved, BODY, AT)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "t=abc,v1=00",
        "v1=00",
        "t=1769853600",
        "t=1769853600,t=1769853600,v1=00",
        "t=-5,v1=00",
        "t=99999999999999999999,v1=00",
    ],
)
def test_a_malformed_header_is_refused_without_raising(header: str) -> None:
    assert not verify_signature(SECRET, header, BODY, AT)


def test_any_of_several_v1_values_may_match() -> None:
    good = sign(SECRET, BODY, AT)
    t, v1 = good.split(",")
    assert verify_signature(SECRET, f"{t},v1=deadbeef,{v1}", BODY, AT)


# ------------------------------------------------------------------ endpoint rules
@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/famsim",
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]:9000/x",
    ],
)
def test_https_or_loopback_http_urls_are_accepted(url: str) -> None:
    assert check_url(f"  {url} ") == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://hooks.example.com/x", "HTTPS"),
        ("ftp://hooks.example.com/x", "expected https"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https:///nohost", "expected https"),
        ("", "needs a URL"),
        ("https://h.example/" + "x" * 2000, "at most"),
        ("https://h.example:99999/x", "malformed"),
    ],
)
def test_bad_urls_are_refused_saying_why(url: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        check_url(url)


def test_kinds_are_known_and_deduplicated() -> None:
    assert check_kinds([THRESHOLD_CROSSED, " threshold_crossed", "*"]) == (
        THRESHOLD_CROSSED,
        ALL_KINDS,
    )
    with pytest.raises(InvalidInput, match="unknown event kind 'usage'"):
        check_kinds(["usage"])
    with pytest.raises(InvalidInput, match="at least one"):
        check_kinds([])


def test_an_endpoint_wants_its_kinds_while_active() -> None:
    endpoint = WebhookEndpoint("e1", "https://h.example/", (THRESHOLD_CROSSED,), AT)
    assert endpoint.wants(THRESHOLD_CROSSED)
    assert not endpoint.wants("invitation.sent")
    everything = WebhookEndpoint("e2", "https://h.example/", (ALL_KINDS,), AT)
    assert everything.wants("anything.new")
    off = WebhookEndpoint("e3", "https://h.example/", (ALL_KINDS,), AT, disabled_at=AT)
    assert not off.wants(THRESHOLD_CROSSED)


def test_the_idempotency_key_is_stable_per_endpoint_and_event() -> None:
    key = idempotency_key("e1", 7)
    assert key == idempotency_key("e1", 7)
    assert len(key) == 64
    assert key not in {idempotency_key("e1", 8), idempotency_key("e2", 7)}


def test_retries_back_off_exponentially_to_ten_minutes() -> None:
    waits = [retry_delay(n).total_seconds() for n in range(1, 13)]
    assert waits[:5] == [1, 2, 4, 8, 16]
    assert max(waits) == 600
    assert retry_delay(1000) == timedelta(minutes=10)
