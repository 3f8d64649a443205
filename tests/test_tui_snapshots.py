"""Layout snapshots of the dashboard at the two sizes operators use: an 80x24 SSH terminal and a
160x48 wall screen. Fixed data and a fixed clock, so the pictures only change when the layout does.

Update after an intended layout change with: pytest tests/test_tui_snapshots.py --snapshot-update
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from centinela.config import Config, ReceiverConfig
from centinela.data.operators import Operator
from centinela.data.store import Store
from centinela.receiver.signal import Signal
from centinela.runtime import Runtime
from centinela.tui.app import CentinelaApp
from tests.helpers import add_monitored_customer

NOW = datetime(2026, 11, 29, 15, 30, 0, tzinfo=UTC)
OPERATOR = Operator(1, "ana", "Ana Pérez", "operator", True)


def cid(account: str, sequence: str, qualifier: str, code: str, zone: str) -> Signal:
    return Signal(protocol="ADM-CID", raw=f"{account}|{qualifier}{code} 01 {zone}", account=account,
                  sequence=sequence, code=code, qualifier=qualifier, partition="01", zone=zone)


async def seed(data_dir: Path) -> None:
    store = await Store.open(data_dir)
    store.start()
    try:
        await add_monitored_customer(store, "1001", "Ferretería La Estrella")
        await add_monitored_customer(store, "1002", "Panadería San José")
        await add_monitored_customer(store, "1003", "Clínica Dental Sonrisas", contract_state="suspended")
        feed = [
            (cid("1001", "0001", "1", "602", "000"), 50),
            (cid("1002", "0001", "1", "401", "003"), 40),
            (cid("1001", "0002", "1", "130", "004"), 30),
            (cid("9F99", "0001", "1", "130", "002"), 20),
            (cid("1003", "0001", "1", "110", "001"), 10),
            (cid("1002", "0002", "1", "301", "000"), 5),
        ]
        for signal, minutes_ago in feed:
            await store.record([signal], NOW - timedelta(minutes=minutes_ago))
    finally:
        await store.close()


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    asyncio.run(seed(data_dir))
    return data_dir


def app_for(data_dir: Path) -> CentinelaApp:
    config = Config(data_dir=data_dir, receiver=ReceiverConfig(tcp=[], supervision_interval=3600))
    return CentinelaApp(Runtime(config), operator=OPERATOR, detect_sound=False, clock=lambda: NOW)


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.pause(0.5)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_events_tab(snap_compare, seeded: Path, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app_for(seeded), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_pending_tab(snap_compare, seeded: Path, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def pending(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("p")
        await pilot.pause(0.3)

    assert snap_compare(app_for(seeded), terminal_size=size, run_before=pending)
