"""``App.gy_server`` end to end on loopback: a gateway speaking Diameter over a raw TCP
socket (python-diameter's message classes encode and decode) against a migrated SQLite famsim
with the demo family. CER / CEA, CCR-INITIAL / UPDATE / TERMINATION with used units, a
retransmission answered identically and charged once, an SMS EVENT, an unknown
subscriber, a child's data cap reached mid-session while the owner keeps being granted,
DWR / DWA and DPR / DPA; an unknown peer is refused with 3010."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from diameter.message.avp.grouped import (
    PsInformation,
    RequestedServiceUnit,
    ServiceInformation,
    UsedServiceUnit,
)
from diameter.message.commands import DeviceWatchdogRequest, DisconnectPeerRequest

from e2e.diameter.gy_wire import GATEWAY, REALM, Gateway, ccr, demo_famsim, free_port
from famsim.bootstrap import App
from famsim.service import views

pytestmark = pytest.mark.e2e

OTHER_GATEWAY = "pgw2.gw.test"
OWNER = "85291230001"  # Chan Tai Man
CHILD = "85294560004"  # Chan Ka Yan: 3 GB of home data, hard cap, blocked at exhaustion
GB = 10**9


def data(requested: int | None = None, used: int | None = None, group: int = 10) -> dict[str, Any]:
    mscc: dict[str, Any] = {"rating_group": group}
    if requested is not None:
        mscc["requested_service_unit"] = RequestedServiceUnit(cc_total_octets=requested)
    if used is not None:
        mscc["used_service_unit"] = UsedServiceUnit(cc_total_octets=used)
    return mscc


@pytest.fixture(scope="module")
def famsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[App, str]]:
    app, family_id = demo_famsim(
        tmp_path_factory.mktemp("gy"),
        origin_host="ocs.famsim.test",
        peers=f"{GATEWAY}, {OTHER_GATEWAY.upper()}",  # names are case-blind
    )
    try:
        yield app, family_id
    finally:
        app.close()


@pytest.fixture(scope="module")
def server(famsim: tuple[App, str]) -> Iterator[Any]:
    """One server for the module (stopping one sends DPR and waits for the peers);
    every test has its own sessions."""
    app, _ = famsim
    gy = app.gy_server(host="127.0.0.1", port=free_port())
    gy.start()
    try:
        yield gy
    finally:
        gy.stop(timeout=2)


@pytest.fixture(scope="module")
def gateway(server: Any) -> Iterator[Gateway]:
    """The gateway's one connection, shared by the tests as a real gateway would."""
    client = Gateway(server.port)
    try:
        cea = client.cer()
        assert cea.result_code == 2001
        yield client
    finally:
        client.close()


def home_pool(app: App, family_id: str, resource: str) -> dict[str, int]:
    """The family's home pool of *resource*: total, used, reserved."""
    detail = views.family_detail(app.uow(), family_id)
    (pool,) = (
        p for p in detail["cycle"]["pools"] if p["resource"] == resource and p["zone"] == "home"
    )
    return {k: pool[k] for k in ("total", "used", "reserved")}


def test_capabilities_exchange_advertises_credit_control_and_3gpp(server: Any) -> None:
    client = Gateway(server.port, origin_host=OTHER_GATEWAY)
    try:
        cea = client.cer()
        assert cea.result_code == 2001
        assert cea.origin_host == b"ocs.famsim.test"
        assert cea.origin_realm == REALM.encode()
        assert 4 in cea.auth_application_id
        assert 10415 in cea.supported_vendor_id
        dwa = client.exchange(_base(DeviceWatchdogRequest()))
        assert dwa.result_code == 2001
        dpa = client.exchange(_base(DisconnectPeerRequest(), disconnect_cause=0))
        assert dpa.result_code == 2001
    finally:
        client.close()


def test_an_unknown_peer_is_refused_with_3010(server: Any) -> None:
    stranger = Gateway(server.port, origin_host="rogue.gw.test")
    try:
        cea = stranger.cer()
        assert cea.result_code == 3010
        with pytest.raises(ConnectionError):  # (a reset or an end of stream, not a timeout)
            stranger.read()  # and the connection is closed
    finally:
        stranger.close()


def _base(message: Any, **fields: Any) -> Any:
    message.origin_host = OTHER_GATEWAY.encode()
    message.origin_realm = b"gw.test"
    for name, value in fields.items():
        setattr(message, name, value)
    return message


def test_a_data_session_with_a_retransmission(famsim: tuple[App, str], gateway: Gateway) -> None:
    app, family_id = famsim
    before = home_pool(app, family_id, "data")
    session = "pgw1.gw.test;1;owner"
    home = ServiceInformation(ps_information=PsInformation(tgpp_sgsn_mcc_mnc="45400"))
    initial = gateway.exchange(
        ccr(session, 1, 0, OWNER, data(requested=50_000_000), service_information=home)
    )
    assert (initial.result_code, initial.cc_request_type, initial.cc_request_number) == (
        2001,
        1,
        0,
    )
    assert initial.session_id == session
    assert initial.auth_application_id == 4
    assert initial.origin_host == b"ocs.famsim.test"
    (mscc,) = initial.multiple_services_credit_control
    assert (mscc.rating_group, mscc.result_code) == (10, 2001)
    assert mscc.granted_service_unit.cc_total_octets == 50_000_000
    assert mscc.validity_time > 0
    assert mscc.final_unit_indication is None

    update = ccr(session, 2, 1, OWNER, data(requested=50_000_000, used=30_000_000))
    first = gateway.exchange(update)
    # The gateway did not see the answer and sends the same request again (T flag, the
    # same end-to-end id): the same answer, and the 30 MB are counted once.
    again = gateway.exchange(
        ccr(session, 2, 1, OWNER, data(requested=50_000_000, used=30_000_000)),
        retransmit_of=update,
    )
    assert first.result_code == again.result_code == 2001
    assert (again.cc_request_type, again.cc_request_number) == (2, 1)
    assert first.multiple_services_credit_control == again.multiple_services_credit_control
    assert first.multiple_services_credit_control[0].granted_service_unit.cc_total_octets == (
        50_000_000
    )
    assert home_pool(app, family_id, "data")["used"] == before["used"] + 30_000_000

    final = gateway.exchange(ccr(session, 3, 2, OWNER, data(used=20_000_000)))
    assert (final.result_code, final.cc_request_type, final.cc_request_number) == (2001, 3, 2)
    (mscc,) = final.multiple_services_credit_control
    assert mscc.result_code == 2001
    assert mscc.granted_service_unit is None
    after = home_pool(app, family_id, "data")
    assert after["used"] == before["used"] + 50_000_000
    assert after["reserved"] == before["reserved"]  # nothing left held by the session


def test_an_sms_event_is_debited(famsim: tuple[App, str], gateway: Gateway) -> None:
    app, family_id = famsim
    before = home_pool(app, family_id, "sms")["used"]
    event = gateway.exchange(
        ccr(
            "pgw1.gw.test;2;sms",
            4,
            0,
            CHILD,
            context="32274@3gpp.org",
            requested_action=0,
            requested_service_unit=RequestedServiceUnit(cc_service_specific_units=1),
        )
    )
    assert (event.result_code, event.cc_request_type, event.cc_request_number) == (2001, 4, 0)
    assert event.granted_service_unit.cc_service_specific_units == 1
    assert home_pool(app, family_id, "sms")["used"] == before + 1


@pytest.mark.parametrize(
    "number",
    ["85291239999", "85299999999"],
    ids=["no-such-line", "not-a-valid-number"],
)
def test_an_unknown_subscriber_is_5030(gateway: Gateway, number: str) -> None:
    answer = gateway.exchange(ccr("pgw1.gw.test;3;nobody", 1, 0, number, data(1000)))
    assert (answer.result_code, answer.cc_request_type, answer.cc_request_number) == (
        5030,
        1,
        0,
    )
    assert answer.multiple_services_credit_control == []


def test_a_ccr_without_subscription_id_is_5005(gateway: Gateway) -> None:
    message = ccr("pgw1.gw.test;4;anon", 1, 0, OWNER, data(1000))
    message.subscription_id = []
    answer = gateway.exchange(message)
    assert (answer.result_code, answer.cc_request_type, answer.cc_request_number) == (
        5005,
        1,
        0,
    )
    assert [a.code for f in answer.failed_avp for a in f.additional_avps] == [443]


def test_a_ccr_without_its_request_number_is_5005_from_the_node(gateway: Gateway) -> None:
    message = ccr("pgw1.gw.test;4;nonumber", 1, 0, OWNER, data(1000))
    message.cc_request_number = None
    answer = gateway.exchange(message)
    assert answer.result_code == 5005
    assert answer.session_id == "pgw1.gw.test;4;nonumber"
    assert [a.code for f in answer.failed_avp for a in f.additional_avps] == [415]


def test_another_realm_is_not_served(gateway: Gateway) -> None:
    message = ccr("pgw1.gw.test;4;realm", 1, 0, OWNER, data(1000))
    message.destination_realm = b"elsewhere.test"
    assert gateway.exchange(message).result_code == 3003


def test_a_cap_reached_mid_session_while_another_member_keeps_going(
    gateway: Gateway,
) -> None:
    child, owner = "pgw1.gw.test;5;child", "pgw1.gw.test;5;owner"
    first = gateway.exchange(ccr(child, 1, 0, CHILD, data(requested=2 * GB)))
    (mscc,) = first.multiple_services_credit_control
    assert (mscc.result_code, mscc.granted_service_unit.cc_total_octets) == (2001, 2 * GB)
    assert mscc.final_unit_indication is None
    assert gateway.exchange(ccr(owner, 1, 0, OWNER, data(requested=GB))).result_code == 2001

    # 2 GB used, 2 GB more wanted: the last 1 GB of her 3 GB cap, with a Final-Unit-Indication.
    last = gateway.exchange(ccr(child, 2, 1, CHILD, data(requested=2 * GB, used=2 * GB)))
    (mscc,) = last.multiple_services_credit_control
    assert (last.result_code, mscc.result_code) == (2001, 2001)
    assert mscc.granted_service_unit.cc_total_octets == GB
    assert mscc.final_unit_indication.final_unit_action == 0  # TERMINATE: she is blocked

    # Used up: nothing more, 4012 in the MSCC (the request itself is fine).
    spent = gateway.exchange(ccr(child, 2, 2, CHILD, data(requested=2 * GB, used=GB)))
    (mscc,) = spent.multiple_services_credit_control
    assert (spent.result_code, mscc.result_code) == (2001, 4012)
    assert mscc.granted_service_unit is None

    # Her father's session in the same family is still granted.
    going = gateway.exchange(ccr(owner, 2, 1, OWNER, data(requested=GB, used=GB)))
    (mscc,) = going.multiple_services_credit_control
    assert (mscc.result_code, mscc.granted_service_unit.cc_total_octets) == (2001, GB)
    assert mscc.final_unit_indication is None


def test_an_update_of_a_session_never_opened_or_over_is_5002(
    famsim: tuple[App, str], gateway: Gateway
) -> None:
    app, family_id = famsim
    before = home_pool(app, family_id, "data")
    stray = gateway.exchange(ccr("pgw1.gw.test;6;stray", 2, 1, OWNER, data(used=1_000)))
    assert (stray.result_code, stray.cc_request_type, stray.cc_request_number) == (5002, 2, 1)
    assert stray.session_id == "pgw1.gw.test;6;stray"
    assert stray.multiple_services_credit_control == []
    session = "pgw1.gw.test;6;over"
    assert gateway.exchange(ccr(session, 1, 0, OWNER, data(1_000))).result_code == 2001
    assert gateway.exchange(ccr(session, 3, 1, OWNER, data(used=1_000))).result_code == 2001
    late = gateway.exchange(ccr(session, 2, 2, OWNER, data(used=5_000)))
    assert late.result_code == 5002
    after = home_pool(app, family_id, "data")
    assert after["used"] == before["used"] + 1_000  # neither stray report was charged
    assert after["reserved"] == before["reserved"]
