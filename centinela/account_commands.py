"""``centinela accounts``: per-account AES keys and supervision intervals from the shell."""

from __future__ import annotations

import argparse
import json
import os

from centinela.config import Config
from centinela.data import accounts
from centinela.data.audit import audit
from centinela.data.store import Store
from centinela.durations import format_duration


def shell_actor() -> str:
    """Who to record in the audit log for a shell command: the logged-in system user."""
    return f"shell:{os.environ.get('SUDO_USER') or os.environ.get('USER') or 'unknown'}"


async def set_account(config: Config, args: argparse.Namespace) -> int:
    key = args.key
    if args.key_env:
        key = os.environ.get(args.key_env)
        if not key:
            raise accounts.AccountError(f"environment variable {args.key_env} is not set")
    parsed_key = accounts.parse_key(key) if key else None
    store = await Store.open(config.data_dir)
    try:
        async with store.transaction() as db:
            account_id, created = await accounts.set_account(
                db, args.account, receiver=args.receiver, line=args.line, key=parsed_key,
                clear_key=args.clear_key, test_interval_s=args.test_interval,
            )
            await audit(db, shell_actor(), "create" if created else "update", "alarm_account", account_id,
                        {"key_changed": parsed_key is not None or args.clear_key,
                         "test_interval_s": args.test_interval})
    finally:
        await store.close()
    print(f"account {args.account.upper()} {'created' if created else 'updated'}")
    return 0


async def list_accounts(config: Config, *, as_json: bool) -> int:
    store = await Store.open(config.data_dir)
    try:
        rows = await accounts.list_accounts(store.reader)
    finally:
        await store.close()
    for row in rows:
        interval = format_duration(row.test_interval_s) if row.test_interval_s else None
        if as_json:
            print(json.dumps({
                "account": row.account_number, "receiver": row.receiver, "line": row.line,
                "customer": row.customer_name, "location": row.location, "key": accounts.mask_key(row.aes_key)
                if row.aes_key else None, "test_interval": interval,
                "last_seen_at": row.last_seen_at.isoformat() if row.last_seen_at else None, "late": row.late,
            }, ensure_ascii=False))
        else:
            print(f"{row.account_number or '-':<16} R{row.receiver or '*':<3} L{row.line or '*':<3} "
                  f"key {accounts.mask_key(row.aes_key):<16} test {interval or '-':<6} "
                  f"{'LATE ' if row.late else ''}{row.customer_name or '-'}")
    return 0
