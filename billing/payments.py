"""Payment allocation: a payment settles the customer's open invoices oldest first.

Oldest means earliest invoice date, then lowest id. Each invoice takes at most its residual; only
invoices in the payment's currency with a residual above zero take anything. What is left over is a
credit: the worker keeps it for the customer and allocates it, like a payment, when the next
invoices are posted (call `allocate(credit, ...)` after each billing run).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from centinela.billing.models import OpenInvoice
from centinela.billing.money import check_amount


@dataclass(frozen=True, slots=True)
class Allocation:
    invoice_id: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class AllocationResult:
    allocations: tuple[Allocation, ...]
    credit: Decimal  # what no invoice took


def allocate(amount: Decimal, currency: str, invoices: Iterable[OpenInvoice]) -> AllocationResult:
    check_amount(amount, currency, "payment")
    if amount < 0:
        raise ValueError(f"a payment cannot be negative ({amount})")
    payable = sorted(
        (invoice for invoice in invoices if invoice.currency == currency and invoice.residual > 0),
        key=lambda invoice: (invoice.invoice_date, invoice.id),
    )
    allocations: list[Allocation] = []
    left = amount
    for invoice in payable:
        if left == 0:
            break
        taken = min(left, invoice.residual)
        allocations.append(Allocation(invoice.id, taken))
        left -= taken
    return AllocationResult(tuple(allocations), left)
