"""Standing and service changes: grace, notice, suspension, reconnection, and their edges."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from centinela.billing.invoicing import bill
from centinela.billing.models import (
    BillingSettings,
    Contract,
    ContractState,
    OpenInvoice,
    Plan,
    ServiceKind,
)
from centinela.billing.payments import allocate
from centinela.billing.periods import Cycle, period_starting
from centinela.billing.standing import (
    RouterAction,
    ServiceChange,
    Standing,
    Status,
    contract_standing,
    customer_standing,
    service_changes,
)

SETTINGS = BillingSettings(default_grace_days=5, payment_terms_days=10, notice_days=2)
DUE = date(2026, 11, 11)
INTERNET = Plan("Internet 20 Mbps", Decimal("30.00"), "USD")
ALARM = Plan("Monitoreo", Decimal("25.00"), "USD", grace_days=30)


def contract(
    contract_id: int = 1,
    customer_id: int = 100,
    kind: ServiceKind = ServiceKind.INTERNET,
    plan: Plan = INTERNET,
    state: ContractState = ContractState.ACTIVE,
    grace_days: int | None = None,
) -> Contract:
    period = period_starting(date(2026, 12, 1), 1, Cycle.MONTHLY)
    return Contract(
        id=contract_id,
        customer_id=customer_id,
        service_kind=kind,
        plan=plan,
        anchor_day=1,
        current_period_start=period.start,
        current_period_end=period.end,
        state=state,
        grace_days=grace_days,
    )


def invoice(
    invoice_id: int = 7,
    due: date = DUE,
    residual: str = "30.00",
    customer_id: int = 100,
    invoice_date: date | None = None,
) -> OpenInvoice:
    return OpenInvoice(
        id=invoice_id,
        customer_id=customer_id,
        currency="USD",
        invoice_date=invoice_date or due - timedelta(days=10),
        due_date=due,
        residual=Decimal(residual),
    )


def day(offset: int) -> date:
    return DUE + timedelta(days=offset)


@pytest.mark.parametrize(
    ("offset", "status", "days_left"),
    [
        (-1, Status.CURRENT, 0),
        (0, Status.CURRENT, 0),  # the due date itself is on time
        (1, Status.GRACE, 5),
        (3, Status.GRACE, 3),
        (4, Status.NOTICE, 2),  # the last 2 days of grace
        (5, Status.NOTICE, 1),  # last day with service
        (6, Status.SUSPENDED, 0),
        (60, Status.SUSPENDED, 0),
    ],
)
def test_grace_notice_and_suspension_edges(offset: int, status: Status, days_left: int) -> None:
    standing = contract_standing(contract(), [invoice()], day(offset), SETTINGS)
    assert standing.status is status
    assert standing.days_left == days_left
    if status is not Status.CURRENT:
        assert standing.invoice_id == 7
        assert standing.days_overdue == offset
        assert standing.suspend_on == day(6)


def test_reason_names_the_invoice_and_days_overdue() -> None:
    assert contract_standing(contract(), [invoice()], day(3), SETTINGS).reason == (
        "Factura 7 vencida el 11/11/2026, hace 3 días; se suspende el 17/11/2026"
    )
    assert contract_standing(contract(), [invoice()], day(9), SETTINGS).reason == (
        "Factura 7 vencida el 11/11/2026, hace 9 días; suspendido desde el 17/11/2026"
    )
    assert Standing(Status.CURRENT).reason == "Sin facturas vencidas"


def test_grace_days_resolve_contract_then_plan_then_default() -> None:
    today = day(8)
    assert contract_standing(contract(), [invoice()], today, SETTINGS).status is Status.SUSPENDED  # default 5
    with_plan = contract(plan=dataclasses.replace(INTERNET, grace_days=10))
    assert contract_standing(with_plan, [invoice()], today, SETTINGS).status is Status.GRACE
    overridden = contract(plan=dataclasses.replace(INTERNET, grace_days=10), grace_days=7)
    assert contract_standing(overridden, [invoice()], day(7), SETTINGS).days_left == 1
    assert contract_standing(overridden, [invoice()], today, SETTINGS).status is Status.SUSPENDED


def test_zero_grace_suspends_the_day_after_the_due_date() -> None:
    c = contract(grace_days=0)
    assert contract_standing(c, [invoice()], day(0), SETTINGS).status is Status.CURRENT
    assert contract_standing(c, [invoice()], day(1), SETTINGS).status is Status.SUSPENDED


def test_notice_longer_than_grace_makes_all_of_grace_a_notice() -> None:
    long_notice = dataclasses.replace(SETTINGS, notice_days=9)
    assert contract_standing(contract(), [invoice()], day(1), long_notice).status is Status.NOTICE
    no_notice = dataclasses.replace(SETTINGS, notice_days=0)
    assert contract_standing(contract(), [invoice()], day(5), no_notice).status is Status.GRACE


def test_paid_and_other_customers_invoices_do_not_count() -> None:
    invoices = [invoice(1, residual="0.00"), invoice(2, customer_id=200), invoice(3, residual="-5.00")]
    assert contract_standing(contract(), invoices, day(30), SETTINGS) == Standing(Status.CURRENT)


def test_the_oldest_overdue_invoice_decides() -> None:
    invoices = [invoice(9, due=day(20)), invoice(8, due=DUE), invoice(5, due=day(25))]
    standing = contract_standing(contract(), invoices, day(26), SETTINGS)
    assert (standing.invoice_id, standing.days_overdue, standing.status) == (8, 26, Status.SUSPENDED)


def test_each_contract_keeps_its_own_grace_on_a_shared_invoice() -> None:
    internet, alarm = contract(1), contract(2, kind=ServiceKind.ALARM, plan=ALARM)
    changes = service_changes([internet, alarm], [invoice()], day(6), SETTINGS)
    internet_standing = contract_standing(internet, [invoice()], day(6), SETTINGS)
    alarm_standing = contract_standing(alarm, [invoice()], day(6), SETTINGS)
    assert changes == [
        ServiceChange(1, ContractState.SUSPENDED, (RouterAction.SUSPEND,), internet_standing),
        ServiceChange(2, ContractState.GRACE, (), alarm_standing),
    ]
    assert alarm_standing.suspend_on == day(31)
    (alarm_change,) = service_changes([alarm], [invoice()], day(31), SETTINGS)
    assert (alarm_change.new_state, alarm_change.router_actions) == (ContractState.SUSPENDED, ())


def test_debt_from_a_cancelled_contract_still_counts_for_the_customer() -> None:
    cancelled = contract(1, state=ContractState.CANCELLED)
    other = contract(2)
    changes = service_changes([cancelled, other], [invoice()], day(6), SETTINGS)
    assert [(c.contract_id, c.new_state) for c in changes] == [(2, ContractState.SUSPENDED)]


@pytest.mark.parametrize(
    ("old", "offset", "new", "actions"),
    [
        (ContractState.ACTIVE, 1, ContractState.GRACE, ()),
        (ContractState.GRACE, 4, ContractState.NOTICE, (RouterAction.NOTICE,)),
        (ContractState.ACTIVE, 4, ContractState.NOTICE, (RouterAction.NOTICE,)),
        (ContractState.NOTICE, 6, ContractState.SUSPENDED, (RouterAction.SUSPEND, RouterAction.CLEAR_NOTICE)),
        (ContractState.GRACE, 6, ContractState.SUSPENDED, (RouterAction.SUSPEND,)),
        (ContractState.ACTIVE, 6, ContractState.SUSPENDED, (RouterAction.SUSPEND,)),
    ],
)
def test_transitions_as_days_pass(
    old: ContractState, offset: int, new: ContractState, actions: tuple[RouterAction, ...]
) -> None:
    (change,) = service_changes([contract(state=old)], [invoice()], day(offset), SETTINGS)
    assert (change.contract_id, change.new_state, change.router_actions) == (1, new, actions)
    assert change.reason == change.standing.reason


def test_no_change_when_the_state_already_matches() -> None:
    assert service_changes([contract(state=ContractState.SUSPENDED)], [invoice()], day(6), SETTINGS) == []
    assert service_changes([contract(state=ContractState.NOTICE)], [invoice()], day(5), SETTINGS) == []
    assert service_changes([contract()], [invoice()], day(0), SETTINGS) == []


def test_draft_and_cancelled_contracts_get_no_changes() -> None:
    contracts = [contract(1, state=ContractState.DRAFT), contract(2, state=ContractState.CANCELLED)]
    assert service_changes(contracts, [invoice()], day(40), SETTINGS) == []


def test_paying_reconnects_at_once() -> None:
    suspended = contract(state=ContractState.SUSPENDED)
    paid = dataclasses.replace(invoice(), residual=Decimal("0.00"))
    (change,) = service_changes([suspended], [paid], day(9), SETTINGS)
    assert (change.new_state, change.router_actions) == (ContractState.ACTIVE, (RouterAction.RECONNECT,))
    assert change.reason == "Sin facturas vencidas"


def test_paying_during_notice_clears_the_warning() -> None:
    (change,) = service_changes([contract(state=ContractState.NOTICE)], [], day(5), SETTINGS)
    assert (change.new_state, change.router_actions) == (ContractState.ACTIVE, (RouterAction.CLEAR_NOTICE,))


def test_partial_payment_that_leaves_an_invoice_past_grace_keeps_the_cut() -> None:
    old = invoice(1, due=DUE, residual="30.00", invoice_date=date(2026, 11, 1))
    new = invoice(2, due=day(30), residual="30.00", invoice_date=date(2026, 12, 1))
    allocation = allocate(Decimal("20.00"), "USD", [new, old])
    residuals = {a.invoice_id: a.amount for a in allocation.allocations}
    after = [dataclasses.replace(inv, residual=inv.residual - residuals.get(inv.id, 0)) for inv in (old, new)]
    assert [inv.residual for inv in after] == [Decimal("10.00"), Decimal("30.00")]
    assert service_changes([contract(state=ContractState.SUSPENDED)], after, day(20), SETTINGS) == []


def test_paying_the_old_invoice_reconnects_into_the_new_ones_notice() -> None:
    old = invoice(1, due=DUE, residual="0.00")
    new = invoice(2, due=day(20))
    (change,) = service_changes([contract(state=ContractState.SUSPENDED)], [old, new], day(24), SETTINGS)
    assert change.new_state is ContractState.NOTICE
    assert change.router_actions == (RouterAction.RECONNECT, RouterAction.NOTICE)
    assert change.standing.invoice_id == 2


def test_customer_standing_is_the_worst_of_its_contracts() -> None:
    contracts = [
        contract(1, kind=ServiceKind.ALARM, plan=ALARM),
        contract(2),
        contract(3, state=ContractState.CANCELLED),
    ]
    assert customer_standing(contracts, [invoice()], day(6), SETTINGS).status is Status.SUSPENDED
    assert customer_standing(contracts, [invoice()], day(2), SETTINGS).suspend_on == day(6)
    assert customer_standing(contracts, [], day(2), SETTINGS) == Standing(Status.CURRENT)
    assert customer_standing([], [invoice()], day(9), SETTINGS) == Standing(Status.CURRENT)


def test_from_billing_run_to_cut_to_reconnection() -> None:
    period = period_starting(date(2026, 11, 1), 1, Cycle.MONTHLY)
    c = dataclasses.replace(contract(), current_period_start=period.start, current_period_end=period.end)
    (draft,) = bill([c], SETTINGS, date(2026, 11, 1), set()).invoices
    posted = OpenInvoice(1, draft.customer_id, draft.currency, draft.invoice_date, draft.due_date, draft.total)
    assert posted.due_date == DUE
    assert service_changes([c], [posted], day(6), SETTINGS)[0].router_actions == (RouterAction.SUSPEND,)
    suspended = dataclasses.replace(c, state=ContractState.SUSPENDED)
    (allocation,) = allocate(Decimal("30.00"), "USD", [posted]).allocations
    paid = dataclasses.replace(posted, residual=posted.residual - allocation.amount)
    assert service_changes([suspended], [paid], day(6), SETTINGS)[0].router_actions == (RouterAction.RECONNECT,)


@given(
    residuals=st.lists(st.sampled_from(["0.00", "-1.00", "0.01", "99.00"]), max_size=6),
    due_offsets=st.lists(st.integers(-60, 60), min_size=6, max_size=6),
    today_offset=st.integers(-30, 120),
    grace=st.integers(0, 40),
    state=st.sampled_from(ContractState),
)
def test_never_suspends_without_an_overdue_residual(
    residuals: list[str], due_offsets: list[int], today_offset: int, grace: int, state: ContractState
) -> None:
    invoices = [invoice(i, due=day(due_offsets[i]), residual=r) for i, r in enumerate(residuals)]
    today = day(today_offset)
    c = contract(state=state, grace_days=grace)
    owes_past_grace = any(inv.residual > 0 and today > inv.due_date + timedelta(days=grace) for inv in invoices)
    new_states = {ch.new_state for ch in service_changes([c], invoices, today, SETTINGS)}
    suspended_after = ContractState.SUSPENDED in new_states or (state is ContractState.SUSPENDED and not new_states)
    if state.in_force:
        assert suspended_after == owes_past_grace
    else:
        assert not new_states
