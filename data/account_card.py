"""The account card's data: who an event's account belongs to, how to reach them, what to do,
the state of their service, operators' notes and the account's event history.

Field data is incomplete: an event may carry no account number, the number may be unregistered,
and a registered account may lack a customer, a location, zones, contacts or a contract. Every
such case loads, with the missing part left empty for the screen to show a placeholder.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

import aiosqlite

from centinela.billing.models import ContractState
from centinela.billing.standing import contract_standing
from centinela.data.alarm_actions import ActionRefused
from centinela.data.audit import audit
from centinela.data.billing_store import (
    load_billing_config,
    load_contracts,
    load_open_invoices,
)
from centinela.data.records import EVENT_COLUMNS, EventRecord
from centinela.data.timeutil import from_db, to_db, utcnow
from centinela.receiver.classify import AccountMatch, index_candidates, match_account, normalize_account

NOTES_SHOWN = 20
"""Newest notes the card loads; older ones stay in the table."""


@dataclass(frozen=True, slots=True)
class CustomerInfo:
    id: int
    ref: str | None
    name: str
    tax_id: str | None
    email: str | None
    phone: str | None
    mobile: str | None
    address: str | None
    city: str | None
    notes: str | None


@dataclass(frozen=True, slots=True)
class AccountInfo:
    id: int
    account_number: str | None
    receiver: str | None
    line: str | None
    location: str | None
    latitude: float | None
    longitude: float | None
    device_type: str | None
    instructions: str | None
    notes: str | None
    test_interval_s: int | None
    last_seen_at: datetime | None
    late: bool


@dataclass(frozen=True, slots=True)
class ZoneInfo:
    number: str
    name: str | None
    kind: str | None


@dataclass(frozen=True, slots=True)
class CallContact:
    position: int
    name: str
    phone: str | None
    relation: str | None
    notes: str | None


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """One contract as the operator needs it: what it is and whether the service runs."""

    id: int
    ref: str | None
    service_kind: str
    plan_name: str | None
    state: str
    monitors_account: bool
    """The contract that pays for monitoring this account (others are the customer's)."""
    days_left: int | None = None
    """Days until the cut while in grace or notice, when invoices and grace days tell."""
    cut_on: date | None = None
    """First day without service (past for a suspended contract), when computable."""


@dataclass(frozen=True, slots=True)
class AccountNote:
    at: datetime
    operator: str
    text: str


@dataclass(frozen=True, slots=True)
class HistoryScope:
    """Which events belong to the card's history.

    Events are found by the number the panel sent (indexed); for a registered account, events
    matched to another registration of the same number (another receiver or line) are left out.
    """

    account_number: str
    alarm_account_id: int | None

    def includes(self, event: EventRecord) -> bool:
        return event.account == self.account_number and event.alarm_account_id in (self.alarm_account_id, None)


@dataclass(frozen=True, slots=True)
class AccountCard:
    account_number: str | None
    account: AccountInfo | None
    """None: the event carried no number, or nobody registered it."""
    customer: CustomerInfo | None
    zones: tuple[ZoneInfo, ...]
    contacts: tuple[CallContact, ...]
    """The call list, in calling order."""
    services: tuple[ServiceInfo, ...]
    notes: tuple[AccountNote, ...]
    """Newest first, at most NOTES_SHOWN."""
    history: HistoryScope | None
    """None when the event carried no account number: there is nothing to look events up by."""


async def load_account_card(db: aiosqlite.Connection, event: EventRecord, today: date) -> AccountCard:
    """Everything the card shows for ``event``'s account, as it stands now.

    ``today`` is the company's calendar date, for the days left of grace.
    """
    account_id = await _account_id_for(db, event)
    number = event.account or None
    history = HistoryScope(number, account_id) if number else None
    if account_id is None:
        return AccountCard(number, None, None, (), (), (), (), history)
    account, customer = await _account_and_customer(db, account_id)
    if account is None:  # deleted since the event came in
        return AccountCard(number, None, None, (), (), (), (), HistoryScope(number, None) if number else None)
    return AccountCard(
        account_number=number or account.account_number,
        account=account,
        customer=customer,
        zones=await _zones(db, account_id),
        contacts=await _contacts(db, account_id),
        services=await _services(db, account_id, customer.id if customer else None, today),
        notes=await account_notes(db, account_id),
        history=history,
    )


async def account_history(
    db: aiosqlite.Connection, scope: HistoryScope, limit: int, *, before_id: int | None = None
) -> list[EventRecord]:
    """One page of the account's events, newest first; ``before_id`` pages back (events_account
    index, no OFFSET scan)."""
    clauses = ["account = ?", "(alarm_account_id IS NULL OR alarm_account_id IS ?)"]
    params: list[object] = [scope.account_number, scope.alarm_account_id]
    if before_id is not None:
        clauses.append("id < ?")
        params.append(before_id)
    params.append(limit)
    async with db.execute(
        f"SELECT {EVENT_COLUMNS} FROM events WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT ?", params
    ) as cur:
        return [EventRecord.from_row(row) for row in await cur.fetchall()]


async def account_notes(db: aiosqlite.Connection, account_id: int, limit: int = NOTES_SHOWN) -> tuple[AccountNote, ...]:
    async with db.execute(
        "SELECT at, operator, text FROM account_notes WHERE account_id = ? ORDER BY id DESC LIMIT ?",
        (account_id, limit),
    ) as cur:
        rows = await cur.fetchall()
    return tuple(AccountNote(_instant(at), operator, text) for at, operator, text in rows)


async def add_account_note(db: aiosqlite.Connection, account_id: int, operator: str, text: str) -> AccountNote:
    """Store an operator's note on the account (inside the caller's transaction) and audit it."""
    text = text.strip()
    if not text:
        raise ActionRefused("La nota está vacía")
    async with db.execute("SELECT 1 FROM alarm_accounts WHERE id = ?", (account_id,)) as cur:
        if await cur.fetchone() is None:
            raise ActionRefused(f"No existe la cuenta #{account_id}")
    now = utcnow()
    await db.execute(
        "INSERT INTO account_notes (account_id, at, operator, text) VALUES (?, ?, ?, ?)",
        (account_id, to_db(now), operator, text),
    )
    await audit(db, operator, "account.note", "alarm_account", account_id, {"note": text})
    return AccountNote(_instant(to_db(now)), operator, text)


async def _account_id_for(db: aiosqlite.Connection, event: EventRecord) -> int | None:
    """The account the writer matched; for an event stored as unknown, one registered since."""
    if event.alarm_account_id is not None:
        return event.alarm_account_id
    number = normalize_account(event.account)
    if number is None:
        return None
    async with db.execute(
        "SELECT id, account_number, receiver, line FROM alarm_accounts WHERE upper(account_number) = ?", (number,)
    ) as cur:
        rows = await cur.fetchall()
    candidates = [AccountMatch(row[0], row[1], row[2], row[3], None, None, None) for row in rows]
    found = match_account(index_candidates(candidates), event.account, event.receiver, event.line)
    return found.alarm_account_id if found else None


# The customer is the monitoring contract's holder, else the account's own customer: the same
# rule the event writer applies when it names an event's customer.
_ACCOUNT_AND_CUSTOMER = """
SELECT a.id, a.account_number, a.receiver, a.line, a.location, a.latitude, a.longitude,
       a.device_type, a.instructions, a.notes, a.test_interval_s, a.last_seen_at,
       a.late_since IS NOT NULL,
       cu.id, cu.ref, cu.name, cu.tax_id, cu.email, cu.phone, cu.mobile, cu.address, cu.city, cu.notes
FROM alarm_accounts a
LEFT JOIN customers cu ON cu.id = coalesce(
    (SELECT customer_id FROM contracts
     WHERE alarm_account_id = a.id AND service_kind = 'alarm' AND state <> 'cancelled'
     ORDER BY id DESC LIMIT 1),
    a.customer_id)
WHERE a.id = ?
"""


async def _account_and_customer(
    db: aiosqlite.Connection, account_id: int
) -> tuple[AccountInfo | None, CustomerInfo | None]:
    async with db.execute(_ACCOUNT_AND_CUSTOMER, (account_id,)) as cur:
        row = await cur.fetchone()
    if row is None:
        return None, None
    account = AccountInfo(
        id=row[0], account_number=row[1], receiver=row[2], line=row[3], location=row[4], latitude=row[5],
        longitude=row[6], device_type=row[7], instructions=row[8], notes=row[9], test_interval_s=row[10],
        last_seen_at=from_db(row[11]), late=bool(row[12]),
    )
    customer = None if row[13] is None else CustomerInfo(*row[13:23])
    return account, customer


async def _zones(db: aiosqlite.Connection, account_id: int) -> tuple[ZoneInfo, ...]:
    async with db.execute("SELECT number, name, kind FROM zones WHERE account_id = ?", (account_id,)) as cur:
        rows = await cur.fetchall()
    # Zone "10" after zone "9": numbers are text in the schema, digits on most panels.
    return tuple(sorted((ZoneInfo(*row) for row in rows), key=lambda zone: _natural(zone.number)))


async def _contacts(db: aiosqlite.Connection, account_id: int) -> tuple[CallContact, ...]:
    async with db.execute(
        "SELECT position, name, phone, relation, notes FROM contacts WHERE account_id = ? ORDER BY position, id",
        (account_id,),
    ) as cur:
        return tuple(CallContact(*row) for row in await cur.fetchall())


_SERVICES = """
SELECT k.id, k.ref, k.service_kind, p.name, k.state, coalesce(k.alarm_account_id = ?, 0)
FROM contracts k LEFT JOIN plans p ON p.id = k.plan_id
WHERE k.alarm_account_id = ? OR (k.customer_id IS ? AND k.state <> 'cancelled')
ORDER BY 6 DESC, k.state = 'cancelled', k.id
"""

_COUNTDOWN_STATES = frozenset({ContractState.GRACE, ContractState.NOTICE, ContractState.SUSPENDED})


async def _services(
    db: aiosqlite.Connection, account_id: int, customer_id: int | None, today: date
) -> tuple[ServiceInfo, ...]:
    """The account's monitoring contracts first, then the customer's other contracts in force."""
    async with db.execute(_SERVICES, (account_id, account_id, customer_id)) as cur:
        services = [ServiceInfo(id_, ref, kind, plan, state, bool(linked))
                    for id_, ref, kind, plan, state, linked in await cur.fetchall()]
    late = [service.id for service in services if service.state in _COUNTDOWN_STATES]
    cuts = await _cut_dates(db, late, today) if late else {}
    return tuple(
        replace(service, days_left=cuts[service.id][0], cut_on=cuts[service.id][1]) if service.id in cuts else service
        for service in services
    )


async def _cut_dates(db: aiosqlite.Connection, contract_ids: list[int], today: date) -> dict[int, tuple[int | None, date]]:
    """(days left, or None once cut; first day without service) by contract, as the billing rules
    date the cut from the customer's open invoices. A contract the rules cannot read (no plan,
    price or start date) is left out: the card then shows its stored state alone."""
    batch = await load_contracts(db, contract_ids=contract_ids)
    invoices = await load_open_invoices(db, {info.customer_id for info in batch.contracts})
    settings = (await load_billing_config(db)).settings
    cuts: dict[int, tuple[int | None, date]] = {}
    for info in batch.contracts:
        standing = contract_standing(info.contract, invoices, today, settings)
        if standing.suspend_on is not None:
            cuts[info.id] = (standing.days_left or None, standing.suspend_on)
    return cuts


def _natural(number: str) -> tuple[int, int | str]:
    return (0, int(number)) if number.isdigit() else (1, number)


def _instant(text: str) -> datetime:
    instant = from_db(text)
    assert instant is not None  # NOT NULL in the schema
    return instant
