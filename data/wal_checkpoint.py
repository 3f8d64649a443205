"""Copies the event writer's write-ahead log into the database file from a thread beside it.

SQLite's automatic checkpoint runs inside the commit that crosses its threshold: under an alarm
storm, that one commit copied tens of megabytes and held every ACK waiting on it for 50-70 ms.
The writer turns it off (data.event_batch.WRITER_PRAGMAS) and this thread checkpoints instead,
on its own connection: a PASSIVE checkpoint never waits for, nor blocks, the writer, and SQLite
gives up the interpreter lock while it copies.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from centinela.data.db import PRAGMAS

CHECKPOINT_EVERY = 1.0
"""Seconds between checkpoints: the log holds about this much of the writer's work."""


class WalCheckpointer:
    def __init__(self, path: Path, every: float = CHECKPOINT_EVERY) -> None:
        self._path = path
        self._every = every
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="centinela-wal-checkpoint", daemon=True)
        self.failures = 0
        """Checkpoints that could not run (another one was running); the next one catches up."""

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            for pragma in PRAGMAS:  # synchronous=FULL: the file is synced before the log restarts
                db.execute(pragma)
            while not self._stopping.wait(self._every):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    self.failures += 1
        finally:
            db.close()
