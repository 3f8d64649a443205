"""What operators do with an alarm: take it, add notes, put it on hold, resolve it.

Each action is one transaction: the event's new state, a row in its action log and one in the
audit log. The rules of which action is allowed when are plain functions, tested without a
database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import aiosqlite

from centinela.data.audit import audit
from centinela.data.records import EVENT_COLUMNS, EventRecord
from centinela.data.timeutil import from_db, to_db, utcnow

Action = Literal["take", "note", "hold", "resolve"]


@dataclass(frozen=True, slots=True)
class Resolution:
    code: str
    es: str
    en: str

    def label(self, lang: str) -> str:
        return self.en if lang == "en" else self.es


RESOLUTIONS: tuple[Resolution, ...] = (
    Resolution("false-alarm", "Falsa alarma", "False alarm"),
    Resolution("user-error", "Error de usuario", "User error"),
    Resolution("customer-cancelled", "Cancelada por el cliente (clave correcta)", "Cancelled by customer (passcode)"),
    Resolution("police", "Real: policía despachada", "Real: police dispatched"),
    Resolution("fire-brigade", "Real: bomberos despachados", "Real: fire brigade dispatched"),
    Resolution("ambulance", "Real: ambulancia despachada", "Real: ambulance dispatched"),
    Resolution("patrol", "Patrulla verificó: sin novedad", "Patrol verified: all clear"),
    Resolution("technician", "Técnico despachado", "Technician dispatched"),
    Resolution("test", "Prueba", "Test"),
    Resolution("duplicate", "Duplicada", "Duplicate"),
    Resolution("other", "Otra (ver nota)", "Other (see note)"),
)
RESOLUTION_CODES = frozenset(resolution.code for resolution in RESOLUTIONS)


class ActionRefused(Exception):
    """The action does not apply to the alarm as it stands now; the message says why (Spanish,
    shown to the operator)."""


def check_action(event: EventRecord, action: Action, operator: str, now: datetime) -> None:
    """Raise ActionRefused unless ``operator`` may do ``action`` on ``event`` now."""
    if action == "note":
        return
    if event.status == "resolved":
        raise ActionRefused(f"El evento #{event.id} ya está cerrado")
    if action == "take" and event.status == "acknowledged" and event.taken_by not in (None, operator):
        raise ActionRefused(f"El evento #{event.id} ya lo tomó {event.taken_by}")


async def _load(db: aiosqlite.Connection, event_id: int) -> EventRecord:
    async with db.execute(f"SELECT {EVENT_COLUMNS} FROM events WHERE id = ?", (event_id,)) as cur:
        row = await cur.fetchone()
    if row is None:
        raise ActionRefused(f"No existe el evento #{event_id}")
    return EventRecord.from_row(row)


async def _log(db: aiosqlite.Connection, event_id: int, operator: str, action: str, note: str | None, at: str) -> None:
    await db.execute(
        "INSERT INTO event_actions (event_id, operator, action, note, at) VALUES (?, ?, ?, ?, ?)",
        (event_id, operator, action, note, at),
    )
    await audit(db, operator, f"event.{action}", "event", event_id, {"note": note} if note else None)


async def take(db: aiosqlite.Connection, event_id: int, operator: str) -> EventRecord:
    now = utcnow()
    event = await _load(db, event_id)
    check_action(event, "take", operator, now)
    await db.execute(
        "UPDATE events SET status = 'acknowledged', taken_by = ?, hold_until = NULL WHERE id = ?", (operator, event_id)
    )
    await _log(db, event_id, operator, "take", None, to_db(now))
    return await _load(db, event_id)


async def add_note(db: aiosqlite.Connection, event_id: int, operator: str, note: str) -> EventRecord:
    note = note.strip()
    if not note:
        raise ActionRefused("La nota está vacía")
    now = utcnow()
    event = await _load(db, event_id)
    check_action(event, "note", operator, now)
    await _log(db, event_id, operator, "note", note, to_db(now))
    return event


async def hold(db: aiosqlite.Connection, event_id: int, operator: str, until: datetime, note: str | None) -> EventRecord:
    now = utcnow()
    if until <= now:
        raise ActionRefused("La hora de espera debe ser futura")
    event = await _load(db, event_id)
    check_action(event, "hold", operator, now)
    await db.execute(
        "UPDATE events SET status = 'pending', hold_until = ?, taken_by = ? WHERE id = ?",
        (to_db(until), operator, event_id),
    )
    await _log(db, event_id, operator, "hold", f"hasta {until.astimezone():%d/%m %H:%M}" + (f": {note}" if note else ""),
               to_db(now))
    return await _load(db, event_id)


async def resolve(
    db: aiosqlite.Connection, event_id: int, operator: str, resolution: str, note: str | None
) -> EventRecord:
    if resolution not in RESOLUTION_CODES:
        raise ActionRefused(f"Código de resolución desconocido: {resolution}")
    now = utcnow()
    event = await _load(db, event_id)
    check_action(event, "resolve", operator, now)
    await db.execute(
        "UPDATE events SET status = 'resolved', resolution = ?, resolved_at = ?, hold_until = NULL,"
        " taken_by = coalesce(taken_by, ?) WHERE id = ?",
        (resolution, to_db(now), operator, event_id),
    )
    await _log(db, event_id, operator, "resolve", f"{resolution}" + (f": {note}" if note else ""), to_db(now))
    return await _load(db, event_id)


@dataclass(frozen=True, slots=True)
class ActionLogEntry:
    at: datetime
    operator: str | None
    action: str
    note: str | None


async def action_log(db: aiosqlite.Connection, event_id: int) -> list[ActionLogEntry]:
    async with db.execute(
        "SELECT at, operator, action, note FROM event_actions WHERE event_id = ? ORDER BY id", (event_id,)
    ) as cur:
        rows = await cur.fetchall()
    entries = []
    for at, operator, action, note in rows:
        when = from_db(at)
        assert when is not None
        entries.append(ActionLogEntry(when, operator, action, note))
    return entries
