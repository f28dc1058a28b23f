"""The composition root: settings -> adapters -> service, handed to the entrypoints.

Entrypoints call :func:`bootstrap` and use the returned :class:`App`; they never import an
adapter themselves, so swapping SQLite for PostgreSQL (or a fake in tests) happens here.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from famsim.adapters import catalog
from famsim.adapters.clock import SystemClock
from famsim.adapters.sql.engine import make_engine
from famsim.adapters.sql.unit_of_work import SqlUnitOfWork
from famsim.config import Settings
from famsim.domain.accounts import LoginPolicy
from famsim.domain.billing.invoice import Invoice
from famsim.domain.charging.rating_groups import RatingGroups, parse_rating_groups
from famsim.domain.errors import FamsimError, InvalidInput
from famsim.domain.esim.stock import StockedSim
from famsim.domain.identifiers import Iccid
from famsim.domain.plan import Plan
from famsim.service.accounts import AccountService
from famsim.service.billing import PARALLEL_FROM, BillingService
from famsim.service.charging import ChargingService
from famsim.service.esim import EsimService
from famsim.service.invitations import InvitationService
from famsim.service.messagebus import MessageBus
from famsim.service.ports import (
    Clock,
    Es2Port,
    PasswordHasher,
    Sealer,
    StorageUnavailable,
    UnitOfWork,
)
from famsim.service.rebalancing import AutoRebalance
from famsim.service.smdp import SmdpService
from famsim.service.smdp_delivery import NotificationSender
from famsim.service.webhooks import WebhookPost, WebhookService


class NotInitialised(FamsimError):
    """The database has no schema yet, or an older one."""


@dataclass
class App:
    """What an entrypoint needs: the bus for commands, units of work for queries."""

    settings: Settings
    engine: Engine
    bus: MessageBus
    uow: Callable[[], UnitOfWork]
    charging: ChargingService
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    """The network's instant: what charging stamps usage with and forecasts read (the
    demo and the traffic simulator run it on a virtual clock)."""
    wall: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    """People's instant: sign-in sessions, invitations, eSIM orders, webhook retries
    (always the system's clock, even in a simulation: a person waits in real time)."""
    _accounts: AccountService | None = field(default=None, init=False, repr=False)
    _rating_groups: RatingGroups | None = field(default=None, init=False, repr=False)

    @property
    def database(self) -> str:
        """The database URL with any password hidden, for messages."""
        return make_url(self.settings.effective_database_url).render_as_string(hide_password=True)

    def initialise(self) -> None:
        """Create or upgrade the schema (idempotent)."""
        from famsim.adapters.sql import migrate  # Alembic is slow to import; only here

        try:
            migrate.upgrade(self.engine)
        except Exception as exc:
            if isinstance(exc, FamsimError):
                raise
            raise StorageUnavailable(f"cannot migrate {self.database}: {exc}") from None

    def require_schema(self) -> None:
        """Refuse to work on a database that ``famsim init`` has not prepared."""
        from famsim.adapters.sql import migrate

        database = self.engine.url.database
        if self.engine.dialect.name == "sqlite" and database and not Path(database).exists():
            # Checked before connecting: opening would create an empty file.
            raise NotInitialised(f"there is no database at {database}: run `famsim init` first")
        try:
            current = migrate.is_current(self.engine)
        except Exception as exc:
            raise StorageUnavailable(f"cannot open {self.database}: {exc}") from None
        if not current:
            raise NotInitialised(
                f"the database {self.database} is not initialised: run `famsim init` first"
            )

    def has_plans(self) -> bool:
        with self.uow() as uow:
            return bool(uow.plans.catalog())

    def read_catalog(self, path: Path | None = None) -> list[Plan]:
        """Parse a catalog file (the configured one, or the shipped sample)."""
        return catalog.load_catalog(path or self.settings.catalog or catalog.sample_catalog_path())

    def rating_groups(self) -> RatingGroups:
        """What each Rating-Group counts (``FAMSIM_RATING_GROUPS``), for Gy and Nchf alike;
        parsed once (a bad setting raises InvalidInput naming the faulty group)."""
        if self._rating_groups is None:
            self._rating_groups = parse_rating_groups(self.settings.rating_groups)
        return self._rating_groups

    def gy_server(self, host: str | None = None, port: int | None = None) -> Any:
        """The Diameter Gy server on this famsim (settings ``FAMSIM_GY_*``, *host* and *port*
        overriding them), not started: it has ``start()`` and ``stop()``. Its charging runs
        on its own group committer (one writer thread), closed when the server stops."""
        from famsim.adapters.diameter.gy_server import GyServer  # python-diameter: only here
        from famsim.service.group_commit import GroupCommitter

        settings = self.settings
        rating_groups = self.rating_groups()
        committer = GroupCommitter(self.charging)
        try:
            server = GyServer(
                committer.submit,
                host=host or settings.gy_host,
                port=port or settings.gy_port,
                origin_host=settings.gy_origin_host,
                origin_realm=settings.gy_origin_realm,
                peers=settings.gy_peers.split(","),
                rating_groups=rating_groups,
                on_stop=committer.close,
                watchdog_seconds=settings.gy_watchdog_seconds,
                max_message_bytes=settings.gy_max_message_bytes,
                batched=True,
            )
            committer.after_batch = server.wake  # one loop wake-up per committed batch
            return server
        except Exception:
            committer.close()
            raise

    def smdp(self) -> SmdpService:
        """The built-in SM-DP+ on this database (its inventory read once, written through)."""
        from famsim.adapters.sql.smdp_store import SqlSmdpStore

        return SmdpService(SqlSmdpStore(self.engine), self.settings.smdp_address, self.wall)

    def read_profile_file(self, path: Path) -> list[tuple[Iccid, str, int]]:
        """(ICCID, profile type, line) of every row of an inventory CSV, checked whole."""
        from famsim.adapters.profile_csv import load_profile_file

        return [(r.iccid, r.profile_type, r.line) for r in load_profile_file(path)]

    def read_sim_file(self, path: Path) -> list[tuple[StockedSim, int]]:
        """(SIM, line) of every row of a SIM delivery CSV, checked whole (every bad line
        named)."""
        from famsim.adapters.sim_csv import load_sim_file

        return [(r.sim, r.line) for r in load_sim_file(path)]

    def smdp_http_app(self, service: SmdpService) -> Any:
        """The SM-DP+'s ES2+ endpoints as an ASGI app, for a server such as uvicorn."""
        from famsim.adapters.smdp_http import create_smdp_app  # FastAPI: only when served

        return create_smdp_app(service)

    def smdp_sender(
        self, service: SmdpService, destination: Callable[[bytes], None] | None = None
    ) -> NotificationSender | None:
        """The sender of *service*'s HandleDownloadProgressInfo notifications, or None.

        To *destination* when given (an in-process callable, e.g. the operator's receiver:
        it gets each JSON body and raises to have it retried), else over HTTP to
        ``FAMSIM_SMDP_NOTIFY_URL``, else, when famsim orders from this built-in SM-DP+
        (no ``FAMSIM_SMDP_URL``), straight to famsim's own receiver; None when famsim
        orders elsewhere and no URL is set (notifications stay pending). The
        sender wakes whenever *service* stores notifications; call ``start()`` for
        background delivery (and ``stop()``), or ``deliver_due()`` to send once.
        """
        if destination is None and self.settings.smdp_notify_url:
            from famsim.adapters.es2plus.notifier import HttpDestination

            destination = HttpDestination(self.settings.smdp_notify_url)
        elif destination is None and not self.settings.smdp_url:
            # famsim orders from this built-in SM-DP+ (no other SM-DP+ configured), so the
            # operator it reports to is this famsim, on this database.
            from famsim.adapters.es2plus.receiver import in_process_receiver

            destination = in_process_receiver(self.esim())
        if destination is None:
            return None
        sender = NotificationSender(service.store, destination, self.wall)
        service.listen(sender.wake)
        return sender

    def esim(self) -> EsimService:
        """Ordering eSIMs: from the configured SM-DP+ over ES2+, or the built-in one."""
        settings = self.settings
        es2: Es2Port
        if settings.smdp_url:
            from famsim.adapters.es2plus.client import Es2Client

            cert = None
            if settings.smdp_client_cert is not None:
                key = settings.smdp_client_key or settings.smdp_client_cert
                cert = (str(settings.smdp_client_cert), str(key))
            es2 = Es2Client(
                settings.smdp_url,
                requester=settings.operator_id,
                smdp_address=settings.smdp_address,
                cert=cert,
                verify=str(settings.smdp_ca) if settings.smdp_ca else True,
            )
        else:
            from famsim.adapters.es2plus.local import LocalEs2

            es2 = LocalEs2(self.smdp())
        tacs = None
        if settings.tac_allow_list is not None:
            from famsim.adapters.tac_list import load_tac_allow_list

            tacs = load_tac_allow_list(settings.tac_allow_list)
        return EsimService(
            self.uow,
            es2,
            self.wall,
            order_validity=timedelta(hours=settings.esim_order_hours),
            tac_allow_list=tacs,
        )

    def activation_qr(self, payload: str, kind: str) -> bytes:
        """The QR code of an activation code (``LPA:...``) as ``svg`` or ``png``."""
        from famsim.adapters.qr import qr_png, qr_svg

        if kind == "svg":
            return qr_svg(payload).encode("utf-8")
        if kind == "png":
            return qr_png(payload)
        raise InvalidInput(f"a QR code is written as .svg or .png, not {kind!r}")

    def esim_receiver_app(self, service: EsimService) -> Any:
        """The operator's ES2+ callback endpoint (HandleDownloadProgressInfo) as ASGI."""
        from famsim.adapters.es2plus.receiver import create_receiver_app

        return create_receiver_app(service)

    def sealer(self) -> Sealer:
        """The key ring that seals identity data and secrets (see Settings.data_keys)."""
        from famsim.adapters.security import keyring

        if self.settings.data_keys:
            return keyring.parse_keys(self.settings.data_keys)
        return keyring.load_or_create(self.settings.data_dir / keyring.KEY_FILE)

    def webhooks(self, post: WebhookPost | None = None) -> WebhookService:
        """Webhooks on this database: endpoints, fan-out of the outbox, signed delivery.

        Events are POSTed with *post* when given (tests, an in-process receiver), else over
        HTTPS with httpx (plain HTTP only to loopback). Call ``start()`` for background
        delivery (and ``stop()``), or ``run_once()`` to fan out and deliver once.
        """
        if post is None:
            from famsim.adapters.webhook_http import HttpWebhookPost

            post = HttpWebhookPost()
        return WebhookService(self.uow, self.sealer(), post, self.wall)

    def passwords(self) -> PasswordHasher:
        from famsim.adapters.security.passwords import Argon2Passwords

        return Argon2Passwords()

    def accounts(self) -> AccountService:
        """Family users' sign-in and the operator's API keys: one service per App, since it
        remembers per-address failures and TOTP setups waiting for their first code."""
        if self._accounts is None:
            policy = LoginPolicy(
                max_failures=self.settings.login_max_failures,
                lockout=timedelta(minutes=self.settings.login_lockout_minutes),
            )
            self._accounts = AccountService(
                self.uow,
                self.passwords(),
                self.sealer(),
                self.wall,
                policy=policy,
            )
        return self._accounts

    def invitations(self) -> InvitationService:
        """Opening families, invitations, identity (KYC) and consents. Codes go through the
        development notifier (the outbox and the log) until a real sender is configured."""
        from famsim.adapters.notifier import LogNotifier

        return InvitationService(
            self.uow,
            self.accounts(),
            self.sealer(),
            LogNotifier(self.uow),
            self.wall,
        )

    def billing(
        self, *, workers: int | None = None, parallel_from: int = PARALLEL_FROM
    ) -> BillingService:
        """Cycle closing, invoices, credit notes and split policies; cycles close on the
        network's clock (``now``), like the usage they rate.

        Batches read and rate before they take the lock (read-only units of work), and
        when thousands of families are due at once they are shared among *workers*
        processes (default: ``FAMSIM_BILLING_WORKERS``, one a CPU) from *parallel_from*
        families on."""
        engine = self.engine
        count = self.settings.effective_billing_workers if workers is None else workers
        return BillingService(
            self.uow,
            self.now,
            tax_basis_points=self.settings.tax_basis_points,
            read_uow=lambda: SqlUnitOfWork(engine, read_only=True),
            fan_out=_CloseInWorkers(self.settings, count) if count > 1 else None,
            parallel_from=parallel_from,
        )

    def auto_rebalance(self) -> AutoRebalance:
        """The owners' auto-rebalance policies, run on the network's clock."""
        return AutoRebalance(self.uow, self.bus.handle, self.now)

    def new_data_key(self, key_id: str | None = None) -> str:
        """A fresh ``id:base64`` entry to put first in FAMSIM_DATA_KEYS (or first in the
        development key file) before ``famsim keys rotate``; the id defaults to the time."""
        from famsim.adapters.security import keyring

        return keyring.new_key_entry(key_id or f"k{datetime.now(UTC):%Y%m%d%H%M%S}")

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(
    settings: Settings | None = None,
    clock: Clock | None = None,
    now: Callable[[], datetime] | None = None,
) -> App:
    """famsim on *settings*; *clock* gives the commands' dates and *now* the network's
    instant (charging, usage); both the system's unless given; with only *now*, dates
    follow it in UTC. People's services always run on the system's clock."""
    settings = settings or Settings()
    url = settings.effective_database_url
    if not settings.database_url:
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(
                f"cannot use data directory {settings.data_dir}: {exc.strerror or exc}"
            ) from None
    try:
        engine = make_engine(url)
    except Exception as exc:  # SQLAlchemy raises several kinds for a bad URL
        raise StorageUnavailable(f"invalid database URL {url!r}: {exc}") from None
    uow_factory: Callable[[], UnitOfWork] = lambda: SqlUnitOfWork(engine)  # noqa: E731
    if clock is None:
        clock = SystemClock() if now is None else _DatesOf(now)
    instant = now or (lambda: datetime.now(UTC))
    bus = MessageBus(uow_factory, clock)
    charging = ChargingService(uow_factory, now=instant)
    return App(
        settings=settings, engine=engine, bus=bus, uow=uow_factory, charging=charging, now=instant
    )


class _CloseInWorkers:
    """Closes billing cycles in worker processes, each on its share of the families.

    Each worker is a fresh process (``spawn``: safe beside a server's threads) that opens
    famsim on the same settings and runs :meth:`BillingService.close_families` on every
    n-th family. The workers' transactions are their own, so what one committed stays if
    another fails (closing is idempotent: the next run finishes the rest).
    """

    def __init__(self, settings: Settings, workers: int) -> None:
        self._settings = settings
        self._workers = workers

    def __call__(self, families: Sequence[str], when: datetime, actor: str) -> list[Invoice]:
        shares = [list(families[k :: self._workers]) for k in range(self._workers)]
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=len(shares), mp_context=context) as pool:
            done = [
                pool.submit(_close_share, self._settings, share, when, actor) for share in shares
            ]
            return [invoice for future in done for invoice in future.result()]


def _close_share(
    settings: Settings, families: list[str], when: datetime, actor: str
) -> list[Invoice]:
    """A worker's share of :class:`_CloseInWorkers` (module level: spawn imports it)."""
    app = bootstrap(settings)
    try:
        return app.billing(workers=1).close_families(families, when, actor=actor)
    finally:
        app.close()


class _DatesOf:
    """The Clock port read off an instant source: today is its UTC date."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now

    def today(self) -> date:
        return self._now().astimezone(UTC).date()
