"""The Cobranza panel in a tiny app on a temporary store, driven with Textual's pilot; router
actions go to the RouterOS test server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input, Static, TabbedContent, TabPane

from centinela.billing.worker import BillingWorker
from centinela.data.settings import set_setting
from centinela.data.store import Store
from centinela.tui.texts import Language, Texts
from centinela.tui.widgets import collections_panel
from centinela.tui.widgets.collections_panel import (
    BillingDateDialog,
    CollectionsPanel,
    ConfirmDialog,
    NoteDialog,
    PaymentDialog,
)
from tests.billing_seed import (
    ROUTER_PASSWORD,
    ROUTER_USER,
    add_contract,
    add_customer,
    add_plan,
    add_router,
    contract_state,
    scalar,
)
from tests.fake_routeros import ADDRESS_LIST, FakeRouterOS
from tests.helpers import until

START = date(2026, 11, 1)  # invoices due on the 11th; grace to the 16th, notice from the 14th
TODAY = datetime.combine(date(2026, 11, 15), time(12), UTC)


@pytest.fixture
def router() -> Iterator[FakeRouterOS]:
    with FakeRouterOS(username=ROUTER_USER, password=ROUTER_PASSWORD) as fake:
        yield fake
    assert fake.errors == []


class PanelApp(App[None]):
    def __init__(self, store: Store, worker: BillingWorker, *, is_admin: bool, language: Language = "es") -> None:
        super().__init__()
        self.store = store
        self.worker = worker
        self.is_admin = is_admin
        self.language = language

    def compose(self) -> ComposeResult:
        yield CollectionsPanel(self.store, self.worker, is_admin=self.is_admin, texts=Texts(self.language), actor="ana")


async def world(store: Store, fake: FakeRouterOS) -> BillingWorker:
    """Ana owes and is in notice; Beto owes and was cut (by hand, on an earlier day)."""
    async with store.transaction() as db:
        await set_setting(db, "billing.timezone", "UTC", "test")
    router_id = await add_router(store, fake, "torre")
    plan = await add_plan(store, "Internet 20 Mbps", "25.00")
    ana, beto = await add_customer(store, "C-1", "Ana Pérez"), await add_customer(store, "C-2", "[Beto]")
    await add_contract(store, "K-1", ana, plan, START, router_id=router_id, target="10.0.0.5")
    beto_contract = await add_contract(store, "K-2", beto, plan, START, router_id=router_id, target="10.0.0.6")
    worker = BillingWorker(store, clock=lambda: TODAY)
    await worker.run_billing(START)
    await worker.suspend_by_hand(beto_contract, actor="admin", note="fraude")
    await worker.run_cutoffs(TODAY)
    return worker


def rows(app: App[None], name: str) -> list[list[str]]:
    table = app.query_one(f"#cob-{name}-table", DataTable)
    return [[str(cell) for cell in table.get_row_at(index)] for index in range(table.row_count)]


def listed(fake: FakeRouterOS) -> list[str]:
    return sorted(row["address"] for row in fake.rows(ADDRESS_LIST) if row["list"] == "morosos")


async def test_the_panel_shows_states_debt_cuts_runs_and_queue(store: Store, router: FakeRouterOS) -> None:
    worker = await world(store, router)
    app = PanelApp(store, worker, is_admin=False)
    async with app.run_test(size=(140, 36)) as pilot:
        panel = app.query_one(CollectionsPanel)
        await until(lambda: panel.overview is not None, pilot=pilot)
        summary = str(app.query_one("#cob-summary").render())
        assert "Activos 0" in summary and "Aviso 1" in summary and "Suspendidos 1" in summary
        assert "Vencido USD 50.00" in summary
        assert rows(app, "upcoming") == [["K-1", "Ana Pérez", "Aviso", "2", "17/11/2026", "1", "torre"]]
        ((contract, customer, _, where, reason),) = rows(app, "suspended")
        assert (contract, customer, where) == ("K-2", "[Beto]", "torre")
        assert reason == "[manual] Suspensión manual (admin): fraude"
        assert rows(app, "debtors") == [["Ana Pérez", "USD 25.00", "1", "11/11/2026"],
                                        ["[Beto]", "USD 25.00", "1", "11/11/2026"]]
        kinds = [(row[1], row[8]) for row in rows(app, "runs")]
        assert kinds == [("Cortes", "Hecha"), ("Facturación", "Hecha")]
        assert rows(app, "queue") == []
        assert "Cola router (0)" in str(app.query_one(TabbedContent).get_tab("cob-queue").label)

        # Not an admin: the actions are refused and change nothing.
        await pilot.press("P")
        await pilot.pause()
        assert not isinstance(app.screen, PaymentDialog)
        assert await scalar(store, "SELECT count(*) FROM payments") == 0


async def test_an_admin_registers_a_payment_and_the_customer_is_reconnected(store: Store, router: FakeRouterOS) -> None:
    worker = await world(store, router)
    await worker.suspend_by_hand(1, actor="admin", note="prueba")  # Ana cut by hand too
    async with store.transaction() as db:
        await db.execute("UPDATE contracts SET hold = NULL")  # ...but let a payment reconnect her
    assert listed(router) == ["10.0.0.5", "10.0.0.6"]
    app = PanelApp(store, worker, is_admin=True)
    async with app.run_test(size=(140, 36)) as pilot:
        panel = app.query_one(CollectionsPanel)
        await until(lambda: panel.overview is not None, pilot=pilot)
        app.query_one(TabbedContent).active = "cob-debtors"
        app.query_one("#cob-debtors-table", DataTable).focus()
        await pilot.pause()
        await pilot.press("P")
        await until(lambda: isinstance(app.screen, PaymentDialog), pilot=pilot)
        assert app.screen.query_one("#customer", Input).value == "C-1"  # the selected debtor
        await pilot.press(*"25.00", "enter")
        await until(lambda: isinstance(app.screen, ConfirmDialog), pilot=pilot)
        await pilot.press("enter")
        await until(lambda: listed(router) == ["10.0.0.6"], pilot=pilot)
        assert await contract_state(store, 1) == "active"
        assert await scalar(store, "SELECT actor FROM audit_log WHERE action = 'payment.register'") == "ana"
        await until(lambda: len(rows(app, "debtors")) == 1, pilot=pilot)


async def test_an_admin_cuts_a_contract_by_hand(store: Store, router: FakeRouterOS) -> None:
    worker = await world(store, router)
    app = PanelApp(store, worker, is_admin=True, language="en")
    async with app.run_test(size=(140, 36)) as pilot:
        panel = app.query_one(CollectionsPanel)
        await until(lambda: panel.overview is not None, pilot=pilot)
        app.query_one("#cob-upcoming-table", DataTable).focus()
        await pilot.press("S")
        await until(lambda: isinstance(app.screen, NoteDialog), pilot=pilot)
        assert "Cut K-1 — Ana Pérez" in str(app.screen.query_one("Label").render())
        await pilot.press(*"no paga", "enter")
        await until(lambda: "10.0.0.5" in listed(router), pilot=pilot)
        assert await contract_state(store, 1) == "suspended"
        await until(lambda: sorted(row[0] for row in rows(app, "suspended")) == ["K-1", "K-2"], pilot=pilot)
        assert rows(app, "upcoming") == []


async def test_billing_now_shows_a_preview_before_it_bills(store: Store, router: FakeRouterOS) -> None:
    worker = await world(store, router)
    app = PanelApp(store, worker, is_admin=True)
    async with app.run_test(size=(140, 36)) as pilot:
        panel = app.query_one(CollectionsPanel)
        await until(lambda: panel.overview is not None, pilot=pilot)
        await pilot.press("B")
        await until(lambda: isinstance(app.screen, BillingDateDialog), pilot=pilot)
        date_input = app.screen.query_one("#date", Input)
        assert date_input.value == "2026-11-15"
        date_input.value = "2026-12-01"
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, ConfirmDialog), pilot=pilot)
        body = str(app.screen.query_one(".body").render())
        assert "2 facturas (USD 50.00)" in body and "al 15/11/2026" in body
        assert await scalar(store, "SELECT count(*) FROM invoices") == 2  # the preview stored nothing
        await pilot.press("escape")  # cancelled: still nothing
        await until(lambda: not isinstance(app.screen, ConfirmDialog), pilot=pilot)
        assert await scalar(store, "SELECT count(*) FROM invoices") == 2

        await pilot.press("B")
        await until(lambda: isinstance(app.screen, BillingDateDialog), pilot=pilot)
        app.screen.query_one("#date", Input).value = "2026-12-01"
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, ConfirmDialog), pilot=pilot)
        await pilot.press("enter")
        await until(lambda: panel.overview is not None and len(panel.overview.runs) == 4, pilot=pilot)
        assert await scalar(store, "SELECT count(*) FROM invoices") == 4
        assert Decimal(str(await scalar(store, "SELECT total FROM invoices WHERE id = 3"))) == Decimal("25.00")


class TabbedApp(App[None]):
    """The panel as the dashboard holds it: one tab among others, not the first."""

    def __init__(self, store: Store, worker: BillingWorker) -> None:
        super().__init__()
        self.store = store
        self.worker = worker

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="alarms"):
            with TabPane("Alarmas", id="alarms"):
                yield Static("alarms")
            with TabPane("Cobranza", id="cobranza"):
                yield CollectionsPanel(self.store, self.worker, is_admin=False, texts=Texts("es"), actor="ana")


async def test_the_panel_reads_the_store_only_while_it_is_on_screen(
    store: Store, router: FakeRouterOS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collections_panel, "REFRESH_SECONDS", 0.05)
    worker = await world(store, router)
    app = TabbedApp(store, worker)
    async with app.run_test(size=(140, 36)) as pilot:
        panel = app.query_one(CollectionsPanel)
        await pilot.pause(0.3)  # six refresh periods behind the alarms tab
        assert panel.overview is None

        app.query_one(TabbedContent).active = "cobranza"
        await until(lambda: panel.overview is not None, pilot=pilot)
        assert [row[0] for row in rows(app, "debtors")] == ["Ana Pérez", "[Beto]"]
        # While on screen it follows the store: a payment settles Ana's debt.
        ana_id = await scalar(store, "SELECT id FROM customers WHERE ref = 'C-1'")
        await worker.register_payment(ana_id, Decimal("25.00"), "USD", date(2026, 11, 15), actor="test")
        await until(lambda: [row[0] for row in rows(app, "debtors")] == ["[Beto]"], pilot=pilot,
                    explain=lambda: f"debtors still {rows(app, 'debtors')} for customer {ana_id}")

        app.query_one(TabbedContent).active = "alarms"
        await pilot.pause()
        shown = panel.overview
        await pilot.pause(0.3)
        assert panel.overview is shown  # hidden again: no more reads
