"""The billing run: due periods, catch-up, one invoice per customer, proration, plan changes."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from centinela.billing.invoicing import (
    BillingResult,
    InvoiceLine,
    LineKind,
    bill,
    build_invoice,
    plan_change_lines,
)
from centinela.billing.models import BillingMode, BillingSettings, Contract, ContractState, Plan, ServiceKind
from centinela.billing.money import line_tax, minor_unit
from centinela.billing.periods import Cycle, Period, period_starting

SETTINGS = BillingSettings(default_grace_days=5, payment_terms_days=10, notice_days=2)
INTERNET = Plan("Internet 20 Mbps", Decimal("30.00"), "USD")
FAST = Plan("Internet 50 Mbps", Decimal("45.00"), "USD")
ALARM = Plan("Monitoreo de alarma", Decimal("25.00"), "USD", tax_rate=Decimal("0.16"))


def contract(
    contract_id: int = 1,
    customer_id: int = 100,
    plan: Plan = INTERNET,
    start: date = date(2026, 11, 1),
    anchor_day: int | None = None,
    state: ContractState = ContractState.ACTIVE,
    kind: ServiceKind = ServiceKind.INTERNET,
) -> Contract:
    anchor = start.day if anchor_day is None else anchor_day
    period = period_starting(start, anchor, plan.cycle)
    return Contract(
        id=contract_id,
        customer_id=customer_id,
        service_kind=kind,
        plan=plan,
        anchor_day=anchor,
        current_period_start=period.start,
        current_period_end=period.end,
        state=state,
    )


def advanced(contracts: Iterable[Contract], result: BillingResult) -> list[Contract]:
    """The contracts as the store leaves them after applying the run's advances."""
    moves = {a.contract_id: a for a in result.advances}
    return [
        dataclasses.replace(c, current_period_start=moves[c.id].new_start, current_period_end=moves[c.id].new_end)
        if c.id in moves
        else c
        for c in contracts
    ]


def billed_keys(result: BillingResult) -> set[tuple[int, date]]:
    return {(line.contract_id, line.period_start) for inv in result.invoices for line in inv.lines}


def periods_billed(result: BillingResult) -> list[tuple[int, date, date]]:
    return [(line.contract_id, line.period_start, line.period_end) for inv in result.invoices for line in inv.lines]


def test_prepaid_is_billed_on_the_first_day_of_its_period() -> None:
    c = contract(start=date(2026, 11, 1))
    assert bill([c], SETTINGS, date(2026, 10, 31), set()) == BillingResult((), ())
    result = bill([c], SETTINGS, date(2026, 11, 1), set())
    (invoice,) = result.invoices
    (line,) = invoice.lines
    assert (line.period_start, line.period_end) == (date(2026, 11, 1), date(2026, 11, 30))
    assert line.description == "Internet 20 Mbps — 01/11/2026 a 30/11/2026"
    assert (line.quantity, line.unit_price, line.amount, line.tax) == (
        Decimal(1),
        Decimal("30.00"),
        Decimal("30.00"),
        Decimal(0),
    )
    assert line.kind is LineKind.PERIOD
    assert invoice.invoice_date == date(2026, 11, 1)
    assert invoice.due_date == date(2026, 11, 11)
    assert (invoice.subtotal, invoice.tax, invoice.total) == (Decimal("30.00"), Decimal("0.00"), Decimal("30.00"))
    assert result.advances[0].new_start == date(2026, 12, 1)
    assert result.advances[0].new_end == date(2026, 12, 31)


def test_postpaid_is_billed_once_the_period_has_ended() -> None:
    plan = dataclasses.replace(INTERNET, billing_mode=BillingMode.POSTPAID)
    c = contract(plan=plan, start=date(2026, 11, 1))
    assert bill([c], SETTINGS, date(2026, 11, 1), set()).invoices == ()
    assert bill([c], SETTINGS, date(2026, 11, 30), set()).invoices == ()
    result = bill([c], SETTINGS, date(2026, 12, 1), set())
    assert periods_billed(result) == [(1, date(2026, 11, 1), date(2026, 11, 30))]
    assert result.invoices[0].invoice_date == date(2026, 12, 1)


def test_three_missed_periods_are_caught_up_one_line_each() -> None:
    c = contract(start=date(2026, 9, 1))
    result = bill([c], SETTINGS, date(2026, 11, 20), set())
    (invoice,) = result.invoices
    assert [(line.period_start, line.period_end) for line in invoice.lines] == [
        (date(2026, 9, 1), date(2026, 9, 30)),
        (date(2026, 10, 1), date(2026, 10, 31)),
        (date(2026, 11, 1), date(2026, 11, 30)),
    ]
    assert invoice.total == Decimal("90.00")
    assert [(a.new_start, a.new_end) for a in result.advances] == [(date(2026, 12, 1), date(2026, 12, 31))]


def test_postpaid_catch_up_stops_at_the_period_in_progress() -> None:
    plan = dataclasses.replace(INTERNET, billing_mode=BillingMode.POSTPAID)
    result = bill([contract(plan=plan, start=date(2026, 9, 1))], SETTINGS, date(2026, 11, 20), set())
    assert [p[1] for p in periods_billed(result)] == [date(2026, 9, 1), date(2026, 10, 1)]
    assert result.advances[0].new_start == date(2026, 11, 1)


def test_one_invoice_per_customer_and_currency() -> None:
    pen_plan = Plan("Internet 30 Mbps", Decimal("89.90"), "PEN")
    contracts = [
        contract(1, customer_id=100, plan=INTERNET),
        contract(2, customer_id=100, plan=ALARM, kind=ServiceKind.ALARM),
        contract(3, customer_id=200, plan=INTERNET),
        contract(4, customer_id=100, plan=pen_plan),
    ]
    result = bill(contracts, SETTINGS, date(2026, 11, 1), set())
    assert [(inv.customer_id, inv.currency, [line.contract_id for line in inv.lines]) for inv in result.invoices] == [
        (100, "PEN", [4]),
        (100, "USD", [1, 2]),
        (200, "USD", [3]),
    ]
    combined = result.invoices[1]
    assert combined.subtotal == Decimal("55.00")
    assert combined.tax == Decimal("4.00")
    assert combined.total == Decimal("59.00")


def test_running_the_same_date_twice_bills_nothing_new() -> None:
    contracts = [contract(1, start=date(2026, 9, 1)), contract(2, customer_id=200)]
    first = bill(contracts, SETTINGS, date(2026, 11, 1), set())
    after = advanced(contracts, first)
    assert bill(after, SETTINGS, date(2026, 11, 1), billed_keys(first)) == BillingResult((), ())
    # Even if the store lost the advances, the billed keys alone keep the run from billing twice.
    again = bill(contracts, SETTINGS, date(2026, 11, 1), billed_keys(first))
    assert again.invoices == ()
    assert again.advances == first.advances


def test_a_crash_resumed_run_bills_only_what_is_missing() -> None:
    contracts = [contract(1, start=date(2026, 9, 1)), contract(2, start=date(2026, 11, 1)), contract(3, 300)]
    full = bill(contracts, SETTINGS, date(2026, 11, 1), set())
    committed = {(1, date(2026, 9, 1)), (1, date(2026, 10, 1)), (3, date(2026, 11, 1))}
    resumed = bill(contracts, SETTINGS, date(2026, 11, 1), committed)
    assert periods_billed(resumed) == [
        (1, date(2026, 11, 1), date(2026, 11, 30)),
        (2, date(2026, 11, 1), date(2026, 11, 30)),
    ]
    assert billed_keys(resumed) | committed == billed_keys(full)
    assert resumed.advances == full.advances


def test_draft_and_cancelled_contracts_are_ignored_suspended_ones_billed() -> None:
    contracts = [
        contract(1, state=ContractState.DRAFT),
        contract(2, state=ContractState.CANCELLED),
        contract(3, state=ContractState.SUSPENDED),
        contract(4, state=ContractState.NOTICE),
    ]
    result = bill(contracts, SETTINGS, date(2026, 11, 1), set())
    assert [line.contract_id for line in result.invoices[0].lines] == [3, 4]
    assert [a.contract_id for a in result.advances] == [3, 4]


def test_a_year_of_monthly_runs_on_anchor_31() -> None:
    contracts = [contract(start=date(2027, 12, 31))]
    billed: set[tuple[int, date]] = set()
    lines: list[InvoiceLine] = []
    day = date(2027, 12, 1)
    while day <= date(2028, 12, 31):
        result = bill(contracts, SETTINGS, day, billed)
        contracts = advanced(contracts, result)
        billed |= billed_keys(result)
        lines += [line for inv in result.invoices for line in inv.lines]
        day += timedelta(days=1)
    assert [line.period_start for line in lines] == [
        date(2027, 12, 31),
        date(2028, 1, 31),
        date(2028, 2, 29),
        date(2028, 3, 31),
        date(2028, 4, 30),
        date(2028, 5, 31),
        date(2028, 6, 30),
        date(2028, 7, 31),
        date(2028, 8, 31),
        date(2028, 9, 30),
        date(2028, 10, 31),
        date(2028, 11, 30),
        date(2028, 12, 31),
    ]
    assert all(line.amount == Decimal("30.00") for line in lines)  # full periods, never prorated


@pytest.mark.parametrize(
    ("cycle", "runs"),
    [
        (Cycle.MONTHLY, [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]),
        (Cycle.BIMONTHLY, [date(2026, 1, 1), date(2026, 3, 1), date(2026, 5, 1)]),
        (Cycle.QUARTERLY, [date(2026, 1, 1), date(2026, 4, 1), date(2026, 7, 1)]),
        (Cycle.SEMIANNUAL, [date(2026, 1, 1), date(2026, 7, 1), date(2027, 1, 1)]),
        (Cycle.YEARLY, [date(2026, 1, 1), date(2027, 1, 1), date(2028, 1, 1)]),
    ],
)
def test_each_cycle_is_billed_on_its_anchor_dates(cycle: Cycle, runs: list[date]) -> None:
    contracts = [contract(plan=dataclasses.replace(INTERNET, cycle=cycle), start=date(2026, 1, 1))]
    billed: set[tuple[int, date]] = set()
    billing_days = []
    day = date(2026, 1, 1)
    while day <= runs[-1]:
        result = bill(contracts, SETTINGS, day, billed)
        if result.invoices:
            billing_days.append(day)
        contracts = advanced(contracts, result)
        billed |= billed_keys(result)
        day += timedelta(days=1)
    assert billing_days == runs


def test_first_partial_period_is_prorated_by_days_of_its_full_period() -> None:
    result = bill([contract(start=date(2026, 11, 15), anchor_day=1)], SETTINGS, date(2026, 11, 15), set())
    (line,) = result.invoices[0].lines
    assert (line.period_start, line.period_end) == (date(2026, 11, 15), date(2026, 11, 30))
    assert line.amount == Decimal("16.00")  # 16 of 30 days
    assert line.unit_price == Decimal("16.00")
    assert line.description == "Internet 20 Mbps — 15/11/2026 a 30/11/2026 (16 de 30 días)"
    assert result.advances[0].new_start == date(2026, 12, 1)


def test_quarterly_partial_period_is_prorated_against_the_quarter() -> None:
    plan = Plan("Internet trimestral", Decimal("90.00"), "USD", cycle=Cycle.QUARTERLY)
    result = bill([contract(plan=plan, start=date(2026, 1, 20), anchor_day=1)], SETTINGS, date(2026, 2, 1), set())
    first, second = result.invoices[0].lines
    # 20..31 January is 12 days of the quarter 1 Nov 2025 .. 31 Jan 2026 (92 days): 90 × 12 / 92.
    assert first.amount == Decimal("11.74")
    assert first.description.endswith("(12 de 92 días)")
    assert (second.period_start, second.period_end, second.amount) == (
        date(2026, 2, 1),
        date(2026, 4, 30),
        Decimal("90.00"),
    )


def test_clp_prices_and_tax_have_no_decimals() -> None:
    plan = Plan("Internet hogar", Decimal("19990"), "CLP", tax_rate=Decimal("0.19"))
    result = bill([contract(plan=plan, start=date(2026, 11, 15), anchor_day=1)], SETTINGS, date(2026, 12, 1), set())
    invoice = result.invoices[0]
    assert [(line.amount, line.tax) for line in invoice.lines] == [
        (Decimal("10661"), Decimal("2026")),
        (Decimal("19990"), Decimal("3798")),
    ]
    assert (invoice.subtotal, invoice.tax, invoice.total) == (Decimal("30651"), Decimal("5824"), Decimal("36475"))


def test_tax_is_rounded_per_line_not_on_the_subtotal() -> None:
    tiny = Plan("SMS", Decimal("0.05"), "USD", tax_rate=Decimal("0.10"))
    invoice = bill([contract(1, plan=tiny), contract(2, plan=tiny)], SETTINGS, date(2026, 11, 1), set()).invoices[0]
    # Each 0.005 rounds up to 0.01; taxing the 0.10 subtotal would give 0.01.
    assert invoice.tax == Decimal("0.02")
    assert invoice.total == Decimal("0.12")


def test_plan_change_in_a_billed_period_credits_old_and_charges_new_days() -> None:
    c = contract(start=date(2026, 12, 1))  # November already billed; cursor at December
    credit, charge = plan_change_lines(c, FAST, date(2026, 11, 20))
    assert (credit.period_start, credit.period_end) == (date(2026, 11, 20), date(2026, 11, 30))
    assert (credit.quantity, credit.unit_price, credit.amount) == (Decimal(-1), Decimal("11.00"), Decimal("-11.00"))
    assert credit.description == (
        "Crédito por cambio de plan: Internet 20 Mbps — 20/11/2026 a 30/11/2026 (11 de 30 días)"
    )
    assert charge.amount == Decimal("16.50")
    assert charge.description == "Cambio de plan: Internet 50 Mbps — 20/11/2026 a 30/11/2026 (11 de 30 días)"
    assert {credit.kind, charge.kind} == {LineKind.PLAN_CHANGE}
    # Paid overall: 19 days of the old price and 11 of the new one.
    assert Decimal("30.00") + credit.amount + charge.amount == Decimal("19.00") + Decimal("16.50")


def test_plan_change_in_an_unbilled_period_charges_old_and_credits_new_days() -> None:
    plan = dataclasses.replace(INTERNET, billing_mode=BillingMode.POSTPAID)
    c = contract(plan=plan, start=date(2026, 11, 1))
    new_plan = dataclasses.replace(FAST, billing_mode=BillingMode.POSTPAID)
    credit, charge = plan_change_lines(c, new_plan, date(2026, 11, 20))
    assert (credit.period_start, credit.period_end) == (date(2026, 11, 1), date(2026, 11, 19))
    assert credit.amount == Decimal("-28.50")  # 19 days of 45.00
    assert charge.amount == Decimal("19.00")  # 19 days of 30.00
    later = bill([dataclasses.replace(c, plan=FAST)], SETTINGS, date(2026, 12, 1), set()).invoices[0].lines[0]
    assert later.amount + credit.amount + charge.amount == Decimal("19.00") + Decimal("16.50")


def test_plan_change_with_tax_keeps_per_line_tax() -> None:
    old = dataclasses.replace(INTERNET, tax_rate=Decimal("0.18"))
    new = dataclasses.replace(FAST, tax_rate=Decimal("0.18"))
    credit, charge = plan_change_lines(contract(plan=old, start=date(2026, 12, 1)), new, date(2026, 11, 20))
    invoice = build_invoice(100, "USD", date(2026, 11, 20), [credit, charge], SETTINGS)
    assert credit.tax == line_tax(credit.amount, Decimal("0.18"), "USD") == Decimal("-1.98")
    assert invoice.total == invoice.subtotal + invoice.tax == Decimal("5.50") + Decimal("0.99")


def test_plan_change_on_the_first_day_of_an_unbilled_period_needs_no_lines() -> None:
    assert plan_change_lines(contract(start=date(2026, 12, 1)), FAST, date(2026, 12, 1)) == ()


def test_plan_change_on_the_first_day_of_a_billed_period_swaps_the_whole_period() -> None:
    credit, charge = plan_change_lines(contract(start=date(2026, 12, 1)), FAST, date(2026, 11, 1))
    assert (credit.amount, charge.amount) == (Decimal("-30.00"), Decimal("45.00"))
    assert "días" not in credit.description


def test_plan_change_refuses_what_it_cannot_price() -> None:
    c = contract(start=date(2026, 12, 1))
    with pytest.raises(ValueError):
        plan_change_lines(c, dataclasses.replace(FAST, currency="PEN"), date(2026, 11, 20))
    with pytest.raises(ValueError):
        plan_change_lines(c, dataclasses.replace(FAST, cycle=Cycle.QUARTERLY), date(2026, 11, 20))
    with pytest.raises(ValueError):  # a period before the last billed one
        plan_change_lines(c, FAST, date(2026, 10, 31))
    with pytest.raises(ValueError):  # the contract is not billed up to the change
        plan_change_lines(c, FAST, date(2027, 1, 5))


def test_contract_period_must_match_its_anchor() -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(contract(start=date(2026, 11, 1)), current_period_end=date(2026, 11, 29))
    with pytest.raises(ValueError):
        dataclasses.replace(contract(), anchor_day=32)


def test_plan_rejects_float_prices_and_excess_decimals() -> None:
    with pytest.raises(TypeError):
        Plan("x", 30.0, "USD")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Plan("x", Decimal("30.5"), "CLP")


_MONEY_CURRENCIES = st.sampled_from(["USD", "CLP", "KWD"])


@st.composite
def invoice_lines(draw: st.DrawFn) -> tuple[str, list[InvoiceLine]]:
    currency = draw(_MONEY_CURRENCIES)
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        amount = Decimal(draw(st.integers(-(10**7), 10**8))).scaleb(-minor_unit(currency))
        rate = draw(st.none() | st.sampled_from([Decimal("0.16"), Decimal("0.18"), Decimal("0.19"), Decimal("0.125")]))
        lines.append(
            InvoiceLine(
                contract_id=1,
                period_start=date(2026, 11, 1),
                period_end=date(2026, 11, 30),
                description="x",
                quantity=Decimal(1),
                unit_price=abs(amount),
                tax_rate=rate,
                amount=amount,
                tax=line_tax(amount, rate, currency),
            )
        )
    return currency, lines


@given(invoice_lines())
def test_invoice_totals_add_up_exactly(case: tuple[str, list[InvoiceLine]]) -> None:
    currency, lines = case
    invoice = build_invoice(100, currency, date(2026, 11, 1), lines, SETTINGS)
    assert invoice.subtotal == sum((line.amount for line in lines), Decimal(0))
    assert invoice.tax == sum((line.tax for line in lines), Decimal(0))
    assert invoice.total == invoice.subtotal + invoice.tax
    assert invoice.total.as_tuple().exponent == -minor_unit(currency)


@settings(max_examples=60, deadline=None)
@given(
    start=st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)),
    anchor_day=st.integers(1, 31),
    cycle=st.sampled_from(Cycle),
    mode=st.sampled_from(BillingMode),
    gaps=st.lists(st.integers(0, 200), min_size=1, max_size=8),
)
def test_many_runs_bill_exactly_what_one_late_run_bills(
    start: date, anchor_day: int, cycle: Cycle, mode: BillingMode, gaps: list[int]
) -> None:
    plan = Plan("Plan", Decimal("99.99"), "USD", cycle=cycle, billing_mode=mode)
    initial = [contract(plan=plan, start=start, anchor_day=anchor_day)]
    contracts = initial
    billed: set[tuple[int, date]] = set()
    lines: list[InvoiceLine] = []
    day = start - timedelta(days=1)
    for gap in gaps:
        day += timedelta(days=gap)
        result = bill(contracts, SETTINGS, day, billed)
        contracts = advanced(contracts, result)
        billed |= billed_keys(result)
        lines += [line for inv in result.invoices for line in inv.lines]
    at_once = bill(initial, SETTINGS, day, set())
    assert [(ln.period_start, ln.period_end, ln.amount) for ln in lines] == [
        (ln.period_start, ln.period_end, ln.amount) for inv in at_once.invoices for ln in inv.lines
    ]
    assert len(billed) == len(lines)  # never twice the same period
    periods = [Period(ln.period_start, ln.period_end) for ln in lines]
    assert all(b.start == a.end + timedelta(days=1) for a, b in pairwise(periods))
    if periods:
        assert periods[0].start == start
    # Only the first period can be prorated; the rest are full price.
    assert all(ln.amount == Decimal("99.99") for ln in lines[1:])
