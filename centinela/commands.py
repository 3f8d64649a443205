"""Scriptable subcommands that read or maintain the store without starting the receiver."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from centinela.config import Config
from centinela.data import migrate as migrations
from centinela.data.records import EventRecord
from centinela.data.store import Store, connect, prepare_data_dir
from centinela.receiver.describe import describe_event


async def migrate_database(config: Config) -> int:
    database = prepare_data_dir(config.data_dir)
    db = await connect(database)
    try:
        before = await migrations.current_version(db)
        applied = await migrations.migrate(db)
    finally:
        await db.close()
    if applied:
        print(f"{database}: migrated from version {before} to {applied[-1]}")
    else:
        print(f"{database}: already at version {before}")
    return 0


def event_json(event: EventRecord, lang: str) -> dict[str, Any]:
    return {
        "id": event.id,
        "received_at": event.received_at.isoformat(),
        "protocol": event.protocol,
        "account": event.account,
        "receiver": event.receiver,
        "line": event.line,
        "sequence": event.sequence,
        "code": event.code,
        "qualifier": event.qualifier,
        "zone": event.zone,
        "partition": event.partition,
        "user": event.user,
        "description": describe_event(event.protocol, event.code, event.qualifier, lang),
        "priority": event.priority,
        "status": event.status,
        "customer": event.customer_name,
        "unknown_account": event.unknown_account,
        "service_suspended": event.service_suspended,
        "panel_time": event.panel_time.isoformat() if event.panel_time else None,
        "raw": event.raw,
    }


def event_line(event: EventRecord, lang: str) -> str:
    customer = "UNKNOWN ACCOUNT" if event.unknown_account else (event.customer_name or "-")
    where = f"U{event.user}" if event.user else (f"Z{event.zone}" if event.zone else "-")
    return (
        f"{event.id:>8}  {event.received_at.astimezone():%Y-%m-%d %H:%M:%S}  {event.account or '-':<8} "
        f"P{event.priority} {event.status:<12} {describe_event(event.protocol, event.code, event.qualifier, lang)}"
        f"  {where}  {customer}"
    )


async def list_events(config: Config, *, limit: int, since: datetime | None, as_json: bool) -> int:
    store = await Store.open(config.data_dir)
    try:
        events = await store.recent_events(limit, since=since)
    finally:
        await store.close()
    for event in events:
        if as_json:
            print(json.dumps(event_json(event, config.language), ensure_ascii=False))
        else:
            print(event_line(event, config.language))
    return 0
