"""Two operators' consoles on one data folder, side by side: one receives, both see everything."""

from __future__ import annotations

from pathlib import Path

from centinela.config import Config, ReceiverConfig
from centinela.data.operators import Operator
from centinela.data.timeutil import utcnow
from centinela.receiver.dc09 import build_frame
from centinela.runtime import Runtime
from centinela.tui.app import CentinelaApp
from centinela.tui.screens.dashboard import DashboardScreen
from centinela.tui.widgets.live_table import LiveTable
from tests.helpers import exchange, until


def console(data_dir: Path, operator: Operator) -> CentinelaApp:
    config = Config(data_dir=data_dir, receiver=ReceiverConfig(tcp=["127.0.0.1:0"], supervision_interval=3600))
    return CentinelaApp(Runtime(config), operator=operator, detect_sound=False)


async def test_an_alarm_and_its_taking_reach_the_other_console_within_a_second(data_dir: Path) -> None:
    ana = console(data_dir, Operator(1, "ana", None, "operator", True))
    beto = console(data_dir, Operator(2, "beto", None, "operator", True))
    async with ana.run_test(size=(160, 48)) as ana_pilot, beto.run_test(size=(160, 48)) as beto_pilot:
        await until(lambda: isinstance(ana.screen, DashboardScreen) and isinstance(beto.screen, DashboardScreen))
        owner, follower = (ana, beto) if ana.runtime.is_owner else (beto, ana)
        assert not follower.runtime.is_owner and follower.runtime.listeners == []
        follower_pilot = beto_pilot if follower is beto else ana_pilot

        frame = build_frame("ADM-CID", "0001", account="4321", data="#4321|1120 01 001", timestamp=utcnow())
        await exchange("127.0.0.1", owner.runtime.listeners[0].bound_port, frame)
        follower_pending = follower.screen.query_one("#pending-table", LiveTable)
        seen_after = await until(lambda: len(follower_pending.row_ids()) == 1)
        assert seen_after < 1.0

        await follower_pilot.press("p", "t")  # the follower's operator takes it
        owner_pending = owner.screen.query_one("#pending-table", LiveTable)
        (event_id,) = follower_pending.row_ids()
        taken_after = await until(
            lambda: event_id in owner_pending.row_ids()
            and f"Tomado: {follower.operator.username}" in str(owner_pending.cells(event_id)[-1])  # type: ignore[union-attr]
        )
        assert taken_after < 1.0
