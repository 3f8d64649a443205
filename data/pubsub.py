"""In-process publish/subscribe: the store tells screens and workers what changed, no polling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, Iterator, TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class Subscription(Generic[T]):
    queue: asyncio.Queue[T]

    async def get(self) -> T:
        return await self.queue.get()

    def drain(self) -> list[T]:
        """Everything queued now, without waiting: lets a consumer handle a burst in one go."""
        items: list[T] = []
        while not self.queue.empty():
            items.append(self.queue.get_nowait())
        return items

    async def __aiter__(self) -> AsyncIterator[T]:
        while True:
            yield await self.queue.get()


class Hub(Generic[T]):
    """Fan-out to any number of subscribers; a slow subscriber never blocks the publisher."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[T]] = set()

    def publish(self, item: T) -> bool:
        """Queue ``item`` for every subscriber; False when nobody is subscribed."""
        for queue in self._subscribers:
            queue.put_nowait(item)
        return bool(self._subscribers)

    @contextmanager
    def subscribe(self) -> Iterator[Subscription[T]]:
        queue: asyncio.Queue[T] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            yield Subscription(queue)
        finally:
            self._subscribers.discard(queue)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
