"""The Textual application: hosts the runtime (receiver, workers) and the operator's screens."""

from __future__ import annotations

import logging

from textual.app import App
from textual.binding import Binding

from centinela.runtime import Runtime
from centinela.tui.bindings import localize_bindings
from centinela.tui.screens.dashboard import DashboardScreen
from centinela.tui.texts import Texts

log = logging.getLogger(__name__)


class CentinelaApp(App[None]):
    CSS_PATH = "centinela.tcss"
    TITLE = "Centinela"
    BINDINGS = [Binding("q", "quit", "key.quit")]

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self.texts = Texts(runtime.config.language)
        self.start_error: str | None = None
        localize_bindings(self, self.texts)

    async def on_mount(self) -> None:
        self.title = self.texts("app.title")
        self.sub_title = self.texts("app.subtitle")
        try:
            await self.runtime.start()
        except Exception as exc:  # noqa: BLE001 - shown to the user, then the app exits
            log.exception("runtime failed to start")
            self.start_error = str(exc)
            self.exit(return_code=1, message=self.texts("app.start_failed", error=exc))
            return
        await self.push_screen(DashboardScreen(self.runtime, self.texts))

    async def on_unmount(self) -> None:
        await self.runtime.stop()
