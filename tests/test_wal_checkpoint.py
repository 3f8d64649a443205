"""The write-ahead log reaches the database file from a thread beside the event writer, not
inside one of its commits (where a storm's ACKs would wait for it)."""

from __future__ import annotations

import shutil
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from centinela.data.db import DB_FILENAME, PRAGMAS
from centinela.data.event_batch import connect_writer
from centinela.data.store import Store
from centinela.data.wal_checkpoint import WalCheckpointer
from centinela.receiver.signal import Signal
from tests.helpers import until


def rows_in_database_file(database: Path, table: str, scratch: Path) -> int:
    """Rows of ``table`` in the database file alone: a copy without its log holds only what was
    checkpointed."""
    copy = scratch / "checkpointed.db"
    for leftover in scratch.glob("checkpointed.db*"):
        leftover.unlink()
    shutil.copyfile(database, copy)
    try:
        with closing(sqlite3.connect(copy)) as db:
            return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except sqlite3.DatabaseError:  # the table itself not checkpointed yet, or copied mid-write
        return 0


def test_the_writer_connection_leaves_checkpoints_to_the_thread(tmp_path: Path) -> None:
    database = tmp_path / DB_FILENAME
    with closing(connect_writer(database)) as db:
        db.execute("CREATE TABLE t (x TEXT)")
        for _ in range(300):  # far past SQLite's automatic checkpoint (1,000 pages)
            db.execute("INSERT INTO t VALUES (?)", ("x" * 20_000,))
        assert rows_in_database_file(database, "t", tmp_path) == 0
        assert database.stat().st_size < 100_000


async def test_the_checkpointer_copies_the_log_into_the_database_file(tmp_path: Path) -> None:
    database = tmp_path / DB_FILENAME
    with closing(connect_writer(database)) as db:
        db.execute("CREATE TABLE t (x TEXT)")
        checkpointer = WalCheckpointer(database, every=0.05)
        checkpointer.start()
        try:
            for _ in range(50):
                db.execute("INSERT INTO t VALUES (?)", ("x" * 20_000,))
            await until(lambda: rows_in_database_file(database, "t", tmp_path) == 50)
            # Later commits too: the log is reused once copied, not copied once.
            db.execute("INSERT INTO t VALUES ('late')")
            await until(lambda: rows_in_database_file(database, "t", tmp_path) == 51)
        finally:
            started = time.monotonic()
            checkpointer.stop()
        assert time.monotonic() - started < 1.0
    with closing(sqlite3.connect(database)) as db:
        for pragma in PRAGMAS:
            db.execute(pragma)
        assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 51


async def test_events_the_writer_commits_reach_the_database_file(store: Store, data_dir: Path, tmp_path: Path) -> None:
    signals = [Signal(protocol="ADM-CID", raw=f"1234|1130 01 {zone:03d}", account="1234", sequence=f"{zone:04d}",
                      code="130", qualifier="1", partition="01", zone=f"{zone:03d}") for zone in range(1, 4)]
    await store.record(signals)
    await until(lambda: rows_in_database_file(data_dir / DB_FILENAME, "events", tmp_path) == 3,
                explain=lambda: "the writer's events never reached the database file")
