"""Counters the receiver keeps for the status bar, the logs and the benchmarks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class ReceiverStats:
    connections: int = 0
    acked: int = 0
    store_failures: int = 0
    rejections: Counter[str] = field(default_factory=Counter)
    last_signal_at: datetime | None = None

    def record_rejection(self, reason: object) -> None:
        self.rejections[str(reason)] += 1

    @property
    def protocol_errors(self) -> int:
        return sum(self.rejections.values())
