"""The audit log: who did what to which record, written in the same transaction as the change."""

from __future__ import annotations

import json
from typing import Any

import aiosqlite


async def audit(
    db: aiosqlite.Connection, actor: str, action: str, entity: str | None = None,
    entity_id: object = None, detail: dict[str, Any] | None = None,
) -> None:
    await db.execute(
        "INSERT INTO audit_log (actor, action, entity, entity_id, detail) VALUES (?, ?, ?, ?, ?)",
        (actor, action, entity, None if entity_id is None else str(entity_id),
         json.dumps(detail, ensure_ascii=False, default=str) if detail else None),
    )
