"""The event path's single writer: durable group commit of signals, plus what must happen in the
same transaction as a signal (duplicates, restores, last-seen, supervision).

Signals from every connection that arrive while one transaction commits go together into the
next, so one disk sync covers many ACKs. Only after the commit are the waiting transports told
(and only then do they ACK), and subscribers notified.

A whole batch is one synchronous function run on the writer's own thread and connection: one
thread hop per batch instead of one per statement (the rest of the store uses aiosqlite, which
offers only the latter). SQLite releases the GIL while it works, so the event loop keeps
reading sockets meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timedelta
from pathlib import Path

import aiosqlite

from centinela.data.db import PRAGMAS, StoreError
from centinela.data.records import EVENT_COLUMNS, EventRecord
from centinela.data.timeutil import from_db, to_db, utcnow
from centinela.receiver import catalog
from centinela.receiver.classify import (
    SYSTEM_PROTOCOL,
    AccountMatch,
    family_of,
    index_candidates,
    match_account,
    normalize_account,
    priority_of,
)
from centinela.receiver.signal import Signal

log = logging.getLogger(__name__)

DUPLICATE_WINDOW = timedelta(minutes=10)
"""A retransmission (same account, sequence and content) inside this window is stored once."""
SYSTEM_ACTOR = "sistema"


@dataclass(frozen=True, slots=True)
class EventChanges:
    """What one commit did: events stored, and existing events whose state it changed."""

    added: list[EventRecord]
    updated: list[EventRecord]


@dataclass(frozen=True, slots=True)
class Rules:
    """Operational settings the event path needs on every signal, cached between changes."""

    overrides: dict[tuple[str, str], int] = field(default_factory=dict)
    auto_resolve_levels: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class LinkTest:
    """A supervision poll (DC-09 NULL): no event, but the account was heard from."""

    account: str | None
    receiver: str | None
    line: str | None


@dataclass(slots=True)
class _Pending:
    signals: Sequence[Signal]
    link_test: LinkTest | None
    received_at: datetime
    done: asyncio.Future[list[EventRecord]]


Job = Callable[[sqlite3.Connection, datetime], list[Signal]]
"""Runs on the writer's thread inside its transaction; returns signals to store in the same
transaction (e.g. the late-to-test sweep)."""


@dataclass(slots=True)
class _Job:
    job: Job
    done: asyncio.Future[list[EventRecord]]


_INSERT_EVENT = (
    "INSERT INTO events (received_at, protocol, raw, account, receiver, line, sequence, code,"
    " qualifier, zone, partition, user, text, panel_time, priority, alarm_account_id, customer_id,"
    " customer_name, unknown_account, service_suspended, status, resolution, resolved_at)"
    " VALUES (" + ", ".join("?" * 23) + ")"
)

_ACCOUNTS_FOR = """
SELECT a.id, a.account_number, a.receiver, a.line,
       coalesce(k.customer_id, a.customer_id), cu.name, k.state
FROM alarm_accounts a
LEFT JOIN contracts k ON k.id = (
    SELECT id FROM contracts
    WHERE alarm_account_id = a.id AND service_kind = 'alarm' AND state <> 'cancelled'
    ORDER BY id DESC LIMIT 1)
LEFT JOIN customers cu ON cu.id = coalesce(k.customer_id, a.customer_id)
WHERE upper(a.account_number) IN ({marks})
"""


def _content_key(signal: Signal) -> tuple[object, ...]:
    return (normalize_account(signal.account), signal.sequence, signal.protocol, signal.code,
            signal.qualifier, signal.zone, signal.user, signal.partition)


@lru_cache(maxsize=4096)
def restored_codes_of(protocol: str, code: str | None, qualifier: str | None) -> tuple[str, ...]:
    """Alarm codes an event reports as back to normal (empty when it is not a restore)."""
    family = family_of(protocol)
    if family is None or not code:
        return ()
    if family == "cid":
        info = catalog.lookup("cid", code)
        if qualifier != "3" or (info is not None and info.category in ("openclose", "access")):
            return ()
    return catalog.restored_codes(family, code)


def _record(event_id: int, row: tuple[object, ...]) -> EventRecord:
    """The EventRecord of a row as _INSERT_EVENT wrote it (the same columns, in that order)."""
    (received, protocol, raw, account, receiver, line, sequence, code, qualifier, zone, partition, user,
     text, panel_time, priority, alarm_account_id, customer_id, customer_name, unknown, suspended,
     status, resolution, resolved_at) = row
    received_at = from_db(received)  # type: ignore[arg-type]
    assert received_at is not None
    return EventRecord(
        id=event_id, received_at=received_at, protocol=protocol, raw=raw, account=account,  # type: ignore[arg-type]
        receiver=receiver, line=line, sequence=sequence, code=code, qualifier=qualifier, zone=zone,  # type: ignore[arg-type]
        partition=partition, user=user, text=text, panel_time=from_db(panel_time),  # type: ignore[arg-type]
        priority=priority, alarm_account_id=alarm_account_id, customer_id=customer_id,  # type: ignore[arg-type]
        customer_name=customer_name, unknown_account=bool(unknown), service_suspended=bool(suspended),  # type: ignore[arg-type]
        status=status, taken_by=None, hold_until=None, resolution=resolution,  # type: ignore[arg-type]
        resolved_at=received_at if resolved_at else None,
    )


class EventWriter:
    def __init__(self, path: Path, publish: Callable[[EventChanges], None], max_batch: int = 2000) -> None:
        self._path = path
        self._publish_changes = publish
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending | _Job | None] = asyncio.Queue()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-writer")
        self._db: sqlite3.Connection | None = None
        self.rules = Rules()
        self.batches = 0
        self.duplicates = 0

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._connect)

    def _connect(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None)
        for pragma in PRAGMAS:
            db.execute(pragma)
        self._db = db

    async def close(self) -> None:
        def disconnect() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._thread, disconnect)
        self._thread.shutdown(wait=True)

    async def load_rules(self, db: aiosqlite.Connection) -> None:
        """Re-read priorities and code overrides (after an admin changes them)."""
        async with db.execute("SELECT family, code, priority FROM code_overrides") as cur:
            overrides = {(family, code.upper()): level for family, code, level in await cur.fetchall()}
        async with db.execute("SELECT level FROM priorities WHERE requires_ack = 0") as cur:
            auto = frozenset(level for (level,) in await cur.fetchall())
        self.rules = Rules(overrides, auto)

    async def submit(
        self, signals: Sequence[Signal], received_at: datetime | None = None, *, link_test: LinkTest | None = None
    ) -> list[EventRecord]:
        """Store the signals; returns once they are durable on disk (only then may they be ACKed).

        A duplicate of a recent signal returns the event already stored for it.
        """
        return await self.submit_nowait(signals, received_at, link_test=link_test)

    def submit_nowait(
        self, signals: Sequence[Signal], received_at: datetime | None = None, *, link_test: LinkTest | None = None
    ) -> asyncio.Future[list[EventRecord]]:
        """Like :meth:`submit`, returning the future itself: a transport can attach its ACK to
        it as a callback instead of running a task per frame."""
        done: asyncio.Future[list[EventRecord]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(signals, link_test, received_at or utcnow(), done))
        return done

    async def run_job(self, job: Job) -> list[EventRecord]:
        """Run ``job`` in its own writer transaction (e.g. the supervision sweep)."""
        done: asyncio.Future[list[EventRecord]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(job, done))
        return await done

    async def run(self) -> None:
        """Commit batches until :meth:`stop`; everything submitted before it is committed."""
        stopping = False
        while not stopping:
            first = await self._queue.get()
            batch: list[_Pending] = []
            jobs: list[_Job] = []
            for item in self._drain(first):
                if item is None:
                    stopping = True
                elif isinstance(item, _Job):
                    jobs.append(item)
                else:
                    batch.append(item)
            if batch:
                await self._commit(batch)
            for job in jobs:
                await self._commit_job(job)

    def _drain(self, first: _Pending | _Job | None) -> list[_Pending | _Job | None]:
        items = [first]
        while len(items) < self._max_batch and not self._queue.empty():
            items.append(self._queue.get_nowait())
        return items

    def stop(self) -> None:
        self._queue.put_nowait(None)

    async def _commit(self, batch: list[_Pending]) -> None:
        live = [item for item in batch if not item.done.cancelled()]
        try:
            results, changes = await asyncio.get_running_loop().run_in_executor(
                self._thread, self._in_transaction, lambda db: self._write(db, live)
            )
        except Exception as exc:  # noqa: BLE001 - every waiter must learn it was not stored
            log.exception("event batch of %d not stored", len(live))
            for item in live:
                if not item.done.done():
                    item.done.set_exception(StoreError(f"event not stored: {exc}"))
            return
        self.batches += 1
        for item, stored in zip(live, results):
            if not item.done.done():
                item.done.set_result(stored)
        self._publish(changes)

    async def _commit_job(self, job: _Job) -> None:
        now = utcnow()

        def work(db: sqlite3.Connection) -> tuple[list[EventRecord], EventChanges]:
            pending = _Pending(job.job(db, now), None, now, job.done)
            results, changes = self._write(db, [pending])
            return results[0], changes

        try:
            stored, changes = await asyncio.get_running_loop().run_in_executor(self._thread, self._in_transaction, work)
        except Exception as exc:  # noqa: BLE001 - reported to whoever asked for the job
            log.exception("writer job failed")
            if not job.done.done():
                job.done.set_exception(exc)
            return
        if not job.done.done():
            job.done.set_result(stored)
        self._publish(changes)

    def _publish(self, changes: EventChanges) -> None:
        if changes.added or changes.updated:
            self._publish_changes(changes)

    def _in_transaction(self, work):  # type: ignore[no-untyped-def]
        db = self._db
        if db is None:
            raise StoreError("the event writer is closed")
        db.execute("BEGIN IMMEDIATE")
        try:
            result = work(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return result

    # ------------------------------------------------------------------ on the writer's thread

    def _write(self, db: sqlite3.Connection, batch: list[_Pending]) -> tuple[list[list[EventRecord]], EventChanges]:
        candidates = index_candidates(self._candidates(db, batch))
        recent = self._recent_duplicates(db, batch, min(item.received_at for item in batch))

        rows: list[tuple[object, ...]] = []
        # Per item, per signal: an index into the rows to insert, or an already stored event.
        plan: list[list[int | EventRecord]] = []
        seen_in_batch: dict[tuple[object, ...], int] = {}
        heard: dict[int, str] = {}  # alarm account id -> last time heard from
        for item in batch:
            received = to_db(item.received_at)
            placed: list[int | EventRecord] = []
            for signal in item.signals:
                match = match_account(candidates, signal.account, signal.receiver, signal.line)
                if match is not None:
                    heard[match.alarm_account_id] = received
                key = _content_key(signal)
                if signal.sequence and key[0]:
                    if key in recent or key in seen_in_batch:
                        self.duplicates += 1
                        placed.append(recent[key] if key in recent else seen_in_batch[key])
                        continue
                    seen_in_batch[key] = len(rows)
                placed.append(len(rows))
                rows.append(self._row(signal, received, match))
            if item.link_test is not None:
                test = item.link_test
                match = match_account(candidates, test.account, test.receiver, test.line)
                if match is not None:
                    heard[match.alarm_account_id] = received
            plan.append(placed)

        stored: list[EventRecord] = []
        if rows:
            (previous_max,) = db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
            db.executemany(_INSERT_EVENT, rows)
            (last_id,) = db.execute("SELECT last_insert_rowid()").fetchone()
            if last_id - previous_max == len(rows):
                # Inside our write lock new rows take max(rowid)+1, one after the other (SQLite's
                # documented rowid choice), so the records are built from what we inserted
                # instead of read back and parsed again.
                stored = [_record(previous_max + 1 + n, row) for n, row in enumerate(rows)]
            else:
                stored = self._events(db, "id > ? ORDER BY id", (previous_max,))
                if len(stored) != len(rows):
                    raise StoreError(f"stored {len(stored)} events for {len(rows)} signals")

        updated_ids = self._apply_restores(db, stored)
        updated_ids |= self._mark_heard(db, heard)
        updated = self._events_by_id(db, updated_ids - {event.id for event in stored})

        results = [
            [stored[entry] if isinstance(entry, int) else entry for entry in placed] for placed in plan
        ]
        return results, EventChanges(stored, updated)

    @staticmethod
    def _events(db: sqlite3.Connection, where: str, params: Sequence[object]) -> list[EventRecord]:
        return [EventRecord.from_row(row) for row in db.execute(f"SELECT {EVENT_COLUMNS} FROM events WHERE {where}", params)]

    def _events_by_id(self, db: sqlite3.Connection, ids: set[int]) -> list[EventRecord]:
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        return self._events(db, f"id IN ({marks}) ORDER BY id", sorted(ids))

    @staticmethod
    def _candidates(db: sqlite3.Connection, batch: list[_Pending]) -> list[AccountMatch]:
        accounts = {
            account
            for item in batch
            for signal in item.signals
            if (account := normalize_account(signal.account)) is not None
        }
        accounts |= {
            account
            for item in batch
            if item.link_test and (account := normalize_account(item.link_test.account)) is not None
        }
        if not accounts:
            return []
        sql = _ACCOUNTS_FOR.format(marks=", ".join("?" * len(accounts)))
        return [AccountMatch(*row) for row in db.execute(sql, sorted(accounts))]

    def _recent_duplicates(
        self, db: sqlite3.Connection, batch: list[_Pending], since: datetime
    ) -> dict[tuple[object, ...], EventRecord]:
        pairs = sorted({
            (signal.account, signal.sequence)
            for item in batch
            for signal in item.signals
            if signal.account and signal.sequence
        })
        if not pairs:
            return {}
        values = ", ".join("(?, ?)" for _ in pairs)
        params: list[object] = [value for pair in pairs for value in pair]
        params.append(to_db(since - DUPLICATE_WINDOW))
        found: dict[tuple[object, ...], EventRecord] = {}
        for event in self._events(db, f"(account, sequence) IN (VALUES {values}) AND received_at >= ?", params):
            key = (normalize_account(event.account), event.sequence, event.protocol, event.code,
                   event.qualifier, event.zone, event.user, event.partition)
            found.setdefault(key, event)
        return found

    def _apply_restores(self, db: sqlite3.Connection, stored: list[EventRecord]) -> set[int]:
        """A panel's restore closes the matching open alarm an operator has not taken yet; an
        alarm an operator has taken gets a note instead, and stays theirs to close.

        One read of the involved accounts' open alarms per batch (the open-alarm indexes of
        migration 0006 keep it a lookup), matched here, then written back in two statements.
        Codes never collide across families (3 digits, 2 letters, words), so the code alone finds
        the alarm whichever path (IP or serial receiver) it came by.
        """
        restores = [(event, codes) for event in stored
                    if (codes := restored_codes_of(event.protocol, event.code, event.qualifier))]
        if not restores:
            return set()
        wanted = sorted({code for _, codes in restores for code in codes})
        by_owner_code: dict[tuple[object, object], list[list[object]]] = {}
        for alarm in self._open_alarms(db, [event for event, _ in restores], wanted):
            owner = alarm[2] if alarm[2] is not None else ("unregistered", alarm[3])
            by_owner_code.setdefault((owner, alarm[4]), []).append(alarm)
        resolved: list[tuple[str, int]] = []
        actions: list[tuple[int, str, str, str, str]] = []
        changed: set[int] = set()
        for event, codes in restores:
            cid = family_of(event.protocol) == "cid"
            at = to_db(event.received_at)
            owner = event.alarm_account_id if event.alarm_account_id else ("unregistered", event.account)
            for code in codes:
                for alarm in by_owner_code.get((owner, code), ()):
                    alarm_id, status, _, _, _, qualifier, zone, receiver = alarm
                    if (alarm_id >= event.id or status == "resolved"  # type: ignore[operator]
                            or (cid and qualifier != "1")
                            or (event.zone is not None and zone != event.zone)
                            # a link restored closes that link's alarm only
                            or (event.protocol == SYSTEM_PROTOCOL and receiver != event.receiver)):
                        continue
                    if status == "acknowledged":
                        action = "restore-noted"
                    else:
                        action = "auto-resolve"
                        resolved.append((at, alarm_id))  # type: ignore[arg-type]
                        alarm[1] = "resolved"
                    actions.append((alarm_id, SYSTEM_ACTOR, action,  # type: ignore[arg-type]
                                    f"Restaurado por el panel (evento #{event.id})", at))
                    changed.add(alarm_id)  # type: ignore[arg-type]
        db.executemany("UPDATE events SET status = 'resolved', resolution = 'restored', resolved_at = ? WHERE id = ?",
                       resolved)
        db.executemany("INSERT INTO event_actions (event_id, operator, action, note, at) VALUES (?, ?, ?, ?, ?)",
                       actions)
        return changed

    @staticmethod
    def _open_alarms(db: sqlite3.Connection, restores: list[EventRecord], codes: list[str]) -> list[list[object]]:
        """Unresolved events with these codes from the accounts the restores come from (as
        mutable rows)."""
        columns = "id, status, alarm_account_id, account, code, qualifier, zone, receiver"
        with_codes = f" AND code IN ({', '.join('?' * len(codes))})"
        registered = sorted({event.alarm_account_id for event in restores if event.alarm_account_id})
        unregistered = sorted({event.account for event in restores if not event.alarm_account_id and event.account})
        rows: list[list[object]] = []
        if registered:
            rows += map(list, db.execute(
                f"SELECT {columns} FROM events WHERE status <> 'resolved'"
                f" AND alarm_account_id IN ({', '.join('?' * len(registered))}){with_codes}", [*registered, *codes]))
        if unregistered:
            rows += map(list, db.execute(
                f"SELECT {columns} FROM events WHERE status <> 'resolved' AND alarm_account_id IS NULL"
                f" AND account IN ({', '.join('?' * len(unregistered))}){with_codes}", [*unregistered, *codes]))
        if any(not event.alarm_account_id and not event.account for event in restores):
            rows += map(list, db.execute(
                f"SELECT {columns} FROM events WHERE status <> 'resolved' AND alarm_account_id IS NULL"
                f" AND account IS NULL{with_codes}", codes))
        return rows

    @staticmethod
    def _mark_heard(db: sqlite3.Connection, heard: dict[int, str]) -> set[int]:
        """Record when each account was last heard from; an account that was late to test and
        reports again has its open "late" alarm closed."""
        if not heard:
            return set()
        db.executemany(
            "UPDATE alarm_accounts SET last_seen_at = max(coalesce(last_seen_at, ''), ?) WHERE id = ?",
            [(when, account_id) for account_id, when in heard.items()],
        )
        marks = ", ".join("?" * len(heard))
        back = [account_id for (account_id,) in db.execute(
            f"SELECT id FROM alarm_accounts WHERE late_since IS NOT NULL AND id IN ({marks})", list(heard))]
        if not back:
            return set()
        back_marks = ", ".join("?" * len(back))
        db.execute(f"UPDATE alarm_accounts SET late_since = NULL WHERE id IN ({back_marks})", back)
        late_events = db.execute(
            f"SELECT id, alarm_account_id FROM events WHERE code = 'LATE' AND status <> 'resolved'"
            f" AND protocol = ? AND alarm_account_id IN ({back_marks})",
            [SYSTEM_PROTOCOL, *back],
        ).fetchall()
        for event_id, account_id in late_events:
            when = heard[account_id]
            db.execute(
                "UPDATE events SET status = 'resolved', resolution = 'reported', resolved_at = ? WHERE id = ?",
                (when, event_id),
            )
            db.execute(
                "INSERT INTO event_actions (event_id, operator, action, note, at) VALUES (?, ?, ?, ?, ?)",
                (event_id, SYSTEM_ACTOR, "auto-resolve", "La cuenta volvió a reportar", when),
            )
        return {event_id for event_id, _ in late_events}

    def _row(self, signal: Signal, received: str, match: AccountMatch | None) -> tuple[object, ...]:
        priority = priority_of(signal, match, self.rules.overrides)
        auto_resolved = priority in self.rules.auto_resolve_levels
        system = signal.protocol == SYSTEM_PROTOCOL
        return (
            received, signal.protocol, signal.raw, signal.account, signal.receiver, signal.line,
            signal.sequence, signal.code, signal.qualifier, signal.zone, signal.partition,
            signal.user, signal.text, to_db(signal.panel_time) if signal.panel_time else None,
            priority,
            match.alarm_account_id if match else None,
            match.customer_id if match else None,
            match.customer_name if match else None,
            0 if match or system else 1,
            1 if match and match.suspended else 0,
            "resolved" if auto_resolved else "new",
            "auto" if auto_resolved else None,
            received if auto_resolved else None,
        )
