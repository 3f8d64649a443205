"""The event writer's own process: commits the event path's batches (data.event_batch) with its
own interpreter lock, so neither SQLite's work nor the batch's Python waits for the event loop
that reads the panels' sockets, nor slows it down.

It talks to data.event_writer over two pipes, in pickled messages. In: lists of commands. Out:
one reply per committed batch or job, in order. It ignores SIGINT, SIGTERM and SIGHUP (a terminal or
service manager sends them to the whole process group, but they are meant for the console, which
then tells it to stop once everything is flushed); it exits when told to, or when the console's
end of the pipe closes.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import traceback
from collections import deque
from dataclasses import fields
from multiprocessing.connection import Connection
from operator import attrgetter
from pathlib import Path

from centinela.data.event_batch import EventBatcher, Rules, Submission, connect_writer
from centinela.receiver.signal import Signal

# Commands, console -> writer
SIGNALS = "signals"  # (SIGNALS, [packed signal, ...], LinkTest | None, received_at)
JOB = "job"  # (JOB, job)
RULES = "rules"  # (RULES, overrides, auto_resolve_levels)
STOP = "stop"  # (STOP,)

# Replies, writer -> console
READY = "ready"  # (READY,)
UNUSABLE = "unusable"  # (UNUSABLE, why): the database could not be opened
DONE = "done"  # (DONE, results per submission, changes, duplicates so far)
FAILED = "failed"  # (FAILED, submissions, traceback text): rolled back, nothing stored
STOPPED = "stopped"  # (STOPPED,)

pack_signal = attrgetter(*(field.name for field in fields(Signal)))
"""A signal as a plain tuple: it pickles in a tenth of the time of the dataclass."""


def dumps(message: object) -> bytes:
    return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def serve(path: str, inbox: Connection, outbox: Connection, max_batch: int) -> None:
    """The process's whole life (its target)."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    _silence_output()
    try:
        db = connect_writer(Path(path))
    except Exception as exc:  # noqa: BLE001 - told to the console, which raises it
        outbox.send_bytes(dumps((UNUSABLE, f"{exc}")))
        return
    try:
        outbox.send_bytes(dumps((READY,)))
        _work(EventBatcher(db), inbox, outbox, max_batch)
    except (EOFError, OSError):
        pass  # the console is gone; what was committed stays, what was not was never ACKed
    finally:
        db.close()


def _silence_output() -> None:
    """The console draws on the terminal this process inherited: nothing may be printed on it."""
    logging.getLogger().addHandler(logging.NullHandler())
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


def _work(batcher: EventBatcher, inbox: Connection, outbox: Connection, max_batch: int) -> None:
    commands: deque[tuple[object, ...]] = deque()
    closed = False
    while True:
        if not commands:
            if closed:
                return
            commands.extend(pickle.loads(inbox.recv_bytes()))
        # Everything already sent goes into this transaction: that is the group commit.
        while not closed and inbox.poll():
            try:
                commands.extend(pickle.loads(inbox.recv_bytes()))
            except EOFError:
                closed = True  # finish what was sent, then leave
        kind = commands[0][0]
        if kind == SIGNALS:
            batch: list[Submission] = []
            while commands and commands[0][0] == SIGNALS and len(batch) < max_batch:
                _, packed, link_test, received_at = commands.popleft()
                batch.append(Submission([Signal(*fields) for fields in packed], link_test, received_at))  # type: ignore[attr-defined]
            _reply(outbox, len(batch), lambda: batcher.commit(batch), batcher)
        elif kind == JOB:
            (_, job) = commands.popleft()
            _reply(outbox, 1, lambda: batcher.commit_job(job), batcher)  # type: ignore[arg-type]
        elif kind == RULES:
            _, overrides, auto_levels = commands.popleft()
            batcher.rules = Rules(overrides, auto_levels)  # type: ignore[arg-type]
        elif kind == STOP:
            outbox.send_bytes(dumps((STOPPED,)))
            return
        else:
            raise ValueError(f"unknown writer command {kind!r}")


def _reply(outbox: Connection, submissions: int, commit, batcher: EventBatcher) -> None:  # type: ignore[no-untyped-def]
    try:
        results, changes = commit()
    except Exception:  # every waiter must learn it was not stored; the next batch may well be
        outbox.send_bytes(dumps((FAILED, submissions, traceback.format_exc())))
        return
    outbox.send_bytes(dumps((DONE, results, changes, batcher.duplicates)))
