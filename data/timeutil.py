"""The one textual form of instants in the store: UTC, millisecond precision, sortable as text."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_db(instant: datetime) -> str:
    if instant.tzinfo is None:
        raise ValueError("naive datetime: the store keeps UTC instants only")
    # isoformat is the fastest exact form (every stored signal passes here): drop its "+00:00".
    return instant.astimezone(UTC).isoformat(timespec="milliseconds")[:23] + "Z"


def from_db(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
