"""The Cobranza (collections) panel: contracts by state, debtors, upcoming cuts, runs and the
router queue, with the admin's actions — register a payment, suspend or reconnect by hand, run
billing now after a dry-run preview — each confirmed in a small dialog of this module.

Mount it as a tab of the dashboard: ``CollectionsPanel(store, worker, is_admin=..., texts=...)``.
It reads the store when it comes on screen, every ``REFRESH_SECONDS`` while it stays there, and
after each action; the work runs in Textual workers, so the screen never waits on the store or a
router. Hidden behind another tab it reads nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Final, TypeVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static, TabbedContent, TabPane

from centinela.billing.money import check_amount
from centinela.billing.worker import BillingWorker, PlannedChange
from centinela.data.billing_runs import RunBusyError
from centinela.data.billing_store import BillingStoreError, customer_currencies, find_customer
from centinela.data.collections_view import CollectionsOverview, collections_overview
from centinela.data.store import Store
from centinela.tui.bindings import localize_bindings
from centinela.tui.present import local_time
from centinela.tui.texts import Texts

REFRESH_SECONDS: Final = 15.0



ResultT = TypeVar("ResultT")

_DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{ width: 64; max-width: 100%; height: auto; max-height: 100%;
    border: round $accent; background: $surface; padding: 0 1; }}
{name} Label {{ margin-bottom: 1; }}
{name} .error {{ color: $error; height: auto; }}
{name} .body {{ margin-top: 1; height: auto; }}
{name} Horizontal {{ height: auto; align-horizontal: right; margin-top: 1; }}
{name} Button {{ margin-left: 1; }}
"""


class _Dialog(ModalScreen[ResultT | None]):
    """Title, fields, an error line, Confirm and Cancel; Escape cancels. ``accept`` returns the
    result, or None after showing why the fields cannot be used."""

    BINDINGS = [Binding("escape", "cancel", show=False)]

    def __init__(self, texts: Texts, title: str, confirm: str | None = None) -> None:
        super().__init__()
        self.texts = texts
        self.title_text = title
        self.confirm_text = confirm or texts("cob.confirm")

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text, style="bold"))
            yield from self.fields()
            yield Static("", classes="error")
            with Horizontal():
                yield Button(self.texts("cob.cancel"), id="cancel")
                yield Button(self.confirm_text, id="confirm", variant="primary")

    def fields(self) -> ComposeResult:
        yield from ()

    def accept(self) -> ResultT | None:
        raise NotImplementedError

    def fail(self, key: str, **values: object) -> None:
        self.query_one(".error", Static).update(self.texts(key, **values))

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def _cancelled(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#confirm")
    @on(Input.Submitted)
    def _confirmed(self) -> None:
        result = self.accept()
        if result is not None:
            self.dismiss(result)


class ConfirmDialog(_Dialog[bool]):
    DEFAULT_CSS = _DIALOG_CSS.format(name="ConfirmDialog")

    def __init__(self, texts: Texts, title: str, body: str, confirm: str | None = None) -> None:
        super().__init__(texts, title, confirm)
        self.body = body

    def fields(self) -> ComposeResult:
        yield Static(Text(self.body), classes="body")

    def on_mount(self) -> None:
        self.query_one("#confirm", Button).focus()

    def accept(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    customer_ref: str
    amount: Decimal
    currency: str | None
    reference: str | None


class PaymentDialog(_Dialog[PaymentRequest]):
    DEFAULT_CSS = _DIALOG_CSS.format(name="PaymentDialog")

    def __init__(self, texts: Texts, customer_ref: str | None) -> None:
        super().__init__(texts, texts("cob.pay.title"))
        self.customer_ref = customer_ref or ""

    def fields(self) -> ComposeResult:
        yield Input(self.customer_ref, placeholder=self.texts("cob.pay.customer"), id="customer")
        yield Input(placeholder=self.texts("cob.pay.amount"), id="amount")
        yield Input(placeholder=self.texts("cob.pay.currency"), id="currency", max_length=3)
        yield Input(placeholder=self.texts("cob.pay.reference"), id="reference")

    def on_mount(self) -> None:
        self.query_one("#amount" if self.customer_ref else "#customer", Input).focus()

    def accept(self) -> PaymentRequest | None:
        value = {name: self.query_one(f"#{name}", Input).value.strip()
                 for name in ("customer", "amount", "currency", "reference")}
        try:
            amount = Decimal(value["amount"].replace(",", "."))
        except InvalidOperation:
            amount = Decimal(0)
        if not value["customer"] or not amount.is_finite() or amount <= 0:
            self.fail("cob.pay.bad_amount")
            return None
        return PaymentRequest(value["customer"], amount, value["currency"].upper() or None, value["reference"] or None)


class NoteDialog(_Dialog[str]):
    """A confirmation with an optional reason; dismisses with the reason ("" for none)."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="NoteDialog")

    def __init__(self, texts: Texts, title: str, body: str) -> None:
        super().__init__(texts, title)
        self.body = body

    def fields(self) -> ComposeResult:
        yield Static(self.body, classes="body")
        yield Input(placeholder=self.texts("cob.note"), id="note")

    def accept(self) -> str:
        return self.query_one("#note", Input).value.strip()


@dataclass(frozen=True, slots=True)
class ReconnectRequest:
    keep_days: int
    note: str


class ReconnectDialog(_Dialog[ReconnectRequest]):
    DEFAULT_CSS = _DIALOG_CSS.format(name="ReconnectDialog")

    def fields(self) -> ComposeResult:
        yield Input("0", placeholder=self.texts("cob.reconnect.days"), id="days", type="integer")
        yield Input(placeholder=self.texts("cob.note"), id="note")

    def accept(self) -> ReconnectRequest | None:
        days = self.query_one("#days", Input).value.strip() or "0"
        if not days.isdigit() or int(days) > 90:
            self.fail("cob.reconnect.bad_days")
            return None
        return ReconnectRequest(int(days), self.query_one("#note", Input).value.strip())


class BillingDateDialog(_Dialog[date]):
    DEFAULT_CSS = _DIALOG_CSS.format(name="BillingDateDialog")

    def __init__(self, texts: Texts, today: date) -> None:
        super().__init__(texts, texts("cob.bill.title"), texts("cob.bill.preview"))
        self.today = today

    def fields(self) -> ComposeResult:
        yield Input(self.today.isoformat(), placeholder=self.texts("cob.bill.date"), id="date")

    def accept(self) -> date | None:
        try:
            return date.fromisoformat(self.query_one("#date", Input).value.strip())
        except ValueError:
            self.fail("cob.bill.bad_date")
            return None


# --- the panel ---------------------------------------------------------------------------------

_TABLES: Final = {
    "upcoming": ("cob.col.contract", "cob.col.customer", "cob.col.state", "cob.col.days_left", "cob.col.cut_on",
                 "cob.col.invoice", "cob.col.router"),
    "suspended": ("cob.col.contract", "cob.col.customer", "cob.col.since", "cob.col.router", "cob.col.reason"),
    "debtors": ("cob.col.customer", "cob.col.debt", "cob.col.invoices", "cob.col.oldest_due"),
    "runs": ("cob.col.run", "cob.col.kind", "cob.col.date", "cob.col.started", "cob.col.finished",
             "cob.col.invoices", "cob.col.cuts", "cob.col.reconnections", "cob.col.state", "cob.col.errors"),
    "queue": ("cob.col.run", "cob.col.router", "cob.col.action", "cob.col.target", "cob.col.contract",
              "cob.col.attempts", "cob.col.next", "cob.col.error"),
}
_STATE_STYLE: Final = {"grace": "yellow", "notice": "bold yellow", "suspended": "bold magenta", "failed": "bold red"}


@dataclass(frozen=True, slots=True)
class _Target:
    contract_id: int | None
    contract: str | None
    customer_ref: str | None
    customer: str


class CollectionsPanel(Vertical):
    """The collections tab. ``actor`` names the operator in the audit log."""

    DEFAULT_CSS = """
    CollectionsPanel { height: 1fr; }
    CollectionsPanel #cob-summary { height: auto; padding: 0 1; }
    CollectionsPanel TabbedContent { height: 1fr; }
    CollectionsPanel DataTable { height: 1fr; }
    """
    # Upper-case keys: the dashboard's lower-case ones keep working while this tab has focus.
    BINDINGS = [
        Binding("P", "register_payment", "cob.key.payment"),
        Binding("S", "suspend", "cob.key.suspend"),
        Binding("R", "reconnect", "cob.key.reconnect"),
        Binding("B", "run_billing", "cob.key.bill"),
    ]

    def __init__(
        self, store: Store, worker: BillingWorker, *, is_admin: bool, texts: Texts, actor: str = "console",
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.store = store
        self.worker = worker
        self.is_admin = is_admin
        self.actor = actor
        self.texts = texts
        self.overview: CollectionsOverview | None = None
        self._targets: dict[str, dict[str, _Target]] = {}
        localize_bindings(self, self.texts)

    def compose(self) -> ComposeResult:
        t = self.texts
        yield Static(id="cob-summary")
        with TabbedContent(id="cob-tabs"):
            for name in _TABLES:
                title = t("cob.tab.queue", count=0) if name == "queue" else t(f"cob.tab.{name}")
                with TabPane(title, id=f"cob-{name}"):
                    yield DataTable(id=f"cob-{name}-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        for name, columns in _TABLES.items():
            self.table(name).add_columns(*(self.texts(key) for key in columns))
        self._reload_timer = self.set_interval(REFRESH_SECONDS, self.reload, pause=True)

    def on_show(self) -> None:
        self.reload()
        self._reload_timer.resume()

    def on_hide(self) -> None:
        self._reload_timer.pause()

    def table(self, name: str) -> DataTable[Text | str]:
        return self.query_one(f"#cob-{name}-table", DataTable)

    # reading

    @work(exclusive=True, group="collections-reload", exit_on_error=False)
    async def reload(self) -> None:
        config = await self.worker.config()
        today = await self.worker.today()
        self.show(await collections_overview(self.store.reader, today, config.settings))

    def show(self, overview: CollectionsOverview) -> None:
        t = self.texts
        self.overview = overview
        counts = overview.counts
        debt = ", ".join(f"{currency} {amount:,.2f}" for currency, amount in overview.overdue_totals.items())
        summary = Text(t("cob.summary", **counts))
        summary.append(" · ")
        summary.append(t("cob.summary.debt", amounts=debt) if debt else t("cob.summary.no_debt"),
                       style="bold red" if debt else "green")
        self.query_one("#cob-summary", Static).update(summary)
        tabs = self.query_one(TabbedContent)
        tabs.get_tab("cob-queue").label = t("cob.tab.queue", count=overview.queued_total)
        self._fill("upcoming", (
            (str(cut.contract_id), _Target(cut.contract_id, cut.contract, cut.customer_ref, cut.customer),
             [cut.contract, cut.customer, self._state(cut.state), str(cut.days_left),
              cut.suspend_on.strftime("%d/%m/%Y") if cut.suspend_on else "—", str(cut.invoice_id or "—"),
              cut.router or "—"])
            for cut in overview.upcoming
        ))
        self._fill("suspended", (
            (str(item.contract_id), _Target(item.contract_id, item.contract, item.customer_ref, item.customer),
             [item.contract, item.customer, local_time(item.since) if item.since else "—", item.router or "—",
              f"[{t('cob.held')}] {item.reason}" if item.held else item.reason])
            for item in overview.suspended
        ))
        self._fill("debtors", (
            (f"{item.customer_id}:{item.currency}", _Target(None, None, item.customer_ref, item.customer),
             [item.customer, f"{item.currency} {item.overdue:,}", str(item.invoices),
              item.oldest_due.strftime("%d/%m/%Y")])
            for item in overview.debtors
        ))
        self._fill("runs", (
            (str(run.id), None,
             [str(run.id), t(f"cob.kind.{run.kind}"), run.run_date.strftime("%d/%m/%Y"), local_time(run.started_at),
              local_time(run.finished_at) if run.finished_at else "—", str(run.invoices), str(run.suspensions),
              str(run.reconnections), Text(t(f"cob.status.{run.status}"), style=_STATE_STYLE.get(run.status, "")),
              run.errors[0] if run.errors else ""])
            for run in overview.runs
        ))
        self._fill("queue", (
            (str(item.id), None,
             [str(item.id), item.router, t(f"cob.action.{item.action}"), item.target, item.contract,
              str(item.attempts), local_time(item.next_attempt_at) if item.next_attempt_at else "—",
              item.last_error or ""])
            for item in overview.queue
        ))

    def _state(self, state: str) -> Text:
        return Text(self.texts(f"cob.state.{state}"), style=_STATE_STYLE.get(state, ""))

    def _fill(self, name: str, rows: Iterable[tuple[str, _Target | None, list[Text | str]]]) -> None:
        table = self.table(name)
        cursor = table.cursor_row
        table.clear()
        targets: dict[str, _Target] = {}
        for key, target, cells in rows:
            # Plain strings would be read as markup: a customer named "[x]" must show as is.
            table.add_row(*(cell if isinstance(cell, Text) else Text(cell) for cell in cells), key=key)
            if target is not None:
                targets[key] = target
        self._targets[name] = targets
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))

    def selected(self) -> _Target | None:
        """The contract or customer under the cursor of the tab shown."""
        name = (self.query_one(TabbedContent).active or "").removeprefix("cob-")
        if name not in self._targets or not self.table(name).row_count:
            return None
        table = self.table(name)
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self._targets[name].get(str(key))

    # acting

    def _allowed(self) -> bool:
        if not self.is_admin:
            self.notify(self.texts("role.refused"), severity="error")
        return self.is_admin

    def _contract(self) -> _Target | None:
        target = self.selected()
        if target is None or target.contract_id is None:
            self.notify(self.texts("cob.select_contract"), severity="warning")
            return None
        return target

    def action_register_payment(self) -> None:
        if self._allowed():
            target = self.selected()
            self._pay(target.customer_ref if target else None)

    def action_suspend(self) -> None:
        if self._allowed() and (target := self._contract()) is not None:
            self._suspend(target)

    def action_reconnect(self) -> None:
        if self._allowed() and (target := self._contract()) is not None:
            self._reconnect(target)

    def action_run_billing(self) -> None:
        if self._allowed():
            self._bill()

    @work(exclusive=True, group="collections-action", exit_on_error=False)
    async def _pay(self, customer_ref: str | None) -> None:
        t = self.texts
        request = await self.app.push_screen_wait(PaymentDialog(t, customer_ref))
        if request is None:
            return
        customer = await find_customer(self.store.reader, request.customer_ref)
        if customer is None:
            self.notify(t("cob.pay.no_customer", ref=request.customer_ref), severity="error")
            return
        currency = request.currency
        if currency is None:
            known = await customer_currencies(self.store.reader, customer.id)
            if len(known) != 1:
                self.notify(t("cob.pay.which_currency", known=", ".join(sorted(known)) or "—"), severity="error")
                return
            currency = known.pop()
        try:
            check_amount(request.amount, currency, "amount")
        except ValueError as error:
            self.notify(t("cob.failed", error=error), severity="error")
            return
        question = t("cob.pay.confirm", currency=currency, amount=request.amount, customer=customer.label)
        if not await self.app.push_screen_wait(ConfirmDialog(t, t("cob.pay.title"), question)):
            return
        report = await self.worker.register_payment(
            customer.id, request.amount, currency, await self.worker.today(), reference=request.reference,
            actor=self.actor,
        )
        self.notify(t("cob.pay.done", id=report.payment_id, paid=len(report.allocations),
                      reconnected=sum(item.change.is_reconnection for item in report.changes)))
        if report.router.retrying:
            self.notify(t("cob.router_pending"), severity="warning")
        self.reload()

    @work(exclusive=True, group="collections-action", exit_on_error=False)
    async def _suspend(self, target: _Target) -> None:
        t = self.texts
        dialog = NoteDialog(t, t("cob.suspend.title", contract=target.contract, customer=target.customer),
                            t("cob.suspend.body"))
        note = await self.app.push_screen_wait(dialog)
        if note is None or target.contract_id is None:
            return
        await self._by_hand(target, self.worker.suspend_by_hand(target.contract_id, actor=self.actor, note=note))

    @work(exclusive=True, group="collections-action", exit_on_error=False)
    async def _reconnect(self, target: _Target) -> None:
        t = self.texts
        dialog = ReconnectDialog(t, t("cob.reconnect.title", contract=target.contract, customer=target.customer))
        request = await self.app.push_screen_wait(dialog)
        if request is None or target.contract_id is None:
            return
        await self._by_hand(target, self.worker.reconnect_by_hand(
            target.contract_id, actor=self.actor, note=request.note, keep_days=request.keep_days))

    async def _by_hand(self, target: _Target, change: Awaitable[PlannedChange | None]) -> None:
        try:
            planned = await change
        except BillingStoreError as error:
            self.notify(self.texts("cob.failed", error=error), severity="error")
            return
        if planned is None:
            self.notify(self.texts("cob.unchanged", contract=target.contract))
        else:
            self.notify(self.texts("cob.changed", contract=target.contract,
                                   state=self.texts(f"cob.state.{planned.change.new_state}")))
        self.reload()

    @work(exclusive=True, group="collections-action", exit_on_error=False)
    async def _bill(self) -> None:
        t = self.texts
        day = await self.app.push_screen_wait(BillingDateDialog(t, await self.worker.today()))
        if day is None:
            return
        self.notify(t("cob.bill.computing"))
        preview = await self.worker.run_billing(day, dry_run=True)
        cutoffs = await self.worker.run_cutoffs(dry_run=True)
        totals = ", ".join(f"{currency} {total:,}" for currency, total in preview.totals().items()) or "—"
        body = t("cob.bill.summary", invoices=preview.invoice_count, totals=totals,
                 suspensions=len(cutoffs.suspensions), reconnections=len(cutoffs.reconnections),
                 today=cutoffs.day.strftime("%d/%m/%Y"))
        problems = len(preview.problems) + len(cutoffs.problems)
        if problems:
            body += "\n" + t("cob.bill.problems", count=problems)
        confirm = ConfirmDialog(t, t("cob.bill.confirm_title", date=day.strftime("%d/%m/%Y")), body,
                                t("cob.bill.run"))
        if not await self.app.push_screen_wait(confirm):
            return
        try:
            billed = await self.worker.run_billing(day)
            cut = await self.worker.run_cutoffs()
        except RunBusyError as error:
            self.notify(t("cob.failed", error=error), severity="error")
            return
        finally:
            self.reload()
        self.notify(t("cob.bill.done", invoices=billed.invoice_count, suspensions=len(cut.suspensions),
                      reconnections=len(cut.reconnections)))
