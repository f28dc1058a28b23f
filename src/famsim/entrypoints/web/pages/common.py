"""What every family page needs: its charts in the visitor's language and formats."""

from __future__ import annotations

from datetime import date
from typing import Any

from famsim.entrypoints.web import charts
from famsim.entrypoints.web.format import Formatter
from famsim.entrypoints.web.render import Text, svg

RESOURCE_NAMES = {"data": "Data", "voice": "Voice", "sms": "SMS"}


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
