"""Thin asyncio TCP transport for DC-09: moves bytes between sockets and the sans-IO codec.

Every protocol decision lives in the codec; this module only reads, asks the sink to commit the
decoded signals, and writes the reply the codec produced. An ACK is written only after the sink
called back, i.e. after the store made the signal durable. A connection's frames are committed
without waiting for each other (a receiver or panel that sends several at once has them stored in
one group commit, not one disk sync after another), and answered in the order they came.

A Protocol rather than streams: with thousands of panels connected, a callback per read and a
future per frame cost far less than a task per connection woken for every read.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from centinela.receiver.dc09 import NEED_DATA, DC09Connection, FrameReceived, FrameRejected, KeyLookup
from centinela.receiver.logfmt import protocol_error
from centinela.receiver.stats import ReceiverStats

log = logging.getLogger(__name__)

Committed = Callable[[object, BaseException | None], None]
"""Told on the event loop how a frame's commit ended: ``(stored, None)`` once its signals are
durable (only then may the frame be ACKed), ``(None, error)`` if they could not be stored."""
FrameSink = Callable[[FrameReceived, Committed], None]
"""Queues a received frame's signals for the durable commit and calls ``Committed`` when done; may
raise at once instead (a refused frame, not ACKed either)."""

MAX_IN_FLIGHT = 64
"""Frames of one connection being committed at once; beyond them its bytes wait, unread."""
BACKLOG_LIMIT = 256 * 1024
"""Bytes a connection may send ahead of its frames in flight before we stop reading it."""


class _Answer:
    """The reply owed for one frame, in the connection's order: pending until its commit ends."""

    __slots__ = ("done", "reply", "acknowledges", "hang_up")

    def __init__(self, reply: bytes | None = None, *, done: bool = False) -> None:
        self.done = done
        self.reply = reply
        self.acknowledges = False  # the reply is the ACK of a stored frame
        self.hang_up = False


def _peer(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


class _PanelLink(asyncio.Protocol):
    def __init__(self, listener: TcpListener) -> None:
        self.listener = listener
        self.codec = DC09Connection(key_for=listener.key_for)
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.answers: deque[_Answer] = deque()
        self.in_flight = 0
        self.backlog = 0
        self.paused = False
        self.last_activity = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.peer = _peer(transport.get_extra_info("peername"))
        self.last_activity = asyncio.get_running_loop().time()
        self.listener.links.add(self)
        self.listener.stats.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            log.info("DC-09 link from %s dropped: %s", self.peer, exc)
        self.listener.links.discard(self)
        self.listener.stats.connections -= 1
        self.transport = None
        self.listener.link_closed()

    @property
    def committing(self) -> bool:
        return self.in_flight > 0

    def data_received(self, data: bytes) -> None:
        self.last_activity = asyncio.get_running_loop().time()
        self.codec.receive_data(data)
        if self.in_flight >= MAX_IN_FLIGHT:
            self.backlog += len(data)
            if self.backlog > BACKLOG_LIMIT and not self.paused and self.transport is not None:
                self.transport.pause_reading()
                self.paused = True
            return
        self._advance()

    def _advance(self) -> None:
        """Hand every complete frame buffered to the sink (up to MAX_IN_FLIGHT at once) and queue
        the replies owed, in order."""
        while (self.transport is not None and not self.listener.closing and self.in_flight < MAX_IN_FLIGHT
               and (event := self.codec.next_event()) is not NEED_DATA):
            if isinstance(event, FrameRejected):
                self.listener.stats.record_rejection(event.reason)
                log.warning(protocol_error(self.peer, event.reason, event.detail, event.raw))
                if event.reply:
                    self._owe(_Answer(event.reply, done=True))
                continue
            assert isinstance(event, FrameReceived)
            answer = _Answer()
            self._owe(answer)
            self.in_flight += 1
            try:
                self.listener.sink(event, lambda _, error, frame=event, owed=answer: self._committed(frame, owed, error))
            except Exception as exc:  # noqa: BLE001 - the store refused at once: same as a failed commit
                self._committed(event, answer, exc)
        if self.in_flight < MAX_IN_FLIGHT:  # everything buffered was read
            self.backlog = 0
            if self.paused and self.transport is not None:
                self.transport.resume_reading()
                self.paused = False

    def _owe(self, answer: _Answer) -> None:
        self.answers.append(answer)
        if answer.done:
            self._answer()

    def _committed(self, event: FrameReceived, answer: _Answer, error: BaseException | None) -> None:
        self.in_flight -= 1
        answer.done = True
        if self.transport is None:  # the panel hung up meanwhile; it will send the frame again
            return
        if error is not None:
            log.error("frame from %s not stored; not acknowledged: %s", self.peer, error)
            self.listener.stats.store_failures += 1
            answer.hang_up = True  # no ACK: the panel reconnects and sends it (and what follows) again
        else:
            try:
                answer.reply = self.codec.ack(event.frame)
            except ValueError as exc:  # its key was removed meanwhile: stored, the retry is deduplicated
                log.error("stored frame from %s not acknowledged: %s", self.peer, exc)
            else:
                answer.acknowledges = True
        self._answer()
        if self.transport is not None:
            self._advance()

    def _answer(self) -> None:
        """Write the replies owed, in order, as far as the oldest frame still committing."""
        answers = self.answers
        while answers and answers[0].done and self.transport is not None:
            answer = answers.popleft()
            if answer.hang_up:
                self.transport.close()
                self.transport = None  # nothing more is written, not even ACKs of later frames
                return
            if answer.reply:
                self.transport.write(answer.reply)
                self.listener.stats.acked += answer.acknowledges
        if self.listener.closing and not answers and self.transport is not None:
            self.transport.close()


@dataclass(slots=True, eq=False)
class TcpListener:
    host: str
    port: int
    sink: FrameSink
    stats: ReceiverStats
    key_for: KeyLookup | None = None
    idle_timeout: float = 300.0
    links: set[_PanelLink] = field(default_factory=set)
    closing: bool = False
    _server: asyncio.Server | None = None
    _idle_sweep: asyncio.TimerHandle | None = None
    _all_closed: asyncio.Event | None = None

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
        loop = asyncio.get_running_loop()
        self.closing = False
        self._server = await loop.create_server(lambda: _PanelLink(self), self.host, self.port, backlog=4096)
        self._schedule_sweep()
        log.info("listening for DC-09 on %s", self.label)

    def _schedule_sweep(self) -> None:
        # One timer for all links, not one per read: idle links are found a little late (by up
        # to a quarter of the timeout), which is all an idle timeout needs.
        loop = asyncio.get_running_loop()
        self._idle_sweep = loop.call_later(max(0.05, self.idle_timeout / 4), self._close_idle)

    def _close_idle(self) -> None:
        now = asyncio.get_running_loop().time()
        for link in list(self.links):
            if not link.committing and now - link.last_activity > self.idle_timeout and link.transport is not None:
                log.info("closing idle DC-09 link from %s", link.peer)
                link.transport.close()
        self._schedule_sweep()

    def link_closed(self) -> None:
        if self._all_closed is not None and not self.links:
            self._all_closed.set()

    async def stop(self) -> None:
        """Stop accepting; links committing a frame finish it (and ACK), idle ones close now."""
        if self._server is None:
            return
        self.closing = True
        self._server.close()
        if self._idle_sweep is not None:
            self._idle_sweep.cancel()
        self._all_closed = asyncio.Event()
        for link in list(self.links):
            if not link.committing and link.transport is not None:
                link.transport.close()
        if self.links:
            await self._all_closed.wait()
        await self._server.wait_closed()
        self._server = None
