"""``centinela sync``: the Odoo sync from the shell, its status, and the pushes Odoo refused.

    centinela sync [--once]      sync every minute until Ctrl-C (one cycle with --once)
    centinela sync status        link, last success and error, backlog, pull cursors
    centinela sync parked        the items Odoo refused, with the reason
    centinela sync retry ID      queue a parked item again once its data is fixed

Only one process syncs a data folder: while the console's owner process does, ``centinela sync``
says so and exits. Errors are one line on stderr; exit status 1 when Odoo could not be reached or
refused the credentials, 2 for a usage or settings problem.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from datetime import datetime
from typing import TYPE_CHECKING

from centinela.config import Config

if TYPE_CHECKING:
    from centinela.data.odoo_sync import SyncReport


class _Refused(Exception):
    """A problem to report in one line with exit status 2."""


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    sync = commands.add_parser("sync", parents=[common], help="Odoo sync: run it, see its status, retry parked pushes")
    sync.add_argument("--once", action="store_true", help="one push-and-pull cycle, then exit")
    actions = sync.add_subparsers(dest="sync_command", metavar="ACTION")
    status = actions.add_parser("status", parents=[common], help="link, last success, backlog and cursors")
    status.add_argument("--json", action="store_true", help="one JSON object")
    parked = actions.add_parser("parked", parents=[common], help="pushes Odoo refused, with the reason")
    parked.add_argument("--json", action="store_true", help="one JSON object per line")
    retry = actions.add_parser("retry", parents=[common], help="queue a parked push again")
    retry.add_argument("item", type=int, metavar="ID", help="the parked item's id (see 'sync parked')")


def dispatch(args: argparse.Namespace, config: Config) -> int:
    try:
        match getattr(args, "sync_command", None):
            case "status":
                return asyncio.run(_status(config, as_json=args.json))
            case "parked":
                return asyncio.run(_parked(config, as_json=args.json))
            case "retry":
                return asyncio.run(_retry(config, args.item))
            case _:
                return asyncio.run(_sync(config, once=args.once))
    except _Refused as exc:
        print(f"centinela: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how a shell sync is meant to end


def _when(instant: datetime | None) -> str:
    return f"{instant.astimezone():%Y-%m-%d %H:%M:%S}" if instant else "-"


async def _sync(config: Config, *, once: bool) -> int:
    from centinela.data.odoo_sync import SyncLock, SyncWorker
    from centinela.data.store import Store

    # The report lines say what the worker's warnings would; only failures of the program itself show.
    logging.basicConfig(level=logging.ERROR, format="centinela: %(levelname)s: %(message)s")
    lock = SyncLock(config.data_dir)
    store = await Store.open(config.data_dir)
    try:
        if not lock.try_acquire():
            raise _Refused(lock.holder())
        worker = SyncWorker(store, config, lock=lock)

        def show(report: SyncReport) -> None:
            if report.error:
                print(f"centinela: error: {report.error}", file=sys.stderr, flush=True)
            else:
                print(_report_line(report), flush=True)

        if not once:
            await worker.run(show)  # until Ctrl-C
            return 0
        report = await worker.sync_once()
        if worker.status.link in ("off", "misconfigured"):
            raise _Refused(report.error or worker.status.link)
        show(report)
        return 1 if report.error else 0
    finally:
        lock.release()
        await store.close()


def _report_line(report: SyncReport) -> str:
    pulled = report.pulled
    parts = [f"pushed {report.pushed}", f"parked {report.parked}"]
    if pulled is not None:
        parts.append(f"pulled {pulled.customers} customers, {pulled.contracts} contracts, "
                     f"{pulled.invoices} invoices, {pulled.payments} payments")
        if pulled.removed:
            parts.append(f"{pulled.removed} deleted in Odoo")
        if pulled.unbillable:
            parts.append(f"{pulled.unbillable} contracts with a cycle we do not bill")
    parts.append(f"{report.calls} calls")
    return f"{datetime.now():%H:%M:%S} " + ", ".join(parts)


async def _status(config: Config, *, as_json: bool) -> int:
    from centinela.data.odoo_sync import read_sync_status
    from centinela.data.settings import settings_with_prefix
    from centinela.data.settings_rules import odoo_from_saved
    from centinela.data.store import Store

    store = await Store.open(config.data_dir)
    try:
        status = await read_sync_status(store)
        odoo = odoo_from_saved(await settings_with_prefix(store.reader, "odoo"), config.odoo)
        async with store.reader.execute(
            "SELECT model, write_date, last_id, pulled_at, checked_at FROM odoo_cursors ORDER BY model"
        ) as cur:
            cursors = await cur.fetchall()
    finally:
        await store.close()
    if as_json:
        print(json.dumps({
            "enabled": odoo.enabled, "url": odoo.url, "database": odoo.database, "user": odoo.user,
            "transport": odoo.transport, "mapping": odoo.mapping, "link": status.link,
            "server_version": status.server_version,
            "last_success_at": status.last_success_at.isoformat() if status.last_success_at else None,
            "last_error": status.last_error,
            "last_error_at": status.last_error_at.isoformat() if status.last_error_at else None,
            "pending": status.pending, "parked": status.parked,
            "oldest_pending_at": status.oldest_pending_at.isoformat() if status.oldest_pending_at else None,
            "cursors": {model: {"write_date": write_date, "last_id": last_id, "pulled_at": pulled,
                                "checked_at": checked} for model, write_date, last_id, pulled, checked in cursors},
        }, ensure_ascii=False))
        return 0
    version = f" (Odoo {status.server_version})" if status.server_version else ""
    print(f"odoo          {'enabled' if odoo.enabled else 'disabled'}  {odoo.url or '-'}  database {odoo.database or '-'}"
          f"  user {odoo.user or '-'}  mapping {odoo.mapping}")
    print(f"link          {status.link}{version}  (as of {_when(status.updated_at)})")
    print(f"last success  {_when(status.last_success_at)}")
    print(f"last error    {status.last_error or '-'}" + (f"  ({_when(status.last_error_at)})" if status.last_error else ""))
    print(f"outbox        {status.pending} pending (oldest {_when(status.oldest_pending_at)}), {status.parked} parked")
    for model, write_date, last_id, _pulled, _checked in cursors:
        if write_date:
            print(f"cursor        {model:<24} {write_date} #{last_id}")
    return 0


async def _parked(config: Config, *, as_json: bool) -> int:
    from centinela.data.odoo_sync import parked_items
    from centinela.data.store import Store

    store = await Store.open(config.data_dir)
    try:
        items = await parked_items(store.reader)
    finally:
        await store.close()
    for item in items:
        if as_json:
            print(json.dumps({"id": item.id, "created_at": item.created_at.isoformat(), "operation": item.operation,
                              "payload": item.payload, "attempts": item.attempts, "error": item.error},
                             ensure_ascii=False))
        else:
            print(f"{item.id:>6}  {_when(item.created_at)}  {item.operation:<18} "
                  f"{json.dumps(item.payload, ensure_ascii=False)}  {item.error or '-'}")
    return 0


async def _retry(config: Config, item_id: int) -> int:
    from centinela.account_commands import shell_actor
    from centinela.data.odoo_sync import retry_parked
    from centinela.data.store import Store

    store = await Store.open(config.data_dir)
    try:
        async with store.transaction() as db:
            await retry_parked(db, item_id, shell_actor())
    except LookupError as exc:
        raise _Refused(str(exc)) from None
    finally:
        await store.close()
    print(f"outbox item {item_id} queued again")
    return 0
