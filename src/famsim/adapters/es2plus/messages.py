# ruff: noqa: N815  (the field names are the JSON keys of SGP.22, camelCase by the spec)
"""The ES2+ wire format (GSMA SGP.22 5.3 and 6.1-6.5): every message as a pydantic model.

famsim's ES2+ client, the receiver of the SM-DP+'s ``handleDownloadProgressInfo`` callbacks
and the built-in SM-DP+ server all read and write these models, so a message one of them
writes is one the others read. Facts are in ``shared/docs/esim.md``.

Two rules shape the module:

* **Generate strictly, parse leniently** (SGP.22's own rule). Parsing accepts what a peer
  may legally send: a 19-digit ICCID padded with ``F`` (or ``f``), a timestamp with any UTC
  offset, keys this version does not know. What we write is always the narrowest form: ICCID
  digits without a pad, timestamps as ``YYYY-MM-DDThh:mm:ssZ``, no ``null`` values, no keys
  the spec does not name.
* **An invalid message cannot exist.** ICCIDs and EIDs are checked by the domain's
  :class:`~famsim.domain.identifiers.Iccid` and :class:`~famsim.domain.identifiers.Eid`
  (Luhn, MOD 97-10, the ``89`` prefix), so a model that validated holds identifiers the rest
  of famsim accepts; and :func:`parse` turns pydantic's report into one
  :class:`Es2MessageError` naming the JSON path of the first bad field, which a server can
  send straight back to the caller.

Field names are the spec's camelCase JSON keys (``functionCallIdentifier``, ``iccid``), so
the models read like the spec and need no alias table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from famsim.domain.errors import InvalidIdentifier, InvalidInput
from famsim.domain.esim.progress import NotificationPoint, ProgressNotification
from famsim.domain.esim.status import ORDER_EXPIRED, StatusCode
from famsim.domain.identifiers import Eid, Iccid

# ---------------------------------------------------------------------------- protocol

#: The HTTP header every ES2+ request and response carries (SGP.22 6.1.1).
ADMIN_PROTOCOL_HEADER: Final = "X-Admin-Protocol"

#: The protocol version famsim writes in that header.
ADMIN_PROTOCOL: Final = "gsma/rsp/v2.2.0"

_PROTOCOL = re.compile(r"gsma/rsp/v2\.[0-9]+\.[0-9]+")

_BASE_PATH = "/gsma/rsp2/es2plus/"

#: The URL path of each ES2+ function, by the function's name in the spec. The first four
#: are served by the SM-DP+; ``handleDownloadProgressInfo`` is the operator's callback.
PATHS: Final[Mapping[str, str]] = MappingProxyType(
    {
        name: _BASE_PATH + name
        for name in (
            "downloadOrder",
            "confirmOrder",
            "cancelOrder",
            "releaseProfile",
            "handleDownloadProgressInfo",
        )
    }
)


def is_supported_protocol(value: str) -> bool:
    """Whether an ``X-Admin-Protocol`` value is one famsim speaks: any ``gsma/rsp/v2.x.y``.

    SGP.22 keeps ES2+ compatible within major version 2 (v2.2 and v2.5 carry the same JSON
    for the functions here), so a peer on a later minor version is welcome; v3 is not.
    """
    return _PROTOCOL.fullmatch(value.strip()) is not None


# ---------------------------------------------------------------------------- errors


class Es2MessageError(InvalidInput):
    """An ES2+ body that is not JSON or breaks the schema; the message names the bad field.

    ``path`` is the dotted JSON path of the first problem (``header.functionCallIdentifier``,
    empty for the body as a whole) and ``reason`` what is wrong with it, for a server that
    answers the caller with a ``Failed`` status.
    """

    def __init__(self, path: str, reason: str, *, more: int = 0) -> None:
        self.path = path
        self.reason = reason
        self.more = more
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        super().__init__(f"{path}: {reason}{suffix}" if path else f"{reason}{suffix}")


# ---------------------------------------------------------------------------- field types

_ICCID_WIRE = re.compile(r"[0-9]{19}[0-9Ff]?")
_EID_WIRE = re.compile(r"[0-9]{32}")
_CODE = r"^[0-9]+(\.[0-9]+)*$"


def _identifier_reason(exc: InvalidIdentifier) -> str:
    """``ICCID checksum check failed: ...``: the field's path comes in front of it in parse()."""
    return f"{exc.kind} {exc.check} check failed: {exc.reason} ({exc.value!r})"


def _iccid_digits(value: str) -> str:
    """The ICCID's digits, F pad dropped, once the domain and the ES2+ schema both agree."""
    try:
        iccid = Iccid.parse(value)
    except InvalidIdentifier as exc:
        raise ValueError(_identifier_reason(exc)) from None
    if not _ICCID_WIRE.fullmatch(value):
        raise ValueError(
            f"ICCID format check failed: ES2+ sends 19 or 20 digits, a 19-digit ICCID "
            f"optionally padded with F, and no spaces or hyphens ({value!r})"
        )
    return iccid.digits


def _eid_digits(value: str) -> str:
    """The EID's 32 digits, checked by the domain (prefix, MOD 97-10) and the schema."""
    try:
        eid = Eid.parse(value)
    except InvalidIdentifier as exc:
        raise ValueError(_identifier_reason(exc)) from None
    if not _EID_WIRE.fullmatch(value):
        raise ValueError(f"EID format check failed: ES2+ sends exactly 32 digits ({value!r})")
    return eid.digits


def _timestamp_text(value: object) -> object:
    """Refuse numbers: pydantic would read them as Unix times, ES2+ sends ISO 8601 text."""
    if isinstance(value, int | float):
        raise ValueError("expected ISO 8601 text such as '2026-03-01T09:00:00Z', not a number")
    return value


def _timestamp_utc(value: datetime) -> datetime:
    """UTC to the second: an instant means one thing, and the model equals what is sent."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            "a timestamp needs a UTC offset or Z, e.g. '2026-03-01T09:00:00Z' or "
            "'2026-03-01T09:00:00+08:00'"
        )
    return value.astimezone(UTC).replace(microsecond=0)


def _timestamp_wire(value: datetime) -> str:
    """SGP.22's ``YYYY-MM-DDThh:mm:ssTZD`` in its strictest form: UTC, ``Z``, whole seconds."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


IccidText = Annotated[str, AfterValidator(_iccid_digits)]
"""An ICCID on the wire: ``^[0-9]{19}[0-9F]?$`` with a valid Luhn digit; held as digits."""

EidText = Annotated[str, AfterValidator(_eid_digits)]
"""An EID on the wire: ``^[0-9]{32}$`` with valid MOD 97-10 check digits."""

Timestamp = Annotated[
    datetime,
    BeforeValidator(_timestamp_text),
    AfterValidator(_timestamp_utc),
    PlainSerializer(_timestamp_wire, return_type=str, when_used="json"),
]
"""An instant, with an offset when parsed, in UTC to the second when held and written."""

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=255)]
"""The requester's and the call's identifiers in a request header (SGP.22 6.1.1)."""

Code = Annotated[str, StringConstraints(pattern=_CODE)]
"""A subject or reason code: dotted numbers such as ``8.2.1`` or ``3.9``."""

NonEmpty = Annotated[str, StringConstraints(min_length=1)]

Status = Literal["Executed-Success", "Executed-WithWarning", "Failed", "Expired"]


def to_iccid(value: str) -> Iccid:
    """The domain :class:`Iccid` of a message's ``iccid`` (already valid once in a model)."""
    return Iccid.parse(value)


def to_eid(value: str) -> Eid:
    """The domain :class:`Eid` of a message's ``eid`` (already valid once in a model)."""
    return Eid.parse(value)


# ---------------------------------------------------------------------------- models


class Es2Message(BaseModel):
    """Base of every ES2+ body: immutable, unknown keys ignored (a newer peer may add some).

    Ignoring rather than refusing extra keys is the lenient half of SGP.22's rule; since the
    models hold only declared fields, what we write never carries them on.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)


class RequestHeader(Es2Message):
    """Who calls (``functionRequesterIdentifier``) and which call this is, for replies and logs."""

    functionRequesterIdentifier: Identifier
    functionCallIdentifier: Identifier


class StatusCodeData(Es2Message):
    """Why a function failed or warned: the spec's subject and reason codes, and a message."""

    subjectCode: Code
    reasonCode: Code
    subjectIdentifier: str | None = None
    message: str | None = None

    def matches(self, status: StatusCode) -> bool:
        """Whether these are the codes of *status*, one of the domain's named status codes."""
        return (self.subjectCode, self.reasonCode) == (status.subject_code, status.reason_code)


class FunctionExecutionStatus(Es2Message):
    """The outcome of a function; ES2+ answers HTTP 200 either way, so this is the verdict.

    ``statusCodeData`` is expected with ``Failed`` (and usually ``Executed-WithWarning``), but
    parsing does not insist: a peer that leaves it out still gets its outcome understood.
    """

    status: Status
    statusCodeData: StatusCodeData | None = None


class ResponseHeader(Es2Message):
    functionExecutionStatus: FunctionExecutionStatus

    @property
    def succeeded(self) -> bool:
        """``Executed-Success`` or ``Executed-WithWarning``: the function did its work."""
        return self.functionExecutionStatus.status in ("Executed-Success", "Executed-WithWarning")


class Es2Request(Es2Message):
    """Base of the requests: every one starts with the same header."""

    header: RequestHeader


class Es2Response(Es2Message):
    """A response with only the header: the answer to CancelOrder and ReleaseProfile.

    The other responses extend it, so a client can read any response's outcome with it.
    """

    header: ResponseHeader


class DownloadOrderRequest(Es2Request):
    """Reserve a profile: a given ICCID, or any available one of ``profileType``.

    With an ``eid`` the profile is linked to that device at once (state Linked), without one
    it is only allocated.
    """

    eid: EidText | None = None
    iccid: IccidText | None = None
    profileType: NonEmpty | None = None

    @model_validator(mode="after")
    def _names_a_profile(self) -> DownloadOrderRequest:
        """SGP.22 5.3.1: the SM-DP+ needs the profile itself or a type to pick one from."""
        if self.iccid is None and self.profileType is None:
            raise PydanticCustomError(
                "iccid_or_profile_type",
                "required when there is no profileType: the ICCID of the profile to reserve, "
                "or a profileType to pick one from",
                {"path": "iccid"},
            )
        return self


class DownloadOrderResponse(Es2Response):
    """The reserved profile's ICCID (absent when the order failed)."""

    iccid: IccidText | None = None


class ConfirmOrderRequest(Es2Request):
    """Confirm a reserved profile; with ``releaseFlag`` it is also released for download."""

    iccid: IccidText
    eid: EidText | None = None
    matchingId: str | None = None
    confirmationCode: str | None = None
    smdsAddress: str | None = None
    releaseFlag: bool


class ConfirmOrderResponse(Es2Response):
    """What the operator turns into an activation code: the matching ID and SM-DP+ address."""

    eid: EidText | None = None
    matchingId: str | None = None
    smdpAddress: str | None = None


class CancelOrderRequest(Es2Request):
    """Give up an order; the profile goes back to the inventory or is retired."""

    iccid: IccidText
    eid: EidText | None = None
    matchingId: str | None = None
    finalProfileStatusIndicator: Literal["Available", "Unavailable"]


class ReleaseProfileRequest(Es2Request):
    """Let a confirmed profile be downloaded."""

    iccid: IccidText


class HandleDownloadProgressInfoRequest(Es2Request):
    """The SM-DP+ tells the operator how a download went (answered 204, no body).

    ``notificationPointId`` is a :class:`NotificationPoint`: SGP.22's 1-4, or famsim's
    private 101-103 (enabled, disabled, deleted on the device), which only famsim's own
    SM-DP+ sends and which a receiver should be ready to ignore.
    """

    eid: EidText | None = None
    iccid: IccidText
    profileType: NonEmpty
    timestamp: Timestamp
    notificationPointId: NotificationPoint
    notificationPointStatus: FunctionExecutionStatus
    resultData: str | None = None


# ---------------------------------------------------------------------------- helpers


def success_header() -> ResponseHeader:
    """The header of a function that worked: ``{"functionExecutionStatus":{"status":...}}``."""
    return ResponseHeader(
        functionExecutionStatus=FunctionExecutionStatus(status="Executed-Success")
    )


def _status_header(
    status: Status, code: StatusCode, message: str, subject_identifier: str | None
) -> ResponseHeader:
    data = StatusCodeData(
        subjectCode=code.subject_code,
        reasonCode=code.reason_code,
        subjectIdentifier=subject_identifier,
        message=message,
    )
    return ResponseHeader(
        functionExecutionStatus=FunctionExecutionStatus(status=status, statusCodeData=data)
    )


def failure_header(
    status: StatusCode, message: str, subject_identifier: str | None = None
) -> ResponseHeader:
    """The header of a refused function, with the spec's codes for *status*."""
    return _status_header("Failed", status, message, subject_identifier)


def expired_header(
    status: StatusCode = ORDER_EXPIRED,
    message: str | None = None,
    subject_identifier: str | None = None,
) -> ResponseHeader:
    """The header of a function not executed because its order's time ran out.

    The codes default to the order-expired status; the message to that status's meaning.
    """
    return _status_header("Expired", status, message or status.meaning, subject_identifier)


def progress_request(
    notification: ProgressNotification, *, function_call_id: str, requester: str
) -> HandleDownloadProgressInfoRequest:
    """The HandleDownloadProgressInfo request for one of the domain's progress reports.

    *requester* is the SM-DP+'s address (``functionRequesterIdentifier``); a failure's
    status code and message go in ``notificationPointStatus.statusCodeData``.
    """
    if notification.success:
        outcome = FunctionExecutionStatus(status="Executed-Success")
    else:
        data = None
        if notification.status is not None:
            data = StatusCodeData(
                subjectCode=notification.status.subject_code,
                reasonCode=notification.status.reason_code,
                message=notification.message or notification.status.meaning,
            )
        outcome = FunctionExecutionStatus(status="Failed", statusCodeData=data)
    return HandleDownloadProgressInfoRequest(
        header=RequestHeader(
            functionRequesterIdentifier=requester, functionCallIdentifier=function_call_id
        ),
        eid=str(notification.eid) if notification.eid else None,
        iccid=str(notification.iccid),
        profileType=notification.profile_type,
        timestamp=notification.at,
        notificationPointId=notification.point,
        notificationPointStatus=outcome,
    )


def dump_json(model: Es2Message) -> dict[str, Any]:
    """*model* as the JSON object :func:`dump` writes (for a JSON column), no ``null``s."""
    data: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


def dump(model: Es2Message) -> bytes:
    """The JSON body of *model*: spec key names, no ``null`` values (absent means absent)."""
    return model.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8")


M = TypeVar("M", bound=Es2Message)


def parse(model_type: type[M], body: bytes | str) -> M:
    """Read a JSON body as *model_type*, or raise :class:`Es2MessageError` naming the field."""
    try:
        return model_type.model_validate_json(body)
    except ValidationError as exc:
        raise _first_problem(exc) from None


def _first_problem(exc: ValidationError) -> Es2MessageError:
    """One error for the first problem: ``iccid: ICCID checksum check failed: ...``."""
    error: Any = exc.errors(include_url=False, include_input=False)[0]
    path = ".".join(
        f"[{step}]" if isinstance(step, int) else str(step) for step in error["loc"]
    ).replace(".[", "[")
    reason = str(error["msg"]).removeprefix("Value error, ")
    if "path" in error.get("ctx", {}):
        path = ".".join(filter(None, (path, error["ctx"]["path"])))  # a check across fields
    elif not path:
        path = "body"  # not JSON, or not a JSON object
    elif error["type"] == "missing":
        reason = "required, missing"
    return Es2MessageError(path, reason, more=exc.error_count() - 1)
