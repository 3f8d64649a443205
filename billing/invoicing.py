"""The billing run: which contract periods are due on a date, and the invoices that bill them.

Rules
- A contract in force (not draft, not cancelled) is billed period by period from its cursor
  (`current_period_start`): a prepaid period is due on its first day, a postpaid period the day
  after its last day (once it has ended). A run on date D bills every due period, one line each,
  so a contract that missed three runs gets three lines, and moves its cursor past them.
- A (contract, period start) in `already_billed` is never billed again; its cursor still moves.
  A run repeated on the same date, or resumed after a crash, so adds nothing.
- All lines of one customer in one run go on one invoice per currency, ordered by contract and
  period. Invoice date is the run date; due date is invoice date + payment terms.
- Proration. A period is priced against the full cycle period that ends on the same day (for a full
  period, itself). A partial period (contract starting off-anchor) of d days out of that full
  period's N days costs the share `money.prorate` gives: price × d / N with cumulative rounding,
  so the first partial period plus the days before it add up to the price exactly.
- Plan change on day C (`plan_change_lines`): the days of C's period that the billed price does not
  fit are credited at the price billed and charged at the other plan's price, each its own line,
  both prorated by days of the full cycle period as above:
  * period already billed (C before the cursor): the days C..end were billed at the old price, so
    they are credited at the old price and charged at the new one;
  * period not billed yet (C in the cursor period): it will be billed in full at the new price, so
    the days start..C-1 are charged at the old price and credited at the new one.
  Either way the customer pays the old price up to C-1 and the new price from C. A change of
  currency or cycle is not a plan change (close the contract and open another).
- Quantity is 1 (-1 for a credit) and the unit price is the line's amount; prorated lines say how
  many days of how many in their description.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Set
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache

from centinela.billing.models import BillingMode, BillingSettings, Contract, Plan
from centinela.billing.money import check_amount, line_tax, prorate, round_money
from centinela.billing.periods import Period, full_period_ending, period_after

_ONE_DAY = timedelta(days=1)


class LineKind(StrEnum):
    PERIOD = "period"  # the one line per (contract, period start) the store keeps unique
    PLAN_CHANGE = "plan-change"


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    contract_id: int
    period_start: date
    period_end: date
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal | None
    amount: Decimal
    tax: Decimal
    kind: LineKind = LineKind.PERIOD


@dataclass(frozen=True, slots=True)
class InvoiceDraft:
    customer_id: int
    currency: str
    invoice_date: date
    due_date: date
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal
    tax: Decimal
    total: Decimal


@dataclass(frozen=True, slots=True)
class PeriodAdvance:
    """The contract's new cursor: its next period to bill."""

    contract_id: int
    new_start: date
    new_end: date


@dataclass(frozen=True, slots=True)
class BillingResult:
    invoices: tuple[InvoiceDraft, ...]
    advances: tuple[PeriodAdvance, ...]


def _is_due(period: Period, mode: BillingMode, run_date: date) -> bool:
    if mode is BillingMode.PREPAID:
        return period.start <= run_date
    return period.end < run_date


def _day(day: date) -> str:
    # dd/mm/yyyy without strftime, which costs several times more and runs twice per line.
    return f"{day.day:02d}/{day.month:02d}/{day.year:04d}"


def _span(period: Period) -> str:
    return f"{_day(period.start)} a {_day(period.end)}"


@lru_cache(maxsize=4096)
def _pricing(plan: Plan, billed: Period, full: Period, sign: int, label: str) -> tuple[str, Decimal, Decimal]:
    """Description, amount and tax of the days `billed` at `plan`'s price, prorated against the
    `full` cycle period. The same for every contract on that plan and period: a run of 100,000
    contracts computes a few hundred."""
    description = f"{label}{plan.name} — {_span(billed)}"
    if billed == full:
        amount = plan.price
    else:
        before = (billed.start - full.start).days
        amount = prorate(plan.price, plan.currency, before, billed.days, full.days)
        description += f" ({billed.days} de {full.days} días)"
    amount = round_money(sign * amount, plan.currency)
    return description, amount, line_tax(amount, plan.tax_rate, plan.currency)


def _priced_line(
    contract_id: int,
    plan: Plan,
    billed: Period,
    full: Period,
    sign: int,
    kind: LineKind,
    label: str,
) -> InvoiceLine:
    """A line for the days `billed` at `plan`'s price, prorated against the `full` cycle period."""
    description, amount, tax = _pricing(plan, billed, full, sign, label)
    return InvoiceLine(
        contract_id=contract_id,
        period_start=billed.start,
        period_end=billed.end,
        description=description,
        quantity=Decimal(sign),
        unit_price=abs(amount),
        tax_rate=plan.tax_rate,
        amount=amount,
        tax=tax,
        kind=kind,
    )


def build_invoice(
    customer_id: int,
    currency: str,
    invoice_date: date,
    lines: Iterable[InvoiceLine],
    settings: BillingSettings,
) -> InvoiceDraft:
    lines = tuple(lines)
    for line in lines:
        check_amount(line.amount, currency, "line amount")
        check_amount(line.tax, currency, "line tax")
    zero = round_money(Decimal(0), currency)
    subtotal = sum((line.amount for line in lines), zero)
    tax = sum((line.tax for line in lines), zero)
    return InvoiceDraft(
        customer_id=customer_id,
        currency=currency,
        invoice_date=invoice_date,
        due_date=invoice_date + timedelta(days=settings.payment_terms_days),
        lines=lines,
        subtotal=subtotal,
        tax=tax,
        total=subtotal + tax,
    )


def bill(
    contracts: Iterable[Contract],
    settings: BillingSettings,
    run_date: date,
    already_billed: Set[tuple[int, date]],
) -> BillingResult:
    """Bill every period due on `run_date`; see the module docstring for the rules."""
    lines: defaultdict[tuple[int, str], list[InvoiceLine]] = defaultdict(list)
    advances: list[PeriodAdvance] = []
    for contract in sorted(contracts, key=lambda c: c.id):
        if not contract.state.in_force:
            continue
        plan = contract.plan
        period = contract.current_period
        while _is_due(period, plan.billing_mode, run_date):
            if (contract.id, period.start) not in already_billed:
                full = full_period_ending(period.end, contract.anchor_day, plan.cycle)
                lines[contract.customer_id, plan.currency].append(
                    _priced_line(contract.id, plan, period, full, 1, LineKind.PERIOD, "")
                )
            period = period_after(period, contract.anchor_day, plan.cycle)
        if period.start != contract.current_period_start:  # a period is determined by its start
            advances.append(PeriodAdvance(contract.id, period.start, period.end))
    invoices = tuple(
        build_invoice(customer_id, currency, run_date, lines[customer_id, currency], settings)
        for customer_id, currency in sorted(lines)
    )
    return BillingResult(invoices, tuple(advances))


def plan_change_lines(contract: Contract, new_plan: Plan, change_date: date) -> tuple[InvoiceLine, ...]:
    """Lines that move `contract` from its plan to `new_plan` on `change_date`.

    The caller puts them on an invoice (`build_invoice`) and then stores the new plan on the
    contract. No lines when the change needs none (first day of an unbilled period).
    """
    old_plan = contract.plan
    if (new_plan.currency, new_plan.cycle) != (old_plan.currency, old_plan.cycle):
        raise ValueError("a plan change keeps currency and cycle; close the contract and open another")
    cursor = contract.current_period
    if change_date < cursor.start:
        full = full_period_ending(cursor.start - _ONE_DAY, contract.anchor_day, old_plan.cycle)
        if change_date not in full:
            raise ValueError(f"{change_date} is before the last billed period of contract {contract.id}")
        days = Period(change_date, full.end)
        credited, charged = old_plan, new_plan
    elif change_date in cursor:
        if change_date == cursor.start:
            return ()
        full = full_period_ending(cursor.end, contract.anchor_day, old_plan.cycle)
        days = Period(cursor.start, change_date - _ONE_DAY)
        credited, charged = new_plan, old_plan
    else:
        raise ValueError(f"bill contract {contract.id} up to {change_date} before changing its plan")
    return (
        _priced_line(contract.id, credited, days, full, -1, LineKind.PLAN_CHANGE, "Crédito por cambio de plan: "),
        _priced_line(contract.id, charged, days, full, 1, LineKind.PLAN_CHANGE, "Cambio de plan: "),
    )
