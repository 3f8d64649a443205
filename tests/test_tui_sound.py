"""The alarm sound is global: a new alarm is heard whatever screen the operator has open."""

from __future__ import annotations

from pathlib import Path

from centinela.config import Config, ReceiverConfig
from centinela.data.operators import Operator
from centinela.receiver.signal import Signal
from centinela.runtime import Runtime
from centinela.tui.app import CentinelaApp
from centinela.tui.screens.dashboard import DashboardScreen
from centinela.tui.screens.settings import SettingsScreen
from tests.helpers import until
from tests.recording_audio import RecordingBackend


async def test_new_fire_alarm_plays_the_critical_sound_while_settings_are_open(data_dir: Path) -> None:
    backend = RecordingBackend()
    config = Config(data_dir=data_dir, receiver=ReceiverConfig(tcp=[], supervision_interval=3600))
    admin = Operator(1, "luis", "Luis", "admin", True)
    app = CentinelaApp(Runtime(config), operator=admin, audio=backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: isinstance(app.screen, DashboardScreen))
        await pilot.press("f2")
        await until(lambda: isinstance(app.screen, SettingsScreen))
        assert app.runtime.store is not None
        await app.runtime.store.record([Signal(protocol="ADM-CID", raw="fire", account="1234", sequence="0001",
                                               code="110", qualifier="1", zone="003")])
        await until(lambda: "critical.wav" in backend.plays)
        assert isinstance(app.screen, SettingsScreen)
        # a burglary does not get the fire's sound: each priority has its own
        await app.runtime.store.record([Signal(protocol="ADM-CID", raw="burglary", account="1234", sequence="0002",
                                               code="130", qualifier="1", zone="004")])
        await pilot.pause(0.3)
        assert set(backend.plays) <= {"critical.wav", "high.wav"}
