"""Spacing out screen work by what it cost, so it cannot starve the receiver on the same loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class Pacer:
    """After each run of some work, the next may start only ``quiet_after`` times its cost later
    (at most ``max_gap`` seconds). Cheap work (a row or two, a few pending alarms) runs again at
    once; a storm's expensive batches come a few times a second, leaving the rest of the loop to
    the receiver."""

    def __init__(self, quiet_after: float, max_gap: float) -> None:
        self.quiet_after = quiet_after
        self.max_gap = max_gap
        self._next = 0.0

    async def ready(self) -> None:
        """Wait until the next run may start."""
        if (wait := self._next - asyncio.get_running_loop().time()) > 0:
            await asyncio.sleep(wait)

    @contextmanager
    def run(self) -> Iterator[None]:
        """Time the work inside, which sets when the next run may start."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        yield
        finished = loop.time()
        self._next = finished + min(self.max_gap, (finished - started) * self.quiet_after)
