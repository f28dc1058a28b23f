"""eSIM domain: activation codes (SGP.22 4.1), confirmation codes, the SM-DP+ state table."""

from __future__ import annotations

import hashlib
import re

import pytest

from famsim.domain.errors import InvalidInput, RuleViolation
from famsim.domain.esim.activation_code import (
    MATCHING_ID_ALPHABET,
    ActivationCode,
    InvalidActivationCode,
    confirmation_code_hash,
    new_confirmation_code,
    new_matching_id,
)
from famsim.domain.esim.profile_state import (
    TRANSITIONS,
    InvalidStateTransition,
    ProfileAction,
    ProfileState,
    next_state,
)
from famsim.domain.esim.status import INVALID_TRANSITION

pytestmark = pytest.mark.unit

EXAMPLE = "1$SMDP.EXAMPLE.COM$04386-AGYFT-A74Y8-3F815"
S, A = ProfileState, ProfileAction


# ------------------------------------------------------------------ activation codes
def test_the_spec_examples_read_back_to_the_same_text() -> None:
    plain = ActivationCode.parse("LPA:" + EXAMPLE)
    assert (plain.smdp_address, plain.matching_id) == (
        "SMDP.EXAMPLE.COM",
        "04386-AGYFT-A74Y8-3F815",
    )
    assert (plain.smdp_oid, plain.confirmation_code_required) == (None, False)
    assert plain.text == EXAMPLE
    assert plain.qr_payload == "LPA:" + EXAMPLE

    with_cc = ActivationCode.parse("LPA:" + EXAMPLE + "$$1")
    assert with_cc.confirmation_code_required
    assert with_cc.smdp_oid is None
    assert with_cc.text == EXAMPLE + "$$1"


def test_a_dollar_appears_only_when_a_later_field_follows() -> None:
    assert ActivationCode("smdp.example.com", "ABC").text == "1$SMDP.EXAMPLE.COM$ABC"
    with_oid = ActivationCode("smdp.example.com", "ABC", "1.3.6.1.4.1.31746")
    assert with_oid.text == "1$SMDP.EXAMPLE.COM$ABC$1.3.6.1.4.1.31746"
    both = ActivationCode("smdp.example.com", "ABC", "1.3.6.1.4.1.31746", True)
    assert both.text == "1$SMDP.EXAMPLE.COM$ABC$1.3.6.1.4.1.31746$1"
    assert ActivationCode("smdp.example.com", "").text == "1$SMDP.EXAMPLE.COM$"


@pytest.mark.parametrize(
    "typed",
    [
        "  lpa:1$smdp.example.com$04386-agyft-a74y8-3f815  ",
        "LPA:1$SMDP.EXAMPLE.COM.$04386-AGYFT-A74Y8-3F815",
        "1$SMDP.EXAMPLE.COM$04386-AGYFT-A74Y8-3F815$",
        "1$SMDP.EXAMPLE.COM$04386-AGYFT-A74Y8-3F815$$",
    ],
)
def test_parsing_is_lenient(typed: str) -> None:
    assert ActivationCode.parse(typed).text == EXAMPLE


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("2$SMDP.EXAMPLE.COM$ABC", "format"),
        ("1$SMDP.EXAMPLE.COM", "3 to 5 fields"),
        ("1$SMDP.EXAMPLE.COM$ABC$1.2$1$X", "3 to 5 fields"),
        ("1$SMDP_EXAMPLE.COM$ABC", "SM-DP+ address"),
        ("1$-SMDP.EXAMPLE.COM$ABC", "SM-DP+ address"),
        ("1$$ABC", "SM-DP+ address"),
        ("1$SMDP.EXAMPLE.COM$AB C", "matching ID"),
        ("1$SMDP.EXAMPLE.COM$AB_C", "matching ID"),
        ("1$SMDP.EXAMPLE.COM$ABC$1.3.abc", "OID"),
        ("1$SMDP.EXAMPLE.COM$ABC$$2", "flag"),
        ("", "format"),
    ],
)
def test_a_bad_code_names_the_part_that_is_wrong(text: str, part: str) -> None:
    with pytest.raises(InvalidActivationCode, match=re.escape(part)):
        ActivationCode.parse(text)


def test_codes_longer_than_255_characters_are_refused() -> None:
    fits = ActivationCode("S.COM", "A" * (255 - len("1$S.COM$")))
    assert len(fits.text) == 255
    with pytest.raises(InvalidActivationCode, match="255"):
        ActivationCode("S.COM", "A" * (256 - len("1$S.COM$")))


def test_a_bad_code_is_invalid_input() -> None:
    assert issubclass(InvalidActivationCode, InvalidInput)


def test_new_matching_ids_use_the_alphabet_and_do_not_repeat() -> None:
    ids = {new_matching_id() for _ in range(200)}
    assert len(ids) == 200
    for matching_id in ids:
        groups = matching_id.split("-")
        assert [len(g) for g in groups] == [5, 5, 5, 5]
        assert set("".join(groups)) <= set(MATCHING_ID_ALPHABET)
        assert ActivationCode("smdp.example.com", matching_id).matching_id == matching_id


def test_confirmation_codes_are_digits_and_kept_only_as_sha256() -> None:
    code = new_confirmation_code()
    assert len(code) == 8
    assert code.isdigit()
    assert confirmation_code_hash(code) == hashlib.sha256(code.encode()).hexdigest()
    assert confirmation_code_hash(f" {code}\n") == confirmation_code_hash(code)
    with pytest.raises(InvalidInput):
        new_confirmation_code(3)


# ----------------------------------------------------------------------- profile states
@pytest.mark.parametrize(
    ("actions", "end"),
    [
        ([A.ORDER, A.CONFIRM, A.RELEASE, A.DOWNLOAD, A.INSTALL], S.INSTALLED),
        ([A.ORDER_FOR_EID, A.CONFIRM_AND_RELEASE, A.DOWNLOAD, A.INSTALL], S.INSTALLED),
        ([A.ORDER, A.CONFIRM_AND_RELEASE, A.FAIL], S.ERROR),
        ([A.ORDER, A.CONFIRM_AND_RELEASE, A.DOWNLOAD, A.FAIL], S.ERROR),
        ([A.ORDER, A.CANCEL_TO_AVAILABLE], S.AVAILABLE),
        ([A.ORDER_FOR_EID, A.CONFIRM, A.CANCEL_TO_UNAVAILABLE], S.UNAVAILABLE),
        ([A.ORDER, A.CONFIRM_AND_RELEASE, A.FAIL, A.CANCEL_TO_AVAILABLE], S.AVAILABLE),
    ],
)
def test_the_lifecycles_of_sgp22_3_1_6(actions: list[ProfileAction], end: ProfileState) -> None:
    state = S.AVAILABLE
    for action in actions:
        state = next_state("8985200001230000044", state, action)
    assert state is end


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (S.AVAILABLE, A.CONFIRM),
        (S.AVAILABLE, A.RELEASE),
        (S.ALLOCATED, A.ORDER),
        (S.ALLOCATED, A.RELEASE),
        (S.CONFIRMED, A.CONFIRM),
        (S.RELEASED, A.INSTALL),
        (S.DOWNLOADED, A.CANCEL_TO_AVAILABLE),
        (S.INSTALLED, A.CANCEL_TO_AVAILABLE),
        (S.INSTALLED, A.DOWNLOAD),
        (S.UNAVAILABLE, A.ORDER),
    ],
)
def test_other_moves_are_invalid_transitions(state: ProfileState, action: ProfileAction) -> None:
    with pytest.raises(InvalidStateTransition) as raised:
        next_state("8985200001230000044", state, action)
    error = raised.value
    assert (error.state, error.action) == (state, action)
    assert error.status is INVALID_TRANSITION
    assert (error.status.subject_code, error.status.reason_code) == ("8.2.1", "3.5")
    assert isinstance(error, RuleViolation)
    assert "8985200001230000044" in str(error)


def test_every_state_is_reachable_from_available() -> None:
    reached = {S.AVAILABLE}
    frontier = [S.AVAILABLE]
    while frontier:
        state = frontier.pop()
        for (source, _), target in TRANSITIONS.items():
            if source is state and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(ProfileState)
