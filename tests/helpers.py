"""Test helpers that talk to real parts: the store through SQL, panels through real sockets."""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from centinela.data.store import Store


async def add_monitored_customer(
    store: Store,
    account: str,
    name: str,
    *,
    receiver: str | None = None,
    line: str | None = None,
    contract_state: str | None = "active",
) -> int:
    """A customer with an alarm account and (optionally) a monitoring contract; returns the account id."""
    async with store.transaction() as db:
        cursor = await db.execute("INSERT INTO customers (name) VALUES (?)", (name,))
        customer_id = cursor.lastrowid
        cursor = await db.execute(
            "INSERT INTO alarm_accounts (account_number, receiver, line, customer_id) VALUES (?, ?, ?, ?)",
            (account, receiver, line, customer_id),
        )
        account_id = cursor.lastrowid
        if contract_state is not None:
            await db.execute(
                "INSERT INTO contracts (customer_id, service_kind, state, alarm_account_id)"
                " VALUES (?, 'alarm', ?, ?)",
                (customer_id, contract_state, account_id),
            )
    assert account_id is not None
    return account_id


async def exchange(host: str, port: int, payload: bytes, replies: int = 1, timeout: float = 5.0) -> list[bytes]:
    """Send bytes as a panel would, collect ``replies`` CR-terminated answers, close."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(payload)
        await writer.drain()
        return [await asyncio.wait_for(reader.readuntil(b"\r"), timeout) for _ in range(replies)]
    finally:
        writer.close()
        await writer.wait_closed()


async def no_reply(host: str, port: int, payload: bytes, wait: float = 0.5) -> bytes:
    """Send bytes and return whatever came back within ``wait`` seconds (b"" for silence)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(payload)
        await writer.drain()
        try:
            return await asyncio.wait_for(reader.read(4096), wait)
        except TimeoutError:
            return b""
    finally:
        writer.close()
        await writer.wait_closed()


def centinela(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "centinela", *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else "exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listening on {port}")


async def until(
    condition: Callable[[], object], timeout: float = 5.0, *, pilot: Any = None,
    explain: Callable[[], str] | None = None,
) -> float:
    """Poll ``condition`` (plain or async) until it is true; returns the seconds it took.

    With a Textual ``pilot``, waits through ``pilot.pause`` so the app handles its messages in
    between; ``explain`` words the failure when the time runs out.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return loop.time() - started
        if loop.time() - started > timeout:
            raise AssertionError(explain() if explain else "condition not met in time")
        await (pilot.pause(0.02) if pilot is not None else asyncio.sleep(0.02))
