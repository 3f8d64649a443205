"""Billing periods computed from a contract's anchor day.

A contract is billed in periods of its plan's cycle (1, 2, 3, 6 or 12 months). Every period starts
on an *anchor date*: the anchor day (1..31) of some month, or that month's last day when the month
is shorter (anchor 31 -> 30 April, 28 or 29 February). Periods are computed from the anchor, never
chained from the previous end, so anchor 31 goes back to the 31st after February.

A period that starts on a date that is not an anchor date (a contract starting off-anchor, or whose
anchor day was changed) is a *partial* period: it runs to the day before the next anchor date, and
is prorated against the full cycle period that ends on the same day (see
`centinela.billing.invoicing`). From then on every period is a full cycle.

Periods are inclusive: `end` is the last day of service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache

from dateutil.relativedelta import relativedelta

_ONE_DAY = timedelta(days=1)
# A billing run asks for the same few anchor dates and periods for every contract, and relativedelta
# costs tens of microseconds a call: the pure functions below are memoized.
_MEMO_SIZE = 1 << 16


class Cycle(StrEnum):
    MONTHLY = "monthly"
    BIMONTHLY = "bimonthly"
    QUARTERLY = "quarterly"
    SEMIANNUAL = "semiannual"
    YEARLY = "yearly"

    @property
    def months(self) -> int:
        return _CYCLE_MONTHS[self]


_CYCLE_MONTHS = {
    Cycle.MONTHLY: 1,
    Cycle.BIMONTHLY: 2,
    Cycle.QUARTERLY: 3,
    Cycle.SEMIANNUAL: 6,
    Cycle.YEARLY: 12,
}


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"period ends ({self.end}) before it starts ({self.start})")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


def check_anchor_day(anchor_day: int) -> None:
    if not 1 <= anchor_day <= 31:
        raise ValueError(f"anchor day must be 1..31, not {anchor_day}")


@lru_cache(maxsize=_MEMO_SIZE)
def anchored_date(year: int, month: int, anchor_day: int) -> date:
    """The anchor date of a month: the anchor day, or the month's last day when it is shorter."""
    check_anchor_day(anchor_day)
    # relativedelta(day=N) clamps N to the month's length.
    return date(year, month, 1) + relativedelta(day=anchor_day)


def _anchored_months_later(day: date, months: int, anchor_day: int) -> date:
    first = date(day.year, day.month, 1) + relativedelta(months=months)
    return anchored_date(first.year, first.month, anchor_day)


def is_anchor_date(day: date, anchor_day: int) -> bool:
    return day == anchored_date(day.year, day.month, anchor_day)


def next_anchor_after(day: date, anchor_day: int) -> date:
    """The first anchor date strictly after `day`."""
    this_month = anchored_date(day.year, day.month, anchor_day)
    if this_month > day:
        return this_month
    return _anchored_months_later(day, 1, anchor_day)


@lru_cache(maxsize=_MEMO_SIZE)
def period_starting(start: date, anchor_day: int, cycle: Cycle) -> Period:
    """The period that starts on `start`: a full cycle from an anchor date, else partial."""
    if is_anchor_date(start, anchor_day):
        next_start = _anchored_months_later(start, cycle.months, anchor_day)
    else:
        next_start = next_anchor_after(start, anchor_day)
    return Period(start, next_start - _ONE_DAY)


def period_after(period: Period, anchor_day: int, cycle: Cycle) -> Period:
    return period_starting(period.end + _ONE_DAY, anchor_day, cycle)


@lru_cache(maxsize=_MEMO_SIZE)
def full_period_ending(end: date, anchor_day: int, cycle: Cycle) -> Period:
    """The full cycle period whose last day is `end` (the day before an anchor date)."""
    next_start = end + _ONE_DAY
    if not is_anchor_date(next_start, anchor_day):
        raise ValueError(f"{end} is not the day before an anchor date (anchor day {anchor_day})")
    return Period(_anchored_months_later(next_start, -cycle.months, anchor_day), end)
