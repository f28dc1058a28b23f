"""What billing needs to know about a family's SIMs, read off the family aggregate."""

from __future__ import annotations

from datetime import date

from famsim.domain.billing.rating import BillableSim
from famsim.domain.family import Family


def billable_sims(family: Family, start: date, end: date) -> list[BillableSim]:
    """Every SIM of *family* in service on at least one day of [start, end), closed lines
    and retired SIMs included, in the family's order of lines and devices.

    Each comes with its member, its line's number and its device kind, in service from
    ``in_service_on`` until ``out_of_service_on`` (exclusive; None: still in service).
    A SIM never on a device (an order cancelled or failed) has no line fee.
    """
    sims = []
    for line in family.lines.values():
        for sub in line.subscriptions:
            if sub.in_service_on is None or not sub.in_service_during(start, end):
                continue
            sims.append(
                BillableSim(
                    member_id=line.member_id,
                    msisdn=line.msisdn.e164,
                    device_kind=sub.device_kind,
                    active_from=sub.in_service_on,
                    active_until=sub.out_of_service_on,
                )
            )
    return sims
