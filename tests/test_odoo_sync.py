"""The Odoo sync against the fake Odoo over real HTTP and a real store: pulls (full, incremental,
each mapping, archived and deleted records), pushes through the outbox (invoices, suspensions,
alarm notes, technician tasks), outages, lost answers, parked items and the status figures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from centinela.billing.periods import Cycle
from centinela.config import Config
from centinela.data import alarm_actions, outbox
from centinela.data.odoo_gateway import OdooSettings, open_gateway
from centinela.data.odoo_mappings import CONTRACT_MAPS
from centinela.data.odoo_pull import (
    LocalContract,
    RemoteContract,
    derive_anchor_day,
    merged_period,
    merged_state,
)
from centinela.data.odoo_push import (
    dispatch_technician,
    enqueue_alarm_resolved,
)
from centinela.data.odoo_sync import (
    PaymentRefresh,
    SyncWorker,
    parked_items,
    read_sync_status,
    retry_parked,
)
from centinela.data.settings_rules import CONTRACT_MAPPINGS
from centinela.data.store import Store
from centinela.receiver.signal import Signal
from tests.fake_odoo import VALIDATION_ERROR
from tests.odoo_world import (
    API_KEY,
    SYNC_USER,
    LossyOdoo,
    add_invoice,
    company,
    configure,
    oca_contract,
    partner,
    queue_contract_change,
    queue_invoice,
    subscription,
    subscription_order,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=[pytest.param("18.0", id="odoo18-jsonrpc")])
def odoo(request: pytest.FixtureRequest) -> Iterator[LossyOdoo]:
    with LossyOdoo(version=request.param) as fake:
        yield company(fake)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def worker_for(store: Store, data_dir: Path, clock: Clock, **options: Any) -> SyncWorker:
    options.setdefault("batch_size", 10)
    options.setdefault("overlap", timedelta(0))
    return SyncWorker(store, Config(data_dir=data_dir), clock=clock, **options)


@pytest.fixture
async def synced(store: Store, data_dir: Path, odoo: LossyOdoo, clock: Clock) -> AsyncIterator[SyncWorker]:
    """A store configured for the fake Odoo, with 3 customers and 4 subscriptions pulled."""
    odoo.seed("res.partner", [partner(n) for n in range(1, 4)])
    odoo.seed("centinela.subscription", [subscription(n, partner_id=1 + n % 3) for n in range(1, 5)])
    await configure(store, odoo)
    worker = worker_for(store, data_dir, clock)
    report = await worker.sync_once()
    assert report.error is None
    yield worker


async def rows(store: Store, query: str, *params: Any) -> list[tuple[Any, ...]]:
    async with store.reader.execute(query, params) as cur:
        return [tuple(row) for row in await cur.fetchall()]


async def customer_of(store: Store, partner_id: int) -> int:
    (found,) = await rows(store, "SELECT id FROM customers WHERE odoo_id = ?", partner_id)
    return int(found[0])


async def contract_of(store: Store, odoo_id: int) -> int:
    (found,) = await rows(store, "SELECT id FROM contracts WHERE odoo_id = ?", odoo_id)
    return int(found[0])


def gateway(odoo: LossyOdoo) -> Any:
    return open_gateway(OdooSettings(odoo.url, odoo.database, SYNC_USER, API_KEY))


# -- pull ---------------------------------------------------------------------------------------------


async def test_full_pull_into_an_empty_cache_costs_calls_per_batch(
    store: Store, data_dir: Path, odoo: LossyOdoo, clock: Clock
) -> None:
    odoo.seed("res.partner", [partner(n) for n in range(1, 26)] + [partner(99, customer_rank=0, name="Proveedor")])
    odoo.seed("centinela.subscription", [subscription(n, partner_id=1 + n % 25) for n in range(1, 41)])
    await configure(store, odoo)
    odoo.reset_calls()

    report = await worker_for(store, data_dir, clock).sync_once()

    assert report.error is None and report.pulled is not None
    assert (report.pulled.customers, report.pulled.contracts) == (25, 40)
    # 25 partners in batches of 10: 3 calls; 40 subscriptions: 4 full batches and one that finds nothing more.
    assert odoo.calls["res.partner.search_read"] == 3
    assert odoo.calls["centinela.subscription.search_read"] == 5
    assert odoo.calls["res.partner.read"] == 0  # every contract's partner came with the customers
    assert await rows(store, "SELECT count(*), count(DISTINCT odoo_id) FROM customers") == [(25, 25)]
    (ana,) = await rows(store, "SELECT ref, name, tax_id, email, phone, mobile, address, city, notes, active"
                               " FROM customers WHERE odoo_id = 7")
    assert ana == ("C-00007", "Cliente 7", "20000000007", "cliente7@example.com", "01 0000007", "900000007",
                   "Av. Arequipa 7, Dpto 3", "Lima", "Cliente & amigo 7", 1)
    (contract,) = await rows(
        store, "SELECT c.odoo_model, c.ref, k.odoo_id, c.service_kind, c.price, c.currency, c.billing_cycle,"
               " c.anchor_day, c.current_period_start, c.current_period_end, c.grace_days, c.state, c.start_date,"
               " c.end_date FROM contracts c JOIN customers k ON k.id = c.customer_id WHERE c.odoo_id = 6")
    assert contract == ("centinela.subscription", "SUB-000006", 7, "internet", "25.50", "USD", "monthly", 1,
                        "2026-11-01", "2026-11-30", 5, "active", "2025-01-01", None)
    status = await read_sync_status(store)
    assert status.link == "connected" and status.last_success_at == NOW and status.server_version == "18.0"


async def test_incremental_pull_fetches_only_what_changed(
    synced: SyncWorker, store: Store, odoo: LossyOdoo
) -> None:
    contract = await contract_of(store, 2)
    async with store.transaction() as db:  # billing suspended it meanwhile: Centinela owns that state
        await db.execute("UPDATE contracts SET state = 'suspended' WHERE id = ?", (contract,))
    odoo.update("res.partner", [2], {"email": "nueva@example.com"})
    odoo.update("centinela.subscription", [2], {"price": 30.0, "grace_days": 7})
    odoo.reset_calls()

    report = await synced.sync_once()

    assert report.pulled is not None
    assert (report.pulled.customers, report.pulled.contracts, report.pulled.invoices) == (1, 1, 0)
    assert odoo.calls["res.partner.search_read"] == 1
    assert odoo.calls["centinela.subscription.search_read"] == 1
    assert await rows(store, "SELECT email FROM customers WHERE odoo_id = 2") == [("nueva@example.com",)]
    assert await rows(store, "SELECT price, grace_days, state FROM contracts WHERE id = ?", contract) == [
        ("30.00", 7, "suspended")
    ]
    odoo.reset_calls()
    assert (await synced.sync_once()).pulled.contracts == 0  # type: ignore[union-attr]
    assert odoo.calls["centinela.subscription.search_read"] == 1


async def test_overlap_rereads_recent_records_without_changing_them(
    synced: SyncWorker, store: Store, data_dir: Path, clock: Clock
) -> None:
    before = await rows(store, "SELECT * FROM contracts ORDER BY id")
    report = await worker_for(store, data_dir, clock, overlap=timedelta(hours=1)).sync_once()
    assert report.pulled is not None and report.pulled.contracts == 4  # the last hour, read again
    assert await rows(store, "SELECT * FROM contracts ORDER BY id") == before


async def test_a_contract_partner_not_yet_a_customer_is_read_with_it(
    store: Store, data_dir: Path, odoo: LossyOdoo, clock: Clock
) -> None:
    odoo.seed("res.partner", [partner(1, customer_rank=0)])  # no invoice yet: Odoo does not call it a customer
    odoo.seed("centinela.subscription", [subscription(1, partner_id=1)])
    await configure(store, odoo)
    report = await worker_for(store, data_dir, clock).sync_once()
    assert report.pulled is not None and report.pulled.customers == 0
    assert odoo.calls["res.partner.read"] == 1
    assert await rows(store, "SELECT k.name FROM contracts c JOIN customers k ON k.id = c.customer_id") == [
        ("Cliente 1",)
    ]


async def test_mapping_names_are_the_settings_choices() -> None:
    assert set(CONTRACT_MAPS) == set(CONTRACT_MAPPINGS)


async def test_oca_contracts(store: Store, data_dir: Path, odoo: LossyOdoo, clock: Clock) -> None:
    odoo.seed("res.partner", [partner(1), partner(2)])
    odoo.seed("contract.line", [
        {"id": 1, "price_subtotal": 40.0, "is_canceled": False},
        {"id": 2, "price_subtotal": 9.9, "is_canceled": False},
        {"id": 3, "price_subtotal": 100.0, "is_canceled": True},
        {"id": 4, "price_subtotal": 12.0, "is_canceled": False},
    ])
    odoo.seed("contract.contract", [
        oca_contract(1, 1, [1, 2, 3]),
        oca_contract(2, 2, [4], is_terminated=True),
        oca_contract(3, 2, [], contract_type="purchase"),  # a supplier's contract: not ours
        oca_contract(4, 1, [], recurring_rule_type="weekly"),
    ])
    await configure(store, odoo, mapping="oca")
    report = await worker_for(store, data_dir, clock).sync_once()
    assert report.pulled is not None and (report.pulled.contracts, report.pulled.unbillable) == (3, 1)
    assert odoo.calls["contract.line.read"] == 1  # one read for the lines of the whole batch
    assert await rows(
        store, "SELECT odoo_id, ref, price, currency, billing_cycle, anchor_day, current_period_start,"
               " current_period_end, state, service_kind FROM contracts WHERE odoo_model = 'contract.contract'"
               " ORDER BY odoo_id"
    ) == [
        (1, "CT-00001", "49.90", "PEN", "bimonthly", 5, "2026-12-05", "2027-02-04", "active", "internet"),
        (2, "CT-00002", "12.00", "PEN", "bimonthly", 5, "2026-12-05", "2027-02-04", "cancelled", "internet"),
        (4, "CT-00004", "0.00", "PEN", None, 5, "2026-12-05", None, "active", "internet"),
    ]


async def test_enterprise_subscriptions(store: Store, data_dir: Path, odoo: LossyOdoo, clock: Clock) -> None:
    odoo.seed("res.partner", [partner(1)])
    odoo.seed("sale.subscription.plan", [{"id": 1, "billing_period_value": 3, "billing_period_unit": "month"},
                                         {"id": 2, "billing_period_value": 1, "billing_period_unit": "year"}])
    odoo.seed("sale.order.line", [
        {"id": 1, "price_subtotal": 60.0, "recurring_invoice": True},
        {"id": 2, "price_subtotal": 150.0, "recurring_invoice": False},  # installation, billed once
        {"id": 3, "price_subtotal": 300.0, "recurring_invoice": True},
    ])
    odoo.seed("sale.order", [
        subscription_order(1, 1, 1, [1, 2]),
        subscription_order(2, 1, 2, [3], subscription_state="1_draft"),
        subscription_order(3, 1, 1, [], subscription_state="6_churn"),
        {"name": "S00004", "partner_id": [1, "Cliente 1"], "is_subscription": False, "order_line": []},
    ])
    await configure(store, odoo, mapping="enterprise")
    report = await worker_for(store, data_dir, clock).sync_once()
    assert report.pulled is not None and report.pulled.contracts == 3
    assert odoo.calls["sale.subscription.plan.read"] == 1
    assert await rows(
        store, "SELECT odoo_id, ref, price, billing_cycle, anchor_day, current_period_start, current_period_end,"
               " state FROM contracts WHERE odoo_model = 'sale.order' ORDER BY odoo_id"
    ) == [
        (1, "S00001", "60.00", "quarterly", 31, "2026-12-31", "2027-03-30", "active"),
        (2, "S00002", "300.00", "yearly", 31, "2026-12-31", "2027-12-30", "draft"),
        (3, "S00003", "0.00", "quarterly", 31, "2026-12-31", "2027-03-30", "cancelled"),
    ]


async def test_archived_and_deleted_records_are_detected(synced: SyncWorker, store: Store, odoo: LossyOdoo) -> None:
    odoo.update("res.partner", [2], {"active": False})
    odoo.update("centinela.subscription", [3], {"active": False})
    gateway(odoo).call("centinela.subscription", "unlink", [4])
    gateway(odoo).call("res.partner", "unlink", [3])

    report = await synced.sync_once(check_removed=True)

    assert report.pulled is not None and report.pulled.removed == 2
    assert await rows(store, "SELECT odoo_id, active FROM customers ORDER BY odoo_id") == [(1, 1), (2, 0), (3, 0)]
    assert await rows(store, "SELECT odoo_id, state, state_reason FROM contracts ORDER BY odoo_id") == [
        (1, "active", "odoo: active"), (2, "active", "odoo: active"),
        (3, "cancelled", "odoo: archived"), (4, "cancelled", "odoo: deleted"),
    ]
    assert await rows(store, "SELECT model, odoo_id, how FROM odoo_removed ORDER BY model, odoo_id") == [
        ("centinela.subscription", 3, "archived"), ("centinela.subscription", 4, "deleted"),
        ("res.partner", 2, "archived"), ("res.partner", 3, "deleted"),
    ]
    odoo.update("res.partner", [2], {"active": True})
    odoo.update("centinela.subscription", [3], {"active": True})
    await synced.sync_once()
    assert await rows(store, "SELECT active FROM customers WHERE odoo_id = 2") == [(1,)]
    assert await rows(store, "SELECT state FROM contracts WHERE odoo_id = 3") == [("active",)]
    assert await rows(store, "SELECT count(*) FROM odoo_removed WHERE how = 'archived'") == [(0,)]


async def test_removal_checks_run_when_due(synced: SyncWorker, odoo: LossyOdoo, clock: Clock) -> None:
    odoo.reset_calls()
    await synced.sync_once()
    assert odoo.calls["res.partner.search_read"] == 1  # the pull only; the first pull set the check time
    clock.now += timedelta(hours=2)
    await synced.sync_once()
    assert odoo.calls["res.partner.search_read"] == 3  # pull and removal check


async def test_a_server_without_optional_fields(store: Store, data_dir: Path, clock: Clock) -> None:
    with LossyOdoo(version="19.0") as fake:  # 18.2 removed res.partner.mobile
        company(fake)
        fake.add_model("res.partner", fields={name: "char" for name in (
            "name", "ref", "vat", "email", "phone", "street", "street2", "city", "comment", "customer_rank", "active")})
        fake.seed("res.partner", [{k: v for k, v in partner(1).items() if k != "mobile"}])
        await configure(store, fake)
        report = await worker_for(store, data_dir, clock).sync_once()
        assert report.error is None
        assert await rows(store, "SELECT name, mobile FROM customers") == [("Cliente 1", None)]


# -- pull, pure rules -----------------------------------------------------------------------------------


def test_odoo_decides_the_lifecycle_and_centinela_the_billing_state() -> None:
    assert merged_state("suspended", "active", archived=False) == "suspended"
    assert merged_state("grace", "active", archived=False) == "grace"
    assert merged_state("cancelled", "active", archived=False) == "active"
    assert merged_state(None, "draft", archived=False) == "draft"
    assert merged_state("suspended", "cancelled", archived=False) == "cancelled"
    assert merged_state("active", "active", archived=True) == "cancelled"


def remote(start: date | None, end: date | None = None, cycle: Cycle | None = Cycle.MONTHLY) -> RemoteContract:
    return RemoteContract(1, 1, "X", "active", False, Decimal(10), "USD", cycle, start, end)


def test_the_later_billing_cursor_wins() -> None:
    ours = LocalContract(1, "active", date(2026, 12, 1), 1)
    assert merged_period(ours, remote(date(2026, 11, 1))) == (date(2026, 12, 1), date(2026, 12, 31), 1)
    assert merged_period(ours, remote(date(2027, 2, 1))) == (date(2027, 2, 1), date(2027, 2, 28), 1)
    assert merged_period(None, remote(date(2026, 11, 15), date(2026, 11, 30))) == (
        date(2026, 11, 15), date(2026, 11, 30), 1)
    # A changed cycle moves our period's end.
    assert merged_period(ours, remote(None, cycle=Cycle.QUARTERLY)) == (date(2026, 12, 1), date(2027, 2, 28), 1)


def test_anchor_days_from_a_period() -> None:
    assert derive_anchor_day(date(2026, 3, 31), date(2026, 4, 29), Cycle.MONTHLY) == 31
    assert derive_anchor_day(date(2026, 11, 20), date(2026, 11, 30), Cycle.MONTHLY) == 1
    assert derive_anchor_day(date(2026, 11, 5), None, Cycle.MONTHLY) == 5


# -- push ---------------------------------------------------------------------------------------------


async def test_invoice_becomes_a_posted_out_invoice_with_a_line_per_contract(
    synced: SyncWorker, store: Store, odoo: LossyOdoo
) -> None:
    customer = await customer_of(store, 2)
    first, second = await contract_of(store, 1), await contract_of(store, 4)
    async with store.transaction() as db:
        invoice = await add_invoice(db, "FAC-2026-000001", customer, [(first, "25.50", "0.18"), (second, "10.00", None)])
        await queue_invoice(db, invoice)
        await queue_invoice(db, invoice)  # a resumed billing run queues nothing new
        await outbox.enqueue(db, "invoice.post", {"invoice_id": invoice})  # and a second item makes no second invoice

    report = await synced.sync_once()

    assert (report.pushed, report.parked, report.error) == (2, 0, None)
    (move,) = odoo.records("account.move")
    assert {k: move[k] for k in ("move_type", "partner_id", "ref", "payment_reference", "invoice_date",
                                  "invoice_date_due", "currency_id", "state", "amount_total")} == {
        "move_type": "out_invoice", "partner_id": 2, "ref": "FAC-2026-000001", "payment_reference": "FAC-2026-000001",
        "invoice_date": "2026-11-01", "invoice_date_due": "2026-11-11", "currency_id": 1, "state": "posted",
        "amount_total": 40.09,
    }
    assert [(line["price_unit"], line["tax_ids"]) for _, _, line in move["invoice_line_ids"]] == [
        (25.5, [[6, 0, [2]]]), (10.0, [[6, 0, []]]),  # the sale tax of 18%, not the purchase one
    ]
    assert await rows(store, "SELECT odoo_id, state, residual FROM invoices") == [(move["id"], "posted", "40.09")]
    assert await rows(store, "SELECT state FROM outbox") == [("done",), ("done",)]


async def test_an_invoice_whose_answer_was_lost_is_created_once(
    synced: SyncWorker, store: Store, odoo: LossyOdoo, clock: Clock
) -> None:
    customer = await customer_of(store, 1)
    contract = await contract_of(store, 3)
    async with store.transaction() as db:
        for n in range(1, 4):
            await queue_invoice(db, await add_invoice(db, f"FAC-{n}", customer, [(contract, "25.50", None)], month=n))
    odoo.lose("account.move.create")
    odoo.lose("account.move.action_post")

    first = await synced.sync_once()
    assert first.pushed == 0 and first.error is not None
    assert [m["state"] for m in odoo.records("account.move")] == ["draft"] * 3  # Odoo did create them
    assert await rows(store, "SELECT state, attempts FROM outbox ORDER BY id") == [("pending", 1)] + [("pending", 0)] * 2

    clock.now += timedelta(seconds=5)
    second = await synced.sync_once()  # posting's answer is lost now
    assert second.pushed == 0 and [m["state"] for m in odoo.records("account.move")] == ["posted"] * 3
    clock.now += timedelta(seconds=10)
    third = await synced.sync_once()

    assert (third.pushed, third.error) == (3, None)
    assert sorted(m["ref"] for m in odoo.records("account.move")) == ["FAC-1", "FAC-2", "FAC-3"]
    assert await rows(store, "SELECT count(*) FROM invoices WHERE odoo_id IS NOT NULL") == [(3,)]


async def test_outage_mid_sync_loses_and_duplicates_nothing(
    store: Store, data_dir: Path, odoo: LossyOdoo, clock: Clock
) -> None:
    odoo.seed("res.partner", [partner(n) for n in range(1, 36)])
    await configure(store, odoo)
    worker = worker_for(store, data_dir, clock)
    await worker.sync_once()
    odoo.update("res.partner", range(1, 36), {"city": "Cusco"})
    odoo.lose("res.partner.search_read", after=2)  # the link drops on the third batch

    interrupted = await worker.sync_once()
    assert interrupted.error is not None and interrupted.pulled is None
    assert await rows(store, "SELECT count(*) FROM customers WHERE city = 'Cusco'") == [(20,)]
    odoo.stop()  # and Odoo goes down for a while
    down = await worker.sync_once()
    assert down.error is not None and worker.status.link == "unreachable"
    odoo.start()
    odoo.reset_calls()
    resumed = await worker.sync_once()

    assert resumed.error is None and resumed.pulled is not None and resumed.pulled.customers == 15
    assert odoo.calls["res.partner.search_read"] == 2  # only the batches not yet applied
    assert await rows(store, "SELECT count(*), count(DISTINCT odoo_id), sum(city = 'Cusco') FROM customers") == [
        (35, 35, 35)
    ]


async def test_pushes_back_off_while_odoo_is_down_and_drain_in_order_when_it_returns(
    synced: SyncWorker, store: Store, odoo: LossyOdoo, clock: Clock
) -> None:
    contract = await contract_of(store, 2)
    async with store.transaction() as db:
        await queue_contract_change(db, contract, "suspend", "Factura FAC-1 vencida", NOW)
        await queue_contract_change(db, contract, "reconnect", "Pago recibido", NOW + timedelta(minutes=1))
    odoo.stop()
    try:
        await synced.sync_once()
        clock.now += timedelta(seconds=1)
        await synced.sync_once()  # the head waits its backoff: no new attempt yet
        assert await rows(store, "SELECT attempts, next_attempt_at FROM outbox ORDER BY id") == [
            (1, "2026-11-29T12:00:05.000Z"), (0, None)]
        clock.now += timedelta(seconds=5)
        await synced.sync_once()
        assert await rows(store, "SELECT attempts, next_attempt_at FROM outbox ORDER BY id") == [
            (2, "2026-11-29T12:00:16.000Z"), (0, None)]
        status = await read_sync_status(store)
        assert (status.link, status.pending, status.parked) == ("unreachable", 2, 0)
        assert status.last_error and "12:00" not in status.last_error
    finally:
        odoo.start()
    clock.now += timedelta(seconds=1)  # before the backoff ends: Odoo answering is enough to retry
    report = await synced.sync_once()
    assert (report.pushed, report.error) == (2, None)
    record = odoo.record("centinela.subscription", 2)
    assert record["state"] == "active"
    notes = [message["body"] for message in odoo.chatter("centinela.subscription", 2)]
    assert len(notes) == 2
    assert notes[0].startswith("Servicio suspendido por Centinela") and notes[0].endswith("Factura FAC-1 vencida")
    assert notes[1].startswith("Servicio reconectado por Centinela") and notes[1].endswith("Pago recibido")
    assert (await read_sync_status(store)).link == "connected"


@pytest.mark.parametrize(("mapping", "model", "suspended", "reconnected"), [
    ("centinela", "centinela.subscription", "suspended", "active"),
    ("enterprise", "sale.order", "4_paused", "3_progress"),
    ("oca", "contract.contract", None, None),  # no service-state field: the chatter only
])
async def test_suspension_is_written_per_mapping(
    store: Store, data_dir: Path, odoo: LossyOdoo, clock: Clock, mapping: str, model: str,
    suspended: str | None, reconnected: str | None,
) -> None:
    odoo.seed("res.partner", [partner(1)])
    odoo.seed("sale.subscription.plan", [{"id": 1, "billing_period_value": 1, "billing_period_unit": "month"}])
    record = {"centinela": subscription(1, 1), "enterprise": subscription_order(1, 1, 1, []),
              "oca": oca_contract(1, 1, [])}[mapping]
    (odoo_id,) = odoo.seed(model, [record])
    await configure(store, odoo, mapping=mapping)
    worker = worker_for(store, data_dir, clock)
    await worker.sync_once()
    contract = await contract_of(store, odoo_id)
    state_field = CONTRACT_MAPS[mapping].state_field

    async with store.transaction() as db:
        await queue_contract_change(db, contract, "suspend", "Deuda de 2 meses", NOW)
    await worker.sync_once()
    if state_field:
        assert odoo.record(model, odoo_id)[state_field] == suspended
    async with store.transaction() as db:
        await queue_contract_change(db, contract, "reconnect", "Pagó", NOW + timedelta(days=1))
    await worker.sync_once()

    if state_field:
        assert odoo.record(model, odoo_id)[state_field] == reconnected
    assert [m["body"].rsplit(": ", 1)[1] for m in odoo.chatter(model, odoo_id)] == ["Deuda de 2 meses", "Pagó"]
    assert await rows(store, "SELECT state FROM contracts WHERE id = ?", contract) == [("active",)]


async def test_a_rejected_invoice_is_parked_without_blocking_the_others(
    synced: SyncWorker, store: Store, odoo: LossyOdoo
) -> None:
    refused = {"FAC-2"}
    odoo.add_constraint("account.move", lambda move: "Falta el diario de ventas" if move.get("ref") in refused
                        else None)
    customer = await customer_of(store, 1)
    contract = await contract_of(store, 3)
    async with store.transaction() as db:
        for n in range(1, 4):
            await queue_invoice(db, await add_invoice(db, f"FAC-{n}", customer, [(contract, "25.50", None)], month=n))
        await queue_contract_change(db, contract, "suspend", "Deuda", NOW)
        # A customer created in Centinela only (the demo's, say) has no partner to invoice.
        local = (await db.execute("INSERT INTO customers (name) VALUES ('Local')")).lastrowid
        assert local is not None
        await queue_invoice(db, await add_invoice(db, "FAC-9", local, [(contract, "1.00", None)], month=9))

    report = await synced.sync_once()

    assert (report.pushed, report.parked) == (3, 2)
    assert sorted(m["ref"] for m in odoo.records("account.move")) == ["FAC-1", "FAC-3"]
    assert odoo.record("centinela.subscription", 3)["state"] == "suspended"
    parked, local_only = await parked_items(store.reader)
    assert parked.operation == "invoice.post" and parked.error is not None
    assert parked.error.startswith(VALIDATION_ERROR) and "Falta el diario de ventas" in parked.error
    assert local_only.error == "invoice FAC-9: its customer is not linked to an Odoo partner"
    status = await read_sync_status(store)
    assert (status.pending, status.parked, status.bar) == (0, 2, ("backlog", 2))

    refused.clear()  # an admin fixed it in Odoo
    async with store.transaction() as db:
        await retry_parked(db, parked.id, "admin")
        with pytest.raises(LookupError, match="not parked"):
            await retry_parked(db, parked.id, "admin")
    assert (await synced.sync_once()).pushed == 1
    assert sorted(m["ref"] for m in odoo.records("account.move")) == ["FAC-1", "FAC-2", "FAC-3"]
    assert await rows(store, "SELECT action, entity_id FROM audit_log WHERE action = 'outbox.requeue'") == [
        ("outbox.requeue", str(parked.id))]


async def test_an_invoice_odoo_cannot_take_is_parked_with_the_reason(
    synced: SyncWorker, store: Store, odoo: LossyOdoo
) -> None:
    customer = await customer_of(store, 1)
    contract = await contract_of(store, 3)
    async with store.transaction() as db:
        await queue_invoice(db, await add_invoice(db, "FAC-1", customer, [(contract, "10.00", "0.21")]))
        await queue_invoice(db, await add_invoice(db, "FAC-2", customer, [(contract, "10.00", None)], "EUR", month=2))
    report = await synced.sync_once()
    assert report.parked == 2
    assert [item.error for item in await parked_items(store.reader)] == [
        "invoice FAC-1: Odoo has no sale tax of 21%", "invoice FAC-2: currency EUR is not in Odoo"]


async def test_resolved_alarm_is_posted_to_the_customer(synced: SyncWorker, store: Store, odoo: LossyOdoo) -> None:
    customer = await customer_of(store, 1)
    async with store.transaction() as db:
        await db.execute("INSERT INTO alarm_accounts (account_number, customer_id, location) VALUES ('1234', ?, ?)",
                         (customer, "Av. Arequipa 1"))
    (event,) = await store.record([Signal(protocol="ADM-CID", raw="1234|1130", account="1234", code="130",
                                          qualifier="1", zone="003")])
    await store.apply(partial(alarm_actions.add_note, event_id=event.id, operator="ana", note="Cliente no contesta"))

    async def resolve(db: Any) -> Any:
        resolved = await alarm_actions.resolve(db, event.id, "ana", "false-alarm", "Gato en la sala")
        assert await enqueue_alarm_resolved(db, event.id) is not None
        return resolved

    await store.apply(resolve)
    report = await synced.sync_once()

    assert report.pushed == 1
    (note,) = odoo.chatter("res.partner", 1)
    assert note["message_type"] == "comment" and note["subtype_xmlid"] == "mail.mt_note"
    body = note["body"]
    assert body.startswith("Alarma atendida en Centinela: cuenta 1234 · 130 ")
    assert "Z003" in body and "por ana" in body and "Falsa alarma: Gato en la sala" in body
    assert body.endswith("notas: Cliente no contesta")


async def test_dispatching_a_technician_creates_one_fsm_task(
    synced: SyncWorker, store: Store, odoo: LossyOdoo, clock: Clock
) -> None:
    customer = await customer_of(store, 3)
    async with store.transaction() as db:
        await db.execute(
            "INSERT INTO alarm_accounts (account_number, customer_id, location, latitude, longitude, instructions)"
            " VALUES ('BEEF', ?, 'Jr. Puno 455, Lima', -12.05, -77.03, 'Llamar antes de ir')", (customer,))
    (event,) = await store.record([Signal(protocol="ADM-CID", raw="BEEF|1373", account="BEEF", code="373",
                                          qualifier="1", zone="007")])
    await store.apply(partial(dispatch_technician, event_id=event.id, operator="ana", notes="Detector sucio"))
    odoo.lose("project.task.create")

    assert (await synced.sync_once()).pushed == 0
    clock.now += timedelta(seconds=5)
    assert (await synced.sync_once()).pushed == 1

    (task,) = odoo.records("project.task")
    assert task["project_id"] == 1 and task["partner_id"] == 3
    assert task["name"].startswith("Técnico: Cliente 3 — 373 ")
    for text in ("BEEF", "Jr. Puno 455, Lima, -12.05, -77.03", "Llamar antes de ir", "Detector sucio", "ana"):
        assert text in task["description"]
    log = await alarm_actions.action_log(store.reader, event.id)
    assert [(entry.action, entry.note) for entry in log] == [("note", "Técnico solicitado en Odoo: Detector sucio")]


async def test_dispatch_without_a_project_is_parked(
    store: Store, data_dir: Path, odoo: LossyOdoo, clock: Clock
) -> None:
    await configure(store, odoo, fsm_project="Campo")
    (event,) = await store.record([Signal(protocol="ADM-CID", raw="1|1130", account="1", code="130")])
    await store.apply(partial(dispatch_technician, event_id=event.id, operator="ana", notes=""))
    await worker_for(store, data_dir, clock).sync_once()
    assert [item.error for item in await parked_items(store.reader)] == [
        "Odoo has no project 'Campo' (odoo.fsm_project)"]


# -- payments and status ---------------------------------------------------------------------------------


async def test_refresh_payments_before_a_cut(synced: SyncWorker, store: Store, odoo: LossyOdoo) -> None:
    customer = await customer_of(store, 1)
    contract = await contract_of(store, 3)
    async with store.transaction() as db:
        for n in (1, 2):
            await queue_invoice(db, await add_invoice(db, f"FAC-{n}", customer, [(contract, "25.50", None)], month=n))
    await synced.sync_once()
    first, second = (m["id"] for m in odoo.records("account.move"))
    # In Odoo: the first invoice is paid, the second half paid.
    odoo.update("account.move", [first], {"payment_state": "paid", "amount_residual": 0.0})
    odoo.update("account.move", [second], {"payment_state": "partial", "amount_residual": 12.75})
    odoo.seed("account.payment", [
        {"partner_id": [1, "Cliente 1"], "amount": 38.25, "currency_id": [1, "USD"], "date": "2026-11-20",
         "state": "paid", "payment_type": "inbound", "partner_type": "customer", "journal_id": [7, "Banco"],
         "memo": "Op. 4481", "name": "PBNK1/2026/0001"},
        {"partner_id": [1, "Cliente 1"], "amount": 5.0, "currency_id": [1, "USD"], "date": "2026-11-21",
         "state": "canceled", "payment_type": "inbound", "partner_type": "customer", "journal_id": [7, "Banco"],
         "name": "PBNK1/2026/0002"},
    ])
    odoo.reset_calls()

    refreshed = await synced.refresh_payments([customer])

    assert (refreshed.fresh, refreshed.invoices, refreshed.payments, refreshed.error) == (True, 2, 2, None)
    assert odoo.calls["account.move.search_read"] == 1 and odoo.calls["account.payment.search_read"] == 1
    assert await rows(store, "SELECT number, state, residual FROM invoices ORDER BY number") == [
        ("FAC-1", "paid", "0.00"), ("FAC-2", "posted", "12.75")]
    assert await rows(store, "SELECT customer_id, amount, currency, paid_on, method, reference, settled FROM payments") \
        == [(customer, "38.25", "USD", "2026-11-20", "Banco", "Op. 4481", 1)]

    odoo.stop()
    try:
        down = await synced.refresh_payments([customer])
    finally:
        odoo.start()
    assert not down.fresh and down.error


async def test_incremental_pull_keeps_pushed_invoices_and_payments_current(
    synced: SyncWorker, store: Store, odoo: LossyOdoo
) -> None:
    customer = await customer_of(store, 2)
    async with store.transaction() as db:
        await queue_invoice(db, await add_invoice(db, "FAC-7", customer, [(await contract_of(store, 1), "9.99", None)]))
    await synced.sync_once()
    (move,) = odoo.records("account.move")
    odoo.update("account.move", [move["id"]], {"state": "cancel"})
    report = await synced.sync_once()
    assert report.pulled is not None and report.pulled.invoices == 1
    assert await rows(store, "SELECT state FROM invoices") == [("cancelled",)]


async def test_status_when_odoo_is_off_or_misconfigured(store: Store, data_dir: Path, odoo: LossyOdoo, clock: Clock) -> None:
    worker = worker_for(store, data_dir, clock)
    report = await worker.sync_once()
    assert report.error == "Odoo sync is disabled (odoo.enabled)" and worker.status.link == "off"
    assert worker.status.bar == ("off", 0)
    # Without Odoo the store is the only record of payments: billing may cut on it.
    assert await worker.refresh_payments([1]) == PaymentRefresh(True, False, error=report.error)
    await configure(store, odoo)
    async with store.transaction() as db:
        await db.execute("UPDATE settings SET value = ? WHERE key = 'odoo.secret'", (json.dumps("wrong"),))
    report = await worker.sync_once()
    refused = worker.status
    assert refused.link == "refused" and report.error is not None and refused.bar == ("down", 0)
    assert not (await worker.refresh_payments([1])).fresh
    with worker.status_hub.subscribe() as updates:
        await configure(store, odoo)
        await worker.sync_once()
        assert updates.drain()[-1].link == "connected"
    assert (await read_sync_status(store)).last_error is None


async def test_odoo_19_over_json2(store: Store, data_dir: Path, clock: Clock) -> None:
    with LossyOdoo(version="19.0") as fake:
        company(fake)
        fake.seed("res.partner", [partner(1)])
        fake.seed("centinela.subscription", [subscription(1, 1)])
        await configure(store, fake)
        worker = worker_for(store, data_dir, clock)
        assert (await worker.sync_once()).error is None
        contract = await contract_of(store, 1)
        async with store.transaction() as db:
            await queue_invoice(db, await add_invoice(db, "FAC-1", await customer_of(store, 1),
                                                        [(contract, "25.50", "0.08")]))
            await queue_contract_change(db, contract, "suspend", "Deuda", NOW)
        report = await worker.sync_once()
        assert (report.pushed, report.error) == (2, None)
        assert fake.calls["json2"] > 0 and fake.calls["object.execute_kw"] == 0
        assert [(m["state"], m["amount_total"]) for m in fake.records("account.move")] == [("posted", 27.54)]
        assert fake.record("centinela.subscription", 1)["state"] == "suspended"
        assert worker.status.server_version == "19.0"


async def test_run_syncs_until_cancelled_and_one_process_syncs_a_folder(
    synced: SyncWorker, store: Store, data_dir: Path, odoo: LossyOdoo, clock: Clock
) -> None:
    first = worker_for(store, data_dir, clock, interval=30)
    second = worker_for(store, data_dir, clock, interval=0.05)
    reports: list[Any] = []
    running = asyncio.create_task(first.run(reports.append))
    standing_by = asyncio.create_task(second.run())
    try:
        for _ in range(100):
            if reports and second.status.link == "standby":
                break
            await asyncio.sleep(0.02)
        assert len(reports) == 1 and reports[0].error is None
        assert second.status.last_error and "another process syncs" in second.status.last_error
        odoo.update("res.partner", [1], {"city": "Arequipa"})
        first.wake()  # e.g. right after a billing run
        for _ in range(100):
            if len(reports) == 2:
                break
            await asyncio.sleep(0.02)
        assert reports[1].pulled.customers == 1
    finally:
        running.cancel()
        standing_by.cancel()
        await asyncio.gather(running, standing_by, return_exceptions=True)
    assert not first.lock.held
