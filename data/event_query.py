"""What the operator asked to see in the event list, as SQL for the store and as a predicate for
events that arrive while the filter is on. Pure: no database, no widgets."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from centinela.data.records import EventRecord, EventStatus
from centinela.receiver import catalog
from centinela.receiver.classify import family_of, normalize_account


@dataclass(frozen=True, slots=True)
class EventFilter:
    text: str = ""
    """Matches the customer's name, the account, the code or the code's description."""
    account: str = ""
    priority: int | None = None
    """Show this level and anything more urgent."""
    status: EventStatus | None = None

    @property
    def active(self) -> bool:
        return bool(self.text.strip() or self.account.strip() or self.priority or self.status)


@lru_cache(maxsize=256)
def codes_described_by(text: str, lang: str) -> tuple[str, ...]:
    """Codes of every family whose description (either language) contains ``text``."""
    needle = text.casefold()
    found = []
    for family in ("cid", "sia", "sys"):
        for info in catalog.all_codes(family):  # type: ignore[arg-type]
            if needle in info.es.casefold() or needle in info.en.casefold():
                found.append(info.code)
    return tuple(sorted(set(found)))


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def filter_sql(event_filter: EventFilter, lang: str = "es") -> tuple[str, list[object]]:
    """A WHERE clause (without the keyword; "1" when nothing is filtered) and its parameters."""
    clauses: list[str] = []
    params: list[object] = []
    text = event_filter.text.strip()
    if text:
        alternatives = ["customer_name LIKE ? ESCAPE '\\'", "account LIKE ? ESCAPE '\\'", "upper(code) = ?"]
        params += [_like(text), _like(text), text.upper()]
        codes = codes_described_by(text, lang)
        if codes:
            alternatives.append(f"code IN ({', '.join('?' * len(codes))})")
            params += list(codes)
        clauses.append("(" + " OR ".join(alternatives) + ")")
    account = normalize_account(event_filter.account)
    if account:
        clauses.append("upper(account) LIKE ? ESCAPE '\\'")
        params.append(_like(account))
    if event_filter.priority:
        clauses.append("priority <= ?")
        params.append(event_filter.priority)
    if event_filter.status:
        clauses.append("status = ?")
        params.append(event_filter.status)
    return (" AND ".join(clauses) or "1"), params


def matches(event: EventRecord, event_filter: EventFilter, lang: str = "es") -> bool:
    """The same test as :func:`filter_sql`, for one event already in memory."""
    text = event_filter.text.strip()
    if text:
        needle = text.casefold()
        hit = (
            needle in (event.customer_name or "").casefold()
            or needle in (event.account or "").casefold()
            or (event.code or "").upper() == text.upper()
            or (event.code is not None and family_of(event.protocol) is not None
                and event.code.upper() in codes_described_by(text, lang))
        )
        if not hit:
            return False
    account = normalize_account(event_filter.account)
    if account and account not in (event.account or "").upper():
        return False
    if event_filter.priority and event.priority > event_filter.priority:
        return False
    if event_filter.status and event.status != event_filter.status:
        return False
    return True
