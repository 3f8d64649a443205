"""What the event writer keeps of the database from one batch to the next."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from centinela.receiver.classify import AccountIndex, AccountMatch, index_candidates

_ACCOUNTS_FOR = """
SELECT a.id, a.account_number, a.receiver, a.line,
       coalesce(k.customer_id, a.customer_id), cu.name, k.state
FROM alarm_accounts a
LEFT JOIN contracts k ON k.id = (
    SELECT id FROM contracts
    WHERE alarm_account_id = a.id AND service_kind = 'alarm' AND state <> 'cancelled'
    ORDER BY id DESC LIMIT 1)
LEFT JOIN customers cu ON cu.id = coalesce(k.customer_id, a.customer_id)
WHERE {where}
"""


def _lookup(db: sqlite3.Connection, where: str, params: Sequence[str]) -> dict[str, list[AccountMatch]]:
    return index_candidates(AccountMatch(*row) for row in db.execute(_ACCOUNTS_FOR.format(where=where), params))


class WriterView:
    """What the writer knows of the database from one batch to the next: registered accounts,
    the last event id, the accounts late to test.

    ``PRAGMA data_version`` on the writer's connection changes only when another connection
    commits. Read inside the writer's transaction, an unchanged value proves that what is kept
    here is what the database holds, so a steady stream from known panels costs no lookups
    beyond the duplicate check. After another connection's commit, the event id and the late
    accounts are read again; the accounts are kept unless the ``accounts`` counter moved (triggers
    move it on any change to accounts, contracts or customers, migration 0008), since most commits
    (an operator taking an alarm, a lone signal the console committed) leave them alone. The
    writer's first transaction loads every registered account; after an account change they are
    looked up again as batches name them. Jobs may mark accounts late and add events
    (:meth:`forget_events` after each); a transaction that did not commit forgets everything.
    """

    ACCOUNTS_LIMIT = 200_000
    """Accounts remembered at most (a busy central station has tens of thousands)."""

    def __init__(self, *, preload: bool = True) -> None:
        self._preload = preload
        """Load every registered account in the first transaction (the writer process does;
        the console's own connection, which commits lone signals, looks them up as they come)."""
        self._version: int | None = None
        self._accounts_version: int | None = None
        self._accounts: dict[str, list[AccountMatch]] = {}
        self._complete = False  # every registered account is in _accounts
        self._last_event_id: int | None = None
        self._late: set[int] | None = None
        self._heard: dict[int, str] = {}  # last-heard time we wrote, per alarm account

    def refresh(self, db: sqlite3.Connection) -> None:
        (version,) = db.execute("PRAGMA data_version").fetchone()
        if version == self._version:
            return
        first = self._version is None
        self._version = version
        self.forget_events()
        (accounts_version,) = db.execute("SELECT version FROM store_versions WHERE name = 'accounts'").fetchone()
        if accounts_version != self._accounts_version:
            self._forget_accounts()
            self._accounts_version = accounts_version
            if first and self._preload:
                self._load_every_account(db)

    def forget(self) -> None:
        self._version = None
        self._accounts_version = None
        self._forget_accounts()
        self.forget_events()

    def _forget_accounts(self) -> None:
        self._accounts = {}
        self._complete = False
        self._heard.clear()

    def forget_events(self) -> None:
        self._last_event_id = None
        self._late = None

    def _load_every_account(self, db: sqlite3.Connection) -> None:
        # The writer's first transaction: every registered account at once, so a station whose
        # panels all report at start-up does not look them up a batch at a time.
        (count,) = db.execute("SELECT count(*) FROM alarm_accounts").fetchone()
        if count <= self.ACCOUNTS_LIMIT:
            self._accounts = _lookup(db, "1", ())
            self._complete = True

    def accounts(self, db: sqlite3.Connection, numbers: set[str]) -> AccountIndex:
        if self._complete:
            return self._accounts  # every registered account is here: the others are unknown
        if len(self._accounts) > self.ACCOUNTS_LIMIT:
            self._accounts.clear()
        known = self._accounts
        missing = {number for number in numbers if number not in known}  # not "- keys()": that walks every key
        if missing:
            found = _lookup(db, f"upper(a.account_number) IN ({', '.join('?' * len(missing))})", sorted(missing))
            for number in missing:
                self._accounts[number] = found.get(number, [])
        return self._accounts

    def last_event_id(self, db: sqlite3.Connection) -> int:
        if self._last_event_id is None:
            (self._last_event_id,) = db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
        return self._last_event_id

    def events_added(self, last_id: int) -> None:
        self._last_event_id = last_id

    def worth_writing(self, heard: dict[int, str]) -> list[tuple[int, str]]:
        """The last-heard times to store: at most one per account and second. Supervision counts
        in minutes and hours, and a panel sending a burst would otherwise rewrite its account
        row (a page of every commit) for each signal."""
        if len(self._heard) > self.ACCOUNTS_LIMIT:
            self._heard.clear()
        written = self._heard
        fresh = [(account_id, when) for account_id, when in heard.items()
                 if written.get(account_id, "")[:19] != when[:19]]  # same text up to the second
        written.update(fresh)
        return fresh

    def late(self, db: sqlite3.Connection) -> set[int]:
        """Alarm account ids currently late to test (the caller may discard ids it clears)."""
        if self._late is None:
            self._late = {account_id for (account_id,) in
                          db.execute("SELECT id FROM alarm_accounts WHERE late_since IS NOT NULL")}
        return self._late
