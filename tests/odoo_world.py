"""A company's Odoo for the sync tests and the benchmark: the fake Odoo with accounting basics,
customers and contracts in each mapping's shape, plus a store configured to sync with it.

``LossyOdoo`` adds what the fake lacks for outage tests: a call that Odoo carries out and whose
answer never arrives (the link drops, a proxy times out), and per-model defaults on create (the
state a new invoice starts in).
"""

from __future__ import annotations

from calendar import monthrange
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import aiosqlite

from centinela.data import outbox
from centinela.data.settings import set_setting
from centinela.data.store import Store
from centinela.data.timeutil import to_db
from tests.fake_odoo import USER_ERROR, FakeFault, FakeOdoo

API_KEY = "5ec7e1c0ffee5ec7e1c0ffee5ec7e1c0ffee5ec7"
SYNC_USER = "sync"
FSM_PROJECT = "Servicio técnico"
PERIOD = ("2026-11-01", "2026-11-30")


def _fields(kinds: str) -> dict[str, str]:
    """``"name:char partner_id:many2one"`` -> {"name": "char", "partner_id": "many2one"}."""
    return dict(pair.split(":") for pair in kinds.split())


# The fields of the models the sync reads and writes, as Odoo 18 (and the seed company's module)
# declares them: a field name the sync gets wrong is an error, as on a real server.
MODELS: dict[str, dict[str, str]] = {
    "res.partner": _fields("name:char ref:char vat:char email:char phone:char mobile:char street:char street2:char"
                           " city:char comment:html customer_rank:integer active:boolean"),
    "centinela.subscription": _fields(
        "name:char partner_id:many2one service_kind:selection price:float currency_id:many2one"
        " billing_cycle:selection current_period_start:date current_period_end:date grace_days:integer"
        " state:selection active:boolean date_start:date date_end:date"),
    "account.move": _fields(
        "name:char move_type:selection partner_id:many2one ref:char payment_reference:char invoice_origin:char"
        " invoice_date:date invoice_date_due:date invoice_payment_term_id:many2one currency_id:many2one"
        " invoice_line_ids:one2many state:selection payment_state:selection amount_total:monetary"
        " amount_residual:monetary"),
    "account.payment": _fields(  # Odoo 18: "memo", no "ref"
        "name:char partner_id:many2one amount:monetary currency_id:many2one date:date state:selection"
        " payment_type:selection partner_type:selection journal_id:many2one memo:char"),
    "project.task": _fields("name:char project_id:many2one partner_id:many2one description:html active:boolean"),
}


class LossyOdoo(FakeOdoo):
    """``lose("account.move.create", after=2)``: the third such call from now is carried out and its
    connection then closes without a reply."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._losses: list[list[Any]] = []  # [call key, calls still answered, answers to lose]
        self.defaults: dict[str, dict[str, Any]] = {}

    def lose(self, key: str, *, after: int = 0, count: int = 1) -> None:
        self._losses.append([key, after, count])

    def _serve(self, handler: Any) -> None:
        handler.calls_before = Counter(self.calls)
        super()._serve(handler)

    def _send(self, handler: Any, status: int, body: bytes, content_type: str) -> None:
        before: Counter[str] = getattr(handler, "calls_before", None) or Counter()
        served = self.calls - before
        for loss in self._losses:
            key, answered, lost = loss
            if key in served and lost:
                if answered:
                    loss[1] -= 1
                    break
                loss[2] -= 1
                handler.close_connection = True
                return
        super()._send(handler, status, body, content_type)

    def _orm_create(self, call: Any, model: Any, vals_list: Any) -> int | list[int]:
        defaults = self.defaults.get(model.name, {})
        if isinstance(vals_list, Mapping):
            return super()._orm_create(call, model, {**defaults, **vals_list})
        return super()._orm_create(call, model, [{**defaults, **vals} for vals in vals_list])


def _post(fake: FakeOdoo, ids: list[int]) -> None:
    """account.move.action_post: totals from the lines and their taxes, as Odoo computes them."""
    rates = {record["id"]: Decimal(repr(record["amount"])) / 100 for record in fake.records("account.tax")}
    for move_id in ids:
        move = fake.record("account.move", move_id)
        if move["state"] != "draft":
            raise FakeFault(USER_ERROR, f"The entry {move['ref']} (id {move_id}) is already posted.")
        total = Decimal(0)
        for _, _, line in move["invoice_line_ids"]:
            amount = Decimal(repr(line["quantity"])) * Decimal(repr(line["price_unit"]))
            taxes = line["tax_ids"][0][2]
            total += amount + sum((amount * rates[tax] for tax in taxes), Decimal(0))
        total = total.quantize(Decimal("0.01"))
        fake.update("account.move", [move_id], {"state": "posted", "payment_state": "not_paid",
                                                "amount_total": float(total), "amount_residual": float(total)})


def company(fake: LossyOdoo) -> LossyOdoo:
    """The sync user, accounting (currencies, sale taxes, posting invoices), the field-service project
    and the seed company's subscription model."""
    fake.add_user(SYNC_USER, password="secreto", api_keys=[API_KEY])
    for model, fields in MODELS.items():
        fake.add_model(model, fields=fields)
    fake.seed("res.currency", [{"name": "USD", "active": True}, {"name": "PEN", "active": True}])
    fake.seed("account.tax", [
        {"name": "IVA compras 18%", "amount": 18.0, "type_tax_use": "purchase", "amount_type": "percent", "sequence": 1},
        {"name": "IVA 18%", "amount": 18.0, "type_tax_use": "sale", "amount_type": "percent", "sequence": 2},
        {"name": "IVA 8%", "amount": 8.0, "type_tax_use": "sale", "amount_type": "percent", "sequence": 3},
    ])
    fake.defaults["account.move"] = {"state": "draft", "payment_state": "not_paid"}
    fake.register_method("account.move", "action_post", _post)
    fake.seed("project.project", [{"name": FSM_PROJECT}])
    return fake


def partner(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": f"Cliente {n}", "ref": f"C-{n:05d}", "vat": f"20{n:09d}", "email": f"cliente{n}@example.com",
        "phone": f"01 {n:07d}", "mobile": f"9{n:08d}", "street": f"Av. Arequipa {n}", "street2": "Dpto 3",
        "city": "Lima", "comment": f"<p>Cliente &amp; amigo {n}</p>", "customer_rank": 1, "active": True, **extra,
    }


def subscription(n: int, partner_id: int, **extra: Any) -> dict[str, Any]:
    """A ``centinela.subscription`` (the seed company's model)."""
    return {
        "name": f"SUB-{n:06d}", "partner_id": [partner_id, f"Cliente {partner_id}"], "service_kind": "internet",
        "price": 25.5, "currency_id": [1, "USD"], "billing_cycle": "monthly", "current_period_start": PERIOD[0],
        "current_period_end": PERIOD[1], "grace_days": 5, "state": "active", "active": True,
        "date_start": "2025-01-01", "date_end": False, **extra,
    }


def oca_contract(n: int, partner_id: int, line_ids: Sequence[int], **extra: Any) -> dict[str, Any]:
    return {
        "name": f"Contrato {n}", "code": f"CT-{n:05d}", "partner_id": [partner_id, f"Cliente {partner_id}"],
        "contract_type": "sale", "recurring_next_date": "2026-12-05", "recurring_rule_type": "monthly",
        "recurring_interval": 2, "contract_line_ids": list(line_ids), "is_terminated": False, "active": True,
        "currency_id": [2, "PEN"], "date_start": "2026-02-05", "date_end": False, **extra,
    }


def subscription_order(n: int, partner_id: int, plan_id: int, line_ids: Sequence[int], **extra: Any) -> dict[str, Any]:
    """An Enterprise subscription (``sale.order`` with ``is_subscription``)."""
    return {
        "name": f"S{n:05d}", "partner_id": [partner_id, f"Cliente {partner_id}"], "is_subscription": True,
        "subscription_state": "3_progress", "plan_id": [plan_id, "Trimestral"], "next_invoice_date": "2026-12-31",
        "start_date": "2026-01-31", "end_date": False, "currency_id": [1, "USD"], "order_line": list(line_ids),
        **extra,
    }


async def configure(store: Store, fake: FakeOdoo, *, mapping: str = "centinela", enabled: bool = True,
                    fsm_project: str = FSM_PROJECT) -> None:
    """The ``odoo.*`` settings an admin saves from the console."""
    values = {"enabled": enabled, "url": fake.url, "database": fake.database, "user": SYNC_USER,
              "transport": "auto", "mapping": mapping, "fsm_project": fsm_project}
    async with store.transaction() as db:
        for key, value in values.items():
            await set_setting(db, f"odoo.{key}", value, "test")
        await set_setting(db, "odoo.secret", API_KEY, "test", secret=True)


async def add_invoice(db: aiosqlite.Connection, number: str, customer_id: int,
                      lines: Iterable[tuple[int, str, str | None]], currency: str = "USD", month: int = 11) -> int:
    """A posted invoice as the billing worker writes it, in the caller's transaction: ``lines`` are
    (contract id, amount, tax rate), billing ``month`` of 2026."""
    lines = list(lines)
    period = (f"2026-{month:02d}-01", f"2026-{month:02d}-{monthrange(2026, month)[1]}")
    subtotal = sum((Decimal(amount) for _, amount, _ in lines), Decimal(0))
    tax = sum((Decimal(amount) * Decimal(rate or 0) for _, amount, rate in lines), Decimal(0)).quantize(Decimal("0.01"))
    cursor = await db.execute(
        "INSERT INTO invoices (number, customer_id, invoice_date, due_date, currency, subtotal, tax, total,"
        " residual) VALUES (?, ?, '2026-11-01', '2026-11-11', ?, ?, ?, ?, ?)",
        (number, customer_id, currency, str(subtotal), str(tax), str(subtotal + tax), str(subtotal + tax)),
    )
    invoice_id = cursor.lastrowid
    assert invoice_id is not None
    await db.executemany(
        "INSERT INTO invoice_lines (invoice_id, contract_id, period_start, period_end, description, unit_price,"
        " tax_rate, amount) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(invoice_id, contract_id, *period, f"Internet {period[0]}..{period[1]}", amount, rate, amount)
         for contract_id, amount, rate in lines],
    )
    return invoice_id


async def queue_invoice(db: aiosqlite.Connection, invoice_id: int) -> None:
    """Queue the push as the billing worker does (its payload carries more than the push reads)."""
    async with db.execute("SELECT number, customer_id, total FROM invoices WHERE id = ?", (invoice_id,)) as cur:
        row = await cur.fetchone()
    assert row is not None
    number, customer_id, total = row
    await outbox.enqueue(db, "invoice.post", {"invoice_id": invoice_id, "number": number, "customer_id": customer_id,
                                              "total": total}, dedupe_key=f"invoice.post:{number}")


async def queue_contract_change(db: aiosqlite.Connection, contract_id: int, action: str, reason: str,
                                at: datetime) -> None:
    """Queue a suspension or reconnection as the billing worker does."""
    state = "suspended" if action == "suspend" else "active"
    await outbox.enqueue(db, f"contract.{action}", {"contract_id": contract_id, "state": state, "reason": reason,
                                                    "at": to_db(at)}, dedupe_key=f"contract.{action}:{contract_id}:{to_db(at)}")
