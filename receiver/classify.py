"""Pure rules that turn a decoded signal into what the central station does with it.

Who owns the account, how urgent the signal is, and whether an operator must handle it: no I/O
here, so every rule is tested with plain values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from centinela.receiver import catalog
from centinela.receiver.signal import Signal

HIGH = 2
"""An operator must look at anything at this level or more urgent."""

_LIFE_SAFETY = frozenset({"fire", "panic", "medical", "gas"})
_NOT_ALARMS = frozenset({"openclose", "access"})


@dataclass(frozen=True, slots=True)
class AccountMatch:
    """A monitored account as found in the store, with the contract holder resolved."""

    alarm_account_id: int
    account_number: str
    receiver: str | None
    line: str | None
    customer_id: int | None
    customer_name: str | None
    contract_state: str | None

    @property
    def suspended(self) -> bool:
        return self.contract_state == "suspended"


def normalize_account(account: str | None) -> str | None:
    """Account numbers are hex on the wire; panels differ in letter case and padding spaces."""
    if account is None:
        return None
    account = account.strip().upper()
    return account or None


AccountIndex = Mapping[str, Sequence[AccountMatch]]
"""Registered accounts grouped by normalized account number (see :func:`index_candidates`)."""


def index_candidates(candidates: Iterable[AccountMatch]) -> dict[str, list[AccountMatch]]:
    """Group by account number once per batch, so matching each signal is a lookup."""
    index: dict[str, list[AccountMatch]] = {}
    for candidate in candidates:
        number = normalize_account(candidate.account_number)
        if number is not None:
            index.setdefault(number, []).append(candidate)
    return index


def match_account(
    candidates: AccountIndex, account: str | None, receiver: str | None, line: str | None
) -> AccountMatch | None:
    """The most specific registered account: receiver and line both match, then one, then neither.

    A NULL receiver or line on the registered account matches any value, so a small station can
    register account numbers alone.
    """
    account = normalize_account(account)
    if account is None:
        return None
    best: tuple[int, AccountMatch] | None = None
    for candidate in candidates.get(account, ()):
        score = 0
        for registered, received in ((candidate.receiver, receiver), (candidate.line, line)):
            if registered is None:
                continue
            if registered != received:
                break
            score += 1
        else:
            if best is None or score > best[0]:
                best = (score, candidate)
    return best[1] if best else None


SYSTEM_PROTOCOL = "SYSTEM"
"""Events the central station raises itself (late to test, receiver link lost)."""


def family_of(protocol: str) -> catalog.Family | None:
    """Which code table a protocol's codes come from (Contact ID, SIA or our own), if any."""
    if protocol == SYSTEM_PROTOCOL:
        return "sys"
    if protocol.endswith("CID"):
        return "cid"
    if protocol.endswith("SIA") or protocol.endswith("DCS"):
        return "sia"
    return None


def code_info(signal: Signal) -> catalog.CodeInfo | None:
    family = family_of(signal.protocol)
    if family is None or signal.code is None:
        return None
    return catalog.lookup(family, signal.code)


def priority_of(
    signal: Signal,
    match: AccountMatch | None,
    overrides: Mapping[tuple[str, str], int],
) -> int:
    """Priority level (1 = most urgent) for a signal.

    An admin's per-code override wins over the catalogue; a Contact ID restore (qualifier 3) of an
    alarm is news that things are back to normal, so it drops to low (life-safety) or info; a
    status report (qualifier 6) is never more urgent than low. A signal from an account nobody
    registered is raised to at least high: someone must find out who is sending it.
    """
    family = family_of(signal.protocol)
    info = code_info(signal)
    override = overrides.get((family, signal.code.upper())) if family and signal.code else None
    if override is not None:
        level = override
    elif info is None:
        level = catalog.unknown(family or "cid", signal.code).priority
    else:
        level = info.priority
        if family == "cid" and info.category not in _NOT_ALARMS:
            if signal.qualifier == "3":
                level = max(level, 5 if info.category in _LIFE_SAFETY else 6)
            elif signal.qualifier == "6":
                level = max(level, 5)
    if match is None and signal.protocol != SYSTEM_PROTOCOL:
        level = min(level, HIGH)
    return level
