"""An invoice's lines in words, in the reader's language: one wording for the invoice
page and its PDF."""

from __future__ import annotations

from typing import Any

from famsim.entrypoints.web.format import Formatter
from famsim.entrypoints.web.render import Text

RESOURCE_NAMES = {"data": "Data", "voice": "Voice", "sms": "SMS"}
"""Resources by name, as msgids (the templates' macros carry the same texts)."""
_DEVICES = {"phone": "Phone", "watch": "Watch", "tablet": "Tablet", "other": "Other device"}


def line_label(line: dict[str, Any], text: Text, fmt: Formatter) -> str:
    """What an invoice line is for (``line`` as in ``invoice_summary``)."""
    detail = line["detail"]
    kind = line["kind"]
    if kind == "plan_fee":
        return text("Plan fee")
    if kind == "management_fee":
        return text("Management fee")
    if kind == "line_fee":
        device = text(_DEVICES.get(detail["device"], detail["device"]))
        label = text("Line %(number)s (%(device)s)", number=detail["msisdn"], device=device)
        if detail["days"] != detail["of_days"]:
            label += " · " + text(
                "%(days)s of %(of)s days", days=detail["days"], of=detail["of_days"]
            )
        return label
    if kind in ("overage", "roaming"):
        zone = text("home") if detail["zone"] == "home" else detail["zone"]
        what = f"{text(RESOURCE_NAMES.get(detail['resource'], detail['resource']))} · {zone}"
        label = (
            text("Overage: %(what)s", what=what)
            if kind == "overage"
            else text("Roaming: %(what)s", what=what)
        )
        return f"{label} ({fmt.amount(detail['resource'], detail['units'])})"
    if kind == "cap_credit":
        return text("Money cap credit")
    if kind == "tax":
        return text("Tax %(rate)s", rate=fmt.percent(int(detail["basis_points"]), 10_000))
    return str(kind)
