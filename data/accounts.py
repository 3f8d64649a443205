"""Monitored alarm accounts as the receiver needs them: AES keys and supervision intervals."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from centinela.data.timeutil import from_db
from centinela.receiver.classify import normalize_account
from centinela.receiver.dc09 import AES_KEY_SIZES

log = logging.getLogger(__name__)


class AccountError(ValueError):
    """A value an admin typed that cannot be saved; the message says why."""


def parse_key(text: str) -> str:
    """An AES key as hex (128, 192 or 256 bits); returned upper-case."""
    cleaned = text.strip().replace(" ", "").upper()
    try:
        raw = bytes.fromhex(cleaned)
    except ValueError:
        raise AccountError("the key must be hexadecimal") from None
    if len(raw) not in AES_KEY_SIZES:
        raise AccountError(f"the key has {len(raw) * 8} bits; DC-09 uses 128, 192 or 256")
    return cleaned


def mask_key(key: str | None) -> str:
    """Enough to tell keys apart, never enough to use one."""
    if not key:
        return "-"
    return f"{key[:4]}…({len(key) * 4}-bit)"


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: int
    account_number: str | None
    receiver: str | None
    line: str | None
    customer_name: str | None
    location: str | None
    aes_key: str | None
    test_interval_s: int | None
    last_seen_at: datetime | None
    late: bool


async def set_account(
    db: aiosqlite.Connection,
    account: str,
    *,
    receiver: str | None,
    line: str | None,
    key: str | None,
    clear_key: bool = False,
    test_interval_s: int | None,
) -> tuple[int, bool]:
    """Create or update the account (number + receiver + line); returns (id, created)."""
    number = normalize_account(account)
    if number is None or not number.isalnum() or len(number) > 16:
        raise AccountError(f"{account!r} is not an account number (up to 16 letters and digits)")
    async with db.execute(
        "SELECT id FROM alarm_accounts WHERE upper(account_number) = ? AND receiver IS ? AND line IS ?",
        (number, receiver, line),
    ) as cur:
        row = await cur.fetchone()
    if row is None:
        cursor = await db.execute(
            "INSERT INTO alarm_accounts (account_number, receiver, line, aes_key, test_interval_s) VALUES (?, ?, ?, ?, ?)",
            (number, receiver, line, key, test_interval_s),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid, True
    account_id = int(row[0])
    updates: list[str] = ["updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"]
    params: list[object] = []
    if key is not None or clear_key:
        updates.append("aes_key = ?")
        params.append(key)
    if test_interval_s is not None:
        updates.append("test_interval_s = ?")
        params.append(test_interval_s or None)
    await db.execute(f"UPDATE alarm_accounts SET {', '.join(updates)} WHERE id = ?", (*params, account_id))
    return account_id, False


async def list_accounts(db: aiosqlite.Connection) -> list[AccountRow]:
    async with db.execute(
        "SELECT a.id, a.account_number, a.receiver, a.line, c.name, a.location, a.aes_key, a.test_interval_s,"
        " a.last_seen_at, a.late_since IS NOT NULL"
        " FROM alarm_accounts a LEFT JOIN customers c ON c.id = a.customer_id"
        " ORDER BY a.account_number, a.receiver, a.line"
    ) as cur:
        rows = await cur.fetchall()
    return [
        AccountRow(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], from_db(row[8]), bool(row[9]))
        for row in rows
    ]


class AccountKeys:
    """The per-account AES keys, held in memory because the codec asks for one on every
    encrypted frame and cannot wait for the database; reloaded when the database changes."""

    def __init__(self) -> None:
        self._keys: dict[str, list[tuple[str | None, str | None, bytes]]] = {}
        self._data_version: int | None = None

    def __call__(self, account: str | None, receiver: str | None, line: str | None) -> bytes | None:
        number = normalize_account(account)
        if number is None:
            return None
        best: tuple[int, bytes] | None = None
        for key_receiver, key_line, key in self._keys.get(number, ()):
            if key_receiver not in (None, receiver) or key_line not in (None, line):
                continue
            score = (key_receiver is not None) + (key_line is not None)
            if best is None or score > best[0]:
                best = (score, key)
        return best[1] if best else None

    async def refresh(self, db: aiosqlite.Connection) -> bool:
        """Reload if anything was written to the database since the last load (by this process
        or another, e.g. ``centinela accounts set``); returns whether it reloaded."""
        async with db.execute("PRAGMA data_version") as cur:
            (version,) = await cur.fetchone()
        if version == self._data_version:
            return False
        async with db.execute(
            "SELECT account_number, receiver, line, aes_key FROM alarm_accounts WHERE aes_key IS NOT NULL"
        ) as cur:
            rows = await cur.fetchall()
        keys: dict[str, list[tuple[str | None, str | None, bytes]]] = {}
        for number, receiver, line, key in rows:
            try:
                keys.setdefault(normalize_account(number) or "", []).append((receiver, line, bytes.fromhex(key)))
            except ValueError:
                log.error("account %s has an invalid AES key in the store; ignored", number)
        self._keys = keys
        self._data_version = version
        return True
