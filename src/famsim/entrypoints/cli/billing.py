"""``famsim billing``: close cycles into invoices, read them, credit them, set the split.

Closing is idempotent: run ``famsim billing close`` from cron as often as you like; a
cycle is invoiced once, the first time it is due (its end date has come in the family's
time zone), and the next cycle opens in the same transaction.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from famsim.domain.access import Scope
from famsim.domain.billing.split import BASIS_POINTS, SplitPolicy, SplitRule
from famsim.domain.errors import InvalidInput
from famsim.domain.ids import MemberId
from famsim.domain.money import Money
from famsim.domain.units import Resource, Zone, format_amount, parse_amount, zone
from famsim.entrypoints.cli import render
from famsim.entrypoints.cli.common import FamilyArg, JsonOption, family_id_of, opened
from famsim.service.billing import invoice_summary

billing_app = typer.Typer(
    help="Billing: close cycles into invoices, invoices, credit notes, bill splitting.",
    no_args_is_help=True,
)


def _instant(text: str | None) -> datetime | None:
    """``2026-12-01`` (the start of that day, UTC) or a full ISO time with a zone."""
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"--at {text!r}: expected a date (2026-12-01) or an ISO time") from None
    if len(text) <= 10:
        parsed = datetime.combine(parsed.date(), time(), UTC)
    if parsed.tzinfo is None:
        raise InvalidInput(f"--at {text!r}: give a time zone (e.g. +08:00 or Z)")
    return parsed


@billing_app.command("close")
def close(
    family: Annotated[
        str | None, typer.Option("--family", help="Only this family (id or exact name).")
    ] = None,
    at: Annotated[
        str | None, typer.Option(help="Close as of this date or time (default: now).")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Invoice every cycle that has ended (idempotent: a closed cycle is never re-rated)."""
    when = _instant(at)
    with opened() as famsim:
        billing = famsim.billing()
        if family is None:
            issued = billing.close_due(when)
        else:
            issued = billing.close(family_id_of(famsim, family), when)
    summaries = [invoice_summary(i) for i in issued]
    if json_out:
        render.print_json(summaries)
        return
    if not summaries:
        render.console.print("no cycle was due: nothing invoiced")
        return
    _invoices_table(summaries)


@billing_app.command("invoices")
def invoices(family: FamilyArg, json_out: JsonOption = False) -> None:
    """The family's invoices, oldest first."""
    with opened() as famsim:
        found = famsim.billing().invoices(family_id_of(famsim, family))
    summaries = [invoice_summary(i) for i in found]
    if json_out:
        render.print_json(summaries)
    elif summaries:
        _invoices_table(summaries)
    else:
        render.console.print("no invoices yet")


@billing_app.command("show")
def show(
    number: Annotated[str, typer.Argument(help="The invoice number, e.g. INV-2026-000001.")],
    json_out: JsonOption = False,
    pdf: Annotated[Path | None, typer.Option(help="Also write the invoice as a PDF here.")] = None,
    lang: Annotated[
        str, typer.Option(help="The PDF's language: en, zh-Hans, zh-Hant-HK, ru.")
    ] = "en",
) -> None:
    """One invoice: its lines, the members' shares and any credit notes."""
    with opened() as famsim:
        invoice, notes = famsim.billing().invoice(number)
    if pdf is not None:
        _write_pdf(invoice, notes, pdf, lang)
    data = invoice_summary(invoice) | {
        "credit_notes": [
            {
                "number": n.number,
                "minor": n.minor,
                "reason": n.reason,
                "issued_at": n.issued_at.isoformat(),
            }
            for n in notes
        ]
    }
    if json_out:
        render.print_json(data)
        return
    currency = data["currency"]
    period = data["period"]
    table = Table(title=f"{number}: cycle {data['cycle']}, {period['start']} to {period['end']}")
    for column in ("item", "member", "amount"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    for line in data["lines"]:
        table.add_row(_item(line), line["member"] or "family", _money(line["minor"], currency))
    table.add_row("total", "", _money(data["total_minor"], currency))
    render.console.print(table)
    shares = Table(title=f"shares ({data['split']})")
    shares.add_column("member")
    shares.add_column("pays", justify="right")
    for share in data["shares"]:
        shares.add_row(share["member"], _money(share["minor"], currency))
    render.console.print(shares)
    for note in data["credit_notes"]:
        render.console.print(
            f"credit note {note['number']}: -{_money(note['minor'], currency)} ({note['reason']})"
        )


@billing_app.command("credit")
def credit(
    number: Annotated[str, typer.Argument(help="The invoice to correct.")],
    amount: Annotated[str, typer.Argument(help="What to credit, in the invoice's currency: 12.50")],
    reason: Annotated[str, typer.Option(help="Why (kept on the credit note).")],
) -> None:
    """Issue a credit note against an invoice (a closed cycle is never re-rated)."""
    with opened() as famsim:
        billing = famsim.billing()
        invoice, _ = billing.invoice(number)
        minor = Money.parse(amount, invoice.currency).minor
        note = billing.credit(number, minor, reason)
    render.console.print(
        f"credit note {note.number}: {_money(note.minor, invoice.currency)} against {number}"
    )


@billing_app.command("split")
def set_split(
    family: FamilyArg,
    rule: Annotated[SplitRule, typer.Argument(help="owner_pays, equal, by_usage or custom.")],
    share: Annotated[
        list[str] | None,
        typer.Option(help="For custom: MEMBER=PERCENT, repeated (they must add up to 100)."),
    ] = None,
) -> None:
    """How the family shares its bill from the next invoice on."""
    with opened() as famsim:
        family_id = family_id_of(famsim, family)
        custom = (
            _custom_shares(famsim, family_id, share or []) if rule is SplitRule.CUSTOM else None
        )
        if share and rule is not SplitRule.CUSTOM:
            raise InvalidInput("--share is only for a custom split")
        famsim.billing().set_split_policy(family_id, SplitPolicy(rule, custom))
    render.console.print(f"bill split: {rule.value}")


@billing_app.command("advise")
def advise(
    family: FamilyArg,
    cycles: Annotated[int, typer.Option(min=1, max=24, help="Past cycles to weigh.")] = 3,
    json_out: JsonOption = False,
) -> None:
    """The cheapest plan in the catalog for the family's past cycles, and the saving."""
    from famsim.service.plan_advice import plan_advice

    with opened() as famsim:
        found = plan_advice(
            famsim.uow, family_id_of(famsim, family), cycles, famsim.settings.tax_basis_points
        )
    if json_out:
        render.print_json(found)
        return
    currency = found["family"]["currency"]
    table = Table(title=f"plans for {found['basis']} ({len(found['cycles'])} cycle(s))")
    table.add_column("plan")
    table.add_column("would have cost", justify="right")
    for plan in found["plans"]:
        mark = " (current)" if plan["code"] == found["current_plan"] else ""
        table.add_row(plan["code"] + mark, _money(plan["total_minor"], currency))
    for refused in found["refused"]:
        table.add_row(refused["code"], f"cannot carry it: {refused['reason']}")
    render.console.print(table)
    advised = found["advised"]
    if found["change"] and advised is not None:
        saving = found["saving_minor"]
        render.console.print(
            f"advice: move to {advised['code']}, saving {_money(saving['total'], currency)}"
            f" ({_money(saving['per_cycle'], currency)} a cycle)",
            soft_wrap=True,
        )
    else:
        render.console.print(f"advice: stay on {found['current_plan']} ({found['reason']})")


@billing_app.command("rebalance")
def rebalance_cmd(
    family: FamilyArg,
    auto: Annotated[
        bool | None,
        typer.Option("--auto/--no-auto", help="Turn auto-rebalance on or off (kept)."),
    ] = None,
    bound: Annotated[
        list[str] | None,
        typer.Option(help="MEMBER:RESOURCE:ZONE=MIN..MAX (e.g. 'Chan Ka Ho:data:home=5GB..25GB')."),
    ] = None,
    now: Annotated[bool, typer.Option("--now", help="Rebalance once, now.")] = False,
) -> None:
    """Forecast-driven rebalancing: the stored policy (auto on/off, bounds), and a run now."""
    from famsim.domain.access import Principal
    from famsim.domain.rebalance import Bounds, RebalancePolicy
    from famsim.service.billing_access import GuardedBilling

    with opened() as famsim:
        family_id = family_id_of(famsim, family)
        guarded = GuardedBilling(famsim.uow, famsim.billing(), famsim.bus.handle, famsim.now)
        operator = Principal.staff("cli", frozenset(Scope))
        policy = guarded.rebalance_policy(operator, family_id)
        if auto is not None or bound:
            bounds = {m: dict(pairs) for m, pairs in policy.bounds.items()}
            members = _member_ids(famsim, family_id)
            for item in bound or []:
                member, key, low, high = _bound(item, members)
                bounds.setdefault(MemberId(member), {})[key] = Bounds(low, high)
            enabled = policy.enabled if auto is None else auto
            policy = RebalancePolicy(enabled, bounds)
            guarded.set_rebalance_policy(operator, family_id, policy)
        moves = guarded.rebalance_now(operator, family_id) if now else []
    render.console.print(f"auto-rebalance: {'on' if policy.enabled else 'off'}")
    for member, pairs in sorted(policy.bounds.items()):
        for (resource, zone_name), limits in sorted(pairs.items()):
            most = limits.max_quota
            upper = "no maximum" if most is None else format_amount(resource, most)
            render.console.print(
                f"  bounds {member} {resource.value} {zone_name}:"
                f" {format_amount(resource, limits.min_quota)} .. {upper}"
            )
    if now:
        if not moves:
            render.console.print(
                "nothing to move: nobody is forecast to run out with spare elsewhere"
            )
        for move in moves:
            resource = Resource(move["resource"])
            render.console.print(
                f"moved {format_amount(resource, move['units'])} of {resource.value} {move['zone']}"
                f" from {move['from_member']} to {move['to_member']}"
            )


def _member_ids(famsim: Any, family_id: str) -> dict[str, str]:
    from famsim.service import views

    detail = views.family_detail(famsim.uow(), family_id)
    return {m["name"].casefold(): m["id"] for m in detail["members"] if m["status"] == "active"}


def _bound(
    item: str, members: dict[str, str]
) -> tuple[str, tuple[Resource, Zone], int, int | None]:
    """``MEMBER:RESOURCE:ZONE=MIN..MAX`` (MAX may be empty: no maximum)."""
    target, _, amounts = item.rpartition("=")
    name, _, rest = target.partition(":")
    resource_text, _, zone_text = rest.partition(":")
    low_text, dots, high_text = amounts.partition("..")
    member = members.get(name.strip().casefold())
    if member is None:
        raise InvalidInput(f"--bound {item!r}: no member called {name.strip()!r}")
    if not dots:
        raise InvalidInput(f"--bound {item!r}: write the bounds as MIN..MAX, e.g. 1GB..10GB")
    try:
        resource = Resource(resource_text.strip())
    except ValueError:
        raise InvalidInput(f"--bound {item!r}: resource is data, voice or sms") from None
    key = (resource, zone(zone_text.strip() or "home"))
    low = parse_amount(resource, low_text.strip() or "0") if low_text.strip() else 0
    high = parse_amount(resource, high_text.strip()) if high_text.strip() else None
    return member, key, low, high


def _write_pdf(invoice: Any, notes: list[Any], path: Path, lang: str) -> None:
    from famsim.entrypoints.web import i18n
    from famsim.entrypoints.web.format import Formatter
    from famsim.entrypoints.web.invoice_pdf import invoice_pdf
    from famsim.entrypoints.web.render import Text

    language = i18n.by_tag(lang)
    if language is None:
        tags = ", ".join(known.tag for known in i18n.LANGUAGES)
        raise InvalidInput(f"--lang {lang!r}: one of {tags}")
    data = invoice_summary(invoice) | {
        "credit_notes": [{"number": n.number, "reason": n.reason, "minor": n.minor} for n in notes]
    }
    try:
        path.write_bytes(invoice_pdf(data, Text(language), Formatter(language.locale)))
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}") from None
    render.console.print(f"wrote {path}", soft_wrap=True)


def _custom_shares(famsim: Any, family_id: str, shares: list[str]) -> dict[str, int]:
    from famsim.service import views

    members = {
        m["name"].casefold(): m["id"]
        for m in views.family_detail(famsim.uow(), family_id)["members"]
    }
    points: dict[str, int] = {}
    for item in shares:
        name, _, percent = item.rpartition("=")
        member = members.get(name.strip().casefold())
        if member is None:
            raise InvalidInput(f"--share {item!r}: no member called {name.strip()!r}")
        found = _PERCENT.fullmatch(percent.strip())
        if found is None:
            raise InvalidInput(f"--share {item!r}: a percentage like 33.34")
        points[member] = int(found[1]) * 100 + int((found[2] or "").ljust(2, "0"))
    if sum(points.values()) != BASIS_POINTS:
        raise InvalidInput(
            f"--share: the percentages add up to {sum(points.values()) / 100:g}, not 100"
        )
    return points


_PERCENT = re.compile(r"([0-9]{1,3})(?:\.([0-9]{1,2}))?")


def _item(line: dict[str, Any]) -> str:
    detail = line["detail"]
    kind = line["kind"]
    if kind == "line_fee":
        days = (
            ""
            if detail["days"] == detail["of_days"]
            else f", {detail['days']}/{detail['of_days']} days"
        )
        return f"line {detail['msisdn']} ({detail['device']}{days})"
    if kind in ("overage", "roaming"):
        return f"{kind} {detail['resource']} {detail['zone']}"
    if kind == "tax":
        return f"tax {int(detail['basis_points']) / 100:g} %"
    return str(kind).replace("_", " ")


def _money(minor: int, currency: str) -> str:
    return str(Money(minor, currency))


def _invoices_table(summaries: list[dict[str, Any]]) -> None:
    table = Table()
    for column in ("invoice", "family", "cycle", "period", "total"):
        table.add_column(column, justify="right" if column == "total" else "left")
    for s in summaries:
        table.add_row(
            s["number"],
            s["family_id"],
            str(s["cycle"]),
            f"{s['period']['start']} .. {s['period']['end']}",
            _money(s["total_minor"], s["currency"]),
        )
    render.console.print(table)
