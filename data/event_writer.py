"""The event path's single writer: durable group commit of signals, plus what must happen in the
same transaction as a signal (duplicates, restores, last-seen, supervision).

Signals from every connection that arrive while one transaction commits go together into the
next, so one disk sync covers many ACKs. Only after the commit are subscribers notified and the
waiting transports told (only then do they ACK).

A whole batch is one synchronous function run on the writer's own thread and connection: one
thread hop per batch instead of one per statement (the rest of the store uses aiosqlite, which
offers only the latter). SQLite releases the GIL while it works, so the event loop keeps reading
sockets meanwhile; but every statement must win the GIL back from the loop when it returns, so a
batch is written in as few statements as possible.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache, partial
from pathlib import Path

import aiosqlite

from centinela.data.db import PRAGMAS, StoreError
from centinela.data.event_rows import as_stored, insert_events, record_of
from centinela.data.records import EVENT_COLUMNS, EventRecord
from centinela.data.timeutil import from_db, to_db, utcnow
from centinela.data.writer_view import WriterView
from centinela.futures import settle
from centinela.receiver import catalog
from centinela.receiver.classify import (
    SYSTEM_PROTOCOL,
    AccountIndex,
    AccountMatch,
    family_of,
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
    priorities: dict[tuple[str, str | None, str | None, bool], int] = field(default_factory=dict, compare=False)
    """Priorities worked out under these rules, by (protocol, code, qualifier, account unknown)."""


@dataclass(frozen=True, slots=True)
class LinkTest:
    """A supervision poll (DC-09 NULL): no event, but the account was heard from."""

    account: str | None
    receiver: str | None
    line: str | None


Notify = Callable[[list[EventRecord] | None, BaseException | None], None]
"""Called on the event loop when a submission is settled: ``(stored, None)`` once it is durable,
``(None, error)`` if it could not be stored."""


@dataclass(slots=True)
class _Pending:
    signals: Sequence[Signal]
    link_test: LinkTest | None
    received_at: datetime
    notify: Notify


Job = Callable[[sqlite3.Connection, datetime], list[Signal]]
"""Runs on the writer's thread inside its transaction; returns signals to store in the same
transaction (e.g. the late-to-test sweep). It may mark accounts late or add events; it must not
change accounts, contracts or customers (the writer keeps those between batches)."""


@dataclass(slots=True)
class _Job:
    job: Job
    notify: Notify


_EVENT_COLUMNS_OF_E = ", ".join(f"e.{column.strip()}" for column in EVENT_COLUMNS.split(","))

def _content_key(signal: Signal | EventRecord, account: str | None) -> tuple[object, ...]:
    """What makes a retransmission the same signal (``account`` normalized)."""
    return (account, signal.sequence, signal.protocol, signal.code, signal.qualifier, signal.zone, signal.user,
            signal.partition)


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


class EventWriter:
    def __init__(self, path: Path, publish: Callable[[EventChanges], bool], max_batch: int = 2000) -> None:
        """``publish`` tells subscribers of a commit's changes and says whether there were any."""
        self._path = path
        self._publish_changes = publish
        self._max_batch = max_batch
        # A C queue between the event loop and the writer's own thread: a put wakes the thread
        # directly, with no event-loop round before it and no executor machinery.
        self._inbox: queue.SimpleQueue[_Pending | _Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finished: asyncio.Future[None] | None = None
        self._db: sqlite3.Connection | None = None
        self._view = WriterView()
        self.rules = Rules()
        self.batches = 0
        self.duplicates = 0

    async def open(self) -> None:
        """Start the writer's thread with its own connection (raises if the database can't open)."""
        loop = self._loop = asyncio.get_running_loop()
        self._finished = loop.create_future()
        opened: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(target=self._serve, args=(opened,), name="event-writer", daemon=True)
        self._thread.start()
        await opened

    async def run(self) -> None:
        """Wait until :meth:`stop` has been reached; everything submitted before it is committed."""
        if self._finished is None:
            raise StoreError("the event writer is not open")
        await self._finished

    def stop(self) -> None:
        self._inbox.put(None)

    async def close(self) -> None:
        if self._thread is not None:
            if self._thread.is_alive():
                self.stop()
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
            self._thread = None

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
        """Run ``job`` in its own writer transaction (e.g. the supervision sweep)."""
        done: asyncio.Future[list[EventRecord]] = asyncio.get_running_loop().create_future()
        self._inbox.put(_Job(job, partial(settle, done)))
        return await done

    # ------------------------------------------------------------------ on the event loop

    def _deliver(self, waiting: list[_Pending] | list[_Job], results: list[list[EventRecord]], changes: EventChanges) -> None:
        if (changes.added or changes.updated) and self._publish_changes(changes):
            # Someone shows these events (a screen): the subscribers wake on the next turn of
            # the loop, and the ACKs follow in that same turn, so no panel hears "stored"
            # while its alarm is still a turn away from the operator's screen.
            asyncio.get_running_loop().call_soon(self._notify, waiting, results)
        else:
            self._notify(waiting, results)

    @staticmethod
    def _notify(waiting: list[_Pending] | list[_Job], results: list[list[EventRecord]]) -> None:
        for item, stored in zip(waiting, results):
            try:
                item.notify(stored, None)
            except Exception:  # one waiter's bug must not keep the others from their ACK
                log.exception("commit callback failed")

    @staticmethod
    def _fail(waiting: list[_Pending] | list[_Job], exc: BaseException) -> None:
        for item in waiting:
            try:
                item.notify(None, exc)
            except Exception:
                log.exception("commit callback failed")

    # ------------------------------------------------------------------ the writer's thread

    def _serve(self, opened: asyncio.Future[None]) -> None:
        loop, finished = self._loop, self._finished
        assert loop is not None and finished is not None
        try:
            self._connect()
        except BaseException as exc:  # noqa: BLE001 - handed to whoever opened the writer
            loop.call_soon_threadsafe(settle, opened, None, exc)
            loop.call_soon_threadsafe(settle, finished, None, None)
            return
        loop.call_soon_threadsafe(settle, opened, None, None)
        failure: BaseException | None = None
        try:
            stopping = False
            while not stopping:
                items = [self._inbox.get()]
                while len(items) < self._max_batch:
                    try:
                        items.append(self._inbox.get_nowait())
                    except queue.Empty:
                        break
                batch = [item for item in items if isinstance(item, _Pending)]
                stopping = None in items
                if batch:
                    self._commit(loop, batch)
                for item in items:
                    if isinstance(item, _Job):
                        self._commit_job(loop, item)
        except BaseException as exc:  # the writer task fails with it
            log.exception("event writer stopped")
            failure = exc
        finally:
            assert self._db is not None
            self._db.close()
            self._db = None
            loop.call_soon_threadsafe(settle, finished, None, failure)

    def _connect(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
        for pragma in PRAGMAS:
            db.execute(pragma)
        self._db = db

    def _commit(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending]) -> None:
        try:
            results, changes = self._in_transaction(lambda db: self._write(db, batch))
        except Exception as exc:  # every waiter must learn it was not stored
            log.exception("event batch of %d not stored", len(batch))
            loop.call_soon_threadsafe(self._fail, batch, StoreError(f"event not stored: {exc}"))
            return
        self.batches += 1
        loop.call_soon_threadsafe(self._deliver, batch, results, changes)

    def _commit_job(self, loop: asyncio.AbstractEventLoop, job: _Job) -> None:
        now = utcnow()

        def work(db: sqlite3.Connection) -> tuple[list[list[EventRecord]], EventChanges]:
            signals = job.job(db, now)
            self._view.forget_events()  # the job may have marked accounts late, or added events
            return self._write(db, [_Pending(signals, None, now, job.notify)])

        try:
            results, changes = self._in_transaction(work)
        except Exception as exc:  # reported to whoever asked for the job
            log.exception("writer job failed")
            loop.call_soon_threadsafe(self._fail, [job], exc)
            return
        loop.call_soon_threadsafe(self._deliver, [job], results, changes)

    def _in_transaction(self, work):  # type: ignore[no-untyped-def]
        db = self._db
        if db is None:
            raise StoreError("the event writer is closed")
        db.execute("BEGIN IMMEDIATE")
        try:
            self._view.refresh(db)
            result = work(db)
            db.execute("COMMIT")
        except BaseException:
            self._view.forget()
            db.execute("ROLLBACK")
            raise
        return result

    def _write(self, db: sqlite3.Connection, batch: list[_Pending]) -> tuple[list[list[EventRecord]], EventChanges]:
        candidates = self._candidates(db, batch)
        recent = self._recent_duplicates(db, batch, min(item.received_at for item in batch))

        rows: list[tuple[object, ...]] = []
        instants: list[tuple[datetime, datetime | None]] = []  # per row: received and panel time as stored
        # Per item, per signal: an index into the rows to insert, or an already stored event.
        plan: list[list[int | EventRecord]] = []
        seen_in_batch: dict[tuple[object, ...], int] = {}
        heard: dict[int, str] = {}  # alarm account id -> last time heard from
        for item in batch:
            received = to_db(item.received_at)
            received_at = from_db(received)
            assert received_at is not None
            placed: list[int | EventRecord] = []
            for signal in item.signals:
                account = normalize_account(signal.account)
                match = match_account(candidates, account, signal.receiver, signal.line)
                if match is not None:
                    heard[match.alarm_account_id] = received
                if signal.sequence and account:
                    key = _content_key(signal, account)
                    if key in recent or key in seen_in_batch:
                        self.duplicates += 1
                        placed.append(recent[key] if key in recent else seen_in_batch[key])
                        continue
                    seen_in_batch[key] = len(rows)
                placed.append(len(rows))
                panel = as_stored(signal.panel_time) if signal.panel_time else None
                rows.append(self._row(signal, received, panel[0] if panel else None, match))
                instants.append((received_at, panel[1] if panel else None))
            if item.link_test is not None:
                test = item.link_test
                match = match_account(candidates, test.account, test.receiver, test.line)
                if match is not None:
                    heard[match.alarm_account_id] = received
            plan.append(placed)

        stored: list[EventRecord] = []
        if rows:
            previous_max = self._view.last_event_id(db)
            last_id = insert_events(db, rows)
            self._view.events_added(last_id)
            if last_id - previous_max == len(rows):
                # Inside our write lock new rows take max(rowid)+1, one after the other (SQLite's
                # documented rowid choice), so the records are built from what we inserted
                # instead of read back and parsed again.
                stored = [record_of(previous_max + 1 + n, row, *instants[n]) for n, row in enumerate(rows)]
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

    def _candidates(self, db: sqlite3.Connection, batch: list[_Pending]) -> AccountIndex:
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
        return self._view.accounts(db, accounts)

    def _recent_duplicates(
        self, db: sqlite3.Connection, batch: list[_Pending], since: datetime
    ) -> dict[tuple[object, ...], EventRecord]:
        pairs = {
            (signal.account, signal.sequence)
            for item in batch
            for signal in item.signals
            if signal.account and signal.sequence
        }
        if not pairs:
            return {}
        # Driven from the VALUES list: one index search per pair. (A row-value IN would make
        # SQLite read every event of the window instead.)
        values = ", ".join(["(?, ?)"] * len(pairs))
        params: list[object] = [value for pair in pairs for value in pair]
        params.append(to_db(since - DUPLICATE_WINDOW))
        sql = (f"WITH w(account, sequence) AS (VALUES {values}) SELECT {_EVENT_COLUMNS_OF_E}"
               " FROM w CROSS JOIN events e ON e.account = w.account AND e.sequence = w.sequence"
               " WHERE e.received_at >= ?")
        found: dict[tuple[object, ...], EventRecord] = {}
        for event in map(EventRecord.from_row, db.execute(sql, params)):
            found.setdefault(_content_key(event, normalize_account(event.account)), event)
        return found

    def _apply_restores(self, db: sqlite3.Connection, stored: list[EventRecord]) -> set[int]:
        """A panel's restore closes the matching open alarm an operator has not taken yet; an
        alarm an operator has taken gets a note instead, and stays theirs to close.

        One read of the involved accounts' open alarms per batch (an index search per account,
        code and zone: migration 0007), matched here, then written back in two statements.
        Codes never collide across families (3 digits, 2 letters, words), so the code alone finds
        the alarm whichever path (IP or serial receiver) it came by.
        """
        restores = [(event, codes) for event in stored
                    if (codes := restored_codes_of(event.protocol, event.code, event.qualifier))]
        if not restores:
            return set()
        by_owner_code: dict[tuple[object, object], list[list[object]]] = {}
        for alarm in self._open_alarms(db, restores):
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
        if resolved:  # a statement each over JSON lists, as in _mark_heard
            db.execute("UPDATE events SET status = 'resolved', resolution = 'restored', resolved_at = alarm.value->>0"
                       " FROM json_each(?) AS alarm WHERE events.id = alarm.value->>1", (json.dumps(resolved),))
        if actions:
            db.execute("INSERT INTO event_actions (event_id, operator, action, note, at) SELECT value->>0, value->>1,"
                       " value->>2, value->>3, value->>4 FROM json_each(?)", (json.dumps(actions),))
        return changed

    @staticmethod
    def _open_alarms(db: sqlite3.Connection, restores: list[tuple[EventRecord, tuple[str, ...]]]) -> list[list[object]]:
        """Unresolved events these restores may close (as mutable rows): same account and code,
        and same zone when the restore names one.

        Each wanted (owner, code[, zone]) is one index search, driven from a VALUES list, so the
        cost follows the restores in the batch, not the alarms left open on their accounts.
        """
        columns = "e.id, e.status, e.alarm_account_id, e.account, e.code, e.qualifier, e.zone, e.receiver"
        wanted: dict[tuple[str, bool], set[tuple[object, ...]]] = {}
        nameless: set[str] = set()
        for event, codes in restores:
            owner_column = "alarm_account_id" if event.alarm_account_id else "account"
            owner = event.alarm_account_id or event.account
            if owner is None:
                nameless.update(codes)
                continue
            zoned = event.zone is not None
            group = wanted.setdefault((owner_column, zoned), set())
            group.update((owner, code, event.zone) if zoned else (owner, code) for code in codes)
        rows: dict[object, list[object]] = {}
        for (owner_column, zoned), keys in wanted.items():
            width = 3 if zoned else 2
            values = ", ".join(["(" + ", ".join("?" * width) + ")"] * len(keys))
            match = f"e.{owner_column} = w.owner AND e.code = w.code" + (" AND e.zone = w.zone" if zoned else "")
            registered = "" if owner_column == "alarm_account_id" else " AND e.alarm_account_id IS NULL"
            sql = (f"WITH w(owner, code{', zone' if zoned else ''}) AS (VALUES {values})"
                   f" SELECT {columns} FROM w CROSS JOIN events e ON {match}"
                   f" WHERE e.status <> 'resolved'{registered}")
            for row in db.execute(sql, [value for key in keys for value in key]):
                rows.setdefault(row[0], list(row))
        if nameless:
            for row in db.execute(
                f"SELECT {columns} FROM events e WHERE e.status <> 'resolved' AND e.alarm_account_id IS NULL"
                f" AND e.account IS NULL AND e.code IN ({', '.join('?' * len(nameless))})", sorted(nameless)):
                rows.setdefault(row[0], list(row))
        return list(rows.values())

    def _mark_heard(self, db: sqlite3.Connection, heard: dict[int, str]) -> set[int]:
        """Record when each account was last heard from; an account that was late to test and
        reports again has its open "late" alarm closed."""
        if not heard:
            return set()
        if fresh := self._view.worth_writing(heard):
            # One statement over a JSON list, not one step (and one GIL round) per account.
            db.execute(
                "UPDATE alarm_accounts SET last_seen_at = max(coalesce(last_seen_at, ''), heard.value->>1)"
                " FROM json_each(?) AS heard WHERE alarm_accounts.id = heard.value->>0",
                (json.dumps(fresh),),
            )
        late = self._view.late(db)
        back = [account_id for account_id in heard if account_id in late]
        if not back:
            return set()
        late.difference_update(back)
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

    def _row(self, signal: Signal, received: str, panel_time: str | None, match: AccountMatch | None) -> tuple[object, ...]:
        rules = self.rules
        system = signal.protocol == SYSTEM_PROTOCOL
        # Priority depends on these alone (see priority_of); a new Rules object starts a new cache.
        key = (signal.protocol, signal.code, signal.qualifier, match is None)
        priority = rules.priorities.get(key)
        if priority is None:
            priority = rules.priorities[key] = priority_of(signal, match, rules.overrides)
        auto_resolved = priority in rules.auto_resolve_levels
        return (
            received, signal.protocol, signal.raw, signal.account, signal.receiver, signal.line,
            signal.sequence, signal.code, signal.qualifier, signal.zone, signal.partition,
            signal.user, signal.text, panel_time,
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
