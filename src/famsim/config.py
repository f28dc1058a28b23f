"""famsim's settings: one pydantic-settings object, read from FAMSIM_* variables.

It is built in :mod:`famsim.bootstrap` (never at import), so tests and commands can pass
their own values.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "famsim"


class Settings(BaseSettings):
    """Where famsim keeps its data and which database it uses."""

    model_config = SettingsConfigDict(env_prefix="FAMSIM_", extra="ignore")

    data_dir: Path = _default_data_dir()
    """Directory for the embedded SQLite database and other local state."""

    database_url: str | None = None
    """SQLAlchemy URL; unset means SQLite at ``<data_dir>/famsim.db``. For PostgreSQL use
    ``postgresql+psycopg://user:password@host:5432/famsim``."""

    catalog: Path | None = None
    """Plan catalog (TOML) that ``famsim init`` loads; unset means the shipped sample."""

    smdp_address: str = "smdp.famsim.localhost"
    """The SM-DP+'s address as activation codes carry it (an FQDN): the built-in one's
    name, or the configured SM-DP+'s when its ConfirmOrder answers do not say."""

    smdp_notify_url: str | None = None
    """Where the built-in SM-DP+ sends HandleDownloadProgressInfo: the operator's ES2+
    base URL (``https://...``, plain ``http://`` only on loopback; the spec's path is
    added). Unset: notifications stay pending in the outbox until a destination exists."""

    smdp_url: str | None = None
    """The SM-DP+ famsim orders eSIM profiles from over ES2+ (``https://...``; plain
    ``http://`` only on loopback). Unset: the built-in SM-DP+, in the same process."""

    smdp_client_cert: Path | None = None
    """Client certificate (PEM, with its key or beside ``smdp_client_key``) for ES2+'s
    mutual TLS."""

    smdp_client_key: Path | None = None
    smdp_ca: Path | None = None
    """CA bundle that signs the SM-DP+'s server certificate (default: the system's)."""

    operator_id: str = "famsim-operator"
    """Who famsim is on ES2+ (``functionRequesterIdentifier``)."""

    tac_allow_list: Path | None = None
    """CSV of device models (TACs) allowed on the network; unset: every model."""

    esim_order_hours: int = 7 * 24
    """How long an eSIM order waits to be downloaded before it is undone."""

    data_keys: str | None = None
    """Keys that seal identity data and secrets at rest: ``id:base64,id:base64`` (32-byte
    AES keys, the current one first; older ones still open what they sealed until
    ``famsim keys rotate``). Unset: a key file in the data directory, made on first use
    (fine for development, not for production)."""

    login_max_failures: int = 5
    """Failed sign-ins in a row that lock a family user's account."""

    login_lockout_minutes: int = 15
    """How long a locked account stays locked (a good sign-in after it resets the count)."""

    tax_basis_points: int = Field(default=0, ge=0, le=10_000)
    """Tax added to each invoice, in basis points of its subtotal (2000: 20 % VAT; 0: none,
    as in Hong Kong). Rounded half up to the minor unit, once per invoice."""

    billing_every_minutes: int = Field(default=10, ge=1, le=24 * 60)
    """How often a serving famsim closes the billing cycles that have ended."""

    rebalance_every_minutes: int = Field(default=60, ge=1, le=24 * 60)
    """How often a serving famsim runs the owners' auto-rebalance policies."""

    expiry_every_seconds: int = Field(default=30, ge=1, le=3600)
    """How often a serving famsim (API or Gy) releases reservations past their validity:
    the units a gateway held when it vanished mid-session."""

    billing_workers: int = Field(default=0, ge=0, le=64)
    """Processes that close billing cycles when thousands of families are due at once
    (0: one a CPU; 1: close in the calling process only)."""

    gy_host: str = "127.0.0.1"
    """Address the Diameter Gy server (``famsim gy serve``) listens on."""

    gy_port: int = Field(default=3868, ge=1, le=65535)
    """TCP port of the Gy server (3868 is Diameter's)."""

    gy_origin_host: str = "ocs.famsim.localhost"
    """famsim's Diameter identity (Origin-Host) on Gy."""

    gy_origin_realm: str = "famsim.localhost"
    """famsim's Diameter realm (Origin-Realm); CCRs name it in Destination-Realm."""

    gy_peers: str = ""
    """The gateways (their Origin-Host, comma-separated) allowed to connect; a CER from any
    other is refused with 3010 DIAMETER_UNKNOWN_PEER. Empty: nobody may connect."""

    gy_watchdog_seconds: float = Field(default=30.0, ge=1.0, le=3600.0)
    """Tw (RFC 3539): a peer silent this long is sent a DWR, and closed after as long again
    without a byte; a connection with no CER this long after it opened is closed."""

    gy_max_message_bytes: int = Field(default=65_536, ge=1_024, le=16 * 1024 * 1024)
    """The longest Diameter message the Gy server reads; a longer one is answered 5015
    DIAMETER_INVALID_MESSAGE_LENGTH and its connection closed (a CCR is a few hundred
    bytes)."""

    rating_groups: str = "10=data,11=data:tethered,20=voice,30=sms"
    """Rating group -> resource (and ``:tethered`` for hotspot data), one table for Diameter
    Gy's Rating-Group and Nchf's ratingGroup."""

    @property
    def effective_billing_workers(self) -> int:
        return self.billing_workers or os.cpu_count() or 1

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'famsim.db'}"
