"""The operator's plan catalog (every signed-in caller may read it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from famsim.domain.errors import NotFound
from famsim.entrypoints.http.deps import Caller, Svc
from famsim.entrypoints.http.problems import PROBLEM_RESPONSES
from famsim.service import views

router = APIRouter(prefix="/v1/plans", tags=["plans"], responses=PROBLEM_RESPONSES)


@router.get("", summary="Every plan of the catalog")
def list_plans(caller: Caller, svc: Svc) -> list[dict[str, Any]]:
    plans: list[dict[str, Any]] = views.list_plans(svc.famsim.uow())
    return plans


@router.get("/{code}", summary="One plan")
def get_plan(
    code: Annotated[str, Path(min_length=1, max_length=64)], caller: Caller, svc: Svc
) -> dict[str, Any]:
    for plan in views.list_plans(svc.famsim.uow()):
        if plan["code"] == code:
            found: dict[str, Any] = plan
            return found
    raise NotFound(f"no plan {code!r} in the catalog")
