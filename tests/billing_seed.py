"""Billing test data written through the store with plain SQL, as an import or the console would."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from centinela.data.store import Store
from tests.fake_routeros import FakeRouterOS

ROUTER_USER, ROUTER_PASSWORD = "centinela", "s3cret"


async def add_plan(
    store: Store, name: str = "Internet 20 Mbps", price: str = "25.00", *, currency: str = "USD",
    service_kind: str = "internet", tax_rate: str | None = None, cycle: str = "monthly",
    billing_mode: str = "prepaid", grace_days: int | None = None,
) -> int:
    async with store.transaction() as db:
        cursor = await db.execute(
            "INSERT INTO plans (name, service_kind, price, currency, tax_rate, cycle, billing_mode, grace_days)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (name, service_kind, price, currency, tax_rate, cycle, billing_mode, grace_days),
        )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def add_customer(store: Store, ref: str, name: str | None = None) -> int:
    async with store.transaction() as db:
        cursor = await db.execute("INSERT INTO customers (ref, name) VALUES (?, ?)", (ref, name or f"Cliente {ref}"))
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def add_router(
    store: Store, fake: FakeRouterOS, name: str = "torre-norte", *, method: str = "address-list",
    notice_list: str | None = None, timeout: float = 2,
) -> int:
    async with store.transaction() as db:
        cursor = await db.execute(
            "INSERT INTO routers (name, host, port, username, password, method, notice_list, timeout)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (name, fake.host, fake.port, ROUTER_USER, ROUTER_PASSWORD, method, notice_list, timeout),
        )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def add_contract(
    store: Store, ref: str, customer_id: int, plan_id: int, start: date, *, service_kind: str = "internet",
    router_id: int | None = None, target: str | None = None, state: str = "active", grace_days: int | None = None,
    anchor_day: int | None = None, alarm_account_id: int | None = None,
) -> int:
    async with store.transaction() as db:
        cursor = await db.execute(
            "INSERT INTO contracts (ref, customer_id, service_kind, plan_id, anchor_day, current_period_start,"
            " start_date, grace_days, state, router_id, router_target, alarm_account_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (ref, customer_id, service_kind, plan_id, anchor_day or start.day, start.isoformat(), start.isoformat(),
             grace_days, state, router_id, target, alarm_account_id),
        )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def contract_state(store: Store, contract_id: int) -> str:
    async with store.reader.execute("SELECT state FROM contracts WHERE id = ?", (contract_id,)) as cur:
        (state,) = await cur.fetchone()
    return str(state)


async def invoices_of(store: Store, customer_id: int) -> list[tuple[str, str, Decimal, Decimal, str]]:
    """(number, invoice date, total, residual, state) of the customer's invoices, oldest first."""
    async with store.reader.execute(
        "SELECT number, invoice_date, total, residual, state FROM invoices WHERE customer_id = ? ORDER BY id",
        (customer_id,),
    ) as cur:
        return [(n, d, Decimal(t), Decimal(r), s) for n, d, t, r, s in await cur.fetchall()]


async def scalar(store: Store, sql: str, *params: object) -> object:
    async with store.reader.execute(sql, params) as cur:
        row = await cur.fetchone()
    return row[0] if row else None
