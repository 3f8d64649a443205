"""The billing worker: billing runs, cutoffs, payments and router work against the store.

It loads records (``centinela.data.billing_store``), asks the pure core what to do
(``invoicing.bill``, ``standing.service_changes``, ``payments.allocate`` via the store's
settlement), and applies the answer in one transaction per batch of customers. Router actions are
queued in that transaction and then sent: one connection per router per run
(``RouterClient.apply`` in ``asyncio.to_thread``), routers in parallel. Only what a router
confirmed is marked done; the rest stays queued and is retried with backoff.

Safety rules
- Before a batch is cut, the ``refresh_payments`` hook (the Odoo sync's pull, when configured) is
  called for the customers about to be cut; then, inside the write transaction, their payments are
  allocated and their standing computed again from what the store holds. Only what is still unpaid
  is cut. If the hook fails, those customers are not cut in this run (a missed cut is recoverable;
  cutting a customer who paid is the worst failure).
- A queued action that no longer matches its contract's state (a suspend for a customer who paid
  before the router could be reached) is superseded, never sent.
- Runs never overlap: an ``asyncio.Lock`` in the process, and a ``running`` row in
  ``billing_runs`` across processes (see ``data/billing_runs.py``).
- Contracts an admin holds (suspended or reconnected by hand) are left out of automatic cutoffs.
- Payments only ever improve a contract's standing when registered; cuts are for cutoff runs.

Dates are the company's calendar (``billing.timezone``); instants are UTC.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import aiosqlite
from centinela.billing import standing
from centinela.billing.invoicing import BillingResult, InvoiceDraft, bill
from centinela.billing.models import BillingSettings, ContractState, OpenInvoice, ServiceKind
from centinela.billing.reconcile import Wanted, plan_actions
from centinela.billing.router import (
    ActionKind,
    ActionResult,
    LibrouterosClient,
    RouterAction,
    RouterClient,
    RouterConfig,
    RouterError,
)
from centinela.billing.schedule import (
    ScheduleSettings,
    billing_due,
    cutoff_due,
    local_date,
    next_billing_at,
    next_cutoff,
)
from centinela.data import billing_runs as runs
from centinela.data import billing_store as bs
from centinela.data import router_store as rs
from centinela.data.audit import audit
from centinela.data.store import Store
from centinela.data.timeutil import utcnow

log = logging.getLogger(__name__)

RouterFactory = Callable[[RouterConfig], RouterClient]


class PaymentRefresh(Protocol):
    """What a payment refresh answers: ``fresh`` False means the store may lack payments (Odoo did
    not answer), so cutting those customers now would be blind."""

    @property
    def fresh(self) -> bool: ...

    @property
    def error(self) -> str | None: ...


RefreshPayments = Callable[[Sequence[int]], Awaitable[PaymentRefresh]]
Progress = Callable[[int, int], None]

_SEVERITY = {
    ContractState.ACTIVE: 0,
    ContractState.GRACE: 1,
    ContractState.NOTICE: 2,
    ContractState.SUSPENDED: 3,
}
_ACTION_KINDS: dict[standing.RouterAction, ActionKind] = {
    standing.RouterAction.SUSPEND: "suspend",
    standing.RouterAction.RECONNECT: "reconnect",
    standing.RouterAction.NOTICE: "notice",
    standing.RouterAction.CLEAR_NOTICE: "clear-notice",
}
_T = TypeVar("_T")


def _chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- reports -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BillingReport:
    run_date: date
    dry_run: bool
    run_id: int | None
    customers: Mapping[int, bs.Customer]
    drafts: tuple[InvoiceDraft, ...]  # dry run: every invoice the run would post
    posted: tuple[bs.PostedInvoice, ...]  # real run: what it posted
    contract_refs: Mapping[int, str]
    skipped_lines: int
    problems: tuple[str, ...]

    @property
    def invoice_count(self) -> int:
        return len(self.drafts) if self.dry_run else len(self.posted)

    def totals(self) -> dict[str, Decimal]:
        """Total invoiced per currency."""
        totals: defaultdict[str, Decimal] = defaultdict(Decimal)
        for draft in self.drafts:
            totals[draft.currency] += draft.total
        for invoice in self.posted:
            totals[invoice.currency] += invoice.total
        return dict(sorted(totals.items()))


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """A state change with what a person needs to read it."""

    change: bs.StateChange
    contract: bs.ContractInfo
    customer: bs.Customer | None
    router: str | None


@dataclass(frozen=True, slots=True)
class RouterReport:
    done: int = 0
    retrying: int = 0
    failed: int = 0
    superseded: int = 0
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CutoffReport:
    day: date
    dry_run: bool
    run_id: int | None
    changes: tuple[PlannedChange, ...]
    router: RouterReport
    problems: tuple[str, ...]

    @property
    def suspensions(self) -> list[PlannedChange]:
        return [item for item in self.changes if item.change.is_cut]

    @property
    def reconnections(self) -> list[PlannedChange]:
        return [item for item in self.changes if item.change.is_reconnection]


@dataclass(frozen=True, slots=True)
class PaymentReport:
    payment_id: int
    allocations: tuple[bs.PaymentAllocation, ...]
    credit: Decimal
    changes: tuple[PlannedChange, ...]
    router: RouterReport


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    router: str
    actions: tuple[RouterAction, ...]
    results: tuple[ActionResult, ...] = ()
    error: str | None = None


@dataclass(slots=True)
class _Evaluation:
    contracts: dict[int, bs.ContractInfo] = field(default_factory=dict)
    customers: dict[int, bs.Customer] = field(default_factory=dict)
    changes: list[bs.StateChange] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# --- the worker --------------------------------------------------------------------------------


class BillingWorker:
    """Billing, cutoffs, payments and router actions for one store.

    ``router_factory`` builds the client for a router (LibrouterosClient by default);
    ``refresh_payments(customer_ids)`` pulls the customers' payments into the store before they are
    cut (``SyncWorker.refresh_payments`` of data/odoo_sync.py; None when there is no Odoo).
    """

    def __init__(
        self,
        store: Store,
        router_factory: RouterFactory = LibrouterosClient,
        *,
        refresh_payments: RefreshPayments | None = None,
        odoo_is_master: Callable[[], Awaitable[bool]] | None = None,
        actor: str = "billing",
        batch_customers: int = 2000,
        stale_after: timedelta = timedelta(minutes=30),
        router_concurrency: int = 8,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.router_factory = router_factory
        self.refresh_payments = refresh_payments
        self.odoo_is_master = odoo_is_master
        """True while Odoo sync is on: Odoo then keeps the payments (see register_payment)."""
        self.actor = actor
        self.batch_customers = batch_customers
        self.stale_after = stale_after
        self.clock = clock
        self._run_lock = asyncio.Lock()
        self._router_lock = asyncio.Lock()
        self._router_slots = asyncio.Semaphore(router_concurrency)

    async def config(self) -> bs.BillingConfig:
        return await bs.load_billing_config(self.store.reader)

    async def today(self, now: datetime | None = None) -> date:
        return local_date(now or self.clock(), (await self.config()).schedule)

    @property
    def running(self) -> bool:
        return self._run_lock.locked()

    @asynccontextmanager
    async def _run(self, kind: runs.RunKind, run_date: date) -> AsyncIterator[tuple[int, runs.RunTally]]:
        """Record the run and hold the locks while it lasts; times come from the worker's clock."""
        async with self._run_lock:
            async with self.store.transaction() as db:
                run_id = await runs.start_run(db, kind, run_date, self.clock(), stale_after=self.stale_after)
            tally = runs.RunTally()
            try:
                yield run_id, tally
            except BaseException as error:  # also cancellation: the row must not stay 'running'
                tally.error(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)
                async with self.store.transaction() as db:
                    await runs.finish_run(db, run_id, tally, failed=True, now=self.clock())
                raise
            async with self.store.transaction() as db:
                await runs.finish_run(db, run_id, tally, failed=False, now=self.clock())

    # billing

    async def run_billing(self, day: date, *, dry_run: bool = False, progress: Progress | None = None) -> BillingReport:
        """Bill every period due on ``day``; a dry run computes the same invoices and writes nothing."""
        settings = (await self.config()).settings
        if dry_run:
            return await self._bill(day, settings, None, progress)
        async with self._run("billing", day) as (run_id, tally):
            report = await self._bill(day, settings, run_id, progress)
            tally.invoices = len(report.posted)
            tally.errors.extend(report.problems)
            return report

    async def _bill(
        self, day: date, settings: BillingSettings, run_id: int | None, progress: Progress | None
    ) -> BillingReport:
        reader = self.store.reader
        total = await bs.count_due_customers(reader, day)
        customers: dict[int, bs.Customer] = {}
        refs: dict[int, str] = {}
        drafts: list[InvoiceDraft] = []
        posted: list[bs.PostedInvoice] = []
        problems: list[str] = []
        skipped = done = after = 0
        while batch := await bs.due_customer_ids(reader, day, after=after, limit=self.batch_customers):
            loaded = await bs.load_contracts(reader, batch, due_on=day, with_customers=run_id is None)
            problems.extend(str(problem) for problem in loaded.problems)
            # A real run leaves already billed periods to apply_billing, which reads them inside its
            # transaction; a preview must read them itself.
            billed = await bs.load_already_billed(reader, loaded.contracts) if run_id is None else set()
            result = bill([info.contract for info in loaded.contracts], settings, day, billed)
            if run_id is None:
                drafts.extend(result.invoices)
                customers.update(loaded.customers)
                refs.update((info.id, info.ref) for info in loaded.contracts)
            else:
                applied = await self._post(result, loaded, settings, run_id)
                posted.extend(applied.invoices)
                skipped += applied.skipped_lines
            after = batch[-1]
            done += len(batch)
            if progress is not None:
                progress(done, total)
        return BillingReport(day, run_id is None, run_id, customers, tuple(drafts), tuple(posted), refs,
                             skipped, tuple(problems))

    async def _post(
        self, result: BillingResult, loaded: bs.ContractBatch, settings: BillingSettings, run_id: int
    ) -> bs.AppliedBilling:
        async with self.store.transaction() as db:
            applied = await bs.apply_billing(
                db, result, settings, contracts={info.id: info for info in loaded.contracts},
                run_id=run_id, actor=self.actor,
            )
            # Credit left by earlier payments pays the new invoices at once.
            await bs.settle_credit(db, sorted({invoice.customer_id for invoice in applied.invoices}))
        return applied

    # standing

    @staticmethod
    def _changes(
        loaded: bs.ContractBatch, invoices: Sequence[OpenInvoice], today: date, settings: BillingSettings
    ) -> list[bs.StateChange]:
        """The batch's state changes, held contracts left out. The core scans every invoice for each
        contract it is given, so it is given one customer at a time."""
        owed: defaultdict[int, list[OpenInvoice]] = defaultdict(list)
        for invoice in invoices:
            owed[invoice.customer_id].append(invoice)
        free: defaultdict[int, list[bs.ContractInfo]] = defaultdict(list)
        for info in loaded.contracts:
            if not info.held(today):
                free[info.customer_id].append(info)
        changes: list[bs.StateChange] = []
        for customer_id, contracts in free.items():
            states = {info.id: info.contract.state for info in contracts}
            changes.extend(
                bs.StateChange.from_service_change(change, states[change.contract_id])
                for change in standing.service_changes(
                    [info.contract for info in contracts], owed[customer_id], today, settings
                )
            )
        return sorted(changes, key=lambda change: change.contract_id)

    async def _evaluate(self, customer_ids: Sequence[int], today: date, settings: BillingSettings) -> _Evaluation:
        """What a cutoff would change for these customers now, from the store as it is (no writes)."""
        reader = self.store.reader
        settlement = await bs.preview_settlement(reader, customer_ids)
        loaded = await bs.load_contracts(reader, customer_ids)
        found = _Evaluation({info.id: info for info in loaded.contracts}, dict(loaded.customers))
        found.changes = self._changes(loaded, settlement.invoices, today, settings)
        found.problems = [str(problem) for problem in loaded.problems]
        return found

    def _planned(
        self, changes: Iterable[bs.StateChange], found: _Evaluation, routers: Mapping[int, rs.RouterRow]
    ) -> list[PlannedChange]:
        planned = []
        for change in changes:
            info = found.contracts[change.contract_id]
            router = routers.get(info.router_id) if info.router_id is not None else None
            planned.append(PlannedChange(change, info, found.customers.get(info.customer_id),
                                         router.name if router else None))
        return planned

    async def run_cutoffs(self, now: datetime | None = None, *, dry_run: bool = False) -> CutoffReport:
        """Move every contract to its standing on today's date: grace, notice, cut, reconnect."""
        now = now or self.clock()
        config = await self.config()
        today = local_date(now, config.schedule)
        routers, router_problems = await rs.load_routers(self.store.reader)
        candidates = await bs.standing_candidates(self.store.reader, today)
        if dry_run:
            planned: list[PlannedChange] = []
            problems = list(router_problems)
            for batch in _chunks(candidates, self.batch_customers):
                found = await self._evaluate(batch, today, config.settings)
                planned.extend(self._planned(found.changes, found, routers))
                problems.extend(found.problems)
            return CutoffReport(today, True, None, tuple(planned), RouterReport(), tuple(problems))
        async with self._run("cutoff", today) as (run_id, tally):
            tally.errors.extend(router_problems)
            async with self.store.transaction() as db:
                await bs.clear_expired_holds(db, today)
            planned = []
            for batch in _chunks(candidates, self.batch_customers):
                planned.extend(await self._cutoff_batch(batch, today, config.settings, routers, run_id, tally, now))
            router = await self.process_router_queue(now)
            tally.errors.extend(router.errors)
            return CutoffReport(today, False, run_id, tuple(planned), router, tuple(tally.errors))

    async def _cutoff_batch(
        self, batch: Sequence[int], today: date, settings: BillingSettings, routers: Mapping[int, rs.RouterRow],
        run_id: int, tally: runs.RunTally, now: datetime,
    ) -> list[PlannedChange]:
        unconfirmed: set[int] = set()
        if self.refresh_payments is not None:
            preview = await self._evaluate(batch, today, settings)
            cutting = sorted({preview.contracts[c.contract_id].customer_id for c in preview.changes if c.is_cut})
            if cutting:
                try:
                    refreshed = await self.refresh_payments(cutting)
                    blind = None if refreshed.fresh else refreshed.error or "no answer"
                except Exception as error:  # noqa: BLE001 - whatever the sync raised, do not cut blind
                    blind = str(error) or type(error).__name__
                if blind is not None:
                    log.warning("payments of %d customers could not be refreshed: %s", len(cutting), blind)
                    tally.error(f"payments of {len(cutting)} customers could not be refreshed ({blind});"
                                " their cuts wait for the next run")
                    unconfirmed = set(cutting)
        async with self.store.transaction() as db:
            settlement = await bs.settle_payments(db, batch)
            loaded = await bs.load_contracts(db, batch)
            found = _Evaluation({info.id: info for info in loaded.contracts}, dict(loaded.customers))
            changes = [
                change for change in self._changes(loaded, settlement.invoices, today, settings)
                if not (change.is_cut and found.contracts[change.contract_id].customer_id in unconfirmed)
            ]
            applied = await bs.apply_state_changes(
                db, changes, found.contracts, found.customers, routers, run_id=run_id, actor=self.actor, now=now
            )
        tally.suspensions += applied.suspensions
        tally.reconnections += applied.reconnections
        tally.errors.extend(str(problem) for problem in loaded.problems)
        tally.errors.extend(applied.problems)
        return self._planned(changes, found, routers)

    # payments and manual changes

    async def register_payment(
        self, customer_id: int, amount: Decimal, currency: str, paid_on: date, *,
        reference: str | None = None, method: str | None = None, actor: str,
    ) -> PaymentReport:
        """Store a payment, settle the customer's invoices oldest first, and reconnect what it clears.

        Refused while Odoo sync is on: the pull keeps invoice residuals as Odoo has them, so a
        payment only Centinela knew of would be undone by the next pull and the paying customer
        cut again (the worst failure). With Odoo on, payments are registered in Odoo and arrive
        with the pull, which reconnects at once (``reconnect_paid``).
        """
        if self.odoo_is_master is not None and await self.odoo_is_master():
            raise PaymentsInOdoo(
                "Odoo is the record of payments while the sync is on: register the payment in Odoo; "
                "it reaches Centinela with the next sync and reconnects the customer then"
            )
        now = self.clock()
        async with self.store.transaction() as db:
            payment_id = await bs.insert_payment(db, customer_id, amount, currency, paid_on,
                                                 reference=reference, method=method)
            detail = {"payment_id": payment_id, "customer_id": customer_id, "amount": str(amount),
                      "currency": currency, "paid_on": paid_on.isoformat(), "reference": reference}
            await audit(db, actor, "payment.register", "payment", payment_id, detail)
            settlement, planned, queued = await self._improve(db, [customer_id], actor, now)
        router = await self.process_router_queue(now, only=queued)
        credit = settlement.credit().get((customer_id, currency), Decimal(0))
        return PaymentReport(payment_id, tuple(a for a in settlement.allocations if a.payment_id == payment_id),
                             credit, tuple(planned), router)

    async def reconnect_paid(self, customer_ids: Sequence[int], *, actor: str | None = None) -> list[PlannedChange]:
        """Bring back at once what these customers' payments now cover: call it after payments
        reach the store other than through ``register_payment`` (the Odoo pull)."""
        now = self.clock()
        async with self.store.transaction() as db:
            _, planned, queued = await self._improve(db, customer_ids, actor or self.actor, now)
        await self.process_router_queue(now, only=queued)
        return planned

    async def _improve(
        self, db: aiosqlite.Connection, customer_ids: Sequence[int], actor: str, now: datetime
    ) -> tuple[bs.Settlement, list[PlannedChange], tuple[int, ...]]:
        """Settle the customers' payments and apply the changes that lighten their standing (never
        a cut: those are for cutoff runs), inside the caller's transaction."""
        config = await bs.load_billing_config(db)
        routers, _ = await rs.load_routers(db)
        settlement = await bs.settle_payments(db, customer_ids)
        loaded = await bs.load_contracts(db, customer_ids)
        found = _Evaluation({info.id: info for info in loaded.contracts}, dict(loaded.customers))
        today = local_date(now, config.schedule)
        changes = [
            change for change in self._changes(loaded, settlement.invoices, today, config.settings)
            if _SEVERITY[change.new_state] < _SEVERITY[change.old_state]
        ]
        applied = await bs.apply_state_changes(
            db, changes, found.contracts, found.customers, routers, run_id=None, actor=actor, now=now
        )
        return settlement, self._planned(changes, found, routers), applied.queued_actions

    async def suspend_by_hand(self, contract_id: int, *, actor: str, note: str = "") -> PlannedChange | None:
        """Cut a contract now and hold it cut until an admin reconnects it."""
        reason = f"Suspensión manual ({actor})" + (f": {note}" if note else "")
        return await self._by_hand(contract_id, ContractState.SUSPENDED, "suspended", None, actor, reason, note)

    async def reconnect_by_hand(
        self, contract_id: int, *, actor: str, note: str = "", keep_days: int = 0
    ) -> PlannedChange | None:
        """Reconnect a contract now; with ``keep_days`` it stays on that many days whatever it owes."""
        until = await self.today() + timedelta(days=keep_days) if keep_days > 0 else None
        reason = f"Reconexión manual ({actor})" + (f": {note}" if note else "")
        return await self._by_hand(contract_id, ContractState.ACTIVE, "active" if until else None, until, actor,
                                   reason, note)

    async def _by_hand(
        self, contract_id: int, new_state: ContractState, hold: bs.Hold | None, until: date | None,
        actor: str, reason: str, note: str,
    ) -> PlannedChange | None:
        now = self.clock()
        routers, _ = await rs.load_routers(self.store.reader)
        async with self.store.transaction() as db:
            loaded = await bs.load_contracts(db, contract_ids=[contract_id])
            if not loaded.contracts:
                problem = loaded.problems[0].reason if loaded.problems else "not found, or not in force"
                raise bs.BillingStoreError(f"contract {contract_id}: {problem}")
            (info,) = loaded.contracts
            await bs.set_hold(db, contract_id, hold, until, actor, note)
            old = info.contract.state
            if old is new_state:
                return None
            internet = info.contract.service_kind is ServiceKind.INTERNET
            actions = standing.transition_actions(old, new_state) if internet else ()
            change = bs.StateChange(contract_id, old, new_state, actions, reason)
            found = _Evaluation({info.id: info}, dict(loaded.customers))
            applied = await bs.apply_state_changes(
                db, [change], found.contracts, found.customers, routers, run_id=None, actor=actor, now=now
            )
        if applied.problems:
            log.warning("%s", "; ".join(applied.problems))
        await self.process_router_queue(now, only=applied.queued_actions)
        return self._planned([change], found, routers)[0]

    # routers

    async def _per_router(self, work: Iterable[Coroutine[Any, Any, _T]]) -> list[_T]:
        async def limited(job: Coroutine[Any, Any, _T]) -> _T:
            async with self._router_slots:
                return await job

        return list(await asyncio.gather(*(limited(job) for job in work)))

    async def process_router_queue(
        self, now: datetime | None = None, *, only: Iterable[int] | None = None
    ) -> RouterReport:
        """Send the queued actions that are due (or just ``only`` these) to their routers."""
        now = now or self.clock()
        only = None if only is None else list(only)
        if only is not None and not only:
            return RouterReport()
        async with self._router_lock:
            queued = await rs.due_router_actions(self.store.reader, now, only=only)
            if not queued:
                return RouterReport()
            stale = [action.id for action in queued if not action.still_wanted()]
            by_router: defaultdict[int, list[rs.QueuedAction]] = defaultdict(list)
            for action in queued:
                if action.still_wanted():
                    by_router[action.router_id].append(action)
            routers, _ = await rs.load_routers(self.store.reader)
            batches = await self._per_router(
                self._send(routers.get(router_id), actions) for router_id, actions in by_router.items()
            )
            outcomes = [outcome for batch in batches for outcome in batch]
            async with self.store.transaction() as db:
                await rs.supersede_actions(db, stale)
                await rs.record_router_outcomes(db, outcomes, now)
        errors = sorted({outcome.error for outcome in outcomes if not outcome.ok and outcome.error})
        return RouterReport(
            done=sum(outcome.ok for outcome in outcomes),
            retrying=sum(not outcome.ok and not outcome.permanent for outcome in outcomes),
            failed=sum(outcome.permanent for outcome in outcomes),
            superseded=len(stale),
            errors=tuple(errors),
        )

    async def _send(self, router: rs.RouterRow | None, actions: Sequence[rs.QueuedAction]) -> list[rs.ActionOutcome]:
        if router is None:
            return [rs.ActionOutcome(a.id, False, "the router was deleted", permanent=True) for a in actions]
        if not router.enabled:
            return [rs.ActionOutcome(a.id, False, f"router {router.name!r} is disabled") for a in actions]
        outcomes: list[rs.ActionOutcome] = []
        requests: list[tuple[int, RouterAction]] = []
        for action in actions:
            try:
                request = RouterAction(_ACTION_KINDS[action.action], action.target, action.contract_ref, action.reason)
                requests.append((action.id, request))
            except ValueError as error:
                outcomes.append(rs.ActionOutcome(action.id, False, str(error), permanent=True))
        if requests:
            results = await self._apply(router, [request for _, request in requests])
            outcomes.extend(
                rs.ActionOutcome(action_id, result.ok, result.error)
                for (action_id, _), result in zip(requests, results, strict=True)
            )
        return outcomes

    async def _apply(self, router: rs.RouterRow, actions: Sequence[RouterAction]) -> list[ActionResult]:
        try:
            client = self.router_factory(router.config)
            return await asyncio.to_thread(client.apply, actions)
        except Exception as error:  # noqa: BLE001 - a client reports per action; anything else fails them all
            log.exception("router %s failed", router.name)
            return [ActionResult(action, False, f"router {router.name!r}: {error}") for action in actions]

    async def reconcile(self, *, dry_run: bool = False, names: Sequence[str] | None = None) -> list[ReconcileReport]:
        """Make each router's marked entries match who must be cut or noticed now."""
        routers, _ = await rs.load_routers(self.store.reader)
        chosen = [r for r in routers.values() if r.enabled and (names is None or r.name in names)]
        if names is not None:
            missing = sorted(set(names) - {r.name for r in routers.values()})
            if missing:
                raise bs.BillingStoreError(f"no router named {', '.join(missing)}")
        return await self._per_router(self._reconcile_one(router, dry_run) for router in chosen)

    async def _reconcile_one(self, router: rs.RouterRow, dry_run: bool) -> ReconcileReport:
        wanted = await rs.wanted_on_router(self.store.reader, router.id)
        suspended = [Wanted(w.target, w.contract_ref, w.reason) for w in wanted if w.state is ContractState.SUSPENDED]
        noticed = [Wanted(w.target, w.contract_ref, w.reason) for w in wanted if w.state is ContractState.NOTICE]
        if not router.takes(standing.RouterAction.NOTICE):
            noticed = []
        try:
            client = self.router_factory(router.config)
            actual = await asyncio.to_thread(client.managed_entries)
            plan = plan_actions(suspended, noticed, actual)
        except (RouterError, ValueError) as error:
            return ReconcileReport(router.name, (), error=str(error))
        if dry_run or not plan:
            return ReconcileReport(router.name, tuple(plan))
        results = await self._apply(router, plan)
        now = self.clock()
        async with self.store.transaction() as db:
            await rs.record_reconcile_actions(
                db, router.id,
                [(r.action.action, r.action.target, r.action.contract_ref, r.action.reason, r.ok, r.error)
                 for r in results],
                now, self.actor,
            )
        return ReconcileReport(router.name, tuple(plan), tuple(results))


# --- the schedule ------------------------------------------------------------------------------


class PaymentsInOdoo(bs.BillingStoreError):
    """A payment typed into Centinela while Odoo holds the payments."""


class BillingScheduler:
    """Runs billing and cutoffs when the schedule says, and retries queued router actions.

    Spawn ``run()`` in the one process that owns the receiver; it wakes at least every ``idle``
    seconds so changed settings take effect. A run that fails is tried again after ``retry_after``.
    """

    def __init__(
        self, worker: BillingWorker, *, idle: float = 60.0, retry_after: timedelta = timedelta(minutes=5)
    ) -> None:
        self.worker = worker
        self.idle = idle
        self.retry_after = retry_after
        self._not_before: dict[str, datetime] = {}

    async def run(self) -> None:
        while True:
            try:
                wait = await self.tick()
            except Exception:  # noqa: BLE001 - the schedule must outlive one bad round
                log.exception("billing scheduler round failed")
                wait = self.retry_after.total_seconds()
            await asyncio.sleep(wait)

    def _ready(self, kind: str, now: datetime) -> bool:
        return self._not_before.get(kind, now) <= now

    async def _attempt(self, kind: str, now: datetime, job: Callable[[], Awaitable[object]]) -> None:
        try:
            await job()
        except runs.RunBusyError as busy:
            log.info("%s not started: %s", kind, busy)
            self._not_before[kind] = now + timedelta(seconds=self.idle)
        except Exception:  # noqa: BLE001 - logged; tried again after retry_after
            log.exception("%s run failed", kind)
            self._not_before[kind] = now + self.retry_after

    async def tick(self) -> float:
        """One round: run what is due; returns the seconds to sleep until something is due again."""
        worker = self.worker
        reader = worker.store.reader
        schedule = (await worker.config()).schedule
        now = worker.clock()
        day = billing_due(now, await runs.last_successful_run(reader, "billing"), schedule)
        if day is not None and self._ready("billing", now):
            await self._attempt("billing", now, lambda: worker.run_billing(day))
        if cutoff_due(now, await runs.last_successful_run(reader, "cutoff"), schedule) and self._ready("cutoff", now):
            await self._attempt("cutoff", now, lambda: worker.run_cutoffs(now))
        elif (retry := await rs.next_router_attempt(reader)) is not None and retry <= now and self._ready("router", now):
            await self._attempt("router", now, lambda: worker.process_router_queue(now))
        return await self._seconds_to_next(schedule)

    async def _seconds_to_next(self, schedule: ScheduleSettings) -> float:
        reader = self.worker.store.reader
        now = self.worker.clock()
        due = {
            "billing": next_billing_at(now, await runs.last_successful_run(reader, "billing"), schedule),
            "cutoff": next_cutoff(now, await runs.last_successful_run(reader, "cutoff"), schedule),
        }
        if (retry := await rs.next_router_attempt(reader)) is not None:
            due["router"] = retry
        wake = min(max(when, self._not_before.get(kind, when)) for kind, when in due.items())
        return min(self.idle, max(1.0, (wake - now).total_seconds()))
