"""The operator's main screen: live events and pending alarms as tabs of one dashboard."""

from __future__ import annotations

from datetime import datetime

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, TabbedContent, TabPane

from centinela.data.records import EventRecord
from centinela.data.store import Store
from centinela.runtime import Runtime
from centinela.tui.bindings import localize_bindings
from centinela.tui.present import PriorityLook, event_cells, local_time
from centinela.tui.texts import Texts
from centinela.tui.widgets.live_table import ColumnSpec, LiveTable
from centinela.tui.widgets.status_bar import StatusBar, status_text

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
    ("col.status", 7, 0),
)
FEED_SIZE = 500


class DashboardScreen(Screen[None]):
    BINDINGS = [
        Binding("e", "show_tab('events')", "key.events"),
        Binding("p", "show_tab('pending')", "key.pending"),
    ]

    def __init__(self, runtime: Runtime, texts: Texts) -> None:
        super().__init__()
        self.runtime = runtime
        self.texts = texts
        self.looks: dict[int, PriorityLook] = {}
        self._open: dict[int, EventRecord] = {}
        self.open_count = 0
        localize_bindings(self, texts)

    @property
    def store(self) -> Store:
        assert self.runtime.store is not None
        return self.runtime.store

    def compose(self) -> ComposeResult:
        t = self.texts
        columns = [ColumnSpec(t(key), width, shown_from) for key, width, shown_from in EVENT_COLUMNS]
        yield Header()
        with TabbedContent(initial="events"):
            with TabPane(t("tab.events"), id="events"):
                yield LiveTable(columns, order=lambda event_id: event_id, reverse=True,
                                capacity=FEED_SIZE, id="events-table")
            with TabPane(t("tab.pending", count=0), id="pending"):
                yield LiveTable(columns, order=self._pending_order, capacity=FEED_SIZE, id="pending-table")
        yield StatusBar(id="status-bar")
        yield Footer()

    def _pending_order(self, event_id: int) -> tuple[int, int]:
        event = self._open.get(event_id)
        return (event.priority if event else 99, event_id)

    async def on_mount(self) -> None:
        self.looks = {
            row.level: PriorityLook(row.level, row.name(self.texts.language), row.colour)
            for row in await self.store.priorities()
        }
        # Subscribe before the first read so nothing committed in between is missed; the tables
        # key rows by id, so an event seen twice is shown once.
        self._follow_events()
        self._show(await self.store.recent_events(FEED_SIZE))
        self._show(await self.store.open_events(FEED_SIZE))
        self.open_count = await self.store.count_open_events()
        self._refresh_pending_title()
        self._refresh_status()
        self.set_interval(1.0, self._refresh_status)

    @work(exclusive=True, group="event-feed")
    async def _follow_events(self) -> None:
        with self.store.events_hub.subscribe() as feed:
            while True:
                changes = [await feed.get(), *feed.drain()]
                self._show([event for change in changes for event in (*change.added, *change.updated)])
                self.open_count = await self.store.count_open_events()
                self._refresh_pending_title()

    def _show(self, events: list[EventRecord]) -> None:
        """Upsert rows: an event seen again (a restore closed it, an operator took it) is redrawn,
        and leaves the pending tab once resolved."""
        now = datetime.now().astimezone()
        self.query_one("#events-table", LiveTable).upsert(
            (event.id, event_cells(event, self.texts, self.looks, now)) for event in events
        )
        pending = self.query_one("#pending-table", LiveTable)
        still_open = [event for event in events if event.status != "resolved"]
        pending.discard(event.id for event in events if event.status == "resolved")
        for event in events:
            if event.status == "resolved":
                self._open.pop(event.id, None)
            else:
                self._open[event.id] = event
        pending.upsert((event.id, event_cells(event, self.texts, self.looks, now)) for event in still_open)

    def _refresh_pending_title(self) -> None:
        tab = self.query_one(TabbedContent).get_tab("pending")
        tab.label = self.texts("tab.pending", count=self.open_count)

    def _refresh_status(self) -> None:
        stats = self.runtime.stats
        listeners = [(state.label, state.up) for state in self.runtime.listener_states]
        last = local_time(stats.last_signal_at) if stats.last_signal_at else None
        self.query_one(StatusBar).show(status_text(self.texts, listeners, last, stats.protocol_errors))

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
