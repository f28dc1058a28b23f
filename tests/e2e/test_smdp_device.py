"""The simulated device over HTTP and the HandleDownloadProgressInfo callbacks it causes.

The built-in SM-DP+ is served by uvicorn on loopback (SQLite store); the "operator" is a
tiny ASGI app on another loopback port that records every callback and answers 503 the
first time, 204 after. The sender posts over real HTTP with httpx. Nothing waits a fixed
time: every wait polls with a deadline that only guards against a hang.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

import smdp_server
from famsim.adapters.es2plus.messages import HandleDownloadProgressInfoRequest, parse
from famsim.adapters.es2plus.notifier import HttpDestination
from famsim.service.smdp import SmdpService
from famsim.service.smdp_delivery import NotificationSender
from smdp_server import Operator, served, serving, wait_for

pytestmark = pytest.mark.e2e

ES2 = "/gsma/rsp2/es2plus/"
HEADERS = {"X-Admin-Protocol": "gsma/rsp/v2.2.0"}
PHONE = str(smdp_server.PHONE)
OTHER = str(smdp_server.OTHER)


def iccid(n: int) -> str:
    return str(smdp_server.iccid(n))


@dataclass
class World:
    client: httpx.Client
    service: SmdpService
    operator: Operator

    def es2(self, function: str, body: dict[str, Any]) -> dict[str, Any]:
        header = {"functionRequesterIdentifier": "op", "functionCallIdentifier": function}
        response = self.client.post(
            ES2 + function, json={"header": header, **body}, headers=HEADERS
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        assert answer["header"]["functionExecutionStatus"]["status"] == "Executed-Success"
        return answer

    def released(self, n: int, **confirm: Any) -> str:
        """Order profile *n* and release it: the activation code's text."""
        self.es2("downloadOrder", {"iccid": iccid(n)})
        answer = self.es2("confirmOrder", {"iccid": iccid(n), "releaseFlag": True, **confirm})
        flag = "$$1" if "confirmationCode" in confirm else ""
        return f"LPA:1${answer['smdpAddress'].lower()}${answer['matchingId']}{flag}"

    def device(self, step: str, body: Any) -> httpx.Response:
        if isinstance(body, bytes):
            return self.client.post(f"/simulator/device/{step}", content=body)
        return self.client.post(f"/simulator/device/{step}", json=body)


@pytest.fixture
def world(sqlite_url: str, tmp_path: Path) -> Iterator[World]:
    operator = Operator()
    with (
        served(operator) as operator_url,
        serving(sqlite_url, tmp_path) as (base_url, service),
        httpx.Client(base_url=base_url, timeout=10) as client,
    ):
        destination = HttpDestination(operator_url)
        sender = NotificationSender(service.store, destination, lambda: datetime.now(UTC))
        service.listen(sender.wake)
        with sender:
            yield World(client, service, operator)
        destination.close()


def test_download_and_install_reach_the_operator_retried_with_the_same_identifier(
    world: World,
) -> None:
    code = world.released(0)
    answer = world.device("download", {"activationCode": code, "eid": PHONE})
    assert (answer.status_code, answer.json()) == (200, {"iccid": iccid(0), "state": "Downloaded"})
    answer = world.device("install", {"iccid": iccid(0)})
    assert answer.json() == {"iccid": iccid(0), "state": "Installed"}

    wait_for(lambda: not world.service.notifications(pending_only=True))

    calls = world.operator.calls()
    assert [(c[1]["notificationPointId"], c[3]) for c in calls] == [(3, 503), (3, 204), (4, 204)]
    assert {c[0] for c in calls} == {ES2 + "handleDownloadProgressInfo"}
    assert {c[2] for c in calls} == {"gsma/rsp/v2.2.0"}
    first, retry, install = (c[1] for c in calls)
    assert first == retry  # the same body, so the same functionCallIdentifier
    assert first["header"]["functionCallIdentifier"] != install["header"]["functionCallIdentifier"]
    for body in (first, install):
        request = parse(HandleDownloadProgressInfoRequest, json.dumps(body))
        assert request.header.functionRequesterIdentifier == "SMDP.FAMSIM.TEST"
        assert (request.iccid, request.eid, request.profileType) == (iccid(0), PHONE, "phone-5g")
        assert request.notificationPointStatus.status == "Executed-Success"
        assert body["timestamp"].endswith("Z")

    stored = world.service.notifications()
    assert [(n.point, n.attempts, n.last_error) for n in stored] == [(3, 2, None), (4, 1, None)]
    assert all(n.delivered_at is not None for n in stored)


def test_failures_and_device_steps_are_notified_with_their_codes(world: World) -> None:
    world.operator.refuse_first = 0
    code = world.released(1, confirmationCode="1234")
    wrong = world.device(
        "download", {"activationCode": code, "eid": PHONE, "confirmationCode": "9"}
    )
    assert wrong.status_code == 409
    assert (wrong.json()["subjectCode"], wrong.json()["reasonCode"]) == ("8.2.7", "3.8")
    assert "wrong confirmation code" in wrong.json()["message"]
    world.device("download", {"activationCode": code, "eid": PHONE, "confirmationCode": "1234"})
    world.device("install", {"iccid": iccid(1)})
    for step in ("enable", "disable", "delete"):
        assert world.device(step, {"iccid": iccid(1)}).status_code == 200
    again = world.device("enable", {"iccid": iccid(1)})
    assert again.status_code == 409
    assert (again.json()["subjectCode"], again.json()["reasonCode"]) == ("8.2.1", "3.5")

    wait_for(lambda: len(world.operator.calls()) == 6)
    points = [
        (c[1]["notificationPointId"], c[1]["notificationPointStatus"]["status"])
        for c in world.operator.calls()
    ]
    assert points == [
        (2, "Failed"),
        (3, "Executed-Success"),
        (4, "Executed-Success"),
        (101, "Executed-Success"),
        (102, "Executed-Success"),
        (103, "Executed-Success"),
    ]
    failed = world.operator.calls()[0][1]["notificationPointStatus"]["statusCodeData"]
    assert (failed["subjectCode"], failed["reasonCode"]) == ("8.2.7", "3.8")


def test_the_end_user_rejects_by_matching_id(world: World) -> None:
    world.operator.refuse_first = 0
    code = world.released(2)
    matching_id = code.split("$")[2]
    answer = world.device("reject", {"matchingId": matching_id})
    assert answer.json() == {"iccid": iccid(2), "state": "Error"}
    wait_for(lambda: len(world.operator.calls()) == 1)
    body = world.operator.calls()[0][1]
    assert body["notificationPointId"] == 3
    assert body["notificationPointStatus"]["status"] == "Failed"
    assert body["notificationPointStatus"]["statusCodeData"]["subjectCode"] == "8.1"


@pytest.mark.parametrize(
    ("step", "body", "status", "expect"),
    [
        ("download", b"not json", 400, "body"),
        ("download", [1, 2], 400, "body"),
        ("download", {"eid": PHONE}, 400, "activationCode"),
        ("download", {"matchingId": "X", "activationCode": "1$A.B$X", "eid": PHONE}, 400, "one"),
        ("download", {"matchingId": "X"}, 400, "eid"),
        ("download", {"matchingId": "X", "eid": "123"}, 400, "EID"),
        ("download", {"activationCode": "2$A.B$X", "eid": PHONE}, 400, "format"),
        ("download", {"activationCode": "1$other.example$X", "eid": PHONE}, 400, "OTHER.EXAMPLE"),
        ("download", {"matchingId": "NOPE", "eid": PHONE}, 404, "NOPE"),
        ("download", {"matchingId": 7, "eid": PHONE}, 400, "matchingId"),
        ("install", {}, 400, "iccid"),
        ("install", {"iccid": "8985200001230000011"}, 400, "checksum"),
        ("install", {"iccid": iccid(99)}, 404, "not in the inventory"),
        ("install", {"iccid": iccid(0)}, 409, "Available"),
        ("fail", {"iccid": iccid(0)}, 409, "Available"),
        ("enable", {"iccid": iccid(0)}, 409, "Available"),
        ("disable", {"iccid": None}, 400, "iccid"),
        ("delete", {"iccid": iccid(0)}, 409, "Available"),
        ("reject", {}, 400, "one of iccid and matchingId"),
        ("reject", {"iccid": iccid(0)}, 409, "Available"),
    ],
)
def test_bad_input_and_refusals_never_answer_500(
    world: World, step: str, body: Any, status: int, expect: str
) -> None:
    answer = world.device(step, body)
    assert answer.status_code == status, answer.text
    assert expect in answer.json()["message"]
    if status in (404, 409):
        assert {"subjectCode", "reasonCode"} <= answer.json().keys()
    assert world.service.notifications() == []


def test_an_unknown_step_is_404(world: World) -> None:
    assert world.device("explode", {"iccid": iccid(0)}).status_code == 404
