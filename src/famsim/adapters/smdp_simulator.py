# ruff: noqa: N815  (camelCase JSON keys, like the ES2+ bodies beside them)
"""The simulated device's side of the built-in SM-DP+ over HTTP (not ES2+, not SGP.22).

``POST /simulator/device/{download,install,reject,fail,enable,disable,delete}`` with a
JSON body lets a test, a demo or a person play the phone: download with an activation
code (as scanned or typed, it must name this SM-DP+) or a matching ID, install, reject,
fail, and once installed enable, disable, delete. Each step that works answers 200
``{"iccid", "state"}`` and leaves a HandleDownloadProgressInfo notification in the outbox.
A refusal answers 409 (404 for an unknown profile) with the ES2+ status code the
notification carries: ``{"subjectCode", "reasonCode", "message"}``; a body that is not
JSON or misses a field answers 400 with a message naming it. Never a 500 for bad input.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import model_validator
from pydantic_core import PydanticCustomError
from starlette.concurrency import run_in_threadpool

from famsim.adapters.es2plus.messages import Es2Message, parse
from famsim.domain.errors import InvalidInput
from famsim.domain.esim.activation_code import ActivationCode
from famsim.domain.esim.profile_state import InvalidStateTransition
from famsim.domain.esim.smdp import SmdpInventory, SmdpProfile, SmdpRefusal
from famsim.domain.esim.status import PROFILE_UNKNOWN, StatusCode
from famsim.domain.identifiers import Eid, Iccid
from famsim.service.smdp import SmdpService

PREFIX = "/simulator/device/"


class DownloadBody(Es2Message):
    """The device downloads: an activation code or a matching ID, and its EID."""

    activationCode: str | None = None
    matchingId: str | None = None
    eid: str
    confirmationCode: str | None = None

    @model_validator(mode="after")
    def _one_reference(self) -> DownloadBody:
        if (self.activationCode is None) == (self.matchingId is None):
            raise PydanticCustomError(
                "activation_code_or_matching_id",
                "give exactly one of activationCode and matchingId",
                {"path": "activationCode"},
            )
        return self


class ProfileBody(Es2Message):
    """A step on one profile, by ICCID."""

    iccid: str


class RejectBody(Es2Message):
    """The end user declines a profile, named by ICCID or matching ID."""

    iccid: str | None = None
    matchingId: str | None = None

    @model_validator(mode="after")
    def _one_reference(self) -> RejectBody:
        if (self.iccid is None) == (self.matchingId is None):
            raise PydanticCustomError(
                "iccid_or_matching_id",
                "give exactly one of iccid and matchingId",
                {"path": "iccid"},
            )
        return self


Step = Callable[[SmdpInventory, datetime], SmdpProfile]


def add_device_routes(app: FastAPI, service: SmdpService) -> None:
    """Serve the simulated device's steps on *app*, run on *service*'s inventory."""

    def route(name: str, step: Callable[[bytes], Step]) -> None:
        async def endpoint(request: Request) -> Response:
            try:
                call = step(await request.body())
                profile = await run_in_threadpool(service.run, call)
            except (SmdpRefusal, InvalidStateTransition) as exc:
                return _refused(exc.status, str(exc))
            except InvalidInput as exc:  # a body that is not the step's JSON, a bad EID
                return JSONResponse({"message": str(exc)}, status_code=400)
            return JSONResponse({"iccid": str(profile.iccid), "state": profile.state.value})

        app.add_api_route(PREFIX + name, endpoint, methods=["POST"], name=f"device-{name}")

    route("download", _download)
    route("install", partial(_by_iccid, "install"))
    route("fail", partial(_by_iccid, "fail"))
    route("enable", partial(_by_iccid, "enable"))
    route("disable", partial(_by_iccid, "disable"))
    route("delete", partial(_by_iccid, "delete"))
    route("reject", _reject)


def _download(raw: bytes) -> Step:
    body = parse(DownloadBody, raw)
    eid = Eid.parse(body.eid)
    code = body.confirmationCode
    if body.activationCode is not None:
        activation_code = ActivationCode.parse(body.activationCode)
        return lambda inventory, now: inventory.download_code(
            now=now, activation_code=activation_code, eid=eid, confirmation_code=code
        )
    matching_id = body.matchingId or ""
    return lambda inventory, now: inventory.download(
        now=now, matching_id=matching_id, eid=eid, confirmation_code=code
    )


def _by_iccid(step: str, raw: bytes) -> Step:
    iccid = Iccid.parse(parse(ProfileBody, raw).iccid)

    def call(inventory: SmdpInventory, now: datetime) -> SmdpProfile:
        method: Callable[..., SmdpProfile] = getattr(inventory, step)
        return method(now=now, iccid=iccid)

    return call


def _reject(raw: bytes) -> Step:
    body = parse(RejectBody, raw)
    iccid = Iccid.parse(body.iccid) if body.iccid is not None else None
    matching_id = body.matchingId
    return lambda inventory, now: inventory.reject(now=now, iccid=iccid, matching_id=matching_id)


def _refused(status: StatusCode, message: str) -> Response:
    code = 404 if status == PROFILE_UNKNOWN else 409
    return JSONResponse(
        {"subjectCode": status.subject_code, "reasonCode": status.reason_code, "message": message},
        status_code=code,
    )
