"""Routers and their action queue in the store.

``routers`` rows become :class:`RouterConfig` (password included: the database is private to its
owner). ``router_actions`` is the queue between billing and the routers: an action is queued in the
transaction that changes a contract's state, sent later, and marked ``done`` only when its router
confirmed it; otherwise it waits for a retry with backoff (``outbox.backoff``). A queued action that
no longer matches its contract's state is ``superseded``; one that can never be sent is ``failed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import aiosqlite

from centinela.billing import standing
from centinela.billing.models import ContractState
from centinela.billing.router import API_PORT, API_SSL_PORT, RouterConfig
from centinela.data.audit import audit
from centinela.data.billing_store import ID_LIST, contract_ref, id_list
from centinela.data.outbox import backoff
from centinela.data.timeutil import from_db, to_db

@dataclass(frozen=True, slots=True)
class RouterRow:
    id: int
    name: str
    enabled: bool
    config: RouterConfig

    def takes(self, action: standing.RouterAction) -> bool:
        """Whether this router does anything for the action (notices need a notice list)."""
        if action in (standing.RouterAction.NOTICE, standing.RouterAction.CLEAR_NOTICE):
            return self.config.method == "address-list" and self.config.notice_list is not None
        return True


_ROUTER_COLUMNS: Final = (
    "id, name, host, port, tls, username, password, method, list_name, notice_list, timeout, tls_ca_file, enabled"
)


def _router_from_row(row: Sequence[Any]) -> RouterRow:
    (id_, name, host, port, tls, username, password, method, list_name, notice_list, timeout, ca, enabled) = row
    config = RouterConfig(
        name=name, host=host, port=port, tls=bool(tls), username=username, password=password or "",
        method=method, list_name=list_name, notice_list=notice_list, timeout=float(timeout), tls_ca_file=ca,
    )
    return RouterRow(id_, name, bool(enabled), config)


async def load_routers(db: aiosqlite.Connection) -> tuple[dict[int, RouterRow], list[str]]:
    """Every router by id, and one problem line per router whose row cannot be used."""
    async with db.execute(f"SELECT {_ROUTER_COLUMNS} FROM routers ORDER BY name") as cur:
        rows = await cur.fetchall()
    routers: dict[int, RouterRow] = {}
    problems: list[str] = []
    for row in rows:
        try:
            routers[row[0]] = _router_from_row(row)
        except ValueError as error:
            problems.append(str(error))
    return routers, problems


@dataclass(frozen=True, slots=True)
class QueuedAction:
    id: int
    router_id: int
    contract_id: int | None
    contract_ref: str
    action: standing.RouterAction
    target: str
    reason: str
    attempts: int
    contract_state: ContractState | None

    def still_wanted(self) -> bool:
        """Whether the contract is still in the state this action brings the router to."""
        if self.contract_state is None:
            return True
        state = self.contract_state
        match self.action:
            case standing.RouterAction.SUSPEND:
                return state is ContractState.SUSPENDED
            case standing.RouterAction.RECONNECT:
                return state is not ContractState.SUSPENDED
            case standing.RouterAction.NOTICE:
                return state is ContractState.NOTICE
            case standing.RouterAction.CLEAR_NOTICE:
                return state is not ContractState.NOTICE


async def due_router_actions(
    db: aiosqlite.Connection, now: datetime, *, only: Iterable[int] | None = None
) -> list[QueuedAction]:
    """Queued actions whose time has come (or exactly ``only`` these, if still queued), in order."""
    where = "a.state = 'queued' AND (a.next_attempt_at IS NULL OR a.next_attempt_at <= ?)"
    params: list[object] = [to_db(now)]
    if only is not None:
        where = f"a.state = 'queued' AND a.id IN {ID_LIST}"
        params = [id_list(only)]
    async with db.execute(
        "SELECT a.id, a.router_id, a.contract_id, a.contract_ref, a.action, a.target, a.reason, a.attempts, c.state"
        f" FROM router_actions a LEFT JOIN contracts c ON c.id = a.contract_id WHERE {where} ORDER BY a.id",
        params,
    ) as cur:
        rows = await cur.fetchall()
    return [
        QueuedAction(id_, router_id, contract_id, ref, standing.RouterAction(action), target, reason or "", attempts,
                     ContractState(state) if state else None)
        for id_, router_id, contract_id, ref, action, target, reason, attempts, state in rows
    ]


async def next_router_attempt(db: aiosqlite.Connection) -> datetime | None:
    async with db.execute(
        "SELECT min(coalesce(next_attempt_at, created_at)) FROM router_actions WHERE state = 'queued'"
    ) as cur:
        (when,) = await cur.fetchone()
    return from_db(when)


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    action_id: int
    ok: bool
    error: str | None = None
    permanent: bool = False  # the action itself is unusable: never retried


async def record_router_outcomes(db: aiosqlite.Connection, outcomes: Sequence[ActionOutcome], now: datetime) -> None:
    """Done only what the router confirmed; the rest waits for a retry with backoff."""
    stamp = to_db(now)
    await db.executemany(
        "UPDATE router_actions SET state = 'done', done_at = ?, attempts = attempts + 1, last_error = NULL"
        " WHERE id = ? AND state = 'queued'",
        [(stamp, outcome.action_id) for outcome in outcomes if outcome.ok],
    )
    await db.executemany(
        "UPDATE router_actions SET state = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?",
        [((outcome.error or "")[:2000], outcome.action_id) for outcome in outcomes if outcome.permanent],
    )
    retries = [outcome for outcome in outcomes if not outcome.ok and not outcome.permanent]
    if retries:
        async with db.execute(
            f"SELECT id, attempts FROM router_actions WHERE id IN {ID_LIST}", (id_list(o.action_id for o in retries),)
        ) as cur:
            attempts: dict[int, int] = {action_id: count for action_id, count in await cur.fetchall()}
        await db.executemany(
            "UPDATE router_actions SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ? AND state = 'queued'",
            [(attempts[o.action_id] + 1, to_db(now + backoff(attempts[o.action_id] + 1)), (o.error or "")[:2000],
              o.action_id) for o in retries],
        )


async def supersede_actions(db: aiosqlite.Connection, action_ids: Iterable[int]) -> None:
    await db.executemany(
        "UPDATE router_actions SET state = 'superseded', last_error = 'the contract is no longer in that state'"
        " WHERE id = ? AND state = 'queued'",
        [(action_id,) for action_id in action_ids],
    )


async def record_reconcile_actions(
    db: aiosqlite.Connection, router_id: int, rows: Sequence[tuple[str, str, str, str, bool, str | None]],
    now: datetime, actor: str,
) -> None:
    """Reconciliation's actions as router_actions rows: (action, target, contract ref, reason, ok, error).
    Those the router did not confirm stay queued for the next retry."""
    stamp = to_db(now)
    for action, target, ref, reason, ok, error in rows:
        async with db.execute("SELECT id FROM contracts WHERE ref = ?", (ref,)) as cur:
            found = await cur.fetchone()
        await db.execute(
            "INSERT INTO router_actions (router_id, contract_id, contract_ref, action, target, reason, state,"
            " attempts, next_attempt_at, last_error, done_at) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
            (router_id, found[0] if found else None, ref, action, target, reason, "done" if ok else "queued",
             to_db(now + backoff(1)), error, stamp if ok else None),
        )
        await audit(db, actor, f"router.reconcile.{action}", "router", router_id,
                    {"target": target, "contract_ref": ref, "reason": reason, "ok": ok, "error": error})


@dataclass(frozen=True, slots=True)
class WantedEntry:
    contract_id: int
    contract_ref: str
    target: str
    state: ContractState
    reason: str


async def wanted_on_router(db: aiosqlite.Connection, router_id: int) -> list[WantedEntry]:
    """Internet contracts on the router that should be cut or shown a notice now."""
    async with db.execute(
        "SELECT id, ref, router_target, state, coalesce(state_reason, '') FROM contracts"
        " WHERE router_id = ? AND service_kind = 'internet' AND state IN ('suspended', 'notice')"
        " AND router_target IS NOT NULL AND router_target <> '' ORDER BY id",
        (router_id,),
    ) as cur:
        rows = await cur.fetchall()
    return [WantedEntry(id_, contract_ref(id_, ref), target, ContractState(state), reason)
            for id_, ref, target, state, reason in rows]


async def save_router(db: aiosqlite.Connection, config: RouterConfig, actor: str, *, enabled: bool = True) -> bool:
    """Create or update the router named ``config.name``, inside the caller's transaction; returns
    whether it was created. The audit log records everything but the password."""
    async with db.execute("SELECT id FROM routers WHERE name = ?", (config.name,)) as cur:
        found = await cur.fetchone()
    values = (config.host, config.port, int(config.tls), config.username, config.password, config.method,
              config.list_name, config.notice_list, config.timeout, config.tls_ca_file, int(enabled))
    if found is None:
        cursor = await db.execute(
            "INSERT INTO routers (host, port, tls, username, password, method, list_name, notice_list, timeout,"
            " tls_ca_file, enabled, name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*values, config.name),
        )
        router_id = cursor.lastrowid
    else:
        router_id = found[0]
        await db.execute(
            "UPDATE routers SET host = ?, port = ?, tls = ?, username = ?, password = ?, method = ?, list_name = ?,"
            " notice_list = ?, timeout = ?, tls_ca_file = ?, enabled = ? WHERE id = ?",
            (*values, router_id),
        )
    await audit(db, actor, "router.create" if found is None else "router.update", "router", router_id, {
        "name": config.name, "host": config.host, "port": config.port, "tls": config.tls, "user": config.username,
        "method": config.method, "list": config.list_name, "notice_list": config.notice_list, "enabled": enabled,
    })
    return found is None


@dataclass(frozen=True, slots=True)
class RouterSummary:
    """A router as listings show it: never its password."""

    name: str
    host: str
    port: int
    tls: bool
    username: str
    method: str
    list_name: str
    notice_list: str | None
    enabled: bool
    contracts: int
    suspended: int
    queued: int
    last_error: str | None


async def router_summaries(db: aiosqlite.Connection) -> list[RouterSummary]:
    async with db.execute(
        "SELECT r.name, r.host, r.port, r.tls, r.username, r.method, r.list_name, r.notice_list, r.enabled,"
        " (SELECT count(*) FROM contracts c WHERE c.router_id = r.id AND c.state NOT IN ('draft', 'cancelled')),"
        " (SELECT count(*) FROM contracts c WHERE c.router_id = r.id AND c.state = 'suspended'),"
        " (SELECT count(*) FROM router_actions a WHERE a.router_id = r.id AND a.state = 'queued'),"
        " (SELECT a.last_error FROM router_actions a WHERE a.router_id = r.id AND a.state = 'queued'"
        "  AND a.last_error IS NOT NULL ORDER BY a.id DESC LIMIT 1)"
        " FROM routers r ORDER BY r.name"
    ) as cur:
        rows = await cur.fetchall()
    return [
        RouterSummary(name, host, port or (API_SSL_PORT if tls else API_PORT), bool(tls), user, method, list_name,
                      notice, bool(enabled), contracts, suspended, queued, error)
        for name, host, port, tls, user, method, list_name, notice, enabled, contracts, suspended, queued, error in rows
    ]
