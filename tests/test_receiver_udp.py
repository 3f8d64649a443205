"""DC-09 over UDP on 127.0.0.1: one datagram, one frame, the reply to the sender's address."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from centinela.config import Config, ReceiverConfig
from centinela.data.timeutil import utcnow
from centinela.receiver.dc09 import build_frame
from centinela.runtime import Runtime
from centinela.receiver.udp import UdpListener
from tests.helpers import add_monitored_customer


async def udp_exchange(port: int, payload: bytes, timeout: float = 3.0) -> bytes:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.connect(("127.0.0.1", port))
        await loop.sock_sendall(sock, payload)
        return await asyncio.wait_for(loop.sock_recv(sock, 4096), timeout)


async def test_udp_frame_is_stored_and_acked(data_dir: Path) -> None:
    runtime = Runtime(Config(data_dir=data_dir, receiver=ReceiverConfig(tcp=[], udp=["127.0.0.1:0"])))
    await runtime.start()
    try:
        assert runtime.store is not None
        (listener,) = runtime.listeners
        assert isinstance(listener, UdpListener)
        await add_monitored_customer(runtime.store, "4321", "Farmacia del Centro")
        frame = build_frame("SIA-DCS", "0077", account="4321", data="#4321|Nri1/BA012", timestamp=utcnow())
        reply = await udp_exchange(listener.bound_port, frame)
        assert b'"ACK"0077' in reply and b"#4321" in reply
        (event,) = await runtime.store.recent_events(5)
        assert (event.protocol, event.code, event.zone, event.customer_name) == (
            "SIA-DCS", "BA", "012", "Farmacia del Centro")

        nak = await udp_exchange(listener.bound_port, b"\nnot a frame\r")
        assert b'"NAK"' in nak
        assert len(await runtime.store.recent_events(5)) == 1
    finally:
        await runtime.stop()


async def test_busy_port_leaves_console_running_with_listener_down(data_dir: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        runtime = Runtime(Config(data_dir=data_dir, receiver=ReceiverConfig(tcp=[f"127.0.0.1:{busy}"])))
        await runtime.start()
        try:
            assert runtime.listeners == []
            (state,) = runtime.listener_states
            assert not state.up and state.error
            assert runtime.store is not None and await runtime.store.recent_events(1) == []
        finally:
            await runtime.stop()
