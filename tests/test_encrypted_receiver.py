"""Encrypted DC-09 end to end: per-account keys from the store, *ACK back, NAK without a key."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from centinela.config import Config, ReceiverConfig
from centinela.data.timeutil import utcnow
from centinela.receiver.dc09 import build_frame, parse_frame
from centinela.runtime import Runtime
from tests.helpers import exchange

KEY_HEX = "2B7E151628AED2A6ABF7158809CF4F3C2B7E151628AED2A6ABF7158809CF4F3C"
KEY = bytes.fromhex(KEY_HEX)


@pytest.fixture
async def runtime(data_dir: Path) -> AsyncIterator[Runtime]:
    running = Runtime(Config(data_dir=data_dir, receiver=ReceiverConfig(tcp=["127.0.0.1:0"])))
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def wait_until(condition, timeout: float = 6.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_key_set_from_the_shell_is_used_by_the_running_receiver(runtime: Runtime, data_dir: Path) -> None:
    assert runtime.store is not None
    port = runtime.listeners[0].bound_port
    frame = build_frame("SIA-DCS", "0011", account="ABC1", data="#ABC1|Nri1/BA002", timestamp=utcnow(), key=KEY)

    (refused,) = await exchange("127.0.0.1", port, frame)
    # no key yet: it cannot be read, so it is never ACKed; DUH tells the panel we cannot process it
    assert b'"DUH"0011' in refused and b"ACK" not in refused
    assert await runtime.store.recent_events(5) == []

    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "centinela", "accounts", "set", "ABC1", "--key", KEY_HEX, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr
    await wait_until(lambda: runtime.keys("ABC1", None, None) == KEY)

    fresh = build_frame("SIA-DCS", "0012", account="ABC1", data="#ABC1|Nri1/BA002", timestamp=utcnow(), key=KEY)
    (reply,) = await exchange("127.0.0.1", port, fresh)
    assert reply.startswith(b"\n") and b'"*ACK"0012' in reply
    ack = parse_frame(reply, key_for=lambda *_: KEY)
    assert ack.token == "ACK" and ack.encrypted and ack.account == "ABC1" and ack.timestamp is not None
    (event,) = await runtime.store.recent_events(5)
    assert (event.code, event.zone, event.partition) == ("BA", "002", "1")

    listed = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "centinela", "accounts", "list", "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=30,
    )
    assert "ABC1" in listed.stdout and KEY_HEX not in listed.stdout and "2B7E…(256-bit)" in listed.stdout


async def test_stale_encrypted_frame_is_refused(runtime: Runtime) -> None:
    assert runtime.store is not None
    async with runtime.store.transaction() as db:
        await db.execute("INSERT INTO alarm_accounts (account_number, aes_key) VALUES ('ABC2', ?)", (KEY_HEX,))
    await runtime.keys.refresh(runtime.store.reader)
    replayed = build_frame("ADM-CID", "0001", account="ABC2", data="#ABC2|1130 01 001",
                           timestamp=utcnow() - timedelta(minutes=5), key=KEY)
    (reply,) = await exchange("127.0.0.1", runtime.listeners[0].bound_port, replayed)
    assert b'"NAK"' in reply and b"*" not in reply  # NAK is never encrypted
    assert await runtime.store.recent_events(5) == []
