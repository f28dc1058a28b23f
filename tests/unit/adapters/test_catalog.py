"""The catalog adapter: TOML text -> validated domain plans, errors that name the bad key,
and the stored document form of a plan (plan_to_document / plan_from_document)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from famsim.adapters.catalog import (
    CatalogError,
    load_catalog,
    parse_catalog,
    plan_from_document,
    plan_to_document,
    sample_catalog_path,
)
from famsim.domain.errors import FamsimError, InvalidInput
from famsim.domain.money import Money
from famsim.domain.plan import DeviceKind, Plan
from famsim.domain.units import HOME, Resource, Zone

pytestmark = pytest.mark.unit

SOURCE = "test.toml"
PLAN0 = "plans[0] (x-plan)"

LINE_FEES = 'line_fees = { phone = "88.00", watch = "38.00", tablet = "58.00", other = "58.00" }'


def catalog(
    *,
    code: str = "x-plan",
    currency: str = "HKD",
    home_mccs: str = '["454"]',
    monthly_fee: str = '"398.00"',
    line_fees: str = LINE_FEES,
    head: str = "",
    home: str = 'data = "100GB"',
    tail: str = "",
) -> str:
    """A one-plan catalog; each argument replaces one part (raw TOML)."""
    return f"""
[[plans]]
code = "{code}"
name = "Test plan"
currency = "{currency}"
home_mccs = {home_mccs}
monthly_fee = {monthly_fee}
{line_fees}
{head}

[plans.allowances.home]
{home}

{tail}
"""


def parse(text: str) -> list[Plan]:
    return parse_catalog(text, source=SOURCE)


def problem(text: str) -> str:
    """The one-line message of the CatalogError that *text* raises."""
    with pytest.raises(CatalogError) as info:
        parse(text)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{SOURCE}: ")
    return message


GB = 10**9


# --------------------------------------------------------------------------- valid
def test_minimal_valid_plan() -> None:
    (plan,) = parse(catalog())
    assert plan.code == "x-plan"
    assert plan.name == "Test plan"
    assert plan.currency == "HKD"
    assert plan.home_mccs == frozenset({"454"})
    assert plan.monthly_fee == Money(39800, "HKD")
    assert plan.management_fee == Money(0, "HKD")  # default
    assert plan.line_fees == {
        DeviceKind.PHONE: Money(8800, "HKD"),
        DeviceKind.WATCH: Money(3800, "HKD"),
        DeviceKind.TABLET: Money(5800, "HKD"),
        DeviceKind.OTHER: Money(5800, "HKD"),
    }
    # Only the resources written are in the plan: voice and SMS are not covered at home.
    assert dict(plan.allowances) == {(Resource.DATA, HOME): 100 * GB}
    assert not plan.covers(Resource.VOICE, HOME)
    assert plan.overage == {}
    assert plan.roaming_zones == ()
    assert plan.hotspot.allowed
    assert plan.hotspot.sub_quota is None
    assert (plan.max_members, plan.max_lines) == (5, 10)


def test_unlimited_amounts() -> None:
    (plan,) = parse(
        catalog(
            home='data = "unlimited"\nvoice = "unlimited"\nsms = 0',
            head='hotspot = { allowed = true, sub_quota = "unlimited" }',
        )
    )
    assert dict(plan.allowances) == {
        (Resource.DATA, HOME): None,
        (Resource.VOICE, HOME): None,
        (Resource.SMS, HOME): 0,
    }
    assert plan.allowance(Resource.DATA, HOME) is None
    assert plan.hotspot.sub_quota is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"1GiB"', 2**30),
        ('"512MiB"', 512 * 2**20),
        ('"3KiB"', 3 * 2**10),
        ('"1TiB"', 2**40),
        ('"1.5GB"', 1_500_000_000),  # SI, and a fraction that is a whole number of bytes
        ('"500mb"', 500 * 10**6),  # units are case-insensitive
        ("1024", 1024),  # a bare integer is bytes
    ],
)
def test_data_units(text: str, expected: int) -> None:
    (plan,) = parse(catalog(home=f"data = {text}"))
    assert plan.allowance(Resource.DATA, HOME) == expected


def test_voice_sms_overage_roaming_and_hotspot() -> None:
    (plan,) = parse(
        catalog(
            home='data = "10GB"\nvoice = "2h"\nsms = 100',
            head='management_fee = "20.00"\nmax_members = 3\nmax_lines = 4\n'
            'hotspot = { allowed = true, sub_quota = "2GiB" }',
            tail="""
[plans.allowances.asia]
voice = "90min"

[plans.overage.home]
data = { price = "30.00", per = "1GB" }
sms = { price = "0.50" }

[plans.overage.asia]
voice = { price = "2.00", per = "1min" }

[[plans.roaming_zones]]
name = "asia"
mccs = ["460", "455"]
""",
        )
    )
    asia = Zone("asia")
    assert plan.allowance(Resource.VOICE, HOME) == 7200
    assert plan.allowance(Resource.SMS, HOME) == 100
    assert plan.allowance(Resource.VOICE, asia) == 5400
    assert not plan.covers(Resource.DATA, asia)
    assert plan.overage[(Resource.DATA, HOME)].per == GB
    assert plan.overage[(Resource.DATA, HOME)].price == Money(3000, "HKD")
    assert plan.overage[(Resource.SMS, HOME)].per == 1  # default per
    assert plan.overage[(Resource.VOICE, asia)].per == 60
    assert plan.zone_for_mcc("455") == asia
    assert plan.zone_for_mcc("454") == HOME
    assert plan.management_fee == Money(2000, "HKD")
    assert plan.hotspot.sub_quota == 2 * 2**30
    assert (plan.max_members, plan.max_lines) == (3, 4)


def test_integer_money_is_major_units_and_zero_decimal_currency() -> None:
    fees = 'line_fees = { phone = 800, watch = 300, tablet = 500, other = "500" }'
    (plan,) = parse(catalog(currency="JPY", monthly_fee="4980", line_fees=fees))
    assert plan.monthly_fee == Money(4980, "JPY")
    assert plan.line_fees[DeviceKind.PHONE] == Money(800, "JPY")


def test_sample_catalog_loads() -> None:
    plans = load_catalog(sample_catalog_path())
    assert [(p.code, p.currency) for p in plans] == [
        ("hk-family-5g-100", "HKD"),
        ("ru-semya-40", "RUB"),
        ("us-family-share-50", "USD"),
    ]
    hk = plans[0]
    assert hk.allowance(Resource.DATA, HOME) == 100 * GB
    assert hk.allowance(Resource.VOICE, HOME) is None
    assert hk.hotspot.sub_quota == 20 * GB


# -------------------------------------------------------------------------- errors
def test_catalog_error_is_an_invalid_input() -> None:
    # The CLI maps every FamsimError to one line and exit code 2.
    assert issubclass(CatalogError, InvalidInput)
    assert issubclass(CatalogError, FamsimError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            catalog(head='colour = "red"'), [f"{PLAN0}.colour: unknown key"], id="unknown-key"
        ),
        pytest.param(
            catalog(tail='[plans.allowances.home2]\ndata = "1GB"\nminutes = 3'),
            [f"{PLAN0}.allowances.home2.minutes: unknown key"],
            id="unknown-key-nested",
        ),
        pytest.param("foo = 1\n" + catalog(), ["foo: unknown key"], id="unknown-top-level-key"),
        pytest.param(
            catalog(monthly_fee="398.0"),
            [f"{PLAN0}.monthly_fee", "floats are not exact"],
            id="float-money",
        ),
        pytest.param(
            catalog(tail='[plans.overage.home]\ndata = { price = 30.5, per = "1GB" }'),
            [f"{PLAN0}.overage.home.data.price", "floats are not exact"],
            id="float-overage-price",
        ),
        pytest.param(
            catalog(monthly_fee="true"),
            [f"{PLAN0}.monthly_fee", "expected an amount of money"],
            id="bool-money",
        ),
        pytest.param(
            catalog(monthly_fee='"398.005"'),
            [f"{PLAN0}", "'398.005'", "2 decimal places"],
            id="too-many-decimals",
        ),
        pytest.param(
            catalog(home="data = -5"),
            [f"{PLAN0}.allowances.home.data", "must not be negative"],
            id="negative-integer-amount",
        ),
        pytest.param(
            catalog(home='data = "-5GB"'),
            [f"{PLAN0}.allowances.home.data", "'-5GB'", "expected a number and a unit"],
            id="negative-amount-text",
        ),
        pytest.param(
            catalog(home='data = "8XB"'),
            [f"{PLAN0}.allowances.home.data", "'8XB'", "unknown unit 'xb'"],
            id="unknown-data-unit",
        ),
        pytest.param(
            catalog(home='voice = "10GB"'),
            [f"{PLAN0}.allowances.home.voice", "unknown unit 'gb'"],
            id="data-unit-on-voice",
        ),
        pytest.param(
            catalog(home="data = 1.5"),
            [f"{PLAN0}.allowances.home.data", "'unlimited'"],
            id="float-amount",
        ),
        pytest.param(
            catalog(home='voice = "1.5s"'),
            [f"{PLAN0}.allowances.home.voice", "not a whole number"],
            id="fractional-base-unit",
        ),
        pytest.param(
            catalog(currency="XYZ"),
            [PLAN0, "'XYZ'", "ISO 4217"],
            id="currency-not-iso-4217",
        ),
        pytest.param(
            catalog(currency="hkd"),
            [f"{PLAN0}.currency", "in capitals: 'HKD'"],
            id="currency-lower-case",
        ),
        pytest.param(
            catalog(currency="XAU"),
            [PLAN0, "'XAU'", "no minor unit"],
            id="currency-without-minor-unit",
        ),
        pytest.param(
            catalog() + catalog(),
            ["plan code 'x-plan' is defined twice"],
            id="duplicate-codes",
        ),
        pytest.param(
            catalog(code="X Plan"),
            ["plans[0] (X Plan)", "plan code 'X Plan'"],
            id="bad-code",
        ),
        pytest.param(
            catalog(home_mccs='["45"]'),
            [f"{PLAN0}.home_mccs[0]", "[0-9]{3}"],
            id="home-mcc-not-3-digits",
        ),
        pytest.param(
            catalog(home_mccs='["454", "4540"]'),
            [f"{PLAN0}.home_mccs[1]", "[0-9]{3}"],
            id="second-home-mcc-not-3-digits",
        ),
        pytest.param(
            catalog(home_mccs="[]"),
            [f"{PLAN0}.home_mccs", "at least 1"],
            id="no-home-mcc",
        ),
        pytest.param(
            catalog(tail='[[plans.roaming_zones]]\nname = "asia"\nmccs = ["46"]'),
            [f"{PLAN0}.roaming_zones[0].mccs[0]", "[0-9]{3}"],
            id="roaming-mcc-not-3-digits",
        ),
        pytest.param(
            catalog(line_fees='line_fees = { phone = "1.00", watch = "1.00", tablet = "1.00" }'),
            [f"{PLAN0}.line_fees.other", "Field required"],
            id="line-fee-missing",
        ),
        pytest.param(
            catalog(line_fees=""),
            [f"{PLAN0}.line_fees", "Field required"],
            id="line-fees-missing",
        ),
        pytest.param(
            catalog(tail='[plans.allowances."Bad Zone"]\ndata = "1GB"'),
            [PLAN0, "invalid zone name 'Bad Zone'"],
            id="zone-name-invalid",
        ),
        pytest.param(
            catalog(tail='[plans.allowances.mars]\ndata = "1GB"'),
            [PLAN0, "allowances.mars: zone 'mars' is not defined"],
            id="allowance-for-unknown-zone",
        ),
        pytest.param(
            catalog(tail='[plans.overage.mars]\ndata = { price = "1.00", per = "1GB" }'),
            [PLAN0, "overage.mars: zone 'mars' is not defined"],
            id="overage-for-unknown-zone",
        ),
        pytest.param(
            catalog(
                tail='[[plans.roaming_zones]]\nname = "a"\nmccs = ["460"]\n'
                '[[plans.roaming_zones]]\nname = "b"\nmccs = ["460"]'
            ),
            [PLAN0, "MCC 460 is in both 'a' and 'b'"],
            id="mcc-in-two-zones",
        ),
        pytest.param(
            catalog(tail='[[plans.roaming_zones]]\nname = "x"\nmccs = ["454"]'),
            [PLAN0, "MCC 454 is in both 'home' and 'x'"],
            id="home-mcc-in-roaming-zone",
        ),
        pytest.param(
            catalog(tail='[[plans.roaming_zones]]\nname = "home"\nmccs = ["460"]'),
            [PLAN0, "cannot be called 'home'"],
            id="roaming-zone-called-home",
        ),
        pytest.param(
            catalog(head='hotspot = { allowed = false, sub_quota = "1GB" }'),
            [PLAN0, "hotspot"],
            id="hotspot-quota-without-hotspot",
        ),
        pytest.param(
            catalog(head="max_members = 0"),
            [f"{PLAN0}.max_members", "greater than or equal to 1"],
            id="max-members-zero",
        ),
        pytest.param(
            catalog(head='emergency_numbers = ["999", "9"]'),
            [f"{PLAN0}.emergency_numbers[1]", "'9'", "2 to 8 digits"],
            id="emergency-number-too-short",
        ),
        pytest.param(
            catalog(head='time_zone = "Asia/HongKong"'),
            [f"{PLAN0}.time_zone", "unknown time zone 'Asia/HongKong'"],
            id="unknown-time-zone",
        ),
        pytest.param("plans = []", ["plans:", "at least 1"], id="no-plans"),
        pytest.param("", ["plans: Field required"], id="empty-file"),
        pytest.param("plans = [\n", ["not valid TOML"], id="invalid-toml"),
    ],
)
def test_error_names_the_key_and_the_reason(text: str, expected: list[str]) -> None:
    message = problem(text)
    for part in expected:
        assert part in message, message


def test_several_problems_report_the_first_and_count_the_rest() -> None:
    message = problem(catalog(monthly_fee="1.5", home='data = "8XB"'))
    assert f"{PLAN0}.monthly_fee" in message
    assert message.endswith("(and 1 more problem)")


def test_error_in_second_plan_names_that_plan() -> None:
    text = catalog() + catalog(code="y-plan", home='data = "8XB"')
    assert "plans[1] (y-plan).allowances.home.data" in problem(text)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        pytest.param(catalog(currency="XYZ"), f"{PLAN0}.currency", id="currency"),
        pytest.param(
            catalog(tail='[plans.allowances."Bad Zone"]\ndata = "1GB"'),
            f"{PLAN0}.allowances",
            id="zone-name",
        ),
        pytest.param(
            catalog(tail='[plans.overage.mars]\ndata = { price = "1.00", per = "1GB" }'),
            f"{PLAN0}.overage.mars",
            id="overage-zone",
        ),
        pytest.param(
            catalog(tail='[plans.overage.home]\ndata = { price = "1.00", per = 0 }'),
            f"{PLAN0}.overage.home.data.per",
            id="overage-per-zero",
        ),
        pytest.param(
            catalog(
                tail='[[plans.roaming_zones]]\nname = "a"\nmccs = ["460"]\n'
                '[[plans.roaming_zones]]\nname = "b"\nmccs = ["460"]'
            ),
            f"{PLAN0}.roaming_zones[1]",
            id="mcc-in-two-zones",
        ),
        pytest.param(catalog() + catalog(), "plans[1] (x-plan).code", id="duplicate-code"),
    ],
)
def test_plan_level_errors_name_the_exact_key(text: str, key: str) -> None:
    assert key in problem(text)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(CatalogError, match=r"cannot read catalog .*nope\.toml"):
        load_catalog(path)


def test_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(catalog().replace("Test plan", "Famille \xe9").encode("latin-1"))
    with pytest.raises(CatalogError, match="not UTF-8"):
        load_catalog(path)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(catalog(home='data = "8XB"'), encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert str(info.value).startswith(f"{path}: {PLAN0}.allowances.home.data: ")


# ---------------------------------------------------------------------- documents
def _roundtrip_cases() -> list[Plan]:
    plans = load_catalog(sample_catalog_path())
    plans += parse(
        catalog(
            code="jp-edge",
            currency="JPY",
            monthly_fee="4980",
            line_fees="line_fees = { phone = 800, watch = 0, tablet = 500, other = 500 }",
            head="hotspot = { allowed = false }\nmax_members = 1\nmax_lines = 1\n"
            'time_zone = "Asia/Tokyo"\nemergency_numbers = ["110", "119", "+81 3-3581-4321"]',
            home='data = "1GiB"\nvoice = 0\nsms = "unlimited"',
            tail='[plans.overage.home]\nvoice = { price = "3", per = "30s" }',
        )
    )
    return plans


@pytest.mark.parametrize("plan", _roundtrip_cases(), ids=lambda plan: plan.code)
def test_document_roundtrip_is_exact(plan: Plan) -> None:
    document = plan_to_document(plan)
    assert plan_from_document(document) == plan
    # Stored as JSON in the database: the round trip must survive serialisation too.
    stored = json.loads(json.dumps(document))
    assert stored == document
    assert plan_from_document(stored) == plan
    # And the document form is a fixed point.
    assert plan_to_document(plan_from_document(stored)) == document


def test_document_stored_before_child_safety_loads_with_the_defaults() -> None:
    hk = load_catalog(sample_catalog_path())[0]
    document = plan_to_document(hk)
    assert (document["time_zone"], document["emergency_numbers"]) == (
        "Asia/Hong_Kong",
        ["112", "999"],
    )
    del document["time_zone"], document["emergency_numbers"]
    old = plan_from_document(document)
    assert (old.time_zone, old.emergency_numbers) == ("UTC", frozenset())
    assert old == dataclasses.replace(hk, time_zone="UTC", emergency_numbers=frozenset())


def test_document_of_sample_hk_plan() -> None:
    hk = load_catalog(sample_catalog_path())[0]
    document = plan_to_document(hk)
    assert document["allowances"]["home"] == {"data": 100 * GB, "voice": "unlimited", "sms": 500}
    assert document["overage"]["home"]["data"] == {"price": "30.00", "per": GB}
    assert document["monthly_fee"] == "398.00"
    assert document["hotspot"] == {"allowed": True, "sub_quota": 20 * GB}
    assert document["roaming_zones"] == [
        {"name": "greater-china", "mccs": ["455", "460", "461", "466"]}
    ]


def test_plan_from_document_validates() -> None:
    hk = load_catalog(sample_catalog_path())[0]
    document = plan_to_document(hk) | {"monthly_fee": 398.0}
    with pytest.raises(ValueError, match="floats are not exact"):
        plan_from_document(document)
