"""Alembic migrations build exactly the schema famsim's metadata describes, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from demo_charging import INITIAL, OWNER, RULES, SPOUSE, TERMINATION, UPDATE, Now
from famsim.adapters.sql import migrate
from famsim.adapters.sql.schema import metadata
from famsim.bootstrap import App, NotInitialised, bootstrap
from famsim.config import Settings
from famsim.demo import create_demo_family
from famsim.domain.allocation import Allocation
from famsim.domain.family import Family
from famsim.domain.identifiers import Iccid, Imsi, Msisdn
from famsim.domain.ids import SubscriptionId, new_id
from famsim.domain.lines import SimType, Subscription, SubscriptionState
from famsim.domain.plan import DeviceKind, Plan
from famsim.domain.safety import QuietHours
from famsim.domain.units import Resource
from famsim.service.charging import ChargingRequest, ChargingService, ServiceUse
from famsim.service.commands import LoadPlans

pytestmark = pytest.mark.integration

TABLES = {table.name for table in metadata.sorted_tables}


@pytest.fixture
def app(database_url: str, tmp_path: Path, clock: Any) -> Iterator[App]:
    """famsim on an empty database (not initialised)."""
    app = bootstrap(Settings(database_url=database_url, data_dir=tmp_path), clock)
    try:
        yield app
    finally:
        app.close()


def _config() -> Config:
    """The same Alembic setup as famsim.adapters.sql.migrate."""
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    return config


def _run(engine: Engine, action: str, revision: str) -> None:
    config = _config()
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)
        connection.commit()


def _differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def _revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _head() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_upgrade_to_head_yields_exactly_the_metadata(app: App) -> None:
    app.initialise()
    assert _differences(app.engine) == []
    assert _tables(app.engine) == TABLES | {"alembic_version"}
    assert _revision(app.engine) == _head()


def test_upgrade_is_idempotent_and_keeps_data(app: App, sample_plans: list[Plan]) -> None:
    app.initialise()
    app.bus.handle(LoadPlans(tuple(sample_plans)))
    app.initialise()
    migrate.upgrade(app.engine)
    assert _differences(app.engine) == []
    assert _revision(app.engine) == _head()
    with app.uow() as uow:
        assert [p.code for p in uow.plans.catalog()] == sorted(p.code for p in sample_plans)


def test_require_schema_refuses_an_empty_database_until_initialised(app: App) -> None:
    with pytest.raises(NotInitialised):
        app.require_schema()
    app.initialise()
    app.require_schema()


def test_downgrade_to_base_then_upgrade_again(app: App, sample_plans: list[Plan]) -> None:
    app.initialise()
    app.bus.handle(LoadPlans(tuple(sample_plans)))

    _run(app.engine, "downgrade", "base")
    assert _tables(app.engine) <= {"alembic_version"}
    assert _revision(app.engine) is None
    with pytest.raises(NotInitialised):
        app.require_schema()

    _run(app.engine, "upgrade", "head")
    assert _differences(app.engine) == []
    app.require_schema()
    with app.uow() as uow:
        assert list(uow.plans.catalog()) == []  # the downgrade dropped the data with the tables


def test_the_migrated_schema_enforces_its_constraints(
    app: App, clock: Any, sample_plans: list[Plan]
) -> None:
    """Autogenerate does not compare check constraints: check they exist by tripping them."""
    app.initialise()
    app.bus.handle(LoadPlans(tuple(sample_plans)))
    family = Family.create(
        name="Kwok", plan=sample_plans[0], owner_name="Kwok", today=clock.today()
    )
    with app.uow() as uow:
        uow.families.add(family)
        uow.commit()
    refused = [
        "UPDATE families SET cycle_day = 29",
        "UPDATE families SET money_cap_minor = -1",
        "UPDATE members SET role = 'boss'",
        "UPDATE members SET role = 'child', guardian_id = NULL",
        "UPDATE cycles SET end_on = start_on",
        "INSERT INTO charging_counters (family_id, cycle_number, scope, kind, resource, zone,"
        f" used, reserved) VALUES ('{family.id}', 1, '', 'pool', 'data', 'home', -1, 0)",
        "INSERT INTO charging_counters (family_id, cycle_number, scope, kind, resource, zone,"
        f" used, reserved) VALUES ('{family.id}', 1, '', 'bogus', 'data', 'home', 0, 0)",
        "UPDATE families SET plan_code = 'no-such-plan'",
    ]
    for statement in refused:
        with app.engine.connect() as connection:
            with pytest.raises(IntegrityError):
                connection.execute(text(statement))
            connection.rollback()


def test_0007_downgrade_and_upgrade_keep_families_with_safe_defaults(
    app: App, clock: Any, sample_plans: list[Plan]
) -> None:
    """Going back to 0006 drops only the child-safety columns; coming back gives every
    family UTC and every allocation no always-allowed numbers and no quiet hours."""
    app.initialise()
    app.bus.handle(LoadPlans(tuple(sample_plans)))
    family = Family.create(
        name="Kwok", plan=sample_plans[0], owner_name="Kwok", today=clock.today()
    )
    family.set_allocation(
        family.owner_id,
        Allocation(
            always_allowed=frozenset({"+85261230009"}),
            quiet_hours=(QuietHours.parse("daily 22:00-07:00"),),
        ),
        [sample_plans[0]],
    )
    with app.uow() as uow:
        uow.families.add(family)
        uow.commit()

    _run(app.engine, "downgrade", "0006")
    assert "time_zone" not in {c["name"] for c in inspect(app.engine).get_columns("families")}
    _run(app.engine, "upgrade", "head")
    assert _differences(app.engine) == []

    with app.uow() as uow:
        loaded = uow.families.get(family.id)
    assert loaded.time_zone == "UTC"
    assert loaded.allocation(family.owner_id) == Allocation()
    assert loaded.name == "Kwok"


def test_0010_copies_lines_keeping_every_reference_and_makes_numbers_reusable(
    app: App, clock: Any, sample_plans: list[Plan]
) -> None:
    """0010 rebuilds `lines` (SQLite copies the table with foreign keys off): lines and
    their subscriptions survive a round trip, subscriptions come back 'enabled', and a
    closed line's number can then serve a new line."""
    app.initialise()
    app.bus.handle(LoadPlans(tuple(sample_plans)))
    plan = sample_plans[0]
    family = Family.create(name="Kwan", plan=plan, owner_name="Kwan", today=clock.today())
    first = Subscription(
        SubscriptionId(new_id()),
        Iccid.from_body("898520000555000001"),
        Imsi.parse("454005550000001"),
        SimType.PHYSICAL,
        DeviceKind.PHONE,
        primary=True,
    )
    number = Msisdn.parse("+85291255501")
    line = family.add_line(
        plan, member_id=family.owner_id, msisdn=number, primary=first, data_only=False
    )
    with app.uow() as uow:
        uow.families.add(family)
        uow.commit()

    _run(app.engine, "downgrade", "0009")
    assert "closed_on" not in {c["name"] for c in inspect(app.engine).get_columns("lines")}
    _run(app.engine, "upgrade", "head")
    assert _differences(app.engine) == []
    with app.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1

    with app.uow() as uow:
        loaded = uow.families.get(family.id)
        assert loaded.line(line.id).primary.state is SubscriptionState.ENABLED
        loaded.close_line(line.id, clock.today(), datetime.now(UTC))
        again = Subscription(
            SubscriptionId(new_id()),
            Iccid.from_body("898520000555000002"),
            Imsi.parse("454005550000002"),
            SimType.PHYSICAL,
            DeviceKind.PHONE,
            primary=True,
        )
        loaded.add_line(
            plan, member_id=loaded.owner_id, msisdn=number, primary=again, data_only=False
        )
        uow.commit()
    with app.uow() as uow:
        assert uow.families.get(family.id).line_by_msisdn(number).primary.iccid == again.iccid
        assert uow.families.owner_of_msisdn(number) == family.id


def test_0012_gives_existing_sims_their_service_dates_and_goes_back(
    app: App, clock: Any, sample_plans: list[Plan]
) -> None:
    """Upgrading a 0011 database: SIMs on a device are in service since the family was
    created; deleted ones left service on their line's closing day, or on the family's
    day they were deleted before it (a device change); pending and failed orders get
    neither. Going back to 0011 drops the two columns and nothing else."""
    app.initialise()
    app.bus.handle(LoadPlans(tuple(sample_plans)))
    hk = next(p for p in sample_plans if p.code == "hk-family-5g-100")
    created = clock.today()
    family = Family.create(name="Ho", plan=hk, owner_name="Ho Wing", today=created)
    assert family.time_zone == "Asia/Hong_Kong"
    serial = iter(range(1, 100))

    def sim(
        state: SubscriptionState,
        device: DeviceKind = DeviceKind.PHONE,
        *,
        primary: bool = False,
        sim_type: SimType = SimType.ESIM,
    ) -> Subscription:
        n = next(serial)
        return Subscription(
            SubscriptionId(new_id()),
            Iccid.from_body(f"898520000556{n:06d}"),
            Imsi.parse(f"45400556{n:07d}"),
            sim_type,
            device,
            primary=primary,
            state=state,
            state_changed_at=datetime(2026, 2, 1, tzinfo=UTC),
        )

    def utc(day: int, hour: int) -> datetime:
        return datetime(2026, 2, day, hour, tzinfo=UTC)

    st = SubscriptionState
    owner = family.owner_id
    # An open line: a card, an installed watch, a disabled tablet, a pending order, a watch
    # deleted at 18:00 UTC on Feb 7 (02:00 on Feb 8 in Hong Kong), a failed order.
    phone = sim(st.ENABLED, primary=True, sim_type=SimType.PHYSICAL)
    line = family.add_line(
        hk, member_id=owner, msisdn=Msisdn.parse("+85291255601"), primary=phone, data_only=False
    )
    watch = sim(st.INSTALLED, DeviceKind.WATCH)
    tablet = sim(st.DISABLED, DeviceKind.TABLET)
    pending = sim(st.RELEASED, DeviceKind.OTHER)
    deleted = sim(st.ENABLED, DeviceKind.WATCH)
    failed = sim(st.ORDERED, DeviceKind.TABLET)
    for companion in (watch, tablet, pending, deleted, failed):
        family.add_companion(line.id, companion)
    family.report(deleted.iccid, st.DELETED, utc(7, 18))
    family.report(failed.iccid, st.ERROR, utc(3, 1))
    # A line whose card a device change retired at 20:00 UTC on Feb 5 (Feb 6 in Hong
    # Kong), then closed on Feb 10; another closed with no time of deletion known.
    old = sim(st.ENABLED, primary=True, sim_type=SimType.PHYSICAL)
    changed = family.add_line(
        hk, member_id=owner, msisdn=Msisdn.parse("+85291255602"), primary=old, data_only=False
    )
    new = sim(st.ORDERED)
    new.replaces = old.id
    family.start_device_change(old.id, new)
    family.report(new.iccid, st.INSTALLED, utc(5, 20))
    family.close_line(changed.id, date(2026, 2, 10), utc(10, 3))
    unknown = sim(st.ENABLED, primary=True, sim_type=SimType.PHYSICAL)
    closed = family.add_line(
        hk, member_id=owner, msisdn=Msisdn.parse("+85291255603"), primary=unknown, data_only=False
    )
    family.close_line(closed.id, date(2026, 2, 12), utc(12, 3))
    # A new line whose first eSIM failed: closed, never in service.
    first = sim(st.ORDERED, primary=True)
    never = family.add_line(
        hk, member_id=owner, msisdn=Msisdn.parse("+85291255604"), primary=first, data_only=False
    )
    family.report(first.iccid, st.ERROR, utc(4, 3))
    assert family.line(never.id).is_closed
    with app.uow() as uow:
        uow.families.add(family)
        uow.commit()

    _run(app.engine, "downgrade", "0011")
    columns = {c["name"] for c in inspect(app.engine).get_columns("subscriptions")}
    assert not columns & {"in_service_on", "out_of_service_on"}
    with app.engine.begin() as connection:
        connection.execute(
            text("UPDATE subscriptions SET state_changed_at = NULL WHERE iccid = :iccid"),
            {"iccid": unknown.iccid.digits},
        )
    _run(app.engine, "upgrade", "0012")

    with app.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT iccid, in_service_on, out_of_service_on FROM subscriptions")
        ).all()
    found = {
        iccid: tuple(None if d is None else date.fromisoformat(str(d)) for d in days)
        for iccid, *days in rows
    }

    def feb(day: int) -> date:
        return date(2026, 2, day)

    assert found == {
        phone.iccid.digits: (created, None),
        watch.iccid.digits: (created, None),
        tablet.iccid.digits: (created, None),
        pending.iccid.digits: (None, None),
        deleted.iccid.digits: (None, feb(8)),
        failed.iccid.digits: (None, None),
        old.iccid.digits: (None, feb(6)),
        new.iccid.digits: (None, feb(10)),
        unknown.iccid.digits: (None, feb(12)),
        first.iccid.digits: (None, None),
    }

    _run(app.engine, "downgrade", "0011")
    _run(app.engine, "upgrade", "head")
    assert _differences(app.engine) == []
    with app.uow() as uow:
        loaded = uow.families.get(family.id)
    assert loaded.line(line.id).primary.in_service_on == created
    _, reloaded = loaded.subscription_of_iccid(new.iccid)
    assert (reloaded.in_service_on, reloaded.out_of_service_on) == (None, feb(10))


def test_0016_keeps_the_sessions_live_at_the_upgrade_open(
    app: App, sample_plans: list[Plan]
) -> None:
    """Upgrading a 0015 database: a session holding a reservation, or answered in the
    last day, is open; an older one holding nothing is unknown."""
    app.initialise()
    app.bus.handle(LoadPlans(tuple(sample_plans)))
    create_demo_family(app.bus)
    data = (ServiceUse(Resource.DATA),)
    service = ChargingService(app.uow, Now(), RULES)
    service.handle(ChargingRequest("holding", 0, INITIAL, OWNER, data))
    service.handle(ChargingRequest("recent", 0, INITIAL, SPOUSE, data))
    service.handle(ChargingRequest("recent", 1, TERMINATION, SPOUSE, data))
    service.handle(ChargingRequest("old", 0, INITIAL, SPOUSE, data))
    service.handle(ChargingRequest("old", 1, TERMINATION, SPOUSE, data))
    _run(app.engine, "downgrade", "0015")
    assert "charging_sessions" not in _tables(app.engine)
    with app.engine.begin() as connection:
        connection.execute(
            text("UPDATE charging_answers SET at = :at WHERE session_id = 'old'"),
            {"at": datetime(2020, 1, 1, tzinfo=UTC)},
        )
    _run(app.engine, "upgrade", "head")
    assert _differences(app.engine) == []

    with app.uow() as uow:
        assert uow.ledgers.open_sessions(["holding", "recent", "old"]) == {"holding", "recent"}
    fresh = ChargingService(app.uow, Now(), RULES)
    update = fresh.handle(ChargingRequest("holding", 1, UPDATE, OWNER, data))
    stale = fresh.handle(ChargingRequest("old", 2, UPDATE, SPOUSE, data))
    assert (update.outcome, stale.outcome) == ("success", "session_unknown")
