"""Thin asyncio UDP transport for DC-09: one datagram carries one frame, the reply goes back to
the sender's address. As with TCP, the ACK leaves only after the sink committed the signals."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from functools import partial
from typing import cast

from centinela.futures import settle
from centinela.receiver.dc09 import NEED_DATA, DC09Connection, FrameReceived, FrameRejected, KeyLookup
from centinela.receiver.logfmt import protocol_error
from centinela.receiver.stats import ReceiverStats
from centinela.receiver.tcp import FrameSink

log = logging.getLogger(__name__)

Address = tuple[str, int] | tuple[str, int, int, int]


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, listener: UdpListener) -> None:
        self.listener = listener
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        task = asyncio.ensure_future(self.listener.handle(data, addr, self))
        self.listener.in_flight.add(task)
        task.add_done_callback(self.listener.in_flight.discard)

    def error_received(self, exc: Exception) -> None:
        log.warning("UDP receiver error: %s", exc)


@dataclass(slots=True)
class UdpListener:
    host: str
    port: int
    sink: FrameSink
    stats: ReceiverStats
    key_for: KeyLookup | None = None
    in_flight: set[asyncio.Future[None]] = field(default_factory=set)
    _transport: asyncio.DatagramTransport | None = None

    @property
    def bound_port(self) -> int:
        if self._transport is None:
            return self.port
        return self._transport.get_extra_info("sockname")[1]

    @property
    def label(self) -> str:
        return f"udp://{self.host}:{self.bound_port}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=(self.host, self.port)
        )
        log.info("listening for DC-09 on %s", self.label)

    async def stop(self) -> None:
        """Stop reading; frames already being committed still get their ACK."""
        if self._transport is None:
            return
        if self.in_flight:
            await asyncio.gather(*self.in_flight, return_exceptions=True)
        self._transport.close()
        self._transport = None

    def _commit(self, event: FrameReceived) -> asyncio.Future[object]:
        committed: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.sink(event, partial(settle, committed))
        return committed

    async def handle(self, data: bytes, addr: Address, protocol: _Protocol) -> None:
        codec = DC09Connection(key_for=self.key_for)
        codec.receive_data(data)
        if not data.endswith(b"\r"):
            # A datagram is a whole frame; a missing CR is a broken frame, not one to wait for.
            codec.receive_data(b"\r")
        while (event := codec.next_event()) is not NEED_DATA:
            reply: bytes | None
            if isinstance(event, FrameRejected):
                self.stats.record_rejection(event.reason)
                log.warning(protocol_error(f"{addr[0]}:{addr[1]}", event.reason, event.detail, event.raw))
                reply = event.reply
            else:
                assert isinstance(event, FrameReceived)
                try:
                    await self._commit(event)
                except Exception:  # noqa: BLE001 - no ACK, so the panel sends it again
                    log.exception("frame from %s not stored; not acknowledged", addr)
                    self.stats.store_failures += 1
                    return
                try:
                    reply = codec.ack(event.frame)
                except ValueError as exc:  # its key was removed meanwhile: stored, the retry is deduplicated
                    log.error("stored frame from %s not acknowledged: %s", addr, exc)
                    continue
                self.stats.acked += 1
            if reply and protocol.transport is not None:
                protocol.transport.sendto(reply, addr)
