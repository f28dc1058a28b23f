"""FAMSIM_RATING_GROUPS: Rating-Group -> (resource, tethered), every error named."""

from __future__ import annotations

import pytest

from famsim.config import Settings
from famsim.domain.charging.rating_groups import (
    DEFAULT_RATING_GROUPS,
    DEFAULT_RATING_GROUPS_TEXT,
    parse_rating_groups,
)
from famsim.domain.errors import InvalidInput
from famsim.domain.units import Resource


def test_the_documented_default() -> None:
    assert parse_rating_groups(DEFAULT_RATING_GROUPS_TEXT) == DEFAULT_RATING_GROUPS
    assert DEFAULT_RATING_GROUPS == {
        10: (Resource.DATA, False),
        11: (Resource.DATA, True),
        20: (Resource.VOICE, False),
        30: (Resource.SMS, False),
    }
    assert Settings().rating_groups == DEFAULT_RATING_GROUPS_TEXT


def test_spaces_case_and_empty_items_are_tolerated() -> None:
    assert parse_rating_groups(" 1 = DATA : tethered ,, 2=Sms ") == {
        1: (Resource.DATA, True),
        2: (Resource.SMS, False),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no rating groups"),
        ("ten=data", "NUMBER=RESOURCE"),
        ("10", "NUMBER=RESOURCE"),
        ("10=video", "not one of"),
        ("10=data:fast", "'fast'"),
        ("20=voice:tethered", "only data"),
        ("10=data,10=sms", "twice"),
        (f"{2**32}=data", "32 bits"),
    ],
)
def test_errors_are_named(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_rating_groups(text)
