"""What every family page needs: its charts in the visitor's language and formats."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from famsim.domain.access import Principal
from famsim.domain.plan import DeviceKind
from famsim.entrypoints.web import charts, render
from famsim.entrypoints.web.format import Formatter
from famsim.entrypoints.web.invoice_text import RESOURCE_NAMES
from famsim.entrypoints.web.render import Text, svg
from famsim.service.esim import Device

DEVICE_KINDS = tuple(kind.value for kind in DeviceKind)


def manages(viewer: Principal, family: dict[str, Any]) -> bool:
    """Whether the visitor manages the family (its owner, or operator staff) — what to
    offer on a page; the service layer checks again on every change."""
    return viewer.is_staff or any(
        m["id"] == viewer.member_id and m["role"] == "owner" for m in family["members"]
    )


def flash(request: Request, messages: dict[str, str]) -> str | None:
    """The message for ``?done=<what>`` after a change redirected here."""
    return messages.get(request.query_params.get("done", ""))


def device(kind: str, eid: str, imei: str) -> Device:
    """The device a form describes (the EID and IMEI are checked by the eSIM service)."""
    chosen = DeviceKind(kind) if kind in DEVICE_KINDS else DeviceKind.PHONE
    return Device(chosen, eid.strip() or None, imei.strip() or None)


def family_page(
    request: Request,
    template: str,
    family: dict[str, Any],
    context: dict[str, Any],
    status: int = 200,
) -> HTMLResponse:
    """A page about *family*, in its time zone."""
    values = {"family": family, "family_id": family["id"]} | context
    return render.page(request, template, values, status_code=status, time_zone=family["time_zone"])


def drawing(family: dict[str, Any], text: Text, fmt: Formatter) -> dict[str, Any]:
    """Template functions that draw a pool's gauge and its cycle chart."""

    def pool_name(pool: dict[str, Any]) -> str:
        zone = text("home") if pool["zone"] == "home" else pool["zone"]
        return f"{text(RESOURCE_NAMES.get(pool['resource'], pool['resource']))} · {zone}"

    def gauge(pool: dict[str, Any]) -> Any:
        resource = pool["resource"]
        used = fmt.amount(resource, pool["used"])
        total = fmt.amount(resource, pool["total"])
        label = text(
            "%(pool)s: %(used)s used of %(total)s", pool=pool_name(pool), used=used, total=total
        )
        caption = fmt.percent(pool["used"], pool["total"]) if pool["total"] else used
        return svg(
            charts.gauge(
                pool["used"], pool["reserved"], pool["total"], label=label, caption=caption
            )
        )

    def cycle_chart(pool: dict[str, Any]) -> Any:
        start = date.fromisoformat(family["cycle"]["start"])
        end = date.fromisoformat(family["cycle"]["end"])
        forecast = pool.get("forecast")
        series = charts.CycleSeries(
            start=start,
            end=end,
            points=[(date.fromisoformat(day), units) for day, units in pool.get("series", [])],
            total=pool["total"],
            projected=forecast["projected"] if forecast else None,
        )
        middle = start + (end - start) / 2
        label = text(
            "%(pool)s over the cycle: %(used)s used so far of %(total)s",
            pool=pool_name(pool),
            used=fmt.amount(pool["resource"], pool["used"]),
            total=fmt.amount(pool["resource"], pool["total"]),
        )
        return svg(
            charts.cycle_chart(
                series,
                label=label,
                axis=[fmt.day(start), fmt.day(middle), fmt.day(end)],
                limit_text=fmt.amount(pool["resource"], pool["total"]),
            )
        )

    return {
        "gauge": gauge,
        "cycle_chart": cycle_chart,
        "member_names": {m["id"]: m["name"] for m in family["members"]},
    }
