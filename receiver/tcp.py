"""Thin asyncio TCP transport for DC-09: moves bytes between sockets and the sans-IO codec.

Every protocol decision lives in the codec; this module only reads, asks the sink to commit the
decoded signals, and writes the reply the codec produced. An ACK is written only after the sink
returned, i.e. after the store made the signal durable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from centinela.receiver.dc09 import NEED_DATA, DC09Connection, FrameReceived, FrameRejected, KeyLookup
from centinela.receiver.logfmt import protocol_error
from centinela.receiver.stats import ReceiverStats

log = logging.getLogger(__name__)

def _peer(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


FrameSink = Callable[[FrameReceived], Awaitable[None]]
"""Commits a received frame's signals; raises if they could not be stored (then no ACK is sent)."""


@dataclass(slots=True)
class TcpListener:
    host: str
    port: int
    sink: FrameSink
    stats: ReceiverStats
    key_for: KeyLookup | None = None
    idle_timeout: float = 300.0
    read_size: int = 65536
    _server: asyncio.Server | None = None
    _connections: set[asyncio.Task[None]] = field(default_factory=set)
    _reading: set[asyncio.Task[None]] = field(default_factory=set)
    """Connections waiting for bytes: safe to cancel, nothing of theirs is half done."""
    _closing: bool = False

    @property
    def bound_port(self) -> int:
        """The port actually listened on (useful when configured with port 0)."""
        if self._server is None or not self._server.sockets:
            return self.port
        return self._server.sockets[0].getsockname()[1]

    @property
    def label(self) -> str:
        return f"tcp://{self.host}:{self.bound_port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, backlog=4096)
        log.info("listening for DC-09 on %s", self.label)

    async def stop(self) -> None:
        """Stop accepting; connections committing a frame finish it (and ACK), idle ones close."""
        if self._server is None:
            return
        self._closing = True
        self._server.close()
        for task in list(self._reading):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        codec = DC09Connection(key_for=self.key_for)
        self.stats.connections += 1
        try:
            while not self._closing:
                self._reading.add(task)
                try:
                    # asyncio.timeout, not wait_for: no extra task per read on a busy link.
                    async with asyncio.timeout(self.idle_timeout):
                        data = await reader.read(self.read_size)
                except TimeoutError:
                    log.info("closing idle DC-09 link from %s", peer)
                    break
                finally:
                    self._reading.discard(task)
                if not data:
                    break
                codec.receive_data(data)
                if not await self._answer(codec, writer, peer):
                    break
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("DC-09 link from %s dropped: %s", peer, exc)
        except asyncio.CancelledError:
            # Only cancelled while waiting for bytes (see stop): nothing is lost. Returning
            # normally keeps asyncio's stream callback from logging a spurious error.
            pass
        finally:
            self.stats.connections -= 1
            self._connections.discard(task)
            writer.close()

    async def _answer(self, codec: DC09Connection, writer: asyncio.StreamWriter, peer: object) -> bool:
        """Handle every complete frame now buffered; False when the link must be closed."""
        while (event := codec.next_event()) is not NEED_DATA:
            if isinstance(event, FrameRejected):
                self.stats.record_rejection(event.reason)
                log.warning(protocol_error(_peer(peer), event.reason, event.detail, event.raw))
                if event.reply:
                    writer.write(event.reply)
                continue
            assert isinstance(event, FrameReceived)
            try:
                await self.sink(event)
            except Exception:  # noqa: BLE001 - no ACK, so the panel sends it again
                log.exception("frame from %s not stored; not acknowledged", peer)
                self.stats.store_failures += 1
                return False
            try:
                ack = codec.ack(event.frame)
            except ValueError as exc:  # its key was removed meanwhile: stored, the retry is deduplicated
                log.error("stored frame from %s not acknowledged: %s", peer, exc)
                continue
            writer.write(ack)
            self.stats.acked += 1
        return True
