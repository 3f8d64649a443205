"""The event path's single writer: durable group commit of signals, plus what must happen in the
same transaction as a signal (duplicates, restores, last-seen, supervision: data.event_batch).

Signals from every connection that arrive while one transaction commits go together into the
next, so one disk sync covers many ACKs. Only after the commit are subscribers notified and the
waiting transports told (only then do they ACK).

The transactions run in a process of their own (data.writer_process). In one process, the writer
and the event loop took turns at the one interpreter lock: under an alarm storm the writer spent
a third of its time waiting for it, and the loop, which reads and answers every panel, waited for
the writer's Python in turn. Two threads here carry the traffic: one packs what the loop submits
and sends it, the other reads the replies and hands them to the loop in one call per batch.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import multiprocessing
import multiprocessing.util  # noqa: F401 - its exit hook must be registered before ours (see below)
import pickle
import queue
import threading
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

import aiosqlite

from centinela.data import writer_process as wire
from centinela.data.db import StoreError
from centinela.data.event_batch import EventChanges, Job, LinkTest, Rules
from centinela.data.records import EventRecord
from centinela.data.timeutil import utcnow
from centinela.futures import settle
from centinela.receiver.signal import Signal

log = logging.getLogger(__name__)

Notify = Callable[[list[EventRecord] | None, BaseException | None], None]
"""Called on the event loop when a submission is settled: ``(stored, None)`` once it is durable,
``(None, error)`` if it could not be stored."""

class WriterLost(StoreError):
    """The writer process ended without being told to (killed, out of memory)."""


STOP_TIMEOUT = 30.0
"""Seconds the writer process has to commit what it holds and exit once told to stop."""

# A fork server forks each writer from a clean process that has already imported the writer's
# code (about 10 ms each), instead of forking the console with its threads, or starting a new
# interpreter (about 200 ms, once per store opened: the tests open hundreds).
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload([wire.__name__])


@dataclass(slots=True)
class _Pending:
    signals: Sequence[Signal]
    link_test: LinkTest | None
    received_at: datetime
    notify: Notify


@dataclass(slots=True)
class _Job:
    job: Job
    notify: Notify


_Waiting = _Pending | _Job
_LIVE: weakref.WeakSet[EventWriter] = weakref.WeakSet()


class EventWriter:
    def __init__(self, path: Path, publish: Callable[[EventChanges], bool], max_batch: int = 2000) -> None:
        """``publish`` tells subscribers of a commit's changes and says whether there were any."""
        self._path = path
        self._publish_changes = publish
        self._max_batch = max_batch
        # What the loop submits, for the sender thread: a put costs the loop no syscall.
        self._inbox: queue.SimpleQueue[_Waiting | Rules | None] = queue.SimpleQueue()
        # Sent and not yet answered, in the order the writer answers them.
        self._waiting: deque[_Waiting] = deque()
        self._lock = threading.Lock()
        self._gone: StoreError | None = None
        """Set once the writer takes no more work; later submissions fail with it."""
        self._process: BaseProcess | None = None
        self._to_writer: Connection | None = None
        self._from_writer: Connection | None = None
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finished: asyncio.Future[None] | None = None
        self.rules = Rules()
        self.duplicates = 0
        """Retransmissions recognised and stored once, since the writer started."""

    async def open(self) -> None:
        """Start the writer process (raises if its database can't open)."""
        loop = self._loop = asyncio.get_running_loop()
        self._finished = loop.create_future()
        await loop.run_in_executor(None, self._start_process)
        _LIVE.add(self)
        self._threads = [
            threading.Thread(target=self._send, name="event-writer-send", daemon=True),
            threading.Thread(target=self._receive, name="event-writer-receive", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @property
    def pid(self) -> int | None:
        """The writer process's id, once open."""
        return self._process.pid if self._process is not None else None

    async def run(self) -> None:
        """Wait until :meth:`stop` has been reached; everything submitted before it is committed.

        Raises :class:`WriterLost` if the process ends on its own; what it had not answered was
        not stored, and neither is anything submitted after.
        """
        if self._finished is None:
            raise StoreError("the event writer is not open")
        await self._finished

    def stop(self) -> None:
        self._inbox.put(None)

    async def close(self) -> None:
        if self._process is None:
            return
        if self._threads and self._threads[0].is_alive():
            self.stop()
        await asyncio.get_running_loop().run_in_executor(None, self._join)
        _LIVE.discard(self)

    async def load_rules(self, db: aiosqlite.Connection) -> None:
        """Re-read priorities and code overrides (after an admin changes them)."""
        async with db.execute("SELECT family, code, priority FROM code_overrides") as cur:
            overrides = {(family, code.upper()): level for family, code, level in await cur.fetchall()}
        async with db.execute("SELECT level FROM priorities WHERE requires_ack = 0") as cur:
            auto = frozenset(level for (level,) in await cur.fetchall())
        self.rules = Rules(overrides, auto)
        self._inbox.put(self.rules)  # in line with the signals: those after it use the new rules

    async def submit(
        self, signals: Sequence[Signal], received_at: datetime | None = None, *, link_test: LinkTest | None = None
    ) -> list[EventRecord]:
        """Store the signals; returns once they are durable on disk (only then may they be ACKed).

        A duplicate of a recent signal returns the event already stored for it.
        """
        done: asyncio.Future[list[EventRecord]] = asyncio.get_running_loop().create_future()
        self.submit_with(signals, received_at, link_test=link_test, notify=partial(settle, done))
        return await done

    def submit_with(
        self, signals: Sequence[Signal], received_at: datetime | None = None, *,
        link_test: LinkTest | None = None, notify: Notify,
    ) -> None:
        """Like :meth:`submit`, calling ``notify`` instead: a transport ACKs from it right after
        the commit, with no future, task or extra event-loop turn per frame."""
        self._inbox.put(_Pending(signals, link_test, received_at or utcnow(), notify))

    async def run_job(self, job: Job) -> list[EventRecord]:
        """Run ``job`` (a module-level function) in its own writer transaction (e.g. the
        supervision sweep)."""
        wire.dumps(job)  # raises here, not in the sender thread, if it cannot cross to the writer
        done: asyncio.Future[list[EventRecord]] = asyncio.get_running_loop().create_future()
        self._inbox.put(_Job(job, partial(settle, done)))
        return await done

    # ------------------------------------------------------------------ on the event loop

    def _deliver(self, waiting: list[_Waiting], results: list[list[EventRecord]], changes: EventChanges) -> None:
        if (changes.added or changes.updated) and self._publish_changes(changes):
            # Someone shows these events (a screen): the subscribers wake on the next turn of
            # the loop, and the ACKs follow in that same turn, so no panel hears "stored"
            # while its alarm is still a turn away from the operator's screen.
            asyncio.get_running_loop().call_soon(self._notify, waiting, results)
        else:
            self._notify(waiting, results)

    @staticmethod
    def _notify(waiting: list[_Waiting], results: list[list[EventRecord]]) -> None:
        for item, stored in zip(waiting, results):
            try:
                item.notify(stored, None)
            except Exception:  # one waiter's bug must not keep the others from their ACK
                log.exception("commit callback failed")

    @staticmethod
    def _fail(waiting: list[_Waiting], exc: BaseException) -> None:
        for item in waiting:
            try:
                item.notify(None, exc)
            except Exception:
                log.exception("commit callback failed")

    # ------------------------------------------------------------------ the writer's threads

    def _start_process(self) -> None:
        to_writer_r, to_writer = _CONTEXT.Pipe(duplex=False)
        from_writer, from_writer_w = _CONTEXT.Pipe(duplex=False)
        process = _CONTEXT.Process(
            target=wire.serve, args=(str(self._path), to_writer_r, from_writer_w, self._max_batch),
            name="centinela-event-writer", daemon=True,
        )
        process.start()
        # Only the writer holds its ends now: when it dies, our reads end instead of waiting.
        to_writer_r.close()
        from_writer_w.close()
        try:
            reply = pickle.loads(from_writer.recv_bytes())
        except (EOFError, OSError):
            reply = (wire.UNUSABLE, f"the writer process exited at start (status {process.exitcode})")
        if reply[0] != wire.READY:
            process.join()
            to_writer.close()
            from_writer.close()
            raise StoreError(f"event writer: {reply[1]}")
        self._process, self._to_writer, self._from_writer = process, to_writer, from_writer

    def _send(self) -> None:
        """Packs what the loop submitted since the last send into one message."""
        assert self._to_writer is not None
        stopping = False
        while not stopping:
            items = [self._inbox.get()]
            while len(items) < self._max_batch:
                try:
                    items.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            commands: list[tuple[object, ...]] = []
            waiting: list[_Waiting] = []
            for item in items:
                if item is None:
                    stopping = True
                elif isinstance(item, _Pending):
                    commands.append((wire.SIGNALS, [wire.pack_signal(signal) for signal in item.signals],
                                     item.link_test, item.received_at))
                    waiting.append(item)
                elif isinstance(item, _Job):
                    commands.append((wire.JOB, item.job))
                    waiting.append(item)
                else:
                    commands.append((wire.RULES, item.overrides, item.auto_resolve_levels))
            if stopping:
                commands.append((wire.STOP,))
            message = wire.dumps(commands)
            with self._lock:
                gone = self._gone
                if gone is None:
                    self._waiting.extend(waiting)
            if gone is not None:
                self._call_loop(self._fail, waiting, gone)
                continue
            try:
                self._to_writer.send_bytes(message)
            except OSError:
                self._writer_gone("the event writer process stopped")
                return

    def _receive(self) -> None:
        """Hands each reply to the loop, with the submissions it settles."""
        assert self._from_writer is not None
        failure: WriterLost | None = None
        try:
            while True:
                reply = pickle.loads(self._from_writer.recv_bytes())
                if reply[0] == wire.DONE:
                    _, results, changes, self.duplicates = reply
                    self._call_loop(self._deliver, self._take(len(results)), results, changes)
                elif reply[0] == wire.FAILED:
                    _, count, detail = reply
                    log.error("event batch of %d not stored\n%s", count, detail)
                    error = StoreError(f"event not stored: {detail.strip().splitlines()[-1]}")
                    self._call_loop(self._fail, self._take(count), error)
                elif reply[0] == wire.STOPPED:
                    break
        except (EOFError, OSError):
            assert self._process is not None
            self._process.join(1.0)
            failure = WriterLost(f"the event writer process ended (status {self._process.exitcode})")
            log.error("%s", failure)
        self._writer_gone(str(failure) if failure else "the event writer is closed")
        self._call_loop(self._settle_finished, failure)

    def _settle_finished(self, failure: WriterLost | None) -> None:
        assert self._finished is not None
        settle(self._finished, None, failure)

    def _take(self, count: int) -> list[_Waiting]:
        with self._lock:
            return [self._waiting.popleft() for _ in range(count)]

    def _writer_gone(self, why: str) -> None:
        """No more work goes to the writer; whatever it had not answered was not stored."""
        with self._lock:
            if self._gone is None:
                self._gone = StoreError(why)
            unanswered = list(self._waiting)
            self._waiting.clear()
        if unanswered:
            self._call_loop(self._fail, unanswered, self._gone)

    def _call_loop(self, callback: Callable[..., object], *args: object) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: nobody is left to tell
            pass

    def _join(self) -> None:
        for thread in self._threads:
            thread.join(STOP_TIMEOUT)
        self._close_pipes()
        assert self._process is not None
        self._process.join(STOP_TIMEOUT)
        if self._process.exitcode is None:
            log.error("the event writer process did not stop; killing it")
            self._process.kill()
            self._process.join()

    def _close_pipes(self) -> None:
        for end in (self._to_writer, self._from_writer):
            if end is not None:
                end.close()


@atexit.register
def _release_writers() -> None:
    """A console leaving without closing its store: closing the pipes tells each writer to leave
    too, before multiprocessing's own exit hook (registered earlier, so run later) waits for it."""
    for writer in list(_LIVE):
        if writer._to_writer is not None:
            writer._to_writer.close()
