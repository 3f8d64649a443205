"""Standing: whether a customer's unpaid invoices cost a contract its service, and the changes.

Rules
- Debt is the customer's; grace is the contract's. An invoice is *overdue* on day T when it still
  has a residual (> 0) and T is after its due date. Each contract of the customer measures the
  oldest overdue invoice (earliest due date, then lowest id) against its own grace days (contract
  override, else plan, else global default). So with one invoice for internet and alarm, internet
  can be cut after its 5 days while the alarm keeps its 30, and a debt left by a cancelled contract
  still counts against the customer's other contracts.
- With G grace days and an invoice due on day D, the contract is
  * "current" while nothing is overdue (on day D itself the customer is still on time);
  * "grace" from D+1 through D+G, with `days_left` = days until the cut (1 on the last day);
  * "notice" on the last `notice_days` of those days (days_left <= notice_days), so the router can
    show the warning page;
  * "suspended" from D+G+1 (`suspend_on`) while that invoice has a residual.
  A contract with no overdue residual is never suspended: paying (the residual reaching 0)
  reconnects on the next evaluation, while another invoice can only bring it back to grace or notice.
- State changes compare that standing with the contract's stored state. Router actions only go to
  internet contracts; an alarm contract changes state (monitoring continues). Draft and cancelled
  contracts are ignored. Leaving notice for suspension suspends first and then clears the warning
  page, so no free minute; reconnecting into a newer invoice's notice reconnects, then warns.

Dates are the company's local calendar dates; the worker converts the instant it runs at.
Allocate payments (`centinela.billing.payments`) before evaluating, so residuals are current.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import IntEnum, StrEnum

from centinela.billing.models import BillingSettings, Contract, ContractState, OpenInvoice, ServiceKind


class Status(IntEnum):
    """Ordered by severity."""

    CURRENT = 0
    GRACE = 1
    NOTICE = 2
    SUSPENDED = 3


_STATE_FOR = {
    Status.CURRENT: ContractState.ACTIVE,
    Status.GRACE: ContractState.GRACE,
    Status.NOTICE: ContractState.NOTICE,
    Status.SUSPENDED: ContractState.SUSPENDED,
}


class RouterAction(StrEnum):
    SUSPEND = "suspend"
    RECONNECT = "reconnect"
    NOTICE = "notice"
    CLEAR_NOTICE = "clear-notice"


@dataclass(frozen=True, slots=True)
class Standing:
    status: Status
    invoice_id: int | None = None  # the overdue invoice that decides; None when current
    due_date: date | None = None
    days_overdue: int = 0
    suspend_on: date | None = None  # first day without service
    days_left: int = 0  # days until suspend_on; 0 once suspended

    @property
    def reason(self) -> str:
        """One line for the router action log and the screen, in Spanish."""
        if self.invoice_id is None:
            return "Sin facturas vencidas"
        text = f"Factura {self.invoice_id} vencida el {self.due_date:%d/%m/%Y}, hace {self.days_overdue} días"
        if self.status is Status.SUSPENDED:
            return f"{text}; suspendido desde el {self.suspend_on:%d/%m/%Y}"
        return f"{text}; se suspende el {self.suspend_on:%d/%m/%Y}"


@dataclass(frozen=True, slots=True)
class ServiceChange:
    contract_id: int
    new_state: ContractState
    router_actions: tuple[RouterAction, ...]  # in order; empty for alarm contracts
    standing: Standing  # carries the invoice and days overdue

    @property
    def reason(self) -> str:
        return self.standing.reason


def contract_standing(
    contract: Contract, invoices: Iterable[OpenInvoice], today: date, settings: BillingSettings
) -> Standing:
    """The contract's standing on `today` from its customer's open invoices (others are skipped)."""
    overdue = [
        invoice
        for invoice in invoices
        if invoice.customer_id == contract.customer_id and invoice.residual > 0 and invoice.due_date < today
    ]
    if not overdue:
        return Standing(Status.CURRENT)
    oldest = min(overdue, key=lambda invoice: (invoice.due_date, invoice.id))
    suspend_on = oldest.due_date + timedelta(days=contract.effective_grace_days(settings) + 1)
    days_left = max((suspend_on - today).days, 0)
    if days_left == 0:
        status = Status.SUSPENDED
    elif days_left <= settings.notice_days:
        status = Status.NOTICE
    else:
        status = Status.GRACE
    return Standing(
        status=status,
        invoice_id=oldest.id,
        due_date=oldest.due_date,
        days_overdue=(today - oldest.due_date).days,
        suspend_on=suspend_on,
        days_left=days_left,
    )


def customer_standing(
    contracts: Iterable[Contract], invoices: Iterable[OpenInvoice], today: date, settings: BillingSettings
) -> Standing:
    """The worst standing among the customer's contracts in force (the customer's summary)."""
    invoices = tuple(invoices)
    standings = [
        contract_standing(contract, invoices, today, settings) for contract in contracts if contract.state.in_force
    ]
    # Worst status first; among equals, the earliest cut.
    return max(
        standings,
        key=lambda s: (s.status, -(s.suspend_on or date.max).toordinal()),
        default=Standing(Status.CURRENT),
    )


def transition_actions(old: ContractState, new: ContractState) -> tuple[RouterAction, ...]:
    """What an internet contract's router must do when its state goes from ``old`` to ``new``."""
    actions: list[RouterAction] = []
    if new is ContractState.SUSPENDED:
        actions.append(RouterAction.SUSPEND)
    if old is ContractState.SUSPENDED:
        actions.append(RouterAction.RECONNECT)
    if new is ContractState.NOTICE:
        actions.append(RouterAction.NOTICE)
    if old is ContractState.NOTICE:
        actions.append(RouterAction.CLEAR_NOTICE)
    return tuple(actions)


def service_changes(
    contracts: Iterable[Contract], invoices: Iterable[OpenInvoice], today: date, settings: BillingSettings
) -> list[ServiceChange]:
    """One change per contract in force whose state differs from its standing, by contract id."""
    invoices = tuple(invoices)
    changes: list[ServiceChange] = []
    for contract in sorted(contracts, key=lambda c: c.id):
        if not contract.state.in_force:
            continue
        standing = contract_standing(contract, invoices, today, settings)
        new_state = _STATE_FOR[standing.status]
        if new_state is contract.state:
            continue
        actions = transition_actions(contract.state, new_state) if contract.service_kind is ServiceKind.INTERNET else ()
        changes.append(ServiceChange(contract.id, new_state, actions, standing))
    return changes
