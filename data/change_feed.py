"""Changes other processes commit (new events from the owner, operators' actions from other
consoles), noticed within a fraction of a second and published on this process's hub.

``PRAGMA data_version`` changes only when another connection committed, so an idle database
costs one tiny query per tick.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from centinela.data.event_batch import EventChanges
from centinela.data.store import Store

log = logging.getLogger(__name__)

BATCH = 2000

SettingsListener = Callable[[frozenset[str]], Awaitable[None]]
"""Told which kinds of settings changed: "rules" (priorities, code overrides), "receivers",
"routers", "billing", "odoo"."""

_SETTING_PREFIXES = {"receiver.": "receivers", "billing.": "billing", "odoo.": "odoo"}


def setting_kinds(changes: list[tuple[str, str | None]]) -> frozenset[str]:
    """Which parts of the system must reload, from audit rows (action, entity id)."""
    kinds: set[str] = set()
    for action, entity_id in changes:
        if action.startswith(("priority.", "code_override.")):
            kinds.add("rules")
        elif action.startswith("router."):
            kinds.add("routers")
        elif action.startswith("setting.") and entity_id:
            kinds.update(kind for prefix, kind in _SETTING_PREFIXES.items() if entity_id.startswith(prefix))
    return frozenset(kinds)


class ChangeFeed:
    """Every settings change is noticed here too, in every process, including the one where an
    admin made it: one path for "reload what this setting drives", wherever it was saved."""

    def __init__(self, store: Store, interval: float = 0.2) -> None:
        self._store = store
        self._interval = interval
        self._last_audit_id = 0
        self.settings_listeners: list[SettingsListener] = []
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
        async with db.execute("SELECT coalesce(max(id), 0) FROM audit_log") as cur:
            (self._last_audit_id,) = await cur.fetchone()
        self._store.note_published(last_event_id)
        async with db.execute("PRAGMA data_version") as cur:
            (self._data_version,) = await cur.fetchone()

    async def run(self) -> None:
        """Poll until cancelled; call :meth:`prime` first, before anything may commit unseen."""
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.poll()
            except Exception:  # noqa: BLE001 - a failed poll is retried next tick
                log.exception("change feed poll failed")

    async def _settings_changes(self) -> None:
        async with self._store.reader.execute(
            "SELECT id, action, entity_id FROM audit_log WHERE id > ? ORDER BY id", (self._last_audit_id,)
        ) as cur:
            rows = await cur.fetchall()
        if not rows:
            return
        self._last_audit_id = rows[-1][0]
        kinds = setting_kinds([(action, entity_id) for _, action, entity_id in rows])
        for listener in list(self.settings_listeners) if kinds else ():
            try:
                await listener(kinds)
            except Exception:  # noqa: BLE001 - one failed reload must not stop the feed
                log.exception("reloading after a settings change failed")

    async def poll(self) -> EventChanges | None:
        db = self._store.reader
        async with db.execute("PRAGMA data_version") as cur:
            (version,) = await cur.fetchone()
        if version == self._data_version:
            return None
        self._data_version = version
        await self._settings_changes()
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
