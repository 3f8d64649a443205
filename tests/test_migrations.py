from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from centinela.data import migrate as migrations
from centinela.data.store import Store, StoreError, connect, prepare_data_dir


async def test_fresh_database_reaches_latest_version(data_dir: Path) -> None:
    db = await connect(prepare_data_dir(data_dir))
    try:
        assert await migrations.current_version(db) == 0
        applied = await migrations.migrate(db)
        assert applied == list(range(1, migrations.latest_version() + 1))
        assert await migrations.current_version(db) == migrations.latest_version()
        async with db.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"
        async with db.execute("SELECT count(*) FROM priorities") as cur:
            assert (await cur.fetchone())[0] == 6
    finally:
        await db.close()


@pytest.mark.parametrize("start", range(0, migrations.latest_version()))
async def test_every_earlier_version_migrates_to_latest(data_dir: Path, start: int) -> None:
    database = prepare_data_dir(data_dir)
    db = await connect(database)
    try:
        await migrations.migrate(db, target=start)
        assert await migrations.current_version(db) == start
        applied = await migrations.migrate(db)
        assert applied == list(range(start + 1, migrations.latest_version() + 1))
        assert await migrations.current_version(db) == migrations.latest_version()
        assert await migrations.migrate(db) == []
    finally:
        await db.close()


async def test_database_from_a_newer_version_is_refused(data_dir: Path) -> None:
    store = await Store.open(data_dir)
    await store.close()
    raw = sqlite3.connect(data_dir / "centinela.db")
    raw.execute("INSERT INTO schema_version (version) VALUES (?)", (migrations.latest_version() + 5,))
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="newer than this Centinela supports"):
        await Store.open(data_dir)


async def test_failed_migration_leaves_database_unchanged(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = migrations.available_migrations()
    broken = good + (migrations.Migration(len(good) + 1, "9999_broken.sql", "CREATE TABLE x (a); SELEC nonsense;"),)
    monkeypatch.setattr(migrations, "available_migrations", lambda: broken)
    db = await connect(prepare_data_dir(data_dir))
    try:
        with pytest.raises(sqlite3.Error):
            await migrations.migrate(db)
        assert await migrations.current_version(db) == len(good)
        async with db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'x'") as cur:
            assert (await cur.fetchone())[0] == 0
    finally:
        await db.close()


async def test_data_folder_and_database_are_private(data_dir: Path) -> None:
    store = await Store.open(data_dir)
    await store.close()
    assert (data_dir.stat().st_mode & 0o077) == 0
    assert ((data_dir / "centinela.db").stat().st_mode & 0o077) == 0
