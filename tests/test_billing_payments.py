"""Payment allocation: oldest invoice first, never more than owed, the rest kept as credit."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from centinela.billing.models import OpenInvoice
from centinela.billing.payments import Allocation, AllocationResult, allocate


def invoice(invoice_id: int, invoice_date: date, residual: str, currency: str = "USD") -> OpenInvoice:
    return OpenInvoice(
        id=invoice_id,
        customer_id=100,
        currency=currency,
        invoice_date=invoice_date,
        due_date=invoice_date + timedelta(days=10),
        residual=Decimal(residual),
    )


NOV = invoice(5, date(2026, 11, 1), "30.00")
DEC = invoice(3, date(2026, 12, 1), "30.00")
DEC_OTHER = invoice(4, date(2026, 12, 1), "25.00")


def test_oldest_invoice_first_then_lowest_id() -> None:
    result = allocate(Decimal("70.00"), "USD", [DEC_OTHER, DEC, NOV])
    assert result == AllocationResult(
        (Allocation(5, Decimal("30.00")), Allocation(3, Decimal("30.00")), Allocation(4, Decimal("10.00"))),
        Decimal("0.00"),
    )


def test_partial_payment_settles_part_of_the_oldest() -> None:
    assert allocate(Decimal("12.50"), "USD", [DEC, NOV]) == AllocationResult(
        (Allocation(5, Decimal("12.50")),), Decimal("0.00")
    )


def test_overpayment_leaves_a_credit_for_the_next_invoices() -> None:
    result = allocate(Decimal("100.00"), "USD", [NOV, DEC])
    assert [a.amount for a in result.allocations] == [Decimal("30.00"), Decimal("30.00")]
    assert result.credit == Decimal("40.00")
    january = invoice(9, date(2027, 1, 1), "30.00")
    assert allocate(result.credit, "USD", [january]) == AllocationResult(
        (Allocation(9, Decimal("30.00")),), Decimal("10.00")
    )


def test_paid_credit_notes_and_other_currencies_take_nothing() -> None:
    invoices = [
        invoice(1, date(2026, 10, 1), "0.00"),
        invoice(2, date(2026, 10, 1), "-5.00"),
        invoice(3, date(2026, 10, 1), "90.00", currency="PEN"),
        NOV,
    ]
    assert allocate(Decimal("40.00"), "USD", invoices) == AllocationResult(
        (Allocation(5, Decimal("30.00")),), Decimal("10.00")
    )


def test_zero_payment_allocates_nothing() -> None:
    assert allocate(Decimal("0.00"), "USD", [NOV]) == AllocationResult((), Decimal("0.00"))


def test_clp_payment() -> None:
    invoices = [invoice(1, date(2026, 11, 1), "23788", "CLP"), invoice(2, date(2026, 12, 1), "23788", "CLP")]
    result = allocate(Decimal("30000"), "CLP", invoices)
    assert result.allocations == (Allocation(1, Decimal("23788")), Allocation(2, Decimal("6212")))
    assert result.credit == 0


def test_bad_payments_are_rejected() -> None:
    with pytest.raises(ValueError):
        allocate(Decimal("-1.00"), "USD", [NOV])
    with pytest.raises(ValueError):
        allocate(Decimal("1.005"), "USD", [NOV])
    with pytest.raises(TypeError):
        allocate(1.0, "USD", [NOV])  # type: ignore[arg-type]


_CENTS = st.integers(0, 10**7).map(lambda cents: Decimal(cents).scaleb(-2))


@given(
    payment=_CENTS,
    invoices=st.lists(
        st.tuples(st.dates(date(2026, 1, 1), date(2026, 12, 31)), st.integers(-(10**5), 10**7)),
        max_size=10,
    ),
)
def test_allocation_never_over_allocates(payment: Decimal, invoices: list[tuple[date, int]]) -> None:
    open_invoices = [invoice(i, day, str(Decimal(cents).scaleb(-2))) for i, (day, cents) in enumerate(invoices)]
    owed = sum((inv.residual for inv in open_invoices if inv.residual > 0), Decimal(0))
    result = allocate(payment, "USD", open_invoices)
    allocated = sum((a.amount for a in result.allocations), Decimal(0))
    assert allocated == min(payment, owed)
    assert result.credit == payment - allocated
    by_id = {inv.id: inv for inv in open_invoices}
    assert len({a.invoice_id for a in result.allocations}) == len(result.allocations)
    for a in result.allocations:
        assert Decimal(0) < a.amount <= by_id[a.invoice_id].residual
    # Oldest first: every allocation but the last settles its invoice in full.
    order = [(by_id[a.invoice_id].invoice_date, a.invoice_id) for a in result.allocations]
    assert order == sorted(order)
    assert all(a.amount == by_id[a.invoice_id].residual for a in result.allocations[:-1])
    if result.credit > 0:
        assert allocated == owed
