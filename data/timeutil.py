"""The one textual form of instants in the store: UTC, millisecond precision, sortable as text."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_db(instant: datetime) -> str:
    if instant.tzinfo is None:
        raise ValueError("naive datetime: the store keeps UTC instants only")
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


def from_db(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
