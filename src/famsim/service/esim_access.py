"""eSIM orders and activation codes through the privacy rules: who may order, see a QR.

Ordering a line or a device change is the owner's (or an operator key with the ``esim``
scope); an activation code — which installs a profile — is shown to the owner, to the
member whose line it is, to a guardian for a ward, and to staff with ``esim``.
"""

from __future__ import annotations

from collections.abc import Callable

from famsim.domain.access import Principal, Scope
from famsim.domain.errors import Forbidden
from famsim.domain.esim.activation_code import ActivationCode
from famsim.domain.identifiers import Iccid
from famsim.service.access import Visibility, check_in_family, check_manages, member_visibility
from famsim.service.esim import Device, EsimService, Ordered
from famsim.service.ports import UnitOfWork


class GuardedEsim:
    def __init__(self, uow: Callable[[], UnitOfWork], esim: Callable[[], EsimService]) -> None:
        self._uow = uow
        self._esim = esim

    def _check_orders(self, principal: Principal, family_id: str) -> None:
        check_in_family(principal, family_id, Scope.ESIM)
        if principal.is_staff:
            return
        with self._uow() as uow:
            family = uow.families.get(family_id)
        check_manages(principal, family)

    def order_line(
        self,
        principal: Principal,
        family_id: str,
        member_id: str,
        *,
        device: Device,
        profile_type: str,
        msisdn: str | None,
        offer_id: str | None,
        data_only: bool,
    ) -> Ordered:
        self._check_orders(principal, family_id)
        return self._esim().order_line(
            family_id,
            member_id,
            device=device,
            profile_type=profile_type,
            msisdn=msisdn,
            offer_id=offer_id,
            data_only=data_only,
            actor=_actor(principal),
        )

    def change_device(
        self, principal: Principal, family_id: str, iccid: str, *, device: Device, profile_type: str
    ) -> Ordered:
        self._check_orders(principal, family_id)
        return self._esim().change_device(
            family_id, iccid, device=device, profile_type=profile_type, actor=_actor(principal)
        )

    def activation(
        self, principal: Principal, family_id: str, iccid: str
    ) -> tuple[ActivationCode, str | None]:
        check_in_family(principal, family_id, Scope.ESIM)
        if not principal.is_staff:
            with self._uow() as uow:
                family = uow.families.get(family_id)
                line, _ = family.subscription_of_iccid(Iccid.parse(iccid))
                seen = member_visibility(principal, family, line.member_id, uow.consents.granted)
            owner = principal.member_id == family.owner_id
            if not owner and seen < Visibility.DETAIL:
                raise Forbidden("only the owner or the line's member may see its activation code")
        return self._esim().activation(family_id, iccid)


def _actor(principal: Principal) -> str:
    return f"{principal.kind.value}:{principal.id}"
