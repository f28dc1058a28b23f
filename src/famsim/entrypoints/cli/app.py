"""The commands of ``famsim``: each parses its options, calls the service, renders.

Tables are for people; every listing command takes ``--json`` for scripts. Errors are
raised as famsim errors and turned into one line with exit code 2 by :func:`main`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from famsim.domain.allocation import ExhaustionAction, Limit
from famsim.domain.errors import InvalidInput
from famsim.domain.lines import SimType
from famsim.domain.members import Role
from famsim.domain.money import Money
from famsim.domain.plan import DeviceKind, Plan
from famsim.domain.units import Resource, parse_amount, zone
from famsim.entrypoints.cli import render
from famsim.entrypoints.cli.accounts import account_app, apikey_app
from famsim.entrypoints.cli.billing import billing_app
from famsim.entrypoints.cli.common import FamilyArg, JsonOption, family_id_of, opened
from famsim.entrypoints.cli.demo import demo
from famsim.entrypoints.cli.esim import esim_app
from famsim.entrypoints.cli.gy import gy_app
from famsim.entrypoints.cli.inventory import inventory_app, numbers_app
from famsim.entrypoints.cli.invitations import accept, family_open, invite
from famsim.entrypoints.cli.keys import keys_app
from famsim.entrypoints.cli.serve import serve
from famsim.entrypoints.cli.simulate import simulate
from famsim.entrypoints.cli.smdp import smdp_app
from famsim.entrypoints.cli.webhooks import webhooks_app
from famsim.service import commands as c
from famsim.service import views

app = typer.Typer(
    help="famsim: family-sharing plans on eSIM lines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
plans_app = typer.Typer(help="The operator's plan catalog.", no_args_is_help=True)
family_app = typer.Typer(
    help="Families: create, list, show, change plan, time zone.", no_args_is_help=True
)
member_app = typer.Typer(help="Members of a family.", no_args_is_help=True)
line_app = typer.Typer(help="Lines (numbers) and the devices on them.", no_args_is_help=True)
app.add_typer(plans_app, name="plans")
app.add_typer(family_app, name="family")
app.add_typer(member_app, name="member")
app.add_typer(line_app, name="line")
app.add_typer(billing_app, name="billing")


@app.command()
def init(
    catalog: Annotated[
        Path | None,
        typer.Option(help="Plan catalog (TOML) to load; default: FAMSIM_CATALOG or the sample."),
    ] = None,
) -> None:
    """Create or upgrade the database; load the plan catalog into an empty one.

    An explicit --catalog (or FAMSIM_CATALOG) is always loaded; the shipped sample only
    when the database has no plans yet, so re-running init to upgrade never reverts plans
    changed with `famsim plans load`.
    """
    with opened(initialised=False) as famsim:
        explicit = catalog or famsim.settings.catalog
        plans = famsim.read_catalog(catalog) if explicit else None  # validate before writing
        famsim.initialise()
        if plans is None and not famsim.has_plans():
            plans = famsim.read_catalog()
        if plans:
            famsim.bus.handle(c.LoadPlans(tuple(plans)))
        render.console.print(f"Database ready: {famsim.database}", soft_wrap=True)
        if plans:
            render.console.print(_loaded(plans), soft_wrap=True)
        else:
            render.console.print("The plan catalog is unchanged.")


def _loaded(plans: Sequence[Plan]) -> str:
    noun = "plan" if len(plans) == 1 else "plans"
    return f"Loaded {len(plans)} {noun}: {', '.join(p.code for p in plans)}"


# -------------------------------------------------------------------------- plans
@plans_app.command("list")
def plans_list(as_json: JsonOption = False) -> None:
    """List the plans in the catalog."""
    with opened() as famsim:
        plans = views.list_plans(famsim.uow())
    if as_json:
        render.print_json(plans)
    else:
        render.plans_table(plans)


@plans_app.command("load")
def plans_load(path: Annotated[Path, typer.Argument(help="Catalog file (TOML).")]) -> None:
    """Add or replace plans from a catalog file."""
    with opened() as famsim:
        plans = famsim.read_catalog(path)
        famsim.bus.handle(c.LoadPlans(tuple(plans)))
    render.console.print(_loaded(plans), soft_wrap=True)


# ------------------------------------------------------------------------- family
@family_app.command("create")
def family_create(
    name: Annotated[str, typer.Option(help="Family name, e.g. 'Chan family'.")],
    plan: Annotated[str, typer.Option(help="Plan code from `famsim plans list`.")],
    owner: Annotated[str, typer.Option(help="The owner's name.")],
    money_cap: Annotated[
        str | None, typer.Option(help="Family cap on overage spend, e.g. '500.00'.")
    ] = None,
    oversubscribe: Annotated[
        bool, typer.Option(help="Allow quotas that add up to more than the pool.")
    ] = False,
    time_zone: Annotated[
        str | None,
        typer.Option(
            help="IANA time zone for quiet hours, e.g. Asia/Hong_Kong; default: the plan's."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Open a family on a plan, with its owner."""
    with opened() as famsim:
        currency = views.plan_currency(famsim.uow(), plan)
        family_id = famsim.bus.handle(
            c.CreateFamily(
                name=name,
                plan_code=plan,
                owner_name=owner,
                money_cap=None if money_cap is None else Money.parse(money_cap, currency),
                oversubscription_allowed=oversubscribe,
                time_zone=time_zone,
            )
        )
        detail = views.family_detail(famsim.uow(), family_id)
    _show(detail, as_json)


@family_app.command("list")
def family_list(as_json: JsonOption = False) -> None:
    """List all families."""
    with opened() as famsim:
        families = views.list_families(famsim.uow())
    if as_json:
        render.print_json(families)
    else:
        render.families_table(families)


@family_app.command("show")
def family_show(family: FamilyArg, as_json: JsonOption = False) -> None:
    """Show a family: members, allocations, lines, devices and pools."""
    with opened() as famsim:
        detail = views.family_detail(famsim.uow(), family_id_of(famsim, family))
    _show(detail, as_json)


@family_app.command("change-plan")
def family_change_plan(
    family: FamilyArg,
    plan: Annotated[str, typer.Argument(help="Code of the plan to move to.")],
) -> None:
    """Move the family to another plan from its next cycle on."""
    with opened() as famsim:
        family_id = family_id_of(famsim, family)
        pending = famsim.bus.handle(c.ChangePlan(family_id, plan))
    if pending is None:
        render.console.print(f"The family stays on {plan}; no plan change is scheduled.")
    else:
        render.console.print(f"Plan {pending} takes effect at the start of the next cycle.")


@family_app.command("time-zone")
def family_time_zone(
    family: FamilyArg,
    zone_name: Annotated[
        str, typer.Argument(metavar="ZONE", help="IANA time zone, e.g. Europe/Moscow.")
    ],
) -> None:
    """Set the family's time zone: quiet hours are wall-clock times there."""
    with opened() as famsim:
        new_zone = famsim.bus.handle(c.SetTimeZone(family_id_of(famsim, family), zone_name))
    render.console.print(f"The family's time zone is now {new_zone}.")


def _show(detail: dict[str, object], as_json: bool) -> None:
    if as_json:
        render.print_json(detail)
    else:
        render.family_detail(detail)


# ------------------------------------------------------------------------- member
@member_app.command("add")
def member_add(
    family: FamilyArg,
    name: Annotated[str, typer.Option(help="The member's name.")],
    role: Annotated[Role, typer.Option(help="adult or child.")] = Role.ADULT,
    guardian: Annotated[
        str | None, typer.Option(help="A child's guardian: an adult member's name or id.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Add an adult, or a child under a guardian."""
    with opened() as famsim:
        family_id = family_id_of(famsim, family)
        member_id = famsim.bus.handle(c.AddMember(family_id, name, role, guardian))
    if as_json:
        render.print_json({"id": member_id, "family_id": family_id})
    else:
        render.console.print(f"Added {role.value} {name} (member id {member_id}).")


@member_app.command("remove")
def member_remove(
    family: FamilyArg,
    member: Annotated[str, typer.Argument(help="Member name or id.")],
) -> None:
    """Remove a member: their lines are suspended and their history kept."""
    with opened() as famsim:
        famsim.bus.handle(c.RemoveMember(family_id_of(famsim, family), member))
    render.console.print(f"Removed {member}; their lines are suspended.")


@member_app.command("guardian")
def member_guardian(
    family: FamilyArg,
    child: Annotated[str, typer.Argument(help="The child's name or id.")],
    guardian: Annotated[str, typer.Argument(help="The new guardian: an adult's name or id.")],
) -> None:
    """Give a child another guardian (an adult member or the owner)."""
    with opened() as famsim:
        famsim.bus.handle(c.AssignGuardian(family_id_of(famsim, family), child, guardian))
    render.console.print(f"{guardian} is now the guardian of {child}.")


# --------------------------------------------------------------------------- line
SimOption = Annotated[SimType, typer.Option("--sim", help="esim or physical.")]
DeviceOption = Annotated[DeviceKind, typer.Option(help="phone, watch, tablet or other.")]
IccidOption = Annotated[str, typer.Option(help="ICCID (19-20 digits, F padding accepted).")]
ImsiOption = Annotated[str, typer.Option(help="IMSI of the subscription.")]
EidOption = Annotated[str | None, typer.Option(help="EID of the eSIM device (32 digits).")]
ImeiOption = Annotated[str | None, typer.Option(help="IMEI of the device (15 digits).")]
MsisdnOption = Annotated[str, typer.Option(help="Number in E.164, e.g. +85291234567.")]


@line_app.command("add")
def line_add(
    family: FamilyArg,
    member: Annotated[str, typer.Option(help="Member name or id.")],
    msisdn: MsisdnOption,
    iccid: IccidOption,
    imsi: ImsiOption,
    sim: SimOption = SimType.ESIM,
    device: DeviceOption = DeviceKind.PHONE,
    eid: EidOption = None,
    imei: ImeiOption = None,
    data_only: Annotated[bool, typer.Option(help="No voice or SMS on this line.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Give a member a new line (number) with its primary SIM."""
    spec = c.SubscriptionSpec(iccid, imsi, sim, device, eid, imei)
    with opened() as famsim:
        family_id = family_id_of(famsim, family)
        line_id = famsim.bus.handle(c.AddLine(family_id, member, msisdn, spec, data_only))
    if as_json:
        render.print_json({"id": line_id, "family_id": family_id})
    else:
        render.console.print(f"Added line {msisdn} (line id {line_id}).")


@line_app.command("attach")
def line_attach(
    family: FamilyArg,
    msisdn: MsisdnOption,
    iccid: IccidOption,
    imsi: ImsiOption,
    device: DeviceOption = DeviceKind.WATCH,
    sim: SimOption = SimType.ESIM,
    eid: EidOption = None,
    imei: ImeiOption = None,
) -> None:
    """Attach a companion device (watch, tablet) that shares a line's number."""
    spec = c.SubscriptionSpec(iccid, imsi, sim, device, eid, imei)
    with opened() as famsim:
        famsim.bus.handle(c.AddCompanion(family_id_of(famsim, family), msisdn, spec))
    render.console.print(f"Attached a {device.value} to {msisdn}.")


@line_app.command("suspend")
def line_suspend(
    family: FamilyArg,
    msisdn: Annotated[str, typer.Argument(help="The line's number.")],
    reason: Annotated[str, typer.Option(help="Why, for the record.")] = "suspended by owner",
) -> None:
    """Suspend a line (no service until resumed)."""
    with opened() as famsim:
        famsim.bus.handle(c.SuspendLine(family_id_of(famsim, family), msisdn, reason))
    render.console.print(f"Suspended {msisdn}.")


@line_app.command("resume")
def line_resume(
    family: FamilyArg, msisdn: Annotated[str, typer.Argument(help="The line's number.")]
) -> None:
    """Resume a suspended line."""
    with opened() as famsim:
        famsim.bus.handle(c.ResumeLine(family_id_of(famsim, family), msisdn))
    render.console.print(f"Resumed {msisdn}.")


# ----------------------------------------------------------------------- allocate
NONE_WORDS = {"none", "off", "-"}


def _limit_value(resource: Resource, text: str | None, current: int | None) -> int | None:
    if text is None:
        return current
    if text.strip().lower() in NONE_WORDS:
        return None
    return parse_amount(resource, text)


@app.command()
def allocate(
    family: FamilyArg,
    member: Annotated[str, typer.Argument(help="Member name or id.")],
    zone_name: Annotated[str, typer.Option("--zone", help="Zone the limits apply to.")] = "home",
    data_quota: Annotated[str | None, typer.Option(help="e.g. 10GB; 'none' to share.")] = None,
    data_cap: Annotated[str | None, typer.Option(help="Hard cap, e.g. 12GB; 'none'.")] = None,
    voice_quota: Annotated[str | None, typer.Option(help="e.g. 300min; 'none'.")] = None,
    voice_cap: Annotated[str | None, typer.Option(help="e.g. 600min; 'none'.")] = None,
    sms_quota: Annotated[str | None, typer.Option(help="e.g. 100; 'none'.")] = None,
    sms_cap: Annotated[str | None, typer.Option(help="e.g. 200; 'none'.")] = None,
    hotspot: Annotated[
        str | None, typer.Option(help="Hotspot sub-quota, e.g. 2GB; 'none' for the plan rule.")
    ] = None,
    money_cap: Annotated[
        str | None, typer.Option(help="Cap on the member's overage spend, e.g. 100.00; 'none'.")
    ] = None,
    roaming: Annotated[bool | None, typer.Option("--roaming/--no-roaming")] = None,
    on_exhaust: Annotated[
        ExhaustionAction | None, typer.Option(help="block, throttle or redirect.")
    ] = None,
    redirect_url: Annotated[str | None, typer.Option(help="Top-up page for redirect.")] = None,
    allow: Annotated[
        list[str] | None,
        typer.Option(
            "--allow",
            metavar="NUMBER",
            help="Always allow calls and SMS to NUMBER, free (+E.164 or a short code); repeatable.",
        ),
    ] = None,
    disallow: Annotated[
        list[str] | None,
        typer.Option(
            "--disallow", metavar="NUMBER", help="Remove NUMBER from the always-allowed list."
        ),
    ] = None,
    quiet_hours: Annotated[
        list[str] | None,
        typer.Option(
            "--quiet-hours",
            metavar="TEXT",
            help="Replace the quiet hours, e.g. 'Mon-Fri 08:30-15:30' or "
            "'daily 22:00-07:00 data,voice'; repeatable.",
        ),
    ] = None,
    no_quiet_hours: Annotated[
        bool, typer.Option("--no-quiet-hours", help="Remove all quiet hours.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Change a member's allocation; options not given keep their current value."""
    if quiet_hours and no_quiet_hours:
        raise InvalidInput("give either --quiet-hours or --no-quiet-hours, not both")
    z = zone(zone_name)
    given = {
        Resource.DATA: (data_quota, data_cap),
        Resource.VOICE: (voice_quota, voice_cap),
        Resource.SMS: (sms_quota, sms_cap),
    }
    with opened() as famsim:
        family_id = family_id_of(famsim, family)
        member_id, current = views.current_allocation(famsim.uow(), family_id, member)
        limits = dict(current.limits)
        for resource, (quota, cap) in given.items():
            if quota is None and cap is None:
                continue
            old = current.limit(resource, z)
            new = Limit(
                _limit_value(resource, quota, old.quota), _limit_value(resource, cap, old.hard_cap)
            )
            if new == Limit():
                limits.pop((resource, z), None)
            else:
                limits[(resource, z)] = new
        currency = views.family_currency(famsim.uow(), family_id)
        allowed = current.with_always_allowed(add=allow or (), remove=disallow or ())
        if no_quiet_hours:
            windows: tuple[str, ...] = ()
        elif quiet_hours:
            windows = tuple(quiet_hours)
        else:
            windows = tuple(str(window) for window in current.quiet_hours)
        famsim.bus.handle(
            c.SetAllocation(
                family_id,
                member_id,
                limits=limits,
                hotspot_quota=_limit_value(Resource.DATA, hotspot, current.hotspot_quota),
                exhaustion=on_exhaust or current.exhaustion,
                redirect_url=current.redirect_url if redirect_url is None else redirect_url,
                money_cap=_money_cap(money_cap, currency, current.money_cap),
                roaming_allowed=current.roaming_allowed if roaming is None else roaming,
                always_allowed=tuple(sorted(allowed.always_allowed)),
                quiet_hours=windows,
            )
        )
        detail = views.family_detail(famsim.uow(), family_id)
    _show(detail, as_json)


def _money_cap(text: str | None, currency: str, current: Money | None) -> Money | None:
    if text is None:
        return current
    if text.strip().lower() in NONE_WORDS:
        return None
    return Money.parse(text, currency)


# --------------------------------------------------------------------------- demo
# -------------------------------------------------------------------------- bench
bench_app = typer.Typer(help="Benchmarks that print their figures.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("api")
def bench_api(
    requests: Annotated[int, typer.Option(min=10, help="Timed requests per connection.")] = 1_000,
    families: Annotated[int, typer.Option(min=32, help="Families (one line each).")] = 256,
) -> None:
    """The REST charging endpoint (UPDATE, durable) under 32 connections next to a bare
    endpoint of the same framework; both servers are started here, in a scratch SQLite."""
    from famsim.bench.api import main as bench_main

    bench_main([f"--requests={requests}", f"--families={families}"])


@bench_app.command("charging")
def bench_charging(
    ops: Annotated[int, typer.Option(min=100, help="Timed UPDATEs per run.")] = 20_000,
    families: Annotated[
        int, typer.Option(min=1, max=799_993, help="Families in the spread run (b).")
    ] = 10_000,
    in_flight: Annotated[int, typer.Option(min=1, help="Requests outstanding at once.")] = 256,
    max_batch: Annotated[int, typer.Option(min=1, help="Most requests per transaction.")] = 64,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes on PostgreSQL.")] = 4,
    postgres_url: Annotated[
        str,
        typer.Option(
            envvar="FAMSIM_BENCH_POSTGRES_URL",
            help="PostgreSQL server (SQLAlchemy URL, a role that may create databases).",
        ),
    ] = "",
    skip_sqlite: Annotated[bool, typer.Option(help="Only PostgreSQL.")] = False,
) -> None:
    """UPDATE throughput and latency of the charging engine next to raw SQL (SQLite, PostgreSQL).

    Runs in a scratch SQLite file and, with --postgres-url, a scratch database on that
    server; nothing of yours is touched.
    """
    from famsim.bench.charging import main as bench_main

    argv = [
        f"--ops={ops}",
        f"--families={families}",
        f"--in-flight={in_flight}",
        f"--max-batch={max_batch}",
        f"--workers={workers}",
        f"--postgres-url={postgres_url}",
    ]
    bench_main([*argv, "--skip-sqlite"] if skip_sqlite else argv)


@bench_app.command("billing")
def bench_billing(
    families: Annotated[
        int, typer.Option(min=1, max=200_000, help="Families to invoice (4 lines each).")
    ] = 10_000,
    records: Annotated[int, typer.Option(min=0, help="Usage records in the cycle.")] = 1_000_000,
    workers: Annotated[
        int,
        typer.Option(
            min=0, help="Processes closing cycles (0: FAMSIM_BILLING_WORKERS, one a CPU)."
        ),
    ] = 0,
    postgres_url: Annotated[
        str,
        typer.Option(
            envvar="FAMSIM_BENCH_POSTGRES_URL",
            help="PostgreSQL server (SQLAlchemy URL, a role that may create databases).",
        ),
    ] = "",
) -> None:
    """Closing a billing cycle into invoices (target: 10,000 families and 1,000,000 usage
    records in <= 10 s) next to a raw SQL aggregate over the same records, then a check.

    Runs in a scratch SQLite file and, with --postgres-url, a scratch database on that
    server; nothing of yours is touched.
    """
    from famsim.bench.billing import main as bench_main

    bench_main(
        [
            f"--families={families}",
            f"--records={records}",
            f"--workers={workers}",
            f"--postgres-url={postgres_url}",
        ]
    )


@bench_app.command("gy")
def bench_gy(
    families: Annotated[
        int, typer.Option(min=1, help="Families (one line, one session each).")
    ] = 10_000,
    connections: Annotated[int, typer.Option(min=1, help="Gateway connections.")] = 8,
    in_flight: Annotated[int, typer.Option(min=1, help="CCRs outstanding per connection.")] = 8,
    ops: Annotated[int, typer.Option(min=1, help="Timed CCR-UPDATEs per run.")] = 50_000,
    clients: Annotated[int, typer.Option(min=1, help="Load-generator processes.")] = 1,
    server: Annotated[
        str, typer.Option(help="Where the Gy server runs: subprocess, in-process or both.")
    ] = "both",
) -> None:
    """CCR-UPDATE rate and latency of the Diameter Gy server on loopback (target: >= 5,000
    CCR/s with p99 <= 20 ms) next to the engine's in-process rate in the same run.

    Runs in a scratch SQLite file; nothing of yours is touched.
    """
    from famsim.bench.gy import main as bench_main

    bench_main(
        [
            f"--families={families}",
            f"--connections={connections}",
            f"--in-flight={in_flight}",
            f"--ops={ops}",
            f"--clients={clients}",
            f"--server={server}",
        ]
    )


app.add_typer(smdp_app, name="smdp")
app.add_typer(esim_app, name="esim")
app.command("serve")(serve)
app.command("demo")(demo)
app.command("simulate")(simulate)
app.add_typer(inventory_app, name="inventory")
app.add_typer(numbers_app, name="numbers")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(account_app, name="account")
app.add_typer(apikey_app, name="apikey")
family_app.command("open")(family_open)
app.command("invite")(invite)
app.command("accept")(accept)
app.add_typer(keys_app, name="keys")
app.add_typer(gy_app, name="gy")
