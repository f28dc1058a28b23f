"""Resources, zones and integer amounts: parse_amount, format_amount and zone()."""

from __future__ import annotations

import pytest

from famsim.domain.errors import FamsimError, InvalidAmount, InvalidInput
from famsim.domain.units import HOME, Resource, format_amount, parse_amount, zone

pytestmark = pytest.mark.unit

DATA, VOICE, SMS = Resource.DATA, Resource.VOICE, Resource.SMS


def test_invalid_amount_is_an_invalid_input_and_a_famsim_error() -> None:
    assert issubclass(InvalidAmount, InvalidInput)
    assert issubclass(InvalidAmount, FamsimError)


def test_resource_values_and_base_units() -> None:
    assert [r.value for r in Resource] == ["data", "voice", "sms"]
    assert (DATA.unit, VOICE.unit, SMS.unit) == ("B", "s", "sms")


# --- data ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0B", 0),
        ("1B", 1),
        ("1kB", 1_000),
        ("1KB", 1_000),
        ("1MB", 1_000_000),
        ("20GB", 20_000_000_000),
        ("20gb", 20_000_000_000),
        ("2TB", 2_000_000_000_000),
        ("1KiB", 1024),
        ("1MiB", 1024**2),
        ("1GiB", 1024**3),
        ("1TiB", 1024**4),
        ("1.5GiB", 3 * 2**29),
        ("100", None),  # no unit: refused below
    ],
)
def test_parse_data_units(text: str, expected: int | None) -> None:
    if expected is None:
        with pytest.raises(InvalidAmount, match="unknown unit"):
            parse_amount(DATA, text)
    else:
        assert parse_amount(DATA, text) == expected


def test_si_and_binary_prefixes_differ() -> None:
    assert parse_amount(DATA, "1GiB") - parse_amount(DATA, "1GB") == 2**30 - 10**9


def test_fractional_gigabytes_are_exact() -> None:
    value = parse_amount(DATA, "1.5GB")
    assert value == 1_500_000_000
    assert isinstance(value, int)
    assert parse_amount(DATA, "0.000000001GB") == 1
    assert parse_amount(DATA, "2.25MB") == 2_250_000


def test_whitespace_around_and_between_is_tolerated() -> None:
    assert parse_amount(DATA, "  20 GB ") == 20_000_000_000


@pytest.mark.parametrize("text", ["1.5B", "0.5B", "0.0000000001GB", "1.0001kB"])
def test_fractions_of_a_byte_are_refused_not_rounded(text: str) -> None:
    with pytest.raises(InvalidAmount, match="not a whole number of B"):
        parse_amount(DATA, text)


@pytest.mark.parametrize(
    "text", ["-1GB", "-0B", "1e3B", "GB", "", " ", "1..5GB", ".5GB", "1,5GB", "1Gb/s"]
)
def test_malformed_or_negative_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_amount(DATA, text)


@pytest.mark.parametrize("text", ["1PB", "1gigabyte", "1min", "1sms"])
def test_unknown_data_unit_is_refused(text: str) -> None:
    with pytest.raises(InvalidAmount, match="unknown unit"):
        parse_amount(DATA, text)


def test_ints_are_base_units() -> None:
    assert parse_amount(DATA, 0) == 0
    assert parse_amount(DATA, 12345) == 12345
    assert parse_amount(VOICE, 60) == 60
    assert parse_amount(SMS, 7) == 7


@pytest.mark.parametrize("resource", list(Resource))
def test_negative_int_is_refused(resource: Resource) -> None:
    with pytest.raises(InvalidAmount, match="must not be negative"):
        parse_amount(resource, -1)


@pytest.mark.parametrize("value", [True, False])
@pytest.mark.parametrize("resource", list(Resource))
def test_bool_is_refused(resource: Resource, value: bool) -> None:
    with pytest.raises(InvalidAmount, match="not a number"):
        parse_amount(resource, value)


# --- voice ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("300min", 18_000),
        ("1min", 60),
        ("1.5min", 90),
        ("2h", 7_200),
        ("0.5h", 1_800),
        ("45s", 45),
        ("45sec", 45),
        ("2H", 7_200),
        ("10MIN", 600),
    ],
)
def test_parse_voice(text: str, expected: int) -> None:
    assert parse_amount(VOICE, text) == expected


@pytest.mark.parametrize("text", ["1.5s", "0.01min", "1.0001h"])
def test_fractions_of_a_second_are_refused(text: str) -> None:
    with pytest.raises(InvalidAmount, match="not a whole number of s"):
        parse_amount(VOICE, text)


@pytest.mark.parametrize("text", ["300", "1GB", "1d", "5minutes"])
def test_unknown_voice_unit_is_refused(text: str) -> None:
    with pytest.raises(InvalidAmount, match="unknown unit"):
        parse_amount(VOICE, text)


# --- sms -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [("100", 100), ("100sms", 100), ("0", 0)])
def test_parse_sms(text: str, expected: int) -> None:
    assert parse_amount(SMS, text) == expected


def test_sms_fractions_and_units_are_refused() -> None:
    with pytest.raises(InvalidAmount, match="not a whole number"):
        parse_amount(SMS, "1.5")
    with pytest.raises(InvalidAmount, match="unknown unit"):
        parse_amount(SMS, "100msg")
    with pytest.raises(InvalidAmount, match="unknown unit"):
        parse_amount(SMS, "1GB")


def test_error_message_names_the_text_and_an_example() -> None:
    with pytest.raises(InvalidAmount) as info:
        parse_amount(VOICE, "lots")
    assert "'lots'" in str(info.value)
    assert "'300min'" in str(info.value)


# --- format_amount -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "amount", "text"),
    [
        (DATA, None, "unlimited"),
        (VOICE, None, "unlimited"),
        (SMS, None, "unlimited"),
        (DATA, 0, "0 B"),
        (DATA, 999, "999 B"),
        (DATA, 1_000, "1 kB"),
        (DATA, 1_500, "1.5 kB"),
        (DATA, 20_000_000_000, "20 GB"),
        (DATA, 1_500_000_000, "1.5 GB"),
        (DATA, 1_990_000_000, "1.9 GB"),  # truncated, never rounded up
        (DATA, 2_000_000_000_000, "2 TB"),
        (DATA, 2**30, "1 GB"),  # a GiB is 1.07 GB: tenths only
        (VOICE, 0, "0 min"),
        (VOICE, 60, "1 min"),
        (VOICE, 90, "1 min 30 s"),
        (VOICE, 18_000, "300 min"),
        (VOICE, 45, "0 min 45 s"),
        (SMS, 0, "0 SMS"),
        (SMS, 500, "500 SMS"),
    ],
)
def test_format_amount(resource: Resource, amount: int | None, text: str) -> None:
    assert format_amount(resource, amount) == text


@pytest.mark.parametrize("text", ["20GB", "1.5GB", "7TB", "3MB"])
def test_format_reads_back_for_round_si_amounts(text: str) -> None:
    amount = parse_amount(DATA, text)
    assert parse_amount(DATA, format_amount(DATA, amount).replace(" ", "")) == amount


# --- zones ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["home", "greater-china", "eu_uk", "z", "a1", "canada-mexico", "a" * 32]
)
def test_valid_zone_names(name: str) -> None:
    assert zone(name) == name


def test_home_constant() -> None:
    assert zone("home") == HOME == "home"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Home",
        "HOME",
        "1zone",
        "-zone",
        "_zone",
        "eu zone",
        "eu.zone",
        "a" * 33,
        "zône",
        " home",
    ],
)
def test_invalid_zone_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidAmount, match="invalid zone name"):
        zone(name)


@pytest.mark.parametrize("name", ["home\n", "europe\n"])
def test_zone_name_with_trailing_newline_is_refused(name: str) -> None:
    with pytest.raises(InvalidAmount):
        zone(name)
