"""Push: what Centinela tells Odoo through the outbox, and how each kind of item reaches Odoo.

Operations and their payloads (the JSON in ``outbox.payload``, target ``"odoo"``), written in the
transaction that makes the local change. The handlers read only the keys below and the store's
current rows; extra keys (the billing worker adds refs, Odoo ids and amounts for people reading the
outbox) are ignored:

``invoice.post`` ``{"invoice_id": 17, ...}``, dedupe key ``invoice.post:<number>`` (billing queues it)
    Our invoice (row, lines and customer read when pushed) becomes a posted ``account.move``
    ``out_invoice`` with one line per invoice line, ``ref`` and ``payment_reference`` = our number,
    our dates (no payment term, so Odoo keeps our due date), the sale taxes of matching rate.
    Idempotent: Odoo is searched by (number, partner) first, so a retry after a lost answer posts
    the draft it finds instead of creating another; the Odoo id is kept in ``invoices.odoo_id``.
``contract.suspend`` / ``contract.reconnect`` ``{"contract_id": 9, "reason": "...", "at": "<UTC>", ...}``
    (billing queues them) The mapping's state field takes its suspended / in-force value, and a
    note with the reason and time goes to the record's chatter. A change overtaken by a later one
    for the same contract (an admin retried a parked suspension after the reconnection went
    through) only adds its note.
``alarm.resolved`` ``{"event_id": 412}``, dedupe key ``alarm.resolved:412`` (``enqueue_alarm_resolved``)
    A note on the customer's partner: account, event, when received and resolved, by whom, the
    resolution and the operators' notes.
``task.dispatch`` ``{"event_id": 412, "operator": "ana", "notes": "...", "at": "<UTC>"}`` (``dispatch_technician``)
    A ``project.task`` in the field-service project (``odoo.fsm_project``: an id or a name) with the
    customer, account, location, event and notes, searched first by a reference in its description
    so a retry never makes two.

Failures: ``OdooUnavailable``/``OdooAuthError`` from a group of items propagate (the worker retries
later, in order); anything Odoo refuses for one item's data, or a local reason that item cannot be
pushed (a currency or tax Odoo lacks, a customer or contract with no Odoo record), comes back as
that item's ``Outcome`` with the reason, and the worker parks it. Chatter notes are posted at least
once: a note whose answer was lost may appear twice.
"""

from __future__ import annotations

import html
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiosqlite

from centinela.data import alarm_actions, outbox
from centinela.data.alarm_actions import RESOLUTIONS
from centinela.data.odoo_gateway import OdooRejected
from centinela.data.odoo_link import OdooLink
from centinela.data.odoo_mappings import ContractMap, Push, many2one_id
from centinela.data.outbox import OutboxItem
from centinela.data.records import EVENT_COLUMNS, EventRecord
from centinela.data.store import Store
from centinela.data.timeutil import from_db, to_db, utcnow
from centinela.receiver.describe import describe_event

INVOICE_POST = "invoice.post"
CONTRACT_SUSPEND = "contract.suspend"
CONTRACT_RECONNECT = "contract.reconnect"
ALARM_RESOLVED = "alarm.resolved"
TASK_DISPATCH = "task.dispatch"
OPERATIONS = (INVOICE_POST, CONTRACT_SUSPEND, CONTRACT_RECONNECT, ALARM_RESOLVED, TASK_DISPATCH)
_CONTRACT_OPERATIONS: Mapping[str, Push] = {CONTRACT_SUSPEND: "suspend", CONTRACT_RECONNECT: "reconnect"}
_ALL_RECORDS = {"active_test": False}
_NOTE = {"message_type": "comment", "subtype_xmlid": "mail.mt_note"}

_TEXTS: Mapping[str, Mapping[str, str]] = {
    "es": {
        "suspend": "Servicio suspendido por Centinela",
        "reconnect": "Servicio reconectado por Centinela",
        "resolved": "Alarma atendida en Centinela",
        "account": "cuenta",
        "received": "recibida",
        "resolved_at": "cerrada",
        "by": "por",
        "notes": "notas",
        "task": "Técnico",
        "location": "Ubicación",
        "event": "Evento",
        "customer": "Cliente",
        "requested": "Solicitado por",
        "instructions": "Instrucciones",
        "reference": "Referencia Centinela",
        "dispatched": "Técnico solicitado en Odoo",
    },
    "en": {
        "suspend": "Service suspended by Centinela",
        "reconnect": "Service reconnected by Centinela",
        "resolved": "Alarm handled in Centinela",
        "account": "account",
        "received": "received",
        "resolved_at": "closed",
        "by": "by",
        "notes": "notes",
        "task": "Technician",
        "location": "Location",
        "event": "Event",
        "customer": "Customer",
        "requested": "Requested by",
        "instructions": "Instructions",
        "reference": "Centinela reference",
        "dispatched": "Technician requested in Odoo",
    },
}


# -- enqueueing (inside the caller's transaction) --------------------------------------------------


async def enqueue_alarm_resolved(db: aiosqlite.Connection, event_id: int) -> int | None:
    """Queue the note of a resolved alarm for its customer's partner, in the transaction that
    resolves it; None (nothing queued) when the customer has no Odoo partner."""
    async with db.execute(
        "SELECT c.odoo_id FROM events e JOIN customers c ON c.id = e.customer_id WHERE e.id = ?", (event_id,)
    ) as cur:
        row = await cur.fetchone()
    if row is None or row[0] is None:
        return None
    return await outbox.enqueue(db, ALARM_RESOLVED, {"event_id": event_id}, dedupe_key=f"{ALARM_RESOLVED}:{event_id}")


async def dispatch_technician(db: aiosqlite.Connection, event_id: int, operator: str, notes: str) -> EventRecord:
    """An operator sends a technician from an alarm: a note in the alarm's log and a field-service
    task for Odoo. Runs in the caller's transaction (``store.apply(partial(dispatch_technician, ...))``);
    raises ``ActionRefused`` for an unknown event."""
    notes = notes.strip()
    event = await alarm_actions.add_note(db, event_id, operator, f"{_TEXTS['es']['dispatched']}: {notes or '-'}")
    await outbox.enqueue(
        db, TASK_DISPATCH, {"event_id": event_id, "operator": operator, "notes": notes, "at": to_db(utcnow())}
    )
    return event


# -- pushing ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    item_id: int
    error: str | None = None  # set: park the item with this reason
    invoice: tuple[int, int] | None = None  # (our invoice id, Odoo move id) to remember


@dataclass(frozen=True, slots=True)
class _Line:
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal | None


@dataclass(frozen=True, slots=True)
class _Invoice:
    id: int
    number: str | None
    partner_id: int | None
    invoice_date: str
    due_date: str
    currency: str
    lines: tuple[_Line, ...]


def _invoice_problem(invoice: _Invoice | None, wanted: object) -> str | None:
    if invoice is None:
        return f"invoice {wanted!r} does not exist"
    if not invoice.number:
        return f"invoice {invoice.id} has no number to find it by in Odoo"
    if invoice.partner_id is None:
        return f"invoice {invoice.number}: its customer is not linked to an Odoo partner"
    if not invoice.lines:
        return f"invoice {invoice.number} has no lines"
    return None


def batchable(operation: str) -> bool:
    """Operations whose consecutive items go to Odoo together (a few calls for many items)."""
    return operation == INVOICE_POST


class Pusher:
    def __init__(
        self, link: OdooLink, store: Store, mapping: ContractMap, *, fsm_project: str = "", language: str = "es"
    ) -> None:
        self.link = link
        self.store = store
        self.mapping = mapping
        self.fsm_project = fsm_project.strip()
        self.texts = _TEXTS["en" if language == "en" else "es"]
        self.language = "en" if language == "en" else "es"
        self._currencies: dict[str, int] = {}
        self._taxes: dict[Decimal, int] | None = None
        self._taxes_stale = False  # a rate was missing: an admin may add it, so ask again next time
        self._project_id: int | None = None

    async def push(self, items: Sequence[OutboxItem]) -> list[Outcome]:
        """One group: consecutive ``invoice.post`` items, or a single item of another operation."""
        operation = items[0].operation
        if operation == INVOICE_POST:
            return await self._push_invoices(items)
        outcomes = []
        for item in items:
            try:
                if operation in _CONTRACT_OPERATIONS:
                    outcomes.append(await self._push_contract(item, _CONTRACT_OPERATIONS[operation]))
                elif operation == ALARM_RESOLVED:
                    outcomes.append(await self._push_alarm(item))
                elif operation == TASK_DISPATCH:
                    outcomes.append(await self._push_task(item))
                else:
                    outcomes.append(Outcome(item.id, f"unknown operation {operation!r}"))
            except OdooRejected as exc:
                outcomes.append(Outcome(item.id, str(exc)))
            except (KeyError, TypeError, ValueError) as exc:
                outcomes.append(Outcome(item.id, f"bad payload {json.dumps(item.payload)}: {exc!r}"))
        return outcomes

    # -- invoices ----------------------------------------------------------------------------------

    async def _push_invoices(self, items: Sequence[OutboxItem]) -> list[Outcome]:
        if self._taxes_stale:
            self._taxes, self._taxes_stale = None, False
        wanted = {item.id: item.payload.get("invoice_id") for item in items}
        invoices = await self._load_invoices([i for i in wanted.values() if isinstance(i, int)])
        outcomes: dict[int, Outcome] = {}
        ready: dict[int, tuple[_Invoice, dict[str, Any]]] = {}  # item id -> invoice, Odoo values
        for item in items:
            invoice = invoices.get(wanted[item.id])  # type: ignore[arg-type]  # None looks nothing up
            problem = _invoice_problem(invoice, wanted[item.id])
            if problem is None and invoice is not None:
                vals, problem = await self._invoice_vals(invoice)
                if vals is not None:
                    ready[item.id] = (invoice, vals)
            if problem is not None:
                outcomes[item.id] = Outcome(item.id, problem)
        if ready:
            outcomes.update(await self._create_and_post(ready))
        return [outcomes[item.id] for item in items]

    async def _create_and_post(self, ready: Mapping[int, tuple[_Invoice, dict[str, Any]]]) -> dict[int, Outcome]:
        """Find, create and post the invoices of ``ready`` (item id -> invoice, Odoo values). An
        invoice is known to Odoo by (number, partner); two items of one invoice create it once."""
        key_of = {item_id: (invoice.number, invoice.partner_id) for item_id, (invoice, _) in ready.items()}
        numbers = sorted({number for number, _ in key_of.values() if number})
        found = await self.link.search_read(
            "account.move", [("move_type", "=", "out_invoice"), ("ref", "in", numbers)], ["ref", "partner_id", "state"]
        )
        moves = {(row["ref"], many2one_id(row, "partner_id")): (int(row["id"]), str(row["state"])) for row in found}
        to_create = {key_of[item_id]: vals for item_id, (_, vals) in ready.items() if key_of[item_id] not in moves}
        refused: dict[tuple[str | None, int | None], str] = {}
        created = await self._each_or_all(list(to_create.values()), lambda batch: self.link.create("account.move", batch))
        for key, result in zip(to_create, created, strict=True):
            if isinstance(result, OdooRejected):
                refused[key] = str(result)
            else:
                moves[key] = (result, "draft")
        ours = set(key_of.values())
        drafts = [(key, odoo_id) for key, (odoo_id, state) in moves.items() if state == "draft" and key in ours]

        async def post(ids: list[int]) -> list[int]:
            await self.link.call("account.move", "action_post", ids)
            return ids

        posted = await self._each_or_all([odoo_id for _, odoo_id in drafts], post)
        for (key, odoo_id), result in zip(drafts, posted, strict=True):
            if isinstance(result, OdooRejected):
                refused[key] = f"Odoo draft #{odoo_id} not posted: {result}"
        outcomes: dict[int, Outcome] = {}
        for item_id, (invoice, _) in ready.items():
            key = key_of[item_id]
            if key in refused:
                outcomes[item_id] = Outcome(item_id, refused[key])
            else:
                outcomes[item_id] = Outcome(item_id, invoice=(invoice.id, moves[key][0]))
        return outcomes

    @staticmethod
    async def _each_or_all(values: list[Any], send: Callable[[list[Any]], Awaitable[Sequence[Any]]]) -> list[Any]:
        """``send`` all values in one call; if Odoo refuses the batch (one transaction, so nothing of
        it was kept), send them one by one so only the refused ones fail. Results in order: what
        ``send`` returned for each value, or the ``OdooRejected`` that value got."""
        if not values:
            return []
        try:
            return list(await send(values))
        except OdooRejected as exc:
            if len(values) == 1:
                return [exc]
        results: list[Any] = []
        for value in values:
            try:
                results.append((await send([value]))[0])
            except OdooRejected as exc:
                results.append(exc)
        return results

    async def _load_invoices(self, invoice_ids: Sequence[int]) -> dict[int, _Invoice]:
        if not invoice_ids:
            return {}
        marks = ", ".join("?" * len(invoice_ids))
        db = self.store.reader
        async with db.execute(
            f"SELECT i.id, i.number, c.odoo_id, i.invoice_date, i.due_date, i.currency FROM invoices i"
            f" JOIN customers c ON c.id = i.customer_id WHERE i.id IN ({marks})",
            list(invoice_ids),
        ) as cur:
            heads = await cur.fetchall()
        lines: dict[int, list[_Line]] = {}
        async with db.execute(
            f"SELECT l.invoice_id, l.description, l.quantity, l.unit_price, l.tax_rate, l.period_start, l.period_end,"
            f" coalesce(k.ref, '#' || k.id) FROM invoice_lines l JOIN contracts k ON k.id = l.contract_id"
            f" WHERE l.invoice_id IN ({marks}) ORDER BY l.invoice_id, l.id",
            list(invoice_ids),
        ) as cur:
            for invoice_id, description, quantity, price, rate, start, end, contract in await cur.fetchall():
                lines.setdefault(invoice_id, []).append(_Line(
                    description or f"{contract} {start}..{end}", Decimal(quantity), Decimal(price),
                    Decimal(rate) if rate not in (None, "") else None,
                ))
        return {
            invoice_id: _Invoice(invoice_id, number, partner, invoice_date, due_date, currency,
                                 tuple(lines.get(invoice_id, ())))
            for invoice_id, number, partner, invoice_date, due_date, currency in heads
        }

    async def _invoice_vals(self, invoice: _Invoice) -> tuple[dict[str, Any] | None, str | None]:
        currency = await self._currency_id(invoice.currency)
        if currency is None:
            return None, f"invoice {invoice.number}: currency {invoice.currency} is not in Odoo"
        lines = []
        for line in invoice.lines:
            taxes: list[int] = []
            if line.tax_rate is not None and line.tax_rate != 0:
                tax = (await self._tax_ids()).get(line.tax_rate)
                if tax is None:
                    self._taxes_stale = True
                    return None, f"invoice {invoice.number}: Odoo has no sale tax of {(line.tax_rate * 100).normalize():f}%"
                taxes = [tax]
            lines.append([0, 0, {
                "name": line.description,
                "quantity": float(line.quantity),
                "price_unit": float(line.unit_price),
                "tax_ids": [[6, 0, taxes]],  # explicit: no product or account default taxes
            }])
        return {
            "move_type": "out_invoice",
            "partner_id": invoice.partner_id,
            "ref": invoice.number,
            "payment_reference": invoice.number,
            "invoice_origin": "Centinela",
            "invoice_date": invoice.invoice_date,
            "invoice_date_due": invoice.due_date,
            "invoice_payment_term_id": False,  # a payment term would recompute our due date
            "currency_id": currency,
            "invoice_line_ids": lines,
        }, None

    async def _currency_id(self, code: str) -> int | None:
        if code not in self._currencies:
            rows = await self.link.search_read("res.currency", [("name", "=", code)], ["name"], context=_ALL_RECORDS)
            if rows:
                self._currencies[code] = int(rows[0]["id"])
        return self._currencies.get(code)

    async def _tax_ids(self) -> dict[Decimal, int]:
        """Sale taxes by rate (a fraction, as our lines have it), the first of each rate."""
        if self._taxes is None:
            rows = await self.link.search_read(
                "account.tax", [("type_tax_use", "=", "sale"), ("amount_type", "=", "percent")], ["amount"],
                order="sequence, id",
            )
            self._taxes = {}
            for row in rows:
                self._taxes.setdefault(Decimal(repr(row["amount"])) / 100, int(row["id"]))
        return self._taxes

    # -- contracts ---------------------------------------------------------------------------------

    async def _push_contract(self, item: OutboxItem, action: Push) -> Outcome:
        contract_id = int(item.payload["contract_id"])
        async with self.store.reader.execute(
            "SELECT odoo_model, odoo_id, coalesce(ref, '#' || id) FROM contracts WHERE id = ?", (contract_id,)
        ) as cur:
            row = await cur.fetchone()
        if row is None or row[1] is None:
            return Outcome(item.id, f"contract {contract_id} is not linked to an Odoo record")
        model, odoo_id, ref = row
        if model != self.mapping.model:
            return Outcome(item.id, f"contract {ref} is a {model} record; the mapping in use is {self.mapping.model}")
        if self.mapping.state_field and not await self._overtaken(item, contract_id):
            await self.link.write(model, [odoo_id], {self.mapping.state_field: self.mapping.state_for[action]})
        when = from_db(item.payload.get("at")) or item.created_at
        reason = str(item.payload.get("reason") or "").strip()
        body = f"{self.texts[action]} ({when.astimezone():%d/%m/%Y %H:%M})" + (f": {reason}" if reason else "")
        await self.link.call(model, "message_post", [odoo_id], body=body, **_NOTE)
        return Outcome(item.id)

    async def _overtaken(self, item: OutboxItem, contract_id: int) -> bool:
        """A later suspension or reconnection of the same contract is queued or went through."""
        marks = ", ".join("?" * len(_CONTRACT_OPERATIONS))
        async with self.store.reader.execute(
            f"SELECT 1 FROM outbox WHERE id > ? AND operation IN ({marks}) AND state IN ('pending', 'done')"
            " AND json_extract(payload, '$.contract_id') = ? LIMIT 1",
            (item.id, *_CONTRACT_OPERATIONS, contract_id),
        ) as cur:
            return await cur.fetchone() is not None

    # -- alarms and technicians -----------------------------------------------------------------------

    async def _event(self, event_id: int) -> tuple[EventRecord, dict[str, Any]] | None:
        db = self.store.reader
        async with db.execute(f"SELECT {EVENT_COLUMNS} FROM events WHERE id = ?", (event_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        event = EventRecord.from_row(row)
        async with db.execute(
            "SELECT c.odoo_id, c.name, a.account_number, a.location, a.latitude, a.longitude, a.instructions"
            " FROM events e LEFT JOIN customers c ON c.id = e.customer_id"
            " LEFT JOIN alarm_accounts a ON a.id = e.alarm_account_id WHERE e.id = ?",
            (event_id,),
        ) as cur:
            found = await cur.fetchone()
        assert found is not None  # the event was just read
        partner, name, account, location, latitude, longitude, instructions = found
        where = ", ".join(part for part in (location, f"{latitude}, {longitude}" if latitude is not None else None)
                          if part)
        return event, {"partner": partner, "customer": name or event.customer_name, "account": account or event.account,
                       "location": where or None, "instructions": instructions}

    def _describe(self, event: EventRecord) -> str:
        text = describe_event(event.protocol, event.code, event.qualifier, self.language)
        zone = f" Z{event.zone}" if event.zone else ""
        user = f" U{event.user}" if event.user else ""
        return f"{text}{zone}{user}"

    async def _push_alarm(self, item: OutboxItem) -> Outcome:
        found = await self._event(int(item.payload["event_id"]))
        if found is None:
            return Outcome(item.id, f"event {item.payload['event_id']} does not exist")
        event, extra = found
        if extra["partner"] is None:
            return Outcome(item.id, f"event {event.id}: its customer is not linked to an Odoo partner")
        log = await alarm_actions.action_log(self.store.reader, event.id)
        labels = {r.code: r.label(self.language) for r in RESOLUTIONS}
        notes = [entry.note for entry in log if entry.action == "note" and entry.note]
        t = self.texts
        parts = [f"{t['resolved']}: {t['account']} {extra['account'] or '-'} · {self._describe(event)}",
                 f"{t['received']} {event.received_at.astimezone():%d/%m/%Y %H:%M:%S}"]
        if event.resolved_at:
            parts.append(f"{t['resolved_at']} {event.resolved_at.astimezone():%d/%m/%Y %H:%M:%S}"
                         + (f" {t['by']} {event.taken_by}" if event.taken_by else ""))
        if event.resolution:
            resolve_note = next((e.note for e in reversed(log) if e.action == "resolve" and e.note), None)
            detail = (resolve_note or "").partition(": ")[2]
            parts.append(labels.get(event.resolution, event.resolution) + (f": {detail}" if detail else ""))
        if notes:
            parts.append(f"{t['notes']}: " + " / ".join(notes))
        await self.link.call("res.partner", "message_post", [extra["partner"]], body=" · ".join(parts), **_NOTE)
        return Outcome(item.id)

    async def _project(self) -> int | None:
        if self._project_id is None and self.fsm_project:
            if self.fsm_project.isdigit():
                self._project_id = int(self.fsm_project)
            else:
                rows = await self.link.search_read("project.project", [("name", "=", self.fsm_project)], ["id"],
                                                   limit=1)
                self._project_id = int(rows[0]["id"]) if rows else None
        return self._project_id

    async def _push_task(self, item: OutboxItem) -> Outcome:
        project = await self._project()
        if project is None:
            problem = "odoo.fsm_project is not set" if not self.fsm_project else \
                f"Odoo has no project {self.fsm_project!r} (odoo.fsm_project)"
            return Outcome(item.id, problem)
        found = await self._event(int(item.payload["event_id"]))
        if found is None:
            return Outcome(item.id, f"event {item.payload['event_id']} does not exist")
        event, extra = found
        reference = f"centinela-dispatch-{item.id}"
        done = await self.link.search_read(
            "project.task", [("project_id", "=", project), ("description", "ilike", reference)], ["id"], limit=1,
            context=_ALL_RECORDS,
        )
        if done:
            return Outcome(item.id)
        t = self.texts
        requested = from_db(item.payload.get("at")) or item.created_at
        rows = [
            (t["customer"], extra["customer"]),
            (t["account"].capitalize(), extra["account"]),
            (t["location"], extra["location"]),
            (t["event"], f"{self._describe(event)} — {event.received_at.astimezone():%d/%m/%Y %H:%M:%S}"),
            (t["instructions"], extra["instructions"]),
            (t["notes"].capitalize(), item.payload.get("notes")),
            (t["requested"], f"{item.payload.get('operator') or '-'} {requested.astimezone():%d/%m/%Y %H:%M}"),
            (t["reference"], reference),
        ]
        description = "".join(f"<p><b>{html.escape(label)}:</b> {html.escape(str(value))}</p>"
                              for label, value in rows if value)
        subject = extra["customer"] or extra["account"] or f"#{event.id}"
        await self.link.create("project.task", [{
            "name": f"{t['task']}: {subject} — {self._describe(event)}",
            "project_id": project,
            "partner_id": extra["partner"] or False,
            "description": description,
        }])
        return Outcome(item.id)
