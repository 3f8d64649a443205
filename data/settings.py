"""Operational settings admins change from the console, kept in the store as JSON values.

Keys are dotted names owned by the feature that reads them (``billing.default_grace_days``,
``odoo.url``, ``receiver.tcp``); each feature validates its own values before saving. The
bootstrap TOML file gives the defaults; a value saved here wins.
"""

from __future__ import annotations

import json
from typing import Any

import aiosqlite

from centinela.data.audit import audit


async def get_setting(db: aiosqlite.Connection, key: str, default: Any = None) -> Any:
    async with db.execute("SELECT value FROM settings WHERE key = ?", (key,)) as cur:
        row = await cur.fetchone()
    return default if row is None else json.loads(row[0])


async def settings_with_prefix(db: aiosqlite.Connection, prefix: str) -> dict[str, Any]:
    """All settings under ``prefix.`` with the prefix stripped from their keys."""
    async with db.execute("SELECT key, value FROM settings WHERE key LIKE ? ESCAPE '\\'",
                          (prefix.replace("_", "\\_") + ".%",)) as cur:
        rows = await cur.fetchall()
    return {key[len(prefix) + 1 :]: json.loads(value) for key, value in rows}


async def set_setting(db: aiosqlite.Connection, key: str, value: Any, actor: str, *, secret: bool = False) -> None:
    """Save inside the caller's transaction and audit it (a secret's value is not audited)."""
    encoded = json.dumps(value, ensure_ascii=False)
    await db.execute(
        "INSERT INTO settings (key, value, updated_by) VALUES (?, ?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_by = excluded.updated_by,"
        " updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        (key, encoded, actor),
    )
    await audit(db, actor, "setting.set", "setting", key, None if secret else {"value": value})


async def delete_setting(db: aiosqlite.Connection, key: str, actor: str) -> None:
    await db.execute("DELETE FROM settings WHERE key = ?", (key,))
    await audit(db, actor, "setting.delete", "setting", key)
