"""Billing periods: anchor dates, month ends, leap years, every cycle, partial first periods."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st

from centinela.billing.periods import (
    Cycle,
    Period,
    anchored_date,
    full_period_ending,
    is_anchor_date,
    next_anchor_after,
    period_after,
    period_starting,
)


def periods_from(start: date, anchor_day: int, cycle: Cycle, count: int) -> list[Period]:
    periods = [period_starting(start, anchor_day, cycle)]
    while len(periods) < count:
        periods.append(period_after(periods[-1], anchor_day, cycle))
    return periods


def test_month_end_anchors_clamp_to_the_last_day() -> None:
    assert anchored_date(2026, 1, 31) == date(2026, 1, 31)
    assert anchored_date(2026, 2, 31) == date(2026, 2, 28)
    assert anchored_date(2028, 2, 31) == date(2028, 2, 29)
    assert anchored_date(2026, 4, 31) == date(2026, 4, 30)
    assert anchored_date(2026, 2, 29) == date(2026, 2, 28)
    assert anchored_date(2028, 2, 29) == date(2028, 2, 29)
    assert anchored_date(2026, 2, 30) == date(2026, 2, 28)
    assert anchored_date(2026, 3, 30) == date(2026, 3, 30)


@pytest.mark.parametrize("anchor_day", [0, 32, -1])
def test_anchor_day_outside_1_to_31_is_rejected(anchor_day: int) -> None:
    with pytest.raises(ValueError):
        anchored_date(2026, 1, anchor_day)


def test_anchor_31_returns_to_the_31st_after_short_months() -> None:
    starts = [p.start for p in periods_from(date(2026, 1, 31), 31, Cycle.MONTHLY, 8)]
    assert starts == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
        date(2026, 6, 30),
        date(2026, 7, 31),
        date(2026, 8, 31),
    ]
    first, second = periods_from(date(2026, 1, 31), 31, Cycle.MONTHLY, 2)
    assert first == Period(date(2026, 1, 31), date(2026, 2, 27))
    assert second == Period(date(2026, 2, 28), date(2026, 3, 30))


def test_anchor_31_in_a_leap_year() -> None:
    periods = periods_from(date(2028, 1, 31), 31, Cycle.MONTHLY, 3)
    assert periods == [
        Period(date(2028, 1, 31), date(2028, 2, 28)),
        Period(date(2028, 2, 29), date(2028, 3, 30)),
        Period(date(2028, 3, 31), date(2028, 4, 29)),
    ]


@pytest.mark.parametrize(
    ("year", "february_start"),
    [(2026, date(2026, 2, 28)), (2028, date(2028, 2, 29))],
)
def test_anchor_29_around_february(year: int, february_start: date) -> None:
    periods = periods_from(date(year, 1, 29), 29, Cycle.MONTHLY, 3)
    assert [p.start for p in periods] == [date(year, 1, 29), february_start, date(year, 3, 29)]
    assert periods[1].end == date(year, 3, 28)


def test_anchor_30_around_february() -> None:
    periods = periods_from(date(2027, 1, 30), 30, Cycle.MONTHLY, 3)
    assert periods == [
        Period(date(2027, 1, 30), date(2027, 2, 27)),
        Period(date(2027, 2, 28), date(2027, 3, 29)),
        Period(date(2027, 3, 30), date(2027, 4, 29)),
    ]


@pytest.mark.parametrize(
    ("cycle", "end"),
    [
        (Cycle.MONTHLY, date(2026, 1, 31)),
        (Cycle.BIMONTHLY, date(2026, 2, 28)),
        (Cycle.QUARTERLY, date(2026, 3, 31)),
        (Cycle.SEMIANNUAL, date(2026, 6, 30)),
        (Cycle.YEARLY, date(2026, 12, 31)),
    ],
)
def test_each_cycle_from_an_anchor_date(cycle: Cycle, end: date) -> None:
    assert period_starting(date(2026, 1, 1), 1, cycle) == Period(date(2026, 1, 1), end)


@pytest.mark.parametrize(
    ("cycle", "second_start"),
    [
        (Cycle.MONTHLY, date(2026, 2, 28)),
        (Cycle.BIMONTHLY, date(2026, 3, 31)),
        (Cycle.QUARTERLY, date(2026, 4, 30)),
        (Cycle.SEMIANNUAL, date(2026, 7, 31)),
        (Cycle.YEARLY, date(2027, 1, 31)),
    ],
)
def test_each_cycle_keeps_anchor_31(cycle: Cycle, second_start: date) -> None:
    assert period_after(period_starting(date(2026, 1, 31), 31, cycle), 31, cycle).start == second_start


def test_yearly_anchor_on_leap_day() -> None:
    starts = [p.start for p in periods_from(date(2028, 2, 29), 29, Cycle.YEARLY, 5)]
    assert starts == [
        date(2028, 2, 29),
        date(2029, 2, 28),
        date(2030, 2, 28),
        date(2031, 2, 28),
        date(2032, 2, 29),
    ]


def test_off_anchor_start_is_a_partial_period_to_the_next_anchor() -> None:
    assert period_starting(date(2026, 11, 15), 1, Cycle.MONTHLY) == Period(date(2026, 11, 15), date(2026, 11, 30))
    assert period_starting(date(2026, 1, 20), 15, Cycle.MONTHLY) == Period(date(2026, 1, 20), date(2026, 2, 14))
    assert period_starting(date(2026, 1, 10), 15, Cycle.MONTHLY) == Period(date(2026, 1, 10), date(2026, 1, 14))


def test_partial_period_then_full_cycles() -> None:
    periods = periods_from(date(2026, 1, 20), 1, Cycle.QUARTERLY, 3)
    assert periods == [
        Period(date(2026, 1, 20), date(2026, 1, 31)),
        Period(date(2026, 2, 1), date(2026, 4, 30)),
        Period(date(2026, 5, 1), date(2026, 7, 31)),
    ]


def test_full_period_ending_on_a_partial_period_end() -> None:
    assert full_period_ending(date(2026, 11, 30), 1, Cycle.MONTHLY) == Period(date(2026, 11, 1), date(2026, 11, 30))
    assert full_period_ending(date(2026, 1, 31), 1, Cycle.QUARTERLY) == Period(date(2025, 11, 1), date(2026, 1, 31))
    assert full_period_ending(date(2026, 3, 30), 31, Cycle.MONTHLY) == Period(date(2026, 2, 28), date(2026, 3, 30))


def test_full_period_ending_rejects_a_day_not_before_an_anchor() -> None:
    with pytest.raises(ValueError):
        full_period_ending(date(2026, 11, 29), 1, Cycle.MONTHLY)


def test_next_anchor_after_is_strictly_after() -> None:
    assert next_anchor_after(date(2026, 1, 15), 15) == date(2026, 2, 15)
    assert next_anchor_after(date(2026, 1, 14), 15) == date(2026, 1, 15)
    assert next_anchor_after(date(2026, 1, 31), 31) == date(2026, 2, 28)
    assert next_anchor_after(date(2026, 12, 31), 31) == date(2027, 1, 31)


def test_period_basics() -> None:
    period = Period(date(2026, 2, 1), date(2026, 2, 28))
    assert period.days == 28
    assert date(2026, 2, 28) in period
    assert date(2026, 3, 1) not in period
    with pytest.raises(ValueError):
        Period(date(2026, 2, 2), date(2026, 2, 1))


@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)),
    anchor_day=st.integers(1, 31),
    cycle=st.sampled_from(Cycle),
)
def test_periods_tile_the_calendar_from_the_anchor(start: date, anchor_day: int, cycle: Cycle) -> None:
    periods = periods_from(start, anchor_day, cycle, 15)
    assert periods[0].start == start
    for previous, period in pairwise(periods):
        assert period.start == previous.end + timedelta(days=1)
        assert is_anchor_date(period.start, anchor_day)
        # A full period is exactly `cycle` months from anchor to anchor, never drifting.
        month_after = period.start + relativedelta(day=1, months=cycle.months)
        assert period.end + timedelta(days=1) == anchored_date(month_after.year, month_after.month, anchor_day)
        assert full_period_ending(period.end, anchor_day, cycle) == period
    assert periods[0].start in full_period_ending(periods[0].end, anchor_day, cycle)
