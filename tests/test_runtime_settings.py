"""Listener settings saved from the console apply to a running receiver without a restart."""

from __future__ import annotations

from pathlib import Path

from centinela.data.settings import set_setting
from centinela.data.timeutil import utcnow
from centinela.receiver.dc09 import build_frame

from centinela.config import Config, ReceiverConfig
from centinela.runtime import Runtime
from tests.helpers import exchange, free_port


async def test_saved_listeners_replace_the_configured_ones_on_reload(data_dir: Path) -> None:
    runtime = Runtime(Config(data_dir=data_dir, receiver=ReceiverConfig(tcp=["127.0.0.1:0"], supervision_interval=3600)))
    await runtime.start()
    try:
        assert runtime.store is not None
        new_port = free_port()
        async with runtime.store.transaction() as db:
            await set_setting(db, "receiver.tcp", [f"127.0.0.1:{new_port}"], "admin")
        await runtime.reload_receivers()
        assert [state.label for state in runtime.listener_states] == [f"tcp://127.0.0.1:{new_port}"]
        frame = build_frame("ADM-CID", "0001", account="1234", data="#1234|1130 01 001", timestamp=utcnow())
        (reply,) = await exchange("127.0.0.1", new_port, frame)
        assert b'"ACK"0001' in reply
    finally:
        await runtime.stop()


async def test_listen_options_from_the_command_line_win_over_saved_settings(data_dir: Path) -> None:
    first = Runtime(Config(data_dir=data_dir, receiver=ReceiverConfig(tcp=[], supervision_interval=3600)))
    await first.start()
    assert first.store is not None
    async with first.store.transaction() as db:
        await set_setting(db, "receiver.tcp", ["127.0.0.1:1"], "admin")
    await first.stop()
    fixed = Runtime(Config(data_dir=data_dir, receiver=ReceiverConfig(tcp=["127.0.0.1:0"], supervision_interval=3600)),
                    fixed_listeners=True)
    await fixed.start()
    try:
        (state,) = fixed.listener_states
        assert state.up and state.label.startswith("tcp://127.0.0.1:") and not state.label.endswith(":1")
    finally:
        await fixed.stop()
