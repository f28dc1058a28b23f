"""Identifier value types: ICCID, EID, IMEI, IMSI and MSISDN.

Each is a frozen dataclass holding the canonical form, built with ``parse`` (lenient about
spacing, strict about validity); an invalid instance cannot exist, so code that receives one
never checks it again. Every failure raises
:class:`famsim.domain.errors.InvalidIdentifier` naming the check that failed.
"""

from famsim.domain.identifiers.eid import Eid
from famsim.domain.identifiers.iccid import Iccid
from famsim.domain.identifiers.imei import Imei
from famsim.domain.identifiers.imsi import Imsi
from famsim.domain.identifiers.msisdn import Msisdn

__all__ = ["Eid", "Iccid", "Imei", "Imsi", "Msisdn"]
