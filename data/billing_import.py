"""Importing customers and contracts from CSV files: the migration from the old system.

Files are UTF-8 (a spreadsheet's BOM is fine), separated by commas, semicolons or tabs (found from
the header line), with a header line naming the columns in any order; column names are matched
without regard to case. Columns a file leaves out are left as they are on records it updates.

Customers (key ``ref``)::

    ref,name,tax_id,email,phone,mobile,address,city,notes

Contracts (key ``ref``)::

    ref,customer_ref,service,plan,price,currency,cycle,tax_rate,billing_mode,start_date,
    anchor_day,next_period_start,grace_days,state,router,target,alarm_account

- required: ``ref``, ``customer_ref`` (a customer already in the store), ``service``
  (``internet`` | ``alarm``), ``plan`` (a plan name), ``start_date`` (``YYYY-MM-DD``);
- ``plan`` names a plan in the store, or a new one made from the line's ``price``, ``currency``
  (ISO 4217), ``cycle`` (monthly | bimonthly | quarterly | semiannual | yearly; monthly),
  ``tax_rate`` (``0.16`` or ``16%``; none) and ``billing_mode`` (prepaid | postpaid; prepaid).
  A price, currency or cycle that differs from the plan's is kept as the contract's own; tax rate
  and billing mode belong to the plan and must match it;
- ``next_period_start``: the first day not yet billed by the old system (default ``start_date``);
  ``anchor_day`` (1..31): the day periods start on (default that day's);
- ``grace_days``: overrides the plan's and the global default;
- ``state``: active (default), draft, suspended or cancelled. On an update, draft and cancelled are
  applied; active and suspended leave a contract in force in the state billing keeps (grace,
  notice, suspended), so re-importing a file never reconnects anyone;
- ``router`` (a router name, see ``centinela routers add``) and ``target``: the customer's IPv4
  address (address-list routers) or PPPoE user name (ppp-secret routers), for internet;
- ``alarm_account``: the panel's account number, for alarm monitoring (created if new).

Every line is checked before anything is written; with any invalid line nothing is imported,
unless ``skip_invalid``. Re-importing a file updates the records by their key. A contract already
billed keeps its billing cursor.
"""

from __future__ import annotations

import csv
import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

import aiosqlite

from centinela.billing.models import BillingMode
from centinela.billing.money import check_amount, check_rate, minor_unit
from centinela.billing.periods import Cycle, period_starting
from centinela.data.accounts import set_account
from centinela.data.audit import audit
from centinela.receiver.classify import normalize_account

CUSTOMER_COLUMNS: Final = ("ref", "name", "tax_id", "email", "phone", "mobile", "address", "city", "notes")
CUSTOMER_REQUIRED: Final = ("ref", "name")
CONTRACT_COLUMNS: Final = (
    "ref", "customer_ref", "service", "plan", "price", "currency", "cycle", "tax_rate", "billing_mode",
    "start_date", "anchor_day", "next_period_start", "grace_days", "state", "router", "target", "alarm_account",
)
CONTRACT_REQUIRED: Final = ("ref", "customer_ref", "service", "plan", "start_date")
REF_MAX: Final = 64
_STATES: Final = ("active", "draft", "suspended", "cancelled")
_SERVICES: Final = ("internet", "alarm")


class ImportFileError(Exception):
    """The file cannot be read as an import file at all; the message says why."""


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ImportReport:
    lines: int  # data lines read
    created: int
    updated: int
    errors: tuple[LineError, ...]  # the invalid lines: none imported when any is, unless skipped


@dataclass(frozen=True, slots=True)
class CsvLine:
    number: int  # the line the record starts on, the header being line 1
    values: Mapping[str, str]
    extra_cells: bool = False


def read_csv(path: Path, known: Sequence[str], required: Sequence[str]) -> tuple[tuple[str, ...], list[CsvLine]]:
    """The file's columns and data lines; raises :class:`ImportFileError` for a bad header."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFileError(f"{path} is not UTF-8 text (save it as CSV UTF-8): {error.reason}") from None
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count)
    reader = csv.reader(text.splitlines(keepends=True), delimiter=delimiter)
    try:
        header = tuple(name.strip().lower() for name in next(reader))
    except StopIteration:
        raise ImportFileError(f"{path} is empty") from None
    unknown = [name for name in header if name not in known]
    if unknown:
        raise ImportFileError(f"line 1: unknown column(s) {', '.join(unknown)}; columns are {', '.join(known)}")
    missing = [name for name in required if name not in header]
    if missing:
        raise ImportFileError(f"line 1: missing column(s) {', '.join(missing)}")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ImportFileError(f"line 1: column(s) {', '.join(repeated)} appear more than once")
    lines: list[CsvLine] = []
    start = reader.line_num + 1
    for cells in reader:
        if any(cell.strip() for cell in cells):
            values = {name: cell.strip() for name, cell in zip(header, cells, strict=False)}  # short rows: blanks
            lines.append(CsvLine(start, values, extra_cells=len(cells) > len(header)))
        start = reader.line_num + 1
    return header, lines


class _Checker:
    """Collects one line's problems; each ``*`` method returns the parsed value or None."""

    def __init__(self, line: CsvLine) -> None:
        self.values = line.values
        self.problems: list[str] = []
        if line.extra_cells:
            self.problems.append("more cells than the header has columns")

    def text(self, name: str, *, required: bool = False, max_len: int = 200) -> str | None:
        value = self.values.get(name, "")
        if not value:
            if required:
                self.problems.append(f"{name} is required")
            return None
        if len(value) > max_len:
            self.problems.append(f"{name} is longer than {max_len} characters")
        return value

    def choice(self, name: str, options: Sequence[str], default: str | None = None) -> str | None:
        value = self.values.get(name, "").lower()
        if not value:
            return default
        if value not in options:
            self.problems.append(f"{name} {value!r} is not one of {', '.join(options)}")
            return None
        return value

    def day(self, name: str, *, required: bool = False) -> date | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.problems.append(f"{name} {value!r} is not a date (YYYY-MM-DD)")
            return None

    def whole(self, name: str, low: int, high: int) -> int | None:
        value = self.text(name)
        if value is None:
            return None
        if not value.isdigit() or not low <= int(value) <= high:
            self.problems.append(f"{name} {value!r} is not a whole number from {low} to {high}")
            return None
        return int(value)

    def decimal(self, name: str) -> Decimal | None:
        value = self.text(name)
        if value is None:
            return None
        percent = value.endswith("%")
        number = value.removesuffix("%").strip()
        if "," in number and "." not in number:
            number = number.replace(",", ".")  # a decimal comma, as spreadsheets write it in Spanish
        try:
            parsed = Decimal(number)
        except InvalidOperation:
            self.problems.append(f"{name} {value!r} is not a number")
            return None
        if not parsed.is_finite():
            self.problems.append(f"{name} {value!r} is not a number")
            return None
        return parsed / 100 if percent else parsed


# --- customers ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerLine:
    line: int
    values: Mapping[str, str | None]  # the file's columns only

    @property
    def ref(self) -> str:
        value = self.values["ref"]
        assert value is not None
        return value


def check_customers(lines: Iterable[CsvLine], columns: Sequence[str]) -> tuple[list[CustomerLine], list[LineError]]:
    """Parse and check every line (pure)."""
    good: list[CustomerLine] = []
    errors: list[LineError] = []
    seen: dict[str, int] = {}
    for line in lines:
        check = _Checker(line)
        values = {name: check.text(name, required=name in CUSTOMER_REQUIRED,
                                   max_len=REF_MAX if name == "ref" else 200) for name in columns}
        email = values.get("email")
        if email and ("@" not in email or " " in email):
            check.problems.append(f"email {email!r} is not an e-mail address")
        ref = values.get("ref")
        if ref is not None and ref in seen:
            check.problems.append(f"ref {ref} repeats line {seen[ref]}")
        elif ref is not None:
            seen[ref] = line.number
        if check.problems:
            errors.append(LineError(line.number, "; ".join(check.problems)))
        else:
            good.append(CustomerLine(line.number, values))
    return good, errors


async def write_customers(
    db: aiosqlite.Connection, lines: Sequence[CustomerLine], columns: Sequence[str]
) -> tuple[int, int]:
    """Upsert by ref inside the caller's transaction; returns (created, updated)."""
    async with db.execute(
        "SELECT ref FROM customers WHERE ref IN (SELECT value FROM json_each(?))",
        (json.dumps([line.ref for line in lines]),),
    ) as cur:
        existing = {row[0] for row in await cur.fetchall()}
    names = list(columns)
    updates = ", ".join(f"{name} = excluded.{name}" for name in names if name != "ref")
    await db.executemany(
        f"INSERT INTO customers ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        f" ON CONFLICT (ref) DO UPDATE SET {updates}, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        [tuple(line.values[name] for name in names) for line in lines],
    )
    updated = sum(line.ref in existing for line in lines)
    return len(lines) - updated, updated


# --- contracts ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanSpec:
    """What a line says about its plan; None where the line is silent."""

    name: str
    service: str
    price: Decimal | None
    currency: str | None
    cycle: Cycle | None
    tax_rate: Decimal | None
    tax_given: bool
    billing_mode: BillingMode | None


@dataclass(frozen=True, slots=True)
class ContractLine:
    line: int
    ref: str
    customer_ref: str
    plan: PlanSpec
    start_date: date
    anchor_day: int | None
    next_period_start: date | None
    grace_days: int | None
    state: str | None
    router: str | None
    target: str | None
    alarm_account: str | None
    columns: frozenset[str]


def _parse_contract(line: CsvLine) -> tuple[ContractLine | None, list[str]]:
    check = _Checker(line)
    ref = check.text("ref", required=True, max_len=REF_MAX)
    customer_ref = check.text("customer_ref", required=True, max_len=REF_MAX)
    service = check.choice("service", _SERVICES)
    if service is None and not line.values.get("service"):
        check.problems.append("service is required")
    plan_name = check.text("plan", required=True)
    price = check.decimal("price")
    currency = (check.text("currency") or "").upper() or None
    if currency is not None:
        try:
            minor_unit(currency)
        except ValueError as error:
            check.problems.append(str(error))
            currency = None
    if price is not None and price < 0:
        check.problems.append(f"price {price} is negative")
    cycle_name = check.choice("cycle", [cycle.value for cycle in Cycle])
    tax_rate = check.decimal("tax_rate")
    try:
        check_rate(tax_rate)
    except ValueError:
        check.problems.append(f"tax_rate {line.values.get('tax_rate')!r} is not a rate from 0 to 1 (or 0% to 100%)")
    mode = check.choice("billing_mode", [mode.value for mode in BillingMode])
    start = check.day("start_date", required=True)
    anchor = check.whole("anchor_day", 1, 31)
    next_start = check.day("next_period_start")
    if start and next_start and next_start < start:
        check.problems.append(f"next_period_start {next_start} is before start_date {start}")
    grace = check.whole("grace_days", 0, 365)
    state = check.choice("state", _STATES)
    router = check.text("router")
    target = check.text("target")
    if (router is None) != (target is None):
        check.problems.append("router and target go together")
    if target is not None and not target.isprintable():
        check.problems.append("target has control characters")
    alarm_account = normalize_account(check.text("alarm_account", max_len=16))
    if alarm_account is not None and not alarm_account.isalnum():
        check.problems.append(f"alarm_account {alarm_account!r} is not an account number (letters and digits)")
    if service == "alarm" and router is not None:
        check.problems.append("an alarm contract has no router")
    if service == "internet" and alarm_account is not None:
        check.problems.append("an internet contract has no alarm account")
    if check.problems:
        return None, check.problems
    assert ref and customer_ref and service and plan_name and start
    plan = PlanSpec(plan_name, service, price, currency, Cycle(cycle_name) if cycle_name else None, tax_rate,
                    bool(line.values.get("tax_rate")), BillingMode(mode) if mode else None)
    return ContractLine(line.number, ref, customer_ref, plan, start, anchor, next_start, grace, state, router,
                        target, alarm_account, frozenset(line.values)), []


@dataclass(frozen=True, slots=True)
class StoredPlan:
    id: int | None  # None: created by this import
    service: str
    price: Decimal
    currency: str
    cycle: Cycle
    tax_rate: Decimal | None
    billing_mode: BillingMode


@dataclass(slots=True)
class References:
    """What the contract lines refer to, as the store has it (plans grow with new ones)."""

    customers: dict[str, int]
    plans: dict[str, StoredPlan]
    routers: dict[str, tuple[int, str]]  # name -> (id, method)
    new_plans: dict[str, int] = field(default_factory=dict)  # plan name -> line that defined it


async def _references(db: aiosqlite.Connection, lines: Sequence[ContractLine]) -> References:
    async with db.execute(
        "SELECT ref, id FROM customers WHERE ref IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted({line.customer_ref for line in lines})),),
    ) as cur:
        customers = {ref: id_ for ref, id_ in await cur.fetchall()}
    plans: dict[str, StoredPlan] = {}
    async with db.execute(
        "SELECT id, name, service_kind, price, currency, cycle, tax_rate, billing_mode FROM plans"
    ) as cur:
        for id_, name, service, price, currency, cycle, tax_rate, mode in await cur.fetchall():
            plans[name] = StoredPlan(id_, service, Decimal(price), currency, Cycle(cycle),
                                     Decimal(tax_rate) if tax_rate else None, BillingMode(mode))
    async with db.execute("SELECT name, id, method FROM routers") as cur:
        routers = {name: (id_, method) for name, id_, method in await cur.fetchall()}
    return References(customers, plans, routers)


def _check_references(line: ContractLine, refs: References) -> list[str]:
    """Problems with what the line refers to; a line without any defines its plan when it is new."""
    problems: list[str] = []
    if line.customer_ref not in refs.customers:
        problems.append(f"customer {line.customer_ref} does not exist (import customers first)")
    if line.router is not None:
        router = refs.routers.get(line.router)
        if router is None:
            problems.append(f"router {line.router!r} does not exist (add it with centinela routers add)")
        elif router[1] == "address-list":
            try:
                ipaddress.IPv4Address(line.target or "")
            except ValueError:
                problems.append(f"target {line.target!r} is not an IPv4 address (router {line.router} cuts by address)")
    spec = line.plan
    plan = refs.plans.get(spec.name)
    if plan is None:
        if spec.price is None or spec.currency is None:
            return [*problems, f"plan {spec.name!r} does not exist: give its price and currency to create it"]
        try:
            check_amount(spec.price, spec.currency, "price")
        except ValueError as error:
            return [*problems, str(error)]
        if not problems:
            refs.plans[spec.name] = StoredPlan(
                None, spec.service, spec.price, spec.currency, spec.cycle or Cycle.MONTHLY, spec.tax_rate,
                spec.billing_mode or BillingMode.PREPAID,
            )
            refs.new_plans[spec.name] = line.line
        return problems
    where = f"plan {spec.name!r}" + (f" (line {refs.new_plans[spec.name]})" if spec.name in refs.new_plans else "")
    if plan.service != spec.service:
        problems.append(f"{where} is for {plan.service}, not {spec.service}")
    if spec.tax_given and spec.tax_rate != plan.tax_rate:
        problems.append(f"{where} has tax rate {plan.tax_rate or 'none'}; tax belongs to the plan")
    if spec.billing_mode is not None and spec.billing_mode is not plan.billing_mode:
        problems.append(f"{where} is {plan.billing_mode}; the billing mode belongs to the plan")
    if spec.price is not None:
        try:
            check_amount(spec.price, spec.currency or plan.currency, "price")
        except ValueError as error:
            problems.append(str(error))
    return problems


def _effective(line: ContractLine, plan: StoredPlan) -> tuple[Cycle, dict[str, object]]:
    """The contract's cycle and its own price, currency and cycle where they differ from the plan's."""
    spec = line.plan
    cycle = spec.cycle or plan.cycle
    return cycle, {
        "price": str(spec.price) if spec.price is not None and spec.price != plan.price else None,
        "currency": spec.currency if spec.currency and spec.currency != plan.currency else None,
        "billing_cycle": cycle.value if cycle is not plan.cycle else None,
    }


async def _write_plans(db: aiosqlite.Connection, refs: References) -> dict[str, int]:
    ids = {name: plan.id for name, plan in refs.plans.items() if plan.id is not None}
    for name in refs.new_plans:
        plan = refs.plans[name]
        cursor = await db.execute(
            "INSERT INTO plans (name, service_kind, price, currency, tax_rate, cycle, billing_mode)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (name, plan.service, str(plan.price), plan.currency,
             None if plan.tax_rate is None else str(plan.tax_rate), plan.cycle.value, plan.billing_mode.value),
        )
        assert cursor.lastrowid is not None
        ids[name] = cursor.lastrowid
    return ids


async def _alarm_account_id(db: aiosqlite.Connection, number: str, customer_id: int) -> int:
    account_id, _ = await set_account(db, number, receiver=None, line=None, key=None, test_interval_s=None)
    await db.execute("UPDATE alarm_accounts SET customer_id = coalesce(customer_id, ?) WHERE id = ?",
                     (customer_id, account_id))
    return account_id


async def _existing_contracts(db: aiosqlite.Connection, refs: Iterable[str]) -> dict[str, tuple[int, str, bool]]:
    """ref -> (id, state, billed already)."""
    async with db.execute(
        "SELECT c.ref, c.id, c.state, EXISTS (SELECT 1 FROM invoice_lines l WHERE l.contract_id = c.id)"
        " FROM contracts c WHERE c.ref IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(set(refs))),),
    ) as cur:
        return {ref: (id_, state, bool(billed)) for ref, id_, state, billed in await cur.fetchall()}


def _new_state(stored: str, wanted: str | None) -> str:
    """On an update: draft and cancelled apply; otherwise billing keeps a contract in force as it is."""
    if wanted is None:
        return stored
    if wanted in ("draft", "cancelled") or stored in ("draft", "cancelled"):
        return wanted
    return stored


async def write_contracts(db: aiosqlite.Connection, lines: Sequence[ContractLine], refs: References) -> tuple[int, int]:
    """Upsert by ref inside the caller's transaction; returns (created, updated)."""
    plan_ids = await _write_plans(db, refs)
    existing = await _existing_contracts(db, (line.ref for line in lines))
    created = updated = 0
    for line in lines:
        plan = refs.plans[line.plan.name]
        cycle, own = _effective(line, plan)
        customer_id = refs.customers[line.customer_ref]
        cursor = line.next_period_start or line.start_date
        anchor = line.anchor_day or cursor.day
        period = period_starting(cursor, anchor, cycle)
        values: dict[str, Any] = {
            "customer_id": customer_id, "service_kind": line.plan.service, "plan_id": plan_ids[line.plan.name],
            **own, "start_date": line.start_date.isoformat(),
        }
        optional = {
            "grace_days": ("grace_days", line.grace_days),
            "router": ("router_id", refs.routers[line.router][0] if line.router else None),
            "target": ("router_target", line.target),
        }
        for column, (field_name, value) in optional.items():
            if column in line.columns:
                values[field_name] = value
        if "alarm_account" in line.columns:
            values["alarm_account_id"] = (
                await _alarm_account_id(db, line.alarm_account, customer_id) if line.alarm_account else None
            )
        found = existing.get(line.ref)
        if found is None or not found[2]:
            values.update(anchor_day=anchor, current_period_start=period.start.isoformat(),
                          current_period_end=period.end.isoformat())
        if found is None:
            values.update(ref=line.ref, state=line.state or "active")
            names = list(values)
            await db.execute(f"INSERT INTO contracts ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                             [values[name] for name in names])
            created += 1
        else:
            values["state"] = _new_state(found[1], line.state)
            assignments = ", ".join(f"{name} = ?" for name in values)
            await db.execute(
                f"UPDATE contracts SET {assignments}, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
                [*values.values(), found[0]],
            )
            updated += 1
    return created, updated


async def check_contracts(
    db: aiosqlite.Connection, lines: Sequence[CsvLine]
) -> tuple[list[ContractLine], list[LineError], References]:
    parsed: list[ContractLine] = []
    errors: list[LineError] = []
    seen: dict[str, int] = {}
    for line in lines:
        contract, problems = _parse_contract(line)
        ref = line.values.get("ref", "")
        if ref and ref in seen:
            problems.append(f"ref {ref} repeats line {seen[ref]}")
        elif ref:
            seen[ref] = line.number
        if contract is None or problems:
            errors.append(LineError(line.number, "; ".join(problems)))
        else:
            parsed.append(contract)
    refs = await _references(db, parsed)
    good: list[ContractLine] = []
    for contract in parsed:
        problems = _check_references(contract, refs)
        if problems:
            errors.append(LineError(contract.line, "; ".join(problems)))
        else:
            good.append(contract)
    errors.sort(key=lambda error: error.line)
    return good, errors, refs


# --- the two imports ---------------------------------------------------------------------------


async def import_customers(db: aiosqlite.Connection, path: Path, *, skip_invalid: bool, actor: str) -> ImportReport:
    """Check the file and, if nothing stops it, write it (inside the caller's transaction)."""
    columns, lines = read_csv(path, CUSTOMER_COLUMNS, CUSTOMER_REQUIRED)
    good, errors = check_customers(lines, columns)
    if errors and not skip_invalid:
        return ImportReport(len(lines), 0, 0, tuple(errors))
    created, updated = await write_customers(db, good, columns) if good else (0, 0)
    await audit(db, actor, "import.customers", "customer", None,
                {"file": str(path), "created": created, "updated": updated, "skipped": len(errors)})
    return ImportReport(len(lines), created, updated, tuple(errors))


async def import_contracts(db: aiosqlite.Connection, path: Path, *, skip_invalid: bool, actor: str) -> ImportReport:
    """Check the file against the store and, if nothing stops it, write it (caller's transaction)."""
    _, lines = read_csv(path, CONTRACT_COLUMNS, CONTRACT_REQUIRED)
    good, errors, refs = await check_contracts(db, lines)
    if errors and not skip_invalid:
        return ImportReport(len(lines), 0, 0, tuple(errors))
    created, updated = await write_contracts(db, good, refs) if good else (0, 0)
    await audit(db, actor, "import.contracts", "contract", None,
                {"file": str(path), "created": created, "updated": updated, "skipped": len(errors)})
    return ImportReport(len(lines), created, updated, tuple(errors))

