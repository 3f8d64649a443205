"""The admins' settings screen: one tab per area, each a form that checks before it saves.

Open it with :func:`open_settings`, which refuses operators without the admin role. Every save is
audited with the admin's name and applied at once: the event writer re-reads priorities and code
overrides, and the app's hooks (:class:`SettingsHooks`) reload sounds, restart listeners, etc.
"""

from __future__ import annotations

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, TabbedContent, TabPane

from centinela.config import Config
from centinela.data.operators import Operator
from centinela.data.store import Store
from centinela.tui.bindings import localize_bindings
from centinela.tui.screens.settings_billing import BillingSection
from centinela.tui.screens.settings_codes import CodesSection
from centinela.tui.screens.settings_form import SettingsContext, SettingsHooks, SettingsSection, may_open_settings
from centinela.tui.screens.settings_odoo import OdooSection
from centinela.tui.screens.settings_operators import OperatorsSection
from centinela.tui.screens.settings_priorities import PrioritiesSection
from centinela.tui.screens.settings_receivers import ReceiversSection
from centinela.tui.screens.settings_routers import RoutersSection
from centinela.tui.texts import Texts

__all__ = ["SettingsHooks", "SettingsScreen", "open_settings"]

SECTIONS: tuple[type[SettingsSection], ...] = (
    PrioritiesSection,
    CodesSection,
    BillingSection,
    ReceiversSection,
    RoutersSection,
    OdooSection,
    OperatorsSection,
)


class SettingsScreen(Screen[None]):
    """Build it through :func:`open_settings`; opened for a non-admin it says so and closes."""

    BINDINGS = [
        Binding("escape", "back", "settings.key.back"),
        Binding("ctrl+s", "save", "settings.key.save"),
    ]

    DEFAULT_CSS = """
    SettingsScreen TabbedContent { height: 1fr; }
    SettingsScreen TabPane { padding: 0; }
    """

    def __init__(self, context: SettingsContext, *, section: str = PrioritiesSection.PREFIX) -> None:
        super().__init__()
        self.context = context
        self._first_tab = f"tab-{section}"
        localize_bindings(self, context.texts)

    def compose(self) -> ComposeResult:
        yield Header()
        if may_open_settings(self.context.operator):
            with TabbedContent(initial=self._first_tab):
                for section in SECTIONS:
                    yield TabPane(self.context.texts(f"settings.tab.{section.PREFIX}"), id=f"tab-{section.PREFIX}")
        yield Footer()

    async def on_mount(self) -> None:
        self.title = self.context.texts("settings.title")
        self.sub_title = self.context.operator.username
        if not may_open_settings(self.context.operator):
            refuse(self.app, self.context.operator, self.context.texts)
            self.dismiss()
            return
        pane = self.query_one(TabbedContent).active_pane
        if pane is not None:
            await self._fill(pane)

    @on(TabbedContent.TabActivated)
    async def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        await self._fill(event.pane)

    async def _fill(self, pane: TabPane) -> None:
        """Build a tab's form the first time it is shown: all seven at once take seconds to
        build, and most visits need one or two."""
        if not pane.children:
            section = next(section for section in SECTIONS if pane.id == f"tab-{section.PREFIX}")
            await pane.mount(section(self.context))

    def action_back(self) -> None:
        self.dismiss()

    async def action_save(self) -> None:
        pane = self.query_one(TabbedContent).active_pane
        for section in pane.query(SettingsSection) if pane is not None else ():
            await section.save()


def refuse(app: App[object], operator: Operator, texts: Texts) -> None:
    app.notify(texts("settings.refused", user=operator.username), title=texts("settings.title"), severity="error")


def open_settings(
    app: App[object],
    operator: Operator,
    *,
    store: Store,
    texts: Texts,
    config: Config,
    hooks: SettingsHooks | None = None,
    section: str = PrioritiesSection.PREFIX,
) -> bool:
    """Push the settings screen for ``operator``, showing ``section`` (a tab's prefix: ``prio``,
    ``codes``, ``billing``, ``recv``, ``routers``, ``odoo``, ``ops``); an operator who is not an
    active admin gets a notification instead. Returns whether the screen opened."""
    if not may_open_settings(operator):
        refuse(app, operator, texts)
        return False
    context = SettingsContext(store, operator, texts, config, hooks or SettingsHooks())
    app.push_screen(SettingsScreen(context, section=section))
    return True
