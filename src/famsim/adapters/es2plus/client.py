"""famsim's ES2+ client: the operator's side of SGP.22 5.3, over httpx.

Every call carries the spec's header and a fresh ``functionCallIdentifier``; a retry of
the same call reuses it, so an SM-DP+ that remembers identifiers can tell a retry from a
new order. Only calls that name their profile by ICCID are retried after a transport
failure: repeating a DownloadOrder by profile type could reserve a second profile. A
``Failed`` (or ``Expired``) answer becomes :class:`Es2Failure` carrying the spec's
subject and reason codes; a transport problem or a non-ES2+ answer becomes
:class:`Es2TransportError`. Mutual TLS is a certificate and key away (``cert``); plain
HTTP is refused except on loopback, where the built-in SM-DP+ runs.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from typing import TypeVar

import httpx

from famsim.adapters.es2plus.messages import (
    ADMIN_PROTOCOL,
    ADMIN_PROTOCOL_HEADER,
    PATHS,
    CancelOrderRequest,
    ConfirmOrderRequest,
    ConfirmOrderResponse,
    DownloadOrderRequest,
    DownloadOrderResponse,
    Es2MessageError,
    Es2Request,
    Es2Response,
    ReleaseProfileRequest,
    RequestHeader,
    dump,
    parse,
    to_eid,
    to_iccid,
)
from famsim.domain.errors import InvalidInput
from famsim.domain.esim.smdp import FinalStatus
from famsim.domain.esim.status import StatusCode
from famsim.domain.identifiers import Eid, Iccid
from famsim.service.ports import ConfirmedOrder, SmdpRefused, SmdpUnreachable

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_RETRIES = 2
R = TypeVar("R", bound=Es2Response)


class Es2Failure(SmdpRefused):
    """The SM-DP+ ran the function and says it failed (or the order expired)."""

    def __init__(self, function: str, status: str, code: StatusCode, message: str) -> None:
        self.execution_status = status
        self.code = code
        super().__init__(
            function,
            code,
            f"ES2+ {function} {status.lower()}: {code.subject_code}/"
            f"{code.reason_code} {message}".rstrip(),
        )

    def is_(self, code: StatusCode) -> bool:
        """Whether the failure carries *code* (subject and reason)."""
        return (self.code.subject_code, self.code.reason_code) == (
            code.subject_code,
            code.reason_code,
        )


class Es2TransportError(SmdpUnreachable):
    """No ES2+ answer: the SM-DP+ was unreachable, timed out or answered something else."""


@dataclass(frozen=True, slots=True)
class Confirmed(ConfirmedOrder):
    """ConfirmOrder's answer: the matching ID, and the EID and address when given."""

    eid: Eid | None = None


class Es2Client:
    def __init__(
        self,
        base_url: str,
        *,
        requester: str,
        smdp_address: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        cert: tuple[str, str] | None = None,
        verify: str | bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        url = httpx.URL(base_url)
        if url.scheme == "http" and not _loopback(url.host):
            raise InvalidInput(
                f"SM-DP+ URL {base_url!r}: ES2+ runs over HTTPS with mutual TLS; plain HTTP "
                "is only for an SM-DP+ on this machine (loopback)"
            )
        if url.scheme not in ("http", "https"):
            raise InvalidInput(f"SM-DP+ URL {base_url!r}: expected https://...")
        if retries < 0:
            raise InvalidInput("retries cannot be negative")
        self._requester = requester
        self._smdp_address = smdp_address or url.host
        self._retries = retries
        self._http = httpx.Client(
            base_url=base_url,
            timeout=timeout_s,
            cert=cert,
            verify=verify,
            transport=transport,
            headers={ADMIN_PROTOCOL_HEADER: ADMIN_PROTOCOL, "Content-Type": "application/json"},
        )

    @property
    def smdp_address(self) -> str:
        """The address activation codes carry when ConfirmOrder does not name one."""
        return self._smdp_address

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Es2Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the functions
    def download_order(
        self,
        *,
        eid: Eid | None = None,
        iccid: Iccid | None = None,
        profile_type: str | None = None,
    ) -> Iccid:
        request = DownloadOrderRequest(
            header=self._header(),
            eid=str(eid) if eid else None,
            iccid=str(iccid) if iccid else None,
            profileType=profile_type,
        )
        answer = self._call("downloadOrder", request, DownloadOrderResponse, safe=iccid is not None)
        if answer.iccid is None:
            raise Es2TransportError("ES2+ downloadOrder succeeded without an ICCID")
        return to_iccid(answer.iccid)

    def confirm_order(
        self,
        *,
        iccid: Iccid,
        release: bool,
        eid: Eid | None = None,
        matching_id: str | None = None,
        confirmation_code: str | None = None,
        smds_address: str | None = None,
    ) -> Confirmed:
        request = ConfirmOrderRequest(
            header=self._header(),
            iccid=str(iccid),
            eid=str(eid) if eid else None,
            matchingId=matching_id,
            confirmationCode=confirmation_code,
            smdsAddress=smds_address,
            releaseFlag=release,
        )
        answer = self._call("confirmOrder", request, ConfirmOrderResponse, safe=True)
        if not answer.matchingId:
            raise Es2TransportError("ES2+ confirmOrder succeeded without a matching ID")
        return Confirmed(
            matching_id=answer.matchingId,
            smdp_address=answer.smdpAddress,
            eid=to_eid(answer.eid) if answer.eid else None,
        )

    def cancel_order(
        self,
        *,
        iccid: Iccid,
        final: FinalStatus,
        eid: Eid | None = None,
        matching_id: str | None = None,
    ) -> None:
        request = CancelOrderRequest(
            header=self._header(),
            iccid=str(iccid),
            eid=str(eid) if eid else None,
            matchingId=matching_id,
            finalProfileStatusIndicator=final.value,
        )
        self._call("cancelOrder", request, Es2Response, safe=True)

    def release_profile(self, *, iccid: Iccid) -> None:
        request = ReleaseProfileRequest(header=self._header(), iccid=str(iccid))
        self._call("releaseProfile", request, Es2Response, safe=True)

    # ------------------------------------------------------------------ plumbing
    def _header(self) -> RequestHeader:
        return RequestHeader(
            functionRequesterIdentifier=self._requester,
            functionCallIdentifier=uuid.uuid4().hex,
        )

    def _call(self, function: str, request: Es2Request, answer: type[R], *, safe: bool) -> R:
        body = dump(request)
        attempts = 1 + (self._retries if safe else 0)
        last: Exception | None = None
        for _ in range(attempts):
            try:
                response = self._http.post(PATHS[function], content=body)
            except httpx.TransportError as exc:  # the same call (same identifier) again
                last = exc
                continue
            return _read(function, response, answer)
        raise Es2TransportError(
            f"ES2+ {function}: no answer from the SM-DP+ after {attempts} attempt(s): {last}"
        )


def _read(function: str, response: httpx.Response, answer: type[R]) -> R:
    if response.status_code != 200:
        detail = response.text[:200].strip()
        raise Es2TransportError(
            f"ES2+ {function}: HTTP {response.status_code} from the SM-DP+"
            + (f": {detail}" if detail else "")
        )
    try:
        outcome = parse(Es2Response, response.content)
        if not outcome.header.succeeded:
            execution = outcome.header.functionExecutionStatus
            data = execution.statusCodeData
            code = StatusCode(
                data.subjectCode if data else "?", data.reasonCode if data else "?", ""
            )
            raise Es2Failure(function, execution.status, code, (data.message or "") if data else "")
        return parse(answer, response.content)
    except Es2MessageError as exc:
        raise Es2TransportError(
            f"ES2+ {function}: the SM-DP+'s answer is not ES2+: {exc}"
        ) from None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
