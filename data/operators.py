"""Operators who log in to the console: scrypt password hashes, roles, enable/disable."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

import aiosqlite

Role = Literal["operator", "admin"]
ROLES: tuple[Role, ...] = ("operator", "admin")

# scrypt cost: ~150 ms per check on this class of machine; enough to make guessing slow,
# cheap enough for a log-in.
_N, _R, _P = 2**14, 8, 1
MIN_PASSWORD = 8
_DECOY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


class OperatorError(ValueError):
    """An operator change that cannot be made; the message says why."""


@dataclass(frozen=True, slots=True)
class Operator:
    id: int
    username: str
    full_name: str | None
    role: Role
    active: bool

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join(("scrypt", str(_N), str(_R), str(_P), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise OperatorError(f"the password needs at least {MIN_PASSWORD} characters")


_COLUMNS = "id, username, full_name, role, active"


def _operator(row: tuple) -> Operator:
    return Operator(row[0], row[1], row[2], row[3], bool(row[4]))


async def add_operator(
    db: aiosqlite.Connection, username: str, password: str, *, role: Role = "operator", full_name: str | None = None
) -> Operator:
    username = username.strip()
    if not username or not username.replace(".", "").replace("-", "").replace("_", "").isalnum():
        raise OperatorError("the user name may use letters, digits, '.', '-' and '_'")
    if role not in ROLES:
        raise OperatorError(f"role must be one of {', '.join(ROLES)}")
    check_new_password(password)
    try:
        cursor = await db.execute(
            "INSERT INTO operators (username, full_name, password_hash, role) VALUES (?, ?, ?, ?)",
            (username, full_name, await asyncio.to_thread(hash_password, password), role),
        )
    except aiosqlite.IntegrityError:
        raise OperatorError(f"operator {username!r} already exists") from None
    assert cursor.lastrowid is not None
    return Operator(cursor.lastrowid, username, full_name, role, True)


async def authenticate(db: aiosqlite.Connection, username: str, password: str) -> Operator | None:
    """The operator, if the name exists, is active and the password matches."""
    async with db.execute(f"SELECT {_COLUMNS}, password_hash FROM operators WHERE username = ?", (username.strip(),)) as cur:
        row = await cur.fetchone()
    # scrypt takes a noticeable fraction of a second: off the event loop, which also runs the
    # receiver. With no such user, spend the same time so timing does not reveal which names exist.
    stored = row[5] if row is not None else _DECOY_HASH
    matches = await asyncio.to_thread(verify_password, password, stored)
    if row is None or not matches:
        return None
    operator = _operator(row[:5])
    return operator if operator.active else None


async def list_operators(db: aiosqlite.Connection) -> list[Operator]:
    async with db.execute(f"SELECT {_COLUMNS} FROM operators ORDER BY username") as cur:
        return [_operator(row) for row in await cur.fetchall()]


async def count_operators(db: aiosqlite.Connection) -> int:
    async with db.execute("SELECT count(*) FROM operators") as cur:
        (count,) = await cur.fetchone()
    return int(count)


async def _require(db: aiosqlite.Connection, username: str) -> Operator:
    async with db.execute(f"SELECT {_COLUMNS} FROM operators WHERE username = ?", (username,)) as cur:
        row = await cur.fetchone()
    if row is None:
        raise OperatorError(f"no operator {username!r}")
    return _operator(row)


async def _ensure_an_admin_remains(db: aiosqlite.Connection, username: str) -> None:
    async with db.execute(
        "SELECT count(*) FROM operators WHERE role = 'admin' AND active = 1 AND username <> ?", (username,)
    ) as cur:
        (others,) = await cur.fetchone()
    if not others:
        raise OperatorError("this is the last active admin; add another admin first")


async def set_active(db: aiosqlite.Connection, username: str, active: bool) -> Operator:
    operator = await _require(db, username)
    if not active and operator.is_admin:
        await _ensure_an_admin_remains(db, username)
    await db.execute("UPDATE operators SET active = ? WHERE id = ?", (int(active), operator.id))
    return Operator(operator.id, operator.username, operator.full_name, operator.role, active)


async def set_role(db: aiosqlite.Connection, username: str, role: Role) -> Operator:
    if role not in ROLES:
        raise OperatorError(f"role must be one of {', '.join(ROLES)}")
    operator = await _require(db, username)
    if operator.is_admin and role != "admin":
        await _ensure_an_admin_remains(db, username)
    await db.execute("UPDATE operators SET role = ? WHERE id = ?", (role, operator.id))
    return Operator(operator.id, operator.username, operator.full_name, role, operator.active)


async def set_password(db: aiosqlite.Connection, username: str, password: str) -> None:
    check_new_password(password)
    operator = await _require(db, username)
    password_hash = await asyncio.to_thread(hash_password, password)
    await db.execute("UPDATE operators SET password_hash = ? WHERE id = ?", (password_hash, operator.id))
