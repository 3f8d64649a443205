"""How an event looks in a table row: pure formatting of records, no widgets, no store."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from centinela.data.records import EventRecord, PriorityRow
from centinela.receiver.describe import describe_event
from centinela.tui.texts import Texts
from rich.text import Text

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True, slots=True)
class PriorityLook:
    level: int
    name: str
    colour: str


def priority_looks(rows: Iterable[PriorityRow], lang: str) -> dict[int, PriorityLook]:
    """How each priority level looks on screen, from the priorities table."""
    return {row.level: PriorityLook(row.level, row.name(lang), row.colour) for row in rows}


def fallback_look(level: int) -> PriorityLook:
    return PriorityLook(level, str(level), "white")


def local_time(instant: datetime, now: datetime | None = None) -> str:
    """Time of day for today's events, date and time for older ones, in the console's zone."""
    local = instant.astimezone()
    today = (now or datetime.now(timezone.utc)).astimezone().date()
    return local.strftime("%H:%M:%S") if local.date() == today else local.strftime("%d/%m %H:%M")


def zone_or_user(event: EventRecord, texts: Texts) -> str:
    if event.user:
        return f"{texts('user.prefix')}{event.user}"
    if event.zone:
        return f"{texts('zone.prefix')}{event.zone}"
    return texts("placeholder")


def customer_cell(event: EventRecord, texts: Texts) -> Text:
    if event.unknown_account:
        return Text(texts("customer.unknown"), style="bold reverse")
    name = event.customer_name or texts("placeholder")
    if event.service_suspended:
        return Text.assemble((name, ""), " ", (texts("customer.suspended"), "bold magenta"))
    return Text(name)


def status_cell(event: EventRecord, texts: Texts, now: datetime | None = None) -> Text:
    if event.status == "acknowledged" and event.taken_by:
        return Text(texts("pending.taken_by", name=event.taken_by), style="bold cyan")
    if event.status == "pending" and event.hold_until:
        return Text(texts("pending.hold_until", time=local_time(event.hold_until, now)), style="yellow")
    style = "bold" if event.status == "new" else ""
    return Text(texts(f"status.{event.status}"), style=style)


def event_cells(
    event: EventRecord, texts: Texts, looks: Mapping[int, PriorityLook], now: datetime | None = None
) -> tuple[Text | str, ...]:
    look = looks.get(event.priority) or fallback_look(event.priority)
    placeholder = texts("placeholder")
    return (
        str(event.id),
        local_time(event.received_at, now),
        event.account or placeholder,
        customer_cell(event, texts),
        Text(describe_event(event.protocol, event.code, event.qualifier, texts.language), style=look.colour),
        zone_or_user(event, texts),
        event.partition or placeholder,
        Text(look.name, style=f"bold {look.colour}"),
        status_cell(event, texts, now),
    )


def pending_cells(
    event: EventRecord, texts: Texts, looks: Mapping[int, PriorityLook], now: datetime
) -> tuple[Text | str, ...]:
    """A pending alarm's row: how long it has waited first, then the event's own cells."""
    return (elapsed(event.received_at, now), *event_cells(event, texts, looks, now))


def elapsed(since: datetime, now: datetime | None = None) -> str:
    seconds = max(0, int(((now or datetime.now(timezone.utc)) - since).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


def sparkline(values: Sequence[int]) -> str:
    """One character per value, scaled to the largest; blank when there was no traffic."""
    top = max(values, default=0)
    if top == 0:
        return " " * len(values)
    return "".join(" " if v == 0 else SPARK_BLOCKS[min(7, (v * 8 - 1) // top)] for v in values)
