"""The built-in SM-DP+ over real HTTP on loopback: uvicorn serving, httpx calling.

The requests are written by hand from SGP.22 (paths, the X-Admin-Protocol header, the JSON
bodies), not with famsim's own message models, so the server is held to the spec rather
than to our client. SQLite store, so the inventory is real and survives the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import smdp_server
from famsim.domain.identifiers import Iccid
from famsim.service.smdp import SmdpService
from smdp_server import serving

pytestmark = pytest.mark.e2e

BASE = "/gsma/rsp2/es2plus/"
HEADERS = {"X-Admin-Protocol": "gsma/rsp/v2.2.0", "Content-Type": "application/json"}
PHONE = str(smdp_server.PHONE)
OTHER = str(smdp_server.OTHER)
_calls = iter(range(1, 10**6))


def iccid(n: int) -> str:
    return str(smdp_server.iccid(n))


def header() -> dict[str, str]:
    return {
        "functionRequesterIdentifier": "famsim-test",
        "functionCallIdentifier": f"c{next(_calls)}",
    }


class Smdp:
    def __init__(self, client: httpx.Client, service: SmdpService) -> None:
        self.client = client
        self.service = service

    def call(self, function: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(
            BASE + function, json={"header": header(), **body}, headers=HEADERS
        )
        assert response.status_code == 200, response.text
        assert response.headers["X-Admin-Protocol"].startswith("gsma/rsp/v2.")
        data: dict[str, Any] = response.json()
        return data

    def state(self, n: int) -> str:
        return self.service.run(lambda inv, _: inv.profiles[Iccid.parse(iccid(n))].state.value)


def status(answer: dict[str, Any]) -> tuple[str, str | None, str | None]:
    execution = answer["header"]["functionExecutionStatus"]
    data = execution.get("statusCodeData") or {}
    return execution["status"], data.get("subjectCode"), data.get("reasonCode")


@pytest.fixture
def smdp(sqlite_url: str, tmp_path: Path) -> Iterator[Smdp]:
    with (
        serving(sqlite_url, tmp_path) as (base_url, service),
        httpx.Client(base_url=base_url, timeout=10) as client,
    ):
        yield Smdp(client, service)


def test_an_order_from_download_order_to_release(smdp: Smdp) -> None:
    ordered = smdp.call("downloadOrder", {"eid": PHONE, "profileType": "phone-5g"})
    assert status(ordered) == ("Executed-Success", None, None)
    assert ordered["iccid"] == iccid(0)
    assert smdp.state(0) == "Linked"

    confirmed = smdp.call(
        "confirmOrder", {"iccid": iccid(0) + "F", "releaseFlag": False, "confirmationCode": "1234"}
    )
    assert status(confirmed)[0] == "Executed-Success"
    assert confirmed["eid"] == PHONE
    assert confirmed["smdpAddress"] == "SMDP.FAMSIM.TEST"
    assert len(confirmed["matchingId"]) == 23
    assert smdp.state(0) == "Confirmed"

    released = smdp.call("releaseProfile", {"iccid": iccid(0)})
    assert status(released) == ("Executed-Success", None, None)
    assert smdp.state(0) == "Released"


@pytest.mark.parametrize(
    ("function", "body", "code"),
    [
        ("downloadOrder", {"iccid": iccid(99)}, ("8.2.1", "3.9")),
        ("downloadOrder", {"profileType": "tablet"}, ("8.2.5", "3.7")),
        ("releaseProfile", {"iccid": iccid(1)}, ("8.2.1", "3.5")),
        (
            "cancelOrder",
            {"iccid": iccid(1), "finalProfileStatusIndicator": "Available"},
            ("8.2.1", "3.5"),
        ),
    ],
)
def test_refusals_answer_200_failed_with_the_spec_code(
    smdp: Smdp, function: str, body: dict[str, Any], code: tuple[str, str]
) -> None:
    answer = smdp.call(function, body)
    assert status(answer) == ("Failed", *code)
    assert answer["header"]["functionExecutionStatus"]["statusCodeData"]["message"]


def test_eid_mismatch_matching_id_conflict_and_in_use(smdp: Smdp) -> None:
    smdp.call("downloadOrder", {"eid": PHONE, "iccid": iccid(0)})
    assert status(
        smdp.call("confirmOrder", {"iccid": iccid(0), "eid": OTHER, "releaseFlag": True})
    ) == ("Failed", "8.1.1", "3.10")
    smdp.call("confirmOrder", {"iccid": iccid(0), "matchingId": "AAAAA-BBBBB", "releaseFlag": True})
    smdp.call("downloadOrder", {"iccid": iccid(1)})
    clash = smdp.call(
        "confirmOrder", {"iccid": iccid(1), "matchingId": "AAAAA-BBBBB", "releaseFlag": True}
    )
    assert status(clash) == ("Failed", "8.2.6", "3.3")
    assert status(smdp.call("downloadOrder", {"iccid": iccid(0)})) == ("Failed", "8.2.1", "3.3")

    cancelled = smdp.call(
        "cancelOrder", {"iccid": iccid(1), "finalProfileStatusIndicator": "Unavailable"}
    )
    assert status(cancelled)[0] == "Executed-Success"
    assert smdp.state(1) == "Unavailable"


@pytest.mark.parametrize(
    ("headers", "body", "expect"),
    [
        ({"Content-Type": "application/json"}, b'{"header":{}}', "X-Admin-Protocol"),
        ({**HEADERS, "X-Admin-Protocol": "gsma/rsp/v3.0.0"}, b"{}", "X-Admin-Protocol"),
        (HEADERS, b"{not json", "body"),
        (
            HEADERS,
            b'{"header":{"functionRequesterIdentifier":"x","functionCallIdentifier":"y"}}',
            "iccid",
        ),
        (
            HEADERS,
            b'{"header":{"functionRequesterIdentifier":"x","functionCallIdentifier":"y"},'
            b'"iccid":"8985200001230000001"}',
            "iccid",
        ),
    ],
)
def test_a_request_that_is_not_es2plus_gets_400_with_a_message(
    smdp: Smdp, headers: dict[str, str], body: bytes, expect: str
) -> None:
    response = smdp.client.post(BASE + "downloadOrder", content=body, headers=headers)

    assert response.status_code == 400, response.text
    assert expect in response.json()["message"]
    assert smdp.state(0) == "Available"
