"""Schemathesis against the API's own OpenAPI document: generated requests (valid and
not) to every operation, as an operator key with every scope and as the family owner.
No answer may be a server error, an undocumented status or content type, or a body that
breaks the schema.

The schema has to exist when tests are collected, so the famsim behind it is built at
import, in a temporary directory removed at the end of the module.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from api_world import PASSWORD, build
from famsim.domain.accounts import SessionKind
from famsim.entrypoints.http.app import create_api

pytestmark = pytest.mark.e2e

_DIR = Path(tempfile.mkdtemp(prefix="famsim-schema-"))
WORLD = build(_DIR)
APP = create_api(WORLD.app)
schema = schemathesis.openapi.from_asgi("/v1/openapi.json", APP)
EXAMPLES = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
# Every check but "a schema-valid request must be accepted": a schema cannot say that an
# IMSI's country code must exist or that a hard cap may not be below its quota, and those
# are refused with 400 problems (documented) by design.
EXCLUDED = [positive_data_acceptance]


def _owner_token() -> str:
    issued = WORLD.app.accounts().login(WORLD.login("owner"), PASSWORD, kind=SessionKind.BEARER)
    return issued.token


OWNER = _owner_token()


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    WORLD.app.close()
    shutil.rmtree(_DIR, ignore_errors=True)


@schema.parametrize()
@EXAMPLES
def test_api_as_an_operator_key(case: Any) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {WORLD.keys['all']}"}, excluded_checks=EXCLUDED
    )


@schema.parametrize()
@EXAMPLES
def test_api_as_the_family_owner(case: Any) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {OWNER}"}, excluded_checks=EXCLUDED)
