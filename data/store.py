"""The SQLite store: opening, migrating, reading, and the event path's durable group commit."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiosqlite

from centinela.data import migrate as migrations
from centinela.data.pubsub import Hub
from centinela.data.records import EVENT_COLUMNS, EventRecord, PriorityRow
from centinela.data.timeutil import to_db, utcnow
from centinela.receiver.classify import AccountMatch, match_account, normalize_account, priority_of
from centinela.receiver.signal import Signal

log = logging.getLogger(__name__)

DB_FILENAME = "centinela.db"


class StoreError(Exception):
    """The store cannot be opened or used; the message says why, in one line."""


async def connect(path: Path) -> aiosqlite.Connection:
    """A connection with the pragmas every Centinela connection needs.

    WAL lets readers work while the writer commits; synchronous=FULL syncs the WAL on every commit,
    because a signal we ACKed must survive a power cut.
    """
    db = await aiosqlite.connect(path, isolation_level=None)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=FULL")
    await db.execute("PRAGMA foreign_keys=ON")
    await db.execute("PRAGMA busy_timeout=10000")
    return db


def prepare_data_dir(data_dir: Path) -> Path:
    """Create the data folder private to its owner: the database holds router and Odoo secrets."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    database = data_dir / DB_FILENAME
    if not database.exists():
        fd = os.open(database, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    return database


@dataclass(frozen=True, slots=True)
class Rules:
    """Operational settings the event path needs on every signal, cached between changes."""

    overrides: dict[tuple[str, str], int] = field(default_factory=dict)
    auto_resolve_levels: frozenset[int] = frozenset()


@dataclass(slots=True)
class _Pending:
    signals: Sequence[Signal]
    received_at: datetime
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


class EventWriter:
    """Group commit: signals from every connection that arrive while one transaction commits
    go together into the next, so one disk sync covers many ACKs."""

    def __init__(self, db: aiosqlite.Connection, hub: Hub[list[EventRecord]], max_batch: int = 1000) -> None:
        self._db = db
        self._hub = hub
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self.rules = Rules()
        self.batches = 0

    async def load_rules(self, db: aiosqlite.Connection) -> None:
        """Re-read priorities and code overrides (after an admin changes them)."""
        async with db.execute("SELECT family, code, priority FROM code_overrides") as cur:
            overrides = {(family, code.upper()): level for family, code, level in await cur.fetchall()}
        async with db.execute("SELECT level FROM priorities WHERE requires_ack = 0") as cur:
            auto = frozenset(level for (level,) in await cur.fetchall())
        self.rules = Rules(overrides, auto)

    async def submit(self, signals: Sequence[Signal], received_at: datetime | None = None) -> list[EventRecord]:
        """Store the signals; returns once they are durable on disk (only then may they be ACKed)."""
        done: asyncio.Future[list[EventRecord]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(signals, received_at or utcnow(), done))
        return await done

    async def run(self) -> None:
        """Commit batches until :meth:`stop`; everything submitted before it is committed."""
        stopping = False
        while not stopping:
            first = await self._queue.get()
            batch = [] if first is None else [first]
            stopping = first is None
            while len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                    continue
                batch.append(item)
            if batch:
                await self._commit(batch)

    def stop(self) -> None:
        self._queue.put_nowait(None)

    async def _commit(self, batch: list[_Pending]) -> None:
        live = [item for item in batch if not item.done.cancelled()]
        try:
            records = await self._write(live)
        except Exception as exc:  # noqa: BLE001 - every waiter must learn it was not stored
            log.exception("event batch of %d not stored", len(live))
            for item in live:
                if not item.done.done():
                    item.done.set_exception(StoreError(f"event not stored: {exc}"))
            return
        self.batches += 1
        flat: list[EventRecord] = []
        for item, stored in zip(live, records):
            flat.extend(stored)
            if not item.done.done():
                item.done.set_result(stored)
        if flat:
            self._hub.publish(flat)

    async def _write(self, batch: list[_Pending]) -> list[list[EventRecord]]:
        db = self._db
        await db.execute("BEGIN IMMEDIATE")
        try:
            candidates = await self._candidates(batch)
            rows: list[tuple] = []
            for item in batch:
                received = to_db(item.received_at)
                for signal in item.signals:
                    rows.append(self._row(signal, received, candidates))
            async with db.execute("SELECT coalesce(max(id), 0) FROM events") as cur:
                (previous_max,) = await cur.fetchone()
            await db.executemany(_INSERT_EVENT, rows)
            async with db.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE id > ? ORDER BY id", (previous_max,)
            ) as cur:
                stored = [EventRecord.from_row(row) for row in await cur.fetchall()]
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        if len(stored) != len(rows):
            raise StoreError(f"stored {len(stored)} events for {len(rows)} signals")
        result: list[list[EventRecord]] = []
        position = 0
        for item in batch:
            result.append(stored[position : position + len(item.signals)])
            position += len(item.signals)
        return result

    async def _candidates(self, batch: list[_Pending]) -> list[AccountMatch]:
        accounts = sorted({
            account
            for item in batch
            for signal in item.signals
            if (account := normalize_account(signal.account)) is not None
        })
        if not accounts:
            return []
        sql = _ACCOUNTS_FOR.format(marks=", ".join("?" * len(accounts)))
        async with self._db.execute(sql, accounts) as cur:
            return [AccountMatch(*row) for row in await cur.fetchall()]

    def _row(self, signal: Signal, received: str, candidates: list[AccountMatch]) -> tuple:
        match = match_account(candidates, signal.account, signal.receiver, signal.line)
        priority = priority_of(signal, match, self.rules.overrides)
        auto_resolved = priority in self.rules.auto_resolve_levels
        return (
            received, signal.protocol, signal.raw, signal.account, signal.receiver, signal.line,
            signal.sequence, signal.code, signal.qualifier, signal.zone, signal.partition,
            signal.user, signal.text, to_db(signal.panel_time) if signal.panel_time else None,
            priority,
            match.alarm_account_id if match else None,
            match.customer_id if match else None,
            match.customer_name if match else None,
            0 if match else 1,
            1 if match and match.suspended else 0,
            "resolved" if auto_resolved else "new",
            "auto" if auto_resolved else None,
            received if auto_resolved else None,
        )


class Store:
    """One database: a write connection owned by the event writer, a read connection for queries."""

    def __init__(
        self,
        path: Path,
        writer_db: aiosqlite.Connection,
        reader_db: aiosqlite.Connection,
        admin_db: aiosqlite.Connection,
    ) -> None:
        self.path = path
        self.events_hub: Hub[list[EventRecord]] = Hub()
        self._writer_db = writer_db
        self._reader = reader_db
        self._admin_db = admin_db
        self._admin_lock = asyncio.Lock()
        self.writer = EventWriter(writer_db, self.events_hub)
        self._writer_task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, data_dir: Path, *, migrate: bool = True) -> Store:
        try:
            path = prepare_data_dir(data_dir)
        except OSError as exc:
            raise StoreError(f"cannot use data folder {data_dir}: {exc.strerror}") from None
        writer_db = await connect(path)
        try:
            version = await migrations.current_version(writer_db)
            latest = migrations.latest_version()
            if version > latest:
                raise StoreError(
                    f"{path} has schema version {version}, newer than this Centinela supports "
                    f"({latest}); upgrade Centinela to open it"
                )
            if version < latest:
                if not migrate:
                    raise StoreError(f"{path} needs migration to version {latest}: run 'centinela db migrate'")
                applied = await migrations.migrate(writer_db)
                log.info("database %s migrated to version %s", path, applied[-1])
            reader_db = await connect(path)
            admin_db = await connect(path)
        except BaseException:
            await writer_db.close()
            raise
        store = cls(path, writer_db, reader_db, admin_db)
        await store.writer.load_rules(reader_db)
        return store

    def start(self) -> None:
        """Start the group-commit writer (only the process that receives signals needs it)."""
        if self._writer_task is None:
            self._writer_task = asyncio.create_task(self.writer.run(), name="event-writer")

    async def record(self, signals: Sequence[Signal], received_at: datetime | None = None) -> list[EventRecord]:
        """Durably store signals from one frame; returns the stored events."""
        if self._writer_task is None:
            raise StoreError("the event writer is not running")
        return await self.writer.submit(signals, received_at)

    async def recent_events(
        self, limit: int = 200, *, before_id: int | None = None, since: datetime | None = None
    ) -> list[EventRecord]:
        """Newest first; ``before_id`` pages backwards without OFFSET scans."""
        clauses: list[str] = []
        params: list[object] = []
        if before_id is not None:
            clauses.append("id < ?")
            params.append(before_id)
        if since is not None:
            clauses.append("received_at >= ?")
            params.append(to_db(since))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        params.append(limit)
        async with self._reader.execute(
            f"SELECT {EVENT_COLUMNS} FROM events {where} ORDER BY id DESC LIMIT ?", params
        ) as cur:
            return [EventRecord.from_row(row) for row in await cur.fetchall()]

    async def open_events(self, limit: int = 500) -> list[EventRecord]:
        """Alarms not yet resolved: most urgent first, then oldest first."""
        async with self._reader.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE status <> 'resolved' ORDER BY priority, id LIMIT ?",
            (limit,),
        ) as cur:
            return [EventRecord.from_row(row) for row in await cur.fetchall()]

    async def count_open_events(self) -> int:
        async with self._reader.execute("SELECT count(*) FROM events WHERE status <> 'resolved'") as cur:
            (count,) = await cur.fetchone()
        return int(count)

    async def priorities(self) -> list[PriorityRow]:
        async with self._reader.execute(
            "SELECT level, name_es, name_en, colour, requires_ack, sound, reminder_sound, reminder_interval_s"
            " FROM priorities ORDER BY level"
        ) as cur:
            return [PriorityRow(*row) for row in await cur.fetchall()]

    async def get_event(self, event_id: int) -> EventRecord | None:
        async with self._reader.execute(f"SELECT {EVENT_COLUMNS} FROM events WHERE id = ?", (event_id,)) as cur:
            row = await cur.fetchone()
        return EventRecord.from_row(row) if row else None

    @property
    def reader(self) -> aiosqlite.Connection:
        """For single-statement reads; never hold a transaction open on it."""
        return self._reader

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Write outside the event path (accounts, settings, actions) in one atomic transaction.

        A separate connection from the event writer's, so these writes never land inside one of
        its batches; SQLite's lock orders the two.
        """
        async with self._admin_lock:
            await self._admin_db.execute("BEGIN IMMEDIATE")
            try:
                yield self._admin_db
            except BaseException:
                await self._admin_db.execute("ROLLBACK")
                raise
            await self._admin_db.execute("COMMIT")

    async def close(self) -> None:
        """Commit what the writer holds, then close; call after the listeners have stopped."""
        if self._writer_task is not None:
            self.writer.stop()
            await self._writer_task
            self._writer_task = None
        await self._reader.close()
        await self._admin_db.close()
        await self._writer_db.close()
