"""Pull: Odoo's customers, contracts, invoice payment states and payments into the store's cache.

Odoo is the master of these records; Centinela keeps a copy so operators and billing never wait on
Odoo and keep working while it is down.

Incremental by cursor. Each model is read in Odoo's order ``write_date, id`` with ``search_read``,
an explicit field list and a batch limit, resuming after the ``(write_date, id)`` of the last record
applied (``odoo_cursors``). So a pull costs one call per batch (plus one per batch for contract lines
or plans, and one for partners a batch refers to that we do not have yet), whatever the number of
records, and only records written since the last pull travel. Each batch is written in one
transaction with the cursor that covers it: a pull interrupted by an outage or a kill resumes at
the first batch not written, and applying a batch twice changes nothing.

Odoo stamps ``write_date`` with the time its transaction *started*; a long transaction can commit
records stamped before a cursor that has already passed them. ``overlap`` re-reads that much of the
recent past on every pull (applying a record again is harmless) to catch them.

Archived records come with the incremental pull (archiving writes ``active``; searches run with
``active_test: False``); deleted records leave no trace there, so ``check_removed`` asks Odoo which of
the ids we hold still exist, ``IDS_PER_CALL`` at a time. A customer archived or deleted in Odoo
becomes inactive; a contract becomes cancelled; a payment disappears from the cache. The local
rows of customers and contracts stay, since alarms and invoices point at them.

Money: invoice residuals come from Odoo (``amount_residual``), which has already applied the payments
it reconciled, so pulled payments are stored as settled: billing must not allocate them again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiosqlite

from centinela.billing.money import round_money
from centinela.billing.periods import Cycle, period_starting
from centinela.data.odoo_link import OdooLink, chunks
from centinela.data.odoo_mappings import (
    INVOICE_RESIDUAL,
    INVOICE_STATE,
    INVOICES,
    PARTNERS,
    PAYMENTS,
    ContractMap,
    Lifecycle,
    LinesTotal,
    ModelMap,
    OdooRecord,
    many2one_id,
)
from centinela.data.store import Store
from centinela.data.timeutil import to_db, utcnow

log = logging.getLogger(__name__)

ODOO_DATETIME = "%Y-%m-%d %H:%M:%S"
BATCH_SIZE = 2000
_ALL_RECORDS = {"active_test": False}
_IN_FORCE = ("active", "grace", "notice", "suspended")
_ONE_DAY = timedelta(days=1)

Cursor = tuple[str, int]  # (write_date, id) of the last record applied


@dataclass(slots=True)
class PullCounts:
    """Records fetched per kind in one pull, and what the pull noticed."""

    customers: int = 0
    contracts: int = 0
    invoices: int = 0
    payments: int = 0
    removed: int = 0  # records found deleted in Odoo
    unbillable: int = 0  # contracts whose cycle is not one we bill in


# -- pure parts: what a record becomes ------------------------------------------------------------


def money_text(amount: Decimal | None, currency: str | None) -> str | None:
    """Decimal text rounded to the currency's minor unit (as is, for a currency ISO 4217 lacks)."""
    if amount is None:
        return None
    try:
        return str(round_money(amount, currency or ""))
    except ValueError:
        return str(amount)


def _day_text(day: date | None) -> str | None:
    return day.isoformat() if day else None


def derive_anchor_day(start: date, end: date | None, cycle: Cycle | None) -> int:
    """The anchor day for which the period starting ``start`` ends on ``end``.

    A full period starts on its anchor day; a partial one (a contract that started off-anchor) ends
    the day before the next anchor date, and a month-end anchor (29..31) shows as a shorter month's
    last day, so those candidates are tried too.
    """
    if end is None or cycle is None:
        return start.day
    after = end + _ONE_DAY
    candidates = dict.fromkeys([start.day, after.day, 31, 30, 29])
    for anchor in candidates:
        if period_starting(start, anchor, cycle).end == end:
            return anchor
    return start.day


@dataclass(frozen=True, slots=True)
class RemoteContract:
    """A contract as Odoo says it is, in our terms."""

    odoo_id: int
    partner_id: int | None
    ref: str | None
    lifecycle: Lifecycle
    archived: bool
    price: Decimal | None
    currency: str | None
    cycle: Cycle | None
    period_start: date | None
    period_end: date | None
    columns: Mapping[str, Any] = field(default_factory=dict)
    on_create: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LocalContract:
    """What the cache holds that Centinela owns: billing state and billing cursor."""

    id: int
    state: str
    period_start: date | None
    anchor_day: int | None


def merged_state(local: str | None, lifecycle: Lifecycle, archived: bool) -> str:
    """Odoo decides draft / in force / ended; while in force, grace, notice and suspension are ours."""
    if archived or lifecycle == "cancelled":
        return "cancelled"
    if lifecycle == "draft":
        return "draft"
    return local if local in _IN_FORCE else "active"


def merged_period(local: LocalContract | None, remote: RemoteContract) -> tuple[date | None, date | None, int | None]:
    """(period start, period end, anchor day): Odoo's period when it is later than our cursor (or
    we have none), else ours, with the end recomputed in case the cycle changed."""
    if remote.period_start is not None and (
        local is None or local.period_start is None or remote.period_start > local.period_start
    ):
        start = remote.period_start
        anchor = derive_anchor_day(start, remote.period_end, remote.cycle)
    elif local is not None and local.period_start is not None:
        start, anchor = local.period_start, local.anchor_day or local.period_start.day
    else:
        return None, None, None
    end = period_starting(start, anchor, remote.cycle).end if remote.cycle else remote.period_end
    return start, end, anchor


def contract_from_record(
    mapping: ContractMap,
    record: OdooRecord,
    lines: Mapping[int, OdooRecord],
    holders: Mapping[int, OdooRecord],
) -> RemoteContract:
    """``lines``: the line records a ``LinesTotal`` price sums, by id; ``holders``: the records a
    ``Recurrence.via`` points at (plans), by id."""
    currency = mapping.currency.value(record)
    if isinstance(mapping.price, LinesTotal):
        own = record.get(mapping.price.link) or []
        price: Decimal | None = mapping.price.total([lines[i] for i in own if i in lines])
    else:
        price = mapping.price.value(record)
    recurrence = mapping.cycle
    holder = holders.get(many2one_id(record, recurrence.via) or 0) if recurrence.via else record
    archived = mapping.archive_flag is not None and record.get(mapping.archive_flag) is False
    return RemoteContract(
        odoo_id=int(record["id"]),
        partner_id=many2one_id(record, mapping.partner),
        ref=mapping.ref.value(record),
        lifecycle=mapping.lifecycle.value(record) or "active",  # type: ignore[arg-type]  # the map's values
        archived=archived,
        price=price,
        currency=currency,
        cycle=recurrence.cycle(holder),
        period_start=mapping.period_start.value(record),
        period_end=mapping.period_end.value(record) if mapping.period_end else None,
        columns={column: source.value(record) for column, source in mapping.columns.items()},
        on_create={column: source.value(record) for column, source in mapping.on_create.items()},
    )


def _sql_value(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _after(cursor: Cursor | None) -> list[Any]:
    if cursor is None:
        return []
    write_date, last_id = cursor
    return ["|", ("write_date", ">", write_date), "&", ("write_date", "=", write_date), ("id", ">", last_id)]


# -- the store side ----------------------------------------------------------------------------------


async def load_cursor(db: aiosqlite.Connection, model: str) -> Cursor | None:
    async with db.execute("SELECT write_date, last_id FROM odoo_cursors WHERE model = ?", (model,)) as cur:
        row = await cur.fetchone()
    return (row[0], int(row[1])) if row and row[0] else None


async def _save_cursor(db: aiosqlite.Connection, model: str, cursor: Cursor) -> None:
    # max(): re-reading the overlap window must never move a cursor back.
    await db.execute(
        "INSERT INTO odoo_cursors (model, write_date, last_id) VALUES (?, ?, ?) ON CONFLICT (model) DO UPDATE SET"
        " write_date = excluded.write_date, last_id = excluded.last_id"
        " WHERE (excluded.write_date, excluded.last_id) > (coalesce(odoo_cursors.write_date, ''), odoo_cursors.last_id)",
        (model, *cursor),
    )


async def _stamp_cursor(db: aiosqlite.Connection, model: str, column: str, at: datetime) -> None:
    await db.execute(
        f"INSERT INTO odoo_cursors (model, {column}) VALUES (?, ?) ON CONFLICT (model) DO UPDATE SET {column} = ?",
        (model, to_db(at), to_db(at)),
    )


async def _note_archived(db: aiosqlite.Connection, model: str, archived: Iterable[int], present: Iterable[int],
                         at: datetime) -> None:
    stamp = to_db(at)
    await db.executemany(
        "INSERT INTO odoo_removed (model, odoo_id, how, noticed_at) VALUES (?, ?, 'archived', ?)"
        " ON CONFLICT (model, odoo_id) DO NOTHING",
        [(model, odoo_id, stamp) for odoo_id in archived],
    )
    await db.executemany(
        "DELETE FROM odoo_removed WHERE model = ? AND odoo_id = ? AND how = 'archived'",
        [(model, odoo_id) for odoo_id in present],
    )


async def _customer_ids(db: aiosqlite.Connection, partner_ids: Iterable[int]) -> dict[int, int]:
    """Odoo partner id -> our customer id, for the partners we have."""
    found: dict[int, int] = {}
    for chunk in chunks(partner_ids, 900):  # SQLite's default limit of bound parameters is 999
        marks = ", ".join("?" * len(chunk))
        async with db.execute(f"SELECT odoo_id, id FROM customers WHERE odoo_id IN ({marks})", chunk) as cur:
            found.update({int(odoo_id): int(local) for odoo_id, local in await cur.fetchall()})
    return found


async def _free_refs(db: aiosqlite.Connection, table: str, wanted: Mapping[int, str | None],
                     owner: str = "odoo_id") -> dict[int, str | None]:
    """``wanted`` (odoo id -> ref) with refs already used by another row (or twice in the batch)
    replaced by None: refs are unique locally, and Odoo does not promise that."""
    refs = [ref for ref in wanted.values() if ref]
    taken: dict[str, Any] = {}
    for start in range(0, len(refs), 900):
        part = refs[start : start + 900]
        marks = ", ".join("?" * len(part))
        async with db.execute(f"SELECT ref, {owner} FROM {table} WHERE ref IN ({marks})", part) as cur:
            taken.update({ref: holder for ref, holder in await cur.fetchall()})
    free: dict[int, str | None] = {}
    for odoo_id, ref in wanted.items():
        if ref and taken.get(ref, odoo_id) == odoo_id:
            free[odoo_id] = ref
            taken[ref] = odoo_id
        else:
            free[odoo_id] = None
    return free


async def upsert_customers(db: aiosqlite.Connection, rows: Sequence[OdooRecord], at: datetime) -> None:
    columns = list(PARTNERS.columns)
    values: dict[int, dict[str, Any]] = {
        int(row["id"]): {column: PARTNERS.columns[column].value(row) for column in columns} for row in rows
    }
    refs = await _free_refs(db, "customers", {odoo_id: value["ref"] for odoo_id, value in values.items()})
    for odoo_id, value in values.items():
        value["ref"] = refs[odoo_id]
        value["name"] = value["name"] or f"Odoo #{odoo_id}"
    active = {int(row["id"]): row.get("active") is not False for row in rows}
    names = ", ".join(columns)
    stamp = to_db(at)
    await db.executemany(
        f"INSERT INTO customers (odoo_id, {names}, active, updated_at) VALUES (?, {', '.join('?' * len(columns))}, ?, ?)"
        f" ON CONFLICT (odoo_id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in columns)},"
        " active = excluded.active, updated_at = excluded.updated_at",
        [(odoo_id, *(value[c] for c in columns), int(active[odoo_id]), stamp) for odoo_id, value in values.items()],
    )
    await _note_archived(db, PARTNERS.model, [i for i, on in active.items() if not on],
                         [i for i, on in active.items() if on], at)


async def _local_contracts(db: aiosqlite.Connection, model: str, odoo_ids: Sequence[int]) -> dict[int, LocalContract]:
    found: dict[int, LocalContract] = {}
    for chunk in chunks(odoo_ids, 900):
        marks = ", ".join("?" * len(chunk))
        async with db.execute(
            "SELECT odoo_id, id, state, current_period_start, anchor_day FROM contracts"
            f" WHERE odoo_model = ? AND odoo_id IN ({marks})",
            (model, *chunk),
        ) as cur:
            for odoo_id, local_id, state, start, anchor in await cur.fetchall():
                found[int(odoo_id)] = LocalContract(local_id, state, date.fromisoformat(start) if start else None, anchor)
    return found


async def upsert_contracts(
    db: aiosqlite.Connection, mapping: ContractMap, contracts: Sequence[RemoteContract], customers: Mapping[int, int],
    at: datetime,
) -> None:
    """``customers``: Odoo partner id -> our customer id; contracts of an unknown partner are skipped."""
    placed = [contract for contract in contracts if contract.partner_id in customers]
    if len(placed) < len(contracts):
        orphans = [contract.odoo_id for contract in contracts if contract.partner_id not in customers]
        log.warning("%d %s record(s) skipped: their partner is not in Odoo (e.g. #%d)",
                    len(orphans), mapping.model, orphans[0])
    local = await _local_contracts(db, mapping.model, [contract.odoo_id for contract in placed])
    refs = await _free_refs(db, "contracts", {contract.odoo_id: contract.ref for contract in placed}, "odoo_id")
    extra = list(mapping.columns)
    once = [column for column in mapping.on_create if column not in extra]
    columns = ["odoo_model", "odoo_id", "customer_id", "ref", "price", "currency", "billing_cycle", "anchor_day",
               "current_period_start", "current_period_end", "state", "state_changed_at", "state_reason",
               *extra, *once, "updated_at"]
    updated = [column for column in columns if column not in ("odoo_model", "odoo_id", "state_changed_at",
                                                               "state_reason", *once)]
    rows = []
    stamp = to_db(at)
    for contract in placed:
        mine = local.get(contract.odoo_id)
        start, end, anchor = merged_period(mine, contract)
        state = merged_state(mine.state if mine else None, contract.lifecycle, contract.archived)
        reason = "odoo: archived" if contract.archived else f"odoo: {contract.lifecycle}"
        rows.append((
            mapping.model, contract.odoo_id, customers[contract.partner_id],  # type: ignore[index]  # filtered above
            refs[contract.odoo_id], money_text(contract.price, contract.currency), contract.currency,
            contract.cycle.value if contract.cycle else None, anchor, _day_text(start), _day_text(end), state,
            stamp, reason,
            *(_sql_value(contract.columns[column]) for column in extra),
            *(_sql_value(contract.on_create[column]) for column in once),
            stamp,
        ))
    assignments = [f"{column} = excluded.{column}" for column in updated]
    # The reason and time of a state change are kept unless this pull changes the state.
    assignments += [
        f"{column} = CASE WHEN contracts.state = excluded.state THEN contracts.{column} ELSE excluded.{column} END"
        for column in ("state_changed_at", "state_reason")
    ]
    await db.executemany(
        f"INSERT INTO contracts ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        f" ON CONFLICT (odoo_model, odoo_id) DO UPDATE SET {', '.join(assignments)}",
        rows,
    )
    await _note_archived(db, mapping.model, [c.odoo_id for c in placed if c.archived],
                         [c.odoo_id for c in placed if not c.archived], at)


async def update_invoices(db: aiosqlite.Connection, rows: Sequence[OdooRecord]) -> int:
    """The pushed invoices among ``rows`` take Odoo's state and residual; returns how many changed."""
    by_id = {int(row["id"]): row for row in rows}
    changed = 0
    for chunk in chunks(by_id, 900):
        marks = ", ".join("?" * len(chunk))
        async with db.execute(
            f"SELECT id, odoo_id, currency, state, residual FROM invoices WHERE odoo_id IN ({marks})", chunk
        ) as cur:
            local = await cur.fetchall()
        updates = []
        for invoice_id, odoo_id, currency, state, residual in local:
            row = by_id[int(odoo_id)]
            new_residual = money_text(INVOICE_RESIDUAL.value(row), currency) or residual
            new_state = INVOICE_STATE.value(row)
            if new_state == "posted" and Decimal(new_residual) == 0:
                new_state = "paid"
            if (new_state, new_residual) != (state, residual):
                updates.append((new_state, new_residual, invoice_id))
        await db.executemany("UPDATE invoices SET state = ?, residual = ? WHERE id = ?", updates)
        changed += len(updates)
    return changed


async def upsert_payments(db: aiosqlite.Connection, rows: Sequence[OdooRecord], customers: Mapping[int, int]) -> None:
    columns = list(PAYMENTS.columns)
    assert PAYMENTS.wanted is not None and PAYMENTS.partner is not None
    received: list[OdooRecord] = []
    dropped: list[OdooRecord] = []
    for row in rows:
        partner = many2one_id(row, PAYMENTS.partner)
        wanted = PAYMENTS.wanted.value(row) is not None and partner in customers
        (received if wanted else dropped).append(row)
    values = []
    for row in received:
        value: dict[str, Any] = {column: PAYMENTS.columns[column].value(row) for column in columns}
        value["amount"] = money_text(value["amount"], value["currency"])  # Amount and Related sources
        values.append((int(row["id"]), customers[many2one_id(row, PAYMENTS.partner)],  # type: ignore[index]
                       *(_sql_value(value[column]) for column in columns)))
    # settled = 1: Odoo has applied what it reconciled to the residuals we pull (see module doc).
    await db.executemany(
        f"INSERT INTO payments (odoo_id, customer_id, {', '.join(columns)}, settled)"
        f" VALUES (?, ?, {', '.join('?' * len(columns))}, 1) ON CONFLICT (odoo_id) DO UPDATE SET"
        f" customer_id = excluded.customer_id, {', '.join(f'{c} = excluded.{c}' for c in columns)}",
        values,
    )
    await db.executemany("DELETE FROM payments WHERE odoo_id = ?", [(int(row["id"]),) for row in dropped])


# -- the puller ----------------------------------------------------------------------------------------

Apply = Callable[[list[dict[str, Any]], Cursor | None], Awaitable[None]]


class Puller:
    """Pulls through one ``OdooLink`` into one store. Not shared between concurrent pulls."""

    def __init__(
        self,
        link: OdooLink,
        store: Store,
        contracts: ContractMap,
        *,
        batch_size: int = BATCH_SIZE,
        overlap: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.link = link
        self.store = store
        self.contracts = contracts
        self.batch_size = batch_size
        self.overlap = overlap
        self.clock = clock
        self._holders: dict[int, OdooRecord] = {}  # plans, by id, for the current pull

    async def pull(self) -> PullCounts:
        """Customers, then contracts (which need their customers), then invoices and payments."""
        counts = PullCounts()
        self._holders.clear()
        counts.customers = await self._incremental(PARTNERS.model, PARTNERS.domain, await self._fields(PARTNERS),
                                                   self._apply_partners, archivable=True)
        unbillable: list[int] = []

        async def apply_contracts(rows: list[dict[str, Any]], cursor: Cursor | None) -> None:
            unbillable.extend(await self._apply_contracts(rows, cursor))

        counts.contracts = await self._incremental(
            self.contracts.model, self.contracts.domain, self.contracts.fields, apply_contracts,
            archivable=bool(self.contracts.archive_flag),
        )
        counts.unbillable = len(unbillable)
        if unbillable:
            log.warning("%d Odoo contract(s) have a cycle Centinela does not bill in (e.g. %s #%d)",
                        len(unbillable), self.contracts.model, unbillable[0])
        counts.invoices = await self._incremental(INVOICES.model, INVOICES.domain, await self._fields(INVOICES),
                                                  self._apply_invoices)
        counts.payments = await self._incremental(PAYMENTS.model, PAYMENTS.domain, await self._fields(PAYMENTS),
                                                  self._apply_payments)
        return counts

    async def refresh_customers(self, customer_ids: Iterable[int]) -> PullCounts:
        """Those customers' invoices and payments, now, whatever the cursors say."""
        partner_ids: list[int] = []
        for chunk in chunks(customer_ids, 900):
            marks = ", ".join("?" * len(chunk))
            async with self.store.reader.execute(
                f"SELECT odoo_id FROM customers WHERE id IN ({marks}) AND odoo_id IS NOT NULL", chunk
            ) as cur:
                partner_ids += [int(odoo_id) for (odoo_id,) in await cur.fetchall()]
        counts = PullCounts()
        for chunk in chunks(partner_ids):
            by_partner = [("partner_id", "in", chunk)]
            invoices = await self.link.search_read(INVOICES.model, [*INVOICES.domain, *by_partner],
                                                   await self._fields(INVOICES))
            await self._apply_invoices(invoices, None)
            payments = await self.link.search_read(PAYMENTS.model, [*PAYMENTS.domain, *by_partner],
                                                   await self._fields(PAYMENTS))
            await self._apply_payments(payments, None)
            counts.invoices += len(invoices)
            counts.payments += len(payments)
        return counts

    async def check_removed(self) -> int:
        """Find the partners, contracts and payments we hold that Odoo no longer has; returns how many."""
        now = self.clock()
        removed = 0
        not_deleted = "odoo_id NOT IN (SELECT odoo_id FROM odoo_removed WHERE model = ? AND how = 'deleted')"
        checks = [
            (PARTNERS.model, f"SELECT odoo_id FROM customers WHERE odoo_id IS NOT NULL AND {not_deleted}",
             (PARTNERS.model,)),
            (self.contracts.model,
             f"SELECT odoo_id FROM contracts WHERE odoo_model = ? AND odoo_id IS NOT NULL AND {not_deleted}",
             (self.contracts.model, self.contracts.model)),
            (PAYMENTS.model, "SELECT odoo_id FROM payments WHERE odoo_id IS NOT NULL", ()),
        ]
        for model, query, params in checks:
            async with self.store.reader.execute(query, params) as cur:
                held = [int(odoo_id) for (odoo_id,) in await cur.fetchall()]
            gone: list[int] = []
            for chunk in chunks(held):
                rows = await self.link.search_read(model, [("id", "in", chunk)], ["id"], context=_ALL_RECORDS)
                alive = {int(row["id"]) for row in rows}
                gone += [odoo_id for odoo_id in chunk if odoo_id not in alive]
            async with self.store.transaction() as db:
                await self._forget(db, model, gone, now)
                await _stamp_cursor(db, model, "checked_at", now)
            removed += len(gone)
        return removed

    async def _forget(self, db: aiosqlite.Connection, model: str, gone: Sequence[int], at: datetime) -> None:
        if not gone:
            return
        log.info("%d %s record(s) were deleted in Odoo", len(gone), model)
        stamp = to_db(at)
        if model == PAYMENTS.model:
            await db.executemany("DELETE FROM payments WHERE odoo_id = ?", [(odoo_id,) for odoo_id in gone])
            return
        await db.executemany(
            "INSERT INTO odoo_removed (model, odoo_id, how, noticed_at) VALUES (?, ?, 'deleted', ?)"
            " ON CONFLICT (model, odoo_id) DO UPDATE SET how = 'deleted', noticed_at = excluded.noticed_at",
            [(model, odoo_id, stamp) for odoo_id in gone],
        )
        if model == PARTNERS.model:
            await db.executemany("UPDATE customers SET active = 0, updated_at = ? WHERE odoo_id = ?",
                                 [(stamp, odoo_id) for odoo_id in gone])
        else:
            await db.executemany(
                "UPDATE contracts SET state = 'cancelled', state_changed_at = ?, state_reason = 'odoo: deleted',"
                " updated_at = ? WHERE odoo_model = ? AND odoo_id = ? AND state <> 'cancelled'",
                [(stamp, stamp, model, odoo_id) for odoo_id in gone],
            )

    # -- incremental reading ---------------------------------------------------------------------------

    async def _fields(self, mapping: ModelMap) -> tuple[str, ...]:
        return await self.link.fields_present(mapping.model, mapping.fields, mapping.optional)

    def _start(self, cursor: Cursor | None) -> Cursor | None:
        if cursor is None or not self.overlap:
            return cursor
        earlier = datetime.strptime(cursor[0], ODOO_DATETIME) - self.overlap
        return earlier.strftime(ODOO_DATETIME), 0

    async def _incremental(
        self, model: str, domain: Sequence[Any], fields: Sequence[str], apply: Apply, *, archivable: bool = False
    ) -> int:
        cursor = self._start(await load_cursor(self.store.reader, model))
        fetched = 0
        wanted = [*dict.fromkeys([*fields, "write_date"])]
        while True:
            rows = await self.link.search_read(
                model, [*domain, *_after(cursor)], wanted, limit=self.batch_size, order="write_date asc, id asc",
                context=_ALL_RECORDS if archivable else None,
            )
            if rows:
                cursor = (str(rows[-1]["write_date"]), int(rows[-1]["id"]))
                await apply(rows, cursor)
            fetched += len(rows)
            if len(rows) < self.batch_size:
                break
        async with self.store.transaction() as db:
            await _stamp_cursor(db, model, "pulled_at", self.clock())
        return fetched

    async def _customers_for(self, partner_ids: Iterable[int]) -> tuple[dict[int, int], list[dict[str, Any]]]:
        """Our customer ids for these partners, and the partner records to add for those we lack."""
        wanted = {i for i in partner_ids if i}
        known = await _customer_ids(self.store.reader, wanted)
        missing = sorted(wanted - set(known))
        if not missing:
            return known, []
        return known, await self.link.read(PARTNERS.model, missing, await self._fields(PARTNERS))

    async def _with_customers(
        self, partner_ids: Iterable[int], write: Callable[[aiosqlite.Connection, dict[int, int]], Awaitable[None]],
        model: str, cursor: Cursor | None,
    ) -> None:
        """Run ``write`` with the partner -> customer map, adding the partners we lack first, in one
        transaction with the cursor."""
        known, partners = await self._customers_for(partner_ids)
        async with self.store.transaction() as db:
            if partners:
                await upsert_customers(db, partners, self.clock())
                known = await _customer_ids(db, [*known, *(int(p["id"]) for p in partners)])
            await write(db, known)
            if cursor is not None:
                await _save_cursor(db, model, cursor)

    # -- applying batches ------------------------------------------------------------------------------

    async def _apply_partners(self, rows: list[dict[str, Any]], cursor: Cursor | None) -> None:
        async with self.store.transaction() as db:
            await upsert_customers(db, rows, self.clock())
            if cursor is not None:
                await _save_cursor(db, PARTNERS.model, cursor)

    async def _apply_contracts(self, rows: list[dict[str, Any]], cursor: Cursor | None) -> list[int]:
        mapping = self.contracts
        lines: dict[int, OdooRecord] = {}
        if isinstance(mapping.price, LinesTotal):
            line_ids = [i for row in rows for i in (row.get(mapping.price.link) or [])]
            records = await self.link.read(mapping.price.model, line_ids, mapping.price.line_fields)
            lines = {int(record["id"]): record for record in records}
        recurrence = mapping.cycle
        if recurrence.via and recurrence.via_model:
            wanted = {many2one_id(row, recurrence.via) for row in rows} - {None} - set(self._holders)
            for record in await self.link.read(recurrence.via_model, sorted(wanted), recurrence.via_fields):  # type: ignore[arg-type]
                self._holders[int(record["id"])] = record
        contracts = [contract_from_record(mapping, row, lines, self._holders) for row in rows]
        now = self.clock()

        async def write(db: aiosqlite.Connection, customers: dict[int, int]) -> None:
            await upsert_contracts(db, mapping, contracts, customers, now)

        await self._with_customers([c.partner_id for c in contracts if c.partner_id], write, mapping.model, cursor)
        return [contract.odoo_id for contract in contracts if contract.cycle is None]

    async def _apply_invoices(self, rows: list[dict[str, Any]], cursor: Cursor | None) -> None:
        async with self.store.transaction() as db:
            await update_invoices(db, rows)
            if cursor is not None:
                await _save_cursor(db, INVOICES.model, cursor)

    async def _apply_payments(self, rows: list[dict[str, Any]], cursor: Cursor | None) -> None:
        assert PAYMENTS.partner is not None
        partners = [many2one_id(row, PAYMENTS.partner) for row in rows if PAYMENTS.wanted and PAYMENTS.wanted.value(row)]

        async def write(db: aiosqlite.Connection, customers: dict[int, int]) -> None:
            await upsert_payments(db, rows, customers)

        await self._with_customers([p for p in partners if p], write, PAYMENTS.model, cursor)
