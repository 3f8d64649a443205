"""Versioned schema migrations: numbered SQL files applied in order, each in its own transaction."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources

import aiosqlite

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class SchemaTooNewError(Exception):
    """The database was written by a newer Centinela; opening it could corrupt it."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> tuple[Migration, ...]:
    found: list[Migration] = []
    for entry in resources.files("centinela.data.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    expected = list(range(1, len(found) + 1))
    if [m.version for m in found] != expected:
        raise RuntimeError(f"migration files are not numbered 1..N: {[m.name for m in found]}")
    return tuple(found)


def latest_version() -> int:
    return len(available_migrations())


async def current_version(db: aiosqlite.Connection) -> int:
    async with db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ) as cursor:
        if await cursor.fetchone() is None:
            return 0
    async with db.execute("SELECT max(version) FROM schema_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0] or 0)


async def migrate(db: aiosqlite.Connection, target: int | None = None) -> list[int]:
    """Bring the schema to ``target`` (default: latest); returns the versions applied."""
    migrations = available_migrations()
    target = len(migrations) if target is None else target
    version = await current_version(db)
    if version > len(migrations):
        raise SchemaTooNewError(
            f"database schema version {version} is newer than this Centinela supports "
            f"({len(migrations)}); upgrade Centinela before opening it"
        )
    applied: list[int] = []
    for migration in migrations[version:target]:
        # executescript commits first; the explicit BEGIN makes the whole file, and its version
        # row, one atomic step.
        try:
            await db.executescript(
                "BEGIN IMMEDIATE;\n"
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version INTEGER PRIMARY KEY,"
                " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));\n"
                f"{migration.sql}\n"
                f"INSERT INTO schema_version (version) VALUES ({migration.version});\n"
                "COMMIT;"
            )
        except sqlite3.Error:
            await db.rollback()
            raise
        applied.append(migration.version)
    return applied
