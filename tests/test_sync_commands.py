"""``centinela sync`` as an admin runs it: a real process against the fake Odoo on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from centinela.data.odoo_sync import SyncLock, SyncWorker
from centinela.data.store import Store

from centinela.config import load_config
from tests.helpers import centinela
from tests.odoo_world import (
    API_KEY,
    SYNC_USER,
    LossyOdoo,
    add_invoice,
    company,
    partner,
    queue_invoice,
    subscription,
)


@pytest.fixture
def odoo() -> Iterator[LossyOdoo]:
    with LossyOdoo() as fake:
        company(fake)
        fake.seed("res.partner", [partner(1), partner(2)])
        fake.seed("centinela.subscription", [subscription(1, 1), subscription(2, 2)])
        yield fake


def config_file(tmp_path: Path, odoo: LossyOdoo, *, enabled: bool = True) -> str:
    """The bootstrap file's [odoo] section (no settings saved in the console)."""
    path = tmp_path / "centinela.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[odoo]\nenabled = {str(enabled).lower()}\nurl = "{odoo.url}"\n'
        f'database = "{odoo.database}"\nuser = "{SYNC_USER}"\npassword = "{API_KEY}"\n',
        encoding="utf-8",
    )
    path.chmod(0o600)
    return str(path)


def test_sync_once_pulls_and_status_reports_it(tmp_path: Path, odoo: LossyOdoo) -> None:
    config = config_file(tmp_path, odoo)
    result = centinela("sync", "--once", "--config", config)
    assert result.returncode == 0, result.stderr
    assert "pushed 0, parked 0, pulled 2 customers, 2 contracts, 0 invoices, 0 payments" in result.stdout
    assert result.stderr == ""

    status = centinela("sync", "status", "--config", config)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].startswith(f"odoo          enabled  {odoo.url}  database centinela  user sync  mapping centinela")
    assert lines[1].startswith("link          connected (Odoo 18.0)")
    assert "outbox        0 pending (oldest -), 0 parked" in lines
    assert any(line.startswith("cursor        res.partner") for line in lines)
    assert API_KEY not in status.stdout
    figures = json.loads(centinela("sync", "status", "--json", "--config", config).stdout)
    assert (figures["link"], figures["pending"], figures["parked"]) == ("connected", 0, 0)
    assert figures["cursors"]["centinela.subscription"]["last_id"] == 2


def test_sync_once_reports_an_unreachable_odoo_in_one_line(tmp_path: Path, odoo: LossyOdoo) -> None:
    config = config_file(tmp_path, odoo)
    odoo.stop()
    result = centinela("sync", "--once", "--config", config)
    assert result.returncode == 1
    (error,) = result.stderr.splitlines()
    assert error.startswith("centinela: error: ") and "Connection refused" in error
    status = centinela("sync", "status", "--config", config).stdout.splitlines()
    assert status[1].startswith("link          unreachable") and "Connection refused" in status[3]


def test_sync_when_odoo_is_disabled(tmp_path: Path, odoo: LossyOdoo) -> None:
    result = centinela("sync", "--once", "--config", config_file(tmp_path, odoo, enabled=False))
    assert result.returncode == 2
    assert result.stderr == "centinela: error: Odoo sync is disabled (odoo.enabled)\n"


async def test_parked_items_are_listed_and_retried(tmp_path: Path, odoo: LossyOdoo) -> None:
    config = config_file(tmp_path, odoo)
    store = await Store.open(tmp_path / "data")
    try:
        worker = SyncWorker(store, load_config(Path(config)).config)
        await worker.sync_once()  # the customers and contracts to invoice
        async with store.transaction() as db:
            async with db.execute("SELECT customer_id, id FROM contracts WHERE odoo_id = 1") as cur:
                customer, contract = tuple(await cur.fetchone() or ())
            await queue_invoice(db, await add_invoice(db, "FAC-1", customer, [(contract, "10.00", "0.21")]))
        assert (await worker.sync_once()).parked == 1

        listed = centinela("sync", "parked", "--config", config)
        assert listed.returncode == 0
        (line,) = listed.stdout.splitlines()
        assert line.split()[0] == "1" and "invoice.post" in line and line.endswith("Odoo has no sale tax of 21%")
        (item,) = map(json.loads, centinela("sync", "parked", "--json", "--config", config).stdout.splitlines())
        assert (item["id"], item["operation"], item["payload"]["invoice_id"]) == (1, "invoice.post", 1)

        odoo.seed("account.tax", [{"name": "IVA 21%", "amount": 21.0, "type_tax_use": "sale",
                                   "amount_type": "percent"}])
        retried = centinela("sync", "retry", "1", "--config", config)
        assert (retried.returncode, retried.stdout) == (0, "outbox item 1 queued again\n")
        assert (await worker.sync_once()).pushed == 1
    finally:
        await store.close()
    assert [move["ref"] for move in odoo.records("account.move")] == ["FAC-1"]


def test_sync_runs_until_ctrl_c_and_one_process_syncs_a_folder(tmp_path: Path, odoo: LossyOdoo) -> None:
    config = config_file(tmp_path, odoo)
    loop = subprocess.Popen([sys.executable, "-m", "centinela", "sync", "--config", config],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert loop.stdout is not None
        first = loop.stdout.readline()
        assert "pulled 2 customers, 2 contracts" in first
        busy = centinela("sync", "--once", "--config", config)
        assert busy.returncode == 2
        assert busy.stderr.startswith("centinela: error: another process syncs this data folder (")
        loop.send_signal(signal.SIGINT)
        assert loop.wait(timeout=20) == 0
    finally:
        if loop.poll() is None:
            loop.kill()
            loop.wait()
    lock = SyncLock(tmp_path / "data")
    assert lock.try_acquire()  # the lock went with the process
    lock.release()
