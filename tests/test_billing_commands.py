"""``centinela bill``, ``routers`` and ``payments`` as a user runs them: real processes on a
temporary data folder (seeded through the store), the RouterOS test server on 127.0.0.1."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from centinela.billing.worker import BillingWorker
from centinela.data.store import Store

from tests.billing_seed import ROUTER_PASSWORD, ROUTER_USER, add_contract, add_customer, add_plan, add_router
from tests.fake_routeros import ADDRESS_LIST, FakeRouterOS
from tests.helpers import centinela

# Started 40 days ago: the first invoice is past its grace today.
START = date.today() - timedelta(days=40)


@pytest.fixture
def router() -> Iterator[FakeRouterOS]:
    with FakeRouterOS(username=ROUTER_USER, password=ROUTER_PASSWORD) as fake:
        yield fake
    assert fake.errors == []


def run(data: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = centinela(*args, "--data-dir", str(data), env=env)
    return result.returncode, result.stdout, result.stderr


def query(data: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(data / "centinela.db") as db:
        return db.execute(sql).fetchall()


def listed(fake: FakeRouterOS) -> list[str]:
    return sorted(row["address"] for row in fake.rows(ADDRESS_LIST) if row["list"] == "morosos")


@dataclass(frozen=True, slots=True)
class Seeded:
    ana: int
    beto: int


async def seed(store: Store, fake: FakeRouterOS) -> Seeded:
    """Ana (internet + alarm, 18 % tax on the alarm) and Beto (internet, own price), from START."""
    router_id = await add_router(store, fake, "torre", notice_list="aviso")
    internet = await add_plan(store, "Internet 20 Mbps", "25.00")
    alarm = await add_plan(store, "Monitoreo", "15.00", service_kind="alarm", tax_rate="0.18")
    ana, beto = await add_customer(store, "C-1", "Ana Pérez"), await add_customer(store, "C-2", "Beto Ruiz")
    await add_contract(store, "K-1", ana, internet, START, router_id=router_id, target="10.0.0.5")
    await add_contract(store, "K-2", ana, alarm, START, service_kind="alarm")
    beto_contract = await add_contract(store, "K-3", beto, internet, START, router_id=router_id, target="10.0.0.6")
    async with store.transaction() as db:
        await db.execute("UPDATE contracts SET price = '19.90' WHERE id = ?", (beto_contract,))
    return Seeded(ana, beto)


# --- routers -----------------------------------------------------------------------------------


def test_routers_add_reads_the_password_from_the_environment_and_never_prints_it(
    tmp_path: Path, router: FakeRouterOS
) -> None:
    data = tmp_path / "data"
    code, out, err = run(data, "routers", "add", "torre", "--host", router.host, "--port", str(router.port),
                         "--user", ROUTER_USER, "--password-env", "ROUTER_PW", "--notice-list", "aviso",
                         env={"ROUTER_PW": ROUTER_PASSWORD})
    assert (code, out, err) == (0, f"router torre added ({router.host}:{router.port}, address-list)\n", "")
    code, out, _ = run(data, "routers", "add", "torre", "--host", "10.1.1.1", "--user", "admin", "--tls",
                       "--password-env", "ROUTER_PW", "--method", "ppp-secret", env={"ROUTER_PW": "n3w"})
    assert (code, out) == (0, "router torre updated (10.1.1.1:8729, ppp-secret)\n")
    assert query(data, "SELECT name, password, method, tls, notice_list FROM routers") == [
        ("torre", "n3w", "ppp-secret", 1, None)]
    code, listing, _ = run(data, "routers", "list", "--json")
    (row,) = [json.loads(line) for line in listing.splitlines()]
    assert (row["name"], row["port"], row["method"], row["contracts"]) == ("torre", 8729, "ppp-secret", 0)
    assert "password" not in row and "n3w" not in listing
    audit = query(data, "SELECT detail FROM audit_log WHERE action LIKE 'router.%'")
    assert len(audit) == 2 and all("n3w" not in detail and ROUTER_PASSWORD not in detail for (detail,) in audit)


def test_routers_add_refuses_a_missing_variable_and_bad_options(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, out, err = run(data, "routers", "add", "torre", "--host", "h", "--user", "u", "--password-env", "NOPE_PW")
    assert (code, out, err) == (2, "", "centinela: error: environment variable NOPE_PW is not set\n")
    code, _, err = run(data, "routers", "add", "torre", "--host", "h", "--user", "u", "--password-env", "PW",
                       "--method", "ppp-secret", "--notice-list", "aviso", env={"PW": "x"})
    assert code == 2 and err.count("\n") == 1 and "notices need the address-list method" in err


# --- bill --------------------------------------------------------------------------------------


async def test_bill_dry_run_json_shows_invoices_per_customer_and_cuts_and_changes_nothing(
    store: Store, data_dir: Path, router: FakeRouterOS
) -> None:
    await seed(store, router)
    await BillingWorker(store).run_billing(START)  # the first invoices: past their grace today
    later = START + timedelta(days=31)
    before = query(data_dir, "SELECT (SELECT count(*) FROM invoices), (SELECT count(*) FROM billing_runs),"
                             " (SELECT group_concat(state) FROM contracts)")

    code, out, err = run(data_dir, "bill", "--date", later.isoformat(), "--dry-run", "--json")
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert (report["dry_run"], report["date"], report["invoice_count"]) == (True, later.isoformat(), 2)
    ana, beto = report["invoices"]
    assert ana["customer"] == {"id": 1, "ref": "C-1", "name": "Ana Pérez"}
    assert [line["contract"] for line in ana["lines"]] == ["K-1", "K-2"]
    assert (ana["subtotal"], ana["tax"], ana["total"]) == ("40.00", "2.70", "42.70")
    assert beto["total"] == "19.90" and report["totals"] == {"USD": "62.60"}
    assert report["standing_date"] == date.today().isoformat()
    assert sorted(item["contract"] for item in report["suspensions"]) == ["K-1", "K-2", "K-3"]
    cut = next(item for item in report["suspensions"] if item["contract"] == "K-1")
    assert (cut["router"], cut["target"], cut["invoice_id"], cut["customer"]) == ("torre", "10.0.0.5", 1, "C-1")
    assert "Factura 1 vencida" in cut["reason"]
    after = query(data_dir, "SELECT (SELECT count(*) FROM invoices), (SELECT count(*) FROM billing_runs),"
                            " (SELECT group_concat(state) FROM contracts)")
    assert after == before and listed(router) == []


async def test_bill_posts_cuts_on_the_router_and_a_payment_reconnects(
    store: Store, data_dir: Path, router: FakeRouterOS
) -> None:
    await seed(store, router)
    code, out, err = run(data_dir, "bill", "--date", START.isoformat())
    assert (code, err) == (0, ""), out
    assert f"2 invoice(s) posted: USD 62.60\n  FAC-{START.year}-000001 .. FAC-{START.year}-000002" in out
    assert f"Suspensions as of {date.today()}: 3" in out and "Router actions: 2 confirmed" in out
    assert listed(router) == ["10.0.0.5", "10.0.0.6"]

    code, out, err = run(data_dir, "payments", "add", "--customer", "C-1", "--amount", "50", "--reference", "dep 9")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "payment 1: USD 50 from C-1 Ana Pérez",
        f"  paid 42.70 of FAC-{START.year}-000001",
        "  credit left: USD 7.30 (settles the next invoices)",
        "  K-1: suspended -> active",
        "  K-2: suspended -> active",
    ]
    assert listed(router) == ["10.0.0.6"]
    assert query(data_dir, "SELECT reference, settled FROM payments") == [("dep 9", 0)]


async def test_payments_add_refuses_unknown_customers_and_bad_amounts(
    store: Store, data_dir: Path, router: FakeRouterOS
) -> None:
    await seed(store, router)
    code, _, err = run(data_dir, "payments", "add", "--customer", "C-404", "--amount", "10")
    assert (code, err) == (2, "centinela: error: no customer with reference C-404\n")
    code, _, err = run(data_dir, "payments", "add", "--customer", "C-1", "--amount", "10.001")
    assert (code, err) == (2, "centinela: error: amount 10.001 has more decimals than USD allows\n")
    assert query(data_dir, "SELECT count(*) FROM payments") == [(0,)]


async def test_routers_reconcile_dry_run_lists_and_changes_nothing(
    store: Store, data_dir: Path, router: FakeRouterOS
) -> None:
    await seed(store, router)
    async with store.transaction() as db:
        await db.execute("UPDATE contracts SET state = 'suspended' WHERE ref = 'K-1'")
    router.add_address_list_entry("morosos", "10.0.0.99", comment="[centinela:K-OLD]")
    router.add_address_list_entry("morosos", "10.0.0.98", comment="a mano")
    code, out, _ = run(data_dir, "routers", "reconcile", "--dry-run")
    assert (code, out.splitlines()) == (0, ["torre: would make 2 change(s)", "  reconnect    10.0.0.99          K-OLD",
                                            "  suspend      10.0.0.5           K-1"])
    assert listed(router) == ["10.0.0.98", "10.0.0.99"]
    code, out, _ = run(data_dir, "routers", "reconcile")
    assert (code, out.splitlines()[0]) == (0, "torre: made 2 change(s)")
    assert listed(router) == ["10.0.0.5", "10.0.0.98"]
