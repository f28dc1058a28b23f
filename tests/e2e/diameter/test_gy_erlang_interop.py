"""famsim's Gy server against a client nobody here wrote: Erlang/OTP's ``diameter`` (issue 8).

``App.gy_server`` on loopback, on a migrated SQLite famsim with the demo family, and the
Erlang Gy client of erlang_client.py, which encodes and decodes by Erlang's own RFC 4006
dictionary and reports an answer it cannot decode (a missing mandatory AVP, a bad flag) as
an error line: CER / CEA, a watchdog DWR / DWA, CCR-INITIAL / UPDATE / TERMINATION for data,
an SMS EVENT, unknown subscribers, a child's data cap reached mid-session while her father
keeps being granted, and DPR / DPA. What famsim recorded is checked through the App's unit
of work: the usage the client reported, charged once.

Skips without Erlang's diameter (fails under FAMSIM_REQUIRE_TOOLS=1): scripts/ensure-tools.sh.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from e2e.diameter.erlang_client import (
    DPR,
    DWR,
    Ccr,
    Mscc,
    Step,
    Units,
    build_or_skip,
    free_port,
    run_scenario,
)
from e2e.diameter.gy_wire import demo_famsim
from famsim.bootstrap import App
from famsim.service import views

pytestmark = pytest.mark.e2e

OCS_HOST = "ocs.famsim.test"
REALM = "famsim.test"
# The Erlang client's Origin-Hosts: one per test, each a configured peer.
CLIENTS = {
    name: f"{name}.erlang.test"
    for name in ("watchdog", "data", "sms", "unknown", "cap", "roaming", "multi", "stray")
}
E164, IMSI = 0, 1
OWNER = "85291230001"  # Chan Tai Man
CHILD_IMSI = "454001230000004"  # Chan Ka Yan: 3 GB of home data, hard cap, blocked at exhaustion
DATA, TETHERED, VOICE, SMS = 10, 11, 20, 30  # rating groups (FAMSIM_RATING_GROUPS' default)
HOME = "45400"  # 3GPP-SGSN-MCC-MNC of the home network
CHINA = "46000"  # greater-china: the owner may roam there, Chan Ka Yan may not
MB, GB = 10**6, 10**9


@pytest.fixture(scope="module")
def erlang_ebin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_or_skip(tmp_path_factory.mktemp("erlang-gy"))


@pytest.fixture(scope="module")
def famsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[App, str]]:
    app, family_id = demo_famsim(
        tmp_path_factory.mktemp("gy-erlang"), origin_host=OCS_HOST, peers=",".join(CLIENTS.values())
    )
    try:
        yield app, family_id
    finally:
        app.close()


@pytest.fixture(scope="module")
def port(famsim: tuple[App, str], erlang_ebin: Path) -> Iterator[int]:
    """One Gy server for the module; each test runs the Erlang client as its own peer."""
    app, _ = famsim
    gy = app.gy_server(host="127.0.0.1", port=free_port())
    gy.start()
    try:
        yield gy.port
    finally:
        gy.stop(timeout=2)


def scenario(
    ebin: Path, port: int, client: str, steps: Sequence[Step], **options: Any
) -> list[dict[str, Any]]:
    """Run *steps* as peer *client*; every answer decoded (no error line), CEA first."""
    answers = run_scenario(
        "127.0.0.1", port, steps, ebin=ebin, origin_host=CLIENTS[client], **options
    )
    assert len(answers) == 1 + len(steps), answers
    for answer in answers:
        assert "error" not in answer, answer
    cea = answers[0]
    assert (cea["command"], cea["result_code"]) == ("CEA", 2001), cea
    assert (cea["origin_host"], cea["origin_realm"]) == (OCS_HOST, REALM)
    return answers


def cca(answer: dict[str, Any], client: str, session: str, request_type: int, number: int) -> None:
    """*answer* is a CCA to that CCR, 2001 at the top level."""
    assert answer["command"] == "CCA", answer
    assert answer["result_code"] == 2001, answer
    assert answer["session_id"] == f"{CLIENTS[client]};{session}"
    assert (answer["cc_request_type"], answer["cc_request_number"]) == (request_type, number)
    assert answer["auth_application_id"] == 4
    assert (answer["origin_host"], answer["origin_realm"]) == (OCS_HOST, REALM)


def home_pool(app: App, family_id: str, resource: str) -> dict[str, int]:
    """The family's home pool of *resource*: total, used, reserved."""
    detail = views.family_detail(app.uow(), family_id)
    (pool,) = (
        p for p in detail["cycle"]["pools"] if p["resource"] == resource and p["zone"] == "home"
    )
    return {k: pool[k] for k in ("total", "used", "reserved")}


def recorded(app: App, family_id: str, client: str, session: str) -> list[int]:
    """The units of each usage record famsim committed for that Session-Id."""
    session_id = f"{CLIENTS[client]};{session}"
    with app.uow() as uow:
        cycle = uow.families.get(family_id).cycle.number
        return [r.units for r in uow.ledgers.usage(family_id, cycle) if r.session_id == session_id]


def data(requested: int | None = None, used: int | None = None) -> Mscc:
    return Mscc(
        DATA,
        requested=Units(total_octets=requested) if requested is not None else None,
        used=Units(total_octets=used) if used is not None else None,
    )


def test_capabilities_watchdog_and_disconnect(erlang_ebin: Path, port: int) -> None:
    cea, dwa, dpa = scenario(erlang_ebin, port, "watchdog", [DWR, DPR], tw_ms=500)

    assert cea["auth_application_id"] == [4]
    assert cea["supported_vendor_id"] == [10415]
    assert cea["vendor_id"] == 10415
    assert cea["product_name"] == "famsim"
    assert dwa["command"] == "DWA"
    assert dwa["dwa_received"] >= 1
    assert dwa["result_code"] == 2001
    assert dpa["command"] == "DPA"
    assert dpa["answered"] is True


def test_a_data_session_initial_update_termination(
    erlang_ebin: Path, port: int, famsim: tuple[App, str]
) -> None:
    app, family_id = famsim
    before = home_pool(app, family_id, "data")
    owner = {"subscription_type": E164, "subscription_data": OWNER}
    steps: list[Step] = [
        Ccr("initial", "s1", 0, **owner, msccs=[data(requested=50 * MB)], sgsn_mcc_mnc=HOME),
        Ccr("update", "s1", 1, **owner, msccs=[data(requested=50 * MB, used=30 * MB)]),
        Ccr("termination", "s1", 2, **owner, msccs=[data(used=20 * MB)]),
        DPR,
    ]

    _cea, initial, update, termination, dpa = scenario(erlang_ebin, port, "data", steps)

    cca(initial, "data", "s1", 1, 0)
    (mscc,) = initial["mscc"]
    assert (mscc["rating_group"], mscc["result_code"]) == (DATA, 2001)
    assert mscc["granted"] == {"total_octets": 50 * MB}
    assert mscc["validity_time"] > 0
    assert "final_unit_action" not in mscc
    cca(update, "data", "s1", 2, 1)
    (mscc,) = update["mscc"]
    assert (mscc["rating_group"], mscc["result_code"]) == (DATA, 2001)
    assert mscc["granted"] == {"total_octets": 50 * MB}
    assert mscc["validity_time"] > 0
    cca(termination, "data", "s1", 3, 2)
    (mscc,) = termination["mscc"]
    assert (mscc["rating_group"], mscc["result_code"]) == (DATA, 2001)
    assert "granted" not in mscc
    assert dpa["answered"] is True

    # famsim charged what the client reported it used, once, and holds nothing back.
    assert sum(recorded(app, family_id, "data", "s1")) == 50 * MB
    after = home_pool(app, family_id, "data")
    assert after["used"] == before["used"] + 50 * MB
    assert after["reserved"] == before["reserved"]


def test_an_sms_event_is_debited(erlang_ebin: Path, port: int, famsim: tuple[App, str]) -> None:
    app, family_id = famsim
    before = home_pool(app, family_id, "sms")["used"]
    steps: list[Step] = [
        Ccr(
            "event",
            "sms1",
            0,
            subscription_type=IMSI,
            subscription_data=CHILD_IMSI,
            service_context="32274@3gpp.org",
            requested_action=0,  # DIRECT_DEBITING
            msccs=[Mscc(SMS, requested=Units(units=1))],
        ),
        Ccr(
            "event",
            "balance",
            0,
            subscription_type=IMSI,
            subscription_data=CHILD_IMSI,
            service_context="32274@3gpp.org",
            requested_action=1,  # CHECK_BALANCE: famsim only debits directly
            msccs=[Mscc(SMS, requested=Units(units=1))],
        ),
        DPR,
    ]

    _cea, event, refused, _dpa = scenario(erlang_ebin, port, "sms", steps)

    cca(event, "sms", "sms1", 4, 0)
    (mscc,) = event["mscc"]
    assert (mscc["rating_group"], mscc["result_code"]) == (SMS, 2001)
    assert mscc["granted"] == {"units": 1}
    assert (refused["result_code"], refused["cc_request_type"]) == (4011, 4)
    assert refused["failed_avp"] == ["Requested-Action"]
    assert refused["mscc"] == []
    assert recorded(app, family_id, "sms", "sms1") == [1]
    assert recorded(app, family_id, "sms", "balance") == []
    assert home_pool(app, family_id, "sms")["used"] == before + 1


def test_an_unknown_subscriber_is_5030(
    erlang_ebin: Path, port: int, famsim: tuple[App, str]
) -> None:
    app, family_id = famsim
    before = home_pool(app, family_id, "data")
    steps: list[Step] = [
        Ccr("initial", "nobody", 0, E164, "85291239999", msccs=[data(requested=MB)]),
        Ccr("initial", "bad-number", 0, E164, "85299999999", msccs=[data(requested=MB)]),
        Ccr("initial", "no-imsi", 0, IMSI, "454001230099999", msccs=[data(requested=MB)]),
        DPR,
    ]

    _cea, *answers, _dpa = scenario(erlang_ebin, port, "unknown", steps)

    for answer, session in zip(answers, ("nobody", "bad-number", "no-imsi"), strict=True):
        assert answer["command"] == "CCA", answer
        assert answer["result_code"] == 5030, answer
        assert answer["session_id"] == f"{CLIENTS['unknown']};{session}"
        assert (answer["cc_request_type"], answer["cc_request_number"]) == (1, 0)
        assert answer["mscc"] == []
    assert home_pool(app, family_id, "data") == before


def test_a_cap_reached_mid_session_while_another_member_keeps_going(
    erlang_ebin: Path, port: int, famsim: tuple[App, str]
) -> None:
    app, family_id = famsim
    child = {"subscription_type": IMSI, "subscription_data": CHILD_IMSI}
    owner = {"subscription_type": E164, "subscription_data": OWNER}
    steps: list[Step] = [
        Ccr("initial", "child", 0, **child, msccs=[data(requested=2 * GB)]),
        Ccr("initial", "owner", 0, **owner, msccs=[data(requested=GB)]),
        # 2 GB used, 2 GB more wanted: the last 1 GB of her 3 GB cap, with a FUI.
        Ccr("update", "child", 1, **child, msccs=[data(requested=2 * GB, used=2 * GB)]),
        # Used up: nothing more, 4012 in the MSCC.
        Ccr("update", "child", 2, **child, msccs=[data(requested=2 * GB, used=GB)]),
        # Her father's session in the same family is still granted.
        Ccr("update", "owner", 1, **owner, msccs=[data(requested=GB, used=GB)]),
        Ccr("termination", "child", 3, **child, msccs=[data(used=0)]),
        Ccr("termination", "owner", 2, **owner, msccs=[data(used=GB // 2)]),
        DPR,
    ]

    answers = scenario(erlang_ebin, port, "cap", steps)
    _cea, first, owner_first, last, spent, going, child_end, owner_end, _dpa = answers

    cca(first, "cap", "child", 1, 0)
    (mscc,) = first["mscc"]
    assert (mscc["result_code"], mscc["granted"]) == (2001, {"total_octets": 2 * GB})
    assert mscc["validity_time"] > 0
    assert "final_unit_action" not in mscc
    cca(owner_first, "cap", "owner", 1, 0)
    assert owner_first["mscc"][0]["granted"] == {"total_octets": GB}

    cca(last, "cap", "child", 2, 1)
    (mscc,) = last["mscc"]
    assert (mscc["result_code"], mscc["granted"]) == (2001, {"total_octets": GB})
    assert mscc["final_unit_action"] == 0  # TERMINATE: she is blocked at exhaustion

    cca(spent, "cap", "child", 2, 2)  # the request itself is fine
    (mscc,) = spent["mscc"]
    assert (mscc["rating_group"], mscc["result_code"]) == (DATA, 4012)
    assert "granted" not in mscc

    cca(going, "cap", "owner", 2, 1)
    (mscc,) = going["mscc"]
    assert (mscc["result_code"], mscc["granted"]) == (2001, {"total_octets": GB})
    assert "final_unit_action" not in mscc

    cca(child_end, "cap", "child", 3, 3)
    cca(owner_end, "cap", "owner", 3, 2)
    assert sum(recorded(app, family_id, "cap", "child")) == 3 * GB
    assert sum(recorded(app, family_id, "cap", "owner")) == GB + GB // 2


def test_roaming_is_read_from_the_service_information(
    erlang_ebin: Path, port: int, famsim: tuple[App, str]
) -> None:
    """The Erlang client encodes Service-Information > PS-Information > 3GPP-SGSN-MCC-MNC
    by hand (3GPP vendor AVPs outside RFC 4006's dictionary): famsim reads it."""
    app, family_id = famsim
    before = home_pool(app, family_id, "data")
    steps: list[Step] = [
        Ccr(
            "initial",
            "not-her",
            0,
            IMSI,
            CHILD_IMSI,
            msccs=[data(requested=MB)],
            sgsn_mcc_mnc=CHINA,
        ),
        Ccr("initial", "abroad", 0, E164, OWNER, msccs=[data(requested=MB)], sgsn_mcc_mnc=CHINA),
        Ccr("termination", "abroad", 1, E164, OWNER, msccs=[data(used=MB)]),
        DPR,
    ]

    _cea, refused, abroad, back, _dpa = scenario(erlang_ebin, port, "roaming", steps)

    cca(refused, "roaming", "not-her", 1, 0)
    (mscc,) = refused["mscc"]
    assert (mscc["rating_group"], mscc["result_code"]) == (DATA, 4010)  # roaming not allowed
    assert "granted" not in mscc
    cca(abroad, "roaming", "abroad", 1, 0)
    (mscc,) = abroad["mscc"]
    assert (mscc["result_code"], mscc["granted"]) == (2001, {"total_octets": MB})
    cca(back, "roaming", "abroad", 3, 1)
    assert sum(recorded(app, family_id, "roaming", "abroad")) == MB
    assert home_pool(app, family_id, "data") == before  # charged to greater-china, not home


def test_several_services_in_one_ccr(erlang_ebin: Path, port: int, famsim: tuple[App, str]) -> None:
    msccs = [
        data(requested=MB),
        Mscc(99, requested=Units(total_octets=MB)),  # not a configured rating group
        Mscc(VOICE, requested=Units(time=60)),
        Mscc(TETHERED, requested=Units(total_octets=MB)),
    ]
    steps: list[Step] = [Ccr("initial", "multi", 0, E164, OWNER, msccs=msccs), DPR]

    _cea, answer, _dpa = scenario(erlang_ebin, port, "multi", steps)

    cca(answer, "multi", "multi", 1, 0)
    assert [(m["rating_group"], m["result_code"], m.get("granted")) for m in answer["mscc"]] == [
        (DATA, 2001, {"total_octets": MB}),
        (99, 5031, None),  # RATING_FAILED
        (VOICE, 2001, {"time": 60}),
        (TETHERED, 2001, {"total_octets": MB}),
    ]


def test_an_update_of_a_session_never_opened_is_5002(
    erlang_ebin: Path, port: int, famsim: tuple[App, str]
) -> None:
    app, family_id = famsim
    before = home_pool(app, family_id, "data")
    steps: list[Step] = [
        Ccr("update", "never-opened", 1, E164, OWNER, msccs=[data(requested=MB, used=MB)]),
        Ccr("termination", "never-opened", 2, E164, OWNER, msccs=[data(used=MB)]),
        DPR,
    ]

    _cea, update, termination, _dpa = scenario(erlang_ebin, port, "stray", steps)

    for answer, (kind, number) in zip((update, termination), ((2, 1), (3, 2)), strict=True):
        assert answer["command"] == "CCA", answer
        assert answer["result_code"] == 5002, answer  # DIAMETER_UNKNOWN_SESSION_ID
        assert answer["session_id"] == f"{CLIENTS['stray']};never-opened"
        assert (answer["cc_request_type"], answer["cc_request_number"]) == (kind, number)
        assert answer["mscc"] == []
    assert home_pool(app, family_id, "data") == before
    assert recorded(app, family_id, "stray", "never-opened") == []
