"""How an installation's Odoo records become our customers, contracts and payments: field maps as data.

Customers (``res.partner``), invoices and payments look the same in every Odoo; contracts do not.
Three contract maps ship, chosen by the ``odoo.mapping`` setting:

``centinela``  the seed company's own model ``centinela.subscription``: ``partner_id``,
    ``service_kind`` (internet | alarm), ``price``, ``currency_id``, ``billing_cycle`` (our cycle
    names), ``current_period_start``/``current_period_end``, ``grace_days`` and a ``state``
    selection (draft | active | suspended | cancelled) that we write on suspension and reconnection.
``oca``  the OCA ``contract`` module's ``contract.contract`` (sale contracts): ``recurring_next_date``,
    ``recurring_rule_type`` × ``recurring_interval``, price = sum of ``contract_line_ids.price_subtotal``
    over lines not cancelled, ``is_terminated``. It has no service-state field: suspensions and
    reconnections only go to its chatter.
``enterprise``  Odoo Enterprise subscriptions, ``sale.order`` with ``is_subscription``: ``plan_id``
    (``billing_period_value`` × ``billing_period_unit``), ``next_invoice_date``, ``subscription_state``
    (paused while suspended), price = sum of the recurring ``order_line.price_subtotal``.

Each map names, per column of ours, a *source*: a small declarative value (``Text("vat")``,
``Day("recurring_next_date")``, ``Choice("subscription_state", {...})``) that knows which Odoo fields
it reads and how it turns them into our value. No mapping is code: adding an installation is adding
a map. Columns a map does not name are never written by a pull (grace days an admin set in
Centinela stay when Odoo has none), and ``on_create`` columns only fill a contract seen the first
time (a service kind corrected locally is not overwritten).

What Odoo owns and what Centinela owns, as the pull applies it (see ``data/odoo_pull.py``): Odoo
decides whether a contract exists, is a draft, in force or ended (``lifecycle``), and its price,
currency, cycle and grace; Centinela decides grace, notice and suspension (billing state), and moves
the billing cursor itself, so a pulled period start only wins when it is later than ours.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal, TypeAlias

from centinela.billing.periods import Cycle

OdooRecord: TypeAlias = Mapping[str, Any]
Lifecycle = Literal["draft", "active", "cancelled"]
Push = Literal["suspend", "reconnect"]

_TAG = re.compile(r"<[^>]+>")
_CYCLE_BY_MONTHS = {cycle.months: cycle for cycle in Cycle}


def _present(value: Any) -> Any:
    """Odoo reads an empty field as ``False``; a blank string is as empty."""
    if value is False or value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


# -- sources: one column's value from an Odoo record ------------------------------------------------


@dataclass(frozen=True, slots=True)
class _OneField:
    """A value read from one Odoo field."""

    field: str

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.field,)


@dataclass(frozen=True, slots=True)
class Text(_OneField):
    def value(self, record: OdooRecord) -> str | None:
        found = _present(record.get(self.field))
        return None if found is None else str(found).strip()


@dataclass(frozen=True, slots=True)
class FirstOf:
    """The first of these fields that has a value (an Odoo version may lack some of them)."""

    names: tuple[str, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        return self.names

    def value(self, record: OdooRecord) -> str | None:
        for name in self.names:
            found = _present(record.get(name))
            if found is not None:
                return str(found).strip()
        return None


@dataclass(frozen=True, slots=True)
class Join:
    names: tuple[str, ...]
    separator: str = ", "

    @property
    def fields(self) -> tuple[str, ...]:
        return self.names

    def value(self, record: OdooRecord) -> str | None:
        parts = [str(found).strip() for name in self.names if (found := _present(record.get(name))) is not None]
        return self.separator.join(parts) or None


@dataclass(frozen=True, slots=True)
class Html(_OneField):
    """An Html field (notes, ``comment``) as plain text."""

    def value(self, record: OdooRecord) -> str | None:
        found = _present(record.get(self.field))
        if found is None:
            return None
        text = html.unescape(_TAG.sub(" ", str(found)))
        return " ".join(text.split()) or None


@dataclass(frozen=True, slots=True)
class Integer(_OneField):
    def value(self, record: OdooRecord) -> int | None:
        found = record.get(self.field)
        # An Integer field reads 0 when empty: for grace days, 0 is a real value, so it is kept.
        return found if isinstance(found, int) and not isinstance(found, bool) else None


@dataclass(frozen=True, slots=True)
class Day(_OneField):
    def value(self, record: OdooRecord) -> date | None:
        found = _present(record.get(self.field))
        return None if found is None else date.fromisoformat(str(found)[:10])


@dataclass(frozen=True, slots=True)
class Amount(_OneField):
    """A Float/Monetary field as Decimal; rounding to the currency's minor unit is the pull's."""

    def value(self, record: OdooRecord) -> Decimal | None:
        found = record.get(self.field)
        if isinstance(found, bool) or not isinstance(found, int | float):
            return None
        return Decimal(repr(found))  # repr: the shortest decimal that reads back as this float


@dataclass(frozen=True, slots=True)
class Related(_OneField):
    """A Many2one's display name: ``currency_id`` -> "USD", ``journal_id`` -> "Bank"."""

    def value(self, record: OdooRecord) -> str | None:
        found = record.get(self.field)
        return str(found[1]) if isinstance(found, list | tuple) and len(found) == 2 else None


@dataclass(frozen=True, slots=True)
class Choice(_OneField):
    """A Selection (or Boolean) field translated value by value; unknown values give ``default``."""

    values: Mapping[Any, str]
    default: str | None = None

    def value(self, record: OdooRecord) -> str | None:
        found = record.get(self.field)
        return self.values.get(found, self.default) if isinstance(found, str | bool | int) else self.default


@dataclass(frozen=True, slots=True)
class Const:
    constant: Any

    @property
    def fields(self) -> tuple[str, ...]:
        return ()

    def value(self, record: OdooRecord) -> Any:
        return self.constant


Source: TypeAlias = Text | FirstOf | Join | Html | Integer | Day | Amount | Related | Choice | Const


def many2one_id(record: OdooRecord, name: str) -> int | None:
    """The id a Many2one points to (``[7, "Ana"]`` -> 7; ``False`` -> None)."""
    found = record.get(name)
    if isinstance(found, list | tuple) and found and isinstance(found[0], int):
        return found[0]
    return found if isinstance(found, int) and not isinstance(found, bool) else None


# -- contract-only sources: values that need a second read per batch ------------------------------


@dataclass(frozen=True, slots=True)
class LinesTotal:
    """A price that is the sum of line records (read in one call per batch of contracts)."""

    link: str  # the One2many on the contract
    model: str
    amount: str
    when: str | None = None  # a Boolean line field that must be set for the line to count
    unless: str | None = None  # a Boolean line field that excludes the line

    @property
    def line_fields(self) -> tuple[str, ...]:
        return tuple(name for name in (self.amount, self.when, self.unless) if name)

    def total(self, lines: list[OdooRecord]) -> Decimal:
        counted = [
            line for line in lines
            if (self.when is None or line.get(self.when)) and not (self.unless and line.get(self.unless))
        ]
        return sum((Amount(self.amount).value(line) or Decimal(0) for line in counted), Decimal(0))


@dataclass(frozen=True, slots=True)
class Recurrence:
    """The billing cycle: ``count`` × ``unit``, read on the contract or on a Many2one (a plan).

    ``months`` gives each unit's length in months; a unit missing from it (days, weeks) or a total
    that is not one of our cycles leaves the contract without a cycle (not billed, reported).
    """

    unit: str
    months: Mapping[str, int]
    count: str | None = None
    via: str | None = None  # Many2one holding ``unit`` and ``count``
    via_model: str | None = None

    @property
    def own_fields(self) -> tuple[str, ...]:
        if self.via:
            return (self.via,)
        return tuple(name for name in (self.unit, self.count) if name)

    @property
    def via_fields(self) -> tuple[str, ...]:
        return tuple(name for name in (self.unit, self.count) if name)

    def cycle(self, holder: OdooRecord | None) -> Cycle | None:
        if holder is None:
            return None
        unit_months = self.months.get(holder.get(self.unit))  # type: ignore[arg-type]  # Odoo selection key
        count = holder.get(self.count, 1) if self.count else 1
        if unit_months is None or not isinstance(count, int) or isinstance(count, bool) or count < 1:
            return None
        return _CYCLE_BY_MONTHS.get(unit_months * count)


# -- the maps -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelMap:
    """Records of one Odoo model and the columns of ours they fill."""

    model: str
    columns: Mapping[str, Source]
    domain: tuple[Any, ...] = ()
    partner: str | None = None  # Many2one to the customer's res.partner
    archive_flag: str | None = None  # "active" on models that can be archived
    wanted: Source | None = None  # records for which this gives None are not (or no longer) cached
    optional: frozenset[str] = frozenset()  # fields some Odoo versions do not have

    @property
    def fields(self) -> tuple[str, ...]:
        sources = [*self.columns.values(), *([self.wanted] if self.wanted else [])]
        names = [name for source in sources for name in source.fields]
        names += [name for name in (self.partner, self.archive_flag) if name]
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class ContractMap:
    name: str
    model: str
    partner: str  # Many2one to res.partner
    ref: Text | FirstOf
    lifecycle: Choice  # -> "draft" | "active" | "cancelled"
    price: Amount | LinesTotal
    currency: Related
    cycle: Recurrence
    period_start: Day
    period_end: Day | None = None  # None: the end follows from start, anchor day and cycle
    columns: Mapping[str, Source] = field(default_factory=dict)  # written on every pull
    on_create: Mapping[str, Source] = field(default_factory=dict)  # only for a contract new to us
    domain: tuple[Any, ...] = ()
    archive_flag: str | None = None
    state_field: str | None = None  # where suspend/reconnect is written; None: chatter only
    state_for: Mapping[Push, Any] = field(default_factory=dict)

    @property
    def fields(self) -> tuple[str, ...]:
        sources: list[Source | None] = [self.ref, self.lifecycle, self.currency, self.period_start, self.period_end,
                                        *self.columns.values(), *self.on_create.values()]
        names = [self.partner, *self.cycle.own_fields]
        names += [name for source in sources if source is not None for name in source.fields]
        names += [self.price.link] if isinstance(self.price, LinesTotal) else list(self.price.fields)
        if self.archive_flag:
            names.append(self.archive_flag)
        return tuple(dict.fromkeys(names))


PARTNERS = ModelMap(
    model="res.partner",
    # Odoo counts a partner as a customer once it has a sale or an invoice; a contract's partner
    # that is not one yet is read when its contract arrives.
    domain=(("customer_rank", ">", 0),),
    archive_flag="active",
    columns={
        "name": FirstOf(("name", "display_name")),
        "ref": Text("ref"),
        "tax_id": Text("vat"),
        "email": Text("email"),
        "phone": Text("phone"),
        "mobile": Text("mobile"),
        "address": Join(("street", "street2")),
        "city": Text("city"),
        "notes": Html("comment"),
    },
    optional=frozenset({"mobile"}),  # removed from res.partner in Odoo 18.2
)

# Customer payments received; Odoo 18 says in_process/paid (17: posted) for money that came in.
PAYMENTS = ModelMap(
    model="account.payment",
    domain=(("partner_type", "=", "customer"), ("payment_type", "=", "inbound")),
    partner="partner_id",
    columns={
        "amount": Amount("amount"),
        "currency": Related("currency_id"),
        "paid_on": Day("date"),
        "method": Related("journal_id"),
        "reference": FirstOf(("memo", "ref", "name")),
    },
    wanted=Choice("state", {"in_process": "received", "paid": "received", "posted": "received"}),
    optional=frozenset({"memo", "ref"}),  # "ref" became "memo" in Odoo 18
)

# Customer invoices: the pull keeps the ones we pushed current (state and what is left to pay).
# A posted invoice with nothing left to pay is "paid" for us.
INVOICE_STATE = Choice("state", {"draft": "draft", "posted": "posted", "cancel": "cancelled"}, default="posted")
INVOICE_RESIDUAL = Amount("amount_residual")
INVOICES = ModelMap(
    model="account.move",
    domain=(("move_type", "=", "out_invoice"),),
    partner="partner_id",
    columns={"state": INVOICE_STATE, "residual": INVOICE_RESIDUAL},
)

_MONTHLY_CYCLES = {cycle.value: cycle.months for cycle in Cycle}

CENTINELA = ContractMap(
    name="centinela",
    model="centinela.subscription",
    partner="partner_id",
    archive_flag="active",
    ref=Text("name"),
    lifecycle=Choice("state", {"draft": "draft", "active": "active", "suspended": "active", "cancelled": "cancelled"},
                     default="active"),
    price=Amount("price"),
    currency=Related("currency_id"),
    cycle=Recurrence(unit="billing_cycle", months=_MONTHLY_CYCLES),
    period_start=Day("current_period_start"),
    period_end=Day("current_period_end"),
    columns={"grace_days": Integer("grace_days"), "start_date": Day("date_start"), "end_date": Day("date_end")},
    on_create={"service_kind": Choice("service_kind", {"internet": "internet", "alarm": "alarm"}, default="internet")},
    state_field="state",
    state_for={"suspend": "suspended", "reconnect": "active"},
)

OCA = ContractMap(
    name="oca",
    model="contract.contract",
    partner="partner_id",
    domain=(("contract_type", "=", "sale"),),
    archive_flag="active",
    ref=FirstOf(("code", "name")),
    lifecycle=Choice("is_terminated", {True: "cancelled", False: "active"}, default="active"),
    price=LinesTotal(link="contract_line_ids", model="contract.line", amount="price_subtotal", unless="is_canceled"),
    currency=Related("currency_id"),
    cycle=Recurrence(
        unit="recurring_rule_type",
        count="recurring_interval",
        months={"monthly": 1, "monthlylastday": 1, "quarterly": 3, "semesterly": 6, "yearly": 12},
    ),
    period_start=Day("recurring_next_date"),
    columns={"start_date": Day("date_start"), "end_date": Day("date_end")},
    on_create={"service_kind": Const("internet")},
)

ENTERPRISE = ContractMap(
    name="enterprise",
    model="sale.order",
    partner="partner_id",
    domain=(("is_subscription", "=", True),),
    ref=Text("name"),
    lifecycle=Choice(
        "subscription_state",
        {"1_draft": "draft", "2_renewal": "draft", "3_progress": "active", "4_paused": "active",
         "5_renewed": "cancelled", "6_churn": "cancelled", "7_upsell": "draft"},
        default="draft",
    ),
    price=LinesTotal(link="order_line", model="sale.order.line", amount="price_subtotal", when="recurring_invoice"),
    currency=Related("currency_id"),
    cycle=Recurrence(
        unit="billing_period_unit",
        count="billing_period_value",
        months={"month": 1, "year": 12},
        via="plan_id",
        via_model="sale.subscription.plan",
    ),
    period_start=Day("next_invoice_date"),
    columns={"start_date": Day("start_date"), "end_date": Day("end_date")},
    on_create={"service_kind": Const("internet")},
    state_field="subscription_state",
    state_for={"suspend": "4_paused", "reconnect": "3_progress"},
)

CONTRACT_MAPS: Mapping[str, ContractMap] = {m.name: m for m in (CENTINELA, OCA, ENTERPRISE)}
