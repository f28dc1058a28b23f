"""ES2+ against the built-in SM-DP+ in the same process: the default when famsim is not
given an SM-DP+ URL.

The calls run the same SM-DP+ rules and inventory as ``famsim smdp serve`` does over HTTP,
without the HTTP: refusals come back as :class:`SmdpRefused` with the same status codes.
Only one process should own the built-in SM-DP+ at a time (it keeps its inventory in
memory); when it is served, point famsim at it with ``FAMSIM_SMDP_URL`` instead.
"""

from __future__ import annotations

from famsim.domain.esim.profile_state import InvalidStateTransition
from famsim.domain.esim.smdp import FinalStatus, SmdpRefusal
from famsim.domain.identifiers import Eid, Iccid
from famsim.service.ports import ConfirmedOrder, SmdpRefused
from famsim.service.smdp import SmdpService


class LocalEs2:
    def __init__(self, smdp: SmdpService) -> None:
        self._smdp = smdp

    @property
    def smdp_address(self) -> str:
        return self._smdp.smdp_address

    def download_order(self, *, iccid: Iccid, eid: Eid | None = None) -> Iccid:
        try:
            profile = self._smdp.run(
                lambda inventory, now: inventory.download_order(now=now, eid=eid, iccid=iccid)
            )
        except (SmdpRefusal, InvalidStateTransition) as exc:
            raise _refused("downloadOrder", exc) from exc
        return profile.iccid

    def confirm_order(
        self,
        *,
        iccid: Iccid,
        release: bool,
        eid: Eid | None = None,
        confirmation_code: str | None = None,
    ) -> ConfirmedOrder:
        try:
            confirmation = self._smdp.run(
                lambda inventory, now: inventory.confirm_order(
                    now=now,
                    iccid=iccid,
                    release=release,
                    eid=eid,
                    confirmation_code=confirmation_code,
                )
            )
        except (SmdpRefusal, InvalidStateTransition) as exc:
            raise _refused("confirmOrder", exc) from exc
        return ConfirmedOrder(confirmation.matching_id, confirmation.smdp_address)

    def cancel_order(
        self,
        *,
        iccid: Iccid,
        final: FinalStatus,
        eid: Eid | None = None,
        matching_id: str | None = None,
    ) -> None:
        try:
            self._smdp.run(
                lambda inventory, now: inventory.cancel_order(
                    now=now, iccid=iccid, final=final, eid=eid, matching_id=matching_id
                )
            )
        except (SmdpRefusal, InvalidStateTransition) as exc:
            raise _refused("cancelOrder", exc) from exc


def _refused(function: str, exc: SmdpRefusal | InvalidStateTransition) -> SmdpRefused:
    """The refusal as the ES2+ client reports one: function, status code, message."""
    code = f"{exc.status.subject_code}/{exc.status.reason_code}"
    return SmdpRefused(function, exc.status, f"ES2+ {function} failed: {code} {exc}")
