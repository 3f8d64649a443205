"""The outbox: work for Odoo (and other outside systems) written in the same transaction as the
local change it reports, so nothing is lost when the outside system is down or the process dies.

A sync worker drains it in order (see data/odoo_sync.py); this module only records and hands out
the work.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiosqlite

from centinela.data.timeutil import from_db, to_db, utcnow


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    target: str
    operation: str
    payload: dict[str, Any]
    dedupe_key: str | None
    attempts: int
    created_at: datetime


_INSERT = (
    "INSERT INTO outbox (target, operation, payload, dedupe_key) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (dedupe_key) DO NOTHING"
)


def _encode(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, default=str)


async def enqueue(
    db: aiosqlite.Connection, operation: str, payload: dict[str, Any], *, dedupe_key: str | None = None,
    target: str = "odoo",
) -> int | None:
    """Record work inside the caller's transaction. With a ``dedupe_key`` the same work is
    queued once (a retried billing run does not push an invoice twice); returns the row id,
    or None when it was already queued."""
    cursor = await db.execute(_INSERT, (target, operation, _encode(payload), dedupe_key))
    return cursor.lastrowid if cursor.rowcount else None


async def enqueue_many(
    db: aiosqlite.Connection, operation: str, items: Iterable[tuple[dict[str, Any], str | None]], *,
    target: str = "odoo",
) -> None:
    """:func:`enqueue` of many (payload, dedupe key) pairs in one statement: one await per row
    costs seconds when thousands of contracts change state at once."""
    await db.executemany(_INSERT, [(target, operation, _encode(payload), key) for payload, key in items])


async def due(db: aiosqlite.Connection, *, target: str = "odoo", limit: int = 100, now: datetime | None = None) -> list[OutboxItem]:
    """Pending items whose retry time has come, oldest first."""
    async with db.execute(
        "SELECT id, target, operation, payload, dedupe_key, attempts, created_at FROM outbox"
        " WHERE state = 'pending' AND target = ? AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
        " ORDER BY id LIMIT ?",
        (target, to_db(now or utcnow()), limit),
    ) as cur:
        rows = await cur.fetchall()
    items = []
    for id_, target_, operation, payload, dedupe_key, attempts, created in rows:
        created_at = from_db(created)
        assert created_at is not None
        items.append(OutboxItem(id_, target_, operation, json.loads(payload), dedupe_key, attempts, created_at))
    return items


async def mark_done(db: aiosqlite.Connection, item_id: int) -> None:
    await db.execute(
        "UPDATE outbox SET state = 'done', done_at = ?, last_error = NULL WHERE id = ?", (to_db(utcnow()), item_id)
    )


def backoff(attempts: int, base: float = 5.0, cap: float = 3600.0) -> timedelta:
    """Exponential: 5 s, 10 s, 20 s … capped at an hour, so an outage of hours costs few calls."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


async def mark_retry(db: aiosqlite.Connection, item_id: int, error: str, *, now: datetime | None = None) -> None:
    """The outside system was unreachable: try again later."""
    async with db.execute("SELECT attempts FROM outbox WHERE id = ?", (item_id,)) as cur:
        row = await cur.fetchone()
    attempts = (row[0] if row else 0) + 1
    await db.execute(
        "UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?",
        (attempts, to_db((now or utcnow()) + backoff(attempts)), error[:2000], item_id),
    )


async def park(db: aiosqlite.Connection, item_id: int, error: str) -> None:
    """The outside system refused the data itself: set aside for an admin, keep the queue moving."""
    await db.execute(
        "UPDATE outbox SET state = 'parked', attempts = attempts + 1, last_error = ? WHERE id = ?",
        (error[:2000], item_id),
    )


async def requeue(db: aiosqlite.Connection, item_id: int) -> None:
    """An admin fixed the data: try a parked item again."""
    await db.execute(
        "UPDATE outbox SET state = 'pending', next_attempt_at = NULL WHERE id = ? AND state = 'parked'", (item_id,)
    )


@dataclass(frozen=True, slots=True)
class Backlog:
    pending: int
    parked: int
    oldest_pending: datetime | None


async def backlog(db: aiosqlite.Connection, target: str = "odoo") -> Backlog:
    async with db.execute(
        "SELECT sum(state = 'pending'), sum(state = 'parked'), min(CASE WHEN state = 'pending' THEN created_at END)"
        " FROM outbox WHERE target = ?",
        (target,),
    ) as cur:
        pending, parked, oldest = await cur.fetchone()
    return Backlog(int(pending or 0), int(parked or 0), from_db(oldest))
