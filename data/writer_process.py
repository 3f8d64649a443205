"""The event writer's own process: commits the event path's batches (data.event_batch) with its
own interpreter lock, so neither SQLite's work nor the batch's Python waits for the event loop
that reads the panels' sockets, nor slows it down.

It talks to data.event_writer over two pipes, in pickled messages, each framed by its length
(4 bytes, big-endian). In: lists of commands. Out: one reply per committed batch or job, in order.
It ignores SIGINT, SIGTERM and SIGHUP (a terminal or service manager sends them to the whole
process group, but they are meant for the console, which then tells it to stop once everything is
flushed); it exits when told to, or when the console's end of the pipe closes.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import struct
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import fields
from multiprocessing.connection import Connection
from operator import attrgetter
from pathlib import Path

from centinela.collector import tune_collector
from centinela.data.event_batch import EventBatcher, Results, Rules, Submission, connect_writer
from centinela.receiver.signal import Signal

# Commands, console -> writer
SIGNALS = "signals"  # (SIGNALS, [packed signal, ...], LinkTest | None, received_at)
JOB = "job"  # (JOB, job)
RULES = "rules"  # (RULES, overrides, auto_resolve_levels)
STOP = "stop"  # (STOP,)

# Replies, writer -> console
READY = "ready"  # (READY,)
UNUSABLE = "unusable"  # (UNUSABLE, why): the database could not be opened
DONE = "done"  # (DONE, results per submission, changes, duplicates recognised in this commit)
FAILED = "failed"  # (FAILED, submissions, traceback text): rolled back, nothing stored
STOPPED = "stopped"  # (STOPPED,)
CRASHED = "crashed"  # (CRASHED, traceback text): the writer is ending

_LENGTH = struct.Struct("!I")
_READ_SIZE = 1 << 20

pack_signal = attrgetter(*(field.name for field in fields(Signal)))
"""A signal as a plain tuple: it pickles in a tenth of the time of the dataclass."""


def frame(message: object) -> bytes:
    """A message as it goes down a pipe."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(payload)) + payload


class Frames:
    """Splits what a pipe delivers into whole messages."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[object]:
        self._buffer += data
        messages: list[object] = []
        buffer = self._buffer
        start = 0
        while len(buffer) - start >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(buffer, start)
            end = start + _LENGTH.size + size
            if len(buffer) < end:
                break
            messages.append(pickle.loads(memoryview(buffer)[start + _LENGTH.size:end]))
            start = end
        del buffer[:start]
        return messages


def read_messages(fd: int, frames: Frames) -> list[object]:
    """Block until at least one whole message has come; returns every one that has."""
    while True:
        chunk = os.read(fd, _READ_SIZE)
        if not chunk:
            raise EOFError("the pipe closed")
        if messages := frames.feed(chunk):
            return messages


def serve(path: str, inbox: Connection, outbox: Connection, max_batch: int) -> None:
    """The process's whole life (its target). The pipes come as Connections only because that
    is how multiprocessing hands a descriptor over; they are read and written raw."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    _silence_output()
    tune_collector()
    out = outbox.fileno()
    try:
        db = connect_writer(Path(path))
    except Exception as exc:  # noqa: BLE001 - told to the console, which raises it
        _write(out, frame((UNUSABLE, f"{exc}")))
        return
    try:
        _write(out, frame((READY,)))
        _work(EventBatcher(db), inbox.fileno(), out, max_batch)
    except (EOFError, OSError):
        pass  # the console is gone; what was committed stays, what was not was never ACKed
    except BaseException:
        # Our own bug: the console logs it (nothing here may print) and starts another writer.
        _write(out, frame((CRASHED, traceback.format_exc())))
        raise
    finally:
        db.close()


def _silence_output() -> None:
    """The console draws on the terminal this process inherited: nothing may be printed on it."""
    logging.getLogger().addHandler(logging.NullHandler())
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _work(batcher: EventBatcher, inbox: int, out: int, max_batch: int) -> None:
    frames = Frames()
    commands: deque[tuple[object, ...]] = deque()
    closed = False
    while True:
        while not commands:
            if closed:
                return
            for message in read_messages(inbox, frames):
                commands.extend(message)  # type: ignore[arg-type]
        # Everything already sent goes into this transaction: that is the group commit.
        while not closed and select.select([inbox], [], [], 0)[0]:
            try:
                for message in read_messages(inbox, frames):
                    commands.extend(message)  # type: ignore[arg-type]
            except EOFError:
                closed = True  # finish what was sent, then leave
        kind = commands[0][0]
        if kind == SIGNALS:
            batch: list[Submission] = []
            while commands and commands[0][0] == SIGNALS and len(batch) < max_batch:
                _, packed, link_test, received_at = commands.popleft()
                batch.append(Submission([Signal(*fields) for fields in packed], link_test, received_at))  # type: ignore[attr-defined]
            _reply(out, len(batch), lambda: batcher.commit(batch))
        elif kind == JOB:
            (_, job) = commands.popleft()
            _reply(out, 1, lambda: batcher.commit_job(job))  # type: ignore[arg-type]
        elif kind == RULES:
            _, overrides, auto_levels = commands.popleft()
            batcher.rules = Rules(overrides, auto_levels)  # type: ignore[arg-type]
        elif kind == STOP:
            _write(out, frame((STOPPED,)))
            return
        else:
            raise ValueError(f"unknown writer command {kind!r}")


def _reply(out: int, submissions: int, commit: Callable[[], Results]) -> None:
    try:
        results, changes, duplicates = commit()
    except Exception:  # every waiter must learn it was not stored; the next batch may well be
        _write(out, frame((FAILED, submissions, traceback.format_exc())))
        return
    _write(out, frame((DONE, results, changes, duplicates)))
