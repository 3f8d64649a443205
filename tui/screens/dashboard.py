"""The operator's main screen: live events and pending alarms as tabs of one dashboard, the
actions an operator takes on an alarm, and the status bar."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timedelta
from functools import partial

import aiosqlite
from centinela.data import alarm_actions
from centinela.data.alarm_actions import ActionRefused
from centinela.data.event_query import EventFilter, filter_sql, matches
from centinela.data.event_batch import EventChanges
from centinela.data.odoo_push import dispatch_technician, enqueue_alarm_resolved
from centinela.data.operators import Operator
from centinela.data.pubsub import Subscription
from centinela.data.records import EventRecord
from centinela.data.store import Store
from centinela.data.timeutil import utcnow
from centinela.tui.bindings import localize_bindings
from centinela.tui.pacing import Pacer
from centinela.tui.present import PriorityLook, elapsed, event_cells, local_time, pending_cells, priority_looks
from centinela.tui.screens.alarm_dialogs import HoldChoice, HoldDialog, NoteDialog, ResolveChoice, ResolveDialog
from centinela.tui.texts import Texts
from centinela.tui.traffic import TrafficCounter
from centinela.tui.widgets.collections_panel import CollectionsPanel
from centinela.tui.widgets.live_table import ColumnSpec, LiveTable
from centinela.tui.widgets.status_bar import StatusBar, StatusInfo
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Select, TabbedContent, TabPane

from centinela.runtime import Runtime

# (text key, fixed width or None for flexible, narrowest table that still shows it); the order
# matches tui.present.event_cells.
EVENT_COLUMNS: tuple[tuple[str, int | None, int], ...] = (
    ("col.id", 7, 120),
    ("col.time", 8, 0),
    ("col.account", 6, 0),
    ("col.customer", None, 0),
    ("col.event", None, 0),
    ("col.zone", 4, 0),
    ("col.partition", 4, 100),
    ("col.priority", 9, 0),
    ("col.status", 9, 0),
)
# Pending rows start with the waiting time (tui.present.pending_cells); the id column is hidden.
PENDING_COLUMNS: tuple[tuple[str, int | None, int], ...] = (
    ("col.elapsed", 7, 0),
    ("col.id", 7, 9999),
    ("col.time", 8, 100),  # at 80 columns the waiting time says enough
    *EVENT_COLUMNS[2:6],
    ("col.partition", 4, 120),
    ("col.priority", 9, 0),
    ("col.status", 14, 0),
)
PAGE = 200
FEED_ROWS = PAGE
"""Rows the live feed keeps (scrolling to its end loads older pages) and the pending alarms
listed (the tab's title counts them all). Each new row pushes one out, and DataTable renumbers
every row to remove one: on the loop the receiver shares, a storm pays that for hundreds of rows
a second."""
PENDING_LIMIT = PAGE
FILTER_DELAY = 0.3
QUIET_AFTER_UPDATE = 4
"""After updating the tables, wait this many times what the update took before the next one, so
they cannot starve the receiver sharing the loop: a storm's thousands of signals a second reach
the screen in a few batches a second, while at ordinary rates (an update of a row or two takes a
millisecond or two) every event shows at once."""
MAX_UPDATE_GAP = 0.5
"""Seconds: however slow the last update, the next one comes at most this late."""


def _specs(texts: Texts, columns: tuple[tuple[str, int | None, int], ...]) -> list[ColumnSpec]:
    return [ColumnSpec(texts(key), width, shown_from) for key, width, shown_from in columns]


class DashboardScreen(Screen[None]):
    DEFAULT_CSS = """
    DashboardScreen #filters { height: 1; }
    DashboardScreen #filters Input { border: none; height: 1; width: 1fr; padding: 0 1; }
    DashboardScreen #filters #f-account { width: 12; }
    DashboardScreen #filters Select { width: 18; }
    DashboardScreen #filters SelectCurrent { border: none; height: 1; padding: 0 1; }
    """
    BINDINGS = [
        Binding("e", "show_tab('events')", "key.events"),
        Binding("p", "show_tab('pending')", "key.pending"),
        Binding("b", "show_tab('collections')", "key.collections"),
        Binding("t", "take", "key.take"),
        Binding("n", "note", "key.note"),
        Binding("r", "resolve", "key.resolve"),
        Binding("h", "hold", "key.hold"),
        Binding("c", "card", "key.card"),
        Binding("d", "dispatch", "key.dispatch"),
        Binding("m", "mute", "key.mute"),
        Binding("slash", "filter", "key.filter"),
        Binding("space", "pause", "key.pause"),
        Binding("f2", "settings", "key.settings"),
        Binding("q", "app.quit", "key.quit"),
        Binding("escape", "leave_filter", show=False),
    ]

    def __init__(
        self,
        runtime: Runtime,
        texts: Texts,
        operator: Operator,
        *,
        sound_state: Callable[[], tuple[str, str | None] | None] = lambda: None,
        toggle_mute: Callable[[], str | None] = lambda: None,
        open_settings: Callable[[], None] | None = None,
        open_card: Callable[[EventRecord], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.texts = texts
        self.operator = operator
        self._sound_state = sound_state
        self._toggle_mute = toggle_mute
        self._open_settings = open_settings
        self._open_card = open_card
        self.clock = clock
        self.looks: dict[int, PriorityLook] = {}
        self.open_events: dict[int, EventRecord] = {}
        self.event_filter = EventFilter()
        self.paused = False
        self.missed_while_paused = 0
        self.exhausted = False
        self.traffic = TrafficCounter()
        self.last_received: datetime | None = None
        self._filter_timer: Timer | None = None
        self._loaded = asyncio.Event()
        self._subscriptions = ExitStack()
        self._closing = False
        localize_bindings(self, texts)

    @property
    def store(self) -> Store:
        assert self.runtime.store is not None
        return self.runtime.store

    def compose(self) -> ComposeResult:
        t = self.texts
        priorities = [(t("filter.any"), 0)]
        statuses = [(t("filter.any"), "")] + [(t(f"status.{s}"), s) for s in ("new", "pending", "acknowledged", "resolved")]
        yield Header()
        with TabbedContent(initial="events", id="dashboard-tabs"):
            with TabPane(t("tab.events"), id="events"):
                with Horizontal(id="filters"):
                    yield Input(placeholder=t("filter.text"), id="f-text")
                    yield Input(placeholder=t("filter.account"), id="f-account")
                    yield Select(priorities, value=0, allow_blank=False, id="f-priority", prompt=t("filter.priority"))
                    yield Select(statuses, value="", allow_blank=False, id="f-status", prompt=t("filter.status"))
                yield LiveTable(_specs(t, EVENT_COLUMNS), order=lambda event_id: event_id, reverse=True,
                                capacity=FEED_ROWS, id="events-table")
            with TabPane(t("tab.pending", count=0), id="pending"):
                yield LiveTable(_specs(t, PENDING_COLUMNS), order=self._pending_order, capacity=PENDING_LIMIT,
                                id="pending-table")
            if self.runtime.billing is not None:
                with TabPane(t("cob.tab"), id="collections"):
                    yield CollectionsPanel(self.store, self.runtime.billing, is_admin=self.operator.is_admin,
                                           texts=t, actor=self.operator.username)
        yield StatusBar(id="status-bar")
        yield Footer()

    # ------------------------------------------------------------------ loading and live updates

    @property
    def _tabs(self) -> TabbedContent:
        # By id: the Cobranza panel has tabs of its own inside this one.
        return self.query_one("#dashboard-tabs", TabbedContent)

    def _pending_order(self, event_id: int) -> tuple[int, int]:
        event = self.open_events.get(event_id)
        return (event.priority if event else 99, event_id)

    async def on_mount(self) -> None:
        self.looks = priority_looks(await self.store.priorities(), self.texts.language)
        priority_select = self.query_one("#f-priority", Select)
        priority_select.set_options([(self.texts("filter.any"), 0)] + [(look.name, look.level) for look in self.looks.values()])
        # Subscribe before the first read so nothing committed in between is missed; rows are
        # keyed by event id, so an event seen twice is shown once.
        self._follow_events(self._subscriptions.enter_context(self.store.events_hub.subscribe()))
        await self._load_events()
        await self._load_pending()
        self._loaded.set()
        self.query_one("#events-table", LiveTable).focus()
        self._refresh_status()
        self.set_interval(1.0, self._tick)

    async def _load_events(self) -> None:
        table = self.query_one("#events-table", LiveTable)
        rows = await self.store.recent_events(PAGE, where=filter_sql(self.event_filter, self.texts.language))
        table.clear_rows()
        table.capacity = FEED_ROWS
        self.exhausted = len(rows) < PAGE
        now = self.clock()
        table.upsert((event.id, event_cells(event, self.texts, self.looks, now)) for event in rows)
        if rows and self.last_received is None:
            self.last_received = rows[0].received_at

    async def _load_older(self) -> None:
        table = self.query_one("#events-table", LiveTable)
        oldest = table.oldest_id()
        if oldest is None or self.exhausted:
            return
        rows = await self.store.recent_events(PAGE, before_id=oldest,
                                              where=filter_sql(self.event_filter, self.texts.language))
        self.exhausted = len(rows) < PAGE
        table.capacity += len(rows)
        now = self.clock()
        table.upsert((event.id, event_cells(event, self.texts, self.looks, now)) for event in rows)

    async def _load_pending(self) -> None:
        self.open_events = {event.id: event for event in await self.store.open_events(PENDING_LIMIT)}
        table = self.query_one("#pending-table", LiveTable)
        table.clear_rows()
        now = self.clock()
        table.upsert((event.id, pending_cells(event, self.texts, self.looks, now)) for event in self.open_events.values())
        await self._refresh_pending_title(refill=False)

    def on_unmount(self) -> None:
        self._closing = True
        self._subscriptions.close()

    @work(exclusive=True, group="event-feed")
    async def _follow_events(self, feed: Subscription[EventChanges]) -> None:
        # Changes queue up until the first page is on screen, so the load cannot wipe them.
        await self._loaded.wait()
        pacer = Pacer(QUIET_AFTER_UPDATE, MAX_UPDATE_GAP)
        while True:
            changes: list[EventChanges] = [await feed.get()]
            await pacer.ready()
            changes += feed.drain()
            if self._closing:
                return
            added = [event for change in changes for event in change.added]
            updated = [event for change in changes for event in change.updated]
            try:
                with pacer.run():
                    self._apply(added, updated)
                    await self._refresh_pending_title()
            except NoMatches:  # the console is closing: its widgets are already being removed
                return

    def _apply(self, added: list[EventRecord], updated: list[EventRecord]) -> None:
        """New and changed events: into the feed (unless paused or filtered out) and the pending
        tab; a resolved alarm leaves the pending tab."""
        for event in added:
            self.traffic.add(event.received_at)
            if self.last_received is None or event.received_at > self.last_received:
                self.last_received = event.received_at
        now = self.clock()
        table = self.query_one("#events-table", LiveTable)
        fresh = [e for e in added if matches(e, self.event_filter, self.texts.language)]
        if self.paused and fresh:
            self.missed_while_paused += len(fresh)
            fresh = []
            self._refresh_events_title()
        changed = [e for e in updated if e.id in table]
        table.upsert((e.id, event_cells(e, self.texts, self.looks, now)) for e in (*fresh, *changed))

        pending = self.query_one("#pending-table", LiveTable)
        closed = [e.id for e in (*added, *updated) if e.status == "resolved"]
        for event_id in closed:
            self.open_events.pop(event_id, None)
        pending.discard(closed)
        still_open = [e for e in (*added, *updated) if e.status != "resolved"]
        for event in still_open:
            self.open_events[event.id] = event
        pending.upsert((e.id, pending_cells(e, self.texts, self.looks, now)) for e in still_open)
        # Only what the list shows is kept: the rest is read again from the store as room frees up.
        self.open_events = {event_id: event for event_id, event in self.open_events.items() if event_id in pending}

    async def _refresh_pending_title(self, *, refill: bool = True) -> None:
        """Count the alarms waiting; if the list shows fewer than it could (alarms beyond its
        PENDING_LIMIT rows were closed meanwhile), read it again so the next ones move up."""
        count = await self.store.count_open_events()
        if self._closing:  # the console closed while the count was read
            return
        self._tabs.get_tab("pending").label = self.texts("tab.pending", count=count)
        if refill and len(self.query_one("#pending-table", LiveTable).row_ids()) < min(count, PENDING_LIMIT):
            await self._load_pending()

    def _tick(self) -> None:
        now = self.clock()
        self.query_one("#pending-table", LiveTable).update_column(
            0, {event_id: elapsed(event.received_at, now) for event_id, event in self.open_events.items()}
        )
        self._refresh_status()

    def _refresh_status(self) -> None:
        runtime = self.runtime
        owner = None
        if not runtime.is_owner:
            holder = runtime.lock.owner() if runtime.lock else None
            owner = holder.describe() if holder else "?"
        last = runtime.stats.last_signal_at or self.last_received
        info = StatusInfo(
            listeners=[(state.label, state.up) for state in runtime.listener_states],
            owner=owner,
            last_signal=local_time(last, self.clock()) if last else None,
            per_minute=self.traffic.per_minute(self.clock()),
            protocol_errors=runtime.stats.protocol_errors,
            sound=self._sound_state(),
            sync=runtime.sync_state(),
            operator=self.operator.full_name or self.operator.username,
        )
        self.query_one(StatusBar).show(self.texts, info)

    # ------------------------------------------------------------------ filters, paging, pause

    @on(Input.Changed, "#filters Input")
    @on(Select.Changed, "#filters Select")
    def _filter_changed(self) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(FILTER_DELAY, self._apply_filter)

    async def _apply_filter(self) -> None:
        priority = self.query_one("#f-priority", Select).value
        status = self.query_one("#f-status", Select).value
        wanted = EventFilter(
            text=self.query_one("#f-text", Input).value,
            account=self.query_one("#f-account", Input).value,
            priority=int(priority) if isinstance(priority, int) and priority else None,
            status=status if isinstance(status, str) and status else None,  # type: ignore[arg-type]
        )
        # Widgets also report changes nobody typed (options filled in at start-up).
        if wanted == self.event_filter:
            return
        self.event_filter = wanted
        await self._load_events()

    @on(DataTable.RowHighlighted, "#events-table")
    async def _maybe_load_older(self, event: DataTable.RowHighlighted) -> None:
        table = self.query_one("#events-table", LiveTable)
        if event.cursor_row >= table.row_count - 5:
            await self._load_older()

    @on(DataTable.RowSelected)
    async def _row_chosen(self) -> None:
        await self.action_card()

    def action_filter(self) -> None:
        self._tabs.active = "events"
        self.query_one("#f-text", Input).focus()

    def action_leave_filter(self) -> None:
        if isinstance(self.focused, Input):
            self._active_table().focus()

    async def action_pause(self) -> None:
        """Freeze the event list to read it; new events are counted, and shown on resume."""
        self.paused = not self.paused
        self.missed_while_paused = 0
        self._refresh_events_title()
        if not self.paused:
            await self._load_events()

    def _refresh_events_title(self) -> None:
        label = self.texts("tab.events")
        if self.paused:
            label = f"{label} {self.texts('filter.paused', count=self.missed_while_paused)}"
        self._tabs.get_tab("events").label = label

    # ------------------------------------------------------------------ alarm actions

    def action_show_tab(self, tab: str) -> None:
        tabs = self._tabs
        if tab == "collections" and not self.query("#collections"):
            return
        tabs.active = tab
        if tab == "collections":
            self.query_one(CollectionsPanel).query(DataTable).first().focus()
        else:
            self._active_table().focus()

    def _active_table(self) -> LiveTable:
        active = self._tabs.active
        return self.query_one("#pending-table" if active == "pending" else "#events-table", LiveTable)

    def _selected(self) -> int | None:
        selected = self._active_table().selected_id()
        if selected is None:
            self.notify(self.texts("action.no_selection"), severity="warning", timeout=2)
        return selected

    async def _act(self, action, message: str) -> None:  # type: ignore[no-untyped-def]
        try:
            await self.store.apply(action)
        except ActionRefused as refused:
            self.notify(str(refused), severity="error")
            return
        self.notify(message, timeout=2)

    async def action_take(self) -> None:
        event_id = self._selected()
        if event_id is not None:
            await self._act(lambda db: alarm_actions.take(db, event_id, self.operator.username),
                            self.texts("action.taken", id=event_id))

    def action_note(self) -> None:
        event_id = self._selected()
        if event_id is None:
            return

        async def done(note: str | None) -> None:
            if note:
                await self._act(lambda db: alarm_actions.add_note(db, event_id, self.operator.username, note),
                                self.texts("action.noted", id=event_id))

        self.app.push_screen(NoteDialog(self.texts, self.texts("action.note_title", id=event_id)), done)

    def action_resolve(self) -> None:
        event_id = self._selected()
        if event_id is None:
            return

        async def done(choice: ResolveChoice | None) -> None:
            if not choice:
                return

            async def resolve_and_report(db: aiosqlite.Connection) -> EventRecord:
                event = await alarm_actions.resolve(db, event_id, self.operator.username, choice.resolution, choice.note)
                await enqueue_alarm_resolved(db, event_id)  # the customer's record in Odoo, if linked
                return event

            await self._act(resolve_and_report, self.texts("action.resolved", id=event_id))

        self.app.push_screen(ResolveDialog(self.texts, self.texts("action.resolve_title", id=event_id)), done)

    def action_hold(self) -> None:
        event_id = self._selected()
        if event_id is None:
            return

        async def done(choice: HoldChoice | None) -> None:
            if choice:
                until = utcnow() + timedelta(minutes=choice.minutes)
                await self._act(
                    lambda db: alarm_actions.hold(db, event_id, self.operator.username, until, choice.note),
                    self.texts("action.held", id=event_id, time=local_time(until)),
                )

        self.app.push_screen(HoldDialog(self.texts, self.texts("action.hold_title", id=event_id)), done)

    def action_dispatch(self) -> None:
        """Send a technician: a field-service task in Odoo with the account, place and event."""
        event_id = self._selected()
        if event_id is None:
            return

        async def done(notes: str | None) -> None:
            if notes:
                await self._act(partial(dispatch_technician, event_id=event_id, operator=self.operator.username,
                                        notes=notes), self.texts("action.dispatched", id=event_id))

        self.app.push_screen(NoteDialog(self.texts, self.texts("action.dispatch_title", id=event_id)), done)

    async def action_card(self) -> None:
        event_id = self._selected()
        if event_id is None or self._open_card is None:
            return
        event = await self.store.get_event(event_id)
        if event is not None:
            self._open_card(event)

    def action_mute(self) -> None:
        message = self._toggle_mute()
        if message:
            self.notify(message, timeout=2)
        self._refresh_status()

    def action_settings(self) -> None:
        if not self.operator.is_admin:
            self.notify(self.texts("role.refused"), severity="error")
            return
        if self._open_settings is not None:
            self._open_settings()
