"""The billing store on a real temporary database: loading records, posting invoices once,
settling payments, state changes with their router actions, outbox and audit rows, run locks."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from centinela.billing import standing
from centinela.billing.invoicing import LineKind, bill, build_invoice, plan_change_lines
from centinela.billing.models import BillingSettings, ContractState, Plan
from centinela.data import billing_runs, router_store
from centinela.data import billing_store as bs
from centinela.data import migrate as migrations
from centinela.data.settings import set_setting, settings_with_prefix
from centinela.data.settings_rules import DEFAULT_BILLING, billing_from_saved
from centinela.data.store import Store, connect, prepare_data_dir
from tests.billing_seed import add_contract, add_customer, add_plan, scalar

SETTINGS = BillingSettings(default_grace_days=5, payment_terms_days=10, notice_days=3)
NOW = datetime(2026, 12, 20, 12, 0, tzinfo=UTC)


async def load_one(store: Store, customer_id: int, due_on: date | None = None) -> bs.ContractBatch:
    return await bs.load_contracts(store.reader, [customer_id], due_on=due_on)


async def post(store: Store, customer_ids: list[int], day: date) -> bs.AppliedBilling:
    loaded = await bs.load_contracts(store.reader, customer_ids, due_on=day)
    result = bill([info.contract for info in loaded.contracts], SETTINGS, day, set())
    async with store.transaction() as db:
        return await bs.apply_billing(db, result, SETTINGS, contracts={i.id: i for i in loaded.contracts},
                                      run_id=None, actor="test")


# --- schema ------------------------------------------------------------------------------------


async def test_version_3_keeps_invoice_lines_and_keys_only_period_lines(data_dir: Path) -> None:
    db = await connect(prepare_data_dir(data_dir))
    try:
        await migrations.migrate(db, target=2)
        await db.executescript(
            "INSERT INTO customers (id, name) VALUES (1, 'Ana');"
            "INSERT INTO contracts (id, customer_id, service_kind) VALUES (1, 1, 'internet');"
            "INSERT INTO routers (id, name, host, username) VALUES (1, 'r', 'h', 'u');"
            "INSERT INTO router_actions (router_id, contract_id, action, target) VALUES (1, 1, 'suspend', '10.0.0.1');"
            "INSERT INTO invoices (id, customer_id, invoice_date, due_date, currency, subtotal, total, residual)"
            " VALUES (1, 1, '2026-11-01', '2026-11-11', 'USD', '25.00', '25.00', '25.00');"
            "INSERT INTO invoice_lines (invoice_id, contract_id, period_start, period_end, unit_price, amount)"
            " VALUES (1, 1, '2026-11-01', '2026-11-30', '25.00', '25.00');"
        )
        assert await migrations.migrate(db, target=3) == [3]
        async with db.execute("SELECT contract_id, period_start, amount, tax, kind FROM invoice_lines") as cur:
            assert await cur.fetchall() == [(1, "2026-11-01", "25.00", "0", "period")]
        async with db.execute("SELECT contract_ref, state FROM router_actions") as cur:
            assert await cur.fetchall() == [("#1", "queued")]
        insert = ("INSERT INTO invoice_lines (invoice_id, contract_id, kind, period_start, period_end, unit_price,"
                  " amount) VALUES (1, 1, ?, '2026-11-01', '2026-11-30', '5.00', '5.00')")
        await db.execute(insert, ("plan-change",))  # a correction of the same period is allowed
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            await db.execute(insert, ("period",))
    finally:
        await db.close()


# --- settings ----------------------------------------------------------------------------------


async def test_billing_settings_have_defaults_and_survive_bad_values(store: Store) -> None:
    config = await bs.load_billing_config(store.reader)
    assert config.settings == BillingSettings(5, 10, 3)
    assert (config.schedule.run_at.hour, config.schedule.cutoff_every) == (6, timedelta(minutes=60))
    async with store.transaction() as db:
        await set_setting(db, "billing.default_grace_days", 7, "test")
        await set_setting(db, "billing.notice_days", "many", "test")
        await set_setting(db, "billing.run_at", "05:30", "test")
        await set_setting(db, "billing.timezone", "America/Lima", "test")
    config = await bs.load_billing_config(store.reader)
    assert config.settings == BillingSettings(7, 10, 3)
    assert str(config.schedule.run_at) == "05:30:00"
    assert str(config.schedule.timezone) == "America/Lima"


async def test_billing_reads_its_settings_as_the_settings_screen_checks_them(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # Values a hand edit or an old version could have stored, that the screen would refuse.
    async with store.transaction() as db:
        await set_setting(db, "billing.default_grace_days", 999, "test")  # above a year
        await set_setting(db, "billing.cutoff_every_minutes", 5000, "test")  # above a day
        await set_setting(db, "billing.run_at", "7:05", "test")
    saved = await settings_with_prefix(store.reader, "billing")
    with caplog.at_level(logging.WARNING, logger="centinela.data.billing_store"):
        config = await bs.load_billing_config(store.reader)
    shown = billing_from_saved(saved)
    assert config.settings.default_grace_days == shown.default_grace_days == DEFAULT_BILLING.default_grace_days
    assert config.schedule.cutoff_every == timedelta(minutes=shown.cutoff_every_minutes) == timedelta(minutes=60)
    assert (config.schedule.run_at.hour, config.schedule.run_at.minute) == (7, 5) and shown.run_at == "07:05"
    warned = " ".join(record.getMessage() for record in caplog.records)
    assert "billing.default_grace_days = 999" in warned and "billing.cutoff_every_minutes = 5000" in warned


# --- loading -----------------------------------------------------------------------------------


async def test_contracts_load_with_their_effective_plan_and_derived_cursor(store: Store) -> None:
    plan = await add_plan(store, "Internet 20", "25.00", tax_rate="0.18", grace_days=8)
    customer = await add_customer(store, "C-1")
    contract = await add_contract(store, "K-1", customer, plan, date(2026, 11, 15), grace_days=2)
    async with store.transaction() as db:
        # An imported contract: own price, no anchor day and no cursor yet.
        await db.execute("UPDATE contracts SET price = '19.90', anchor_day = NULL, current_period_start = NULL"
                         " WHERE id = ?", (contract,))
    batch = await load_one(store, customer)
    (info,) = batch.contracts
    assert info.ref == "K-1" and batch.problems == ()
    assert info.contract.plan == Plan("Internet 20", Decimal("19.90"), "USD", tax_rate=Decimal("0.18"), grace_days=8)
    assert (info.contract.anchor_day, info.contract.current_period_start, info.contract.current_period_end) == (
        15, date(2026, 11, 15), date(2026, 12, 14))
    assert info.contract.effective_grace_days(SETTINGS) == 2
    assert batch.customers[customer].ref == "C-1"


async def test_rows_the_core_cannot_use_are_problems_not_failures(store: Store) -> None:
    plan = await add_plan(store)
    customer = await add_customer(store, "C-1")
    good = await add_contract(store, "K-1", customer, plan, date(2026, 11, 1))
    async with store.transaction() as db:
        await db.execute("INSERT INTO contracts (ref, customer_id, service_kind) VALUES ('K-2', ?, 'internet')",
                         (customer,))
        await db.execute("INSERT INTO contracts (ref, customer_id, service_kind, plan_id, start_date, price)"
                         " VALUES ('K-3', ?, 'internet', ?, '2026-11-01', '1.234')", (customer, plan))
    batch = await load_one(store, customer)
    assert [info.id for info in batch.contracts] == [good]
    assert sorted(str(problem) for problem in batch.problems) == [
        "contract K-2: no plan, or no price and currency",
        "contract K-3: plan Internet 20 Mbps: plan price 1.234 has more decimals than USD allows",
    ]


async def test_due_customers_come_in_batches_that_keep_customers_whole(store: Store) -> None:
    plan = await add_plan(store)
    customers = [await add_customer(store, f"C-{n}") for n in range(5)]
    for n, customer in enumerate(customers):
        await add_contract(store, f"K-{n}a", customer, plan, date(2026, 11, 1))
        await add_contract(store, f"K-{n}b", customer, plan, date(2026, 12, 5 + n))  # not all due
    day = date(2026, 12, 6)
    assert await bs.count_due_customers(store.reader, day) == 5
    first = await bs.due_customer_ids(store.reader, day, after=0, limit=3)
    second = await bs.due_customer_ids(store.reader, day, after=first[-1], limit=3)
    assert first + second == customers
    batch = await bs.load_contracts(store.reader, first, due_on=day)
    assert sorted(info.ref for info in batch.contracts) == ["K-0a", "K-0b", "K-1a", "K-1b", "K-2a"]


# --- posting invoices --------------------------------------------------------------------------


async def test_invoices_are_numbered_per_year_with_lines_tax_and_outbox_rows(store: Store) -> None:
    plan = await add_plan(store, tax_rate="0.16")
    ana, beto = await add_customer(store, "C-1"), await add_customer(store, "C-2")
    await add_contract(store, "K-1", ana, plan, date(2026, 12, 1))
    await add_contract(store, "K-2", beto, plan, date(2026, 12, 1))
    applied = await post(store, [ana, beto], date(2026, 12, 1))
    assert [invoice.number for invoice in applied.invoices] == ["FAC-2026-000001", "FAC-2026-000002"]
    assert applied.advanced == 2
    later = await post(store, [ana], date(2027, 1, 1))
    assert [invoice.number for invoice in later.invoices] == ["FAC-2027-000001"]
    async with store.reader.execute(
        "SELECT i.number, i.total, i.residual, i.state, l.amount, l.tax, l.tax_rate, l.kind FROM invoices i"
        " JOIN invoice_lines l ON l.invoice_id = i.id ORDER BY i.id"
    ) as cur:
        assert (await cur.fetchall())[0] == ("FAC-2026-000001", "29.00", "29.00", "posted", "25.00", "4.00", "0.16",
                                             "period")
    async with store.reader.execute("SELECT operation, payload, dedupe_key FROM outbox ORDER BY id") as cur:
        rows = await cur.fetchall()
    assert [(op, key) for op, _, key in rows] == [
        ("invoice.post", "invoice.post:FAC-2026-000001"),
        ("invoice.post", "invoice.post:FAC-2026-000002"),
        ("invoice.post", "invoice.post:FAC-2027-000001"),
    ]
    assert json.loads(rows[0][1]) == {"invoice_id": 1, "number": "FAC-2026-000001", "customer_id": ana,
                                      "total": "29.00"}
    assert await scalar(store, "SELECT current_period_start FROM contracts WHERE ref = 'K-1'") == "2027-02-01"


async def test_applying_a_result_twice_posts_nothing_the_second_time(store: Store) -> None:
    plan = await add_plan(store)
    customer = await add_customer(store, "C-1")
    await add_contract(store, "K-1", customer, plan, date(2026, 12, 1))
    loaded = await load_one(store, customer, date(2026, 12, 1))
    result = bill([info.contract for info in loaded.contracts], SETTINGS, date(2026, 12, 1), set())
    contracts = {info.id: info for info in loaded.contracts}
    async with store.transaction() as db:
        first = await bs.apply_billing(db, result, SETTINGS, contracts=contracts, run_id=None, actor="test")
    async with store.transaction() as db:
        second = await bs.apply_billing(db, result, SETTINGS, contracts=contracts, run_id=None, actor="test")
    assert (len(first.invoices), first.skipped_lines) == (1, 0)
    assert (second.invoices, second.skipped_lines, second.advanced) == ((), 1, 0)
    assert await scalar(store, "SELECT count(*) FROM invoice_lines") == 1
    assert await scalar(store, "SELECT count(*) FROM outbox") == 1


async def test_a_partly_billed_invoice_is_retotalled_without_the_billed_period(store: Store) -> None:
    plan = await add_plan(store, price="10.00")
    customer = await add_customer(store, "C-1")
    first = await add_contract(store, "K-1", customer, plan, date(2026, 12, 1))
    await add_contract(store, "K-2", customer, plan, date(2026, 12, 1))
    loaded = await load_one(store, customer, date(2026, 12, 1))
    result = bill([info.contract for info in loaded.contracts], SETTINGS, date(2026, 12, 1), set())
    (draft,) = result.invoices
    # Another run billed K-1's period already (e.g. before a crash).
    partial = type(result)((build_invoice(customer, "USD", draft.invoice_date,
                                          [line for line in draft.lines if line.contract_id == first], SETTINGS),),
                           ())
    async with store.transaction() as db:
        await bs.apply_billing(db, partial, SETTINGS, contracts={i.id: i for i in loaded.contracts}, run_id=None,
                               actor="test")
        applied = await bs.apply_billing(db, result, SETTINGS, contracts={i.id: i for i in loaded.contracts},
                                         run_id=None, actor="test")
    assert (applied.skipped_lines, [invoice.total for invoice in applied.invoices]) == (1, [Decimal("10.00")])
    assert await scalar(store, "SELECT count(*) FROM invoice_lines") == 2


async def test_plan_change_lines_may_share_a_billed_period(store: Store) -> None:
    plan = await add_plan(store, price="30.00")
    customer = await add_customer(store, "C-1")
    await add_contract(store, "K-1", customer, plan, date(2026, 12, 1))
    await post(store, [customer], date(2026, 12, 1))
    (info,) = (await load_one(store, customer)).contracts
    faster = Plan("Internet 50", Decimal("60.00"), "USD")
    lines = plan_change_lines(info.contract, faster, date(2026, 12, 16))
    result = type(bill([], SETTINGS, date(2026, 12, 16), set()))(
        (build_invoice(customer, "USD", date(2026, 12, 16), lines, SETTINGS),), ())
    async with store.transaction() as db:
        applied = await bs.apply_billing(db, result, SETTINGS, contracts={info.id: info}, run_id=None, actor="t")
    assert applied.skipped_lines == 0 and applied.lines == 2
    async with store.reader.execute("SELECT kind, amount FROM invoice_lines ORDER BY id") as cur:
        assert await cur.fetchall() == [("period", "30.00"), ("plan-change", "-15.48"), ("plan-change", "30.97")]
    assert {line.kind for line in lines} == {LineKind.PLAN_CHANGE}


# --- payments ----------------------------------------------------------------------------------


async def test_payments_settle_oldest_first_and_leave_credit(store: Store) -> None:
    plan = await add_plan(store)
    customer = await add_customer(store, "C-1")
    await add_contract(store, "K-1", customer, plan, date(2026, 11, 1))
    await post(store, [customer], date(2026, 12, 1))  # two periods due: one invoice of 50.00
    await post(store, [customer], date(2027, 1, 1))  # 25.00
    async with store.transaction() as db:
        await bs.insert_payment(db, customer, Decimal("60.00"), "USD", date(2027, 1, 5))
        await db.execute("INSERT INTO payments (customer_id, amount, paid_on) VALUES (?, '30.00', '2027-01-06')",
                         (customer,))  # written by someone else, without a currency
        settlement = await bs.settle_payments(db, [customer])
    assert [(a.payment_id, a.allocation.invoice_id, a.allocation.amount) for a in settlement.allocations] == [
        (1, 1, Decimal("50.00")), (1, 2, Decimal("10.00")), (2, 2, Decimal("15.00"))]
    assert settlement.credit() == {(customer, None): Decimal("15.00")}
    async with store.reader.execute("SELECT residual, state FROM invoices ORDER BY id") as cur:
        assert await cur.fetchall() == [("0.00", "paid"), ("0.00", "paid")]
    async with store.reader.execute("SELECT id, settled FROM payments ORDER BY id") as cur:
        assert await cur.fetchall() == [(1, 1), (2, 0)]
    # The credit pays the next invoice when it is posted.
    await post(store, [customer], date(2027, 2, 1))
    async with store.transaction() as db:
        await bs.settle_credit(db, [customer])
    assert await scalar(store, "SELECT residual FROM invoices WHERE number = 'FAC-2027-000002'") == "10.00"
    assert await scalar(store, "SELECT settled FROM payments WHERE id = 2") == 1


async def test_payments_pulled_from_odoo_as_settled_are_left_alone(store: Store) -> None:
    plan = await add_plan(store)
    customer = await add_customer(store, "C-1")
    await add_contract(store, "K-1", customer, plan, date(2026, 12, 1))
    await post(store, [customer], date(2026, 12, 1))
    async with store.transaction() as db:
        await db.execute("INSERT INTO payments (customer_id, amount, currency, paid_on, settled, odoo_id)"
                         " VALUES (?, '25.00', 'USD', '2026-12-02', 1, 77)", (customer,))
        settlement = await bs.settle_payments(db, [customer])
    assert settlement.allocations == ()
    assert await scalar(store, "SELECT residual FROM invoices") == "25.00"


# --- state changes -----------------------------------------------------------------------------


async def routers_of(store: Store) -> dict[int, router_store.RouterRow]:
    routers, problems = await router_store.load_routers(store.reader)
    assert problems == []
    return routers


async def test_state_changes_queue_router_actions_audit_and_outbox(store: Store) -> None:
    async with store.transaction() as db:
        await db.execute("INSERT INTO routers (id, name, host, username, password, notice_list)"
                         " VALUES (1, 'torre', '127.0.0.1', 'u', 'p', 'aviso')")
    plan = await add_plan(store)
    customer = await add_customer(store, "C-1")
    contract = await add_contract(store, "K-1", customer, plan, date(2026, 12, 1), router_id=1, target="10.0.0.9",
                                  state="notice")
    batch = await load_one(store, customer)
    change = bs.StateChange(contract, ContractState.NOTICE, ContractState.SUSPENDED,
                            (standing.RouterAction.SUSPEND, standing.RouterAction.CLEAR_NOTICE), "Factura 1 vencida",
                            invoice_id=1, days_overdue=9)
    async with store.transaction() as db:
        applied = await bs.apply_state_changes(db, [change], {i.id: i for i in batch.contracts}, batch.customers,
                                               await routers_of(store), run_id=None, actor="billing", now=NOW)
    assert (applied.suspensions, applied.reconnections, applied.problems) == (1, 0, ())
    async with store.reader.execute("SELECT id, action, target, contract_ref, state FROM router_actions") as cur:
        assert await cur.fetchall() == [(applied.queued_actions[0], "suspend", "10.0.0.9", "K-1", "queued"),
                                        (applied.queued_actions[1], "clear-notice", "10.0.0.9", "K-1", "queued")]
    async with store.reader.execute("SELECT state, state_reason, state_changed_at FROM contracts") as cur:
        assert await cur.fetchone() == ("suspended", "Factura 1 vencida", "2026-12-20T12:00:00.000Z")
    async with store.reader.execute("SELECT action, entity_id, detail FROM audit_log WHERE entity = 'contract'") as cur:
        action, entity_id, detail = await cur.fetchone()
    assert (action, entity_id) == ("contract.suspended", str(contract))
    assert json.loads(detail)["days_overdue"] == 9 and json.loads(detail)["invoice_id"] == 1
    async with store.reader.execute("SELECT operation, payload, dedupe_key FROM outbox") as cur:
        operation, payload, key = await cur.fetchone()
    assert (operation, key) == ("contract.suspend", f"contract.suspend:{contract}:2026-12-20T12:00:00.000Z")
    assert json.loads(payload)["contract_id"] == contract and json.loads(payload)["reason"] == "Factura 1 vencida"

    # Paid before the router was reached: the reconnection supersedes what is still queued.
    back = bs.StateChange(contract, ContractState.SUSPENDED, ContractState.ACTIVE,
                          (standing.RouterAction.RECONNECT,), "Sin facturas vencidas")
    async with store.transaction() as db:
        batch = await load_one(store, customer)
        again = await bs.apply_state_changes(db, [back], {i.id: i for i in batch.contracts}, batch.customers,
                                             await routers_of(store), run_id=None, actor="billing",
                                             now=NOW + timedelta(hours=1))
    async with store.reader.execute("SELECT action, state FROM router_actions ORDER BY id") as cur:
        assert await cur.fetchall() == [("suspend", "superseded"), ("clear-notice", "superseded"),
                                        ("reconnect", "queued")]
    assert again.reconnections == 1


async def test_a_change_computed_from_a_stale_state_applies_nothing(store: Store) -> None:
    plan = await add_plan(store)
    customer = await add_customer(store, "C-1")
    contract = await add_contract(store, "K-1", customer, plan, date(2026, 12, 1), state="active")
    batch = await load_one(store, customer)
    change = bs.StateChange(contract, ContractState.GRACE, ContractState.NOTICE, (), "x")
    with pytest.raises(bs.BillingStoreError, match="nothing applied"):
        async with store.transaction() as db:
            await bs.apply_state_changes(db, [change], {i.id: i for i in batch.contracts}, batch.customers, {},
                                         run_id=None, actor="billing", now=NOW)
    assert await scalar(store, "SELECT state FROM contracts") == "active"


async def test_notices_are_not_queued_for_routers_without_a_notice_list(store: Store) -> None:
    async with store.transaction() as db:
        await db.execute("INSERT INTO routers (id, name, host, username) VALUES (1, 'r', '127.0.0.1', 'u')")
    plan = await add_plan(store)
    customer = await add_customer(store, "C-1")
    contract = await add_contract(store, "K-1", customer, plan, date(2026, 12, 1), router_id=1, target="10.0.0.9",
                                  state="grace")
    batch = await load_one(store, customer)
    change = bs.StateChange(contract, ContractState.GRACE, ContractState.NOTICE, (standing.RouterAction.NOTICE,), "x")
    async with store.transaction() as db:
        applied = await bs.apply_state_changes(db, [change], {i.id: i for i in batch.contracts}, batch.customers,
                                               await routers_of(store), run_id=None, actor="billing", now=NOW)
    assert applied.queued_actions == () and applied.problems == ()


# --- runs --------------------------------------------------------------------------------------


async def test_a_running_run_blocks_another_until_its_process_dies_or_it_goes_stale(store: Store) -> None:
    stale = timedelta(minutes=30)
    async with store.transaction() as db:
        first = await billing_runs.start_run(db, "billing", date(2026, 12, 1), NOW, stale_after=stale)
    with pytest.raises(billing_runs.RunBusyError, match="still running"):
        async with store.transaction() as db:
            await billing_runs.start_run(db, "cutoff", date(2026, 12, 1), NOW, stale_after=stale)
    # Its process died: a run left 'running' by a pid that no longer exists does not block.
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    async with store.transaction() as db:
        await db.execute("UPDATE billing_runs SET owner = ? WHERE id = ?",
                         (f"{billing_runs.process_owner().rpartition(':')[0]}:{gone.stdout.strip()}", first))
        second = await billing_runs.start_run(db, "cutoff", date(2026, 12, 1), NOW, stale_after=stale)
    # Another machine's run blocks until it is older than stale_after.
    async with store.transaction() as db:
        await db.execute("UPDATE billing_runs SET owner = 'elsewhere:1' WHERE id = ?", (second,))
    with pytest.raises(billing_runs.RunBusyError):
        async with store.transaction() as db:
            await billing_runs.start_run(db, "billing", date(2026, 12, 1), NOW + timedelta(minutes=29),
                                         stale_after=stale)
    async with store.transaction() as db:
        third = await billing_runs.start_run(db, "billing", date(2026, 12, 1), NOW + timedelta(minutes=31),
                                             stale_after=stale)
    runs = {run.id: run for run in await billing_runs.recent_runs(store.reader)}
    assert (runs[first].status, runs[second].status, runs[third].status) == ("failed", "failed", "running")
    assert "abandoned" in runs[first].errors[-1]
    tally = billing_runs.RunTally(invoices=3, errors=[f"e{n}" for n in range(billing_runs.MAX_RUN_ERRORS + 5)])
    async with store.transaction() as db:
        await billing_runs.finish_run(db, third, tally, failed=False, now=NOW + timedelta(minutes=32))
    (latest, *_) = await billing_runs.recent_runs(store.reader)
    assert (latest.status, latest.invoices, latest.errors[-1]) == ("done", 3, "… and 5 more")
    assert await billing_runs.last_successful_run(store.reader, "billing") == NOW + timedelta(minutes=31)
    assert await billing_runs.last_successful_run(store.reader, "cutoff") is None
