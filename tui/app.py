"""The Textual application: hosts the runtime (receiver, workers), the global alarm sound,
and the operator's screens."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial

from textual.app import App

from centinela.data.operators import Operator
from centinela.data.records import EventRecord
from centinela.data.timeutil import utcnow
from centinela.runtime import Runtime
from centinela.tui.alarm_sound import AlarmSoundService
from centinela.tui.audio import AudioBackend, BellBackend, detect_backend, resolve_sound
from centinela.tui.screens.dashboard import DashboardScreen
from centinela.tui.screens.login import LoginScreen
from centinela.tui.texts import Texts

log = logging.getLogger(__name__)

MUTE_MINUTES = 15


class CentinelaApp(App[None]):
    CSS_PATH = "centinela.tcss"
    TITLE = "Centinela"

    def __init__(
        self, runtime: Runtime, *, operator: Operator | None = None, detect_sound: bool = True,
        login_hint: str | None = None, clock: Callable[[], datetime] = utcnow,
        audio: AudioBackend | None = None,
    ) -> None:
        """``operator`` skips the log-in (tests, and a console started for a known user);
        ``detect_sound`` False uses the terminal bell without probing for a sound card; ``audio``
        gives the backend to use outright."""
        super().__init__()
        self.runtime = runtime
        self.texts = Texts(runtime.config.language)
        self.operator = operator
        self.detect_sound = detect_sound
        self.login_hint = login_hint
        self.clock = clock
        self.audio = audio
        self.alarm_sound: AlarmSoundService | None = None

    async def on_mount(self) -> None:
        self.title = self.texts("app.title")
        self.sub_title = self.texts("app.subtitle")
        try:
            await self.runtime.start()
        except Exception as exc:  # noqa: BLE001 - shown to the user, then the app exits
            log.exception("runtime failed to start")
            self.exit(return_code=1, message=self.texts("app.start_failed", error=exc))
            return
        # Sound is ready before anyone logs in: an alarm must be heard at an unattended console.
        await self._start_sound()
        if self.operator is None:
            await self.push_screen(LoginScreen(self.runtime.store, self.texts, hint=self.login_hint), self._logged_in)
        else:
            await self._logged_in(self.operator)

    async def _start_sound(self) -> None:
        assert self.runtime.store is not None
        if self.audio is not None:
            backend = self.audio
        elif self.detect_sound:
            backend = await asyncio.to_thread(detect_backend, self.bell)
        else:
            backend = BellBackend(self.bell)
        log.info("alarm sound on %s", backend.name)
        self.alarm_sound = AlarmSoundService(
            self.runtime.store, backend, partial(resolve_sound, data_dir=self.runtime.config.data_dir)
        )
        self.run_worker(self.alarm_sound.run(), name="alarm-sound", exit_on_error=False)
        assert self.runtime.feed is not None
        self.runtime.feed.settings_listeners.append(self._settings_changed)

    async def _settings_changed(self, kinds: frozenset[str]) -> None:
        if "rules" in kinds and self.alarm_sound is not None:
            await self.alarm_sound.reload()

    async def _logged_in(self, operator: Operator | None) -> None:
        if operator is None:
            return
        self.operator = operator
        log.info("operator %s logged in", operator.username)
        await self.push_screen(DashboardScreen(
            self.runtime, self.texts, operator,
            sound_state=self.sound_state, toggle_mute=self.toggle_mute, open_card=self.open_card,
            open_settings=self.open_settings, clock=self.clock,
        ))

    def sound_state(self) -> tuple[str, str | None] | None:
        if self.alarm_sound is None:
            return None
        state = self.alarm_sound.state()
        return (state.kind, state.muted_until_hhmm)

    def toggle_mute(self) -> str | None:
        if self.alarm_sound is None:
            return None
        if self.alarm_sound.state().kind == "muted":
            self.alarm_sound.unmute()
            return self.texts("sound.unmuted")
        self.alarm_sound.mute(MUTE_MINUTES)
        return self.texts("sound.muted_for", minutes=MUTE_MINUTES)

    def open_settings(self) -> None:
        from centinela.tui.screens.settings import open_settings

        assert self.runtime.store is not None and self.operator is not None
        # Reloads happen through the change feed (Runtime._settings_changed, _settings_changed
        # above), in this console and in every other one on the same data folder.
        open_settings(self, self.operator, store=self.runtime.store, texts=self.texts, config=self.runtime.config)

    def open_card(self, event: EventRecord) -> None:
        from centinela.tui.screens.account_card import AccountCardScreen

        assert self.runtime.store is not None and self.operator is not None
        self.push_screen(AccountCardScreen(self.runtime.store, self.texts, event, self.operator.username))

    async def on_unmount(self) -> None:
        if self.alarm_sound is not None:
            self.alarm_sound.backend.close()
        await self.runtime.stop()
