"""Pilot tests: the console on a temporary database, fed through the real TCP receiver."""

from __future__ import annotations

import asyncio
import time
from functools import partial
from pathlib import Path

from centinela.config import Config, ReceiverConfig
from centinela.data.operators import Operator
from centinela.data.timeutil import utcnow
from centinela.receiver.dc09 import build_frame
from centinela.receiver.signal import Signal
from centinela.runtime import Runtime
from centinela.tui.app import CentinelaApp
from centinela.tui.screens.dashboard import MAX_UPDATE_GAP, QUIET_AFTER_UPDATE, DashboardScreen
from centinela.tui.widgets.live_table import LiveTable
from tests.helpers import add_monitored_customer, exchange, until


OPERATOR = Operator(1, "ana", "Ana Pérez", "operator", True)


def make_app(data_dir: Path, language: str = "es") -> CentinelaApp:
    config = Config(data_dir=data_dir, language=language, receiver=ReceiverConfig(tcp=["127.0.0.1:0"]))
    return CentinelaApp(Runtime(config), operator=OPERATOR, detect_sound=False)


wait_for = partial(until, timeout=3.0)


def row_text(table: LiveTable, row_id: int) -> list[str]:
    """Every cell of the row, including columns hidden at narrow widths."""
    return [str(cell) for cell in table.cells(row_id)]


def shown_text(table: LiveTable, row_id: int) -> list[str]:
    """The cells as the table displays them."""
    return [str(cell) for cell in table.get_row(str(row_id))]


async def test_frame_sent_to_receiver_appears_with_customer_name(data_dir: Path) -> None:
    app = make_app(data_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(lambda: isinstance(app.screen, DashboardScreen))
        runtime = app.runtime
        assert runtime.store is not None
        await add_monitored_customer(runtime.store, "2201", "Clínica San Rafael")
        port = runtime.listeners[0].bound_port
        loop = asyncio.get_running_loop()
        sent = loop.time()
        frame = build_frame("ADM-CID", "0101", account="2201", data="#2201|1110 01 002", timestamp=utcnow())
        (reply,) = await exchange("127.0.0.1", port, frame)
        assert b'"ACK"0101' in reply

        events = app.screen.query_one("#events-table", LiveTable)
        await wait_for(lambda: events.row_count == 1)
        assert loop.time() - sent < 1.0
        (event_id,) = events.row_ids()
        cells = row_text(events, event_id)
        assert cells[2] == "2201"
        assert cells[3] == "Clínica San Rafael"
        assert cells[4].startswith("110 ")
        assert cells[5] == "Z002"
        assert cells[7] == "Crítica"

        pending = app.screen.query_one("#pending-table", LiveTable)
        assert pending.row_ids() == [event_id]
        await pilot.press("p")
        tabs = app.screen.query_one("#dashboard-tabs")
        assert tabs.active == "pending"
        assert "Pendientes (1)" in str(tabs.get_tab("pending").label)


async def test_events_newest_first_and_pending_by_priority(data_dir: Path) -> None:
    app = make_app(data_dir, language="en")
    async with app.run_test(size=(160, 48)):
        await wait_for(lambda: isinstance(app.screen, DashboardScreen))
        port = app.runtime.listeners[0].bound_port
        frames = [
            build_frame("ADM-CID", "0001", account="7000", data="#7000|1301 00 000", timestamp=utcnow()),  # trouble
            build_frame("ADM-CID", "0002", account="7000", data="#7000|1120 01 001", timestamp=utcnow()),  # panic
            build_frame("ADM-CID", "0003", account="7000", data="#7000|1401 01 003", timestamp=utcnow()),  # opening
        ]
        await exchange("127.0.0.1", port, b"".join(frames), replies=3)
        events = app.screen.query_one("#events-table", LiveTable)
        pending = app.screen.query_one("#pending-table", LiveTable)
        await wait_for(lambda: events.row_count == 3)
        ids = events.row_ids()
        assert ids == sorted(ids, reverse=True)
        # unknown account: every signal is raised to at least high, so all three wait for an operator
        codes = [row_text(pending, i)[5].split()[0] for i in pending.row_ids()]  # after the waiting time
        assert codes[0] == "120"
        assert set(codes) == {"120", "301", "401"}
        assert "UNKNOWN ACCOUNT" in row_text(events, ids[0])[3]


async def test_slow_updates_space_out_and_a_lone_event_shows_at_once(data_dir: Path) -> None:
    """The receiver shares the console's loop: when drawing rows is slow (a storm's hundreds per
    update), the next update waits in proportion, so signals keep being read and ACKed."""
    app = make_app(data_dir, language="en")
    async with app.run_test(size=(160, 48)):
        await wait_for(lambda: isinstance(app.screen, DashboardScreen))
        store = app.runtime.store
        assert store is not None
        events = app.screen.query_one("#events-table", LiveTable)
        loop = asyncio.get_running_loop()
        updates: list[float] = []
        original = events.upsert
        draw_time = 0.1

        def slow_upsert(rows: object) -> None:
            updates.append(loop.time())
            time.sleep(draw_time)  # a terminal that takes this long to take the rows
            original(rows)  # type: ignore[arg-type]

        events.upsert = slow_upsert  # type: ignore[method-assign]

        def burglary(n: int) -> Signal:
            return Signal(protocol="ADM-CID", raw=f"8100|1130 01 {n:03d}", account="8100", sequence=f"{n:04d}",
                          code="130", qualifier="1", partition="01", zone=f"{n:03d}")

        started = loop.time()
        for n in range(1, 41):  # forty commits, one signal each
            await store.record([burglary(n)])
        took = loop.time() - started
        await wait_for(lambda: events.row_count == 40)
        gap = min(MAX_UPDATE_GAP, draw_time * QUIET_AFTER_UPDATE)
        assert len(updates) <= took / gap + 2, f"{len(updates)} updates in {took:.2f} s"

        draw_time = 0.0
        await asyncio.sleep(MAX_UPDATE_GAP)  # quiet: the next event shows without waiting
        await store.record([burglary(41)])
        committed = loop.time()
        await wait_for(lambda: events.row_count == 41)
        assert updates[-1] - committed < gap  # not held back as a storm's update would be


async def test_existing_history_is_shown_at_start(data_dir: Path) -> None:
    runtime = Runtime(Config(data_dir=data_dir, receiver=ReceiverConfig(tcp=["127.0.0.1:0"])))
    await runtime.start()
    assert runtime.store is not None
    await add_monitored_customer(runtime.store, "3300", "Residencia Ortiz")
    port = runtime.listeners[0].bound_port
    frame = build_frame("SIA-DCS", "0001", account="3300", data="#3300|Nri1/FA003", timestamp=utcnow())
    await exchange("127.0.0.1", port, frame)
    await runtime.stop()

    app = make_app(data_dir)
    async with app.run_test(size=(80, 24)):
        await wait_for(lambda: isinstance(app.screen, DashboardScreen))
        events = app.screen.query_one("#events-table", LiveTable)
        await wait_for(lambda: events.row_count == 1)
        (event_id,) = events.row_ids()
        assert row_text(events, event_id)[3] == "Residencia Ortiz"
        # at 80 columns the id and partition columns give way to the customer and event
        shown = shown_text(events, event_id)
        assert len(shown) == 7 and "Residencia Ortiz" in shown and shown[3].startswith("FA ")
