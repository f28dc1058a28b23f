"""Rendering for people (rich tables) and scripts (JSON), from the service's views."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from famsim.domain.units import Resource, format_amount

console = Console()


def print_json(data: Any) -> None:
    # Plain print, not rich: scripts need exact JSON, never wrapped or coloured.
    print(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True))


def _amount(resource: str, amount: int | None) -> str:
    return format_amount(Resource(resource), amount)


def _money(value: dict[str, Any] | None) -> str:
    return value["text"] if value else "-"


def plans_table(plans: list[dict[str, Any]]) -> None:
    table = Table(title="Plans", title_justify="left")
    table.add_column("code", no_wrap=True)  # what --plan takes: never cut it
    for column in ("name", "monthly", "allowances", "zones", "members", "lines"):
        table.add_column(column)
    for plan in plans:
        allowances = "\n".join(
            f"{a['zone']}: {a['resource']} {_amount(a['resource'], a['amount'])}"
            for a in plan["allowances"]
        )
        zones = "\n".join(f"{name}: {' '.join(mccs)}" for name, mccs in plan["zones"].items())
        table.add_row(
            plan["code"],
            plan["name"],
            _money(plan["monthly_fee"]),
            allowances,
            zones,
            str(plan["max_members"]),
            str(plan["max_lines"]),
        )
    console.print(table)


def families_table(families: list[dict[str, Any]]) -> None:
    table = Table(title="Families", title_justify="left")
    table.add_column("id", no_wrap=True, min_width=32)
    for column in ("name", "plan", "owner", "members", "lines", "since"):
        table.add_column(column)
    for f in families:
        table.add_row(
            f["id"],
            f["name"],
            f["plan"],
            f["owner"],
            str(f["members"]),
            str(f["lines"]),
            f["created_on"],
        )
    console.print(table)
    if not families:
        console.print("No families yet: create one with `famsim family create`.")


def family_detail(family: dict[str, Any]) -> None:
    cycle = family["cycle"]
    pending = f" (moving to {family['pending_plan']} next cycle)" if family["pending_plan"] else ""
    console.print(f"[bold]{family['name']}[/bold]  id {family['id']}")
    console.print(
        f"plan {family['plan']}{pending}; cycle {cycle['number']}: {cycle['start']} to "
        f"{cycle['end']}; family money cap {_money(family['money_cap'])}"
        + ("; oversubscription allowed" if family["oversubscription_allowed"] else "")
        + f"; time zone {family['time_zone']}",
        markup=False,
    )
    names = {m["id"]: m["name"] for m in family["members"]}

    members = Table(title="Members", title_justify="left")
    columns = ("name", "role", "guardian", "status", "limits", "hotspot", "money cap", "roam")
    for column in (*columns, "at limit"):
        members.add_column(column)
    for m in family["members"]:
        allocation = m["allocation"]
        limits = "\n".join(
            f"{lim['resource']}/{lim['zone']}: quota {_amount(lim['resource'], lim['quota'])}"
            + (
                f", cap {_amount(lim['resource'], lim['hard_cap'])}"
                if lim["hard_cap"] is not None
                else ""
            )
            for lim in allocation["limits"]
        )
        hotspot = allocation["hotspot_quota"]
        members.add_row(
            m["name"],
            m["role"],
            names.get(m["guardian_id"], "-") if m["guardian_id"] else "-",
            m["status"],
            limits or "shares the pool",
            "plan rule" if hotspot is None else _amount("data", hotspot),
            _money(allocation["money_cap"]),
            "yes" if allocation["roaming_allowed"] else "no",
            allocation["exhaustion"],
        )
    console.print(members)
    _safety_table(family)

    lines = Table(title="Lines", title_justify="left")
    for column in ("number", "member", "devices", "status"):
        lines.add_column(column)
    for line in family["lines"]:
        devices = "\n".join(
            f"{'*' if s['primary'] else '+'} {s['device_kind']} {s['sim_type']} ICCID {s['iccid']}"
            for s in line["subscriptions"]
        )
        status = line["status"] + (
            f" ({line['suspended_reason']})" if line["suspended_reason"] else ""
        )
        kind = " (data only)" if line["data_only"] else ""
        lines.add_row(line["display"] + kind, line["member"], devices, status)
    console.print(lines)

    pools = Table(title="Pools this cycle", title_justify="left")
    for column in ("resource", "zone", "total", "used", "reserved"):
        pools.add_column(column)
    for p in cycle["pools"]:
        r = p["resource"]
        pools.add_row(
            r, p["zone"], _amount(r, p["total"]), _amount(r, p["used"]), _amount(r, p["reserved"])
        )
    console.print(pools)


def _safety_table(family: dict[str, Any]) -> None:
    """Always-allowed numbers and quiet hours of the active members.

    The owner's own list is shown apart from what applies anyway (the plan's emergency
    numbers and, for a child, the guardian's lines), so it is clear what can be removed.
    """
    table = Table(
        title=f"Always allowed and quiet hours (times in {family['time_zone']})",
        title_justify="left",
    )
    for column in ("name", "always allowed", "also always allowed", "quiet hours"):
        table.add_column(column)
    for m in family["members"]:
        if m["status"] != "active":
            continue
        allocation = m["allocation"]
        own = allocation["always_allowed"]
        derived = [n for n in m.get("always_allowed_all") or [] if n not in own]
        table.add_row(
            m["name"],
            "\n".join(own) or "-",
            " ".join(derived) or "-",
            "\n".join(allocation["quiet_hours"]) or "-",
        )
    console.print(table)


def smdp_inventory(rows: list[dict[str, Any]]) -> None:
    table = Table(title="SM-DP+ inventory", title_justify="left")
    for column in ("profile type", "state", "profiles"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["profile_type"], row["state"], str(row["profiles"]))
    console.print(table)
    if not rows:
        console.print("No profiles yet: add some with `famsim smdp stock`.")


def ordered(data: dict[str, Any]) -> None:
    """A new order: the number and ICCID, then the activation code and, apart, the
    confirmation code (they travel separately so a photographed QR is not enough)."""
    console.print(f"[bold]{data['number']}[/bold]  SIM {data['iccid']}  ({data['state']})")
    if data["activation_code"]:
        console.print(f"activation code: LPA:{data['activation_code']}")
        if data["qr"]:
            console.print(f"QR code written to {data['qr']}")
        if data["confirmation_code"]:
            console.print(
                f"confirmation code: [bold]{data['confirmation_code']}[/bold] "
                "(give it to the user separately from the QR code)"
            )
        console.print(f"download before {data['expires_at']}")


def esim_table(rows: list[dict[str, Any]]) -> None:
    table = Table(title="SIMs")
    for column in ("number", "member", "device", "ICCID", "type", "state", "since"):
        table.add_column(column, no_wrap=column in ("number", "ICCID", "state"))
    for r in rows:
        device = r["device_kind"] + (" (primary)" if r["primary"] else "")
        if r["replaces"]:
            device += " (new device)"
        table.add_row(
            r["number"] + ("" if r["line"] == "active" else f" [{r['line']}]"),
            r["member"],
            device,
            r["iccid"],
            r["profile_type"] or r["sim_type"],
            r["state"],
            (r["state_changed_at"] or "")[:10],
        )
    console.print(table)
    if not rows:
        console.print("No SIMs yet: order one with `famsim esim order`.")


def esim_history(history: list[dict[str, Any]]) -> None:
    table = Table(title="History")
    for column in ("at", "by", "what", "detail"):
        table.add_column(column)
    for e in history:
        detail = ", ".join(f"{k}={v}" for k, v in e["detail"].items() if v is not None)
        table.add_row(e["at"][:19], e["actor"], e["action"], detail)
    console.print(table)
