"""Records read from the store, as plain dataclasses the screens and the CLI render."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, fields
from datetime import datetime
from operator import attrgetter
from typing import Literal

from centinela.data.timeutil import from_db

EventStatus = Literal["new", "pending", "acknowledged", "resolved"]

EVENT_COLUMNS = (
    "id, received_at, protocol, raw, account, receiver, line, sequence, code, qualifier, zone,"
    " partition, user, text, panel_time, priority, alarm_account_id, customer_id, customer_name,"
    " unknown_account, service_suspended, status, taken_by, hold_until, resolution, resolved_at"
)


# Not frozen: one is built per signal, and a frozen dataclass's __init__ (object.__setattr__ per
# field) costs about five times as much; nothing mutates it after construction.
@dataclass(slots=True)
class EventRecord:
    id: int
    received_at: datetime
    protocol: str
    raw: str
    account: str | None
    receiver: str | None
    line: str | None
    sequence: str | None
    code: str | None
    qualifier: str | None
    zone: str | None
    partition: str | None
    user: str | None
    text: str | None
    panel_time: datetime | None
    priority: int
    alarm_account_id: int | None
    customer_id: int | None
    customer_name: str | None
    unknown_account: bool
    service_suspended: bool
    status: EventStatus
    taken_by: str | None
    hold_until: datetime | None
    resolution: str | None
    resolved_at: datetime | None

    def __reduce__(self) -> tuple[type[EventRecord], tuple[object, ...]]:
        # The event writer's process sends hundreds per batch: as a plain tuple of its fields one
        # pickles and loads in a quarter of the time.
        return (EventRecord, _event_fields(self))

    @classmethod
    def from_row(cls, row: sqlite3.Row | tuple) -> EventRecord:
        (id_, received_at, protocol, raw, account, receiver, line, sequence, code, qualifier, zone,
         partition, user, text, panel_time, priority, alarm_account_id, customer_id, customer_name,
         unknown_account, service_suspended, status, taken_by, hold_until, resolution,
         resolved_at) = tuple(row)
        received = from_db(received_at)
        assert received is not None  # NOT NULL in the schema
        return cls(
            id=id_, received_at=received, protocol=protocol, raw=raw, account=account,
            receiver=receiver, line=line, sequence=sequence, code=code, qualifier=qualifier,
            zone=zone, partition=partition, user=user, text=text, panel_time=from_db(panel_time),
            priority=priority, alarm_account_id=alarm_account_id, customer_id=customer_id,
            customer_name=customer_name, unknown_account=bool(unknown_account),
            service_suspended=bool(service_suspended), status=status, taken_by=taken_by,
            hold_until=from_db(hold_until), resolution=resolution, resolved_at=from_db(resolved_at),
        )


_event_fields = attrgetter(*(field.name for field in fields(EventRecord)))


@dataclass(frozen=True, slots=True)
class PriorityRow:
    level: int
    name_es: str
    name_en: str
    colour: str
    requires_ack: bool
    sound: str | None
    reminder_sound: str | None
    reminder_interval_s: int | None

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_es
