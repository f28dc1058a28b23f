"""The allocation editor's form read field by field (``forms.read``), and amounts shown for
editing (``format.editable``) read back exactly."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from famsim.domain.allocation import Allocation, ExhaustionAction, Limit
from famsim.domain.money import Money
from famsim.domain.units import HOME, Resource, Zone, parse_amount
from famsim.entrypoints.web import forms, i18n
from famsim.entrypoints.web.format import editable
from famsim.entrypoints.web.render import Text

pytestmark = pytest.mark.unit

ABROAD = Zone("greater-china")
POOLS = [
    (Resource.DATA, HOME),
    (Resource.DATA, ABROAD),
    (Resource.VOICE, HOME),
    (Resource.SMS, HOME),
]
TEXT = Text(i18n.DEFAULT)
GB, MB = 10**9, 10**6


def read(**fields: str) -> forms.AllocationForm:
    return forms.read(
        fields, family_id="f1", member_id="m1", pools=POOLS, currency="HKD", text=TEXT
    )


def saved(**fields: str) -> Any:
    form = read(**fields)
    assert form.errors == {}
    assert form.command is not None
    return form.command


# ================================================================================ errors
def test_every_field_error_is_reported_at_once() -> None:
    form = read(
        **{
            "quota-data-home": "lots",
            "cap-data-greater-china": "3 parsecs",
            "quota-voice-home": "1.5s",
            "cap-sms-home": "ten",
            "hotspot-quota": "-1GB",
            "money-cap": "1.234",
            "exhaustion": "explode",
        }
    )
    assert form.command is None
    assert set(form.errors) == {
        "quota-data-home",
        "cap-data-greater-china",
        "quota-voice-home",
        "cap-sms-home",
        "hotspot-quota",
        "money-cap",
        "exhaustion",
    }
    assert "“lots” is not an amount" in form.errors["quota-data-home"]
    assert "3GB" in form.errors["quota-data-home"]  # an example in the field's own unit
    assert "300min" in form.errors["quota-voice-home"]
    assert "100" in form.errors["cap-sms-home"]
    assert "HKD" in form.errors["money-cap"]
    assert form.values["quota-data-home"] == "lots"  # what was typed, to show again


def test_values_are_trimmed_before_reading() -> None:
    form = read(**{"quota-data-home": "  2GB \n", "money-cap": " 5.00 "})
    assert form.values["quota-data-home"] == "2GB"
    assert form.command is not None
    assert form.command.limits[(Resource.DATA, HOME)] == Limit(2 * GB, None)
    assert form.money_cap_minor == 500


def test_a_cap_below_the_quota_is_an_error_of_the_cap_field() -> None:
    form = read(**{"quota-data-home": "2GB", "cap-data-home": "1GB", "money-cap": "x"})
    assert form.command is None
    assert set(form.errors) == {"cap-data-home", "money-cap"}
    assert "cannot be below the quota" in form.errors["cap-data-home"]


@pytest.mark.parametrize("typed", ["²", "①"], ids=["superscript-two", "circled-one"])
def test_a_digit_that_is_not_decimal_is_an_error_of_its_field(typed: str) -> None:
    form = read(**{"quota-data-home": typed})
    assert form.command is None
    assert set(form.errors) == {"quota-data-home"}


def test_a_cap_equal_to_the_quota_is_fine() -> None:
    command = saved(**{"quota-data-home": "3GB", "cap-data-home": "3000MB"})
    assert command.limits[(Resource.DATA, HOME)] == Limit(3 * GB, 3 * GB)


# =============================================================================== amounts
@pytest.mark.parametrize(
    ("field", "typed", "units"),
    [
        ("quota-data-home", "3GB", 3 * GB),
        ("quota-data-home", "1.5GB", 1_500_000_000),
        ("quota-data-home", "500MB", 500 * MB),
        ("quota-data-home", "750kB", 750_000),
        ("quota-data-home", "2TB", 2 * 10**12),
        ("quota-data-home", "2GiB", 2 * 2**30),
        ("quota-data-home", "512B", 512),
        ("quota-data-home", "3gb", 3 * GB),
        ("quota-data-home", "0", 0),
        ("quota-voice-home", "300min", 18_000),
        ("quota-voice-home", "90s", 90),
        ("quota-voice-home", "2h", 7_200),
        ("quota-voice-home", "45", 45),  # digits alone: seconds
        ("quota-sms-home", "100", 100),
        ("quota-sms-home", "100sms", 100),
    ],
)
def test_amounts_in_each_unit(field: str, typed: str, units: int) -> None:
    resource = Resource(field.split("-")[1])
    command = saved(**{field: typed})
    assert command.limits[(resource, HOME)] == Limit(units, None)


@pytest.mark.parametrize("typed", ["1500", "1", "1000000001"])
def test_digits_alone_are_bytes_of_data(typed: str) -> None:
    command = saved(**{"quota-data-home": typed, "hotspot-quota": typed})
    assert command.limits[(Resource.DATA, HOME)].quota == int(typed)
    assert command.hotspot_quota == int(typed)


def test_empty_fields_are_no_limit() -> None:
    command = saved(**{"quota-data-home": "", "cap-data-home": "", "hotspot-quota": ""})
    assert command.limits == {}
    assert command.hotspot_quota is None


def test_a_cap_alone_is_a_limit_without_quota() -> None:
    command = saved(**{"cap-data-greater-china": "1GB"})
    assert command.limits == {(Resource.DATA, ABROAD): Limit(None, GB)}


def test_only_the_pools_given_are_read() -> None:
    command = saved(**{"quota-voice-greater-china": "10min", "quota-sms-home": "5"})
    assert command.limits == {(Resource.SMS, HOME): Limit(5, None)}


# ================================================================================= money
@pytest.mark.parametrize(
    ("typed", "minor"),
    [("50.00", 5000), ("50", 5000), ("0.5", 50), ("0", 0), ("0.00", 0), ("1234.56", 123456)],
)
def test_money_is_read_exactly(typed: str, minor: int) -> None:
    form = read(**{"money-cap": typed})
    assert form.errors == {}
    assert form.money_cap_minor == minor


@pytest.mark.parametrize("typed", ["1.234", "1,50", "HK$5", "1e3", "five", "0.001"])
def test_money_that_is_not_exact_is_refused(typed: str) -> None:
    form = read(**{"money-cap": typed})
    assert form.command is None
    assert set(form.errors) == {"money-cap"}


def test_money_in_a_currency_without_decimals() -> None:
    form = forms.read(
        {"money-cap": "500"}, family_id="f", member_id="m", pools=[], currency="JPY", text=TEXT
    )
    assert form.money_cap_minor == 500
    refused = forms.read(
        {"money-cap": "500.5"}, family_id="f", member_id="m", pools=[], currency="JPY", text=TEXT
    )
    assert "JPY" in refused.errors["money-cap"]


def test_no_money_cap_is_none() -> None:
    form = read()
    assert form.command is not None
    assert form.money_cap_minor is None


# ================================================================= exhaustion and redirect
def test_a_redirect_needs_the_address_of_a_page() -> None:
    form = read(exhaustion="redirect")
    assert form.command is None
    assert set(form.errors) == {"redirect-url"}
    command = saved(**{"exhaustion": "redirect", "redirect-url": "https://top-up.example/"})
    assert command.exhaustion is ExhaustionAction.REDIRECT
    assert command.redirect_url == "https://top-up.example/"


@pytest.mark.parametrize("action", ["block", "throttle"])
def test_a_redirect_address_is_dropped_unless_redirecting(action: str) -> None:
    command = saved(**{"exhaustion": action, "redirect-url": "https://top-up.example/"})
    assert command.exhaustion is ExhaustionAction(action)
    assert command.redirect_url is None


def test_exhaustion_defaults_to_block() -> None:
    assert saved().exhaustion is ExhaustionAction.BLOCK


# ============================================================= checkboxes and text blocks
@pytest.mark.parametrize(
    ("fields", "allowed"),
    [({"roaming": "on"}, True), ({}, False), ({"roaming": ""}, False), ({"roaming": "yes"}, False)],
    ids=["ticked", "absent", "empty", "other-value"],
)
def test_the_roaming_checkbox(fields: dict[str, str], allowed: bool) -> None:
    assert saved(**fields).roaming_allowed is allowed


@pytest.mark.parametrize(
    ("typed", "numbers"),
    [
        ("+85291230001", ("+85291230001",)),
        ("+85291230001, +85261230002", ("+85291230001", "+85261230002")),
        ("+85291230001\n+85261230002\r\n999", ("+85291230001", "+85261230002", "999")),
        ("\n , ,\n112,\n\n", ("112",)),
        ("", ()),
    ],
    ids=["one", "commas", "newlines", "blanks", "empty"],
)
def test_always_allowed_numbers_split_on_commas_and_newlines(
    typed: str, numbers: tuple[str, ...]
) -> None:
    assert saved(**{"always-allowed": typed}).always_allowed == numbers


def test_quiet_hours_one_window_per_line() -> None:
    command = saved(**{"quiet-hours": "Mon-Fri 08:30-15:30\n\n daily 22:00-06:30 "})
    assert command.quiet_hours == ("Mon-Fri 08:30-15:30", "daily 22:00-06:30")


def test_the_command_names_the_family_and_member() -> None:
    command = saved()
    assert (command.family_id, command.member_id) == ("f1", "m1")


# ============================================================ the form filled, read back
def test_an_allocation_shown_in_the_form_reads_back_the_same() -> None:
    allocation = Allocation(
        limits={
            (Resource.DATA, HOME): Limit(3 * GB, 3 * GB),
            (Resource.DATA, ABROAD): Limit(None, 1_500 * MB),
            (Resource.VOICE, HOME): Limit(125, None),
            (Resource.SMS, HOME): Limit(50, 50),
        },
        hotspot_quota=0,
        exhaustion=ExhaustionAction.THROTTLE,
        money_cap=Money.parse("12.50", "HKD"),
        roaming_allowed=False,
        always_allowed=frozenset({"+85291230001", "+85261230002"}),
    )
    values = forms.values_of(allocation, POOLS)
    assert values["quota-data-home"] == "3GB"
    assert values["money-cap"] == "12.50"
    form = forms.read(
        values, family_id="f1", member_id="m1", pools=POOLS, currency="HKD", text=TEXT
    )
    assert form.errors == {}
    command = form.command
    assert command is not None
    assert command.limits == allocation.limits
    assert command.hotspot_quota == allocation.hotspot_quota
    assert command.exhaustion is allocation.exhaustion
    assert command.roaming_allowed is allocation.roaming_allowed
    assert frozenset(command.always_allowed) == allocation.always_allowed
    assert form.money_cap_minor == 1250


# ================================================================ editable, round trip
def typed_back(resource: Resource, text: str) -> int:
    """What the form makes of *text* (digits alone are base units)."""
    return parse_amount(resource, int(text) if text.isdigit() else text)


@given(units=st.integers(min_value=0, max_value=10**18))
@pytest.mark.parametrize("resource", list(Resource), ids=[r.value for r in Resource])
def test_editable_reads_back_through_the_form(resource: Resource, units: int) -> None:
    assert typed_back(resource, editable(resource, units)) == units


@given(units=st.integers(min_value=1, max_value=10**18))
@pytest.mark.parametrize("resource", list(Resource), ids=[r.value for r in Resource])
def test_editable_reads_back_through_parse_amount(resource: Resource, units: int) -> None:
    assert parse_amount(resource, editable(resource, units)) == units


@given(units=st.integers(min_value=0, max_value=10**18))
def test_editable_data_is_exact_and_short(units: int) -> None:
    text = editable(Resource.DATA, units)
    assert typed_back(Resource.DATA, text) == units
    if units and units % 10**9 == 0 and units % 10**12:
        assert text == f"{units // 10**9}GB"


@pytest.mark.parametrize(
    ("resource", "units", "text"),
    [
        (Resource.DATA, 3 * GB, "3GB"),
        (Resource.DATA, 1_500 * MB, "1500MB"),
        (Resource.DATA, 10**12, "1TB"),
        (Resource.DATA, 1_234, "1234B"),
        (Resource.VOICE, 18_000, "300min"),
        (Resource.VOICE, 90, "90s"),
        (Resource.SMS, 50, "50"),
        (Resource.DATA, None, ""),
        (Resource.VOICE, 0, "0min"),
    ],
)
def test_editable_texts(resource: Resource, units: int | None, text: str) -> None:
    assert editable(resource, units) == text


def test_no_data_reads_back_through_parse_amount() -> None:
    assert parse_amount(Resource.DATA, editable(Resource.DATA, 0)) == 0
