"""Opening the SQLite database the way every Centinela connection must."""

from __future__ import annotations

import os
from pathlib import Path

import aiosqlite

DB_FILENAME = "centinela.db"


class StoreError(Exception):
    """The store cannot be opened or used; the message says why, in one line."""


PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
)
"""Every Centinela connection: WAL lets readers work while the writer commits; synchronous=FULL
syncs the WAL on every commit, because a signal we ACKed must survive a power cut."""


async def connect(path: Path) -> aiosqlite.Connection:
    db = await aiosqlite.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        await db.execute(pragma)
    return db


def prepare_data_dir(data_dir: Path) -> Path:
    """Create the data folder private to its owner: the database holds router and Odoo secrets."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    database = data_dir / DB_FILENAME
    if not database.exists():
        fd = os.open(database, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    return database
