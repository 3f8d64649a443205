"""The rows of the events table as the event writer inserts them, and the records built back
from them without reading them again."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from functools import lru_cache

from centinela.data.records import EventRecord
from centinela.data.timeutil import from_db, to_db

_ROW = "(" + ", ".join("?" * 23) + ")"
_CHUNKS = (1024, 512, 256, 128, 64, 32, 16, 8, 4, 2, 1)
"""Rows per INSERT statement: a batch goes in as few statements as its size has bits. Each
statement steps once with the GIL given up, and under load winning it back from the event loop's
thread, not SQLite, set the writer's pace (executemany steps, and waits, once per row). The
fixed sizes stay in the prepared-statement cache."""


@lru_cache(maxsize=len(_CHUNKS))
def _insert_sql(rows: int) -> str:
    return (
        "INSERT INTO events (received_at, protocol, raw, account, receiver, line, sequence, code,"
        " qualifier, zone, partition, user, text, panel_time, priority, alarm_account_id, customer_id,"
        " customer_name, unknown_account, service_suspended, status, resolution, resolved_at)"
        " VALUES " + ", ".join([_ROW] * rows)
    )


def insert_events(db: sqlite3.Connection, rows: list[tuple[object, ...]]) -> int:
    """Insert ``rows`` in order; returns the rowid of the last."""
    done = 0
    last_id = 0
    for size in _CHUNKS:
        while len(rows) - done >= size:
            cursor = db.execute(_insert_sql(size), [value for row in rows[done:done + size] for value in row])
            last_id = cursor.lastrowid or 0
            done += size
    return last_id


@lru_cache(maxsize=1024)
def as_stored(instant: datetime) -> tuple[str, datetime]:
    """An instant's text in the store, and the instant that text reads back as. Cached for panel
    times: in a busy second every panel stamps the same one."""
    text = to_db(instant)
    stored = from_db(text)
    assert stored is not None
    return text, stored


def record_of(event_id: int, row: tuple[object, ...], received_at: datetime, panel_time: datetime | None) -> EventRecord:
    """The EventRecord of a row as insert_events wrote it (the same columns, in that order), with
    its instants as the store reads them back."""
    (_, protocol, raw, account, receiver, line, sequence, code, qualifier, zone, partition, user,
     text, _, priority, alarm_account_id, customer_id, customer_name, unknown, suspended,
     status, resolution, resolved_at) = row
    return EventRecord(
        id=event_id, received_at=received_at, protocol=protocol, raw=raw, account=account,  # type: ignore[arg-type]
        receiver=receiver, line=line, sequence=sequence, code=code, qualifier=qualifier, zone=zone,  # type: ignore[arg-type]
        partition=partition, user=user, text=text, panel_time=panel_time,  # type: ignore[arg-type]
        priority=priority, alarm_account_id=alarm_account_id, customer_id=customer_id,  # type: ignore[arg-type]
        customer_name=customer_name, unknown_account=bool(unknown), service_suspended=bool(suspended),  # type: ignore[arg-type]
        status=status, taken_by=None, hold_until=None, resolution=resolution,  # type: ignore[arg-type]
        resolved_at=received_at if resolved_at else None,
    )
