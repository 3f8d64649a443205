"""Supervision rules: when a monitored account, or a receiver link, has been silent too long."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from centinela.receiver.classify import SYSTEM_PROTOCOL
from centinela.receiver.signal import Signal

LATE_TO_TEST = "LATE"
LINK_LOST = "LINK-LOST"
LINK_RESTORED = "LINK-OK"


@dataclass(frozen=True, slots=True)
class SupervisedAccount:
    account_number: str
    receiver: str | None
    line: str | None
    test_interval: timedelta
    last_seen: datetime | None
    registered: datetime
    late: bool


def is_overdue(account: SupervisedAccount, now: datetime) -> bool:
    """Silent for longer than its test interval (counting from registration if never heard);
    an account already reported late is not reported again until it is heard from."""
    if account.late:
        return False
    return now - (account.last_seen or account.registered) > account.test_interval


def late_to_test_signal(account: SupervisedAccount, now: datetime) -> Signal:
    since = account.last_seen.isoformat() if account.last_seen else "nunca"
    return Signal(
        protocol=SYSTEM_PROTOCOL,
        raw=f"late-to-test account={account.account_number} last_seen={since}",
        account=account.account_number,
        receiver=account.receiver,
        line=account.line,
        code=LATE_TO_TEST,
        text=f"Sin reporte desde {since}; intervalo {account.test_interval}",
    )


def link_signal(label: str, lost: bool, detail: str = "") -> Signal:
    """A receiver link (serial port, listener) went silent or came back."""
    code = LINK_LOST if lost else LINK_RESTORED
    return Signal(protocol=SYSTEM_PROTOCOL, raw=f"{code.lower()} {label}", receiver=label, code=code,
                  text=detail or None)
