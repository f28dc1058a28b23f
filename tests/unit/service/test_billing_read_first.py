"""Closing cycles read-first on the in-memory store: a read-only unit of work loads and
rates the batch, a writing one closes only the families whose stamps did not move.

The read-first path issues exactly the invoices the locked path does; a family that
changed between the read and the write (usage, an allocation, a replaced plan) is closed
the locked way, so its invoice shows the change, while the rest of the batch is closed
from what was read; a family closed by someone else, deleted or never known does not
break the batch; and the read-only unit of work is never committed.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from types import TracebackType
from zoneinfo import ZoneInfo

import pytest

from famsim.adapters.memory import MemoryStore, MemoryUnitOfWork
from famsim.domain.allocation import ExhaustionAction, Limit
from famsim.domain.billing.invoice import Invoice
from famsim.domain.billing.rating import ChargeKind
from famsim.domain.billing.split import SplitPolicy, SplitRule
from famsim.domain.errors import Conflict
from famsim.domain.identifiers import Iccid
from famsim.domain.ids import FamilyId
from famsim.domain.members import Role
from famsim.domain.money import Money
from famsim.domain.plan import DeviceKind, Plan
from famsim.domain.units import HOME, Resource, Zone
from famsim.service import commands as c
from famsim.service.billing import BillingService
from famsim.service.charging import ChargingRequest, ChargingService, RequestType, ServiceUse
from famsim.service.messagebus import MessageBus

GB = 10**9
HK = ZoneInfo("Asia/Hong_Kong")
PLAN = "hk-family-5g-100"
CLOSED_AT = datetime(2026, 12, 1, 0, 30, tzinfo=HK)
"""Half an hour after the November cycles ended: every family is due."""
NOVEMBER_USAGE = datetime(2026, 11, 20, 12, tzinfo=UTC)
OCTOBER_USAGE = datetime(2026, 10, 20, 12, tzinfo=UTC)
FAMILIES = 4
OVERAGE_PER_GB = 3_000  # HK$30.00 a GB of home data beyond the member's quota


class _Clock:
    def __init__(self, today: date) -> None:
        self.current = today

    def today(self) -> date:
        return self.current


def _spec(n: int) -> c.SubscriptionSpec:
    return c.SubscriptionSpec(
        iccid=str(Iccid.from_body(f"8985200009990{n:05d}")),
        imsi=f"4540099900{n:05d}",
        device_kind=DeviceKind.PHONE,
    )


def _number(n: int) -> str:
    return f"+852912{n:05d}"


def _use(store: MemoryStore, at: datetime, session: str, number: str, units: int) -> None:
    """One home data session of *units*, reserved and reported, committed by charging."""
    charging = ChargingService(lambda: MemoryUnitOfWork(store), now=lambda: at)
    first = ChargingRequest(
        session,
        0,
        RequestType.INITIAL,
        number,
        (ServiceUse(Resource.DATA, requested=units),),
    )
    assert charging.handle(first).services[0].granted == units
    last = ChargingRequest(
        session,
        1,
        RequestType.TERMINATION,
        number,
        (ServiceUse(Resource.DATA, used=units),),
    )
    charging.handle(last)


def _ben_limits() -> dict[tuple[Resource, Zone], Limit]:
    return {(Resource.DATA, HOME): Limit(quota=GB, hard_cap=10 * GB)}


def _build(store: MemoryStore, plans: list[Plan]) -> dict[str, str]:
    """ "Family old" (from October: two cycles due), then "Family 0".."Family 3" (from
    November); in each, Ben goes over his 1 GB home quota by as many half GBs as the
    family's place in that list (1 to 5); Family 1 splits equally. Family name -> id."""
    clock = _Clock(date(2026, 11, 1))
    bus = MessageBus(lambda: MemoryUnitOfWork(store), clock)
    bus.handle(c.LoadPlans(tuple(plans)))
    ids: dict[str, str] = {}
    names = [("Family old", date(2026, 10, 1))]
    names += [(f"Family {k}", date(2026, 11, 1)) for k in range(FAMILIES)]
    for k, (name, created) in enumerate(names):
        clock.current = created
        family: str = bus.handle(c.CreateFamily(name=name, plan_code=PLAN, owner_name="Ana"))
        bus.handle(c.AddMember(family, "Ben", Role.ADULT))
        bus.handle(c.AddLine(family, "Ana", _number(2 * k), _spec(2 * k)))
        bus.handle(c.AddLine(family, "Ben", _number(2 * k + 1), _spec(2 * k + 1)))
        bus.handle(
            c.SetAllocation(family, "Ben", limits=_ben_limits(), exhaustion=ExhaustionAction.BLOCK)
        )
        ids[name] = family
        at = OCTOBER_USAGE if created.month == 10 else NOVEMBER_USAGE
        _use(store, at, f"ana-{k}", _number(2 * k), GB)
        _use(store, at, f"ben-{k}", _number(2 * k + 1), GB + (k + 1) * GB // 2)
    BillingService(lambda: MemoryUnitOfWork(store), lambda: CLOSED_AT).set_split_policy(
        ids["Family 1"], SplitPolicy(SplitRule.EQUAL)
    )
    return ids


def _twin(store: MemoryStore) -> MemoryStore:
    """A store holding a copy of everything *store* holds (same ids), with its own lock
    (audit events are immutable and hold read-only mappings: the list is copied)."""
    fields = {f.name for f in dataclasses.fields(store)} - {"lock", "audit"}
    twin = MemoryStore(**{name: copy.deepcopy(getattr(store, name)) for name in fields})
    twin.audit = list(store.audit)
    return twin


class _ReadOnlyUnitOfWork(MemoryUnitOfWork):
    """A read unit of work that refuses to commit and, once, runs *after_read* when it
    ends (between the batch's read and its write)."""

    def __init__(self, store: MemoryStore, reads: _Reads) -> None:
        super().__init__(store)
        self._reads = reads

    def __enter__(self) -> _ReadOnlyUnitOfWork:
        self._reads.entered += 1
        return super().__enter__()

    def commit(self) -> None:
        self._reads.commits += 1
        raise AssertionError("the read-only unit of work was committed")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc, tb)
        callback, self._reads.after_read = self._reads.after_read, None
        if callback is not None:
            callback()


@dataclasses.dataclass
class _Reads:
    entered: int = 0
    commits: int = 0
    after_read: Callable[[], None] | None = None


def _read_first(
    store: MemoryStore, after_read: Callable[[], None] | None = None
) -> tuple[BillingService, _Reads, list[list[str]]]:
    """A read-first service on *store*; what its read units of work saw; and the batches
    it closed the locked way (``_close_batch``, spied on)."""
    reads = _Reads(after_read=after_read)
    service = BillingService(
        lambda: MemoryUnitOfWork(store),
        lambda: CLOSED_AT,
        read_uow=lambda: _ReadOnlyUnitOfWork(store, reads),
    )
    locked: list[list[str]] = []
    close_locked = service._close_batch

    def spy(
        family_ids: Sequence[str], at: datetime, actor: str, behind: list[str]
    ) -> list[Invoice]:
        locked.append(list(family_ids))
        return close_locked(family_ids, at, actor, behind)

    service._close_batch = spy  # type: ignore[method-assign]
    return service, reads, locked


def _locked(store: MemoryStore) -> BillingService:
    return BillingService(lambda: MemoryUnitOfWork(store), lambda: CLOSED_AT)


def _stored(store: MemoryStore) -> list[Invoice]:
    with store.lock:
        return sorted(store.billing.invoices.values(), key=lambda i: i.number)


def _by_family(invoices: list[Invoice]) -> dict[tuple[str, int], Invoice]:
    found: dict[tuple[str, int], Invoice] = {}
    for invoice in invoices:
        key = (invoice.family_id, invoice.cycle_number)
        assert key not in found, f"two invoices for {key}"
        found[key] = invoice
    return found


def _unnumbered(invoice: Invoice) -> Invoice:
    return dataclasses.replace(invoice, number="")


def _numbers(count: int) -> list[str]:
    return [f"INV-2026-{n:06d}" for n in range(1, count + 1)]


def _overage(invoice: Invoice) -> int:
    return sum(line.minor for line in invoice.lines if line.kind is ChargeKind.OVERAGE)


@pytest.fixture
def stores(sample_plans: list[Plan]) -> tuple[MemoryStore, MemoryStore, dict[str, str]]:
    """Two stores holding the same families, usage and policies (the same ids)."""
    store = MemoryStore()
    ids = _build(store, sample_plans)
    return store, _twin(store), ids


@pytest.mark.parametrize("batch", [1, 2, 200], ids=["one-by-one", "pairs", "all-at-once"])
def test_read_first_issues_exactly_the_invoices_of_the_locked_way(
    stores: tuple[MemoryStore, MemoryStore, dict[str, str]], batch: int
) -> None:
    read_first, locked_way, ids = stores
    service, reads, locked = _read_first(read_first)

    issued = service.close_due(batch=batch)
    expected = _locked(locked_way).close_due(batch=batch)

    assert issued == expected  # numbers, lines, totals, shares, member names, order
    assert _stored(read_first) == _stored(locked_way)
    assert [i.number for i in _stored(read_first)] == _numbers(FAMILIES + 2)
    assert sorted((i.family_id, i.cycle_number) for i in issued) == sorted(
        [(ids["Family old"], 1), (ids["Family old"], 2)]
        + [(ids[f"Family {k}"], 1) for k in range(FAMILIES)]
    )
    # what the invoices say, to the minor unit: Ben's overage, the equal split
    by_key = _by_family(issued)
    for k in range(FAMILIES):
        invoice = by_key[(ids[f"Family {k}"], 1)]
        assert _overage(invoice) == (k + 2) * OVERAGE_PER_GB // 2
        assert invoice.total == 39_800 + 2_000 + 2 * 8_800 + _overage(invoice)
    equal = by_key[(ids["Family 1"], 1)]
    assert equal.split_rule is SplitRule.EQUAL
    assert [share for _, share in equal.shares] == [equal.total // 2] * 2
    assert reads.entered >= 1
    assert reads.commits == 0
    assert locked == []  # nothing moved: nothing closed the locked way
    assert service.close_due(batch=batch) == []


def _more_usage(store: MemoryStore, ids: dict[str, str]) -> Callable[[], None]:
    """Family 2's Ben (the 4th family built: line 2 * 3 + 1) uses another GB, all of it
    overage (his quota is spent)."""
    return lambda: _use(store, NOVEMBER_USAGE, "ben-2-again", _number(2 * 3 + 1), GB)


def _money_cap(store: MemoryStore, ids: dict[str, str]) -> Callable[[], None]:
    """Family 2's Ben gets a HK$20.00 money cap (his allocation replaced: a new family
    version)."""

    def change() -> None:
        bus = MessageBus(lambda: MemoryUnitOfWork(store), _Clock(date(2026, 11, 30)))
        bus.handle(
            c.SetAllocation(
                ids["Family 2"],
                "Ben",
                limits=_ben_limits(),
                exhaustion=ExhaustionAction.BLOCK,
                money_cap=Money.parse("20.00", "HKD"),
            )
        )

    return change


@pytest.mark.parametrize(
    ("change", "overage", "cap_credit"),
    [
        (_more_usage, 3 * OVERAGE_PER_GB, 0),  # 2 GB over, then one more
        (_money_cap, 2 * OVERAGE_PER_GB, 2_000 - 2 * OVERAGE_PER_GB),  # HK$60 down to HK$20
    ],
    ids=["more-usage", "money-cap"],
)
def test_a_family_that_moved_between_read_and_write_is_closed_the_locked_way(
    stores: tuple[MemoryStore, MemoryStore, dict[str, str]],
    change: Callable[[MemoryStore, dict[str, str]], Callable[[], None]],
    overage: int,
    cap_credit: int,
) -> None:
    racing, changed_first, ids = stores
    moved = ids["Family 2"]
    service, reads, locked = _read_first(racing, change(racing, ids))

    issued = service.close_due()

    # The same change committed before any closing, closed the locked way: the reference.
    change(changed_first, ids)()
    expected = _locked(changed_first).close_due()
    assert reads.after_read is None  # the change did run between a read and its write
    assert reads.commits == 0
    assert [moved] in locked  # the family that moved, closed again under the lock ...
    assert all(batch == [moved] for batch in locked)  # ... and only it
    got = _by_family(issued)
    want = _by_family(expected)
    assert got.keys() == want.keys()
    assert {k: _unnumbered(i) for k, i in got.items()} == {
        k: _unnumbered(i) for k, i in want.items()
    }
    invoice = got[(moved, 1)]
    assert _overage(invoice) == overage  # the change shows on the invoice
    assert sum(line.minor for line in invoice.lines if line.kind is ChargeKind.CAP_CREDIT) == (
        cap_credit
    )
    # every family exactly one invoice a cycle, gap-free numbers
    assert sorted(i.number for i in issued) == _numbers(FAMILIES + 2)
    assert [i.number for i in _stored(racing)] == _numbers(FAMILIES + 2)
    assert _by_family(_stored(racing)) == got
    assert service.close_due() == []


def test_a_replaced_plan_moves_every_family_of_the_batch(
    stores: tuple[MemoryStore, MemoryStore, dict[str, str]], sample_plans: list[Plan]
) -> None:
    racing, untouched, ids = stores

    def reload_plans() -> None:
        bus = MessageBus(lambda: MemoryUnitOfWork(racing), _Clock(date(2026, 11, 30)))
        bus.handle(c.LoadPlans(tuple(sample_plans)))  # the same plans, saved again

    service, reads, locked = _read_first(racing, reload_plans)
    issued = service.close_due()

    expected = _locked(untouched).close_due()
    assert reads.after_read is None
    assert reads.commits == 0
    first_round = {ids[f"Family {k}"] for k in range(FAMILIES)} | {ids["Family old"]}
    assert {batch[0] for batch in locked} >= first_round  # all closed under the lock
    assert all(len(batch) == 1 for batch in locked)
    assert {k: _unnumbered(i) for k, i in _by_family(issued).items()} == {
        k: _unnumbered(i) for k, i in _by_family(expected).items()
    }
    assert sorted(i.number for i in issued) == _numbers(FAMILIES + 2)


def test_a_family_closed_by_someone_else_between_read_and_write(
    stores: tuple[MemoryStore, MemoryStore, dict[str, str]],
) -> None:
    racing, untouched, ids = stores
    other = ids["Family 3"]
    elsewhere: list[Invoice] = []

    def close_elsewhere() -> None:
        elsewhere.extend(_locked(racing).close(other))

    service, reads, locked = _read_first(racing, close_elsewhere)
    issued = service.close_due()

    assert [i.family_id for i in elsewhere] == [other]
    assert [other] in locked  # moved: looked at again under the lock, found not due
    assert other not in {i.family_id for i in issued}  # not invoiced a second time
    everything = elsewhere + issued
    expected = _locked(untouched).close_due()
    assert {k: _unnumbered(i) for k, i in _by_family(everything).items()} == {
        k: _unnumbered(i) for k, i in _by_family(expected).items()
    }
    assert [i.number for i in _stored(racing)] == _numbers(FAMILIES + 2)
    assert elsewhere[0].number == "INV-2026-000001"  # it took the first number
    assert reads.commits == 0
    assert service.close_due() == []


def test_a_family_deleted_between_read_and_write_or_unknown_does_not_break_the_batch(
    stores: tuple[MemoryStore, MemoryStore, dict[str, str]],
) -> None:
    racing, untouched, ids = stores
    gone = FamilyId(ids["Family 0"])

    def delete() -> None:
        with racing.lock:
            del racing.families[gone]  # what a family's removal leaves: no family row

    service, reads, locked = _read_first(racing, delete)
    families = [*ids.values(), "no-such-family"]
    issued = service.close_families(families, CLOSED_AT)

    assert [gone] in locked
    assert gone not in {i.family_id for i in issued}
    assert "no-such-family" not in {i.family_id for i in issued}
    expected = [i for i in _locked(untouched).close_due() if i.family_id != gone]
    assert {k: _unnumbered(i) for k, i in _by_family(issued).items()} == {
        k: _unnumbered(i) for k, i in _by_family(expected).items()
    }
    assert sorted(i.number for i in issued) == _numbers(FAMILIES + 1)
    assert [i.number for i in _stored(racing)] == _numbers(FAMILIES + 1)
    assert reads.commits == 0
    assert service.close_families(families, CLOSED_AT) == []


def test_only_unknown_or_not_due_families_issue_nothing(
    stores: tuple[MemoryStore, MemoryStore, dict[str, str]],
) -> None:
    racing, _, ids = stores
    service, reads, locked = _read_first(racing)
    early = datetime(2026, 11, 30, 23, 59, tzinfo=HK)  # November not over yet in HK
    young = [ids[f"Family {k}"] for k in range(FAMILIES)]
    assert service.close_families([*young, "no-such-family"], early) == []
    assert service.close_families(["no-such-family", "nor-this-one"], CLOSED_AT) == []
    assert _stored(racing) == []
    assert locked == []
    assert reads.commits == 0
    assert reads.entered >= 2


class _FailingFirstCommit(MemoryUnitOfWork):
    """A writing unit of work whose first commit fails as a busy database would."""

    failures = 1

    def commit(self) -> None:
        if _FailingFirstCommit.failures:
            _FailingFirstCommit.failures -= 1
            raise Conflict("the database is busy with another change; try again")
        super().commit()


def test_a_failed_write_is_retried_family_by_family_and_the_read_is_never_committed(
    stores: tuple[MemoryStore, MemoryStore, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    racing, untouched, _ = stores
    monkeypatch.setattr(_FailingFirstCommit, "failures", 1)
    reads = _Reads()
    service = BillingService(
        lambda: _FailingFirstCommit(racing),
        lambda: CLOSED_AT,
        read_uow=lambda: _ReadOnlyUnitOfWork(racing, reads),
    )
    issued = service.close_due()
    assert _FailingFirstCommit.failures == 0
    assert reads.commits == 0
    assert reads.entered >= 2
    expected = _locked(untouched).close_due()
    assert {k: _unnumbered(i) for k, i in _by_family(issued).items()} == {
        k: _unnumbered(i) for k, i in _by_family(expected).items()
    }
    assert sorted(i.number for i in issued) == _numbers(FAMILIES + 2)
    assert [i.number for i in _stored(racing)] == _numbers(FAMILIES + 2)
