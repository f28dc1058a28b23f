"""The whole eSIM loop over real HTTP on loopback: famsim's ES2+ client orders from the
built-in SM-DP+, a simulated device downloads through the SM-DP+'s simulator routes, and
the SM-DP+'s progress callbacks reach famsim's receiver as HTTP requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from famsim.adapters.es2plus.client import Es2Client
from famsim.adapters.es2plus.messages import ADMIN_PROTOCOL, ADMIN_PROTOCOL_HEADER
from famsim.adapters.es2plus.notifier import HttpDestination
from famsim.adapters.es2plus.receiver import PROGRESS_PATH, create_receiver_app
from famsim.adapters.smdp_http import create_smdp_app
from famsim.adapters.sql.smdp_store import SqlSmdpStore
from famsim.bootstrap import App, bootstrap
from famsim.config import Settings
from famsim.domain.esim.stock import StockedSim
from famsim.domain.family import Family
from famsim.domain.identifiers import Eid, Iccid, Imsi, Msisdn
from famsim.domain.lines import SimType, SubscriptionState
from famsim.domain.plan import DeviceKind, Plan
from famsim.service.esim import Device, EsimService, OrderFailed
from famsim.service.smdp import SmdpService
from famsim.service.smdp_delivery import NotificationSender
from famsim.service.views import esim_history
from smdp_server import served

pytestmark = pytest.mark.e2e

PHONE = Eid.from_body("890490320000400000000000000001"[:30])
HEADERS = {ADMIN_PROTOCOL_HEADER: ADMIN_PROTOCOL, "Content-Type": "application/json"}


def iccid(n: int) -> Iccid:
    return Iccid.from_body(f"898520000124{n:06d}")


@dataclass
class Loop:
    app: App
    smdp_url: str
    operator_url: str
    smdp: SmdpService
    esim: EsimService
    sender: NotificationSender
    family: Family

    def state(self, target: Iccid) -> SubscriptionState:
        with self.app.uow() as uow:
            state: SubscriptionState = (
                uow.families.get(self.family.id).subscription_of_iccid(target)[1].state
            )
        return state

    def device(self, step: str, body: dict[str, Any]) -> httpx.Response:
        answer = httpx.post(f"{self.smdp_url}/simulator/device/{step}", json=body)
        self.sender.deliver_due()
        return answer

    def history(self) -> list[dict[str, Any]]:
        with self.app.uow() as uow:
            return esim_history(uow, self.family.id)


@pytest.fixture
def loop(sqlite_url: str, tmp_path: Path, sample_plans: list[Plan]) -> Iterator[Loop]:
    hk_plan = next(p for p in sample_plans if p.code == "hk-family-5g-100")
    app = bootstrap(Settings(database_url=sqlite_url, data_dir=tmp_path))
    app.initialise()
    now = lambda: datetime.now(UTC)  # noqa: E731
    smdp = SmdpService(SqlSmdpStore(app.engine), "smdp.famsim.test", now)
    smdp.run(lambda inv, _: inv.add_all([(iccid(n), "phone-5g") for n in range(3)]))
    family = Family.create(
        name="Lee family", plan=hk_plan, owner_name="Lee Siu Ming", today=now().date()
    )
    with app.uow() as uow:
        uow.plans.save(hk_plan)
        uow.families.add(family)
        stock = [
            StockedSim(iccid(n), Imsi.parse(f"45400{n + 500:010d}"), SimType.ESIM, "phone-5g")
            for n in range(3)
        ]
        stock.append(StockedSim(iccid(9), Imsi.parse("454000000000599"), SimType.ESIM, "phone-4g"))
        uow.sims.add_all(stock, now())
        uow.numbers.add_range(Msisdn.parse("+85291240000"), Msisdn.parse("+85291240009"), now())
        uow.commit()
    try:
        with served(create_smdp_app(smdp)) as smdp_url:
            client = Es2Client(smdp_url, requester="famsim-test-operator")
            esim = EsimService(app.uow, client, now)
            with served(create_receiver_app(esim)) as operator_url:
                sender = NotificationSender(smdp.store, HttpDestination(operator_url), now)
                yield Loop(app, smdp_url, operator_url, smdp, esim, sender, family)
            client.close()
    finally:
        app.close()


def test_order_download_install_over_http(loop: Loop) -> None:
    ordered = loop.esim.order_line(
        loop.family.id,
        "Lee Siu Ming",
        device=Device(DeviceKind.PHONE, str(PHONE)),
        profile_type="phone-5g",
    )
    assert ordered.activation_code is not None
    assert ordered.activation_code.smdp_address == "SMDP.FAMSIM.TEST"
    assert loop.state(ordered.iccid) is SubscriptionState.RELEASED

    answer = loop.device(
        "download",
        {
            "activationCode": ordered.activation_code.qr_payload,
            "eid": str(PHONE),
            "confirmationCode": ordered.confirmation_code,
        },
    )
    assert answer.status_code == 200, answer.text
    assert loop.state(ordered.iccid) is SubscriptionState.DOWNLOADED
    assert loop.device("install", {"iccid": str(ordered.iccid)}).status_code == 200
    assert loop.state(ordered.iccid) is SubscriptionState.INSTALLED
    steps = [(h["action"], h["detail"].get("outcome")) for h in loop.history()]
    assert steps == [
        ("line.ordered", None),
        ("esim.released", None),
        ("esim.progress", "downloaded"),
        ("esim.progress", "installed"),
    ]


def test_the_receiver_answers_204_and_acts_once(loop: Loop) -> None:
    ordered = loop.esim.order_line(
        loop.family.id,
        "Lee Siu Ming",
        device=Device(DeviceKind.PHONE, str(PHONE)),
        profile_type="phone-5g",
    )
    body = {
        "header": {
            "functionRequesterIdentifier": "smdp.famsim.test",
            "functionCallIdentifier": "call-42",
        },
        "eid": str(PHONE),
        "iccid": str(ordered.iccid),
        "profileType": "phone-5g",
        "timestamp": "2026-11-22T10:00:00Z",
        "notificationPointId": 3,
        "notificationPointStatus": {"status": "Executed-Success"},
    }
    url = loop.operator_url + PROGRESS_PATH
    for _ in range(3):
        answer = httpx.post(url, content=json.dumps(body), headers=HEADERS)
        assert answer.status_code == 204
        assert answer.content == b""
    assert loop.state(ordered.iccid) is SubscriptionState.DOWNLOADED
    assert [h["action"] for h in loop.history()].count("esim.progress") == 1


@pytest.mark.parametrize(
    ("content", "headers", "needle"),
    [
        (b"{}", {"Content-Type": "application/json"}, "X-Admin-Protocol"),
        (b"not json", HEADERS, "body"),
        (b'{"header": {}}', HEADERS, "header.functionRequesterIdentifier"),
        (
            json.dumps(
                {
                    "header": {"functionRequesterIdentifier": "x", "functionCallIdentifier": "y"},
                    "iccid": "8985200000000000001",
                    "profileType": "p",
                    "timestamp": "2026-11-22T10:00:00Z",
                    "notificationPointId": 3,
                    "notificationPointStatus": {"status": "Executed-Success"},
                }
            ).encode(),
            HEADERS,
            "iccid",
        ),
    ],
)
def test_a_malformed_callback_gets_400_with_a_message(
    loop: Loop, content: bytes, headers: dict[str, str], needle: str
) -> None:
    answer = httpx.post(loop.operator_url + PROGRESS_PATH, content=content, headers=headers)
    assert answer.status_code == 400
    assert needle in answer.json()["message"]


def test_a_callback_for_an_unknown_iccid_is_acknowledged_and_audited(loop: Loop) -> None:
    body = {
        "header": {
            "functionRequesterIdentifier": "smdp.famsim.test",
            "functionCallIdentifier": "c-1",
        },
        "iccid": str(iccid(7)),
        "profileType": "phone-5g",
        "timestamp": "2026-11-22T10:00:00Z",
        "notificationPointId": 4,
        "notificationPointStatus": {"status": "Executed-Success"},
    }
    answer = httpx.post(
        loop.operator_url + PROGRESS_PATH, content=json.dumps(body), headers=HEADERS
    )
    assert answer.status_code == 204
    with loop.app.uow() as uow:
        assert [e.action for e in uow.audit.recent()] == ["esim.progress_unknown_iccid"]


def test_an_order_the_smdp_refuses_over_http_leaves_no_line_in_service(loop: Loop) -> None:
    with pytest.raises(OrderFailed, match=r"8\.2\.1/3\.9"):
        loop.esim.order_line(
            loop.family.id,
            "Lee Siu Ming",
            device=Device(DeviceKind.PHONE, str(PHONE)),
            profile_type="phone-4g",
        )
    with loop.app.uow() as uow:
        family = uow.families.get(loop.family.id)
        assert all(line.is_closed for line in family.lines.values())
        assert uow.sims.get(iccid(9)).state.value == "retired"  # type: ignore[union-attr]


def test_a_user_rejection_over_http_closes_the_new_line(loop: Loop) -> None:
    ordered = loop.esim.order_line(
        loop.family.id,
        "Lee Siu Ming",
        device=Device(DeviceKind.PHONE, str(PHONE)),
        profile_type="phone-5g",
    )
    assert loop.device("reject", {"iccid": str(ordered.iccid)}).status_code == 200
    assert loop.state(ordered.iccid) is SubscriptionState.ERROR
    with loop.app.uow() as uow:
        assert uow.families.get(loop.family.id).line(ordered.line_id).is_closed
