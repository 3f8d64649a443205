"""One transaction of the event path: signals stored, duplicates recognised, restores applied,
accounts marked as heard from, all in the writer's own connection (see data.writer_process).

Plain synchronous code over one sqlite3 connection and the records it is given: no event loop, no
threads, so it runs the same in the writer process and in a test.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from centinela.data.db import PRAGMAS, StoreError
from centinela.data.event_rows import as_stored, insert_events, record_of
from centinela.data.records import EVENT_COLUMNS, EventRecord
from centinela.data.timeutil import from_db, to_db, utcnow
from centinela.data.writer_view import WriterView
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

DUPLICATE_WINDOW = timedelta(minutes=10)
"""A retransmission (same account, sequence and content) inside this window is stored once."""
SYSTEM_ACTOR = "sistema"

WRITER_PRAGMAS = (
    "PRAGMA cache_size=-65536",
    "PRAGMA wal_autocheckpoint=10000",
    "PRAGMA temp_store=MEMORY",
)
"""A storm's signals land all over the account indexes: a cache that holds them (64 MiB) saves
re-reading pages, and checkpointing every 40 MB of log instead of every 4 writes a page changed by
many commits once, not once per commit. The checkpoint must run on this connection, between its
commits: one beside it (tried) never catches up with a writer that never pauses, so the log never
restarts and grows without end.

A batch's multi-row INSERT keeps a statement journal (the pages it changed, to undo it alone);
past 64 KiB SQLite spills it to a temporary file, so under load every other commit created,
wrote and deleted a file (strace: 119 of each in 5 s). In memory, it never touches the disk."""

T = TypeVar("T")


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


@dataclass(slots=True)
class Submission:
    """The signals of one frame (or a link test), as one transport handed them in."""

    signals: Sequence[Signal]
    link_test: LinkTest | None
    received_at: datetime


Job = Callable[[sqlite3.Connection, datetime], list[Signal]]
"""Runs in the writer's transaction; returns signals to store in the same transaction (e.g. the
late-to-test sweep). It may mark accounts late or add events; it must not change accounts,
contracts or customers (the writer keeps those between batches). It crosses to the writer process
by name, so it must be a module-level function."""

Results = tuple[list[list[EventRecord]], EventChanges, int]
"""Per submission, its stored events (or the ones already stored for a duplicate); the commit's
changes for subscribers; and how many retransmissions it recognised (and stored once)."""

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


def connect_writer(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
    for pragma in PRAGMAS:
        db.execute(pragma)
    for pragma in WRITER_PRAGMAS:
        db.execute(pragma)
    return db


class EventBatcher:
    """Commits batches of submissions and writer jobs on one connection, keeping what it knows of
    the database between them (data.writer_view)."""

    def __init__(self, db: sqlite3.Connection, *, preload_accounts: bool = True) -> None:
        self._db = db
        self._view = WriterView(preload=preload_accounts)
        self.rules = Rules()

    def commit(self, batch: list[Submission]) -> Results:
        """Store a batch in one durable transaction."""
        return self._in_transaction(lambda db: self._write(db, batch))

    def commit_job(self, job: Job) -> Results:
        """Run a job in its own transaction, storing the signals it returns."""
        now = utcnow()

        def work(db: sqlite3.Connection) -> Results:
            signals = job(db, now)
            self._view.forget_events()  # the job may have marked accounts late, or added events
            return self._write(db, [Submission(signals, None, now)])

        return self._in_transaction(work)

    def _in_transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        db = self._db
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

    def _write(self, db: sqlite3.Connection, batch: list[Submission]) -> Results:
        candidates = self._candidates(db, batch)
        recent = self._recent_duplicates(db, batch, min(item.received_at for item in batch))

        rows: list[tuple[object, ...]] = []
        instants: list[tuple[datetime, datetime | None]] = []  # per row: received and panel time as stored
        # Per item, per signal: an index into the rows to insert, or an already stored event.
        plan: list[list[int | EventRecord]] = []
        seen_in_batch: dict[tuple[object, ...], int] = {}
        heard: dict[int, str] = {}  # alarm account id -> last time heard from
        duplicates = 0
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
                        duplicates += 1
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
        return results, EventChanges(stored, updated), duplicates

    @staticmethod
    def _events(db: sqlite3.Connection, where: str, params: Sequence[object]) -> list[EventRecord]:
        return [EventRecord.from_row(row) for row in db.execute(f"SELECT {EVENT_COLUMNS} FROM events WHERE {where}", params)]

    def _events_by_id(self, db: sqlite3.Connection, ids: set[int]) -> list[EventRecord]:
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        return self._events(db, f"id IN ({marks}) ORDER BY id", sorted(ids))

    def _candidates(self, db: sqlite3.Connection, batch: list[Submission]) -> AccountIndex:
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
        self, db: sqlite3.Connection, batch: list[Submission], since: datetime
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
