"""The late-to-test sweep, run as a writer job so its events commit like any other signal."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlite3

from centinela.data.timeutil import from_db, to_db
from centinela.receiver.signal import Signal
from centinela.receiver.supervision import SupervisedAccount, is_overdue, late_to_test_signal


def late_to_test_sweep(db: sqlite3.Connection, now: datetime) -> list[Signal]:
    """Raise one "late to test" per account that has been silent past its interval (a writer job:
    runs on the event writer's thread, inside its transaction)."""
    rows = db.execute(
        "SELECT id, account_number, receiver, line, test_interval_s, last_seen_at, created_at, late_since"
        " FROM alarm_accounts WHERE test_interval_s IS NOT NULL AND account_number IS NOT NULL"
    ).fetchall()
    signals: list[Signal] = []
    late_ids: list[int] = []
    for account_id, number, receiver, line, interval, last_seen, created, late_since in rows:
        registered = from_db(created)
        assert registered is not None
        account = SupervisedAccount(number, receiver, line, timedelta(seconds=interval), from_db(last_seen),
                                    registered, late_since is not None)
        if is_overdue(account, now):
            signals.append(late_to_test_signal(account, now))
            late_ids.append(account_id)
    if late_ids:
        db.executemany("UPDATE alarm_accounts SET late_since = ? WHERE id = ?",
                             [(to_db(now), account_id) for account_id in late_ids])
    return signals
