"""Device compatibility before an order: EID for eSIM, IMEI Luhn, the operator's TAC list."""

from __future__ import annotations

import pytest

from famsim.domain.errors import InvalidIdentifier, InvalidInput
from famsim.domain.esim.device import DeviceRefused, TacAllowList, check_device
from famsim.domain.identifiers import Eid, Imei
from famsim.domain.lines import SimType

pytestmark = pytest.mark.unit

EID = str(Eid.from_body("890490320000300000000000000001"[:30]))
IMEI = str(Imei.from_body("35332211000001"))  # TAC 35332211
OTHER_MODEL = str(Imei.from_body("86753099000001"))


def test_an_esim_device_with_a_valid_eid_passes() -> None:
    checked = check_device(SimType.ESIM, eid=f" {EID} ", imei=IMEI)
    assert checked.eid == Eid.parse(EID)
    assert checked.imei == Imei.parse(IMEI)


def test_an_esim_needs_an_eid() -> None:
    with pytest.raises(DeviceRefused, match="EID") as raised:
        check_device(SimType.ESIM, eid=" ", imei=IMEI)
    assert raised.value.rule == "eid"


def test_a_bad_eid_names_the_failed_check() -> None:
    broken = EID[:-1] + ("0" if EID[-1] != "0" else "1")
    with pytest.raises(InvalidIdentifier) as raised:
        check_device(SimType.ESIM, eid=broken, imei=None)
    assert (raised.value.kind, raised.value.check) == ("EID", "checksum")


def test_a_physical_sim_takes_no_eid() -> None:
    assert check_device(SimType.PHYSICAL, eid=None, imei=None).eid is None
    with pytest.raises(DeviceRefused) as raised:
        check_device(SimType.PHYSICAL, eid=EID, imei=None)
    assert raised.value.rule == "eid"


def test_the_imei_must_pass_luhn() -> None:
    broken = IMEI[:-1] + str((int(IMEI[-1]) + 1) % 10)
    with pytest.raises(InvalidIdentifier) as raised:
        check_device(SimType.PHYSICAL, eid=None, imei=broken)
    assert (raised.value.kind, raised.value.check) == ("IMEI", "checksum")


def test_with_an_allow_list_the_model_must_be_on_it() -> None:
    allowed = TacAllowList(frozenset({"35332211"}))

    assert check_device(SimType.ESIM, eid=EID, imei=IMEI, allowed=allowed).imei is not None
    with pytest.raises(DeviceRefused, match="86753099") as refused:
        check_device(SimType.ESIM, eid=EID, imei=OTHER_MODEL, allowed=allowed)
    assert refused.value.rule == "tac"
    with pytest.raises(DeviceRefused) as missing:
        check_device(SimType.ESIM, eid=EID, imei=None, allowed=allowed)
    assert missing.value.rule == "imei"


def test_a_refusal_is_invalid_input() -> None:
    assert issubclass(DeviceRefused, InvalidInput)
    with pytest.raises(InvalidInput):
        TacAllowList(frozenset({"1234"}))
