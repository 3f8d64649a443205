"""Changes other processes commit (new events from the owner, operators' actions from other
consoles), noticed within a fraction of a second and published on this process's hub.

``PRAGMA data_version`` changes only when another connection committed, so an idle database
costs one tiny query per tick.
"""

from __future__ import annotations

import asyncio
import logging

from centinela.data.event_writer import EventChanges
from centinela.data.store import Store

log = logging.getLogger(__name__)

BATCH = 2000


class ChangeFeed:
    def __init__(self, store: Store, interval: float = 0.2) -> None:
        self._store = store
        self._interval = interval
        self.include_new_events = True
        """False in the process that receives signals: its own writer announces new events."""
        self._data_version: int | None = None
        self._last_action_id = 0

    async def prime(self) -> None:
        """Start from now: what is already in the database is loaded by the screens themselves."""
        db = self._store.reader
        async with db.execute("SELECT coalesce(max(id), 0) FROM event_actions") as cur:
            (self._last_action_id,) = await cur.fetchone()
        async with db.execute("SELECT coalesce(max(id), 0) FROM events") as cur:
            (last_event_id,) = await cur.fetchone()
        self._store.note_published(last_event_id)
        async with db.execute("PRAGMA data_version") as cur:
            (self._data_version,) = await cur.fetchone()

    async def run(self) -> None:
        await self.prime()
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.poll()
            except Exception:  # noqa: BLE001 - a failed poll is retried next tick
                log.exception("change feed poll failed")

    async def poll(self) -> EventChanges | None:
        db = self._store.reader
        async with db.execute("PRAGMA data_version") as cur:
            (version,) = await cur.fetchone()
        if version == self._data_version:
            return None
        self._data_version = version
        added = await self._store.events_after(self._store.published_event_id, BATCH) if self.include_new_events else []
        async with db.execute(
            "SELECT max(id), group_concat(DISTINCT event_id) FROM event_actions WHERE id > ?", (self._last_action_id,)
        ) as cur:
            last_action, touched = await cur.fetchone()
        if last_action is not None:
            self._last_action_id = last_action
        added_ids = {event.id for event in added}
        touched_ids = {int(x) for x in touched.split(",")} - added_ids if touched else set()
        updated = await self._store.events_by_id(touched_ids)
        if not added and not updated:
            return None
        changes = EventChanges(added, updated)
        self._store.publish(changes)
        return changes
