"""The ES2+ wire format: every message round-trips, bad bodies name their bad field.

The bodies below follow SGP.22's ES2+ JSON (section 6.5) with identifiers that pass the
checks: the EID is the spec's own example, the ICCIDs carry correct Luhn digits.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from famsim.adapters.es2plus.messages import (
    ADMIN_PROTOCOL,
    ADMIN_PROTOCOL_HEADER,
    PATHS,
    CancelOrderRequest,
    ConfirmOrderRequest,
    ConfirmOrderResponse,
    DownloadOrderRequest,
    DownloadOrderResponse,
    Es2Message,
    Es2MessageError,
    Es2Response,
    FunctionExecutionStatus,
    HandleDownloadProgressInfoRequest,
    NotificationPoint,
    ReleaseProfileRequest,
    RequestHeader,
    StatusCodeData,
    dump,
    expired_header,
    failure_header,
    is_supported_protocol,
    parse,
    success_header,
    to_eid,
    to_iccid,
)
from famsim.domain.errors import InvalidInput
from famsim.domain.esim.status import (
    NO_PROFILE_OF_TYPE,
    ORDER_EXPIRED,
    PROFILE_IN_USE,
    PROFILE_UNKNOWN,
)
from famsim.domain.identifiers import Eid, Iccid

pytestmark = pytest.mark.unit

EID = "89049032123451234512345678901235"  # SGP.22's example EID
ICCID_19 = "8944500000000000014"  # 19 digits: may travel padded with F
ICCID_20 = "89882470000000000121"
BAD_ICCID = "8944500000000000015"  # Luhn digit off by one
HEADER = {"functionRequesterIdentifier": "famsim-operator", "functionCallIdentifier": "call-42"}
SUCCESS = {"functionExecutionStatus": {"status": "Executed-Success"}}

# Each example is in the canonical form we write, so parse-then-dump must give it back.
EXAMPLES: list[tuple[type[Es2Message], dict[str, Any]]] = [
    (DownloadOrderRequest, {"header": HEADER, "eid": EID, "profileType": "family-phone"}),
    (DownloadOrderRequest, {"header": HEADER, "iccid": ICCID_20}),
    (DownloadOrderResponse, {"header": SUCCESS, "iccid": ICCID_19}),
    (
        ConfirmOrderRequest,
        {
            "header": HEADER,
            "iccid": ICCID_19,
            "eid": EID,
            "matchingId": "04386-AGYFT-A74Y8-3F815",
            "confirmationCode": "12345678",
            "smdsAddress": "lpa.ds.gsma.com",
            "releaseFlag": True,
        },
    ),
    (ConfirmOrderRequest, {"header": HEADER, "iccid": ICCID_19, "releaseFlag": False}),
    (
        ConfirmOrderResponse,
        {
            "header": SUCCESS,
            "eid": EID,
            "matchingId": "04386-AGYFT-A74Y8-3F815",
            "smdpAddress": "SMDP.EXAMPLE.COM",
        },
    ),
    (
        CancelOrderRequest,
        {
            "header": HEADER,
            "iccid": ICCID_19,
            "eid": EID,
            "matchingId": "04386-AGYFT-A74Y8-3F815",
            "finalProfileStatusIndicator": "Available",
        },
    ),
    (
        CancelOrderRequest,
        {"header": HEADER, "iccid": ICCID_20, "finalProfileStatusIndicator": "Unavailable"},
    ),
    (Es2Response, {"header": SUCCESS}),
    (ReleaseProfileRequest, {"header": HEADER, "iccid": ICCID_19}),
    (
        HandleDownloadProgressInfoRequest,
        {
            "header": {"functionRequesterIdentifier": "smdp", "functionCallIdentifier": "n-1"},
            "eid": EID,
            "iccid": ICCID_19,
            "profileType": "family-phone",
            "timestamp": "2026-03-01T09:00:00Z",
            "notificationPointId": 4,
            "notificationPointStatus": {"status": "Executed-Success"},
            "resultData": "vyKqAQ==",
        },
    ),
    (
        HandleDownloadProgressInfoRequest,
        {
            "header": {"functionRequesterIdentifier": "smdp", "functionCallIdentifier": "n-2"},
            "iccid": ICCID_20,
            "profileType": "family-watch",
            "timestamp": "2026-03-01T09:05:10Z",
            "notificationPointId": 2,
            "notificationPointStatus": {
                "status": "Failed",
                "statusCodeData": {
                    "subjectCode": "8.2.7",
                    "reasonCode": "3.8",
                    "subjectIdentifier": ICCID_20,
                    "message": "Confirmation Code refused",
                },
            },
        },
    ),
]


def _body(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def _error(model_type: type[Es2Message], document: dict[str, Any]) -> Es2MessageError:
    with pytest.raises(Es2MessageError) as caught:
        parse(model_type, _body(document))
    return caught.value


@pytest.mark.parametrize(
    ("model_type", "document"),
    EXAMPLES,
    ids=[f"{t.__name__}-{i}" for i, (t, _) in enumerate(EXAMPLES)],
)
def test_every_message_round_trips(model_type: type[Es2Message], document: dict[str, Any]) -> None:
    model = parse(model_type, _body(document))
    assert json.loads(dump(model)) == document
    assert parse(model_type, dump(model)) == model


def test_protocol_header_and_paths_are_the_specs() -> None:
    assert ADMIN_PROTOCOL_HEADER == "X-Admin-Protocol"
    assert ADMIN_PROTOCOL == "gsma/rsp/v2.2.0"
    assert dict(PATHS) == {
        "downloadOrder": "/gsma/rsp2/es2plus/downloadOrder",
        "confirmOrder": "/gsma/rsp2/es2plus/confirmOrder",
        "cancelOrder": "/gsma/rsp2/es2plus/cancelOrder",
        "releaseProfile": "/gsma/rsp2/es2plus/releaseProfile",
        "handleDownloadProgressInfo": "/gsma/rsp2/es2plus/handleDownloadProgressInfo",
    }


@pytest.mark.parametrize("value", ["gsma/rsp/v2.2.0", "gsma/rsp/v2.5.1", "gsma/rsp/v2.10.12"])
def test_any_version_2_protocol_is_supported(value: str) -> None:
    assert is_supported_protocol(value)


@pytest.mark.parametrize(
    "value",
    [
        "gsma/rsp/v3.0.0",
        "gsma/rsp/v1.9.0",
        "gsma/rsp/v2.2",
        "gsma/rsp/v2.x.y",
        "gsma/rsp/v2.2.0-beta",
        "gsma/rsp/v2.٢.0",  # an Arabic-Indic digit is not a version number
        "",
        "garbage",
    ],
)
def test_other_protocols_are_refused(value: str) -> None:
    assert not is_supported_protocol(value)


@pytest.mark.parametrize("pad", ["F", "f"])
def test_a_padded_iccid_is_read_and_written_without_its_pad(pad: str) -> None:
    request = parse(ReleaseProfileRequest, _body({"header": HEADER, "iccid": ICCID_19 + pad}))
    assert request.iccid == ICCID_19
    assert json.loads(dump(request))["iccid"] == ICCID_19
    assert to_iccid(request.iccid) == Iccid(ICCID_19)


def test_a_model_built_in_python_is_normalised_too() -> None:
    request = DownloadOrderRequest(
        header=RequestHeader(**HEADER), iccid=ICCID_19 + "F", eid=EID, profileType=None
    )
    assert request.iccid == ICCID_19
    assert to_eid(request.eid or "") == Eid(EID)


def test_a_bad_iccid_checksum_names_the_field() -> None:
    error = _error(ReleaseProfileRequest, {"header": HEADER, "iccid": BAD_ICCID})
    assert isinstance(error, InvalidInput)
    assert error.path == "iccid"
    assert str(error).startswith("iccid: ICCID checksum check failed")
    assert BAD_ICCID in str(error)


@pytest.mark.parametrize(
    ("iccid", "check"),
    [
        ("8944 500000000000014", "format"),  # fine for people, not in the ES2+ schema
        ("894450000000000001", "length"),
        ("8944500000000000014FF", "format"),
        ("1944500000000000017", "prefix"),
    ],
)
def test_iccids_outside_the_schema_are_refused(iccid: str, check: str) -> None:
    error = _error(ReleaseProfileRequest, {"header": HEADER, "iccid": iccid})
    assert str(error).startswith(f"iccid: ICCID {check} check failed")


def test_an_iccid_must_be_text() -> None:
    error = _error(ReleaseProfileRequest, {"header": HEADER, "iccid": int(ICCID_19)})
    assert error.path == "iccid"


@pytest.mark.parametrize(
    ("eid", "check"),
    [
        (EID[:-1] + "6", "checksum"),
        (EID[:-1], "length"),
        ("8904 9032 1234 5123 4512 3456 7890 1235", "format"),
    ],
)
def test_a_bad_eid_names_the_field(eid: str, check: str) -> None:
    error = _error(
        ConfirmOrderRequest, {"header": HEADER, "iccid": ICCID_19, "eid": eid, "releaseFlag": True}
    )
    assert error.path == "eid"
    assert str(error).startswith(f"eid: EID {check} check failed")


def test_download_order_needs_an_iccid_or_a_profile_type() -> None:
    error = _error(DownloadOrderRequest, {"header": HEADER, "eid": EID})
    assert error.path == "iccid"
    assert "profileType" in str(error)
    assert str(error).startswith("iccid: required when there is no profileType")


def test_download_order_may_name_both() -> None:
    document = {"header": HEADER, "iccid": ICCID_19, "profileType": "family-phone"}
    assert json.loads(dump(parse(DownloadOrderRequest, _body(document)))) == document


def _notification(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "header": HEADER,
        "iccid": ICCID_19,
        "profileType": "family-phone",
        "timestamp": "2026-03-01T09:00:00Z",
        "notificationPointId": 3,
        "notificationPointStatus": {"status": "Executed-Success"},
    }
    document.update(changes)
    return document


def test_a_naive_timestamp_is_refused() -> None:
    error = _error(
        HandleDownloadProgressInfoRequest, _notification(timestamp="2026-03-01T09:00:00")
    )
    assert error.path == "timestamp"
    assert "UTC offset" in str(error)
    assert str(error).startswith("timestamp: ")


def test_a_unix_time_is_not_a_timestamp() -> None:
    error = _error(HandleDownloadProgressInfoRequest, _notification(timestamp=1772355600))
    assert error.path == "timestamp"


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-01T09:00:00+08:00",
        "2026-03-01T01:00:00Z",
        "2026-03-01T01:00:00+00:00",
        "2026-02-28T20:00:00-05:00",
        "2026-03-01T01:00:00.734Z",  # fractions are dropped: the wire format has none
    ],
)
def test_any_offset_is_read_and_written_as_utc(text: str) -> None:
    notification = parse(HandleDownloadProgressInfoRequest, _body(_notification(timestamp=text)))
    assert notification.timestamp == datetime(2026, 3, 1, 1, 0, 0, tzinfo=UTC)
    assert notification.timestamp.tzinfo is UTC
    assert json.loads(dump(notification))["timestamp"] == "2026-03-01T01:00:00Z"


def test_a_timestamp_set_in_python_is_written_in_utc_to_the_second() -> None:
    moment = datetime(2026, 3, 1, 9, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=8)))
    notification = parse(HandleDownloadProgressInfoRequest, _body(_notification())).model_copy()
    built = HandleDownloadProgressInfoRequest(
        header=notification.header,
        iccid=ICCID_19,
        profileType="family-phone",
        timestamp=moment,
        notificationPointId=NotificationPoint.BPP_INSTALLATION,
        notificationPointStatus=FunctionExecutionStatus(status="Executed-Success"),
    )
    assert json.loads(dump(built))["timestamp"] == "2026-03-01T01:00:00Z"
    assert parse(HandleDownloadProgressInfoRequest, dump(built)) == built


@pytest.mark.parametrize("point", [0, 5, 7, 100, 104])
def test_notification_points_are_the_specs_one_to_four_or_famsims_101_to_103(
    point: int,
) -> None:
    error = _error(HandleDownloadProgressInfoRequest, _notification(notificationPointId=point))
    assert error.path == "notificationPointId"
    assert str(error).startswith("notificationPointId: ")


def test_notification_points_have_names() -> None:
    assert [p.value for p in NotificationPoint] == [1, 2, 3, 4, 101, 102, 103]
    notification = parse(
        HandleDownloadProgressInfoRequest, _body(_notification(notificationPointId=1))
    )
    assert notification.notificationPointId is NotificationPoint.ELIGIBILITY_CHECK
    deleted = parse(
        HandleDownloadProgressInfoRequest, _body(_notification(notificationPointId=103))
    )
    assert deleted.notificationPointId is NotificationPoint.PROFILE_DELETED


def test_unknown_keys_are_ignored_and_never_written() -> None:
    document = {
        "header": {**HEADER, "traceId": "abc"},
        "iccid": ICCID_19,
        "releaseFlag": False,
        "futureField": {"nested": [1, 2]},
    }
    request = parse(ConfirmOrderRequest, _body(document))
    written = json.loads(dump(request))
    assert written == {"header": HEADER, "iccid": ICCID_19, "releaseFlag": False}


def test_absent_values_are_left_out_not_written_as_null() -> None:
    response = ConfirmOrderResponse(header=failure_header(PROFILE_UNKNOWN, "no profile"))
    body = dump(response)
    assert b"null" not in body
    assert json.loads(body) == {
        "header": {
            "functionExecutionStatus": {
                "status": "Failed",
                "statusCodeData": {
                    "subjectCode": "8.2.1",
                    "reasonCode": "3.9",
                    "message": "no profile",
                },
            }
        }
    }


def test_nulls_from_a_peer_are_read_as_absent() -> None:
    document = {"header": HEADER, "iccid": None, "profileType": "family-phone", "eid": None}
    request = parse(DownloadOrderRequest, _body(document))
    assert request.iccid is None
    assert json.loads(dump(request)) == {"header": HEADER, "profileType": "family-phone"}


def test_success_header_shape() -> None:
    assert json.loads(dump(Es2Response(header=success_header()))) == {"header": SUCCESS}
    assert success_header().succeeded


def test_failure_header_shape() -> None:
    header = failure_header(PROFILE_UNKNOWN, "Profile 8944500000000000014 is unknown")
    assert json.loads(dump(Es2Response(header=header))) == {
        "header": {
            "functionExecutionStatus": {
                "status": "Failed",
                "statusCodeData": {
                    "subjectCode": "8.2.1",
                    "reasonCode": "3.9",
                    "message": "Profile 8944500000000000014 is unknown",
                },
            }
        }
    }
    assert not header.succeeded


def test_failure_header_with_a_subject_identifier() -> None:
    header = failure_header(PROFILE_IN_USE, "in use", subject_identifier=ICCID_19)
    data = header.functionExecutionStatus.statusCodeData
    assert data is not None
    assert json.loads(data.model_dump_json(exclude_none=True)) == {
        "subjectCode": "8.2.1",
        "reasonCode": "3.3",
        "subjectIdentifier": ICCID_19,
        "message": "in use",
    }
    assert data.matches(PROFILE_IN_USE)
    assert not data.matches(PROFILE_UNKNOWN)


def test_expired_header_shape() -> None:
    assert json.loads(dump(Es2Response(header=expired_header()))) == {
        "header": {
            "functionExecutionStatus": {
                "status": "Expired",
                "statusCodeData": {
                    "subjectCode": ORDER_EXPIRED.subject_code,
                    "reasonCode": ORDER_EXPIRED.reason_code,
                    "message": ORDER_EXPIRED.meaning,
                },
            }
        }
    }
    custom = expired_header(NO_PROFILE_OF_TYPE, "gone", subject_identifier="family-phone")
    data = custom.functionExecutionStatus.statusCodeData
    assert data is not None
    assert (data.subjectCode, data.reasonCode, data.message, data.subjectIdentifier) == (
        "8.2.5",
        "3.7",
        "gone",
        "family-phone",
    )


def test_a_plain_response_reads_any_responses_outcome() -> None:
    body = dump(DownloadOrderResponse(header=success_header(), iccid=ICCID_19))
    assert parse(Es2Response, body).header.succeeded


@pytest.mark.parametrize("code", ["8.2", "8", "10.2.11"])
def test_status_codes_are_dotted_numbers(code: str) -> None:
    assert StatusCodeData(subjectCode=code, reasonCode="3.9").subjectCode == code


@pytest.mark.parametrize("code", ["", "8.", ".8", "8..2", "8.a", "8.2 "])
def test_malformed_status_codes_are_refused(code: str) -> None:
    document = {
        "header": {
            "functionExecutionStatus": {
                "status": "Failed",
                "statusCodeData": {"subjectCode": code, "reasonCode": "3.9"},
            }
        }
    }
    error = _error(Es2Response, document)
    assert error.path == "header.functionExecutionStatus.statusCodeData.subjectCode"


def test_an_unknown_execution_status_is_refused() -> None:
    document = {"header": {"functionExecutionStatus": {"status": "Done"}}}
    assert _error(Es2Response, document).path == "header.functionExecutionStatus.status"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("functionRequesterIdentifier", ""),
        ("functionCallIdentifier", ""),
        ("functionCallIdentifier", "x" * 256),
    ],
)
def test_request_header_identifiers_are_1_to_255_characters(field: str, value: str) -> None:
    document = {"header": {**HEADER, field: value}, "iccid": ICCID_19}
    assert _error(ReleaseProfileRequest, document).path == f"header.{field}"
    ok = {"header": {**HEADER, field: "x" * 255}, "iccid": ICCID_19}
    assert parse(ReleaseProfileRequest, _body(ok)).header.model_dump()[field] == "x" * 255


def test_a_missing_field_is_named() -> None:
    error = _error(ConfirmOrderRequest, {"header": HEADER, "iccid": ICCID_19})
    assert str(error) == "releaseFlag: required, missing"


def test_a_missing_header_field_is_named_with_its_path() -> None:
    document = {"header": {"functionRequesterIdentifier": "op"}, "iccid": ICCID_19}
    error = _error(ReleaseProfileRequest, document)
    assert error.path == "header.functionCallIdentifier"


def test_final_status_is_available_or_unavailable() -> None:
    document = {"header": HEADER, "iccid": ICCID_19, "finalProfileStatusIndicator": "Deleted"}
    assert _error(CancelOrderRequest, document).path == "finalProfileStatusIndicator"


def test_only_the_first_problem_is_described_and_the_rest_counted() -> None:
    error = _error(ReleaseProfileRequest, {"header": {}, "iccid": BAD_ICCID})
    assert error.path == "header.functionRequesterIdentifier"
    assert error.more == 2
    assert str(error).endswith("(and 2 more problems)")


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'"text"', b"{"])
def test_a_body_that_is_not_a_json_object_is_an_error_about_the_body(body: bytes) -> None:
    with pytest.raises(Es2MessageError) as caught:
        parse(ReleaseProfileRequest, body)
    assert caught.value.path == "body"
    assert str(caught.value).startswith("body: ")


def test_messages_are_immutable() -> None:
    request = parse(ReleaseProfileRequest, _body({"header": HEADER, "iccid": ICCID_19}))
    with pytest.raises(ValueError, match="frozen"):
        request.iccid = ICCID_20
