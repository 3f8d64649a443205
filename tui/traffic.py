"""Signals per minute over the last half hour, for the status bar's sparkline."""

from __future__ import annotations

from collections import deque
from datetime import datetime


class TrafficCounter:
    def __init__(self, minutes: int = 30) -> None:
        self._minutes = minutes
        self._counts: deque[tuple[int, int]] = deque()  # (minute number, signals)

    def add(self, when: datetime, count: int = 1) -> None:
        minute = int(when.timestamp() // 60)
        if self._counts and self._counts[-1][0] == minute:
            self._counts[-1] = (minute, self._counts[-1][1] + count)
        elif not self._counts or minute > self._counts[-1][0]:
            self._counts.append((minute, count))
        else:  # late arrival from an earlier minute (events are published in batches)
            for index, (existing, value) in enumerate(self._counts):
                if existing == minute:
                    self._counts[index] = (existing, value + count)
                    break

    def per_minute(self, now: datetime) -> list[int]:
        """Counts for each of the last ``minutes`` minutes, oldest first, the current one last."""
        current = int(now.timestamp() // 60)
        first = current - self._minutes + 1
        while self._counts and self._counts[0][0] < first:
            self._counts.popleft()
        by_minute = dict(self._counts)
        return [by_minute.get(minute, 0) for minute in range(first, current + 1)]
