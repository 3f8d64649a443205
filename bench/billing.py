"""Billing benchmark: 100,000 contracts over 60,000 customers in a temporary store.

Prints the dry-run time, the billing-run time (target < 10 s) and the time to cut 10,000 customers
on RouterOS test routers over the real API protocol (target < 30 s).

    python bench/billing.py [--customers 60000] [--cut 10000] [--routers 1]

Two thirds of the customers have an internet and an alarm contract, the rest internet only, so
60,000 customers hold 100,000 contracts. Every contract has one monthly period due on the billing
date. For the cut, every invoice but those of the first ``--cut`` customers is paid, and cutoffs
run past the grace days: each unpaid customer loses internet (address-list) and alarm monitoring.
The cut is timed in its two parts, as a cutoff run does them: the decisions and store writes, then
the router actions, one API connection per router (``--routers`` spreads the customers over that
many test routers, like the towers of an ISP).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests package holds the router

from centinela.billing.worker import BillingWorker  # noqa: E402
from centinela.data.db import DB_FILENAME  # noqa: E402
from centinela.data.store import Store  # noqa: E402
from tests.fake_routeros import ADDRESS_LIST, FakeRouterOS  # noqa: E402

BILLING_DATE = date(2026, 12, 28)
USER, PASSWORD = "centinela", "bench"


def seed(database: Path, customers: int, router_ports: list[int]) -> int:
    """Customers, plans, routers and contracts, written with plain sqlite3; returns the contracts."""
    db = sqlite3.connect(database)
    with db:
        db.execute("INSERT INTO settings (key, value) VALUES ('billing.timezone', '\"UTC\"')")
        db.executemany(
            "INSERT INTO routers (id, name, host, port, username, password, method, timeout)"
            " VALUES (?, ?, '127.0.0.1', ?, ?, ?, 'address-list', 60)",
            [(n, f"torre-{n}", port, USER, PASSWORD) for n, port in enumerate(router_ports, start=1)],
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
            router = n % len(router_ports) + 1
            rows.append((f"I{n:06d}", n, "internet", (n % 3) + 1, anchor, start, start, router, address))
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


async def main(customers: int, cut: int, router_count: int) -> None:
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        routers = [stack.enter_context(FakeRouterOS(username=USER, password=PASSWORD)) for _ in range(router_count)]
        data_dir = Path(folder)
        await (await Store.open(data_dir)).close()  # creates and migrates; seeded with plain sqlite3
        contracts = seed(data_dir / DB_FILENAME, customers, [router.port for router in routers])
        print(f"{contracts:,} contracts over {customers:,} customers, {router_count} router(s)")

        store = await Store.open(data_dir)
        worker = BillingWorker(store)
        started = time.perf_counter()
        preview = await worker.run_billing(BILLING_DATE, dry_run=True)
        print(f"dry run:     {time.perf_counter() - started:6.2f} s  ({preview.invoice_count:,} invoices)")
        started = time.perf_counter()
        report = await worker.run_billing(BILLING_DATE)
        print(f"billing run: {time.perf_counter() - started:6.2f} s  ({report.invoice_count:,} invoices;"
              " target < 10 s)")
        await store.close()

        pay_all_but(data_dir / DB_FILENAME, cut)
        store = await Store.open(data_dir)
        worker = BillingWorker(store)
        settings = (await worker.config()).settings
        past_grace = BILLING_DATE + timedelta(days=settings.payment_terms_days + settings.default_grace_days + 1)
        now = datetime.combine(past_grace, datetime.min.time(), UTC).replace(hour=12)
        for router in routers:  # the routers answer once the decisions are stored: two timings
            router.refuse_connections = True
        started = time.perf_counter()
        cutoff = await worker.run_cutoffs(now)
        decided = time.perf_counter() - started
        for router in routers:
            router.refuse_connections = False
        started = time.perf_counter()
        sent = await worker.process_router_queue(now + timedelta(hours=1))
        applied = time.perf_counter() - started
        listed = sum(1 for router in routers for row in router.rows(ADDRESS_LIST) if row["list"] == "morosos")
        print(f"cut:         {decided + applied:6.2f} s  ({cut:,} customers, {len(cutoff.suspensions):,} contracts"
              " suspended; target < 30 s)")
        print(f"  decisions and store: {decided:6.2f} s")
        print(f"  router actions:      {applied:6.2f} s  ({sent.done:,} confirmed, {listed:,} addresses listed)")
        await store.close()
        assert all(not router.errors for router in routers)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=60_000)
    parser.add_argument("--cut", type=int, default=10_000)
    parser.add_argument("--routers", type=int, default=1)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.customers, arguments.cut, arguments.routers))
