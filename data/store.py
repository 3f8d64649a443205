"""The SQLite store: opening, migrating, reading, and the event path's durable group commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import aiosqlite

from centinela.data import migrate as migrations
from centinela.data.pubsub import Hub
from centinela.data.db import StoreError, connect, prepare_data_dir
from centinela.data.event_batch import EventChanges, Job, LinkTest
from centinela.data.event_writer import STOP_TIMEOUT, EventWriter, Notify, WriterLost
from centinela.data.records import EVENT_COLUMNS, EventRecord, PriorityRow
from centinela.data.timeutil import to_db
from centinela.futures import settle
from centinela.receiver.signal import Signal

log = logging.getLogger(__name__)

WRITER_RESTART_DELAY = 1.0
"""Seconds before a lost event writer is replaced, so a writer that dies at once does not spin."""


class Store:
    """One database: the event writer's own connection (see data.event_writer), one for reads,
    and one for the other writes (operators' actions, settings)."""

    def __init__(self, path: Path, reader_db: aiosqlite.Connection, admin_db: aiosqlite.Connection) -> None:
        self.path = path
        self.events_hub: Hub[EventChanges] = Hub()
        self._reader = reader_db
        self._admin_db = admin_db
        self._admin_lock = asyncio.Lock()
        self.writer = EventWriter(path, self.publish)
        self.published_event_id = 0
        """Highest event id subscribers have been told about (by the writer or the change feed)."""
        self._writer_task: asyncio.Task[None] | None = None
        self._closing = False
        self._writer_opened: asyncio.Future[None] | None = None

    @classmethod
    async def open(cls, data_dir: Path, *, migrate: bool = True) -> Store:
        try:
            path = prepare_data_dir(data_dir)
        except OSError as exc:
            raise StoreError(f"cannot use data folder {data_dir}: {exc.strerror}") from None
        admin_db = await connect(path)
        try:
            version = await migrations.current_version(admin_db)
            latest = migrations.latest_version()
            if version > latest:
                raise StoreError(
                    f"{path} has schema version {version}, newer than this Centinela supports "
                    f"({latest}); upgrade Centinela to open it"
                )
            if version < latest:
                if not migrate:
                    raise StoreError(f"{path} needs migration to version {latest}: run 'centinela db migrate'")
                applied = await migrations.migrate(admin_db)
                log.info("database %s migrated to version %s", path, applied[-1])
            reader_db = await connect(path)
        except BaseException:
            await admin_db.close()
            raise
        store = cls(path, reader_db, admin_db)
        await store.writer.load_rules(reader_db)
        return store

    def start(self) -> None:
        """Start the group-commit writer (only the process that receives signals needs it)."""
        if self._writer_task is None:
            self._writer_opened = asyncio.get_running_loop().create_future()
            self._writer_task = asyncio.create_task(self._run_writer(), name="event-writer")

    async def started(self) -> None:
        """Wait until the writer takes signals (its process is up); raises if it cannot start.
        Signals recorded before are not lost, only held until then."""
        self._check_writer()
        assert self._writer_opened is not None
        await asyncio.shield(self._writer_opened)

    async def _run_writer(self) -> None:
        assert self._writer_opened is not None
        while True:
            try:
                await self.writer.open()
            except BaseException as exc:
                settle(self._writer_opened, None, exc)
                raise
            settle(self._writer_opened, None, None)
            log.info("event writer started (process %s)", self.writer.pid)
            try:
                await self.writer.run()
                return
            except WriterLost as exc:
                # Signals keep arriving: the ones it had not committed were not ACKed, and the
                # panels send them again to the writer that replaces it.
                await self.writer.close()
                if self._closing:
                    raise
                log.error("%s; starting another", exc)
                lost = self.writer
                self.writer = EventWriter(self.path, self.publish)
                await self.writer.load_rules(self._reader)
                self.writer.duplicates = lost.duplicates
                await asyncio.sleep(WRITER_RESTART_DELAY)

    async def record(
        self, signals: Sequence[Signal], received_at: datetime | None = None, *, link_test: LinkTest | None = None
    ) -> list[EventRecord]:
        """Durably store signals from one frame (or note a link test); returns the stored events."""
        self._check_writer()
        return await self.writer.submit(signals, received_at, link_test=link_test)

    def record_with(
        self, signals: Sequence[Signal], received_at: datetime | None = None, *,
        link_test: LinkTest | None = None, notify: Notify,
    ) -> None:
        """:meth:`record`, calling ``notify`` when settled (see EventWriter.submit_with)."""
        self._check_writer()
        self.writer.submit_with(signals, received_at, link_test=link_test, notify=notify)

    def _check_writer(self) -> None:
        if self._writer_task is None:
            raise StoreError("the event writer is not running")

    def publish(self, changes: EventChanges) -> bool:
        """Tell subscribers (screens, the headless log) what a commit changed; False if none."""
        if changes.added:
            self.note_published(max(event.id for event in changes.added))
        return self.events_hub.publish(changes)

    def note_published(self, event_id: int) -> None:
        self.published_event_id = max(self.published_event_id, event_id)

    async def apply(self, action: Callable[[aiosqlite.Connection], Awaitable[EventRecord]]) -> EventRecord:
        """Run an operator's action (see data.alarm_actions) atomically and tell subscribers."""
        async with self.transaction() as db:
            event = await action(db)
        self.publish(EventChanges([], [event]))
        return event

    async def run_writer_job(self, job: Job) -> list[EventRecord]:
        if self._writer_task is None:
            raise StoreError("the event writer is not running")
        return await self.writer.run_job(job)

    async def recent_events(
        self, limit: int = 200, *, before_id: int | None = None, since: datetime | None = None,
        where: tuple[str, list[object]] | None = None,
    ) -> list[EventRecord]:
        """Newest first; ``before_id`` pages backwards without OFFSET scans; ``where`` is an extra
        condition (see data.event_query.filter_sql)."""
        clauses: list[str] = [where[0]] if where else []
        params: list[object] = list(where[1]) if where else []
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

    async def events_after(self, event_id: int, limit: int) -> list[EventRecord]:
        async with self._reader.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?", (event_id, limit)
        ) as cur:
            return [EventRecord.from_row(row) for row in await cur.fetchall()]

    async def events_by_id(self, ids: Iterable[int]) -> list[EventRecord]:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        marks = ", ".join("?" * len(wanted))
        async with self._reader.execute(f"SELECT {EVENT_COLUMNS} FROM events WHERE id IN ({marks}) ORDER BY id", wanted) as cur:
            return [EventRecord.from_row(row) for row in await cur.fetchall()]

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
            try:
                await self._admin_db.execute("BEGIN IMMEDIATE")
            except BaseException:
                # Cancelled while BEGIN was on its way: the connection may be inside a
                # transaction nobody will finish; end it, or every later one would fail.
                await self._rollback_quietly()
                raise
            try:
                yield self._admin_db
            except BaseException:
                await self._admin_db.execute("ROLLBACK")
                raise
            await self._admin_db.execute("COMMIT")

    async def _rollback_quietly(self) -> None:
        try:
            await self._admin_db.execute("ROLLBACK")
        except aiosqlite.OperationalError:  # no transaction had started
            pass

    async def close(self) -> None:
        """Commit what the writer holds, then close; call after the listeners have stopped."""
        self._closing = True
        try:
            if self._writer_task is not None:
                task, self._writer_task = self._writer_task, None
                self.writer.stop()
                await asyncio.wait([task], timeout=STOP_TIMEOUT)
                await self.writer.close()  # a writer that has not stopped by now is killed
                await task
        finally:  # a failed writer must not keep the other connections (and their threads) open
            await self._reader.close()
            await self._admin_db.close()
