"""Billing benchmark: 100,000 contracts over 60,000 customers in a temporary store.

Prints the dry-run time, the billing-run time (target < 10 s) and the time to cut 10,000 customers
on the RouterOS test router over the real API protocol (target < 30 s).

    python bench/billing.py [--customers 60000] [--cut 10000]

Customers 1..40% have an internet and an alarm contract, the rest internet only, so 60,000 customers
hold 100,000 contracts. Every contract has one monthly period due on the billing date. For the cut,
every invoice but those of the first ``--cut`` customers is paid, and cutoffs run past the grace
days: each unpaid customer loses internet on the router (address-list) and alarm monitoring.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests package holds the router

from centinela.billing.worker import BillingWorker  # noqa: E402
from centinela.data.db import DB_FILENAME  # noqa: E402
from centinela.data.store import Store  # noqa: E402
from tests.fake_routeros import ADDRESS_LIST, FakeRouterOS  # noqa: E402

BILLING_DATE = date(2026, 12, 28)
USER, PASSWORD = "centinela", "bench"


def seed(database: Path, customers: int, router_port: int) -> int:
    """Customers, plans, one router and the contracts, written with plain sqlite3; returns contracts."""
    db = sqlite3.connect(database)
    with db:
        db.execute("INSERT INTO settings (key, value) VALUES ('billing.timezone', '\"UTC\"')")
        db.execute(
            "INSERT INTO routers (id, name, host, port, username, password, method, timeout)"
            " VALUES (1, 'bench', '127.0.0.1', ?, ?, ?, 'address-list', 30)",
            (router_port, USER, PASSWORD),
        )
        db.executemany(
            "INSERT INTO plans (id, name, service_kind, price, currency, tax_rate) VALUES (?, ?, ?, ?, 'USD', ?)",
            [(1, "Internet 10 Mbps", "internet", "19.90", None), (2, "Internet 30 Mbps", "internet", "29.90", "0.16"),
             (3, "Internet 100 Mbps", "internet", "49.90", "0.16"), (4, "Monitoreo", "alarm", "15.00", "0.16")],
        )
        db.executemany(
            "INSERT INTO customers (id, ref, name) VALUES (?, ?, ?)",
            ((n, f"C{n:06d}", f"Cliente {n}") for n in range(1, customers + 1)),
        )
        with_alarm = customers * 2 // 3
        rows = []
        for n in range(1, customers + 1):
            anchor = (n % 28) + 1
            start = BILLING_DATE.replace(day=anchor).isoformat()
            address = f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}"
            rows.append((f"I{n:06d}", n, "internet", (n % 3) + 1, anchor, start, start, 1, address))
            if n <= with_alarm:
                rows.append((f"A{n:06d}", n, "alarm", 4, anchor, start, start, None, None))
        db.executemany(
            "INSERT INTO contracts (ref, customer_id, service_kind, plan_id, anchor_day, current_period_start,"
            " start_date, router_id, router_target) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    db.close()
    return len(rows)


def pay_all_but(database: Path, unpaid: int) -> None:
    db = sqlite3.connect(database)
    with db:
        db.execute("UPDATE invoices SET residual = '0.00', state = 'paid' WHERE customer_id > ?", (unpaid,))
    db.close()


async def main(customers: int, cut: int) -> None:
    with tempfile.TemporaryDirectory() as folder, FakeRouterOS(username=USER, password=PASSWORD) as router:
        data_dir = Path(folder)
        await (await Store.open(data_dir)).close()  # creates and migrates; seeded with plain sqlite3
        contracts = seed(data_dir / DB_FILENAME, customers, router.port)
        print(f"{contracts:,} contracts over {customers:,} customers")

        store = await Store.open(data_dir)
        worker = BillingWorker(store)
        started = time.perf_counter()
        preview = await worker.run_billing(BILLING_DATE, dry_run=True)
        print(f"dry run:     {time.perf_counter() - started:6.2f} s  ({preview.invoice_count:,} invoices)")

        started = time.perf_counter()
        report = await worker.run_billing(BILLING_DATE)
        print(f"billing run: {time.perf_counter() - started:6.2f} s  ({report.invoice_count:,} invoices,"
              f" target < 10 s)")
        await store.close()

        pay_all_but(data_dir / DB_FILENAME, cut)
        store = await Store.open(data_dir)
        worker = BillingWorker(store)
        config = await worker.config()
        past_grace = BILLING_DATE + timedelta(
            days=config.settings.payment_terms_days + config.settings.default_grace_days + 1
        )
        started = time.perf_counter()
        cutoff = await worker.run_cutoffs(datetime.combine(past_grace, datetime.min.time(), UTC).replace(hour=12))
        elapsed = time.perf_counter() - started
        listed = sum(1 for row in router.rows(ADDRESS_LIST) if row["list"] == "morosos")
        print(f"cut:         {elapsed:6.2f} s  ({len(cutoff.suspensions):,} suspensions, {listed:,} addresses"
              f" listed on the router, {cutoff.router.done:,} router actions confirmed, target < 30 s)")
        await store.close()
        assert not router.errors, router.errors


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=60_000)
    parser.add_argument("--cut", type=int, default=10_000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.customers, arguments.cut))
