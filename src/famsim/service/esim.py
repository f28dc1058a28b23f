"""Ordering eSIMs and following them to the device: the operator's side of ES2+.

An order spans two systems that cannot share a transaction (famsim's database and the
SM-DP+), so it goes in three steps, each one safe to stop after:

1. one unit of work takes a profile from the SIM stock and the number from the pool,
   adds the line or device (state *ordered*, with an order deadline) and audits it;
2. ES2+ DownloadOrder and ConfirmOrder (with release) for that exact ICCID, so a retry
   can never reserve a second profile;
3. one unit of work records the matching ID (state *released*): the activation code can
   be shown.

If step 2 fails, the order is undone in the same way a failed download is: the new line
is closed and its number goes straight back to the pool (it was never reachable), the
profile is retired, and the caller gets the SM-DP+'s reason. If famsim stops between the
steps, the subscription stays *ordered* until its deadline, when :meth:`expire_orders`
undoes it. Every later step comes from the SM-DP+'s progress callbacks
(:meth:`handle_progress`), deduplicated by their call identifiers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from famsim.domain.audit import AuditEvent
from famsim.domain.errors import FamsimError, InvalidInput, RuleViolation
from famsim.domain.esim.activation_code import ActivationCode, new_confirmation_code
from famsim.domain.esim.device import CheckedDevice, TacAllowList, check_device
from famsim.domain.esim.provisioning import reported_state
from famsim.domain.esim.smdp import DEFAULT_ORDER_VALIDITY, FinalStatus
from famsim.domain.esim.status import StatusCode
from famsim.domain.esim.stock import StockState
from famsim.domain.family import Family, Progress
from famsim.domain.identifiers import Iccid, Msisdn
from famsim.domain.ids import FamilyId, LineId, SubscriptionId, new_id
from famsim.domain.lines import Line, SimType, Subscription, SubscriptionState
from famsim.domain.plan import DeviceKind
from famsim.service.ports import Es2Port, SmdpRefused, SmdpUnreachable, UnitOfWork

ZERO = timedelta(0)


class OrderFailed(FamsimError):
    """The SM-DP+ refused or could not take the order; nothing was left half-made."""


@dataclass(frozen=True, slots=True)
class Device:
    """The device a SIM is for, as the caller gives it (checked before ordering)."""

    kind: DeviceKind = DeviceKind.PHONE
    eid: str | None = None
    imei: str | None = None


@dataclass(frozen=True, slots=True)
class Ordered:
    """A released eSIM order: what the family scans (the activation code, as QR) and,
    separately, the confirmation code the device will ask for."""

    family_id: FamilyId
    line_id: LineId
    subscription_id: SubscriptionId
    iccid: Iccid
    msisdn: Msisdn
    activation_code: ActivationCode | None
    confirmation_code: str | None
    expires_at: datetime | None
    state: SubscriptionState


@dataclass(frozen=True, slots=True)
class ProgressReport:
    """One HandleDownloadProgressInfo, reduced to what the operator acts on."""

    requester: str
    call_id: str
    iccid: Iccid
    point: int
    success: bool
    status: StatusCode | None = None  # why it failed, when it did
    message: str | None = None


class EsimService:
    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        es2: Es2Port,
        now: Callable[[], datetime],
        *,
        order_validity: timedelta = DEFAULT_ORDER_VALIDITY,
        tac_allow_list: TacAllowList | None = None,
    ) -> None:
        self._uow = uow
        self._es2 = es2
        self._now = now
        self._validity = order_validity
        self._tacs = tac_allow_list

    # ------------------------------------------------------------------ ordering
    def order_line(
        self,
        family_id: str,
        member_id: str,
        *,
        device: Device,
        profile_type: str | None = None,
        physical_iccid: str | None = None,
        msisdn: str | None = None,
        offer_id: str | None = None,
        data_only: bool = False,
        with_confirmation_code: bool = True,
        actor: str = "operator",
    ) -> Ordered:
        """Give a member a new line: an eSIM of *profile_type* ordered for *device*, or
        the physical SIM card *physical_iccid* from stock (in service at once).

        The number is *msisdn* as picked from the offer *offer_id* (see
        ``service.inventory.offer_numbers``); without one, the pool picks a free number.
        """
        now = self._now()
        checked, code = self._check(device, physical_iccid, with_confirmation_code)
        with self._uow() as uow:
            family = uow.families.get(family_id, for_update=True)
            plan = uow.plans.get(family.plan_code)
            number = self._number(uow, msisdn, offer_id, now)
            sub = self._take_sim(uow, profile_type, physical_iccid, checked, device.kind, now)
            line = family.add_line(
                plan,
                member_id=member_id,
                msisdn=number,
                primary=sub,
                data_only=data_only,
                next_plan=(
                    uow.plans.get(family.pending_plan_code) if family.pending_plan_code else None
                ),
                today=family.local_date(now),
            )
            self._audit(uow, family, actor, "line.ordered", sub, line, now)
            uow.commit()
        return self._provision(family.id, line, sub, code, actor)

    def order_companion(
        self,
        family_id: str,
        msisdn: str,
        *,
        device: Device,
        profile_type: str | None = None,
        physical_iccid: str | None = None,
        with_confirmation_code: bool = True,
        actor: str = "operator",
    ) -> Ordered:
        """A watch or tablet joins a member's line: its own SIM, the line's number."""
        if device.kind is DeviceKind.PHONE:
            raise InvalidInput("a companion is a watch, tablet or other device; not a phone")
        now = self._now()
        checked, code = self._check(device, physical_iccid, with_confirmation_code)
        with self._uow() as uow:
            family = uow.families.get(family_id, for_update=True)
            line = family.line_by_msisdn(Msisdn.parse(msisdn))
            sub = self._take_sim(
                uow, profile_type, physical_iccid, checked, device.kind, now, primary=False
            )
            family.add_companion(line.id, sub, family.local_date(now))
            self._audit(uow, family, actor, "companion.ordered", sub, line, now)
            uow.commit()
        return self._provision(family.id, line, sub, code, actor)

    def change_device(
        self,
        family_id: str,
        iccid: str,
        *,
        device: Device,
        profile_type: str | None = None,
        physical_iccid: str | None = None,
        with_confirmation_code: bool = True,
        actor: str = "operator",
    ) -> Ordered:
        """Move the SIM *iccid* to a new device: the new SIM is ordered while the old one
        keeps working; the old one is retired when the new one reports installed, and
        kept if the new one fails, is refused or expires."""
        now = self._now()
        checked, code = self._check(device, physical_iccid, with_confirmation_code)
        with self._uow() as uow:
            family = uow.families.get(family_id, for_update=True)
            line, old = family.subscription_of_iccid(Iccid.parse(iccid))
            sub = self._take_sim(
                uow, profile_type, physical_iccid, checked, device.kind, now, primary=False
            )
            sub.replaces = old.id
            card = sub.state is SubscriptionState.ENABLED
            if card:  # a card in hand is in the new device now: the change completes at once
                sub.state = SubscriptionState.ORDERED
            family.start_device_change(old.id, sub)
            self._audit(
                uow, family, actor, "device_change.started", sub, line, now, replaces=str(old.iccid)
            )
            if card:
                done = family.report(sub.iccid, SubscriptionState.INSTALLED, now)
                self._apply(uow, family, done)
                family.report(sub.iccid, SubscriptionState.ENABLED, now)
                self._audit_progress(uow, family, actor, "device_change.completed", done, now)
            uow.commit()
        return self._provision(family.id, line, sub, code, actor)

    def _number(
        self, uow: UnitOfWork, msisdn: str | None, offer_id: str | None, now: datetime
    ) -> Msisdn:
        if msisdn is None:
            if offer_id is not None:
                raise InvalidInput("pick one of the offered numbers (the offer alone is not one)")
            offer = uow.numbers.offer(1, now)
            number = offer.numbers[0]
            uow.numbers.assign(number, offer.offer_id, now)
            return number
        number = Msisdn.parse(msisdn)
        uow.numbers.assign(number, offer_id, now)
        return number

    def _check(
        self, device: Device, physical_iccid: str | None, with_confirmation_code: bool
    ) -> tuple[CheckedDevice, str | None]:
        """The device checked for the SIM it asks for (before anything is taken), and a
        fresh confirmation code for an eSIM download unless the caller wants none."""
        sim_type = SimType.PHYSICAL if physical_iccid else SimType.ESIM
        checked = check_device(sim_type, eid=device.eid, imei=device.imei, allowed=self._tacs)
        wanted = with_confirmation_code and sim_type is SimType.ESIM
        return checked, new_confirmation_code() if wanted else None

    def _take_sim(
        self,
        uow: UnitOfWork,
        profile_type: str | None,
        physical_iccid: str | None,
        device: CheckedDevice,
        kind: DeviceKind,
        now: datetime,
        *,
        primary: bool = True,
    ) -> Subscription:
        if (profile_type is None) == (physical_iccid is None):
            raise InvalidInput("give either an eSIM profile type or a physical SIM's ICCID")
        if physical_iccid is not None:
            sim = uow.sims.take_iccid(Iccid.parse(physical_iccid), now)
            if sim.sim_type is not SimType.PHYSICAL:
                raise InvalidInput(f"{sim.iccid} is an eSIM profile, not a physical SIM card")
            state = SubscriptionState.ENABLED
            expires = None
        else:
            assert profile_type is not None
            sim = uow.sims.take(profile_type.strip(), now)
            state = SubscriptionState.ORDERED
            expires = now + self._validity
        return Subscription(
            id=SubscriptionId(new_id()),
            iccid=sim.iccid,
            imsi=sim.imsi,
            sim_type=sim.sim_type,
            device_kind=kind,
            primary=primary,
            eid=device.eid,
            imei=device.imei,
            state=state,
            state_changed_at=now,
            profile_type=sim.profile_type,
            order_expires_at=expires,
        )

    def _provision(
        self, family_id: FamilyId, line: Line, sub: Subscription, code: str | None, actor: str
    ) -> Ordered:
        """Steps 2 and 3 (see the module docstring) for an ordered eSIM."""
        if sub.sim_type is SimType.PHYSICAL:
            return Ordered(
                family_id, line.id, sub.id, sub.iccid, line.msisdn, None, None, None, sub.state
            )
        try:
            self._es2.download_order(iccid=sub.iccid, eid=sub.eid)
            confirmed = self._es2.confirm_order(
                iccid=sub.iccid, eid=sub.eid, confirmation_code=code, release=True
            )
        except (SmdpRefused, SmdpUnreachable) as exc:
            # Cancelled at the SM-DP+ even when DownloadOrder seemed to fail: a timeout may
            # have reserved the profile there all the same.
            self._undo_order(family_id, sub.iccid, str(exc), actor)
            raise OrderFailed(f"the SM-DP+ did not take the order for {sub.iccid}: {exc}") from exc
        now = self._now()
        expires = now + self._validity
        with self._uow() as uow:
            family = uow.families.get(family_id, for_update=True)
            released = family.record_release(
                sub.iccid,
                matching_id=confirmed.matching_id,
                confirmation_code=code,
                expires_at=expires,
                at=now,
            )
            self._audit(uow, family, actor, "esim.released", released, line, now)
            _publish(uow, family, released, SubscriptionState.ORDERED, now)
            uow.commit()
        activation = ActivationCode(
            confirmed.smdp_address or self._es2.smdp_address,
            confirmed.matching_id,
            confirmation_code_required=code is not None,
        )
        return Ordered(
            family_id,
            line.id,
            sub.id,
            sub.iccid,
            line.msisdn,
            activation,
            code,
            expires,
            SubscriptionState.RELEASED,
        )

    def _undo_order(self, family_id: FamilyId, iccid: Iccid, reason: str, actor: str) -> None:
        self._cancel_at_smdp(iccid)
        self._end_order(
            family_id, iccid, SubscriptionState.ERROR, actor, "esim.order_failed", reason
        )

    def _end_order(
        self,
        family_id: str,
        iccid: Iccid,
        state: SubscriptionState,
        actor: str,
        action: str,
        reason: str | None = None,
    ) -> Progress:
        """An order ended without a device (failed, cancelled, expired), in its own unit
        of work: the step, what follows from it, the audit."""
        now = self._now()
        with self._uow() as uow:
            family = uow.families.get(family_id, for_update=True)
            progress = family.report(iccid, state, now)
            self._apply(uow, family, progress)
            self._audit_progress(uow, family, actor, action, progress, now, reason)
            uow.commit()
        return progress

    def _cancel_at_smdp(self, iccid: Iccid) -> bool:
        """Best effort: retire the profile at the SM-DP+ too (it expires there anyway)."""
        try:
            self._es2.cancel_order(iccid=iccid, final=FinalStatus.UNAVAILABLE)
        except (SmdpRefused, SmdpUnreachable):
            return False
        return True

    # ------------------------------------------------------------------ after the order
    def activation(self, family_id: str, iccid: str) -> tuple[ActivationCode, str | None]:
        """The activation code of an order not yet downloaded, and its confirmation code
        (to show again: the family may have lost the first QR)."""
        target = Iccid.parse(iccid)
        with self._uow() as uow:
            family = uow.families.get(family_id)
            _, sub = family.subscription_of_iccid(target)
        if sub.state is not SubscriptionState.RELEASED or sub.matching_id is None:
            raise RuleViolation(
                f"the SIM {target} is {sub.state.value}: an activation code is only shown "
                "for an order released and not yet downloaded"
            )
        code = ActivationCode(
            self._es2.smdp_address,
            sub.matching_id,
            confirmation_code_required=sub.confirmation_code is not None,
        )
        return code, sub.confirmation_code

    def cancel(self, family_id: str, iccid: str, *, actor: str = "operator") -> Progress:
        """Cancel an order not yet downloaded (the SM-DP+ first: if the device is already
        downloading, it refuses and nothing changes here)."""
        target = Iccid.parse(iccid)
        with self._uow() as uow:
            family = uow.families.get(family_id)
            _, sub = family.subscription_of_iccid(target)
        if not sub.state.is_pending:
            raise RuleViolation(
                f"the SIM {target} is {sub.state.value}: only an order not yet downloaded "
                "can be cancelled (close the line or change the device instead)"
            )
        if sub.state is SubscriptionState.RELEASED or sub.matching_id is not None:
            try:
                self._es2.cancel_order(
                    iccid=target,
                    eid=sub.eid,
                    matching_id=sub.matching_id,
                    final=FinalStatus.UNAVAILABLE,
                )
            except SmdpRefused as exc:
                raise RuleViolation(
                    f"the SM-DP+ refused to cancel {target} (the device may be downloading "
                    f"it now): {exc}"
                ) from exc
        else:
            self._cancel_at_smdp(target)
        return self._end_order(
            family_id, target, SubscriptionState.DELETED, actor, "esim.cancelled"
        )

    def close_line(
        self, family_id: str, msisdn: str, *, actor: str = "operator"
    ) -> datetime | None:
        """Close a line for good; its number returns to the pool after the quarantine
        (returned: when). Its SIMs are deleted and their profiles retired."""
        now = self._now()
        with self._uow() as uow:
            family = uow.families.get(family_id, for_update=True)
            line = family.line_by_msisdn(Msisdn.parse(msisdn))
            live = line.live_subscriptions
            pending = [sub.iccid for sub in live if sub.state.is_pending]
            family.close_line(line.id, family.local_date(now), now)
            for sub in live:
                _retire(uow, sub, now)
            back = uow.numbers.release(line.msisdn, now)
            uow.audit.record(
                AuditEvent(
                    now,
                    family.id,
                    actor,
                    "line.closed",
                    line.msisdn.e164,
                    {"number_back_at": back.isoformat() if back else None},
                )
            )
            uow.commit()
        for iccid in pending:  # their activation codes must not work any more
            self._cancel_at_smdp(iccid)
        return back

    def expire_orders(self, *, actor: str = "famsim") -> list[tuple[FamilyId, Iccid]]:
        """Undo every order whose deadline passed without a download (run it regularly)."""
        now = self._now()
        with self._uow() as uow:
            due = list(uow.families.with_orders_due(now))
        expired: list[tuple[FamilyId, Iccid]] = []
        for family_id in due:
            with self._uow() as uow:
                family = uow.families.get(family_id)
                late = [
                    s.iccid
                    for line in family.lines.values()
                    for s in line.subscriptions
                    if s.state.is_pending
                    and s.order_expires_at is not None
                    and s.order_expires_at <= now
                ]
            for iccid in late:
                self._cancel_at_smdp(iccid)
                progress = self._end_order(
                    family_id, iccid, SubscriptionState.ERROR, actor, "esim.order_expired"
                )
                if progress.after is not None:
                    expired.append((family_id, iccid))
        return expired

    def handle_progress(self, report: ProgressReport) -> str:
        """Act on one SM-DP+ progress callback, once: a repeat (same requester and call
        identifier) is acknowledged and ignored. Returns what happened, for the log."""
        now = self._now()
        reported = reported_state(report.point, report.success, report.status)
        with self._uow() as uow:
            first = uow.es2_received.first_time(
                report.requester,
                report.call_id,
                iccid=report.iccid,
                point=report.point,
                outcome="success" if report.success else "failed",
                now=now,
            )
            if not first:
                return "duplicate"
            family_id = uow.families.owner_of_iccid(report.iccid)
            if family_id is None:
                uow.audit.record(
                    AuditEvent(
                        now,
                        None,
                        report.requester,
                        "esim.progress_unknown_iccid",
                        str(report.iccid),
                        {"point": report.point, "success": report.success},
                    )
                )
                uow.commit()
                return "unknown ICCID"
            family = uow.families.get(family_id, for_update=True)
            if reported is None:
                progress = None
                outcome = "noted"
            else:
                progress = family.report(report.iccid, reported, now)
                self._apply(uow, family, progress)
                outcome = progress.after.value if progress.after else "stale"
            _, sub = family.subscription_of_iccid(report.iccid)
            uow.audit.record(
                AuditEvent(
                    now,
                    family.id,
                    report.requester,
                    "esim.progress",
                    str(report.iccid),
                    {
                        "point": report.point,
                        "success": report.success,
                        "reason": _reason(report),
                        "state": sub.state.value,
                        "outcome": outcome,
                        **_consequences(progress),
                    },
                )
            )
            uow.commit()
        return outcome

    # ------------------------------------------------------------------ helpers
    def _apply(self, uow: UnitOfWork, family: Family, progress: Progress) -> None:
        """What follows from a step beyond the subscription itself: profiles that will
        never be used again are retired, a number never reachable goes straight back."""
        now = self._now()
        if progress.after is not None:
            _publish(uow, family, progress.subscription, progress.before, now)
        if progress.after is not None and not progress.after.is_live:
            _retire(uow, progress.subscription, now)
        if progress.retired is not None:
            _retire(uow, progress.retired, now)
        if progress.closed_line is not None:
            uow.numbers.release(progress.closed_line.msisdn, now, ZERO)

    def _audit(
        self,
        uow: UnitOfWork,
        family: Family,
        actor: str,
        action: str,
        sub: Subscription,
        line: Line,
        now: datetime,
        **extra: str,
    ) -> None:
        uow.audit.record(
            AuditEvent(
                now,
                family.id,
                actor,
                action,
                str(sub.iccid),
                {
                    "number": line.msisdn.e164,
                    "member_id": line.member_id,
                    "device": sub.device_kind.value,
                    "sim_type": sub.sim_type.value,
                    "state": sub.state.value,
                    **extra,
                },
            )
        )

    def _audit_progress(
        self,
        uow: UnitOfWork,
        family: Family,
        actor: str,
        action: str,
        progress: Progress,
        now: datetime,
        reason: str | None = None,
    ) -> None:
        uow.audit.record(
            AuditEvent(
                now,
                family.id,
                actor,
                action,
                str(progress.subscription.iccid),
                {
                    "before": progress.before.value,
                    "state": progress.subscription.state.value,
                    "reason": reason,
                    **_consequences(progress),
                },
            )
        )


def _publish(
    uow: UnitOfWork, family: Family, sub: Subscription, before: SubscriptionState, now: datetime
) -> None:
    """An ``esim.state_changed`` event for the operator's webhooks (no codes in it)."""
    line = next(line for line in family.lines.values() if sub in line.subscriptions)
    uow.outbox.add(
        family.id,
        "esim.state_changed",
        {
            "iccid": str(sub.iccid),
            "number": line.msisdn.e164,
            "member_id": line.member_id,
            "device": sub.device_kind.value,
            "before": before.value,
            "state": sub.state.value,
        },
        now,
    )


def _retire(uow: UnitOfWork, sub: Subscription, now: datetime) -> None:
    """A SIM whose life is over is never given out again (SIMs added by hand before the
    stock existed are not in it)."""
    stocked = uow.sims.get(sub.iccid)
    if stocked is not None and stocked.state is StockState.ASSIGNED:
        uow.sims.retire(sub.iccid, now)


def _reason(report: ProgressReport) -> str | None:
    if report.status is None:
        return report.message
    code = f"{report.status.subject_code}/{report.status.reason_code}"
    return f"{code} {report.message or report.status.meaning}"


def _consequences(progress: Progress | None) -> Mapping[str, str | None]:
    if progress is None:
        return {}
    found: dict[str, str | None] = {}
    if progress.retired is not None:
        found["retired"] = str(progress.retired.iccid)
    if progress.kept is not None:
        found["kept"] = str(progress.kept.iccid)
    if progress.closed_line is not None:
        found["closed_line"] = progress.closed_line.msisdn.e164
    return found
