"""Billing's rows as the pure core's records (billing/models.py), and its results written back.

Reading works on batches of customers (a JSON array of ids bound as one parameter), so a run over
100,000 contracts holds no long transaction and never splits a customer's contracts, which must
share one invoice.

Writing happens inside the caller's transaction (``Store.transaction()``), one batch at a time:
invoices with their lines, period advances, payment allocations, state changes, router actions,
outbox rows for the Odoo sync and the audit log go in together or not at all.

A (contract, period start) is billed once: ``apply_billing`` drops the lines the store already has
(the unique index ``invoice_lines_once_per_period`` says so, read inside the same write
transaction) and re-totals what is left, so a repeated or resumed run adds nothing and never fails
on them. Contract cursors only move forward.

Money is decimal text; dates are ``YYYY-MM-DD``; instants go through ``timeutil.to_db``.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiosqlite
from dateutil import tz

from centinela.billing import standing
from centinela.billing.invoicing import BillingResult, InvoiceDraft, LineKind, build_invoice
from centinela.billing.models import (
    BillingMode,
    BillingSettings,
    Contract,
    ContractState,
    OpenInvoice,
    Plan,
    ServiceKind,
)
from centinela.billing.payments import Allocation, allocate
from centinela.billing.periods import Cycle, period_starting
from centinela.billing.schedule import ScheduleSettings
from centinela.data import outbox
from centinela.data.audit import audit
from centinela.data.settings import settings_with_prefix
from centinela.data.settings_rules import billing_from_saved, parse_hhmm
from centinela.data.timeutil import to_db

if TYPE_CHECKING:
    from centinela.data.router_store import RouterRow

log = logging.getLogger(__name__)

INVOICE_PREFIX: Final = "FAC"
IN_FORCE: Final = "state NOT IN ('draft', 'cancelled')"
ID_LIST: Final = "(SELECT value FROM json_each(?))"
"""``x IN {ID_LIST}`` with :func:`id_list` as the parameter: any number of ids, one parameter."""

Hold = Literal["suspended", "active"]


class BillingStoreError(Exception):
    """Billing data that cannot be used as it is; the message says why, in one line."""


def id_list(values: Iterable[int]) -> str:
    return json.dumps(sorted(set(values)))


def contract_ref(contract_id: int, ref: str | None) -> str:
    """A contract's reference as router marks carry it: its own, or ``#<id>``."""
    return ref or f"#{contract_id}"


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


# "invoice.post" items, one per invoice of a batch, written by one statement. The Odoo push reads the
# invoice, its lines and customer from the store when it sends it (data/odoo_push.py); the other
# keys are for people reading the outbox.
_ENQUEUE_INVOICES: Final = """
INSERT INTO outbox (target, operation, payload, dedupe_key)
SELECT 'odoo', 'invoice.post',
       json_object('invoice_id', id, 'number', number, 'customer_id', customer_id, 'total', total),
       'invoice.post:' || number
FROM invoices WHERE id BETWEEN ? AND ?
ON CONFLICT (dedupe_key) DO NOTHING
"""


# --- settings ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BillingConfig:
    """Everything billing reads from ``billing.*`` settings."""

    settings: BillingSettings
    schedule: ScheduleSettings


def _setting_zone(values: Mapping[str, Any]) -> Any:
    name = values.get("timezone")
    if name:
        try:
            return ZoneInfo(str(name))
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("setting billing.timezone = %r is not a known time zone; using the machine's", name)
    return tz.tzlocal()


def _rejected(name: str, value: object) -> None:
    log.warning("setting billing.%s = %r is not valid; using its default", name, value)


async def load_billing_config(db: aiosqlite.Connection) -> BillingConfig:
    """The ``billing.*`` settings with their defaults; a bad stored value falls back (and is logged)."""
    saved = await settings_with_prefix(db, "billing")
    values = billing_from_saved(saved, _rejected)
    settings = BillingSettings(values.default_grace_days, values.payment_terms_days, values.notice_days)
    run_at = parse_hhmm(values.run_at)
    assert run_at is not None  # billing_from_saved checked it
    schedule = ScheduleSettings(run_at, timedelta(minutes=values.cutoff_every_minutes), _setting_zone(saved))
    return BillingConfig(settings, schedule)


# --- customers and contracts -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Customer:
    id: int
    ref: str | None
    name: str
    odoo_id: int | None

    @property
    def label(self) -> str:
        return f"{self.ref} {self.name}" if self.ref else self.name


@dataclass(frozen=True, slots=True)
class ContractInfo:
    """A contract as the pure core sees it plus what the worker needs to act on it."""

    contract: Contract
    ref: str  # the contract's reference, or "#<id>": what router marks carry
    router_id: int | None
    router_target: str | None
    hold: Hold | None
    hold_until: date | None
    odoo_id: int | None

    @property
    def id(self) -> int:
        return self.contract.id

    @property
    def customer_id(self) -> int:
        return self.contract.customer_id

    def held(self, today: date) -> bool:
        """An admin's hold decides this contract's state, not its debt."""
        if self.hold == "suspended":
            return True
        return self.hold == "active" and (self.hold_until is None or self.hold_until >= today)


@dataclass(frozen=True, slots=True)
class ContractProblem:
    contract_id: int
    ref: str
    reason: str

    def __str__(self) -> str:
        return f"contract {self.ref}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ContractBatch:
    contracts: tuple[ContractInfo, ...]
    problems: tuple[ContractProblem, ...]
    customers: Mapping[int, Customer]


_CONTRACT_COLUMNS: Final = (
    "c.id, c.ref, c.customer_id, c.service_kind, c.state, c.anchor_day, c.current_period_start, c.start_date,"
    " c.grace_days, c.router_id, c.router_target, c.hold, c.hold_until, c.odoo_id,"
    " c.plan_id, c.price, c.currency, c.billing_cycle"  # the plan, and the contract's own terms
)
_KINDS: Final = {kind.value: kind for kind in ServiceKind}
_STATES: Final = {state.value: state for state in ContractState}


class _Plans:
    """The effective Plan of each (plan, contract's own price, currency, cycle), built once:
    100,000 contracts share a few."""

    def __init__(self, rows: Iterable[Sequence[Any]]) -> None:
        self._rows = {row[0]: row for row in rows}
        self._plans: dict[tuple[Any, ...], Plan] = {}

    def get(self, terms: tuple[Any, ...], kind: str) -> Plan:
        plan = self._plans.get(terms)
        if plan is None:
            plan = self._plans[terms] = self._build(terms, kind)
        return plan

    def _build(self, terms: tuple[Any, ...], kind: str) -> Plan:
        plan_id, own_price, own_currency, own_cycle = terms
        _, name, price, currency, tax_rate, cycle, mode, grace = self._rows.get(plan_id) or (None,) * 8
        price = own_price if own_price is not None else price
        currency = own_currency or currency
        if price is None or not currency:
            raise BillingStoreError("no plan, or no price and currency")
        try:
            return Plan(
                name=name or f"Servicio {kind}",
                price=Decimal(str(price)),
                currency=str(currency).upper(),
                cycle=Cycle(own_cycle or cycle or Cycle.MONTHLY),
                tax_rate=Decimal(str(tax_rate)) if tax_rate not in (None, "") else None,
                billing_mode=BillingMode(mode or BillingMode.PREPAID),
                grace_days=grace,
            )
        except (ValueError, TypeError, InvalidOperation) as error:
            raise BillingStoreError(f"plan {name or plan_id}: {error}") from None


def _contract_from_row(row: Sequence[Any], plans: _Plans) -> ContractInfo:
    (contract_id, ref, customer_id, kind, state, anchor_day, cursor, start, grace_days, router_id, target, hold,
     hold_until, odoo_id) = row[:14]
    plan = plans.get(tuple(row[14:]), kind)
    cursor = _date(cursor or start)
    if cursor is None:
        raise BillingStoreError("no start date")
    anchor_day = anchor_day or cursor.day
    try:
        period = period_starting(cursor, anchor_day, plan.cycle)
        contract = Contract(
            id=contract_id,
            customer_id=customer_id,
            service_kind=_KINDS[kind],
            plan=plan,
            anchor_day=anchor_day,
            current_period_start=period.start,
            current_period_end=period.end,
            state=_STATES[state],
            grace_days=grace_days,
        )
    except (KeyError, ValueError) as error:
        raise BillingStoreError(f"cannot be billed: {error}") from None
    return ContractInfo(contract, contract_ref(contract_id, ref), router_id, target, hold, _date(hold_until), odoo_id)


async def load_customers(db: aiosqlite.Connection, customer_ids: Iterable[int]) -> dict[int, Customer]:
    async with db.execute(f"SELECT id, ref, name, odoo_id FROM customers WHERE id IN {ID_LIST}", (id_list(customer_ids),)) as cur:
        return {row[0]: Customer(*row) for row in await cur.fetchall()}


async def load_contracts(
    db: aiosqlite.Connection,
    customer_ids: Sequence[int] | None = None,
    *,
    contract_ids: Sequence[int] | None = None,
    due_on: date | None = None,
    with_customers: bool = True,
) -> ContractBatch:
    """Contracts in force of these customers (or these contracts); with ``due_on`` only those
    whose billing cursor is on or before that date. Rows the core cannot use come back as problems."""
    if (customer_ids is None) == (contract_ids is None):
        raise ValueError("give customer_ids or contract_ids")
    where = f"c.customer_id IN {ID_LIST}" if customer_ids is not None else f"c.id IN {ID_LIST}"
    params: list[object] = [id_list(customer_ids if customer_ids is not None else contract_ids or ())]
    if due_on is not None:
        where += " AND coalesce(c.current_period_start, c.start_date) <= ?"
        params.append(due_on.isoformat())
    async with db.execute(f"SELECT {_CONTRACT_COLUMNS} FROM contracts c WHERE c.{IN_FORCE} AND {where} ORDER BY c.id",
                          params) as cur:
        rows = await cur.fetchall()
    async with db.execute("SELECT id, name, price, currency, tax_rate, cycle, billing_mode, grace_days FROM plans") as cur:
        plans = _Plans(await cur.fetchall())
    contracts: list[ContractInfo] = []
    problems: list[ContractProblem] = []
    for row in rows:
        try:
            contracts.append(_contract_from_row(row, plans))
        except BillingStoreError as error:
            problems.append(ContractProblem(row[0], contract_ref(row[0], row[1]), str(error)))
    customers = await load_customers(db, {row[2] for row in rows}) if with_customers else {}
    return ContractBatch(tuple(contracts), tuple(problems), customers)


async def due_customer_ids(db: aiosqlite.Connection, day: date, *, after: int, limit: int) -> list[int]:
    """The next ``limit`` customers (by id, after ``after``) with a contract in force due on ``day``."""
    async with db.execute(
        f"SELECT DISTINCT customer_id FROM contracts WHERE {IN_FORCE} AND customer_id > ?"
        " AND coalesce(current_period_start, start_date) <= ? ORDER BY customer_id LIMIT ?",
        (after, day.isoformat(), limit),
    ) as cur:
        return [row[0] for row in await cur.fetchall()]


async def count_due_customers(db: aiosqlite.Connection, day: date) -> int:
    async with db.execute(
        f"SELECT count(DISTINCT customer_id) FROM contracts WHERE {IN_FORCE}"
        " AND coalesce(current_period_start, start_date) <= ?",
        (day.isoformat(),),
    ) as cur:
        (count,) = await cur.fetchone()
    return int(count)


async def standing_candidates(db: aiosqlite.Connection, today: date) -> list[int]:
    """Customers whose contracts may change state on ``today``: those with an invoice past its due
    date, and those with a contract not active (it may go back). Everyone else stays as is."""
    async with db.execute(
        "SELECT customer_id FROM invoices WHERE state = 'posted' AND due_date < ?"
        " UNION SELECT customer_id FROM contracts WHERE state IN ('grace', 'notice', 'suspended')"
        " ORDER BY 1",
        (today.isoformat(),),
    ) as cur:
        return [row[0] for row in await cur.fetchall()]


async def billed_periods(db: aiosqlite.Connection, contract_ids: Iterable[int], since: date) -> set[tuple[int, date]]:
    """(contract, period start) of these contracts' period lines starting on or after ``since``."""
    async with db.execute(
        f"SELECT contract_id, period_start FROM invoice_lines WHERE kind = 'period' AND contract_id IN {ID_LIST}"
        " AND period_start >= ?",
        (id_list(contract_ids), since.isoformat()),
    ) as cur:
        return {(contract_id, date.fromisoformat(start)) for contract_id, start in await cur.fetchall()}


async def load_already_billed(db: aiosqlite.Connection, contracts: Sequence[ContractInfo]) -> set[tuple[int, date]]:
    """(contract, period start) pairs already billed at or after each contract's cursor."""
    if not contracts:
        return set()
    cursors = {info.id: info.contract.current_period_start for info in contracts}
    found = await billed_periods(db, cursors, min(cursors.values()))
    return {(contract_id, start) for contract_id, start in found if start >= cursors[contract_id]}


# --- invoices and payments ---------------------------------------------------------------------


async def load_open_invoices(db: aiosqlite.Connection, customer_ids: Iterable[int]) -> list[OpenInvoice]:
    async with db.execute(
        f"SELECT id, customer_id, currency, invoice_date, due_date, residual FROM invoices"
        f" WHERE state = 'posted' AND customer_id IN {ID_LIST} ORDER BY id",
        (id_list(customer_ids),),
    ) as cur:
        rows = await cur.fetchall()
    invoices = []
    for id_, customer_id, currency, invoice_date, due_date, residual in rows:
        try:
            invoices.append(
                OpenInvoice(id_, customer_id, currency, date.fromisoformat(invoice_date),
                            date.fromisoformat(due_date), Decimal(residual))
            )
        except (ValueError, InvalidOperation) as error:
            log.error("invoice %s cannot be read (%s); it is left out of standing and payments", id_, error)
    return invoices


@dataclass(frozen=True, slots=True)
class UnsettledPayment:
    """A payment with money no invoice has taken yet (all of it when nobody allocated it)."""

    id: int
    customer_id: int
    currency: str | None
    paid_on: date
    remaining: Decimal


@dataclass(frozen=True, slots=True)
class PaymentAllocation:
    payment_id: int
    allocation: Allocation


@dataclass(frozen=True, slots=True)
class Settlement:
    """What allocating the unsettled payments does: allocations, payments left with nothing, and
    the open invoices with their new residuals."""

    payments: tuple[UnsettledPayment, ...] = ()
    allocations: tuple[PaymentAllocation, ...] = ()
    settled: tuple[int, ...] = ()
    invoices: tuple[OpenInvoice, ...] = ()
    changed: frozenset[int] = frozenset()  # ids of the invoices whose residual changed

    def credit(self) -> dict[tuple[int, str | None], Decimal]:
        """What each customer has left over, per currency, after these allocations."""
        taken: defaultdict[int, Decimal] = defaultdict(Decimal)
        for item in self.allocations:
            taken[item.payment_id] += item.allocation.amount
        left: defaultdict[tuple[int, str | None], Decimal] = defaultdict(Decimal)
        for payment in self.payments:
            if payment.remaining - taken[payment.id] > 0:
                left[payment.customer_id, payment.currency] += payment.remaining - taken[payment.id]
        return dict(left)


async def load_unsettled_payments(db: aiosqlite.Connection, customer_ids: Iterable[int]) -> list[UnsettledPayment]:
    async with db.execute(
        f"SELECT p.id, p.customer_id, p.currency, p.paid_on, p.amount,"
        f" (SELECT group_concat(a.amount, ' ') FROM payment_allocations a WHERE a.payment_id = p.id)"
        f" FROM payments p WHERE p.settled = 0 AND p.customer_id IN {ID_LIST} ORDER BY p.paid_on, p.id",
        (id_list(customer_ids),),
    ) as cur:
        rows = await cur.fetchall()
    payments = []
    for id_, customer_id, currency, paid_on, amount, taken in rows:
        try:
            remaining = Decimal(amount) - sum((Decimal(part) for part in (taken or "").split()), Decimal(0))
            payments.append(UnsettledPayment(id_, customer_id, currency, date.fromisoformat(paid_on[:10]), remaining))
        except (ValueError, InvalidOperation) as error:
            log.error("payment %s cannot be read (%s); it is not allocated", id_, error)
    return payments


def plan_settlement(payments: Sequence[UnsettledPayment], invoices: Sequence[OpenInvoice]) -> Settlement:
    """Allocate payments, oldest first, to their customer's open invoices, oldest first.

    A payment without a currency takes its customer's currency when the open invoices have one.
    """
    current = {invoice.id: invoice for invoice in invoices}
    by_customer: defaultdict[int, list[int]] = defaultdict(list)
    for invoice in invoices:
        by_customer[invoice.customer_id].append(invoice.id)
    allocations: list[PaymentAllocation] = []
    settled: list[int] = []
    changed: set[int] = set()
    for payment in sorted(payments, key=lambda p: (p.paid_on, p.id)):
        mine = [current[invoice_id] for invoice_id in by_customer[payment.customer_id]]
        currencies = {invoice.currency for invoice in mine if invoice.residual > 0}
        currency = payment.currency or (currencies.pop() if len(currencies) == 1 else None)
        if currency is None or payment.remaining <= 0:
            if payment.remaining <= 0:
                settled.append(payment.id)
            continue
        try:
            result = allocate(payment.remaining, currency, mine)
        except (TypeError, ValueError) as error:
            log.error("payment %s cannot be allocated: %s", payment.id, error)
            continue
        for item in result.allocations:
            invoice = current[item.invoice_id]
            current[item.invoice_id] = OpenInvoice(
                invoice.id, invoice.customer_id, invoice.currency, invoice.invoice_date, invoice.due_date,
                invoice.residual - item.amount,
            )
            changed.add(item.invoice_id)
            allocations.append(PaymentAllocation(payment.id, item))
        if result.credit == 0:
            settled.append(payment.id)
    return Settlement(tuple(payments), tuple(allocations), tuple(settled), tuple(current.values()), frozenset(changed))


async def write_settlement(db: aiosqlite.Connection, settlement: Settlement) -> None:
    await db.executemany(
        "INSERT INTO payment_allocations (payment_id, invoice_id, amount) VALUES (?, ?, ?)",
        [(item.payment_id, item.allocation.invoice_id, str(item.allocation.amount))
         for item in settlement.allocations],
    )
    await db.executemany(
        "UPDATE invoices SET residual = ?, state = ? WHERE id = ?",
        [(str(invoice.residual), "posted" if invoice.residual > 0 else "paid", invoice.id)
         for invoice in settlement.invoices if invoice.id in settlement.changed],
    )
    await db.executemany("UPDATE payments SET settled = 1 WHERE id = ?", [(pid,) for pid in settlement.settled])


async def preview_settlement(db: aiosqlite.Connection, customer_ids: Sequence[int]) -> Settlement:
    """How these customers' unsettled payments would settle their open invoices (nothing written)."""
    payments = await load_unsettled_payments(db, customer_ids)
    return plan_settlement(payments, await load_open_invoices(db, customer_ids))


async def settle_payments(db: aiosqlite.Connection, customer_ids: Sequence[int]) -> Settlement:
    """Allocate these customers' unsettled payments, inside the caller's transaction."""
    settlement = await preview_settlement(db, customer_ids)
    if settlement.payments:
        await write_settlement(db, settlement)
    return settlement


async def settle_credit(db: aiosqlite.Connection, customer_ids: Sequence[int]) -> None:
    """Allocate the unsettled payments of those customers who have any (after new invoices)."""
    payments = await load_unsettled_payments(db, customer_ids)
    if payments:
        invoices = await load_open_invoices(db, sorted({payment.customer_id for payment in payments}))
        await write_settlement(db, plan_settlement(payments, invoices))


async def insert_payment(
    db: aiosqlite.Connection, customer_id: int, amount: Decimal, currency: str, paid_on: date,
    *, reference: str | None = None, method: str | None = None,
) -> int:
    cursor = await db.execute(
        "INSERT INTO payments (customer_id, amount, currency, paid_on, method, reference) VALUES (?, ?, ?, ?, ?, ?)",
        (customer_id, str(amount), currency, paid_on.isoformat(), method, reference),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def find_customer(db: aiosqlite.Connection, ref: str) -> Customer | None:
    async with db.execute("SELECT id, ref, name, odoo_id FROM customers WHERE ref = ?", (ref,)) as cur:
        row = await cur.fetchone()
    return Customer(*row) if row else None


async def invoice_numbers(db: aiosqlite.Connection, invoice_ids: Iterable[int]) -> dict[int, str]:
    async with db.execute(f"SELECT id, number FROM invoices WHERE id IN {ID_LIST}", (id_list(invoice_ids),)) as cur:
        return {id_: number for id_, number in await cur.fetchall()}


async def customer_currencies(db: aiosqlite.Connection, customer_id: int) -> set[str]:
    """The currencies the customer is billed in (open invoices and contracts in force)."""
    async with db.execute(
        "SELECT currency FROM invoices WHERE customer_id = ? AND state = 'posted'"
        f" UNION SELECT upper(coalesce(c.currency, p.currency)) FROM contracts c LEFT JOIN plans p ON p.id = c.plan_id"
        f" WHERE c.customer_id = ? AND c.{IN_FORCE}",
        (customer_id, customer_id),
    ) as cur:
        return {row[0] for row in await cur.fetchall() if row[0]}


# --- billing -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostedInvoice:
    id: int
    number: str
    customer_id: int
    currency: str
    total: Decimal


@dataclass(frozen=True, slots=True)
class AppliedBilling:
    invoices: tuple[PostedInvoice, ...]
    lines: int
    skipped_lines: int  # already in the store: billed by an earlier (or crashed) run
    advanced: int  # contracts whose cursor moved


def invoice_number(year: int, sequence: int) -> str:
    return f"{INVOICE_PREFIX}-{year}-{sequence:06d}"


async def _number_invoices(db: aiosqlite.Connection, drafts: Sequence[InvoiceDraft]) -> list[str]:
    years = sorted({draft.invoice_date.year for draft in drafts})
    async with db.execute(
        "SELECT year, last_number FROM invoice_sequences WHERE year IN (SELECT value FROM json_each(?))",
        (json.dumps(years),),
    ) as cur:
        last = {year: number for year, number in await cur.fetchall()}
    numbers = []
    for draft in drafts:
        year = draft.invoice_date.year
        last[year] = last.get(year, 0) + 1
        numbers.append(invoice_number(year, last[year]))
    await db.executemany(
        "INSERT INTO invoice_sequences (year, last_number) VALUES (?, ?)"
        " ON CONFLICT (year) DO UPDATE SET last_number = excluded.last_number",
        sorted(last.items()),
    )
    return numbers


async def _drop_billed_lines(
    db: aiosqlite.Connection, drafts: Sequence[InvoiceDraft], settings: BillingSettings
) -> tuple[list[InvoiceDraft], int]:
    """The drafts without the period lines the store already has, re-totalled; empty ones dropped."""
    keys = {(line.contract_id, line.period_start)
            for draft in drafts for line in draft.lines if line.kind is LineKind.PERIOD}
    if not keys:
        return list(drafts), 0
    found = await billed_periods(db, {contract_id for contract_id, _ in keys}, min(start for _, start in keys))
    billed = keys & found
    if not billed:
        return list(drafts), 0
    kept: list[InvoiceDraft] = []
    for draft in drafts:
        lines = [line for line in draft.lines
                 if line.kind is not LineKind.PERIOD or (line.contract_id, line.period_start) not in billed]
        if len(lines) == len(draft.lines):
            kept.append(draft)
        elif lines:
            kept.append(build_invoice(draft.customer_id, draft.currency, draft.invoice_date, lines, settings))
    return kept, len(billed)


async def apply_billing(
    db: aiosqlite.Connection,
    result: BillingResult,
    settings: BillingSettings,
    *,
    contracts: Mapping[int, ContractInfo],
    run_id: int | None,
    actor: str,
) -> AppliedBilling:
    """Post the run's invoices, queue them for Odoo and move the cursors, in the caller's transaction.

    ``contracts`` are those the result was computed from (a cursor derived from a start date fixes
    the anchor day it was derived with).
    """
    drafts, skipped = await _drop_billed_lines(db, result.invoices, settings)
    posted: list[PostedInvoice] = []
    invoice_rows: list[tuple[object, ...]] = []
    line_rows: list[tuple[object, ...]] = []
    if drafts:
        async with db.execute("SELECT coalesce(max(id), 0) FROM invoices") as cur:
            (last_id,) = await cur.fetchone()
        numbers = await _number_invoices(db, drafts)
        for invoice_id, draft, number in zip(itertools.count(last_id + 1), drafts, numbers):
            total = str(draft.total)
            invoice_rows.append((
                invoice_id, number, draft.customer_id, draft.invoice_date.isoformat(), draft.due_date.isoformat(),
                draft.currency, str(draft.subtotal), str(draft.tax), total, total,
                "posted" if draft.total > 0 else "paid", run_id,
            ))
            line_rows.extend(
                (invoice_id, line.contract_id, str(line.kind), line.period_start.isoformat(),
                 line.period_end.isoformat(), line.description, str(line.quantity), str(line.unit_price),
                 None if line.tax_rate is None else str(line.tax_rate), str(line.amount), str(line.tax))
                for line in draft.lines
            )
            posted.append(PostedInvoice(invoice_id, number, draft.customer_id, draft.currency, draft.total))
        await db.executemany(
            "INSERT INTO invoices (id, number, customer_id, invoice_date, due_date, currency, subtotal, tax, total,"
            " residual, state, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            invoice_rows,
        )
        # The unique index is the last word: were a line billed already, the whole batch would roll
        # back rather than bill it twice. _drop_billed_lines read it in this same transaction.
        await db.executemany(
            "INSERT INTO invoice_lines (invoice_id, contract_id, kind, period_start, period_end, description,"
            " quantity, unit_price, tax_rate, amount, tax) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            line_rows,
        )
        await db.execute(_ENQUEUE_INVOICES, (posted[0].id, posted[-1].id))
    cursor = await db.executemany(
        "UPDATE contracts SET current_period_start = ?1, current_period_end = ?2, anchor_day = coalesce(anchor_day, ?3),"
        " updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
        " WHERE id = ?4 AND (current_period_start IS NULL OR current_period_start < ?1)",
        [(a.new_start.isoformat(), a.new_end.isoformat(), contracts[a.contract_id].contract.anchor_day, a.contract_id)
         for a in result.advances],
    )
    if posted or skipped:
        await audit(db, actor, "billing.post", "billing_run", run_id, {
            "invoices": len(posted), "lines": len(line_rows), "skipped_lines": skipped,
            "first": posted[0].number if posted else None, "last": posted[-1].number if posted else None,
        })
    return AppliedBilling(tuple(posted), len(line_rows), skipped, max(cursor.rowcount, 0))


# --- service states and router actions ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateChange:
    """A contract's new service state, with the router work it takes and why."""

    contract_id: int
    old_state: ContractState
    new_state: ContractState
    actions: tuple[standing.RouterAction, ...]
    reason: str
    invoice_id: int | None = None
    days_overdue: int = 0

    @property
    def is_cut(self) -> bool:
        return self.new_state is ContractState.SUSPENDED

    @property
    def is_reconnection(self) -> bool:
        return self.old_state is ContractState.SUSPENDED and self.new_state is not ContractState.SUSPENDED

    @classmethod
    def from_service_change(cls, change: standing.ServiceChange, old_state: ContractState) -> StateChange:
        return cls(
            contract_id=change.contract_id,
            old_state=old_state,
            new_state=change.new_state,
            actions=change.router_actions,
            reason=change.reason,
            invoice_id=change.standing.invoice_id,
            days_overdue=change.standing.days_overdue,
        )


@dataclass(frozen=True, slots=True)
class AppliedChanges:
    suspensions: int
    reconnections: int
    changed: int
    queued_actions: tuple[int, ...]
    problems: tuple[str, ...]


def _state_payload(
    info: ContractInfo, customer: Customer | None, change: StateChange, at: datetime
) -> dict[str, Any]:
    return {
        "contract_id": info.id,
        "contract_ref": info.ref,
        "contract_odoo_id": info.odoo_id,
        "customer_id": info.customer_id,
        "customer_ref": customer.ref if customer else None,
        "customer_odoo_id": customer.odoo_id if customer else None,
        "service_kind": str(info.contract.service_kind),
        "state": str(change.new_state),
        "reason": change.reason,
        "invoice_id": change.invoice_id,
        "days_overdue": change.days_overdue,
        "at": to_db(at),
    }


async def apply_state_changes(
    db: aiosqlite.Connection,
    changes: Sequence[StateChange],
    contracts: Mapping[int, ContractInfo],
    customers: Mapping[int, Customer],
    routers: Mapping[int, RouterRow],
    *,
    run_id: int | None,
    actor: str,
    now: datetime,
) -> AppliedChanges:
    """Store the new states, queue the router actions, audit and report them to Odoo.

    The changes must have been computed inside this transaction: a contract no longer in the state
    a change was computed from means the caller read outside it, and nothing is applied. Queuing a
    contract's actions supersedes those still queued for it: the new ones take it from its stored
    state to the new one, and every action is idempotent.
    """
    stamp = to_db(now)
    cursor = await db.executemany(
        "UPDATE contracts SET state = ?, state_changed_at = ?, state_reason = ?,"
        " updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ? AND state = ?",
        [(str(c.new_state), stamp, c.reason, c.contract_id, str(c.old_state)) for c in changes],
    )
    if cursor.rowcount != len(changes):
        raise BillingStoreError("contracts changed state while their standing was computed; nothing applied")
    problems: list[str] = []
    action_rows: list[tuple[object, ...]] = []
    with_actions: set[int] = set()
    for change in changes:
        info = contracts[change.contract_id]
        router = routers.get(info.router_id) if info.router_id is not None else None
        wanted = [action for action in change.actions if router is None or router.takes(action)]
        if not wanted:
            continue
        if router is None or not info.router_target:
            problems.append(f"contract {info.ref}: {change.new_state} without a router and target to act on")
            continue
        with_actions.add(info.id)
        action_rows.extend(
            (router.id, info.id, info.ref, run_id, str(action), info.router_target, change.reason, stamp)
            for action in wanted
        )
    await db.executemany(
        "UPDATE router_actions SET state = 'superseded', last_error = 'superseded by a later change'"
        " WHERE contract_id = ? AND state = 'queued'",
        [(contract_id,) for contract_id in sorted(with_actions)],
    )
    async with db.execute("SELECT coalesce(max(id), 0) FROM router_actions") as cur:
        (last_id,) = await cur.fetchone()
    queued = tuple(range(last_id + 1, last_id + 1 + len(action_rows)))
    await db.executemany(
        "INSERT INTO router_actions (id, router_id, contract_id, contract_ref, run_id, action, target, reason,"
        " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(action_id, *row) for action_id, row in zip(queued, action_rows, strict=True)],
    )
    for change in changes:
        info = contracts[change.contract_id]
        await audit(db, actor, f"contract.{change.new_state}", "contract", info.id, {
            "from": str(change.old_state), "to": str(change.new_state), "reason": change.reason,
            "invoice_id": change.invoice_id, "days_overdue": change.days_overdue, "contract_ref": info.ref,
            "run_id": run_id,
        })
    for operation, chosen in (("contract.suspend", [c for c in changes if c.is_cut]),
                              ("contract.reconnect", [c for c in changes if c.is_reconnection])):
        await outbox.enqueue_many(db, operation, (
            (_state_payload(contracts[c.contract_id], customers.get(contracts[c.contract_id].customer_id), c, now),
             f"{operation}:{c.contract_id}:{stamp}")
            for c in chosen
        ))
    return AppliedChanges(
        suspensions=sum(change.is_cut for change in changes),
        reconnections=sum(change.is_reconnection for change in changes),
        changed=len(changes),
        queued_actions=queued,
        problems=tuple(problems),
    )


async def set_hold(
    db: aiosqlite.Connection, contract_id: int, hold: Hold | None, until: date | None, actor: str, note: str
) -> None:
    await db.execute(
        "UPDATE contracts SET hold = ?, hold_until = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
        " WHERE id = ?",
        (hold, until.isoformat() if until else None, contract_id),
    )
    await audit(db, actor, "contract.hold", "contract", contract_id,
                {"hold": hold, "until": until.isoformat() if until else None, "note": note})


async def clear_expired_holds(db: aiosqlite.Connection, today: date) -> int:
    cursor = await db.execute(
        "UPDATE contracts SET hold = NULL, hold_until = NULL WHERE hold = 'active' AND hold_until < ?",
        (today.isoformat(),),
    )
    return max(cursor.rowcount, 0)
