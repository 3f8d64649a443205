"""Thin asyncio RS-232 transport for Sur-Gard receivers: moves bytes between the port and the
sans-IO codec in :mod:`centinela.receiver.surgard`.

The receiver sends one message and waits for the answer before the next, so messages are handled
strictly in order: ACK only after the sink committed the signals, NAK for what the codec could
not read, nothing when the store failed (the receiver retransmits after 4 s). The link is
supervised by the receiver's heartbeat: silence for ``heartbeat_timeout`` raises "link lost"
once, the next heartbeat or message "link restored". A port that disappears (USB adapter
unplugged, cable pulled on a converter) is reopened until it comes back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

import serial
import serial_asyncio

from centinela.data.timeutil import utcnow
from centinela.receiver.signal import Signal
from centinela.receiver.logfmt import protocol_error
from centinela.receiver.stats import ReceiverStats
from centinela.receiver.surgard import (
    ACK,
    NAK,
    NEED_DATA,
    Heartbeat,
    SerialMessage,
    SurGardDecoder,
    Unparseable,
    signals_from_message,
)

log = logging.getLogger(__name__)

SignalSink = Callable[[list[Signal]], Awaitable[None]]
"""Commits one message's signals; raises if they could not be stored (then no ACK is sent)."""
LinkCallback = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class SerialListener:
    device: str
    sink: SignalSink
    stats: ReceiverStats
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    heartbeat_timeout: float = 90.0
    """Three missed heartbeats at the receivers' default 30 s interval."""
    on_link_lost: LinkCallback | None = None
    on_link_restored: LinkCallback | None = None
    reopen_delay: float = 5.0
    read_size: int = 4096
    last_heartbeat: datetime | None = field(default=None, init=False)
    connected: bool = field(default=False, init=False)
    """The port is open (says nothing about the receiver at the other end)."""
    link_lost: bool = field(default=False, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _watchdog: asyncio.Task[None] | None = field(default=None, init=False)
    _last_traffic: float = field(default=0.0, init=False)
    _stopping: bool = field(default=False, init=False)
    # Waiting on the port or the reopen delay, so stop() may cancel without losing a message.
    _idle: bool = field(default=False, init=False)

    @property
    def label(self) -> str:
        return f"serial://{self.device}"

    async def start(self) -> None:
        """Start reading. A port that cannot be opened yet is retried, not an error: the link
        supervision reports it. Raises ValueError for settings the port cannot take."""
        if self.heartbeat_timeout <= 0 or self.reopen_delay < 0:
            raise ValueError("heartbeat_timeout must be positive and reopen_delay not negative")
        # With no port given, pyserial only checks the settings.
        serial.Serial(None, self.baudrate, self.bytesize, self.parity, self.stopbits)
        self._stopping = False
        self._last_traffic = asyncio.get_running_loop().time()
        self._task = asyncio.create_task(self._run(), name=f"serial-{self.device}")
        self._watchdog = asyncio.create_task(self._supervise(), name=f"serial-watch-{self.device}")
        log.info("listening for Sur-Gard automation output on %s", self.label)

    async def stop(self) -> None:
        """Stop reading; a message being committed still gets its ACK."""
        if self._task is None:
            return
        self._stopping = True
        if self._idle:
            self._task.cancel()
        assert self._watchdog is not None
        self._watchdog.cancel()
        await asyncio.gather(self._task, self._watchdog, return_exceptions=True)
        self._task = self._watchdog = None

    async def _run(self) -> None:
        reported = False  # log an outage once, not at every retry
        while not self._stopping:
            self._idle = True
            try:
                reader, writer = await serial_asyncio.open_serial_connection(
                    url=self.device,
                    baudrate=self.baudrate,
                    bytesize=self.bytesize,
                    parity=self.parity,
                    stopbits=self.stopbits,
                )
            except OSError as exc:  # serial.SerialException is an OSError
                if not reported:
                    log.warning("cannot open %s: %s; retrying every %s s", self.label, exc, self.reopen_delay)
                    reported = True
                await asyncio.sleep(self.reopen_delay)
                continue
            finally:
                self._idle = False
            reported = False
            self.connected = True
            self.stats.connections += 1
            log.info("opened %s", self.label)
            try:
                await self._serve(reader, writer)
            except OSError as exc:  # the port went away
                log.warning("%s failed: %s; reopening", self.label, exc)
            except Exception:  # noqa: BLE001 - an alarm link must outlive a bug in one message
                log.exception("unexpected error on %s; reopening", self.label)
            finally:
                self.connected = False
                self.stats.connections -= 1
                writer.close()
            if not self._stopping:
                self._idle = True
                try:
                    await asyncio.sleep(self.reopen_delay)
                finally:
                    self._idle = False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        codec = SurGardDecoder()
        while not self._stopping:
            self._idle = True
            try:
                data = await reader.read(self.read_size)
            finally:
                self._idle = False
            if not data:
                log.warning("%s closed", self.label)
                return
            codec.receive_data(data)
            while (event := codec.next_event()) is not NEED_DATA:
                await self._answer(event, writer)
            await writer.drain()

    async def _answer(self, event: SerialMessage | Heartbeat | Unparseable, writer: asyncio.StreamWriter) -> None:
        if isinstance(event, Unparseable):
            self.stats.record_rejection(event.reason)
            log.warning(protocol_error(self.label, event.reason, event.detail, event.raw))
            writer.write(NAK)
            return
        await self._heard()
        if isinstance(event, Heartbeat):
            self.last_heartbeat = utcnow()
            writer.write(ACK)
            self.stats.acked += 1
            return
        try:
            await self.sink(signals_from_message(event))
        except Exception:  # noqa: BLE001 - no ACK, so the receiver sends it again
            log.exception("message on %s not stored; not acknowledged", self.label)
            self.stats.store_failures += 1
            return
        writer.write(ACK)
        self.stats.acked += 1

    async def _heard(self) -> None:
        self._last_traffic = asyncio.get_running_loop().time()
        if self.link_lost:
            self.link_lost = False
            log.info("receiver on %s is talking again", self.label)
            await self._notify(self.on_link_restored)

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            silence = loop.time() - self._last_traffic
            if silence < self.heartbeat_timeout:
                await asyncio.sleep(self.heartbeat_timeout - silence)
                continue
            if not self.link_lost:
                self.link_lost = True
                log.warning("no heartbeat from the receiver on %s for %.1f s", self.label, silence)
                await self._notify(self.on_link_lost)
            await asyncio.sleep(self.heartbeat_timeout)

    async def _notify(self, callback: LinkCallback | None) -> None:
        if callback is None:
            return
        try:
            await callback()
        except Exception:  # noqa: BLE001 - a failed notification must not stop the link
            log.exception("link status callback for %s failed", self.label)
