"""The account card: everything an operator needs about the account behind an event, opened
from any event, with the account's history kept live while it is open.

On an 80-column terminal the sections stack in one scrolling column, in the order an operator
reads them during an alarm (who, whom to call, what to do); from WIDE_FROM columns they sit side
by side above the history.
"""

from __future__ import annotations

import sqlite3
import sys
from datetime import datetime

from centinela.data.account_card import (
    AccountCard,
    AccountNote,
    ServiceInfo,
    account_history,
    account_notes,
    add_account_note,
    load_account_card,
)
from centinela.data.alarm_actions import ActionRefused
from centinela.data.records import EventRecord
from centinela.data.store import Store
from centinela.receiver.describe import describe_event
from centinela.tui.bindings import localize_bindings
from centinela.tui.present import PriorityLook, event_cells, local_time, priority_looks, zone_or_user
from centinela.tui.screens.alarm_dialogs import NoteDialog
from centinela.tui.screens.dashboard import EVENT_COLUMNS
from centinela.tui.texts import Texts
from centinela.tui.widgets.live_table import ColumnSpec, LiveTable
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

WIDE_FROM = 120
HISTORY_PAGE = 50
HISTORY_LIMIT = 1000
"""Rows the history keeps; paging stops there (older events are in `centinela events`)."""
NEVER_SHOWN = sys.maxsize
# Every row of the card's history is this account's: its account and customer columns would
# only repeat the title.
_REPEATED_COLUMNS = frozenset({"col.account", "col.customer"})

_STATE_STYLE = {
    "active": "green",
    "grace": "bold yellow",
    "notice": "bold dark_orange",
    "suspended": "bold magenta",
    "cancelled": "dim",
    "draft": "dim",
}


def _heading(texts: Texts, key: str) -> Text:
    return Text(texts(key), style="bold underline")


def _lines(*parts: Text | str | None) -> Text:
    """Join the parts that are present, one per line."""
    return Text("\n").join(Text(part) if isinstance(part, str) else part for part in parts if part)


def _joined(separator: str, *parts: str | None) -> str | None:
    present = [part for part in parts if part]
    return separator.join(present) if present else None


def _labelled(texts: Texts, key: str, value: str | None) -> Text | None:
    return Text.assemble((f"{texts(key)} ", "dim"), value) if value else None


def _missing(texts: Texts, key: str) -> Text:
    return Text(f"{texts('placeholder')} {texts(key)}", style="dim italic")


def title_text(card: AccountCard, event: EventRecord, texts: Texts) -> Text:
    account = card.account_number or texts("placeholder")
    if card.customer is not None:
        who = Text(card.customer.name, style="bold")
    elif card.account is None and card.account_number:
        who = Text(texts("customer.unknown"), style="bold reverse")
    else:
        who = Text(texts("placeholder"))
    title = Text.assemble((texts("card.title", account=account), "bold"), " · ", who)
    if any(service.monitors_account and service.state == "suspended" for service in card.services):
        title.append(f" {texts('customer.suspended')}", style="bold magenta")
    opened_from = texts(
        "card.opened_from", id=event.id, time=local_time(event.received_at),
        event=describe_event(event.protocol, event.code, event.qualifier, texts.language),
        zone=zone_or_user(event, texts),
    )
    return _lines(title, Text(opened_from, style="dim"))


def customer_text(card: AccountCard, texts: Texts) -> Text:
    heading = _heading(texts, "card.section.customer")
    if card.account_number is None:
        return _lines(heading, _missing(texts, "card.no_account_number"))
    if card.account is None:
        return _lines(heading, Text(texts("customer.unknown"), style="bold reverse"),
                      _missing(texts, "card.unregistered"))
    customer = card.customer
    if customer is None:
        return _lines(heading, _missing(texts, "card.no_customer"))
    name = Text(customer.name, style="bold")
    if customer.ref:
        name.append(f"  ({customer.ref})", style="dim")
    return _lines(
        heading, name,
        _labelled(texts, "card.field.tax_id", customer.tax_id),
        _labelled(texts, "card.field.phone", customer.phone),
        _labelled(texts, "card.field.mobile", customer.mobile),
        _labelled(texts, "card.field.email", customer.email),
        _labelled(texts, "card.field.address", _joined(", ", customer.address, customer.city)),
        _labelled(texts, "card.field.remarks", customer.notes),
    )


def call_list_text(card: AccountCard, texts: Texts) -> Text:
    heading = _heading(texts, "card.section.calls")
    if not card.contacts:
        return _lines(heading, _missing(texts, "card.no_contacts"))
    rows: list[Text | None] = [heading]
    for contact in card.contacts:
        row = Text.assemble((f"{contact.position}. ", "bold"), (contact.name, "bold"))
        if contact.relation:
            row.append(f" ({contact.relation})", style="dim")
        row.append("  ")
        row.append(contact.phone or texts("card.no_phone"), style="bold cyan" if contact.phone else "dim italic")
        rows.append(row)
        if contact.notes:
            rows.append(Text(f"   {contact.notes}", style="italic"))
    return _lines(*rows)


def plan_text(card: AccountCard, texts: Texts) -> Text:
    heading = _heading(texts, "card.section.plan")
    instructions = card.account.instructions if card.account else None
    return _lines(heading, Text(instructions) if instructions else _missing(texts, "card.no_plan"))


def _service_line(service: ServiceInfo, texts: Texts) -> Text:
    kind = texts(f"card.kind.{service.service_kind}")
    line = Text.assemble(("● " if service.monitors_account else "  ", "bold"), (kind, "bold"))
    for part in (service.ref, service.plan_name):
        if part:
            line.append(f" · {part}")
    line.append(": ")
    line.append(texts(f"card.state.{service.state}"), style=_STATE_STYLE.get(service.state, ""))
    if service.days_left is not None and service.cut_on is not None:
        line.append(" — " + texts("card.days_left", days=service.days_left, date=f"{service.cut_on:%d/%m}"))
    elif service.state == "suspended" and service.cut_on is not None:
        line.append(" " + texts("card.suspended_since", date=f"{service.cut_on:%d/%m}"))
    return line


def service_text(card: AccountCard, texts: Texts) -> Text:
    heading = _heading(texts, "card.section.service")
    if not card.services:
        return _lines(heading, _missing(texts, "card.no_contracts"))
    return _lines(heading, *(_service_line(service, texts) for service in card.services))


def location_text(card: AccountCard, texts: Texts) -> Text:
    heading = _heading(texts, "card.section.location")
    account = card.account
    if account is None:
        return _lines(heading, _missing(texts, "card.no_location"))
    coordinates = (f"{account.latitude:.5f}, {account.longitude:.5f}"
                   if account.latitude is not None and account.longitude is not None else None)
    last_seen = Text(local_time(account.last_seen_at)) if account.last_seen_at else None
    if last_seen is not None and account.late:
        last_seen.append(f"  {texts('card.late')}", style="bold yellow")
    return _lines(
        heading,
        Text(account.location) if account.location else _missing(texts, "card.no_location"),
        _labelled(texts, "card.field.coordinates", coordinates),
        _labelled(texts, "card.field.panel", account.device_type),
        _labelled(texts, "card.field.receiver", _joined(" / ", account.receiver, account.line)),
        Text.assemble((f"{texts('card.field.last_seen')} ", "dim"), last_seen) if last_seen else None,
        _labelled(texts, "card.field.remarks", account.notes),
    )


def _same_zone(number: str, reported: str | None) -> bool:
    """Panels pad zone numbers ("002"); the account lists them as typed ("2")."""
    if reported is None:
        return False
    if number.isdigit() and reported.isdigit():
        return int(number) == int(reported)
    return number.upper() == reported.upper()


def zones_text(card: AccountCard, texts: Texts, event: EventRecord) -> Text:
    heading = _heading(texts, "card.section.zones")
    if not card.zones:
        return _lines(heading, _missing(texts, "card.no_zones"))
    width = max(len(zone.number) for zone in card.zones)
    rows: list[Text | None] = [heading]
    for zone in card.zones:
        row = Text(f"{zone.number:>{width}} {zone.name or texts('placeholder')}")
        if zone.kind:
            row.append(f" ({zone.kind})", style="dim")
        if _same_zone(zone.number, event.zone):
            row.stylize("bold reverse")
        rows.append(row)
    return _lines(*rows)


def notes_text(notes: tuple[AccountNote, ...], known_account: bool, texts: Texts) -> Text:
    heading = _heading(texts, "card.section.notes")
    if not known_account:
        return _lines(heading, _missing(texts, "card.note.unregistered"))
    if not notes:
        return _lines(heading, _missing(texts, "card.no_notes"))
    return _lines(heading, *(
        Text.assemble((f"{local_time(note.at)} ", "dim"), (note.operator, "bold"), f": {note.text}") for note in notes
    ))


class AccountCardScreen(Screen[None]):
    DEFAULT_CSS = """
    AccountCardScreen { layout: vertical; }
    #card-title { height: auto; padding: 0 1; background: $boost; }
    #card-body { height: 1fr; }
    #card-top { height: auto; layout: vertical; }
    AccountCardScreen.-wide #card-top { layout: horizontal; }
    .card-column { height: auto; }
    AccountCardScreen.-wide .card-column { width: 1fr; }
    .card-section { height: auto; padding: 0 1; margin-bottom: 1; }
    #card-history-title { padding: 0 1; }
    #card-history { height: 12; }
    AccountCardScreen.-wide #card-history { height: 1fr; min-height: 12; }
    """
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE_FROM, "-wide")]
    BINDINGS = [
        Binding("escape", "close", "card.key.close"),
        Binding("n", "add_note", "card.key.note"),
    ]

    def __init__(self, store: Store, texts: Texts, event: EventRecord, operator_name: str) -> None:
        super().__init__()
        self.store = store
        self.texts = texts
        self.event = event
        self.operator_name = operator_name
        self.card: AccountCard | None = None
        self.looks: dict[int, PriorityLook] = {}
        self._oldest_loaded: int | None = None
        self._history_complete = False
        localize_bindings(self, texts)

    def compose(self) -> ComposeResult:
        t = self.texts
        columns = [
            ColumnSpec(t(key), width, NEVER_SHOWN if key in _REPEATED_COLUMNS else shown_from)
            for key, width, shown_from in EVENT_COLUMNS
        ]
        yield Static(id="card-title")
        with VerticalScroll(id="card-body"):
            with Horizontal(id="card-top"):
                with Vertical(classes="card-column"):
                    yield Static(id="card-customer", classes="card-section")
                    yield Static(id="card-calls", classes="card-section")
                with Vertical(classes="card-column"):
                    yield Static(id="card-plan", classes="card-section")
                    yield Static(id="card-service", classes="card-section")
                    yield Static(id="card-location", classes="card-section")
                with Vertical(classes="card-column"):
                    yield Static(id="card-zones", classes="card-section")
                    yield Static(id="card-notes", classes="card-section")
            yield Static(_heading(t, "card.section.history"), id="card-history-title")
            yield LiveTable(columns, order=lambda event_id: event_id, reverse=True, capacity=HISTORY_LIMIT,
                            id="card-history")
        yield Footer()

    @property
    def history(self) -> LiveTable:
        return self.query_one("#card-history", LiveTable)

    async def on_mount(self) -> None:
        self.looks = priority_looks(await self.store.priorities(), self.texts.language)
        today = datetime.now().astimezone().date()
        self.card = await load_account_card(self.store.reader, self.event, today)
        self._render_card()
        if self.card.history is None:
            self._history_complete = True
            self.history.display = False
            self.query_one("#card-history-title", Static).update(_lines(
                _heading(self.texts, "card.section.history"), _missing(self.texts, "card.no_account_number")))
            return
        self._follow_account()
        # Side by side, the history is in view and its cursor is what the keys should move; on
        # a small terminal the keys first scroll the card (Tab reaches the history).
        if self.app.size.width >= WIDE_FROM:
            self.history.focus()
        else:
            self.query_one("#card-body", VerticalScroll).focus()

    def _render_card(self) -> None:
        card = self.card
        assert card is not None
        t = self.texts
        self.query_one("#card-title", Static).update(title_text(card, self.event, t))
        self.query_one("#card-customer", Static).update(customer_text(card, t))
        self.query_one("#card-calls", Static).update(call_list_text(card, t))
        self.query_one("#card-plan", Static).update(plan_text(card, t))
        self.query_one("#card-service", Static).update(service_text(card, t))
        self.query_one("#card-location", Static).update(location_text(card, t))
        self.query_one("#card-zones", Static).update(zones_text(card, t, self.event))
        self._render_notes(card.notes)

    def _render_notes(self, notes: tuple[AccountNote, ...]) -> None:
        known = self.card is not None and self.card.account is not None
        self.query_one("#card-notes", Static).update(notes_text(notes, known, self.texts))

    def _show_events(self, events: list[EventRecord]) -> None:
        now = datetime.now().astimezone()
        self.history.upsert((event.id, event_cells(event, self.texts, self.looks, now)) for event in events)

    async def _load_history_page(self) -> None:
        assert self.card is not None and self.card.history is not None
        page = await account_history(self.store.reader, self.card.history, HISTORY_PAGE,
                                     before_id=self._oldest_loaded)
        if not self.is_mounted:
            return
        if page:
            self._oldest_loaded = page[-1].id
            self._show_events(page)
        self._history_complete = len(page) < HISTORY_PAGE or self.history.row_count >= HISTORY_LIMIT

    @work(exclusive=True, group="card-feed")
    async def _follow_account(self) -> None:
        assert self.card is not None and self.card.history is not None
        scope = self.card.history
        with self.store.events_hub.subscribe() as feed:
            try:
                # The first page is read once subscribed, so an event committed in between is
                # not missed; rows are keyed by id, so one seen twice shows once.
                await self._load_history_page()
                while True:
                    changes = [await feed.get(), *feed.drain()]
                    if not self.is_mounted:  # closed while this batch was on its way
                        return
                    self._show_events([event for change in changes for event in (*change.added, *change.updated)
                                       if scope.includes(event)])
            except NoMatches:  # the card is closing: its widgets are already being removed
                return

    @work(exclusive=True, group="card-history-page")
    async def _next_history_page(self) -> None:
        try:
            await self._load_history_page()
        except NoMatches:  # the card is closing: its widgets are already being removed
            return

    def on_data_table_row_highlighted(self, message: DataTable.RowHighlighted) -> None:
        """Older events load when the cursor reaches the last row, a page at a time."""
        if message.data_table is not self.history:
            return
        if self.history.has_focus:
            # A note added above moves the table down: bring the cursor's table back into view.
            self.history.scroll_visible(animate=False)
        if not self._history_complete and message.cursor_row >= self.history.row_count - 1:
            self._next_history_page()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_add_note(self) -> None:
        card = self.card
        if card is None:
            return
        if card.account is None:
            self.notify(self.texts("card.note.unregistered"), severity="warning")
            return
        title = self.texts("card.note.title", account=card.account_number or card.account.id)
        self.app.push_screen(NoteDialog(self.texts, title), self._save_note)

    async def _save_note(self, text: str | None) -> None:
        card = self.card
        if text is None or card is None or card.account is None:
            return
        try:
            async with self.store.transaction() as db:
                await add_account_note(db, card.account.id, self.operator_name, text)
        except (ActionRefused, sqlite3.Error) as exc:
            self.notify(self.texts("card.note.not_saved", error=exc), severity="error")
            return
        # Reloaded rather than prepended: other operators' notes since the card opened show too.
        self._render_notes(await account_notes(self.store.reader, card.account.id))
        self.notify(self.texts("card.note.saved"))
