"""The billing schedule: daily billing at a local time, cutoffs every N minutes, catch-up."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from centinela.billing.schedule import (
    ScheduleSettings,
    billing_due,
    billing_slot,
    cutoff_due,
    local_date,
    next_billing_at,
    next_billing_slot,
    next_cutoff,
)

LIMA = ZoneInfo("America/Lima")  # UTC-5, no daylight saving
SANTIAGO = ZoneInfo("America/Santiago")  # daylight saving, changes at midnight
MADRID = ZoneInfo("Europe/Madrid")  # daylight saving, changes at 02:00/03:00
SETTINGS = ScheduleSettings(time(6, 0), timedelta(minutes=60), LIMA)


def lima(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LIMA)


def test_the_slot_is_todays_run_time_once_it_has_passed() -> None:
    assert billing_slot(lima(2026, 12, 1, 7), SETTINGS) == lima(2026, 12, 1, 6)
    assert billing_slot(lima(2026, 12, 1, 6), SETTINGS) == lima(2026, 12, 1, 6)
    assert billing_slot(lima(2026, 12, 1, 5, 59), SETTINGS) == lima(2026, 11, 30, 6)
    assert next_billing_slot(lima(2026, 12, 1, 5, 59), SETTINGS) == lima(2026, 12, 1, 6)
    assert next_billing_slot(lima(2026, 12, 1, 6), SETTINGS) == lima(2026, 12, 2, 6)


def test_slots_are_returned_in_utc() -> None:
    slot = billing_slot(lima(2026, 12, 1, 7), SETTINGS)
    assert slot.tzinfo is UTC
    assert slot == datetime(2026, 12, 1, 11, 0, tzinfo=UTC)


def test_billing_is_due_once_per_slot() -> None:
    now = lima(2026, 12, 1, 6, 1)
    assert billing_due(now, None, SETTINGS) == date(2026, 12, 1)
    assert billing_due(now, lima(2026, 11, 30, 6, 0), SETTINGS) == date(2026, 12, 1)
    assert billing_due(now, lima(2026, 12, 1, 6, 0), SETTINGS) is None
    assert billing_due(lima(2026, 12, 1, 23, 0), lima(2026, 12, 1, 6, 0), SETTINGS) is None


def test_catch_up_after_downtime_bills_the_missed_slot_date_once() -> None:
    # Off from the 1st to the 4th at 03:00: the last slot is the 3rd's 06:00.
    last = lima(2026, 12, 1, 6, 0)
    now = lima(2026, 12, 4, 3, 0)
    assert billing_due(now, last, SETTINGS) == date(2026, 12, 3)
    assert next_billing_at(now, last, SETTINGS) == now
    # Having caught up (started after the slot), the next run is today's 06:00.
    assert billing_due(now, lima(2026, 12, 4, 3, 0), SETTINGS) is None
    assert next_billing_at(now, lima(2026, 12, 4, 3, 0), SETTINGS) == lima(2026, 12, 4, 6)


def test_the_billing_date_is_local_not_utc() -> None:
    # 23:30 in Lima is already the next day in UTC.
    late = ScheduleSettings(time(23, 30), timedelta(hours=1), LIMA)
    now = lima(2026, 12, 1, 23, 45)
    assert now.astimezone(UTC).date() == date(2026, 12, 2)
    assert billing_due(now, None, late) == date(2026, 12, 1)
    assert local_date(now, late) == date(2026, 12, 1)


def test_cutoffs_run_every_interval() -> None:
    now = lima(2026, 12, 1, 10, 0)
    assert cutoff_due(now, None, SETTINGS)
    assert not cutoff_due(now, lima(2026, 12, 1, 9, 30), SETTINGS)
    assert next_cutoff(now, lima(2026, 12, 1, 9, 30), SETTINGS) == lima(2026, 12, 1, 10, 30)
    assert cutoff_due(now, lima(2026, 12, 1, 9, 0), SETTINGS)
    assert next_cutoff(now, lima(2026, 12, 1, 3, 0), SETTINGS) == now  # overdue: now, not in the past


def test_run_time_in_a_daylight_saving_gap_still_runs_that_day() -> None:
    # Madrid skips 02:00-03:00 on 2026-03-29.
    settings = ScheduleSettings(time(2, 30), timedelta(hours=1), MADRID)
    slot = next_billing_slot(datetime(2026, 3, 29, 0, 0, tzinfo=MADRID), settings)
    assert slot.astimezone(MADRID).date() == date(2026, 3, 29)
    assert billing_due(slot + timedelta(minutes=1), None, settings) == date(2026, 3, 29)


def test_day_starting_without_midnight_has_its_slot() -> None:
    # Santiago moved clocks from 00:00 to 01:00 on 2026-09-06: the day begins at 01:00.
    settings = ScheduleSettings(time(6, 0), timedelta(hours=1), SANTIAGO)
    now = datetime(2026, 9, 6, 7, 0, tzinfo=SANTIAGO)
    assert billing_slot(now, settings).astimezone(SANTIAGO) == datetime(2026, 9, 6, 6, 0, tzinfo=SANTIAGO)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        billing_due(datetime(2026, 12, 1, 7), None, SETTINGS)
    with pytest.raises(ValueError, match="positive"):
        ScheduleSettings(time(6), timedelta(0), LIMA)


instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC))
zones = st.sampled_from([LIMA, SANTIAGO, MADRID, ZoneInfo("America/Mexico_City"), UTC])
run_times = st.times()


@given(now=instants, zone=zones, run_at=run_times)
def test_slot_is_at_most_a_day_before_now_and_the_next_one_after(now: datetime, zone: ZoneInfo, run_at: time) -> None:
    settings = ScheduleSettings(run_at, timedelta(minutes=60), zone)
    slot = billing_slot(now, settings)
    following = next_billing_slot(now, settings)
    assert slot <= now < following
    assert following - slot <= timedelta(hours=26)  # one day, give or take a DST change


@given(now=instants, zone=zones, run_at=run_times, gap=st.integers(min_value=0, max_value=72 * 60))
def test_due_exactly_when_the_last_run_is_older_than_the_slot(
    now: datetime, zone: ZoneInfo, run_at: time, gap: int
) -> None:
    settings = ScheduleSettings(run_at, timedelta(minutes=60), zone)
    last = now - timedelta(minutes=gap)
    due = billing_due(now, last, settings)
    assert (due is not None) == (last < billing_slot(now, settings))
    if due is not None:
        assert due == local_date(billing_slot(now, settings), settings)
        assert next_billing_at(now, last, settings) == now
