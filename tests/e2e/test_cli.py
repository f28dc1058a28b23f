"""The installed ``famsim`` command, end to end: the documented commands, their JSON, and
the error contract (one line on stderr, exit code 2, no traceback, database unchanged).

Each command is a real subprocess (~0.5 s), so the tests share prepared data directories:
``initialised_dir`` (after ``famsim init``) and ``family_dir`` (a family with members and a
line), built once per module; each test works on its own copy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from e2e.cli_runner import Cli, Result, copy_data_dir
from famsim.adapters.catalog import sample_catalog_path
from famsim.domain.identifiers import Eid, Iccid, Imei

pytestmark = pytest.mark.e2e

HK_PLAN = "hk-family-5g-100"
SAMPLE_PLANS = {"hk-family-5g-100": "HKD", "ru-semya-40": "RUB", "us-family-share-50": "USD"}
FAMILY = "Lee family"
OWNER = "Lee Ka Keung"
ADULT = "Lee Mei Ling"
CHILD = "Lee Siu Ming"
OTHER_FAMILY = "Ho family"
OTHER_OWNER = "Ho Wing"
GB = 10**9


# Identifiers with valid check digits, built the way famsim's demo builds them.
def iccid(n: int) -> str:
    return str(Iccid.from_body(f"8985200001230{n:05d}"))


def imsi(n: int) -> str:
    return f"4540012300{n:05d}"  # MCC 454 (Hong Kong), MNC 00


def eid(n: int) -> str:
    return str(Eid.from_body(f"8904903200001000000000000{n:05d}"))


def imei(n: int) -> str:
    return str(Imei.from_body(f"353322110{n:05d}"))


def msisdn(n: int) -> str:
    return f"+8529123{n:04d}"  # a Hong Kong mobile number


def bad_check_digit(value: str) -> str:
    return value[:-1] + str((int(value[-1]) + 1) % 10)


LINE = msisdn(77)  # Lee Mei Ling's phone, with a watch attached
WATCH = 78
NEW = 79  # identifiers no family uses yet


def new_line(family: str = FAMILY, member: str = ADULT, **options: str) -> list[str]:
    """``line add`` arguments for a fresh line; ``options`` replace --msisdn, --iccid..."""
    values = {"msisdn": msisdn(NEW), "iccid": iccid(NEW), "imsi": imsi(NEW)} | options
    args = ["line", "add", family, "--member", member]
    for name, value in values.items():
        args += [f"--{name.replace('_', '-')}", value]
    return args


# ------------------------------------------------------------------------- fixtures
@dataclass(frozen=True)
class PreparedFamily:
    data_dir: Path
    results: dict[str, Result]

    def json(self, step: str) -> Any:
        return self.results[step].json()

    @property
    def id(self) -> str:
        family_id: str = self.json("create")["id"]
        return family_id


@pytest.fixture(scope="module")
def family_dir(
    famsim_command: Path,
    initialised_dir: tuple[Path, Result],
    tmp_path_factory: pytest.TempPathFactory,
) -> PreparedFamily:
    """The Lee family (owner, adult, child; a phone line with a watch) and the Ho family."""
    data_dir = copy_data_dir(initialised_dir[0], tmp_path_factory.mktemp("family") / "data")
    cli = Cli(famsim_command, data_dir)
    steps = {
        "create": [
            "family", "create", "--name", FAMILY, "--plan", HK_PLAN, "--owner", OWNER,
            "--money-cap", "500.00", "--json",
        ],
        "adult": ["member", "add", FAMILY, "--name", ADULT, "--json"],
        "child": [
            "member", "add", FAMILY, "--name", CHILD, "--role", "child", "--guardian", OWNER,
            "--json",
        ],
        "line": [
            "line", "add", FAMILY, "--member", ADULT, "--msisdn", LINE, "--iccid", iccid(77),
            "--imsi", imsi(77), "--eid", eid(77), "--imei", imei(77), "--json",
        ],
        "watch": [
            "line", "attach", FAMILY, "--msisdn", LINE, "--iccid", iccid(WATCH),
            "--imsi", imsi(WATCH), "--eid", eid(WATCH), "--imei", imei(WATCH),
        ],
        "other": [
            "family", "create", "--name", OTHER_FAMILY, "--plan", HK_PLAN,
            "--owner", OTHER_OWNER, "--json",
        ],
        "show": ["family", "show", FAMILY, "--json"],
    }  # fmt: skip
    return PreparedFamily(data_dir, {step: cli.ok(*args) for step, args in steps.items()})


@pytest.fixture
def cli(make_cli: Callable[..., Cli], family_dir: PreparedFamily, tmp_path: Path) -> Cli:
    """A Cli on a private copy of the prepared families."""
    return make_cli(copy_data_dir(family_dir.data_dir, tmp_path / "data"))


@pytest.fixture
def init_cli(
    make_cli: Callable[..., Cli], initialised_dir: tuple[Path, Result], tmp_path: Path
) -> Cli:
    """A Cli on a private copy of a freshly initialised database."""
    return make_cli(copy_data_dir(initialised_dir[0], tmp_path / "data"))


def member_named(detail: dict[str, Any], name: str) -> dict[str, Any]:
    (member,) = [m for m in detail["members"] if m["name"] == name]
    return member


def line_of(detail: dict[str, Any], number: str) -> dict[str, Any]:
    (line,) = [line for line in detail["lines"] if line["msisdn"] == number]
    return line


def limits_of(member: dict[str, Any]) -> dict[tuple[str, str], tuple[int | None, int | None]]:
    return {
        (lim["resource"], lim["zone"]): (lim["quota"], lim["hard_cap"])
        for lim in member["allocation"]["limits"]
    }


def write_catalog(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


# ------------------------------------------------------------------- init and plans
def test_init_creates_the_database_and_loads_the_sample_plans(
    initialised_dir: tuple[Path, Result], init_cli: Cli
) -> None:
    data_dir, result = initialised_dir
    assert (data_dir / "famsim.db").is_file()
    assert f"{data_dir / 'famsim.db'}" in result.stdout
    assert f"Loaded 3 plans: {', '.join(SAMPLE_PLANS)}" in result.stdout

    plans = init_cli.json("plans", "list")
    assert {p["code"]: p["currency"] for p in plans} == SAMPLE_PLANS
    hk = next(p for p in plans if p["code"] == HK_PLAN)
    assert hk["monthly_fee"] == {"minor": 39800, "currency": "HKD", "text": "HKD 398.00"}
    assert {"resource": "data", "zone": "home", "amount": 100 * GB} in hk["allowances"]
    assert {"resource": "voice", "zone": "home", "amount": None} in hk["allowances"]
    assert hk["zones"] == {"home": ["454"], "greater-china": ["455", "460", "461", "466"]}


def test_init_again_keeps_the_families(cli: Cli, family_dir: PreparedFamily) -> None:
    # Re-running init upgrades the schema and leaves the catalog (and the families) alone.
    assert "The plan catalog is unchanged." in cli.ok("init").stdout
    families = {f["name"]: (f["id"], f["members"], f["lines"]) for f in cli.json("family", "list")}
    assert families == {
        FAMILY: (family_dir.id, 3, 1),
        OTHER_FAMILY: (family_dir.json("other")["id"], 1, 0),
    }


def test_init_loads_the_catalog_named_by_famsim_catalog(
    make_cli: Callable[..., Cli], tmp_path: Path
) -> None:
    text = sample_catalog_path().read_text(encoding="utf-8")
    custom = write_catalog(tmp_path / "one.toml", text.split("# --- Russia")[0])
    cli = make_cli(FAMSIM_CATALOG=custom)
    assert f"Loaded 1 plan: {HK_PLAN}\n" in cli.ok("init").stdout


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["plans", "list"], id="plans-list"),
        pytest.param(
            ["family", "create", "--name", "X", "--plan", HK_PLAN, "--owner", "Y"],
            id="family-create",
        ),
    ],
)
def test_commands_before_init_ask_for_famsim_init(
    make_cli: Callable[..., Cli], args: list[str]
) -> None:
    cli = make_cli()
    message = cli.error(*args)
    assert "there is no database" in message
    assert cli.snapshot() is None  # nothing is created, not even an empty SQLite file
    assert "run `famsim init`" in message


# -------------------------------------------------------------------------- families
def test_family_create_json(family_dir: PreparedFamily) -> None:
    created = family_dir.json("create")
    assert re.fullmatch(r"[0-9a-f]{32}", created["id"])
    assert created["name"] == FAMILY
    assert created["plan"] == HK_PLAN
    assert created["currency"] == "HKD"
    assert created["pending_plan"] is None
    assert created["money_cap"] == {"minor": 50000, "currency": "HKD", "text": "HKD 500.00"}
    assert created["oversubscription_allowed"] is False
    assert created["time_zone"] == "Asia/Hong_Kong"  # the plan's
    (owner,) = created["members"]
    assert (owner["name"], owner["role"], owner["id"]) == (OWNER, "owner", created["owner_id"])
    assert created["lines"] == []
    assert created["cycle"]["number"] == 1
    pools = {(p["resource"], p["zone"]): p["total"] for p in created["cycle"]["pools"]}
    assert pools[("data", "home")] == 100 * GB
    assert pools[("voice", "home")] is None


def test_family_list_json(cli: Cli, family_dir: PreparedFamily) -> None:
    families = {f["name"]: f for f in cli.json("family", "list")}
    assert set(families) == {FAMILY, OTHER_FAMILY}
    lee = families[FAMILY]
    assert lee["id"] == family_dir.id
    assert (lee["plan"], lee["owner"], lee["members"], lee["lines"]) == (HK_PLAN, OWNER, 3, 1)
    assert families[OTHER_FAMILY]["members"] == 1


def test_family_show_by_id_and_by_name(cli: Cli, family_dir: PreparedFamily) -> None:
    by_id = cli.json("family", "show", family_dir.id)
    by_name = cli.json("family", "show", FAMILY)
    assert by_id == by_name == family_dir.json("show")

    table = cli.ok("family", "show", FAMILY).stdout
    for text in (FAMILY, family_dir.id, OWNER, ADULT, CHILD, "+852 9123 0077", iccid(77)):
        assert text in table


def test_member_add_adult_and_child_with_guardian(family_dir: PreparedFamily) -> None:
    detail = family_dir.json("show")
    for step, name, role in (("adult", ADULT, "adult"), ("child", CHILD, "child")):
        added = family_dir.json(step)
        assert added["family_id"] == family_dir.id
        member = member_named(detail, name)
        assert (member["id"], member["role"], member["status"]) == (added["id"], role, "active")
    child = member_named(detail, CHILD)
    assert child["guardian_id"] == detail["owner_id"]
    # Children start safe: no roaming, no paid overage.
    assert child["allocation"]["roaming_allowed"] is False
    assert child["allocation"]["money_cap"]["minor"] == 0
    assert member_named(detail, ADULT)["guardian_id"] is None


def test_line_add_and_watch_attach(family_dir: PreparedFamily) -> None:
    assert "Attached a watch to" in family_dir.results["watch"].stdout
    detail = family_dir.json("show")
    line = line_of(detail, LINE)
    assert line["id"] == family_dir.json("line")["id"]
    assert (line["member"], line["status"], line["data_only"]) == (ADULT, "active", False)
    phone, watch = line["subscriptions"]
    assert phone == phone | {
        "primary": True,
        "device_kind": "phone",
        "sim_type": "esim",
        "iccid": iccid(77),
        "imsi": imsi(77),
        "eid": eid(77),
        "imei": imei(77),
    }
    assert watch == watch | {
        "primary": False,
        "device_kind": "watch",
        "sim_type": "esim",
        "iccid": iccid(WATCH),
        "imsi": imsi(WATCH),
    }


def test_allocate_with_units(cli: Cli) -> None:
    detail = cli.json(
        "allocate", FAMILY, ADULT, "--data-quota", "10GB", "--data-cap", "12GB"
    )  # fmt: skip
    assert limits_of(member_named(detail, ADULT)) == {("data", "home"): (10 * GB, 12 * GB)}

    detail = cli.json(
        "allocate", FAMILY, ADULT, "--zone", "greater-china", "--voice-quota", "2h",
        "--sms-cap", "20", "--hotspot", "2GiB", "--money-cap", "100.00", "--no-roaming",
        "--on-exhaust", "throttle",
    )  # fmt: skip
    member = member_named(detail, ADULT)
    assert limits_of(member) == {
        ("data", "home"): (10 * GB, 12 * GB),  # options not given keep their value
        ("voice", "greater-china"): (7200, None),
        ("sms", "greater-china"): (None, 20),
    }
    allocation = member["allocation"]
    assert allocation["hotspot_quota"] == 2 * 2**30
    assert allocation["money_cap"] == {"minor": 10000, "currency": "HKD", "text": "HKD 100.00"}
    assert allocation["roaming_allowed"] is False
    assert allocation["exhaustion"] == "throttle"

    detail = cli.json("allocate", FAMILY, ADULT, "--data-quota", "none", "--data-cap", "none")
    assert ("data", "home") not in limits_of(member_named(detail, ADULT))


def test_allocate_always_allowed_numbers_and_quiet_hours(cli: Cli) -> None:
    detail = cli.json(
        "allocate", FAMILY, CHILD, "--allow", "+852 6123-0009", "--allow", "1878000",
        "--quiet-hours", "mon-fri 8:30-15:30", "--quiet-hours", "Sun-Thu 21:00-07:00 data,voice",
    )  # fmt: skip
    child = member_named(detail, CHILD)
    assert child["allocation"]["always_allowed"] == ["+85261230009", "1878000"]
    assert child["allocation"]["quiet_hours"] == [
        "Mon-Fri 08:30-15:30",
        "Sun-Thu 21:00-07:00 data,voice",
    ]
    # The guardian (the owner) has no line yet: the plan's emergency numbers come on top.
    assert child["always_allowed_all"] == ["+85261230009", "112", "1878000", "999"]
    assert child["allocation"]["roaming_allowed"] is False  # the rest is kept

    # Options not given keep their value; --disallow takes any spelling of the number.
    detail = cli.json("allocate", FAMILY, CHILD, "--disallow", "1878000", "--data-cap", "3GB")
    child = member_named(detail, CHILD)
    assert child["allocation"]["always_allowed"] == ["+85261230009"]
    assert len(child["allocation"]["quiet_hours"]) == 2

    # A child's guardian's lines are always allowed.
    cli.ok("member", "guardian", FAMILY, CHILD, ADULT)
    detail = cli.json("allocate", FAMILY, CHILD, "--quiet-hours", "daily 22:00-24:00 data")
    child = member_named(detail, CHILD)
    assert child["allocation"]["quiet_hours"] == ["daily 22:00-00:00 data"]
    assert LINE in child["always_allowed_all"]

    table = cli.ok("family", "show", FAMILY).stdout
    for text in ("time zone Asia/Hong_Kong", "+85261230009", "daily 22:00-00:00 data", LINE):
        assert text in table

    detail = cli.json("allocate", FAMILY, CHILD, "--no-quiet-hours")
    assert member_named(detail, CHILD)["allocation"]["quiet_hours"] == []


def test_family_time_zone(cli: Cli) -> None:
    assert "Europe/Moscow" in cli.ok("family", "time-zone", FAMILY, "Europe/Moscow").stdout
    assert cli.json("family", "show", FAMILY)["time_zone"] == "Europe/Moscow"
    created = cli.json(
        "family", "create", "--name", "Kwok family", "--plan", HK_PLAN, "--owner", "Kwok",
        "--time-zone", "Asia/Macau", "--json",
    )  # fmt: skip
    assert created["time_zone"] == "Asia/Macau"


def test_quotas_that_oversubscribe_the_pool_are_refused(cli: Cli) -> None:
    cli.ok("allocate", FAMILY, ADULT, "--data-quota", "60GB")
    message = cli.fails("allocate", FAMILY, OWNER, "--data-quota", "60GB")
    assert "add up to 120 GB" in message
    assert "pools only 100 GB" in message
    assert "oversubscription" in message


def test_change_plan(cli: Cli, tmp_path: Path) -> None:
    # The sample catalog has one plan per currency: no other plan can take an HKD family.
    message = cli.fails("family", "change-plan", FAMILY, "ru-semya-40")
    assert "billed in RUB" in message
    assert "HKD" in message

    text = sample_catalog_path().read_text(encoding="utf-8").split("# --- Russia")[0]
    text = text.replace(HK_PLAN, "hk-family-5g-50").replace('data = "100GB"', 'data = "50GB"')
    cli.ok("plans", "load", write_catalog(tmp_path / "hk50.toml", text))
    result = cli.ok("family", "change-plan", FAMILY, "hk-family-5g-50")
    assert "next cycle" in result.stdout
    detail = cli.json("family", "show", FAMILY)
    assert (detail["plan"], detail["pending_plan"]) == (HK_PLAN, "hk-family-5g-50")


def test_line_suspend_and_resume(cli: Cli) -> None:
    cli.ok("line", "suspend", FAMILY, LINE, "--reason", "phone lost")
    line = line_of(cli.json("family", "show", FAMILY), LINE)
    assert (line["status"], line["suspended_reason"]) == ("suspended", "phone lost")

    assert "already suspended" in cli.fails("line", "suspend", FAMILY, LINE)

    cli.ok("line", "resume", FAMILY, LINE)
    line = line_of(cli.json("family", "show", FAMILY), LINE)
    assert (line["status"], line["suspended_reason"]) == ("active", None)


def test_member_guardian_hands_a_child_to_another_adult(cli: Cli) -> None:
    child = next(m for m in cli.json("family", "show", FAMILY)["members"] if m["role"] == "child")
    assert (
        "is now the guardian" in cli.ok("member", "guardian", FAMILY, child["name"], OWNER).stdout
    )
    members = {m["name"]: m for m in cli.json("family", "show", FAMILY)["members"]}
    assert members[child["name"]]["guardian_id"] == members[OWNER]["id"]


def test_member_remove_suspends_their_lines(cli: Cli) -> None:
    assert "suspended" in cli.ok("member", "remove", FAMILY, ADULT).stdout
    detail = cli.json("family", "show", FAMILY)
    member = member_named(detail, ADULT)
    assert member["status"] == "removed"
    assert member["removed_on"] is not None
    line = line_of(detail, LINE)  # kept for history
    assert (line["status"], line["suspended_reason"]) == ("suspended", "member removed")

    assert "removed member" in cli.fails("line", "resume", FAMILY, LINE)


def test_demo_twice_is_idempotent(make_cli: Callable[..., Cli]) -> None:
    cli = make_cli()
    first = cli.ok("demo", "--no-serve")
    assert "Chan family" in first.stdout
    assert "Chan Tai Man" in first.stdout
    assert "filled in 9 days" in first.stdout  # the cycle's first days, simulated once
    used = _pool_used(cli)
    assert used > 0
    second = cli.ok("demo", "--no-serve")
    assert "filled in" not in second.stdout
    assert _pool_used(cli) == used
    families = cli.json("family", "list")
    assert [f["name"] for f in families] == ["Chan family"]
    assert (families[0]["members"], families[0]["lines"]) == (4, 5)
    for person in ("taiman@chan-family.example", "meiling@chan-family.example"):
        assert person in first.stdout
    logins = json.loads((cli.data_dir / "demo-logins.json").read_text(encoding="utf-8"))
    assert logins["operator"]["api_key"].startswith("fsk_")
    assert logins["owner"]["login"] == "taiman@chan-family.example"
    assert (cli.data_dir / "demo-logins.json").stat().st_mode & 0o077 == 0


def _pool_used(cli: Cli) -> int:
    detail = cli.json("family", "show", "Chan family")
    return sum(p["used"] for p in detail["cycle"]["pools"] if p["resource"] == "data")


def test_usage_error_exits_2_without_traceback(init_cli: Cli) -> None:
    result = init_cli.run("family", "create", "--name", "X", "--plan", HK_PLAN)
    assert result.returncode == 2, result.describe()
    assert "--owner" in result.stderr
    assert result.stdout == ""


# ------------------------------------------------------------------------- bad input
CREATE_X = ["family", "create", "--name", "X", "--plan", HK_PLAN, "--owner", "Y"]
ATTACH_NEW = ["line", "attach", FAMILY, "--msisdn", LINE, "--iccid", iccid(NEW)]
ATTACH_NEW += ["--imsi", imsi(NEW)]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        pytest.param(
            new_line(iccid=bad_check_digit(iccid(NEW))),
            ["ICCID", bad_check_digit(iccid(NEW)), "checksum", "Luhn"],
            id="iccid-checksum",
        ),
        pytest.param(
            new_line(iccid="89852000012300007AB"), ["ICCID", "format"], id="iccid-letters"
        ),
        pytest.param(new_line(iccid="898520000123"), ["ICCID", "length"], id="iccid-length"),
        pytest.param(
            new_line(iccid="1" + iccid(NEW)[1:]), ["ICCID", "prefix", "89"], id="iccid-prefix"
        ),
        pytest.param(new_line(msisdn="+8529123"), ["MSISDN", "+8529123"], id="msisdn-short"),
        pytest.param(
            new_line(msisdn="91230079"), ["MSISDN", "country code"], id="msisdn-no-country"
        ),
        pytest.param(
            new_line(imei=bad_check_digit(imei(NEW))), ["IMEI", "checksum"], id="imei-checksum"
        ),
        pytest.param(
            new_line(eid=bad_check_digit(eid(NEW))), ["EID", "checksum"], id="eid-checksum"
        ),
        pytest.param(
            new_line(imsi="454991230000079"), ["IMSI", "network code"], id="imsi-unknown-mnc"
        ),
        pytest.param(
            ["family", "create", "--name", "X", "--plan", "hk-family-5g-999", "--owner", "Y"],
            ["plan", "'hk-family-5g-999'"],
            id="unknown-plan",
        ),
        pytest.param(
            ["member", "add", FAMILY, "--name", "Kid", "--role", "child"],
            ["child needs a guardian"],
            id="child-without-guardian",
        ),
        pytest.param(
            ["member", "add", FAMILY, "--name", "Kid", "--role", "child", "--guardian", CHILD],
            [CHILD, "cannot be a guardian"],
            id="guardian-is-a-child",
        ),
        pytest.param(
            ["member", "add", FAMILY, "--name", "Kid", "--role", "child", "--guardian", "Nobody"],
            ["guardian", "'Nobody'"],
            id="guardian-unknown",
        ),
        pytest.param(
            ["family", "show", "Nope family"], ["family", "'Nope family'"], id="no-family"
        ),
        pytest.param(new_line(member="Nobody"), ["member", "'Nobody'"], id="line-add-no-member"),
        pytest.param(["member", "remove", FAMILY, OWNER], ["owner"], id="remove-owner"),
        pytest.param(
            [*CREATE_X, "--money-cap", "1.234"],
            ["'1.234'", "2 decimal places"],
            id="money-cap-decimals",
        ),
        pytest.param(
            ["allocate", FAMILY, ADULT, "--data-quota", "10XB"],
            ["'10XB'", "unknown unit"],
            id="unknown-unit",
        ),
        pytest.param(
            ["allocate", FAMILY, ADULT, "--data-quota", "12GB", "--data-cap", "10GB"],
            ["cap", "below the quota"],
            id="cap-below-quota",
        ),
        pytest.param(
            ["allocate", FAMILY, ADULT, "--zone", "cis", "--data-quota", "1GB"],
            ["does not cover", "'cis'"],
            id="zone-not-in-plan",
        ),
        pytest.param(
            ["allocate", FAMILY, CHILD, "--allow", "85261230009"],
            ["'85261230009'", "short code", "country code"],
            id="allow-without-country-code",
        ),
        pytest.param(
            ["allocate", FAMILY, CHILD, "--disallow", "999"],
            ["999 is not one of", "emergency numbers"],
            id="disallow-an-emergency-number",
        ),
        pytest.param(
            ["allocate", FAMILY, CHILD, "--quiet-hours", "Mon-Fri 8-15"],
            ["invalid quiet hours", "'Mon-Fri 8-15'", "HH:MM"],
            id="quiet-hours-bad-times",
        ),
        pytest.param(
            ["allocate", FAMILY, CHILD, "--quiet-hours", "Mon 08:00-09:00", "--no-quiet-hours"],
            ["--quiet-hours or --no-quiet-hours"],
            id="quiet-hours-and-none",
        ),
        pytest.param(
            ["family", "time-zone", FAMILY, "Hong Kong"],
            ["unknown time zone 'Hong Kong'"],
            id="unknown-time-zone",
        ),
        pytest.param(
            [*CREATE_X, "--time-zone", "europe/london"],
            ["did you mean 'Europe/London'"],
            id="create-time-zone-case",
        ),
        pytest.param(
            [*ATTACH_NEW, "--device", "phone"],
            ["phone needs its own line"],
            id="attach-a-phone",
        ),
        pytest.param(new_line(msisdn=LINE), ["already a line"], id="number-in-family"),
        pytest.param(
            new_line(OTHER_FAMILY, OTHER_OWNER, iccid=iccid(77)),
            ["ICCID", iccid(77), "another family"],
            id="iccid-of-another-family",
        ),
        pytest.param(
            new_line(OTHER_FAMILY, OTHER_OWNER, iccid=iccid(WATCH)),
            ["ICCID", iccid(WATCH), "another family"],
            id="watch-iccid-of-another-family",
        ),
        pytest.param(
            new_line(OTHER_FAMILY, OTHER_OWNER, msisdn=LINE),
            ["number", "another family"],
            id="number-of-another-family",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    cli: Cli, args: list[str], words: list[str]
) -> None:
    message = cli.fails(*args)
    for word in words:
        assert word in message


# ---------------------------------------------------------------------- bad catalogs
PLAN_HEAD = """
[[plans]]
code = "x-plan"
name = "X"
currency = "HKD"
home_mccs = ["454"]
monthly_fee = "1.00"
line_fees = { phone = "1.00", watch = "1.00", tablet = "1.00", other = "1.00" }
"""
BAD_CATALOGS = {
    "invalid-toml": ("plans = [\n", ["not valid TOML"]),
    "unknown-key": (
        PLAN_HEAD + 'colour = "red"\n[plans.allowances.home]\ndata = "1GB"\n',
        ["plans[0] (x-plan).colour", "unknown key"],
    ),
    "bad-amount": (
        PLAN_HEAD + '[plans.allowances.home]\ndata = "8XB"\n',
        ["plans[0] (x-plan).allowances.home.data", "'8XB'", "unknown unit"],
    ),
    "mcc-in-two-zones": (
        PLAN_HEAD + '[plans.allowances.home]\ndata = "1GB"\n'
        '[[plans.roaming_zones]]\nname = "a"\nmccs = ["460"]\n'
        '[[plans.roaming_zones]]\nname = "b"\nmccs = ["460"]\n',
        ["plans[0] (x-plan)", "MCC 460", "both 'a' and 'b'"],
    ),
    "missing-file": (None, ["cannot read catalog", "missing.toml"]),
}


@pytest.mark.parametrize("command", [["init", "--catalog"], ["plans", "load"]], ids=" ".join)
@pytest.mark.parametrize("case", list(BAD_CATALOGS))
def test_bad_catalog_is_refused_naming_the_key(
    cli: Cli, tmp_path: Path, command: list[str], case: str
) -> None:
    text, words = BAD_CATALOGS[case]
    path = tmp_path / f"{case}.toml" if text is not None else tmp_path / "missing.toml"
    if text is not None:
        write_catalog(path, text)
    message = cli.fails(*command, str(path))
    assert message.startswith(f"{path}: ") or case == "missing-file"
    for word in words:
        assert word in message


def test_plans_load_refuses_to_change_the_currency_of_a_plan_in_use(
    cli: Cli, tmp_path: Path
) -> None:
    text = sample_catalog_path().read_text(encoding="utf-8").split("# --- Russia")[0]
    path = write_catalog(tmp_path / "hk-usd.toml", text.replace('"HKD"', '"USD"'))
    message = cli.fails("plans", "load", path)
    assert f"plan '{HK_PLAN}' is billed in HKD" in message
    assert "USD" in message


def test_init_with_a_bad_catalog_creates_no_database(
    make_cli: Callable[..., Cli], tmp_path: Path
) -> None:
    text, words = BAD_CATALOGS["bad-amount"]
    assert text is not None
    cli = make_cli()
    message = cli.fails("init", "--catalog", write_catalog(tmp_path / "bad.toml", text))
    assert words[0] in message
    assert not cli.db_path.exists()


# --------------------------------------------------------------- unusable storage
def test_data_dir_that_is_a_file_is_a_user_error(
    make_cli: Callable[..., Cli], tmp_path: Path
) -> None:
    not_a_dir = tmp_path / "famsim-data"
    not_a_dir.write_text("", encoding="utf-8")
    message = make_cli(not_a_dir).error("plans", "list")
    assert str(not_a_dir) in message
