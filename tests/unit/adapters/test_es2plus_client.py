"""The ES2+ client's own rules, with httpx's MockTransport standing in for the network:
headers and identifiers, which calls are retried, and how bad answers are reported."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from famsim.adapters.es2plus.client import Es2Client, Es2Failure, Es2TransportError
from famsim.domain.errors import InvalidInput
from famsim.domain.identifiers import Iccid

pytestmark = pytest.mark.unit

ICCID = Iccid.from_body("898520000123000001")
OK = {"header": {"functionExecutionStatus": {"status": "Executed-Success"}}}


def client(handler: Callable[[httpx.Request], httpx.Response], retries: int = 2) -> Es2Client:
    return Es2Client(
        "https://smdp.example.com",
        requester="op-1",
        retries=retries,
        transport=httpx.MockTransport(handler),
    )


def test_each_call_has_the_spec_header_and_its_own_identifier() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=OK)

    with client(handler) as es2:
        es2.release_profile(iccid=ICCID)
        es2.release_profile(iccid=ICCID)

    assert [r.url.path for r in seen] == ["/gsma/rsp2/es2plus/releaseProfile"] * 2
    assert all(r.headers["X-Admin-Protocol"] == "gsma/rsp/v2.2.0" for r in seen)
    bodies = [json.loads(r.content) for r in seen]
    assert bodies[0]["header"]["functionRequesterIdentifier"] == "op-1"
    assert bodies[0]["iccid"] == str(ICCID)
    ids = {b["header"]["functionCallIdentifier"] for b in bodies}
    assert len(ids) == 2


def test_a_call_naming_its_iccid_is_retried_with_the_same_identifier() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content)["header"]["functionCallIdentifier"])
        if len(seen) < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={**OK, "iccid": str(ICCID)})

    with client(handler) as es2:
        assert es2.download_order(iccid=ICCID) == ICCID

    assert len(seen) == 3
    assert len(set(seen)) == 1


def test_an_order_by_profile_type_is_never_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ReadTimeout("slow", request=request)

    with client(handler) as es2, pytest.raises(Es2TransportError, match="1 attempt"):
        es2.download_order(profile_type="phone-5g")
    assert calls == 1


def test_retries_give_up_with_a_transport_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with client(handler, retries=1) as es2, pytest.raises(Es2TransportError, match="2 attempt"):
        es2.release_profile(iccid=ICCID)


@pytest.mark.parametrize(
    ("response", "error", "text"),
    [
        (httpx.Response(500, text="boom"), Es2TransportError, "HTTP 500"),
        (httpx.Response(200, text="<html>"), Es2TransportError, "not ES2+"),
        (
            httpx.Response(
                200,
                json={
                    "header": {
                        "functionExecutionStatus": {
                            "status": "Failed",
                            "statusCodeData": {
                                "subjectCode": "8.2.1",
                                "reasonCode": "3.9",
                                "message": "unknown",
                            },
                        }
                    }
                },
            ),
            Es2Failure,
            "8.2.1/3.9 unknown",
        ),
        (
            httpx.Response(
                200, json={"header": {"functionExecutionStatus": {"status": "Expired"}}}
            ),
            Es2Failure,
            "expired",
        ),
    ],
)
def test_bad_answers_are_typed(response: httpx.Response, error: type[Exception], text: str) -> None:
    with client(lambda _: response) as es2, pytest.raises(error, match=text):
        es2.release_profile(iccid=ICCID)


def test_plain_http_only_on_loopback() -> None:
    with pytest.raises(InvalidInput, match="loopback"):
        Es2Client("http://smdp.example.com", requester="op")
    Es2Client("http://127.0.0.1:8700", requester="op").close()
    Es2Client("http://localhost:8700", requester="op").close()
    with pytest.raises(InvalidInput):
        Es2Client("ftp://smdp.example.com", requester="op")
