"""The Erlang/OTP diameter Gy client harness (erlang_client.py) works on its own: against a
minimal Gy server on the same Erlang stack (erlang/erlang_gy_server.erl), not famsim, it does
CER/CEA, sends CCRs and reports what diameter decoded from each CCA, sees a DWR/DWA exchange
and a DPR/DPA, and reports as an error a CCA that lacks a mandatory AVP.

Skips without Erlang's diameter (fails under FAMSIM_REQUIRE_TOOLS=1): scripts/ensure-tools.sh.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.diameter.erlang_client import (
    DPR,
    DWR,
    Ccr,
    ErlangServer,
    Mscc,
    ScenarioError,
    Units,
    build_or_skip,
    erlang_server,
    free_port,
    run_scenario,
)

pytestmark = pytest.mark.e2e

CLIENT_HOST = "erlang-client.test"
GRANTED_OCTETS = 1048576  # what erlang_gy_server grants per MSCC


@pytest.fixture(scope="module")
def erlang_ebin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_or_skip(tmp_path_factory.mktemp("erlang-gy"))


@pytest.fixture(scope="module")
def server(erlang_ebin: Path) -> Iterator[ErlangServer]:
    with erlang_server(erlang_ebin) as running:
        yield running


def test_build_compiles_the_rfc4006_dictionary_and_the_modules(erlang_ebin: Path) -> None:
    for module in ("rfc4005_nas", "rfc4006_cc", "erlang_gy_client", "erlang_gy_server"):
        assert (erlang_ebin / f"{module}.beam").is_file(), module


def test_cer_dwr_dpr(erlang_ebin: Path, server: ErlangServer) -> None:
    answers = run_scenario(
        server.host, server.port, [DWR, DPR], ebin=erlang_ebin, origin_host=CLIENT_HOST, tw_ms=500
    )

    cea, dwa, dpa = answers
    assert cea["command"] == "CEA"
    assert cea["result_code"] == 2001
    assert cea["origin_host"] == server.origin_host
    assert cea["origin_realm"] == server.origin_realm
    assert cea["auth_application_id"] == [4]
    assert cea["supported_vendor_id"] == [10415]
    assert dwa["command"] == "DWA"
    assert dwa["dwa_received"] >= 1
    assert dwa["result_code"] == 2001
    assert dpa["command"] == "DPA"
    assert dpa["answered"] is True


def test_ccr_session_decoded(erlang_ebin: Path, server: ErlangServer) -> None:
    steps = [
        Ccr(
            "initial",
            "session-1",
            0,
            subscription_data="001010123456789",
            msccs=[Mscc(10, requested=Units(total_octets=500_000)), Mscc(20, Units(time=60))],
            sgsn_mcc_mnc="20801",
        ),
        Ccr(
            "update",
            "session-1",
            1,
            subscription_data="001010123456789",
            msccs=[Mscc(10, requested=Units(total_octets=1), used=Units(total_octets=400_000))],
        ),
        Ccr("termination", "session-1", 2, msccs=[Mscc(10, used=Units(total_octets=7))]),
        DPR,
    ]

    cea, initial, update, termination, dpa = run_scenario(
        server.host, server.port, steps, ebin=erlang_ebin, origin_host=CLIENT_HOST
    )

    assert cea["result_code"] == 2001
    session_id = f"{CLIENT_HOST};session-1"
    for number, (answer, request_type) in enumerate([(initial, 1), (update, 2), (termination, 3)]):
        assert answer["command"] == "CCA", answer
        assert "error" not in answer, answer
        assert answer["result_code"] == 2001
        assert answer["session_id"] == session_id
        assert answer["cc_request_type"] == request_type
        assert answer["cc_request_number"] == number
        assert answer["auth_application_id"] == 4
        assert answer["origin_host"] == server.origin_host
    assert initial["mscc"] == [
        {
            "rating_group": 10,
            "result_code": 2001,
            "validity_time": 3600,
            "granted": {"total_octets": GRANTED_OCTETS},
        },
        {
            "rating_group": 20,
            "result_code": 2001,
            "validity_time": 3600,
            "granted": {"total_octets": GRANTED_OCTETS, "time": 600},
        },
    ]
    assert update["mscc"] == [
        {
            "rating_group": 10,
            "result_code": 2001,
            "validity_time": 3600,
            "granted": {"total_octets": GRANTED_OCTETS},
        }
    ]
    assert termination["mscc"] == [{"rating_group": 10, "result_code": 2001, "validity_time": 3600}]
    assert dpa["command"] == "DPA"
    # What the server decoded: the client encoded each request as asked.
    sent = [r for r in server.requests() if r["session_id"] == session_id]
    assert [(r["cc_request_type"], r["cc_request_number"]) for r in sent] == [
        (1, 0),
        (2, 1),
        (3, 2),
    ]
    assert sent[0]["subscription_id"] == [{"type": 1, "data": "001010123456789"}]
    assert sent[0]["service_context_id"] == "32251@3gpp.org"
    assert sent[0]["destination_realm"] == server.origin_realm
    assert sent[0]["multiple_services_indicator"] == 1
    assert sent[0]["sgsn_mcc_mnc"] == "20801"
    assert sent[0]["mscc"] == [
        {"rating_group": 10, "requested": {"total_octets": 500_000}},
        {"rating_group": 20, "requested": {"time": 60}},
    ]
    assert sent[1]["mscc"] == [
        {"rating_group": 10, "requested": {"total_octets": 1}, "used": [{"total_octets": 400_000}]}
    ]
    assert "sgsn_mcc_mnc" not in sent[1]
    assert sent[2]["mscc"] == [{"rating_group": 10, "used": [{"total_octets": 7}]}]
    assert sent[2]["subscription_id"] == []


def test_event_ccr_and_final_unit_indication(erlang_ebin: Path, server: ErlangServer) -> None:
    steps = [
        Ccr(
            "event",
            "sms-final-unit",
            0,
            subscription_type=0,
            subscription_data="447700900123",
            service_context="32274@3gpp.org",
            requested_action=0,
            msccs=[Mscc(None, requested=Units(units=1))],
        )
    ]

    _cea, event = run_scenario(
        server.host, server.port, steps, ebin=erlang_ebin, origin_host=CLIENT_HOST
    )

    assert event["cc_request_type"] == 4
    (sent,) = [r for r in server.requests() if r["session_id"].endswith(";sms-final-unit")]
    assert sent["requested_action"] == 0
    assert sent["service_context_id"] == "32274@3gpp.org"
    assert sent["subscription_id"] == [{"type": 0, "data": "447700900123"}]
    assert sent["mscc"] == [{"requested": {"units": 1}}]
    assert event["mscc"] == [
        {
            "result_code": 2001,
            "validity_time": 3600,
            "granted": {"total_octets": GRANTED_OCTETS, "units": 1},
            "final_unit_action": 0,
        }
    ]


def test_a_cca_missing_a_mandatory_avp_is_reported_as_an_error(
    erlang_ebin: Path, server: ErlangServer
) -> None:
    # erlang_gy_server leaves CC-Request-Number out for such a session (its arity checks off).
    steps = [
        Ccr("initial", "omit-request-number", 0, msccs=[Mscc(10)]),
        Ccr("initial", "fine-afterwards", 0, msccs=[Mscc(10)]),
    ]

    _cea, rejected, fine = run_scenario(
        server.host, server.port, steps, ebin=erlang_ebin, origin_host=CLIENT_HOST
    )

    assert rejected["command"] == "CCA"
    assert rejected["error"] == "answer failed to decode"
    assert {"avp": "CC-Request-Number", "result_code": 5005} in rejected["errors"]
    assert "cc_request_number" not in rejected
    assert "error" not in fine
    assert fine["cc_request_number"] == 0


def test_no_server_is_a_scenario_error(erlang_ebin: Path) -> None:
    with pytest.raises(ScenarioError) as raised:
        run_scenario("127.0.0.1", free_port(), [DPR], ebin=erlang_ebin, timeout_s=30)

    assert raised.value.answers[0]["command"] == "CEA"
    assert "error" in raised.value.answers[0]


def test_failed_avp_and_protocol_errors_are_decoded(
    erlang_ebin: Path, server: ErlangServer
) -> None:
    # erlang_gy_server answers 5005 + Failed-AVP, or an E-bit 3004, for such sessions.
    steps = [
        Ccr("initial", "missing-avp", 0, msccs=[Mscc(10)]),
        Ccr("initial", "protocol-error", 0),
    ]

    _cea, missing, protocol = run_scenario(
        server.host, server.port, steps, ebin=erlang_ebin, origin_host=CLIENT_HOST
    )

    assert missing["command"] == "CCA"
    assert "error" not in missing
    assert missing["result_code"] == 5005
    assert missing["failed_avp"] == ["Subscription-Id"]
    assert missing["cc_request_number"] == 0
    assert protocol["command"] == "answer-message"
    assert protocol["result_code"] == 3004
    assert protocol["session_id"] == f"{CLIENT_HOST};protocol-error"
