"""``centinela import customers|contracts FILE.csv`` as a user runs it: the validation report with
line numbers, nothing imported while a line is invalid (unless ``--skip-invalid``), and re-imports
that update rather than duplicate."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

from centinela.data.store import Store

from tests.billing_seed import add_contract, add_customer, add_plan
from tests.helpers import centinela

CUSTOMERS = """ref;name;email;phone
C-1;Ana Pérez;ana@example.com;999 111 222
C-2;Beto Ruiz;;
"""
CONTRACTS = """ref,customer_ref,service,plan,price,currency,tax_rate,start_date,next_period_start,router,target,alarm_account
K-1,C-1,internet,Internet 20 Mbps,25.00,USD,,2026-10-15,2026-12-15,torre,10.0.0.5,
K-2,C-1,alarm,Monitoreo,15.00,USD,18%,2026-10-15,,,,12ab
K-3,C-2,internet,Internet 20 Mbps,"19,90",,,2026-11-30,,torre,10.0.0.6,
"""


def run(data: Path, *args: str) -> tuple[int, str, str]:
    result = centinela(*args, "--data-dir", str(data))
    return result.returncode, result.stdout, result.stderr


def query(data: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(data / "centinela.db") as db:
        return db.execute(sql).fetchall()


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8-sig")  # as a spreadsheet saves "CSV UTF-8"
    return str(path)


async def with_router(store: Store) -> None:
    async with store.transaction() as db:
        await db.execute("INSERT INTO routers (name, host, username) VALUES ('torre', '127.0.0.1', 'u')")


async def test_the_documented_samples_import(store: Store, data_dir: Path) -> None:
    async with store.transaction() as db:
        await db.execute("INSERT INTO routers (name, host, username) VALUES ('torre-norte', '127.0.0.1', 'u')")
    docs = Path(__file__).resolve().parent.parent / "docs"
    assert run(data_dir, "import", "customers", str(docs / "import-customers.csv")) == (
        0, "customers: 2 created, 0 updated\n", "")
    assert run(data_dir, "import", "contracts", str(docs / "import-contracts.csv")) == (
        0, "contracts: 3 created, 0 updated\n", "")
    assert query(data_dir, "SELECT ref, current_period_start, grace_days FROM contracts ORDER BY ref") == [
        ("K-0001", "2026-12-01", None), ("K-0002", "2026-12-01", 30), ("K-0003", "2026-06-15", None)]


def test_an_invalid_line_stops_the_import_with_a_report(tmp_path: Path) -> None:
    data = tmp_path / "data"
    bad = CUSTOMERS + "C-3;;\nC-1;Otra Ana;;\nC-4;Dora;dora@example;\nC-5;Eva;eva@example.com;\n"
    code, out, err = run(data, "import", "customers", write(tmp_path, "bad.csv", bad))
    assert code == 1
    assert out.splitlines() == ["line 4: name is required", "line 5: ref C-1 repeats line 2"]
    assert err == ("centinela: error: 2 invalid line(s) of 6; nothing imported"
                   " (fix them, or use --skip-invalid to import the others)\n")
    assert query(data, "SELECT count(*) FROM customers") == [(0,)]

    code, out, _ = run(data, "import", "customers", write(tmp_path, "bad.csv", bad), "--skip-invalid")
    assert code == 0 and out.splitlines()[-1] == "customers: 4 created, 0 updated; 2 invalid line(s) skipped"
    assert query(data, "SELECT ref, name, email FROM customers ORDER BY ref") == [
        ("C-1", "Ana Pérez", "ana@example.com"), ("C-2", "Beto Ruiz", None), ("C-4", "Dora", "dora@example"),
        ("C-5", "Eva", "eva@example.com")]


def test_an_unknown_column_is_refused_before_any_line_is_read(tmp_path: Path) -> None:
    code, out, err = run(tmp_path / "data", "import", "customers", write(tmp_path, "x.csv", "ref,nombre\nC-1,Ana\n"))
    assert (code, out) == (2, "")
    assert err == ("centinela: error: line 1: unknown column(s) nombre; columns are ref, name, tax_id, email,"
                   " phone, mobile, address, city, notes\n")


async def test_contracts_import_and_reimport_updates_instead_of_duplicating(
    store: Store, data_dir: Path, tmp_path: Path
) -> None:
    await with_router(store)
    await add_customer(store, "C-1", "Ana")
    await add_customer(store, "C-2", "Beto")
    contracts = write(tmp_path, "contracts.csv", CONTRACTS)
    assert run(data_dir, "import", "contracts", contracts) == (0, "contracts: 3 created, 0 updated\n", "")
    sql = ("SELECT ref, service_kind, price, anchor_day, current_period_start, current_period_end, router_target,"
           " state FROM contracts ORDER BY ref")
    assert query(data_dir, sql) == [
        # Billed by the old system up to 14/12: the cursor starts on the 15th, its anchor day.
        ("K-1", "internet", None, 15, "2026-12-15", "2027-01-14", "10.0.0.5", "active"),
        ("K-2", "alarm", None, 15, "2026-10-15", "2026-11-14", None, "active"),
        # Its own price (a decimal comma, as a Spanish spreadsheet writes it).
        ("K-3", "internet", "19.90", 30, "2026-11-30", "2026-12-29", "10.0.0.6", "active"),
    ]
    assert query(data_dir, "SELECT name, price, tax_rate FROM plans ORDER BY id") == [
        ("Internet 20 Mbps", "25.00", None), ("Monitoreo", "15.00", "0.18")]
    assert query(data_dir, "SELECT account_number, customer_id FROM alarm_accounts") == [("12AB", 1)]

    # Billing moves on; the contract is cut; a re-import must neither rewind nor reconnect it.
    async with store.transaction() as db:
        await db.execute("UPDATE contracts SET state = 'suspended' WHERE ref = 'K-3'")
        await db.execute("INSERT INTO invoices (id, customer_id, invoice_date, due_date, currency, subtotal, total,"
                         " residual) VALUES (1, 2, '2026-11-30', '2026-12-10', 'USD', '19.90', '19.90', '19.90')")
        await db.execute("INSERT INTO invoice_lines (invoice_id, contract_id, period_start, period_end, unit_price,"
                         " amount) VALUES (1, 3, '2026-11-30', '2026-12-29', '19.90', '19.90')")
        await db.execute("UPDATE contracts SET current_period_start = '2026-12-30', current_period_end ="
                         " '2027-01-29' WHERE ref = 'K-3'")
    renamed = write(tmp_path, "again.csv", CONTRACTS.replace('"19,90"', "21.50").replace("K-2,C-1,alarm,Monitoreo",
                                                                                        "K-2,C-2,alarm,Monitoreo"))
    assert run(data_dir, "import", "contracts", renamed) == (0, "contracts: 0 created, 3 updated\n", "")
    assert query(data_dir, "SELECT count(*) FROM contracts") == [(3,)]
    assert query(data_dir, "SELECT ref, customer_id, price, current_period_start, state FROM contracts ORDER BY ref") == [
        ("K-1", 1, None, "2026-12-15", "active"), ("K-2", 2, None, "2026-10-15", "active"),
        ("K-3", 2, "21.50", "2026-12-30", "suspended")]


async def test_contract_lines_are_checked_against_the_store(store: Store, data_dir: Path, tmp_path: Path) -> None:
    await with_router(store)
    ana = await add_customer(store, "C-1", "Ana")
    internet = await add_plan(store, "Internet 20 Mbps", "25.00")
    await add_contract(store, "K-1", ana, internet, date(2026, 11, 1))
    bad = (
        "ref,customer_ref,service,plan,price,currency,start_date,router,target,tax_rate\n"
        "K-9,C-9,internet,Internet 20 Mbps,,,2026-01-01,torre,10.0.0.9,\n"
        "K-10,C-1,internet,Fibra,30,ZZZ,2026-01-01,,,\n"
        "K-11,C-1,internet,Internet 20 Mbps,,,2026-02-30,torre,juan,\n"
        "K-12,C-1,alarm,Internet 20 Mbps,,,2026-01-01,,,0.16\n"
        "K-13,C-1,internet,Internet 20 Mbps,25.005,,2026-01-01,cerro,10.0.0.13,\n"
        "K-14,C-1,internet,Internet 20 Mbps,,,2026-01-01,torre,juan,\n"
        "K-15,C-1,internet,Fibra 100,,,2026-01-01,,,\n"
    )
    code, out, _ = run(data_dir, "import", "contracts", write(tmp_path, "bad.csv", bad))
    assert code == 1
    assert out.splitlines() == [
        "line 2: customer C-9 does not exist (import customers first)",
        "line 3: unknown ISO 4217 currency 'ZZZ'",
        "line 4: start_date '2026-02-30' is not a date (YYYY-MM-DD)",
        "line 5: plan 'Internet 20 Mbps' is for internet, not alarm; plan 'Internet 20 Mbps' has tax rate none;"
        " tax belongs to the plan",
        "line 6: router 'cerro' does not exist (add it with centinela routers add);"
        " price 25.005 has more decimals than USD allows",
        "line 7: target 'juan' is not an IPv4 address (router torre cuts by address)",
        "line 8: plan 'Fibra 100' does not exist: give its price and currency to create it",
    ]
    assert query(data_dir, "SELECT ref FROM contracts") == [("K-1",)]

