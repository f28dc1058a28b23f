"""The allocation editor's form: what the owner typed, read field by field.

Every field is read before anything is refused, so the page shows each mistake next to
its own field at once (not one per submit). Amounts are read with the same parser as
the command line and the catalog (``"3GB"``, ``"300min"``, ``"50"``), money in the
family's currency; nothing is rounded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from famsim.domain.allocation import Allocation, ExhaustionAction, Limit
from famsim.domain.errors import FamsimError
from famsim.domain.money import Money
from famsim.domain.units import Resource, Zone, parse_amount
from famsim.entrypoints.web.format import editable
from famsim.entrypoints.web.render import Text
from famsim.service.commands import SetAllocation

_DIGITS = re.compile(r"[0-9]+")
EXHAUSTION_ACTIONS = tuple(action.value for action in ExhaustionAction)


def field_id(kind: str, resource: Resource | str, zone: str) -> str:
    return f"{kind}-{Resource(resource).value}-{zone}"


def values_of(allocation: Allocation, pools: list[tuple[Resource, Zone]]) -> dict[str, str]:
    """The form's fields filled from the allocation as it stands."""
    values: dict[str, str] = {}
    for resource, zone in pools:
        limit = allocation.limits.get((resource, zone), Limit())
        values[field_id("quota", resource, zone)] = editable(resource, limit.quota)
        values[field_id("cap", resource, zone)] = editable(resource, limit.hard_cap)
    values["hotspot-quota"] = editable(Resource.DATA, allocation.hotspot_quota)
    values["money-cap"] = (
        allocation.money_cap.amount_text() if allocation.money_cap is not None else ""
    )
    values["exhaustion"] = allocation.exhaustion.value
    values["redirect-url"] = allocation.redirect_url or ""
    values["roaming"] = "on" if allocation.roaming_allowed else ""
    values["always-allowed"] = "\n".join(sorted(allocation.always_allowed))
    values["quiet-hours"] = "\n".join(str(window) for window in allocation.quiet_hours)
    return values


@dataclass
class AllocationForm:
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    command: SetAllocation | None = None
    money_cap_minor: int | None = None


def read(
    form: Mapping[str, Any],
    *,
    family_id: str,
    member_id: str,
    pools: list[tuple[Resource, Zone]],
    currency: str,
    text: Text,
) -> AllocationForm:
    """The form read into a command, or the errors by field id."""
    values = {key: str(value).strip() for key, value in form.items()}
    result = AllocationForm(values)
    limits: dict[tuple[Resource, Zone], Limit] = {}
    for resource, zone in pools:
        quota = _amount(result, field_id("quota", resource, zone), resource, text)
        cap = _amount(result, field_id("cap", resource, zone), resource, text)
        if quota is not None and cap is not None and cap < quota:
            result.errors[field_id("cap", resource, zone)] = text(
                "The hard cap cannot be below the quota."
            )
        elif quota is not None or cap is not None:
            limits[(resource, zone)] = Limit(quota, cap)
    hotspot = _amount(result, "hotspot-quota", Resource.DATA, text)
    money_cap = None
    if values.get("money-cap"):
        try:
            money_cap = Money.parse(values["money-cap"], currency)
        except FamsimError:
            result.errors["money-cap"] = text(
                "Type an amount in %(currency)s, like 50.00 (or leave it empty).",
                currency=currency,
            )
    exhaustion = values.get("exhaustion", "block")
    if exhaustion not in EXHAUSTION_ACTIONS:
        result.errors["exhaustion"] = text("Choose what happens when the limit is reached.")
        exhaustion = "block"
    redirect = values.get("redirect-url") or None
    if exhaustion == "redirect" and not redirect:
        result.errors["redirect-url"] = text("A redirect needs the address of a page.")
    if result.errors:
        return result
    result.command = SetAllocation(
        family_id=family_id,
        member_id=member_id,
        limits=limits,
        hotspot_quota=hotspot,
        exhaustion=ExhaustionAction(exhaustion),
        redirect_url=redirect if exhaustion == "redirect" else None,
        roaming_allowed=values.get("roaming") == "on",
        always_allowed=tuple(_lines(values.get("always-allowed", ""))),
        quiet_hours=tuple(_lines(values.get("quiet-hours", ""))),
    )
    result.money_cap_minor = money_cap.minor if money_cap is not None else None
    return result


def _amount(result: AllocationForm, name: str, resource: Resource, text: Text) -> int | None:
    typed = result.values.get(name, "")
    if not typed:
        return None
    try:
        # Plain ASCII digits only: str.isdigit() would take "²" too, which int() refuses.
        return parse_amount(resource, int(typed) if _DIGITS.fullmatch(typed) else typed)
    except FamsimError:
        example = {Resource.DATA: "3GB", Resource.VOICE: "300min", Resource.SMS: "100"}[resource]
        result.errors[name] = text(
            "“%(typed)s” is not an amount: type a number and a unit, like %(example)s.",
            typed=typed,
            example=example,
        )
        return None


def _lines(block: str) -> list[str]:
    return [line.strip() for line in block.replace(",", "\n").splitlines() if line.strip()]
