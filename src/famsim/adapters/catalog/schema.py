"""The catalog's schema, in pydantic, and its translation to and from domain plans.

The same schema serves two purposes: it validates what an operator writes in the
catalog file, and it is the JSON form a plan is stored in, so a stored plan is always one
that passed validation. Domain errors raised while converting are re-raised as
``ValueError`` inside validators, so pydantic reports them at the exact key.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from famsim.domain.errors import FamsimError
from famsim.domain.money import Money, currency_exponent
from famsim.domain.plan import DeviceKind, HotspotRule, OverageRate, Plan, RoamingZone
from famsim.domain.safety import check_time_zone, normalize_number
from famsim.domain.units import Resource, Zone, parse_amount, zone

UNLIMITED = "unlimited"

LOCATION_MARK = "@at "
"""Prefix of a validator message that names a key below the model being validated.

Pydantic locates an error raised in a model validator at the model itself; checks that
span fields (a zone used before it is defined, an MCC in two zones) name the exact key
this way, and the loader folds it into the path it reports.
"""


def located(path: str, reason: str) -> ValueError:
    """A ValueError the loader will report at ``path`` (dotted, with ``[n]`` indices)."""
    return ValueError(f"{LOCATION_MARK}{path}: {reason}")


def _as_value_error(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except FamsimError as exc:
        raise ValueError(str(exc)) from None


_EXAMPLES = {Resource.DATA: "'20GB'", Resource.VOICE: "'300min'", Resource.SMS: "100"}


def _number(text: str) -> str:
    result: str = _as_value_error(normalize_number, text)
    return result


def _time_zone(name: str) -> str:
    result: str = _as_value_error(check_time_zone, name)
    return result


def _zone_key(name: str) -> str:
    result: str = _as_value_error(zone, name)
    return result


def _amount_of(resource: Resource) -> Any:
    def check(value: Any) -> int | None:
        if isinstance(value, str) and value.strip().lower() == UNLIMITED:
            return None
        if not isinstance(value, str | int):
            raise ValueError(
                f"expected an amount in {resource.unit} such as "
                f"{_EXAMPLES[resource]}, or 'unlimited'"
            )
        result: int = _as_value_error(parse_amount, resource, value)
        return result

    return BeforeValidator(check)


def _decimal_text(value: Any) -> str:
    if isinstance(value, float):
        raise ValueError('write money as a string such as "388.00": floats are not exact')
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValueError('expected an amount of money such as "388.00"')
    return value


DataAmount = Annotated[int | None, _amount_of(Resource.DATA)]
VoiceAmount = Annotated[int | None, _amount_of(Resource.VOICE)]
SmsAmount = Annotated[int | None, _amount_of(Resource.SMS)]
Price = Annotated[str, BeforeValidator(_decimal_text)]
Mcc = Annotated[str, Field(pattern=r"^[0-9]{3}$")]
ZoneName = Annotated[str, AfterValidator(_zone_key)]
DialNumber = Annotated[str, AfterValidator(_number)]
TimeZoneName = Annotated[str, AfterValidator(_time_zone)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ZoneAllowances(_Strict):
    """Pooled amounts for one zone; a missing resource is not included in the plan there."""

    data: DataAmount = 0
    voice: VoiceAmount = 0
    sms: SmsAmount = 0


class Rate(_Strict):
    price: Price
    per: int | str = 1


class ZoneOverage(_Strict):
    """Overage prices for one zone: price per ``per`` units (e.g. per "1GB", per "1min")."""

    data: Rate | None = None
    voice: Rate | None = None
    sms: Rate | None = None


class Hotspot(_Strict):
    allowed: bool = True
    sub_quota: DataAmount = None


class RoamingZoneSpec(_Strict):
    name: str
    mccs: list[Mcc] = Field(min_length=1)


class LineFees(_Strict):
    phone: Price
    watch: Price
    tablet: Price
    other: Price


class PlanSpec(_Strict):
    """One plan as written in the catalog."""

    code: str
    name: str
    currency: str
    home_mccs: list[Mcc] = Field(min_length=1)
    monthly_fee: Price
    management_fee: Price = "0"
    line_fees: LineFees
    allowances: dict[ZoneName, ZoneAllowances]
    overage: dict[ZoneName, ZoneOverage] = Field(default_factory=dict)
    roaming_zones: list[RoamingZoneSpec] = Field(default_factory=list)
    hotspot: Hotspot = Hotspot()
    max_members: int = Field(default=5, ge=1, le=100)
    max_lines: int = Field(default=10, ge=1, le=1000)
    # Both optional, so documents stored before child safety existed still load.
    emergency_numbers: list[DialNumber] = Field(default_factory=list, max_length=20)
    time_zone: TimeZoneName = "UTC"
    # Resources whose unused home pool carries into the next cycle (optional, as above).
    rollover: list[Resource] = Field(default_factory=list, max_length=3)

    @field_validator("currency")
    @classmethod
    def _iso_4217(cls, code: str) -> str:
        if code != code.upper():
            raise ValueError(f"write the currency code in capitals: {code.upper()!r}")
        _as_value_error(currency_exponent, code)
        return code

    @model_validator(mode="after")
    def _is_a_valid_plan(self) -> PlanSpec:
        self._check_references()
        _as_value_error(self.to_domain)
        return self

    def _check_references(self) -> None:
        """Checks that span keys, each reported at the key at fault."""
        zones = {"home": "home_mccs"}
        owner = dict.fromkeys(self.home_mccs, "home")
        for index, spec in enumerate(self.roaming_zones):
            where = f"roaming_zones[{index}]"
            if spec.name == "home":
                raise located(f"{where}.name", "a roaming zone cannot be called 'home'")
            if spec.name in zones:
                raise located(f"{where}.name", f"zone {spec.name!r} is defined twice")
            zones[spec.name] = where
            for mcc in spec.mccs:
                if mcc in owner:
                    raise located(
                        f"{where}.mccs", f"MCC {mcc} is in both {owner[mcc]!r} and {spec.name!r}"
                    )
                owner[mcc] = spec.name
        for section, table in (("allowances", self.allowances), ("overage", self.overage)):
            for zone_name in table:
                if zone_name not in zones:
                    raise located(
                        f"{section}.{zone_name}",
                        f"zone {zone_name!r} is not defined: add it to roaming_zones",
                    )
        for zone_name, rates in self.overage.items():
            for resource in Resource:
                rate: Rate | None = getattr(rates, resource.value)
                if rate is None:
                    continue
                where = f"overage.{zone_name}.{resource.value}.per"
                try:
                    per = parse_amount(resource, rate.per)
                except FamsimError as exc:
                    raise located(where, str(exc)) from None
                if per <= 0:
                    raise located(where, "an overage rate must be per a positive number of units")

    def to_domain(self) -> Plan:
        def money(text: str) -> Money:
            return Money.parse(text, self.currency)

        allowances: dict[tuple[Resource, Zone], int | None] = {}
        for zone_name, amounts in self.allowances.items():
            z = zone(zone_name)
            for resource in Resource:
                if resource.value in amounts.model_fields_set:
                    allowances[(resource, z)] = getattr(amounts, resource.value)
        overage: dict[tuple[Resource, Zone], OverageRate] = {}
        for zone_name, rates in self.overage.items():
            z = zone(zone_name)
            for resource in Resource:
                rate: Rate | None = getattr(rates, resource.value)
                if rate is not None:
                    per = parse_amount(resource, rate.per)
                    overage[(resource, z)] = OverageRate(money(rate.price), per)
        return Plan(
            code=self.code,
            name=self.name,
            currency=self.currency,
            home_mccs=frozenset(self.home_mccs),
            monthly_fee=money(self.monthly_fee),
            management_fee=money(self.management_fee),
            line_fees={kind: money(getattr(self.line_fees, kind.value)) for kind in DeviceKind},
            allowances=allowances,
            overage=overage,
            roaming_zones=tuple(
                RoamingZone(zone(z.name), frozenset(z.mccs)) for z in self.roaming_zones
            ),
            hotspot=HotspotRule(self.hotspot.allowed, self.hotspot.sub_quota),
            max_members=self.max_members,
            max_lines=self.max_lines,
            emergency_numbers=frozenset(self.emergency_numbers),
            time_zone=self.time_zone,
            rollover=frozenset(self.rollover),
        )


class Catalog(_Strict):
    plans: list[PlanSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _codes_are_unique(self) -> Catalog:
        seen: set[str] = set()
        for index, plan in enumerate(self.plans):
            if plan.code in seen:
                raise located(f"plans[{index}].code", f"plan code {plan.code!r} is defined twice")
            seen.add(plan.code)
        return self


def plan_to_document(plan: Plan) -> dict[str, Any]:
    """The catalog form of a plan, as JSON-ready data (for storage)."""
    zones: dict[str, dict[str, Any]] = {}
    for (resource, z), amount in plan.allowances.items():
        zones.setdefault(z, {})[resource.value] = UNLIMITED if amount is None else amount
    overage: dict[str, dict[str, Any]] = {}
    for (resource, z), rate in plan.overage.items():
        overage.setdefault(z, {})[resource.value] = {
            "price": rate.price.amount_text(),
            "per": rate.per,
        }
    return {
        "code": plan.code,
        "name": plan.name,
        "currency": plan.currency,
        "home_mccs": sorted(plan.home_mccs),
        "monthly_fee": plan.monthly_fee.amount_text(),
        "management_fee": plan.management_fee.amount_text(),
        "line_fees": {kind.value: fee.amount_text() for kind, fee in plan.line_fees.items()},
        "allowances": zones,
        "overage": overage,
        "roaming_zones": [{"name": z.name, "mccs": sorted(z.mccs)} for z in plan.roaming_zones],
        "hotspot": {"allowed": plan.hotspot.allowed}
        | ({"sub_quota": plan.hotspot.sub_quota} if plan.hotspot.sub_quota is not None else {}),
        "max_members": plan.max_members,
        "max_lines": plan.max_lines,
        "emergency_numbers": sorted(plan.emergency_numbers),
        "time_zone": plan.time_zone,
        "rollover": sorted(resource.value for resource in plan.rollover),
    }


def plan_from_document(document: dict[str, Any]) -> Plan:
    return PlanSpec.model_validate(document).to_domain()
