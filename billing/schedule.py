"""When the billing worker runs: billing once a day at a local time, cutoffs every N minutes.

Rules
- Billing is scheduled daily at ``run_at``, wall-clock time in ``timezone``. The *slot* is the
  latest scheduled instant at or before now. Billing is due when the last successful billing run
  started before the slot, or there never was one: a machine that was off at 06:00 bills as soon as
  it is back (catch-up), and bills once, however many slots it missed, because one run bills every
  period due up to its date.
- A billing run bills for the slot's local date, so a catch-up at 03:00 for yesterday's missed 06:00
  bills yesterday, and today's 06:00 run still comes.
- Cutoffs are due when the last cutoff run started ``cutoff_every`` ago or more, or never ran.
- A ``run_at`` that falls in a daylight-saving gap runs at the instant the zone maps that wall time
  to (the offset before the change); in a repeated hour the first one counts.

Instants are timezone-aware; every function is pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    run_at: time  # local wall-clock time of the daily billing run
    cutoff_every: timedelta
    timezone: tzinfo

    def __post_init__(self) -> None:
        if self.cutoff_every <= timedelta(0):
            raise ValueError(f"cutoffs must run at a positive interval, not {self.cutoff_every}")


def _check_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment}: schedules work on timezone-aware instants")


def local_date(moment: datetime, settings: ScheduleSettings) -> date:
    """The company's calendar date at an instant."""
    _check_aware(moment)
    return moment.astimezone(settings.timezone).date()


def _slot_on(day: date, settings: ScheduleSettings) -> datetime:
    wall = datetime.combine(day, settings.run_at.replace(tzinfo=None), tzinfo=settings.timezone)
    # Round-trip through UTC so the instant is one the zone really has (a wall time in a gap moves).
    return wall.astimezone(UTC)


def billing_slot(now: datetime, settings: ScheduleSettings) -> datetime:
    """The latest scheduled billing instant at or before ``now`` (UTC)."""
    today = local_date(now, settings)
    slot = _slot_on(today, settings)
    return slot if slot <= now else _slot_on(today - _ONE_DAY, settings)


def next_billing_slot(now: datetime, settings: ScheduleSettings) -> datetime:
    """The first scheduled billing instant after ``now`` (UTC)."""
    today = local_date(now, settings)
    slot = _slot_on(today, settings)
    return slot if slot > now else _slot_on(today + _ONE_DAY, settings)


def billing_due(now: datetime, last_success: datetime | None, settings: ScheduleSettings) -> date | None:
    """The date to bill for if billing is due now, else None."""
    slot = billing_slot(now, settings)
    if last_success is not None:
        _check_aware(last_success)
        if last_success >= slot:
            return None
    return local_date(slot, settings)


def next_cutoff(now: datetime, last_cutoff: datetime | None, settings: ScheduleSettings) -> datetime:
    """When the next cutoff run is due: ``now`` if it already is."""
    _check_aware(now)
    if last_cutoff is None:
        return now
    _check_aware(last_cutoff)
    return max(now, last_cutoff + settings.cutoff_every)


def cutoff_due(now: datetime, last_cutoff: datetime | None, settings: ScheduleSettings) -> bool:
    return next_cutoff(now, last_cutoff, settings) <= now


def next_billing_at(now: datetime, last_success: datetime | None, settings: ScheduleSettings) -> datetime:
    """When billing is next due: ``now`` if it already is, else the next slot."""
    if billing_due(now, last_success, settings) is not None:
        return now
    return next_billing_slot(now, settings)
