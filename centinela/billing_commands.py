"""``centinela bill``, ``routers``, ``payments`` and ``import``: billing from the shell.

``register(subcommands, common)`` adds the parsers; ``dispatch(args, config)`` runs the chosen one.
Errors are one line on stderr and exit status 2; a run that finished with problems (a contract it
could not bill, a router that did not answer) exits 1 after listing them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from centinela.config import Config

if TYPE_CHECKING:  # the billing stack loads only when a billing command runs, not for every command
    from centinela.billing.worker import BillingReport, BillingWorker, CutoffReport, PlannedChange, RefreshPayments
    from centinela.data.billing_store import Customer
    from centinela.data.store import Store

COMMANDS: Final = frozenset({"bill", "routers", "payments", "import"})


class CommandError(Exception):
    """What the user asked cannot be done; the message says why, in one line."""


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _amount(text: str) -> Decimal:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount (e.g. 25.50)") from None
    if not amount.is_finite() or amount <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive amount")
    return amount


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    bill = subcommands.add_parser("bill", parents=[common], help="bill the periods due on a date, then run cutoffs")
    bill.add_argument("--date", type=_day, metavar="YYYY-MM-DD", help="billing date (default: today)")
    bill.add_argument("--dry-run", action="store_true", help="show what it would do; change nothing")
    bill.add_argument("--json", action="store_true", help="one JSON document")

    routers = subcommands.add_parser("routers", parents=[common], help="MikroTik routers that cut service")
    actions = routers.add_subparsers(dest="routers_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", parents=[common], help="add a router, or update the one of that name")
    add.add_argument("name")
    add.add_argument("--host", required=True)
    add.add_argument("--port", type=int, help="API port (default 8728, or 8729 with --tls)")
    add.add_argument("--tls", action="store_true", help="API-SSL; the certificate is verified")
    add.add_argument("--tls-ca", metavar="PEM", help="CA or self-signed certificate to verify the router with")
    add.add_argument("--user", required=True)
    add.add_argument("--password-env", required=True, metavar="VAR", help="environment variable with the password")
    add.add_argument("--method", choices=("address-list", "ppp-secret"), default="address-list")
    add.add_argument("--list", dest="list_name", default="morosos", help="address list of cut customers")
    add.add_argument("--notice-list", metavar="LIST", help="address list that shows the payment notice")
    add.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the router (default 10)")
    add.add_argument("--disabled", action="store_true", help="keep it but send it nothing")
    listing = actions.add_parser("list", parents=[common], help="list routers (passwords never shown)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    reconcile = actions.add_parser("reconcile", parents=[common],
                                   help="make each router's marked entries match who must be cut now")
    reconcile.add_argument("--dry-run", action="store_true", help="show the changes; make none")
    reconcile.add_argument("--router", action="append", metavar="NAME", help="only this router (repeatable)")

    payments = subcommands.add_parser("payments", parents=[common], help="customer payments")
    payment_actions = payments.add_subparsers(dest="payments_command", metavar="ACTION", required=True)
    pay = payment_actions.add_parser("add", parents=[common],
                                     help="register a payment: settles invoices oldest first, reconnects")
    pay.add_argument("--customer", required=True, metavar="REF", help="customer reference")
    pay.add_argument("--amount", required=True, type=_amount)
    pay.add_argument("--currency", help="ISO 4217 code (default: the customer's)")
    pay.add_argument("--date", type=_day, metavar="YYYY-MM-DD", help="payment date (default: today)")
    pay.add_argument("--reference", help="bank or receipt reference")
    pay.add_argument("--method", help="cash, transfer, card…")

    imports = subcommands.add_parser("import", parents=[common], help="import customers or contracts from CSV")
    what = imports.add_subparsers(dest="import_command", metavar="WHAT", required=True)
    for name, text in (("customers", "customers (key: ref)"), ("contracts", "contracts (key: ref)")):
        one = what.add_parser(name, parents=[common], help=f"import {text}")
        one.add_argument("file", type=Path)
        one.add_argument("--skip-invalid", action="store_true", help="import the valid lines, skip the others")


def dispatch(args: argparse.Namespace, config: Config, *, refresh_payments: RefreshPayments | None = None) -> int:
    """Run the subcommand; ``refresh_payments`` is the Odoo pull to call before cuts (default: the
    Odoo sync's, which answers "fresh" at once when Odoo is off)."""
    from centinela.data.billing_import import ImportFileError
    from centinela.data.billing_runs import RunBusyError
    from centinela.data.billing_store import BillingStoreError

    try:
        return asyncio.run(_run(args, config, refresh_payments))
    except (CommandError, RunBusyError, BillingStoreError, ImportFileError) as error:
        print(f"centinela: error: {error}", file=sys.stderr)
        return 2


async def _run(args: argparse.Namespace, config: Config, refresh: RefreshPayments | None) -> int:
    from centinela.account_commands import shell_actor
    from centinela.billing.worker import BillingWorker
    from centinela.data.store import Store

    store = await Store.open(config.data_dir)
    try:
        if args.command == "bill":
            worker = BillingWorker(store, refresh_payments=refresh or _odoo_refresh(store, config))
            return await _bill(worker, args)
        if args.command == "routers":
            if args.routers_command == "add":
                return await _add_router(store, args)
            if args.routers_command == "list":
                return await _list_routers(store, as_json=args.json)
            return await _reconcile(BillingWorker(store, actor=shell_actor()), args)
        if args.command == "payments":
            from centinela.data.odoo_sync import odoo_enabled

            return await _add_payment(BillingWorker(store, odoo_is_master=lambda: odoo_enabled(store, config)), args)
        return await _import(store, args)
    finally:
        await store.close()


def _odoo_refresh(store: Store, config: Config) -> RefreshPayments:
    from centinela.data.odoo_sync import SyncWorker

    return SyncWorker(store, config).refresh_payments


# --- bill --------------------------------------------------------------------------------------


@contextmanager
def _progress() -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr when it is a terminal (stdout may be a pipe to a file)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("customers"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=Console(stderr=True), transient=True)
    task = bar.add_task("billing", total=None)
    with bar:
        yield lambda done, total: bar.update(task, completed=done, total=total)


async def _bill(worker: BillingWorker, args: argparse.Namespace) -> int:
    day = args.date or await worker.today()
    with _progress() as progress:
        billed = await worker.run_billing(day, dry_run=args.dry_run, progress=progress)
    cutoffs = await worker.run_cutoffs(dry_run=args.dry_run)
    if args.json:
        print(json.dumps(_bill_json(billed, cutoffs), ensure_ascii=False, indent=2))
    else:
        for line in _bill_text(billed, cutoffs):
            print(line)
    return 1 if billed.problems or cutoffs.problems else 0


def _change_json(item: PlannedChange) -> dict[str, Any]:
    change, contract, customer = item.change, item.contract, item.customer
    return {
        "contract": contract.ref, "service": str(contract.contract.service_kind),
        "customer": customer.ref if customer else None, "customer_name": customer.name if customer else None,
        "from": str(change.old_state), "to": str(change.new_state), "reason": change.reason,
        "invoice_id": change.invoice_id, "days_overdue": change.days_overdue,
        "router": item.router, "target": contract.router_target,
    }


def _bill_json(billed: BillingReport, cutoffs: CutoffReport) -> dict[str, Any]:
    if billed.dry_run:
        invoices: list[dict[str, Any]] = []
        for draft in billed.drafts:
            customer = billed.customers.get(draft.customer_id)
            invoices.append({
                "customer": {"id": draft.customer_id, "ref": customer.ref if customer else None,
                             "name": customer.name if customer else None},
                "currency": draft.currency, "invoice_date": draft.invoice_date.isoformat(),
                "due_date": draft.due_date.isoformat(), "subtotal": str(draft.subtotal), "tax": str(draft.tax),
                "total": str(draft.total),
                "lines": [{"contract": billed.contract_refs.get(line.contract_id), "kind": str(line.kind),
                           "description": line.description, "period_start": line.period_start.isoformat(),
                           "period_end": line.period_end.isoformat(), "amount": str(line.amount),
                           "tax_rate": None if line.tax_rate is None else str(line.tax_rate), "tax": str(line.tax)}
                          for line in draft.lines],
            })
    else:
        invoices = [{"id": invoice.id, "number": invoice.number, "customer_id": invoice.customer_id,
                     "currency": invoice.currency, "total": str(invoice.total)} for invoice in billed.posted]
    return {
        "date": billed.run_date.isoformat(),
        "dry_run": billed.dry_run,
        "invoice_count": billed.invoice_count,
        "totals": {currency: str(total) for currency, total in billed.totals().items()},
        "invoices": invoices,
        "skipped_lines": billed.skipped_lines,
        "standing_date": cutoffs.day.isoformat(),
        "suspensions": [_change_json(item) for item in cutoffs.suspensions],
        "reconnections": [_change_json(item) for item in cutoffs.reconnections],
        "other_changes": [_change_json(item) for item in cutoffs.changes
                          if not item.change.is_cut and not item.change.is_reconnection],
        "router": None if cutoffs.dry_run else {"done": cutoffs.router.done, "retrying": cutoffs.router.retrying,
                                                "failed": cutoffs.router.failed},
        "problems": [*billed.problems, *cutoffs.problems],
    }


def _change_text(item: PlannedChange) -> str:
    customer = item.customer.label if item.customer else "?"
    where = f"  [{item.router} {item.contract.router_target}]" if item.router else ""
    return f"  {item.contract.ref:<12} {customer}{where}: {item.change.reason}"


def _bill_text(billed: BillingReport, cutoffs: CutoffReport) -> Iterator[str]:
    mode = " (dry run: nothing was stored)" if billed.dry_run else ""
    yield f"Billing for {billed.run_date}{mode}"
    if billed.dry_run:
        for draft in billed.drafts:
            customer = billed.customers.get(draft.customer_id)
            yield ""
            yield f"{customer.label if customer else draft.customer_id}"
            yield f"  invoice {draft.invoice_date}, due {draft.due_date}, {draft.currency}"
            for line in draft.lines:
                tax = f"  tax {line.tax}" if line.tax else ""
                ref = billed.contract_refs.get(line.contract_id, "")
                yield f"    {ref:<12} {line.description:<60} {line.amount:>12}{tax}"
            yield f"    total {draft.currency} {draft.total}"
        yield ""
    totals = ", ".join(f"{currency} {total}" for currency, total in billed.totals().items()) or "nothing"
    verb = "would be posted" if billed.dry_run else "posted"
    yield f"{billed.invoice_count} invoice(s) {verb}: {totals}"
    if billed.posted:
        yield f"  {billed.posted[0].number} .. {billed.posted[-1].number}"
    if billed.skipped_lines:
        yield f"  {billed.skipped_lines} period(s) were billed already and were skipped"
    yield f"Suspensions as of {cutoffs.day}: {len(cutoffs.suspensions)}"
    yield from (_change_text(item) for item in cutoffs.suspensions)
    yield f"Reconnections: {len(cutoffs.reconnections)}"
    yield from (_change_text(item) for item in cutoffs.reconnections)
    others: defaultdict[str, int] = defaultdict(int)
    for item in cutoffs.changes:
        if not item.change.is_cut and not item.change.is_reconnection:
            others[str(item.change.new_state)] += 1
    if others:
        yield "Other state changes: " + ", ".join(f"{count} to {state}" for state, count in sorted(others.items()))
    if not cutoffs.dry_run and (cutoffs.router.done or cutoffs.router.retrying or cutoffs.router.failed):
        router = cutoffs.router
        yield f"Router actions: {router.done} confirmed, {router.retrying} queued for retry, {router.failed} failed"
    problems = [*billed.problems, *cutoffs.problems]
    if problems:
        yield f"Problems: {len(problems)}"
        yield from (f"  {problem}" for problem in problems)


# --- routers -----------------------------------------------------------------------------------


async def _add_router(store: Store, args: argparse.Namespace) -> int:
    from centinela.account_commands import shell_actor
    from centinela.billing.router import RouterConfig
    from centinela.data.router_store import save_router

    password = os.environ.get(args.password_env)
    if password is None:
        raise CommandError(f"environment variable {args.password_env} is not set")
    if args.port is not None and not 1 <= args.port <= 65535:
        raise CommandError(f"--port {args.port} is not a TCP port")
    if args.tls_ca and not Path(args.tls_ca).is_file():
        raise CommandError(f"--tls-ca {args.tls_ca}: no such file")
    try:
        config = RouterConfig(
            name=args.name, host=args.host, port=args.port, tls=args.tls, username=args.user, password=password,
            method=args.method, list_name=args.list_name, notice_list=args.notice_list, timeout=args.timeout,
            tls_ca_file=str(Path(args.tls_ca).resolve()) if args.tls_ca else None,
        )
    except ValueError as error:
        raise CommandError(str(error)) from None
    async with store.transaction() as db:
        created = await save_router(db, config, shell_actor(), enabled=not args.disabled)
    print(f"router {config.name} {'added' if created else 'updated'} ({config.host}:{config.api_port}, {config.method})")
    return 0


async def _list_routers(store: Store, *, as_json: bool) -> int:
    from centinela.data.router_store import router_summaries

    for router in await router_summaries(store.reader):
        if as_json:
            print(json.dumps({
                "name": router.name, "host": router.host, "port": router.port, "tls": router.tls,
                "user": router.username, "method": router.method, "list": router.list_name,
                "notice_list": router.notice_list, "enabled": router.enabled, "contracts": router.contracts,
                "suspended": router.suspended, "queued_actions": router.queued, "last_error": router.last_error,
            }, ensure_ascii=False))
            continue
        flags = [router.method, f"list {router.list_name}"]
        if router.notice_list:
            flags.append(f"notice {router.notice_list}")
        if router.tls:
            flags.append("tls")
        if not router.enabled:
            flags.append("DISABLED")
        queued = ""
        if router.queued:
            queued = f", {router.queued} queued" + (f" ({router.last_error})" if router.last_error else "")
        print(f"{router.name:<16} {router.host}:{router.port:<6} user {router.username:<12} {', '.join(flags)};"
              f" {router.contracts} contracts, {router.suspended} suspended{queued}")
    return 0


async def _reconcile(worker: BillingWorker, args: argparse.Namespace) -> int:
    reports = await worker.reconcile(dry_run=args.dry_run, names=args.router)
    trouble = False
    for report in reports:
        if report.error is not None:
            trouble = True
            print(f"{report.router}: {report.error}")
            continue
        if not report.actions:
            print(f"{report.router}: in order")
            continue
        verb = "would make" if args.dry_run else "made"
        print(f"{report.router}: {verb} {len(report.actions)} change(s)")
        results = report.results or (None,) * len(report.actions)
        for action, result in zip(report.actions, results, strict=True):
            status = "" if result is None else " ok" if result.ok else f" FAILED: {result.error} (queued for retry)"
            trouble |= result is not None and not result.ok
            print(f"  {action.action:<12} {action.target:<18} {action.contract_ref}{status}")
    if not reports:
        print("no enabled routers")
    return 1 if trouble else 0


# --- payments ----------------------------------------------------------------------------------


async def _add_payment(worker: BillingWorker, args: argparse.Namespace) -> int:
    from centinela.account_commands import shell_actor
    from centinela.billing.money import check_amount
    from centinela.data.billing_store import find_customer, invoice_numbers

    store = worker.store
    customer = await find_customer(store.reader, args.customer)
    if customer is None:
        raise CommandError(f"no customer with reference {args.customer}")
    currency = await _payment_currency(store, customer, args.currency)
    try:
        check_amount(args.amount, currency, "amount")
    except ValueError as error:
        raise CommandError(str(error)) from None
    report = await worker.register_payment(
        customer.id, args.amount, currency, args.date or await worker.today(),
        reference=args.reference, method=args.method, actor=shell_actor(),
    )
    numbers = await invoice_numbers(store.reader, [a.allocation.invoice_id for a in report.allocations])
    print(f"payment {report.payment_id}: {currency} {args.amount} from {customer.label}")
    for paid in report.allocations:
        print(f"  paid {paid.allocation.amount} of {numbers.get(paid.allocation.invoice_id)}")
    if report.credit:
        print(f"  credit left: {currency} {report.credit} (settles the next invoices)")
    for changed in report.changes:
        print(f"  {changed.contract.ref}: {changed.change.old_state} -> {changed.change.new_state}")
    if report.router.retrying or report.router.failed:
        print(f"  router: {report.router.retrying} action(s) queued for retry: {'; '.join(report.router.errors)}")
        return 1
    return 0


async def _payment_currency(store: Store, customer: Customer, given: str | None) -> str:
    from centinela.data.billing_store import customer_currencies

    if given:
        return given.upper()
    currencies = await customer_currencies(store.reader, customer.id)
    if len(currencies) != 1:
        known = f" (billed in {', '.join(sorted(currencies))})" if currencies else ""
        raise CommandError(f"give --currency for customer {customer.label}{known}")
    return currencies.pop()


# --- import ------------------------------------------------------------------------------------


async def _import(store: Store, args: argparse.Namespace) -> int:
    from centinela.account_commands import shell_actor
    from centinela.data.billing_import import import_contracts, import_customers

    importer = import_customers if args.import_command == "customers" else import_contracts
    if not args.file.is_file():
        raise CommandError(f"{args.file}: no such file")
    async with store.transaction() as db:
        report = await importer(db, args.file, skip_invalid=args.skip_invalid, actor=shell_actor())
    for error in report.errors:
        print(error)
    if report.errors and not args.skip_invalid:
        print(f"centinela: error: {len(report.errors)} invalid line(s) of {report.lines}; nothing imported"
              " (fix them, or use --skip-invalid to import the others)", file=sys.stderr)
        return 1
    skipped = f"; {len(report.errors)} invalid line(s) skipped" if report.errors else ""
    print(f"{args.import_command}: {report.created} created, {report.updated} updated{skipped}")
    return 0

