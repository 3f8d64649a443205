"""What the billing rules read: plans, contracts, settings and open invoices.

The store builds these from its rows. A contract carries its *effective* plan: the store applies
the contract's own price, currency or cycle overrides before handing it over.

`current_period_start` .. `current_period_end` is the contract's next period to bill (its billing
cursor). It always equals `period_starting(current_period_start, anchor_day, cycle)`; a store that
changes the anchor day or the cursor recomputes the end with that function.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from centinela.billing.money import check_amount, check_rate, minor_unit
from centinela.billing.periods import Cycle, Period, check_anchor_day, period_starting


class BillingMode(StrEnum):
    PREPAID = "prepaid"  # billed on the period's first day
    POSTPAID = "postpaid"  # billed the day after the period's last day


class ServiceKind(StrEnum):
    INTERNET = "internet"
    ALARM = "alarm"


class ContractState(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    GRACE = "grace"
    NOTICE = "notice"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"

    @property
    def in_force(self) -> bool:
        """Billed and watched for payment: every state but draft and cancelled.

        A suspended contract is still billed: suspension is for debt, not an end of contract.
        """
        return self not in (ContractState.DRAFT, ContractState.CANCELLED)


def _check_days(value: int | None, what: str) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{what} cannot be negative ({value})")


@dataclass(frozen=True, slots=True)
class Plan:
    name: str  # shown on invoice lines: "Internet 20 Mbps"
    price: Decimal  # per cycle, before tax
    currency: str  # ISO 4217
    cycle: Cycle = Cycle.MONTHLY
    tax_rate: Decimal | None = None  # fraction: Decimal("0.16")
    billing_mode: BillingMode = BillingMode.PREPAID
    grace_days: int | None = None

    def __post_init__(self) -> None:
        minor_unit(self.currency)
        check_amount(self.price, self.currency, "plan price")
        if self.price < 0:
            raise ValueError(f"plan price cannot be negative ({self.price})")
        check_rate(self.tax_rate)
        _check_days(self.grace_days, "plan grace days")


@dataclass(frozen=True, slots=True)
class BillingSettings:
    default_grace_days: int
    payment_terms_days: int  # due date = invoice date + this
    notice_days: int  # the last N days of grace show the warning page

    def __post_init__(self) -> None:
        _check_days(self.default_grace_days, "default grace days")
        _check_days(self.payment_terms_days, "payment terms")
        _check_days(self.notice_days, "notice days")


@dataclass(frozen=True, slots=True)
class Contract:
    id: int
    customer_id: int
    service_kind: ServiceKind
    plan: Plan
    anchor_day: int  # 1..31
    current_period_start: date
    current_period_end: date
    state: ContractState = ContractState.ACTIVE
    grace_days: int | None = None  # overrides the plan's and the default

    def __post_init__(self) -> None:
        check_anchor_day(self.anchor_day)
        _check_days(self.grace_days, "contract grace days")
        expected = period_starting(self.current_period_start, self.anchor_day, self.plan.cycle)
        if expected.end != self.current_period_end:
            raise ValueError(
                f"contract {self.id}: period {self.current_period_start}..{self.current_period_end}"
                f" does not match anchor day {self.anchor_day} ({self.plan.cycle}):"
                f" expected end {expected.end}"
            )

    @property
    def current_period(self) -> Period:
        return Period(self.current_period_start, self.current_period_end)

    def effective_grace_days(self, settings: BillingSettings) -> int:
        """Contract override, else plan, else the global default."""
        if self.grace_days is not None:
            return self.grace_days
        if self.plan.grace_days is not None:
            return self.plan.grace_days
        return settings.default_grace_days


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    """A posted invoice as payments and standing see it."""

    id: int
    customer_id: int
    currency: str
    invoice_date: date
    due_date: date
    residual: Decimal  # still to pay; 0 once paid

    def __post_init__(self) -> None:
        check_amount(self.residual, self.currency, "residual")
