"""Pilot tests of the account card: a small app on a real store pushes the card for an event."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from rich.text import Text
from textual.app import App
from textual.widgets import Static

from centinela.data.account_card import account_notes
from centinela.data.records import EventRecord
from centinela.data.store import Store
from centinela.receiver.signal import Signal
from centinela.tui.screens.account_card import HISTORY_PAGE, AccountCardScreen
from centinela.tui.screens.alarm_dialogs import NoteDialog
from centinela.tui.texts import Texts
from centinela.tui.widgets.live_table import LiveTable
from tests.account_seed import DAYS_OVERDUE, GRACE_DAYS, seed_full_account
from tests.helpers import until


class CardHost(App[None]):
    """Stands in for the console: opens the card for one event, as the dashboard will."""

    def __init__(self, store: Store, event: EventRecord, language: str = "es") -> None:
        super().__init__()
        self.store = store
        self.event = event
        self.texts = Texts(language)  # type: ignore[arg-type]

    async def on_mount(self) -> None:
        await self.push_screen(AccountCardScreen(self.store, self.texts, self.event, "María Vera"))


def burglary(account: str | None, zone: str = "002") -> Signal:
    return Signal(protocol="ADM-CID", raw=f"{account}|1130", account=account, code="130", qualifier="1",
                  zone=zone, partition="01")


wait_for = partial(until, timeout=3.0)


def text_of(app: App[None], selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


def history(app: App[None]) -> LiveTable:
    return app.screen.query_one("#card-history", LiveTable)


async def test_card_shows_customer_call_list_zones_service_and_history(store: Store) -> None:
    await seed_full_account(store, "2201", "Clínica San Rafael", datetime.now().astimezone().date())
    first, second = await store.record([burglary("2201", zone="009"), burglary("2201")])
    app = CardHost(store, second)
    async with app.run_test(size=(160, 48)):
        await wait_for(lambda: isinstance(app.screen, AccountCardScreen) and history(app).row_count == 2)

        assert "Cuenta 2201 · Clínica San Rafael" in text_of(app, "#card-title")
        assert "Clínica San Rafael" in text_of(app, "#card-customer")
        calls = text_of(app, "#card-calls")
        assert calls.index("1. Dra. Ana Ruiz") < calls.index("2. Luis Paz") < calls.index("3. Carlos Mena")
        assert "099 111 1111" in calls
        zones = app.screen.query_one("#card-zones", Static).content
        assert isinstance(zones, Text)
        reported = [zones.plain[span.start:span.end] for span in zones.spans if str(span.style) == "bold reverse"]
        assert reported == [" 2 Recepción (burglary)"]  # the zone the opening event reported
        assert "despachar patrulla" in text_of(app, "#card-plan")
        service = text_of(app, "#card-service")
        assert "Monitoreo · K-100 · Monitoreo 24h: Activo" in service
        assert "En gracia — corte el" in service and f"(faltan {GRACE_DAYS + 1 - DAYS_OVERDUE} d)" in service
        assert history(app).row_ids() == [second.id, first.id]
        cells = [str(cell) for cell in history(app).get_row(str(second.id))]
        assert any(cell.startswith("130 ") for cell in cells)
        assert "Z002" in cells


async def test_note_typed_in_the_card_is_stored_with_the_operator(store: Store) -> None:
    seeded = await seed_full_account(store, "2201", "Clínica San Rafael", datetime.now().astimezone().date())
    (event,) = await store.record([burglary("2201")])
    app = CardHost(store, event)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(lambda: isinstance(app.screen, AccountCardScreen) and history(app).row_count == 1)
        await pilot.press("n")
        await wait_for(lambda: isinstance(app.screen, NoteDialog))
        await pilot.press(*"Sin novedad")
        await pilot.press("enter")
        await wait_for(lambda: "Sin novedad" in text_of(app, "#card-notes"))

        (note,) = await account_notes(store.reader, seeded.account_id)
        assert (note.operator, note.text) == ("María Vera", "Sin novedad")
        assert "María Vera: Sin novedad" in text_of(app, "#card-notes")


async def test_escape_closes_the_card(store: Store) -> None:
    (event,) = await store.record([burglary("2201")])
    app = CardHost(store, event)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(lambda: isinstance(app.screen, AccountCardScreen))
        await pilot.press("escape")
        await wait_for(lambda: not isinstance(app.screen, AccountCardScreen))


async def test_unknown_account_opens_with_placeholders_and_refuses_notes(store: Store) -> None:
    (event,) = await store.record([burglary("9999")])
    app = CardHost(store, event, language="en")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(lambda: isinstance(app.screen, AccountCardScreen) and history(app).row_count == 1)

        assert "UNKNOWN ACCOUNT" in text_of(app, "#card-title")
        assert "Account not registered" in text_of(app, "#card-customer")
        assert "No contacts" in text_of(app, "#card-calls")
        assert "No contract" in text_of(app, "#card-service")
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, AccountCardScreen)  # no note dialog: there is no account to note on


async def test_event_without_account_number_opens(store: Store) -> None:
    (event,) = await store.record([burglary(None)])
    app = CardHost(store, event)
    async with app.run_test(size=(80, 24)):
        await wait_for(lambda: isinstance(app.screen, AccountCardScreen)
                       and "no trae número de cuenta" in text_of(app, "#card-customer"))
        assert "Cuenta —" in text_of(app, "#card-title")
        assert history(app).row_count == 0


async def test_new_event_of_the_account_appears_while_open(store: Store) -> None:
    await seed_full_account(store, "2201", "Clínica San Rafael", datetime.now().astimezone().date())
    (event,) = await store.record([burglary("2201")])
    app = CardHost(store, event)
    async with app.run_test(size=(160, 48)):
        await wait_for(lambda: isinstance(app.screen, AccountCardScreen) and history(app).row_count == 1)

        other, fresh = await store.record([burglary("3300"), burglary("2201", zone="010")])
        await wait_for(lambda: history(app).row_count == 2)

        assert history(app).row_ids() == [fresh.id, event.id]
        assert other.id not in history(app).row_ids()


async def test_older_history_loads_when_the_cursor_reaches_the_end(store: Store) -> None:
    await seed_full_account(store, "2201", "Clínica San Rafael", datetime.now().astimezone().date())
    events = await store.record([burglary("2201", zone=f"{n:03d}") for n in range(HISTORY_PAGE + 10)])
    app = CardHost(store, events[-1])
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(lambda: isinstance(app.screen, AccountCardScreen) and history(app).row_count == HISTORY_PAGE)
        history(app).focus()
        await pilot.press("ctrl+end")
        await wait_for(lambda: history(app).row_count == HISTORY_PAGE + 10)
        assert history(app).row_ids() == [event.id for event in reversed(events)]
