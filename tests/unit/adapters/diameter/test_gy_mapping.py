"""CCR bytes -> ChargingRequest and ChargingAnswer -> CCA bytes, against an independent
codec: every CCR here is encoded by python-diameter and every answer decoded by it."""

from __future__ import annotations

from typing import Any

import pytest
from diameter.message import Message
from diameter.message.avp.grouped import (
    ImsInformation,
    PsInformation,
    RecipientAddress,
    RecipientInfo,
    RequestedServiceUnit,
    ServiceInformation,
    SmsInformation,
    UsedServiceUnit,
)
from diameter.message.commands import CreditControlAnswer, CreditControlRequest

from famsim.adapters.diameter import gy_mapping as gy
from famsim.adapters.diameter.wire import Header
from famsim.domain.charging.rating_groups import DEFAULT_RATING_GROUPS
from famsim.domain.units import Resource
from famsim.service.charging import (
    ChargingAnswer,
    Outcome,
    RequestType,
    ServiceAnswer,
    ServiceUse,
)


def ccr(
    cc_type: int = 1,
    number: int = 0,
    *,
    e164: str | None = "85291230001",
    imsi: str | None = None,
    msccs: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> Any:
    message = CreditControlRequest()
    message.session_id = "pgw.test;1;1"
    message.origin_host = b"pgw.test"
    message.origin_realm = b"test"
    message.destination_realm = b"famsim.localhost"
    message.service_context_id = "32251@3gpp.org"
    message.cc_request_type = cc_type
    message.cc_request_number = number
    if imsi is not None:
        message.add_subscription_id(1, imsi)
    if e164 is not None:
        message.add_subscription_id(0, e164)
    for mscc in msccs or []:
        message.add_multiple_services_credit_control(**mscc)
    for name, value in fields.items():
        setattr(message, name, value)
    return message


REQUEST = Header(1, 0, 0xC0, 272, 4, 0x1234, 0x5678)
"""The header of the CCR every answer here answers."""
IDENTITY = gy.Identity("ocs.famsim.test", "famsim.test").avps


def decode(message: Any) -> gy.DecodedCcr:
    return gy.decode_ccr(message.as_bytes(), DEFAULT_RATING_GROUPS)


def test_an_initial_request_per_rating_group() -> None:
    decoded = decode(
        ccr(
            msccs=[
                {
                    "rating_group": 10,
                    "requested_service_unit": RequestedServiceUnit(cc_total_octets=5000),
                },
                {"rating_group": 11, "requested_service_unit": RequestedServiceUnit()},
                {"rating_group": 99},
            ],
            service_information=ServiceInformation(
                ps_information=PsInformation(tgpp_sgsn_mcc_mnc="46000")
            ),
        )
    )
    request = decoded.request
    assert request.session_id == "pgw.test;1;1"
    assert request.request_number == 0
    assert request.request_type is RequestType.INITIAL
    assert request.subscriber == "+85291230001"
    assert request.serving_plmn == "46000"
    assert request.services == (
        ServiceUse(Resource.DATA, tethered=False, requested=5000),
        ServiceUse(Resource.DATA, tethered=True, requested=None),
    )
    assert decoded.slots == (gy.Slot(10, 0), gy.Slot(11, 1), gy.Slot(99, None))


def test_used_units_per_resource_are_added_up() -> None:
    decoded = decode(
        ccr(
            2,
            3,
            msccs=[
                {
                    "rating_group": 10,
                    "used_service_unit": [
                        UsedServiceUnit(cc_total_octets=100),
                        UsedServiceUnit(cc_total_octets=23),
                    ],
                    "requested_service_unit": RequestedServiceUnit(cc_total_octets=10),
                },
                {"rating_group": 20, "used_service_unit": UsedServiceUnit(cc_time=60)},
                {"rating_group": 30, "used_service_unit": UsedServiceUnit(cc_time=5)},
            ],
        )
    )
    assert decoded.request.request_type is RequestType.UPDATE
    assert decoded.request.request_number == 3
    assert decoded.request.serving_plmn is None
    assert decoded.request.services == (
        ServiceUse(Resource.DATA, requested=10, used=123),
        ServiceUse(Resource.VOICE, used=60),
        ServiceUse(Resource.SMS),  # CC-Time is not an SMS unit
    )


def test_imsi_is_digits_and_the_first_usable_id_wins() -> None:
    assert decode(ccr(imsi="454001240000001", e164=None)).request.subscriber == ("454001240000001")
    assert decode(ccr(imsi="454001240000001")).request.subscriber == "454001240000001"
    assert decode(ccr(e164="+85291230001")).request.subscriber == "+85291230001"


def test_an_sms_event_without_mscc_uses_the_service_context() -> None:
    decoded = decode(
        ccr(
            4,
            0,
            service_context_id="32274@3gpp.org",
            requested_action=0,
            requested_service_unit=RequestedServiceUnit(cc_service_specific_units=1),
        )
    )
    assert decoded.top_level
    assert decoded.request.request_type is RequestType.EVENT
    assert decoded.request.services == (ServiceUse(Resource.SMS, requested=1),)
    voice = decode(ccr(1, 0, service_context_id="32260@3gpp.org"))
    assert voice.request.services == (ServiceUse(Resource.VOICE),)


@pytest.mark.parametrize(
    ("change", "code", "avp", "failed_value", "failed_length"),
    [
        ({"session_id": None}, 5005, 263, "", 8),
        ({"cc_request_type": None}, 5005, 416, 0, 12),
        ({"cc_request_number": None}, 5005, 415, 0, 12),
        ({"cc_request_type": 7}, 5004, 416, 7, 12),
        ({"requested_action": 1, "cc_request_type": 4}, 4011, 436, 1, 12),
    ],
)
def test_refusals(
    change: dict[str, Any], code: int, avp: int, failed_value: Any, failed_length: int
) -> None:
    message = ccr()
    for name, value in change.items():
        setattr(message, name, value)
    with pytest.raises(gy.CcrRejected) as caught:
        decode(message)
    assert caught.value.result_code == code
    assert caught.value.avp is not None
    assert caught.value.avp[0] == avp
    # Failed-AVP: the invalid AVP as received, or the missing one as a zero of its type.
    raw = gy.encode_rejection(REQUEST, IDENTITY, caught.value)
    ((failed,),) = [f.additional_avps for f in Message.from_bytes(raw).failed_avp]
    assert failed.code == avp
    assert failed.value == failed_value
    # the failed AVP's own Length: its header and value (a bare 8-byte header is malformed)
    at = raw.index(avp.to_bytes(4, "big") + b"\x40", raw.index(b"\x00\x00\x01\x17"))
    assert int.from_bytes(raw[at + 5 : at + 8], "big") == failed_length


def test_no_subscription_id_is_missing_avp_with_failed_avp() -> None:
    message = ccr(e164=None)
    with pytest.raises(gy.CcrRejected) as caught:
        decode(message)
    parsed = Message.from_bytes(gy.encode_rejection(REQUEST, IDENTITY, caught.value))
    assert parsed.result_code == 5005
    assert parsed.cc_request_type == 1
    assert parsed.cc_request_number == 0
    assert [a.code for f in parsed.failed_avp for a in f.additional_avps] == [443]
    assert parsed.failed_avp[0].additional_avps[0].value == []  # an empty grouped example


@pytest.mark.parametrize(("imsi", "e164"), [(None, "85299999999"), ("12345", None)])
def test_a_subscriber_that_cannot_exist_is_user_unknown(imsi: str | None, e164: str | None) -> None:
    with pytest.raises(gy.CcrRejected) as caught:
        decode(ccr(imsi=imsi, e164=e164))
    assert caught.value.result_code == 5030


def test_a_malformed_serving_network_is_invalid() -> None:
    message = ccr(
        service_information=ServiceInformation(
            ps_information=PsInformation(tgpp_sgsn_mcc_mnc="4600")
        )
    )
    with pytest.raises(gy.CcrRejected) as caught:
        decode(message)
    assert caught.value.result_code == 5004
    assert caught.value.avp == (18, 10415)
    raw = gy.encode_rejection(REQUEST, IDENTITY, caught.value)
    ((failed,),) = [f.additional_avps for f in Message.from_bytes(raw).failed_avp]
    assert (failed.code, failed.vendor_id, failed.value) == (18, 10415, "4600")  # as received


def answered(decoded: gy.DecodedCcr, answer: ChargingAnswer) -> Any:
    raw = gy.encode_cca(REQUEST, IDENTITY, decoded, answer)
    cca = Message.from_bytes(raw)
    assert isinstance(cca, CreditControlAnswer)
    header = cca.header
    assert (header.hop_by_hop_identifier, header.end_to_end_identifier) == (0x1234, 0x5678)
    assert not header.is_request
    assert header.is_proxyable
    assert not header.is_error
    assert cca.session_id == decoded.request.session_id
    assert (cca.origin_host, cca.auth_application_id) == (b"ocs.famsim.test", 4)
    return cca


def test_grants_per_mscc_with_final_unit_indication() -> None:
    decoded = decode(
        ccr(
            2,
            1,
            msccs=[
                {"rating_group": 10},
                {"rating_group": 11},
                {"rating_group": 20},
                {"rating_group": 30},
                {"rating_group": 77},
            ],
        )
    )
    answer = ChargingAnswer(
        "pgw.test;1;1",
        1,
        Outcome.SUCCESS,
        "home",
        (
            ServiceAnswer("data", False, "success", 1000, 600, "terminate"),
            ServiceAnswer("data", True, "limit_reached", 0, 0),
            ServiceAnswer("voice", False, "success", 300, 900, "redirect", "http://top.up/"),
            ServiceAnswer("sms", False, "success", 1, 0, "restrict_access"),
        ),
    )
    cca = answered(decoded, answer)
    assert (cca.result_code, cca.cc_request_type, cca.cc_request_number) == (2001, 2, 1)
    data, hotspot, voice, sms, unknown = cca.multiple_services_credit_control
    assert (data.rating_group, data.result_code) == (10, 2001)
    assert data.granted_service_unit.cc_total_octets == 1000
    assert data.validity_time == 600
    assert data.final_unit_indication.final_unit_action == gy.TERMINATE
    assert (hotspot.rating_group, hotspot.result_code) == (11, 4012)
    assert hotspot.granted_service_unit is None
    assert hotspot.final_unit_indication is None
    assert voice.granted_service_unit.cc_time == 300
    assert voice.final_unit_indication.final_unit_action == gy.REDIRECT
    server = voice.final_unit_indication.redirect_server
    assert (server.redirect_address_type, server.redirect_server_address) == (2, "http://top.up/")
    assert sms.granted_service_unit.cc_service_specific_units == 1
    assert sms.validity_time is None
    assert sms.final_unit_indication.final_unit_action == gy.RESTRICT_ACCESS
    assert (unknown.rating_group, unknown.result_code) == (77, 5031)


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        ("roaming_not_allowed", 4010),
        ("hotspot_not_allowed", 4010),
        ("quiet_hours", 4010),
        ("line_suspended", 4010),
        ("limit_reached", 4012),
        ("success", 2001),
    ],
)
def test_service_outcomes(outcome: str, code: int) -> None:
    assert gy.service_result_code(ServiceAnswer("data", False, outcome, 0, 0)) == code


@pytest.mark.parametrize(
    ("outcome", "code"), [(Outcome.USER_UNKNOWN, 5030), (Outcome.LINE_SUSPENDED, 4010)]
)
def test_whole_request_outcomes(outcome: Outcome, code: int) -> None:
    decoded = decode(ccr(msccs=[{"rating_group": 10}]))
    cca = answered(decoded, ChargingAnswer("pgw.test;1;1", 0, outcome, None))
    assert (cca.result_code, cca.cc_request_type, cca.cc_request_number) == (code, 1, 0)
    assert cca.multiple_services_credit_control == []


def test_a_top_level_event_answer() -> None:
    decoded = decode(
        ccr(
            4,
            0,
            service_context_id="32274@3gpp.org",
            requested_service_unit=RequestedServiceUnit(cc_service_specific_units=1),
        )
    )
    ok = answered(
        decoded,
        ChargingAnswer(
            "s", 0, Outcome.SUCCESS, "home", (ServiceAnswer("sms", False, "success", 1, 0),)
        ),
    )
    assert ok.result_code == 2001
    assert ok.granted_service_unit.cc_service_specific_units == 1
    refused = answered(
        decoded,
        ChargingAnswer(
            "s", 0, Outcome.SUCCESS, "home", (ServiceAnswer("sms", False, "limit_reached", 0, 0),)
        ),
    )
    assert refused.result_code == 4012
    assert refused.granted_service_unit is None


def top_level_flags(raw: bytes) -> dict[int, int]:
    """AVP code -> flags byte of each top-level AVP of an encoded message."""
    flags, offset = {}, 20
    while offset < len(raw):
        code = int.from_bytes(raw[offset : offset + 4], "big")
        length = int.from_bytes(raw[offset + 5 : offset + 8], "big")
        flags[code] = raw[offset + 4]
        offset += (length + 3) // 4 * 4
    return flags


def test_origin_host_and_realm_are_mandatory_in_every_cca() -> None:
    # RFC 6733 4.5: Origin-Host (264) and Origin-Realm (296) MUST have the M bit;
    # python-diameter's own CCA definition clears it.
    decoded = decode(ccr(msccs=[{"rating_group": 10}]))
    success = gy.encode_cca(
        REQUEST, IDENTITY, decoded, ChargingAnswer("s", 0, Outcome.USER_UNKNOWN, None)
    )
    missing = gy.CcrRejected(5005, "missing")
    missing.session_id, missing.cc_request_type, missing.cc_request_number = "pgw.test;1;1", 1, 0
    rejection = gy.encode_rejection(REQUEST, IDENTITY, missing)
    for raw in (success, rejection):
        flags = top_level_flags(raw)
        assert (flags[264], flags[296]) == (0x40, 0x40)  # M, not V or P
        assert flags[263] == flags[268] == 0x40  # Session-Id, Result-Code: as before
        parsed = Message.from_bytes(raw)
        assert parsed.origin_host == b"ocs.famsim.test"
        assert parsed.cc_request_number == 0


# ------------------------------------------------------------------------------ location
def uli(kind: int, mcc: str, mnc: str, rest: bytes) -> bytes:
    """A 3GPP-User-Location-Info (TS 29.061 16.4.7.2): its type, then the PLMN in BCD
    (MCC 2|1, MNC 3|MCC 3, MNC 2|1; MNC digit 3 is F for a two-digit MNC), then the rest."""
    d = [int(c) for c in mcc + mnc]
    mnc3 = d[5] if len(mnc) == 3 else 0xF
    return bytes([kind, d[1] << 4 | d[0], mnc3 << 4 | d[2], d[4] << 4 | d[3]]) + rest


TAI = 128
ECGI = 129
TAI_AND_ECGI = 130


@pytest.mark.parametrize(
    ("location", "plmn"),
    [
        (uli(TAI, "460", "00", b"\x00\x01"), "46000"),
        (uli(TAI, "310", "410", b"\x12\x34"), "310410"),
        (
            uli(
                TAI_AND_ECGI,
                "460",
                "00",
                b"\x00\x01" + uli(0, "460", "00", b"\x01\x02\x03\x04")[1:],
            ),
            "46000",
        ),
        (
            uli(TAI_AND_ECGI, "310", "410", b"\x00\x01" + uli(0, "310", "410", b"\0\0\0\1")[1:]),
            "310410",
        ),
        (uli(ECGI, "454", "00", b"\x00\x00\x00\x01"), "45400"),
        (uli(0, "262", "01", b"\x00\x01\x00\x02"), "26201"),  # CGI
    ],
    ids=["tai-2", "tai-3", "tai-ecgi-2", "tai-ecgi-3", "ecgi", "cgi"],
)
def test_the_user_location_gives_the_serving_network(location: bytes, plmn: str) -> None:
    assert gy.location_plmn(location) == plmn
    within = decode(
        ccr(
            msccs=[{"rating_group": 10}],
            service_information=ServiceInformation(
                ps_information=PsInformation(tgpp_user_location_info=location)
            ),
        )
    )
    assert within.request.serving_plmn == plmn
    top = decode(ccr(msccs=[{"rating_group": 10}], user_location_info=location))
    assert top.request.serving_plmn == plmn


def test_the_sgsn_mcc_mnc_wins_over_the_user_location() -> None:
    home = "45400"
    both = decode(
        ccr(
            service_information=ServiceInformation(
                ps_information=PsInformation(
                    tgpp_sgsn_mcc_mnc=home, tgpp_user_location_info=uli(TAI, "460", "00", b"\0\1")
                )
            )
        )
    )
    assert both.request.serving_plmn == home
    top = decode(
        ccr(
            user_location_info=uli(TAI, "310", "410", b"\0\1"),
            service_information=ServiceInformation(
                ps_information=PsInformation(tgpp_sgsn_mcc_mnc=home)
            ),
        )
    )
    assert top.request.serving_plmn == home


@pytest.mark.parametrize(
    "location",
    [b"", b"\x80", b"\x80\x64\xf0", b"\x80\xff\xff\xff\x00\x01", b"\x80\x64\xa0\x00\x00\x01"],
    ids=["empty", "type-only", "cut-short", "not-bcd", "mnc-digit-a"],
)
def test_a_user_location_without_a_plmn_is_invalid(location: bytes) -> None:
    assert gy.location_plmn(location) is None
    message = ccr(
        service_information=ServiceInformation(
            ps_information=PsInformation(tgpp_user_location_info=location)
        )
    )
    with pytest.raises(gy.CcrRejected) as caught:
        decode(message)
    assert caught.value.result_code == 5004
    assert caught.value.avp == (22, 10415)
    assert caught.value.session_id == "pgw.test;1;1"
    parsed = Message.from_bytes(gy.encode_rejection(REQUEST, IDENTITY, caught.value))
    assert (parsed.result_code, parsed.cc_request_type, parsed.cc_request_number) == (5004, 1, 0)
    ((failed,),) = [f.additional_avps for f in parsed.failed_avp]
    assert (failed.code, failed.vendor_id, failed.value) == (22, 10415, location)


# ------------------------------------------------------------------------------ destination
@pytest.mark.parametrize(
    "address",
    [
        "tel:+85291230002",
        "sip:+85291230002@ims.test;user=phone",
        "SIP:+85291230002@ims.test",
        "tel:+85291230002;phone-context=ims.test",
        "+85291230002",
    ],
)
def test_the_called_party_address_is_the_destination(address: str) -> None:
    decoded = decode(
        ccr(
            service_context_id="32260@3gpp.org",
            service_information=ServiceInformation(
                ims_information=ImsInformation(called_party_address=address)
            ),
        )
    )
    assert decoded.request.services == (ServiceUse(Resource.VOICE),)
    assert decoded.request.destination == "+85291230002"


def test_the_sms_recipient_is_the_destination() -> None:
    def sms(*recipients: RecipientInfo) -> Any:
        return ccr(
            4,
            0,
            service_context_id="32274@3gpp.org",
            requested_action=0,
            requested_service_unit=RequestedServiceUnit(cc_service_specific_units=1),
            service_information=ServiceInformation(
                sms_information=SmsInformation(recipient_info=list(recipients))
            ),
        )

    def to(*numbers: str) -> RecipientInfo:
        return RecipientInfo(
            recipient_address=[RecipientAddress(address_type=1, address_data=n) for n in numbers]
        )

    assert decode(sms(to("+85291230002"))).request.destination == "+85291230002"
    assert decode(sms(to("tel:+85291230002"))).request.destination == "+85291230002"
    # the first recipient of several
    assert decode(sms(to("+85291230002", "+85291230003"))).request.destination == "+85291230002"
    assert decode(sms(to("+85291230003"), to("+85291230002"))).request.destination == (
        "+85291230003"
    )
    assert decode(sms()).request.destination is None
    assert decode(ccr(msccs=[{"rating_group": 10}])).request.destination is None


def test_a_destination_that_is_not_utf8_is_invalid() -> None:
    message = ccr(
        service_information=ServiceInformation(
            ims_information=ImsInformation(called_party_address="tel:+85291230002")
        )
    )
    raw = message.as_bytes().replace(b"tel:+85291230002", b"tel:+852\xff1230002")
    with pytest.raises(gy.CcrRejected) as caught:
        gy.decode_ccr(raw, DEFAULT_RATING_GROUPS)
    assert (caught.value.result_code, caught.value.avp) == (5004, (832, 10415))
    parsed = Message.from_bytes(gy.encode_rejection(REQUEST, IDENTITY, caught.value))
    assert parsed.result_code == 5004
    assert [(a.code, a.vendor_id) for f in parsed.failed_avp for a in f.additional_avps] == [
        (832, 10415)
    ]


# ------------------------------------------------------------------------------ sessions
def test_an_unknown_session_is_5002() -> None:
    decoded = decode(ccr(2, 4, msccs=[{"rating_group": 10}]))
    cca = answered(decoded, ChargingAnswer("pgw.test;1;1", 4, Outcome.SESSION_UNKNOWN, None))
    assert (cca.result_code, cca.cc_request_type, cca.cc_request_number) == (5002, 2, 4)
    assert cca.multiple_services_credit_control == []
    top = decode(ccr(3, 2, service_context_id="32260@3gpp.org"))
    cca = answered(top, ChargingAnswer("pgw.test;1;1", 2, "session_unknown", None))
    assert (cca.result_code, cca.cc_request_type, cca.cc_request_number) == (5002, 3, 2)
    assert cca.granted_service_unit is None
