"""The billing worker end to end: a real temporary store, librouteros against the RouterOS test
server on 127.0.0.1, and the router's address lists and PPP secrets asserted as the router keeps them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from centinela.billing.worker import BillingScheduler, BillingWorker, PaymentsInOdoo
from centinela.data import billing_runs
from centinela.data.settings import set_setting
from centinela.data.store import Store
from centinela.receiver.signal import Signal

from tests.billing_seed import (
    ROUTER_PASSWORD,
    ROUTER_USER,
    add_contract,
    add_customer,
    add_plan,
    add_router,
    contract_state,
    invoices_of,
    scalar,
)
from tests.fake_routeros import ADDRESS_LIST, PPP_ACTIVE, PPP_SECRET, FakeRouterOS

START = date(2026, 11, 1)
DUE = date(2026, 11, 11)  # payment terms 10 days
CUT_DAY = date(2026, 11, 17)  # grace 5 days: 12..16, notice the last 3 (14..16)


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True, slots=True)
class World:
    router_id: int
    ana: int  # internet + alarm monitoring
    beto: int  # internet only
    ana_internet: int
    ana_alarm: int
    beto_internet: int
    alarm_account: int


@pytest.fixture
def router() -> Iterator[FakeRouterOS]:
    with FakeRouterOS(username=ROUTER_USER, password=ROUTER_PASSWORD) as fake:
        yield fake
    assert fake.errors == []


async def utc_company(store: Store) -> None:
    async with store.transaction() as db:
        await set_setting(db, "billing.timezone", "UTC", "test")


async def make_world(store: Store, fake: FakeRouterOS, *, method: str = "address-list",
                     notice_list: str | None = None) -> World:
    await utc_company(store)
    router_id = await add_router(store, fake, method=method, notice_list=notice_list)
    internet = await add_plan(store, "Internet 20 Mbps", "25.00")
    alarm = await add_plan(store, "Monitoreo", "15.00", service_kind="alarm", tax_rate="0.18")
    ana, beto = await add_customer(store, "C-1", "Ana"), await add_customer(store, "C-2", "Beto")
    ana_target = "ana" if method == "ppp-secret" else "10.0.0.5"
    beto_target = "beto" if method == "ppp-secret" else "10.0.0.6"
    async with store.transaction() as db:
        cursor = await db.execute("INSERT INTO alarm_accounts (account_number, customer_id) VALUES ('1234', ?)", (ana,))
        account = cursor.lastrowid
    assert account is not None
    return World(
        router_id, ana, beto,
        await add_contract(store, "K-1", ana, internet, START, router_id=router_id, target=ana_target),
        await add_contract(store, "K-2", ana, alarm, START, service_kind="alarm", alarm_account_id=account),
        await add_contract(store, "K-3", beto, internet, START, router_id=router_id, target=beto_target),
        account,
    )


def listed(fake: FakeRouterOS, list_name: str = "morosos") -> dict[str, str | None]:
    return {row["address"]: row.get("comment") for row in fake.rows(ADDRESS_LIST) if row["list"] == list_name}


async def action_states(store: Store) -> list[tuple[str, str, str]]:
    async with store.reader.execute("SELECT action, target, state FROM router_actions ORDER BY id") as cur:
        return [(action, target, state) for action, target, state in await cur.fetchall()]


# --- billing -----------------------------------------------------------------------------------


async def test_a_run_bills_every_period_once_with_one_invoice_per_customer(store: Store, router: FakeRouterOS) -> None:
    world = await make_world(store, router)
    worker = BillingWorker(store)
    preview = await worker.run_billing(date(2026, 12, 1), dry_run=True)
    assert await scalar(store, "SELECT count(*) FROM invoices") == 0
    assert await scalar(store, "SELECT count(*) FROM billing_runs") == 0

    report = await worker.run_billing(date(2026, 12, 1))
    assert report.invoice_count == preview.invoice_count == 2
    # Ana: internet and alarm, November and December, on one invoice; alarm carries 18 % tax.
    (ana_invoice,) = await invoices_of(store, world.ana)
    assert ana_invoice[:4] == ("FAC-2026-000001", "2026-12-01", Decimal("85.40"), Decimal("85.40"))
    async with store.reader.execute(
        "SELECT contract_id, period_start, amount, tax FROM invoice_lines WHERE invoice_id = 1 ORDER BY id"
    ) as cur:
        assert await cur.fetchall() == [
            (world.ana_internet, "2026-11-01", "25.00", "0.00"), (world.ana_internet, "2026-12-01", "25.00", "0.00"),
            (world.ana_alarm, "2026-11-01", "15.00", "2.70"), (world.ana_alarm, "2026-12-01", "15.00", "2.70"),
        ]
    assert [draft.total for draft in preview.drafts] == [Decimal("85.40"), Decimal("50.00")]
    assert report.totals() == {"USD": Decimal("135.40")}

    again = await worker.run_billing(date(2026, 12, 1))
    assert again.invoice_count == 0
    assert await scalar(store, "SELECT count(*) FROM invoice_lines") == 6
    runs = await billing_runs.recent_runs(store.reader)
    assert [(run.kind, run.status, run.invoices) for run in runs] == [("billing", "done", 0), ("billing", "done", 2)]


async def test_an_interrupted_run_resumed_bills_the_rest_exactly_once(store: Store) -> None:
    await utc_company(store)
    plan = await add_plan(store)
    customers = [await add_customer(store, f"C-{n}") for n in range(6)]
    for n, customer in enumerate(customers):
        await add_contract(store, f"K-{n}", customer, plan, START)
    worker = BillingWorker(store, batch_customers=1)

    def stop_after_two(done: int, _total: int) -> None:
        if done == 2:
            task.cancel()

    task = asyncio.create_task(worker.run_billing(date(2026, 12, 1), progress=stop_after_two))
    with pytest.raises(asyncio.CancelledError):
        await task
    # The batch being written when it stopped was let commit: two customers are billed.
    resumed = await BillingWorker(store).run_billing(date(2026, 12, 1))
    assert resumed.invoice_count == 4
    async with store.reader.execute(
        "SELECT contract_id, period_start, count(*) FROM invoice_lines GROUP BY 1, 2 HAVING count(*) > 1"
    ) as cur:
        assert await cur.fetchall() == []
    assert await scalar(store, "SELECT count(*) FROM invoice_lines") == 12  # 6 contracts x Nov, Dec
    assert await scalar(store, "SELECT count(DISTINCT dedupe_key) FROM outbox") == 6
    resumed_run, interrupted = await billing_runs.recent_runs(store.reader)
    assert (interrupted.status, interrupted.invoices, interrupted.errors) == ("failed", 0, ("CancelledError",))
    assert (resumed_run.status, resumed_run.invoices) == ("done", 4)


# --- cutoffs -----------------------------------------------------------------------------------


async def test_grace_notice_then_cut_on_an_address_list_router(store: Store, router: FakeRouterOS) -> None:
    world = await make_world(store, router, notice_list="aviso")
    router.add_address_list_entry("morosos", "10.9.9.9", comment="puesto a mano")  # not ours
    worker = BillingWorker(store)
    await worker.run_billing(START)

    await worker.run_cutoffs(at(DUE))  # due today: still on time
    assert await contract_state(store, world.ana_internet) == "active"
    await worker.run_cutoffs(at(date(2026, 11, 12)))
    assert await contract_state(store, world.ana_internet) == "grace"
    await worker.run_cutoffs(at(date(2026, 11, 14)))
    assert await contract_state(store, world.ana_internet) == "notice"
    assert listed(router, "aviso") == {"10.0.0.5": "[centinela:K-1]", "10.0.0.6": "[centinela:K-3]"}

    report = await worker.run_cutoffs(at(CUT_DAY))
    assert sorted(item.contract.ref for item in report.suspensions) == ["K-1", "K-2", "K-3"]
    assert report.router.done == 4 and report.router.retrying == 0
    assert listed(router) == {"10.9.9.9": "puesto a mano", "10.0.0.5": "[centinela:K-1]",
                              "10.0.0.6": "[centinela:K-3]"}
    assert listed(router, "aviso") == {}
    assert await contract_state(store, world.ana_alarm) == "suspended"  # monitoring goes on, marked
    assert {state for _, _, state in await action_states(store)} == {"done"}

    async with store.reader.execute(
        "SELECT entity_id, detail FROM audit_log WHERE action = 'contract.suspended' ORDER BY entity_id"
    ) as cur:
        audited = [(int(entity), json.loads(detail)) for entity, detail in await cur.fetchall()]
    assert [entity for entity, _ in audited] == [world.ana_internet, world.ana_alarm, world.beto_internet]
    assert audited[0][1]["days_overdue"] == 6 and audited[0][1]["invoice_id"] == 1
    assert "Factura 1 vencida el 11/11/2026, hace 6 días" in audited[0][1]["reason"]
    async with store.reader.execute("SELECT count(*) FROM outbox WHERE operation = 'contract.suspend'") as cur:
        assert (await cur.fetchone())[0] == 3
    (cutoff, *_) = await billing_runs.recent_runs(store.reader)
    assert (cutoff.kind, cutoff.status, cutoff.suspensions) == ("cutoff", "done", 3)


async def test_a_cut_on_a_ppp_secret_router_disables_and_disconnects(store: Store, router: FakeRouterOS) -> None:
    router.add_secret("ana", password="x", comment="Ana, torre norte")
    router.add_secret("beto", password="y")
    router.add_active("ana", "10.0.0.5")
    world = await make_world(store, router, method="ppp-secret")
    clock = Clock(at(CUT_DAY))
    worker = BillingWorker(store, clock=clock)
    await worker.run_billing(START)
    await BillingWorker(store).register_payment(world.beto, Decimal("25.00"), "USD", DUE, actor="test")

    await worker.run_cutoffs(at(CUT_DAY))
    secrets = {row["name"]: row for row in router.rows(PPP_SECRET)}
    assert (secrets["ana"]["disabled"], secrets["ana"]["comment"]) == ("true", "[centinela:K-1] Ana, torre norte")
    assert secrets["beto"]["disabled"] == "false"  # paid on time
    assert router.rows(PPP_ACTIVE) == []

    clock.now = at(CUT_DAY, 15)
    paid = await worker.register_payment(world.ana, Decimal("42.70"), "USD", CUT_DAY, actor="test")
    assert sorted(item.contract.ref for item in paid.changes) == ["K-1", "K-2"]
    assert paid.router.done == 1
    secrets = {row["name"]: row for row in router.rows(PPP_SECRET)}
    assert (secrets["ana"]["disabled"], secrets["ana"]["comment"]) == ("false", "Ana, torre norte")


async def test_payment_reconnects_at_once_and_leaves_credit(store: Store, router: FakeRouterOS) -> None:
    world = await make_world(store, router)
    clock = Clock(at(CUT_DAY))
    worker = BillingWorker(store, clock=clock)
    await worker.run_billing(START)
    await worker.run_cutoffs(at(CUT_DAY))
    assert set(listed(router)) == {"10.0.0.5", "10.0.0.6"}

    clock.now = at(CUT_DAY, 18)
    report = await worker.register_payment(world.ana, Decimal("50.00"), "USD", CUT_DAY, reference="dep 123",
                                           actor="shell:ana")
    assert [(a.allocation.invoice_id, a.allocation.amount) for a in report.allocations] == [(1, Decimal("42.70"))]
    assert report.credit == Decimal("7.30")
    assert {item.contract.ref: str(item.change.new_state) for item in report.changes} == {"K-1": "active",
                                                                                         "K-2": "active"}
    assert set(listed(router)) == {"10.0.0.6"}
    assert await contract_state(store, world.ana_alarm) == "active"
    assert (await invoices_of(store, world.ana))[0][3:] == (Decimal("0.00"), "paid")
    async with store.reader.execute(
        "SELECT actor, detail FROM audit_log WHERE action = 'contract.active' AND entity_id = ?",
        (str(world.ana_internet),),
    ) as cur:
        actor, detail = await cur.fetchone()
    assert actor == "shell:ana" and json.loads(detail)["from"] == "suspended"
    assert await scalar(store, "SELECT count(*) FROM outbox WHERE operation = 'contract.reconnect'") == 2
    # With Odoo off, the payment is Centinela's own: nothing is queued for Odoo about it.
    assert await scalar(store, "SELECT count(*) FROM outbox WHERE operation LIKE 'payment%'") == 0

    # A partial payment of the other customer brings nothing back.
    partial = await worker.register_payment(world.beto, Decimal("10.00"), "USD", CUT_DAY, actor="test")
    assert partial.changes == () and "10.0.0.6" in listed(router)


async def test_payments_pulled_from_odoo_reconnect_at_once(store: Store, router: FakeRouterOS) -> None:
    world = await make_world(store, router)
    worker = BillingWorker(store, clock=Clock(at(CUT_DAY, 15)))
    await worker.run_billing(START)
    await worker.run_cutoffs(at(CUT_DAY))
    async with store.transaction() as db:  # as the Odoo pull writes a payment Odoo reconciled
        await db.execute("UPDATE invoices SET residual = '0.00', state = 'paid' WHERE customer_id = ?", (world.ana,))
        await db.execute("INSERT INTO payments (customer_id, amount, currency, paid_on, settled, odoo_id)"
                         " VALUES (?, '42.70', 'USD', '2026-11-17', 1, 9)", (world.ana,))
    changes = await worker.reconnect_paid([world.ana, world.beto])
    assert sorted(item.contract.ref for item in changes) == ["K-1", "K-2"]
    assert listed(router) == {"10.0.0.6": "[centinela:K-3]"}
    assert await scalar(store, "SELECT actor FROM audit_log WHERE action = 'contract.active' LIMIT 1") == "billing"


async def test_a_customer_who_paid_is_never_cut(store: Store, router: FakeRouterOS) -> None:
    world = await make_world(store, router)
    worker = BillingWorker(store, clock=Clock(at(date(2026, 11, 16))))
    await worker.run_billing(START)
    await worker.register_payment(world.ana, Decimal("42.70"), "USD", date(2026, 11, 16), actor="test")
    report = await worker.run_cutoffs(at(CUT_DAY))
    assert [item.contract.ref for item in report.suspensions] == ["K-3"]
    assert set(listed(router)) == {"10.0.0.6"}
    assert await contract_state(store, world.ana_internet) == "active"


async def test_payments_are_read_again_right_before_the_cut(store: Store, router: FakeRouterOS) -> None:
    world = await make_world(store, router)
    asked: list[list[int]] = []

    @dataclass(frozen=True)
    class Refreshed:
        fresh: bool = True
        error: str | None = None

    async def odoo_says_ana_paid(customer_ids: Sequence[int]) -> Refreshed:
        asked.append(list(customer_ids))
        # As the Odoo pull does: Odoo's residual, and the payment stored as settled.
        async with store.transaction() as db:
            await db.execute("UPDATE invoices SET residual = '0.00', state = 'paid' WHERE customer_id = ?",
                             (world.ana,))
            await db.execute("INSERT INTO payments (customer_id, amount, currency, paid_on, settled, odoo_id)"
                             " VALUES (?, '42.70', 'USD', '2026-11-16', 1, 501)", (world.ana,))
        return Refreshed()

    await BillingWorker(store).run_billing(START)
    report = await BillingWorker(store, refresh_payments=odoo_says_ana_paid).run_cutoffs(at(CUT_DAY))
    assert asked == [[world.ana, world.beto]]
    assert [item.contract.ref for item in report.suspensions] == ["K-3"]
    assert listed(router) == {"10.0.0.6": "[centinela:K-3]"}


async def test_no_cut_while_payments_cannot_be_refreshed(store: Store, router: FakeRouterOS) -> None:
    await make_world(store, router)

    @dataclass(frozen=True)
    class Blind:
        fresh: bool = False
        error: str | None = "Odoo unreachable"

    async def odoo_down(_: Sequence[int]) -> Blind:
        return Blind()

    await BillingWorker(store).run_billing(START)
    report = await BillingWorker(store, refresh_payments=odoo_down).run_cutoffs(at(CUT_DAY))
    assert report.suspensions == [] and listed(router) == {}
    assert any("Odoo unreachable" in problem for problem in report.problems)
    (run, *_) = await billing_runs.recent_runs(store.reader)
    assert run.status == "done" and "their cuts wait for the next run" in run.errors[0]
    later = await BillingWorker(store).run_cutoffs(at(CUT_DAY, 13))
    assert len(later.suspensions) == 3


async def test_an_unreachable_router_keeps_actions_queued_and_retries(store: Store, router: FakeRouterOS) -> None:
    world = await make_world(store, router)
    worker = BillingWorker(store)
    await worker.run_billing(START)
    router.refuse_connections = True
    report = await worker.run_cutoffs(at(CUT_DAY))
    assert (report.router.done, report.router.retrying) == (0, 2)
    assert await contract_state(store, world.ana_internet) == "suspended"
    async with store.reader.execute(
        "SELECT state, attempts, next_attempt_at, last_error, done_at FROM router_actions ORDER BY id"
    ) as cur:
        rows = await cur.fetchall()
    assert [(state, attempts, done) for state, attempts, _, _, done in rows] == [("queued", 1, None)] * 2
    assert all(next_at > "2026-11-17T12:00:00" and "connection" in error for _, _, next_at, error, _ in rows)

    connections = router.connections
    early = await worker.process_router_queue(at(CUT_DAY) + timedelta(seconds=1))
    assert early.done == early.retrying == 0 and router.connections == connections  # backoff: not yet

    router.refuse_connections = False
    later = await worker.process_router_queue(at(CUT_DAY) + timedelta(minutes=5))
    assert later.done == 2
    assert set(listed(router)) == {"10.0.0.5", "10.0.0.6"}
    assert [state for _, _, state in await action_states(store)] == ["done", "done"]


async def test_a_queued_cut_is_dropped_when_the_customer_pays_before_the_router_answers(
    store: Store, router: FakeRouterOS
) -> None:
    world = await make_world(store, router)
    clock = Clock(at(CUT_DAY))
    worker = BillingWorker(store, clock=clock)
    await worker.run_billing(START)
    router.refuse_connections = True
    await worker.run_cutoffs(at(CUT_DAY))
    router.refuse_connections = False
    clock.now = at(CUT_DAY, 13)
    await worker.register_payment(world.ana, Decimal("42.70"), "USD", CUT_DAY, actor="test")
    await worker.process_router_queue(at(CUT_DAY, 14))
    assert set(listed(router)) == {"10.0.0.6"}  # Ana was never cut on the router
    assert await action_states(store) == [("suspend", "10.0.0.5", "superseded"), ("suspend", "10.0.0.6", "done"),
                                          ("reconnect", "10.0.0.5", "done")]


async def test_alarm_contract_is_suspended_in_the_store_and_its_signals_marked(store: Store, router: FakeRouterOS) -> None:
    world = await make_world(store, router)
    worker = BillingWorker(store)
    await worker.run_billing(START)
    await worker.run_cutoffs(at(CUT_DAY))
    assert await contract_state(store, world.ana_alarm) == "suspended"
    (event,) = await store.record([Signal(protocol="ADM-CID", raw="1234|1130 01 003", account="1234",
                                          code="130", qualifier="1", zone="003")])
    assert event.service_suspended and event.customer_name == "Ana"


async def test_manual_holds_outrank_automatic_cutoffs(store: Store, router: FakeRouterOS) -> None:
    world = await make_world(store, router)
    clock = Clock(at(date(2026, 11, 10)))
    worker = BillingWorker(store, clock=clock)
    await worker.run_billing(START)
    await worker.register_payment(world.beto, Decimal("25.00"), "USD", date(2026, 11, 10), actor="test")

    # Beto paid, but an admin cuts him: automation must not reconnect him.
    cut = await worker.suspend_by_hand(world.beto_internet, actor="admin", note="fraude")
    assert cut is not None and "Suspensión manual (admin): fraude" in cut.change.reason
    assert "10.0.0.6" in listed(router)
    await worker.run_cutoffs(at(date(2026, 11, 12)))
    assert await contract_state(store, world.beto_internet) == "suspended"

    # Ana owes; an admin keeps her connected for 3 days (a promise to pay).
    clock.now = at(CUT_DAY)
    await worker.run_cutoffs(at(CUT_DAY))
    assert "10.0.0.5" in listed(router)
    await worker.reconnect_by_hand(world.ana_internet, actor="admin", note="promete pagar", keep_days=3)
    assert "10.0.0.5" not in listed(router)
    await worker.run_cutoffs(at(date(2026, 11, 20)))
    assert "10.0.0.5" not in listed(router)
    await worker.run_cutoffs(at(date(2026, 11, 21)))  # the hold ended on the 20th
    assert "10.0.0.5" in listed(router)


# --- reconciliation ----------------------------------------------------------------------------


async def test_reconcile_adds_missing_removes_stale_and_leaves_foreign_entries(store: Store, router: FakeRouterOS) -> None:
    world = await make_world(store, router)
    async with store.transaction() as db:
        await db.execute("UPDATE contracts SET state = 'suspended', state_reason = 'importado' WHERE id = ?",
                         (world.ana_internet,))
    router.add_address_list_entry("morosos", "10.9.9.9", comment="puesto a mano")
    router.add_address_list_entry("morosos", "10.0.0.77", comment="[centinela:K-OLD]")
    worker = BillingWorker(store)

    (preview,) = await worker.reconcile(dry_run=True)
    assert [(a.action, a.target) for a in preview.actions] == [("reconnect", "10.0.0.77"), ("suspend", "10.0.0.5")]
    assert set(listed(router)) == {"10.9.9.9", "10.0.0.77"}

    (done,) = await worker.reconcile()
    assert all(result.ok for result in done.results)
    assert listed(router) == {"10.9.9.9": "puesto a mano", "10.0.0.5": "[centinela:K-1]"}
    assert await action_states(store) == [("reconnect", "10.0.0.77", "done"), ("suspend", "10.0.0.5", "done")]
    (again,) = await worker.reconcile()
    assert again.actions == ()


async def test_reconcile_reports_an_unreachable_router(store: Store, router: FakeRouterOS) -> None:
    await make_world(store, router)
    router.refuse_connections = True
    (report,) = await BillingWorker(store).reconcile()
    assert report.error is not None and "torre-norte" in report.error


# --- runs and schedule -------------------------------------------------------------------------


async def test_two_runs_never_overlap(store: Store, router: FakeRouterOS) -> None:
    await make_world(store, router)
    await BillingWorker(store).run_billing(START)
    inside, release = asyncio.Event(), asyncio.Event()

    @dataclass(frozen=True)
    class Fresh:
        fresh: bool = True
        error: str | None = None

    async def slow_refresh(_: Sequence[int]) -> Fresh:
        inside.set()
        await release.wait()
        return Fresh()

    first = BillingWorker(store, refresh_payments=slow_refresh)
    running = asyncio.create_task(first.run_cutoffs(at(CUT_DAY)))
    await inside.wait()
    # Another process (another worker on the same store) is refused; this one waits its turn.
    with pytest.raises(billing_runs.RunBusyError, match="cutoff run started"):
        await BillingWorker(store).run_billing(date(2026, 12, 1))
    queued = asyncio.create_task(first.run_billing(date(2026, 12, 1)))
    await asyncio.sleep(0.05)
    assert not queued.done() and first.running
    release.set()
    await running
    assert (await queued).invoice_count == 2
    statuses = [(run.kind, run.status) for run in await billing_runs.recent_runs(store.reader)]
    assert statuses == [("billing", "done"), ("cutoff", "done"), ("billing", "done")]


async def test_the_scheduler_bills_daily_catches_up_and_runs_cutoffs(store: Store, router: FakeRouterOS) -> None:
    await make_world(store, router)
    async with store.transaction() as db:
        await set_setting(db, "billing.run_at", "06:00", "test")
        await set_setting(db, "billing.cutoff_every_minutes", 30, "test")
    clock = Clock(at(START, 7))
    scheduler = BillingScheduler(BillingWorker(store, clock=clock), idle=60)

    wait = await scheduler.tick()
    runs = await billing_runs.recent_runs(store.reader)
    assert [(run.kind, run.run_date) for run in reversed(runs)] == [("billing", START), ("cutoff", START)]
    assert wait == 60  # next cutoff in 30 min, next billing tomorrow: capped by idle

    clock.now = at(START, 7) + timedelta(minutes=10)
    await scheduler.tick()
    assert len(await billing_runs.recent_runs(store.reader)) == 2  # nothing due

    # Down from the 1st at 07:10 to the 3rd at 05:00: yesterday's 06:00 was missed.
    clock.now = at(date(2026, 11, 3), 5)
    await scheduler.tick()
    latest = await billing_runs.recent_runs(store.reader)
    assert [(run.kind, run.run_date) for run in latest[:2]] == [("cutoff", date(2026, 11, 3)),
                                                                ("billing", date(2026, 11, 2))]
    assert await scheduler.tick() == 60
    clock.now = at(date(2026, 11, 3), 6)
    await scheduler.tick()
    assert (await billing_runs.recent_runs(store.reader))[0].run_date == date(2026, 11, 3)


async def test_a_payment_typed_in_centinela_is_refused_while_odoo_keeps_the_payments(store: Store) -> None:
    """Odoo's pull would undo it and cut a paying customer again: it must be registered in Odoo."""

    async def odoo_on() -> bool:
        return True

    worker = BillingWorker(store, odoo_is_master=odoo_on)
    async with store.transaction() as db:
        cursor = await db.execute("INSERT INTO customers (ref, name) VALUES ('C-9', 'Ana')")
        customer_id = cursor.lastrowid
    assert customer_id is not None
    with pytest.raises(PaymentsInOdoo, match="register the payment in Odoo"):
        await worker.register_payment(customer_id, Decimal("10.00"), "USD", date(2026, 11, 20), actor="ana")
    assert await scalar(store, "SELECT count(*) FROM payments") == 0
