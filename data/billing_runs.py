"""Billing runs in the store: their record (``billing_runs``) and the lock that keeps them apart.

Every billing or cutoff run has a row: started ``running``, finished ``done`` or ``failed`` with its
figures and errors; the console lists them and the scheduler reads the last successful one.

The row is also the lock between processes: ``start_run`` refuses while another ``running`` row is
younger than ``stale_after`` and its process is alive. A row left by a process that died (same
machine, pid gone) or that ran too long is marked failed and does not block the next run.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final, Literal

import aiosqlite

from centinela.data.timeutil import from_db, to_db

MAX_RUN_ERRORS: Final = 200
"""Errors kept per run; the rest are counted."""

RunKind = Literal["billing", "cutoff"]


class RunBusyError(Exception):
    """Another process is running billing or cutoffs; the message says which and since when."""


def process_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_alive(owner: str | None) -> bool:
    """False only when the owner ran on this machine and its process is gone."""
    host, _, pid = (owner or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True, slots=True)
class RunRow:
    id: int
    kind: RunKind
    run_date: date
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None
    invoices: int
    suspensions: int
    reconnections: int
    errors: tuple[str, ...]
    status: str
    owner: str | None


def _run_from_row(row: Sequence[Any]) -> RunRow:
    started = from_db(row[4])
    assert started is not None
    return RunRow(row[0], row[1], date.fromisoformat(row[2]), bool(row[3]), started, from_db(row[5]),
                  row[6], row[7], row[8], tuple(json.loads(row[9])) if row[9] else (), row[10], row[11])


_RUN_COLUMNS: Final = ("id, kind, run_date, dry_run, started_at, finished_at, invoices, suspensions, reconnections,"
                       " errors, status, owner")


async def start_run(
    db: aiosqlite.Connection, kind: RunKind, run_date: date, now: datetime, *, stale_after: timedelta
) -> int:
    """Record a run as running, inside the caller's (immediate) transaction; raises
    :class:`RunBusyError` while another live process runs one. A run whose process died, or that
    has run longer than ``stale_after``, is marked failed and does not block."""
    async with db.execute(f"SELECT {_RUN_COLUMNS} FROM billing_runs WHERE status = 'running'") as cur:
        running = [_run_from_row(row) for row in await cur.fetchall()]
    for run in running:
        if _owner_alive(run.owner) and now - run.started_at < stale_after:
            raise RunBusyError(
                f"a {run.kind} run started at {run.started_at:%Y-%m-%d %H:%M:%S} UTC by {run.owner or 'another process'}"
                " is still running"
            )
        await db.execute(
            "UPDATE billing_runs SET status = 'failed', finished_at = ?, errors = ? WHERE id = ?",
            (to_db(now), json.dumps([*run.errors, "abandoned: its process stopped before finishing"]), run.id),
        )
    cursor = await db.execute(
        "INSERT INTO billing_runs (run_date, kind, started_at, owner) VALUES (?, ?, ?, ?)",
        (run_date.isoformat(), kind, to_db(now), process_owner()),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


@dataclass(slots=True)
class RunTally:
    invoices: int = 0
    suspensions: int = 0
    reconnections: int = 0
    errors: list[str] = field(default_factory=list)

    def error(self, text: str) -> None:
        self.errors.append(text)

    def stored_errors(self) -> str | None:
        if not self.errors:
            return None
        shown = self.errors[:MAX_RUN_ERRORS]
        if len(self.errors) > MAX_RUN_ERRORS:
            shown.append(f"… and {len(self.errors) - MAX_RUN_ERRORS} more")
        return json.dumps(shown, ensure_ascii=False)


async def finish_run(db: aiosqlite.Connection, run_id: int, tally: RunTally, *, failed: bool, now: datetime) -> None:
    await db.execute(
        "UPDATE billing_runs SET finished_at = ?, invoices = ?, suspensions = ?, reconnections = ?, errors = ?,"
        " status = ? WHERE id = ?",
        (to_db(now), tally.invoices, tally.suspensions, tally.reconnections, tally.stored_errors(),
         "failed" if failed else "done", run_id),
    )


async def last_successful_run(db: aiosqlite.Connection, kind: RunKind) -> datetime | None:
    async with db.execute(
        "SELECT max(started_at) FROM billing_runs WHERE kind = ? AND status = 'done' AND dry_run = 0", (kind,)
    ) as cur:
        (when,) = await cur.fetchone()
    return from_db(when)


async def recent_runs(db: aiosqlite.Connection, limit: int = 20) -> list[RunRow]:
    async with db.execute(f"SELECT {_RUN_COLUMNS} FROM billing_runs ORDER BY id DESC LIMIT ?", (limit,)) as cur:
        return [_run_from_row(row) for row in await cur.fetchall()]
