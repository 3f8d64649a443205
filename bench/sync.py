"""Odoo sync benchmark against the fake Odoo 18 (JSON-RPC over HTTP on 127.0.0.1) and a temporary store.

Prints, for a full pull of 50,000 partners and 100,000 contracts into an empty cache, an incremental
pull right after it, and a push of 10,000 invoices (one line each): wall time, HTTP requests to
Odoo (and the ORM calls among them), and how much of the time the test server spent answering.

    python bench/sync.py [--partners 50000] [--contracts 100000] [--invoices 10000] [--batch 2000]
                         [--push-batch 100] [--mapping centinela|oca]

The fake server is pure Python and scans its in-memory records on every search, so its share of
the time says little about a real Odoo; the rest is Centinela's (RPC client, JSON, SQLite writes).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests package holds the fake Odoo

from centinela.config import Config  # noqa: E402
from centinela.data.odoo_sync import SyncReport, SyncWorker  # noqa: E402
from centinela.data.store import Store  # noqa: E402
from tests.odoo_world import (  # noqa: E402
    LossyOdoo,
    add_invoice,
    company,
    configure,
    oca_contract,
    partner,
    queue_invoice,
    subscription,
)


class TimedOdoo(LossyOdoo):
    """The fake Odoo, adding up the time it spends serving requests."""

    def __init__(self) -> None:
        super().__init__()
        self.busy = 0.0
        self._busy_lock = threading.Lock()

    def _serve(self, handler: Any) -> None:
        started = time.perf_counter()
        try:
            super()._serve(handler)
        finally:
            with self._busy_lock:
                self.busy += time.perf_counter() - started


def seed(odoo: TimedOdoo, partners: int, contracts: int, mapping: str) -> None:
    odoo.seed("res.partner", (partner(n) for n in range(1, partners + 1)))
    if mapping == "oca":
        odoo.seed("contract.line", ({"id": n, "price_subtotal": 25.5, "is_canceled": False}
                                    for n in range(1, contracts + 1)))
        odoo.seed("contract.contract", (oca_contract(n, 1 + n % partners, [n]) for n in range(1, contracts + 1)))
    else:
        odoo.seed("centinela.subscription", (subscription(n, 1 + n % partners) for n in range(1, contracts + 1)))


def requests(calls: Counter[str]) -> int:
    """HTTP requests: every JSON-RPC request is counted once under its service method."""
    return sum(calls[name] for name in ("object.execute_kw", "object.execute", "common.login", "version_info", "json2"))


def orm_calls(calls: Counter[str]) -> str:
    skip = ("object.", "common.", "version_info", "json2")
    return ", ".join(f"{name} {count}" for name, count in sorted(calls.items()) if not name.startswith(skip))


async def measure(label: str, odoo: TimedOdoo, step: Any) -> SyncReport:
    odoo.reset_calls()
    odoo.busy = 0.0
    started = time.perf_counter()
    report: SyncReport = await step()
    wall = time.perf_counter() - started
    assert report.error is None, report.error
    print(f"{label}: {wall:.2f} s wall, {requests(odoo.calls)} HTTP requests "
          f"(test server busy {odoo.busy:.2f} s, Centinela {wall - odoo.busy:.2f} s)")
    print(f"    ORM calls: {orm_calls(odoo.calls)}")
    return report


async def main(args: argparse.Namespace) -> None:
    with TimedOdoo() as odoo, tempfile.TemporaryDirectory() as folder:
        company(odoo)
        seeding = time.perf_counter()
        seed(odoo, args.partners, args.contracts, args.mapping)
        print(f"seeded {args.partners:,} partners and {args.contracts:,} contracts ({args.mapping} mapping)"
              f" in {time.perf_counter() - seeding:.1f} s; batches of {args.batch}")
        data_dir = Path(folder) / "data"
        store = await Store.open(data_dir)
        try:
            await configure(store, odoo, mapping=args.mapping)
            worker = SyncWorker(store, Config(data_dir=data_dir), batch_size=args.batch, push_batch=args.push_batch,
                                overlap=timedelta(0))
            full = await measure("full pull", odoo, worker.sync_once)
            assert full.pulled is not None
            print(f"    pulled {full.pulled.customers:,} customers, {full.pulled.contracts:,} contracts")
            await measure("incremental pull, nothing changed", odoo, worker.sync_once)

            async with store.transaction() as db:
                async with db.execute("SELECT id, customer_id FROM contracts ORDER BY id LIMIT ?",
                                      (args.invoices,)) as cur:
                    contracts = list(await cur.fetchall())
                for n, (contract_id, customer_id) in enumerate(contracts, 1):
                    invoice = await add_invoice(db, f"FAC-2026-{n:06d}", customer_id, [(contract_id, "25.50", "0.18")])
                    await queue_invoice(db, invoice)
            pushed = await measure(f"push of {len(contracts):,} invoices (and an incremental pull)", odoo,
                                   worker.sync_once)
            print(f"    pushed {pushed.pushed:,}, parked {pushed.parked}; "
                  f"{len(odoo.records('account.move')):,} posted invoices in Odoo")
        finally:
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=50_000)
    parser.add_argument("--contracts", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=2000, help="records per search_read")
    parser.add_argument("--push-batch", type=int, default=100, help="outbox items per drain step")
    parser.add_argument("--mapping", choices=("centinela", "oca"), default="centinela")
    asyncio.run(main(parser.parse_args()))
