"""Settling an asyncio future from a ``(result, error)`` callback: the shape in which the event
path reports how a commit ended (see ``receiver.tcp.Committed``)."""

from __future__ import annotations

import asyncio
from typing import TypeVar

T = TypeVar("T")


def settle(future: asyncio.Future[T], result: T, error: BaseException | None) -> None:
    """Give ``future`` its result, or ``error``; a future already done is left as it is."""
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
