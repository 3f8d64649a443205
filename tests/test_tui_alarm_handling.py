"""Pilot tests of the operator's keys on the dashboard: take, note, resolve, hold, mute,
filters, pause, paging; and the log-in screen."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path


from centinela.config import Config, ReceiverConfig
from centinela.data import alarm_actions
from centinela.data.operators import Operator, add_operator
from centinela.data.store import Store
from centinela.receiver.signal import Signal
from centinela.runtime import Runtime
from centinela.tui.app import CentinelaApp
from centinela.tui.screens.dashboard import FEED_ROWS, PAGE, PENDING_LIMIT, DashboardScreen
from centinela.tui.screens.login import LoginScreen
from centinela.tui.widgets.live_table import LiveTable
from tests.helpers import add_monitored_customer, until

ANA = Operator(1, "ana", "Ana Pérez", "operator", True)


def make_app(data_dir: Path, operator: Operator | None = ANA) -> CentinelaApp:
    config = Config(data_dir=data_dir, receiver=ReceiverConfig(tcp=[], supervision_interval=3600))
    return CentinelaApp(Runtime(config), operator=operator, detect_sound=False)


def alarm(account: str, sequence: str, code: str = "130", zone: str = "001", qualifier: str = "1") -> Signal:
    return Signal(protocol="ADM-CID", raw=f"{account}-{sequence}", account=account, sequence=sequence, code=code,
                  qualifier=qualifier, zone=zone, partition="01")


async def dashboard(app: CentinelaApp, pilot) -> DashboardScreen:  # type: ignore[no-untyped-def]
    await until(lambda: isinstance(app.screen, DashboardScreen), 10.0, pilot=pilot)
    screen = app.screen
    assert isinstance(screen, DashboardScreen)
    return screen


def store_of(app: CentinelaApp) -> Store:
    assert app.runtime.store is not None
    return app.runtime.store


async def test_take_note_hold_and_resolve_from_the_pending_tab(data_dir: Path) -> None:
    app = make_app(data_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await dashboard(app, pilot)
        store = store_of(app)
        await add_monitored_customer(store, "1234", "Banco Andino")
        (event,) = await store.record([alarm("1234", "0001")])
        pending = screen.query_one("#pending-table", LiveTable)
        await until(lambda: pending.row_ids() == [event.id], 10.0, pilot=pilot)

        await pilot.press("p", "t")
        await until(lambda: screen.open_events[event.id].status == "acknowledged", 10.0, pilot=pilot)
        assert "Tomado: ana" in str(pending.cells(event.id)[-1])

        await pilot.press("n")
        await pilot.press(*"llamé al titular")
        await pilot.press("enter")
        await pilot.press("h")
        await pilot.press("backspace", "backspace", "3", "0", "enter")
        await until(lambda: screen.open_events[event.id].status == "pending", 10.0, pilot=pilot)
        assert "Espera hasta" in str(pending.cells(event.id)[-1])

        await pilot.press("r")
        await pilot.press("down", "down", "down", "enter")  # "Real: policía despachada"
        await pilot.press(*"patrulla en camino", "enter")
        await until(lambda: pending.row_ids() == [], 10.0, pilot=pilot)
        resolved = await store.get_event(event.id)
        assert resolved is not None and resolved.status == "resolved" and resolved.resolution == "police"
        log = await alarm_actions.action_log(store.reader, event.id)
        assert [(entry.operator, entry.action) for entry in log] == [
            ("ana", "take"), ("ana", "note"), ("ana", "hold"), ("ana", "resolve")]
        assert log[1].note == "llamé al titular" and log[3].note == "police: patrulla en camino"
        assert "Pendientes (0)" in str(screen.query_one("#dashboard-tabs").get_tab("pending").label)


async def test_an_alarm_taken_by_someone_else_is_refused(data_dir: Path) -> None:
    app = make_app(data_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await dashboard(app, pilot)
        store = store_of(app)
        (event,) = await store.record([alarm("5555", "0001")])
        await store.apply(lambda db: alarm_actions.take(db, event.id, "beto"))
        pending = screen.query_one("#pending-table", LiveTable)
        await until(lambda: "beto" in str(pending.cells(event.id)[-1]) if event.id in pending.row_ids() else False, 10.0, pilot=pilot)
        await pilot.press("p", "t")
        await pilot.pause(0.2)
        current = await store.get_event(event.id)
        assert current is not None and current.taken_by == "beto"
        assert any("ya lo tomó beto" in str(n.message) for n in app._notifications)


async def test_the_pending_list_moves_the_next_alarms_up_as_shown_ones_are_closed(data_dir: Path) -> None:
    app = make_app(data_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await dashboard(app, pilot)
        store = store_of(app)
        stored = await store.record([alarm("4400", f"{n:04d}", zone=f"{n % 999 + 1:03d}") for n in range(1, PENDING_LIMIT + 11)])
        pending = screen.query_one("#pending-table", LiveTable)
        await until(lambda: len(pending.row_ids()) == PENDING_LIMIT, 10.0, pilot=pilot)
        assert stored[-1].id not in pending  # the newest wait beyond the list (oldest first)

        for event in stored[:30]:
            await store.apply(partial(alarm_actions.resolve, event_id=event.id, operator="ana",
                                      resolution="false-alarm", note=None))
        await until(lambda: len(pending.row_ids()) == PENDING_LIMIT - 20, 10.0, pilot=pilot,
                    explain=lambda: f"{len(pending.row_ids())} rows shown")
        assert stored[-1].id in pending and stored[29].id not in pending


async def test_filters_pause_and_paging(data_dir: Path) -> None:
    app = make_app(data_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await dashboard(app, pilot)
        store = store_of(app)
        await add_monitored_customer(store, "1001", "Hotel Miramar")
        signals = [alarm("1001", f"{n:04d}", code="602", zone="000") for n in range(1, PAGE + 60)]
        await store.record(signals)
        await store.record([alarm("2002", "0001", code="110", zone="003")])
        events = screen.query_one("#events-table", LiveTable)
        # the live feed keeps the newest FEED_ROWS; older ones are a scroll away
        await until(lambda: events.row_count == FEED_ROWS and str(events.cells(events.row_ids()[0])[2]) == "2002",
                    10.0, pilot=pilot)

        # text search finds the fire by its description, the hotel by name
        await pilot.press("slash", *"incendio")
        await until(lambda: events.row_count == 1, 10.0, pilot=pilot)
        assert str(events.cells(events.row_ids()[0])[2]) == "2002"
        await pilot.press(*["backspace"] * len("incendio"), *"miramar")
        await until(lambda: events.row_count == PAGE, 10.0, pilot=pilot)  # first page only
        await pilot.press("escape")
        await pilot.press("ctrl+end")
        await until(lambda: events.row_count == PAGE + 59, 10.0, pilot=pilot)  # the rest loaded on demand

        await pilot.press(*["slash"], *["backspace"] * len("miramar"), "escape")
        await until(lambda: events.row_count == PAGE, 10.0, pilot=pilot)
        await pilot.press("space")
        await store.record([alarm("2002", "0002", code="120", zone="001")])
        await until(lambda: screen.missed_while_paused == 1, 10.0, pilot=pilot)
        assert "Pausado: 1 nuevos" in str(screen.query_one("#dashboard-tabs").get_tab("events").label)
        top_before = events.row_ids()[0]
        await pilot.press("space")
        await until(lambda: events.row_ids()[0] != top_before, 10.0, pilot=pilot)


async def test_mute_key_and_settings_refused_for_operators(data_dir: Path) -> None:
    app = make_app(data_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await dashboard(app, pilot)
        await until(lambda: app.sound_state() is not None, 10.0, pilot=pilot)
        assert app.sound_state() == ("bell", None)
        await pilot.press("m")
        kind, until_time = app.sound_state() or ("", None)
        assert kind == "muted" and until_time
        await pilot.press("m")
        assert app.sound_state() == ("bell", None)
        await pilot.press("f2")
        assert any("Solo administradores" in str(n.message) for n in app._notifications)
        assert isinstance(app.screen, DashboardScreen) and app.screen is screen


async def test_login_refuses_a_wrong_password_and_admits_the_right_one(data_dir: Path) -> None:
    store = await Store.open(data_dir)
    async with store.transaction() as db:
        await add_operator(db, "luis", "correcta123", role="admin", full_name="Luis Soto")
    await store.close()
    app = make_app(data_dir, operator=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(lambda: isinstance(app.screen, LoginScreen), 10.0, pilot=pilot)
        await pilot.press(*"luis", "enter", *"mala", "enter")
        await until(lambda: "incorrectos" in str(app.screen.query_one("#login-error").render()), 10.0, pilot=pilot)
        await pilot.press(*"correcta123", "enter")
        screen = await dashboard(app, pilot)
        assert screen.operator.username == "luis" and screen.operator.is_admin


async def test_login_tells_how_to_create_the_first_admin(data_dir: Path) -> None:
    app = make_app(data_dir, operator=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(lambda: isinstance(app.screen, LoginScreen), 10.0, pilot=pilot)
        await until(lambda: "centinela operators add" in str(app.screen.query_one("#login-error").render()), 10.0, pilot=pilot)


async def test_dispatching_a_technician_queues_a_field_service_task(data_dir: Path) -> None:
    app = make_app(data_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await dashboard(app, pilot)
        store = store_of(app)
        (event,) = await store.record([alarm("1234", "0001", code="300", zone="000")])
        pending = screen.query_one("#pending-table", LiveTable)
        await until(lambda: pending.row_ids() == [event.id], 10.0, pilot=pilot)
        await pilot.press("p", "d", *"revisar fuente de poder", "enter")

        async def queued() -> list[tuple[str, str]]:
            async with store.reader.execute("SELECT operation, payload FROM outbox") as cur:
                return [tuple(row) for row in await cur.fetchall()]

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while not (rows := await queued()):
            assert loop.time() < deadline
            await pilot.pause(0.05)
        ((operation, payload),) = rows
        assert operation == "task.dispatch" and "revisar fuente de poder" in payload and '"operator": "ana"' in payload
        log = await alarm_actions.action_log(store.reader, event.id)
        assert log[-1].operator == "ana" and "revisar fuente de poder" in (log[-1].note or "")
