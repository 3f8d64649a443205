"""The event path's single writer: durable group commit of signals, plus what must happen in the
same transaction as a signal (duplicates, restores, last-seen, supervision: data.event_batch).

Signals from every connection that arrive while one transaction commits go together into the
next, so one disk sync covers many ACKs. Only after the commit are subscribers notified and the
waiting transports told (only then do they ACK).

The transactions run in a process of their own (data.writer_process). In one process, the writer
and the event loop took turns at the one interpreter lock: under an alarm storm the writer spent
a third of its time waiting for it, and the loop, which reads and answers every panel, waited for
the writer's Python in turn. The loop talks to it through two pipes, with no thread of its own:
what it submits during one turn goes down in one message at the end of that turn, and each reply
is read, and its waiters told, as soon as it arrives.

A lone signal that finds the writer process with nothing in hand is committed on the console's
own connection instead, on the loop: the same transaction code, without the two trips between
processes (about half of its ACK time when panels report one at a time, as they mostly do).
Another connection holding the database's write lock sends it the usual way, so the loop never
waits for a lock.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import multiprocessing
import multiprocessing.util  # noqa: F401 - its exit hook must be registered before ours (see below)
import os
import sqlite3
import sys
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from io import FileIO
from multiprocessing import forkserver
from multiprocessing.process import BaseProcess
from pathlib import Path

import aiosqlite

from centinela.data import writer_process as wire
from centinela.data.db import StoreError
from centinela.data.event_batch import EventBatcher, EventChanges, Job, LinkTest, Rules, Submission, connect_writer
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


INLINE_MAX_SIGNALS = 8
"""Signals a lone submission may carry to be committed on the loop (a panel's frame holds one or a
few); a bigger one goes to the process, so the loop is never held for long."""

STOP_TIMEOUT = 30.0
"""Seconds the writer process has to commit what it holds and exit once told to stop."""

# A fork server forks each writer from a clean process that has already imported the writer's
# code (about 10 ms each), instead of forking the console with its threads, or starting a new
# interpreter (about 200 ms, once per store opened: the tests open hundreds).
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload([wire.__name__])


def start_fork_server() -> None:
    """Start the process writers fork from (at once if it is already up). The console calls it
    before Textual takes over stderr: multiprocessing hands stderr's descriptor to the helper it
    starts alongside, and Textual's stand-in for stderr has none (its fileno() is -1)."""
    stderr = sys.stderr
    try:
        usable = stderr is not None and stderr.fileno() >= 0
    except (OSError, ValueError):
        usable = False
    if not usable:  # started from inside the app after all (e.g. in a test): the real one
        sys.stderr = sys.__stderr__
    try:
        forkserver.ensure_running()
    finally:
        sys.stderr = stderr


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
        self._queued: list[_Waiting | Rules | None] = []
        """Submitted during this turn of the loop (None: stop), sent at its end."""
        self._flush_scheduled = False
        self._waiting: deque[_Waiting] = deque()
        """Sent and not yet answered, in the order the writer answers them."""
        self._gone: StoreError | None = None
        """Set once the writer takes no more work; later submissions fail with it."""
        self._process: BaseProcess | None = None
        self._closed = False
        self._pipe: asyncio.WriteTransport | None = None
        self._pipe_file: FileIO | None = None
        self._replies: asyncio.ReadTransport | None = None
        self._frames = wire.Frames()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finished: asyncio.Future[None] | None = None
        self._inline: EventBatcher | None = None
        """Commits lone signals on our own connection (see the module's docstring)."""
        self._inline_db: sqlite3.Connection | None = None
        self.rules = Rules()
        self.duplicates = 0
        """Retransmissions recognised and stored once (carried over to a writer that replaces a
        lost one)."""

    async def open(self) -> None:
        """Start the writer process (raises if its database can't open)."""
        loop = self._loop = asyncio.get_running_loop()
        self._finished = loop.create_future()
        to_writer, from_writer = await loop.run_in_executor(None, self._start_process)
        _LIVE.add(self)
        self._inline_db = connect_writer(self._path)
        self._inline_db.execute("PRAGMA busy_timeout=0")  # a locked database goes to the writer process
        self._inline = EventBatcher(self._inline_db, preload_accounts=False)
        self._inline.rules = self.rules
        self._pipe_file = FileIO(to_writer, "w")
        self._pipe, _ = await loop.connect_write_pipe(partial(_PipeWatch, self), self._pipe_file)
        self._replies, _ = await loop.connect_read_pipe(partial(_Replies, self), FileIO(from_writer, "r"))
        self._schedule_flush()  # what was submitted before the writer was up

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
        self._enqueue(None)

    async def close(self) -> None:
        """Stop (committing what was submitted), then end the process; a writer that does not
        stop in time is killed, and what it held fails."""
        if self._process is None or self._closed:
            return
        self._closed = True
        assert self._finished is not None
        if not self._finished.done():
            self.stop()
            await asyncio.wait([self._finished], timeout=STOP_TIMEOUT)
        stopped = self._finished.done()
        if not stopped:
            self._end(WriterLost(f"the event writer did not stop within {STOP_TIMEOUT:.0f} s"))
        for transport in (self._pipe, self._replies):
            if transport is not None:
                transport.close()
        if self._inline_db is not None:
            self._inline = None
            self._inline_db.close()
        await asyncio.get_running_loop().run_in_executor(None, self._join, STOP_TIMEOUT if stopped else 1.0)
        _LIVE.discard(self)

    async def load_rules(self, db: aiosqlite.Connection) -> None:
        """Re-read priorities and code overrides (after an admin changes them)."""
        async with db.execute("SELECT family, code, priority FROM code_overrides") as cur:
            overrides = {(family, code.upper()): level for family, code, level in await cur.fetchall()}
        async with db.execute("SELECT level FROM priorities WHERE requires_ack = 0") as cur:
            auto = frozenset(level for (level,) in await cur.fetchall())
        self.rules = Rules(overrides, auto)
        self._enqueue(self.rules)  # in line with the signals: those after it use the new rules

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
        self._enqueue(_Pending(signals, link_test, received_at or utcnow(), notify))

    async def run_job(self, job: Job) -> list[EventRecord]:
        """Run ``job`` (a module-level function) in its own writer transaction (e.g. the
        supervision sweep)."""
        wire.frame(job)  # raises here, for its caller, if it cannot cross to the writer
        done: asyncio.Future[list[EventRecord]] = asyncio.get_running_loop().create_future()
        self._enqueue(_Job(job, partial(settle, done)))
        return await done

    # ------------------------------------------------------------------ sending

    def _enqueue(self, item: _Waiting | Rules | None) -> None:
        self._queued.append(item)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        # What else arrives in this turn of the loop joins the same message.
        if not self._flush_scheduled and self._pipe is not None and self._loop is not None:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        """One message for everything submitted during the last turn of the loop."""
        self._flush_scheduled = False
        items, self._queued = self._queued, []
        if self._inline is not None:
            work = []
            for item in items:
                if isinstance(item, Rules):
                    self._inline.rules = item
                else:
                    work.append(item)
            if len(work) == 1 and isinstance(work[0], _Pending) and self._commit_inline(self._inline, work[0]):
                items = [item for item in items if isinstance(item, Rules)]  # the process needs them too
        commands: list[tuple[object, ...]] = []
        waiting: list[_Waiting] = []
        late: list[_Waiting] = []
        for item in items:
            if self._gone is not None:  # after a stop, or the writer is lost: never answered
                if isinstance(item, _Pending | _Job):
                    late.append(item)
            elif isinstance(item, _Pending):
                commands.append((wire.SIGNALS, [wire.pack_signal(signal) for signal in item.signals],
                                 item.link_test, item.received_at))
                waiting.append(item)
            elif isinstance(item, _Job):
                commands.append((wire.JOB, item.job))
                waiting.append(item)
            elif isinstance(item, Rules):
                commands.append((wire.RULES, item.overrides, item.auto_resolve_levels))
            else:
                commands.append((wire.STOP,))
                self._gone = StoreError("the event writer is closed")
        if commands:
            self._waiting.extend(waiting)
            assert self._pipe is not None
            self._pipe.write(wire.frame(commands))
        if late:
            self._fail(late, self._gone)  # type: ignore[arg-type]

    def _commit_inline(self, batcher: EventBatcher, item: _Pending) -> bool:
        """Commit a lone signal here if the writer process has nothing in hand (so nothing it
        holds can be ordered after it); False if it must go to the process after all."""
        if self._waiting or self._gone is not None or len(item.signals) > INLINE_MAX_SIGNALS:
            return False
        try:
            results, changes, duplicates = batcher.commit([Submission(item.signals, item.link_test, item.received_at)])
        except Exception as exc:
            # Another connection is writing (any kind of busy: extended codes keep the primary
            # one in their low byte): the process waits for it, the loop must not.
            if isinstance(exc, sqlite3.OperationalError) and exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:
                return False
            log.exception("event not stored")
            self._fail([item], StoreError(f"event not stored: {exc}"))
            return True
        self.duplicates += duplicates
        self._deliver([item], results, changes)
        return True

    # ------------------------------------------------------------------ replies

    def _received(self, data: bytes) -> None:
        for reply in self._frames.feed(data):
            kind = reply[0]  # type: ignore[index]
            if kind == wire.DONE:
                _, results, changes, duplicates = reply  # type: ignore[misc]
                self.duplicates += duplicates
                self._deliver(self._take(len(results)), results, changes)
            elif kind == wire.FAILED:
                _, count, detail = reply  # type: ignore[misc]
                log.error("event batch of %d not stored\n%s", count, detail)
                self._fail(self._take(count), StoreError(f"event not stored: {detail.strip().splitlines()[-1]}"))
            elif kind == wire.STOPPED:
                self._end(None)
            elif kind == wire.CRASHED:
                log.error("the event writer process failed\n%s", reply[1])  # type: ignore[index]

    def _take(self, count: int) -> list[_Waiting]:
        return [self._waiting.popleft() for _ in range(count)]

    def _pipe_closed(self) -> None:
        """Either pipe: the writer process ended, or we closed them after it stopped."""
        if self._finished is not None and not self._finished.done():
            assert self._process is not None
            # exitcode polls without waiting: this runs on the loop, which must not block.
            lost = WriterLost(f"the event writer process ended (status {self._process.exitcode})")
            log.error("%s", lost)
            self._end(lost)

    def _end(self, lost: WriterLost | None) -> None:
        """No more work goes to the writer; whatever it had not answered was not stored."""
        if self._gone is None or lost is not None:
            self._gone = lost or StoreError("the event writer is closed")
        unanswered = [*self._waiting, *(item for item in self._queued if isinstance(item, _Pending | _Job))]
        self._waiting.clear()
        self._queued.clear()
        self._fail(unanswered, self._gone)
        assert self._finished is not None
        settle(self._finished, None, lost)

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

    # ------------------------------------------------------------------ the process

    def _start_process(self) -> tuple[int, int]:
        """Runs in an executor: returns our ends of the pipes (to the writer, from it)."""
        start_fork_server()
        to_writer_r, to_writer = _CONTEXT.Pipe(duplex=False)
        from_writer, from_writer_w = _CONTEXT.Pipe(duplex=False)
        process = _CONTEXT.Process(
            target=wire.serve, args=(str(self._path), to_writer_r, from_writer_w, self._max_batch),
            name="centinela-event-writer", daemon=True,
        )
        try:
            process.start()
        finally:
            # Only the writer holds its ends now: when it dies, our reads end instead of waiting.
            to_writer_r.close()
            from_writer_w.close()
        ours = os.dup(to_writer.fileno()), os.dup(from_writer.fileno())
        to_writer.close()
        from_writer.close()
        try:
            reply = wire.read_messages(ours[1], self._frames)[0]
        except (EOFError, OSError):
            reply = (wire.UNUSABLE, "the writer process ended as it started")
        if reply[0] != wire.READY:  # type: ignore[index]
            process.join()
            for fd in ours:
                os.close(fd)
            raise StoreError(f"event writer: {reply[1]}")  # type: ignore[index]
        self._process = process
        return ours

    def _join(self, patience: float) -> None:
        assert self._process is not None
        self._process.join(patience)
        if self._process.exitcode is None:
            log.error("the event writer process did not stop; killing it")
            self._process.kill()
            self._process.join()


class _Replies(asyncio.Protocol):
    def __init__(self, writer: EventWriter) -> None:
        self._writer = writer

    def data_received(self, data: bytes) -> None:
        self._writer._received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._writer._pipe_closed()


class _PipeWatch(asyncio.BaseProtocol):
    """The loop notices the writer's end of the command pipe closing even while we send nothing."""

    def __init__(self, writer: EventWriter) -> None:
        self._writer = writer

    def connection_lost(self, exc: Exception | None) -> None:
        self._writer._pipe_closed()


@atexit.register
def _release_writers() -> None:
    """A console leaving without closing its store: closing the pipe tells each writer to leave
    too, before multiprocessing's own exit hook (registered earlier, so run later) waits for it."""
    for writer in list(_LIVE):
        if writer._pipe_file is not None:
            try:
                writer._pipe_file.close()
            except OSError:
                pass
