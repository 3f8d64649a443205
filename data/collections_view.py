"""What the Cobranza (collections) panel shows: read-only queries, cheap enough to repeat often.

Contracts by state come from the states cutoff runs store; for those in grace or notice the days
left are computed now from their customers' open invoices (the same rule as the cutoffs). Debt
is what is past due; lists are capped, totals are not.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Final

import aiosqlite

from centinela.billing.models import BillingSettings, OpenInvoice
from centinela.billing.standing import contract_standing
from centinela.data.billing_runs import RunRow, recent_runs
from centinela.data.billing_store import contract_ref, load_contracts, load_open_invoices
from centinela.data.timeutil import from_db

LIST_LIMIT: Final = 200
STATES: Final = ("active", "grace", "notice", "suspended")


@dataclass(frozen=True, slots=True)
class UpcomingCut:
    contract_id: int
    contract: str
    customer_ref: str | None
    customer: str
    state: str  # grace | notice
    days_left: int
    suspend_on: date | None
    invoice_id: int | None
    router: str | None


@dataclass(frozen=True, slots=True)
class SuspendedContract:
    contract_id: int
    contract: str
    customer_ref: str | None
    customer: str
    since: datetime | None
    reason: str
    held: bool  # cut by hand: automation will not reconnect it
    router: str | None


@dataclass(frozen=True, slots=True)
class Debtor:
    customer_id: int
    customer_ref: str | None
    customer: str
    currency: str
    overdue: Decimal
    invoices: int
    oldest_due: date


@dataclass(frozen=True, slots=True)
class QueuedAction:
    id: int
    router: str
    action: str
    target: str
    contract: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class CollectionsOverview:
    today: date
    counts: dict[str, int]  # contracts by state
    overdue_totals: dict[str, Decimal]  # per currency
    upcoming: tuple[UpcomingCut, ...]  # soonest cut first
    suspended: tuple[SuspendedContract, ...]  # newest first
    debtors: tuple[Debtor, ...]  # oldest debt first
    runs: tuple[RunRow, ...]
    queue: tuple[QueuedAction, ...]
    queued_total: int


async def _counts(db: aiosqlite.Connection) -> dict[str, int]:
    async with db.execute("SELECT state, count(*) FROM contracts GROUP BY state") as cur:
        found: dict[str, int] = {state: count for state, count in await cur.fetchall()}
    return {state: found.get(state, 0) for state in STATES}


async def _upcoming(db: aiosqlite.Connection, today: date, settings: BillingSettings) -> list[UpcomingCut]:
    async with db.execute(
        "SELECT id FROM contracts WHERE state IN ('grace', 'notice') ORDER BY id LIMIT ?", (LIST_LIMIT * 5,)
    ) as cur:
        ids = [row[0] for row in await cur.fetchall()]
    if not ids:
        return []
    batch = await load_contracts(db, contract_ids=ids)
    invoices = await load_open_invoices(db, {info.customer_id for info in batch.contracts})
    routers = await _router_names(db)
    owed: defaultdict[int, list[OpenInvoice]] = defaultdict(list)
    for invoice in invoices:
        owed[invoice.customer_id].append(invoice)
    cuts = []
    for info in batch.contracts:
        found = contract_standing(info.contract, owed[info.customer_id], today, settings)
        customer = batch.customers.get(info.customer_id)
        cuts.append(UpcomingCut(
            info.id, info.ref, customer.ref if customer else None, customer.name if customer else "?",
            str(info.contract.state), found.days_left, found.suspend_on, found.invoice_id,
            routers.get(info.router_id) if info.router_id else None,
        ))
    cuts.sort(key=lambda cut: (cut.suspend_on or date.max, cut.contract))
    return cuts[:LIST_LIMIT]


async def _router_names(db: aiosqlite.Connection) -> dict[int, str]:
    async with db.execute("SELECT id, name FROM routers") as cur:
        return {router_id: name for router_id, name in await cur.fetchall()}


async def _suspended(db: aiosqlite.Connection) -> list[SuspendedContract]:
    async with db.execute(
        "SELECT c.id, c.ref, cu.ref, cu.name, c.state_changed_at, coalesce(c.state_reason, ''), c.hold, r.name"
        " FROM contracts c JOIN customers cu ON cu.id = c.customer_id LEFT JOIN routers r ON r.id = c.router_id"
        " WHERE c.state = 'suspended' ORDER BY c.state_changed_at DESC, c.id DESC LIMIT ?",
        (LIST_LIMIT,),
    ) as cur:
        rows = await cur.fetchall()
    return [SuspendedContract(id_, contract_ref(id_, ref), customer_ref, name, from_db(since), reason,
                              hold == "suspended", router)
            for id_, ref, customer_ref, name, since, reason, hold, router in rows]


async def _debtors(db: aiosqlite.Connection, today: date) -> tuple[list[Debtor], dict[str, Decimal]]:
    async with db.execute(
        "SELECT i.customer_id, cu.ref, cu.name, i.currency, i.residual, i.due_date FROM invoices i"
        " JOIN customers cu ON cu.id = i.customer_id WHERE i.state = 'posted' AND i.due_date < ?"
        " ORDER BY i.due_date, i.id",
        (today.isoformat(),),
    ) as cur:
        rows = await cur.fetchall()
    totals: defaultdict[str, Decimal] = defaultdict(Decimal)
    debt: dict[tuple[int, str], Debtor] = {}
    for customer_id, ref, name, currency, residual, due in rows:
        amount = Decimal(residual)
        totals[currency] += amount
        seen = debt.get((customer_id, currency))
        debt[customer_id, currency] = (  # rows come oldest first: the first one sets oldest_due
            Debtor(customer_id, ref, name, currency, amount, 1, date.fromisoformat(due)) if seen is None
            else replace(seen, overdue=seen.overdue + amount, invoices=seen.invoices + 1)
        )
    return list(debt.values())[:LIST_LIMIT], dict(sorted(totals.items()))


async def _queue(db: aiosqlite.Connection) -> tuple[list[QueuedAction], int]:
    async with db.execute(
        "SELECT a.id, r.name, a.action, a.target, a.contract_ref, a.attempts, a.next_attempt_at, a.last_error"
        " FROM router_actions a JOIN routers r ON r.id = a.router_id WHERE a.state = 'queued' ORDER BY a.id LIMIT ?",
        (LIST_LIMIT,),
    ) as cur:
        rows = await cur.fetchall()
    async with db.execute("SELECT count(*) FROM router_actions WHERE state = 'queued'") as cur:
        (total,) = await cur.fetchone()
    return [QueuedAction(id_, router, action, target, ref, attempts, from_db(next_at), error)
            for id_, router, action, target, ref, attempts, next_at, error in rows], int(total)


async def collections_overview(db: aiosqlite.Connection, today: date, settings: BillingSettings) -> CollectionsOverview:
    debtors, totals = await _debtors(db, today)
    queue, queued_total = await _queue(db)
    return CollectionsOverview(
        today=today,
        counts=await _counts(db),
        overdue_totals=totals,
        upcoming=tuple(await _upcoming(db, today, settings)),
        suspended=tuple(await _suspended(db)),
        debtors=tuple(debtors),
        runs=tuple(await recent_runs(db, 20)),
        queue=tuple(queue),
        queued_total=queued_total,
    )
