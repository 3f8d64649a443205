"""Two processes' worth of runtime on one data folder: one receives, the other follows and
takes over when the first goes away."""

from __future__ import annotations

import asyncio
from pathlib import Path

from centinela.config import Config, ReceiverConfig
from centinela.data import alarm_actions
from centinela.data.event_batch import EventChanges
from centinela.data.ownership import ReceiverLock
from centinela.data.timeutil import utcnow
from centinela.receiver.dc09 import build_frame
from centinela.runtime import Runtime
from tests.helpers import exchange


def runtime_on(data_dir: Path) -> Runtime:
    config = Config(data_dir=data_dir, receiver=ReceiverConfig(tcp=["127.0.0.1:0"], supervision_interval=3600))
    return Runtime(config, takeover_interval=0.1)


async def next_change(feed, timeout: float = 1.0) -> EventChanges:  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(feed.get(), timeout)


async def test_second_console_follows_the_owner_and_takes_over(data_dir: Path) -> None:
    first, second = runtime_on(data_dir), runtime_on(data_dir)
    await first.start()
    await second.start()
    try:
        assert first.is_owner and not second.is_owner
        assert second.listeners == []
        owner = second.lock.owner() if second.lock else None
        assert owner is not None and owner.describe()

        assert first.store is not None and second.store is not None
        with second.store.events_hub.subscribe() as seen_by_second, first.store.events_hub.subscribe() as seen_by_first:
            frame = build_frame("ADM-CID", "0001", account="1234", data="#1234|1130 01 004", timestamp=utcnow())
            await exchange("127.0.0.1", first.listeners[0].bound_port, frame)
            (event,) = (await next_change(seen_by_second)).added  # under 1 s, without a reload
            assert event.code == "130"
            assert (await next_change(seen_by_first)).added[0].id == event.id

            # an operator on the second console takes the alarm: the first console sees it taken
            taken = await second.store.apply(lambda db: alarm_actions.take(db, event.id, "ana"))
            assert taken.status == "acknowledged" and taken.taken_by == "ana"
            change = await next_change(seen_by_first)
            assert [(e.id, e.taken_by) for e in change.updated] == [(event.id, "ana")]

        await first.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3
        while not second.listeners:
            assert loop.time() < deadline, "the second console did not take over"
            await asyncio.sleep(0.05)
        assert second.is_owner
        frame = build_frame("ADM-CID", "0002", account="1234", data="#1234|1130 01 005", timestamp=utcnow())
        (reply,) = await exchange("127.0.0.1", second.listeners[0].bound_port, frame)
        assert b'"ACK"0002' in reply
        assert [e.zone for e in await second.store.recent_events(5)] == ["005", "004"]
    finally:
        await second.stop()
        await first.stop()


def test_lock_is_exclusive_and_released(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    one, two = ReceiverLock(data_dir), ReceiverLock(data_dir)
    assert one.try_acquire() and not two.try_acquire()
    assert two.owner() is not None
    one.release()
    assert two.try_acquire()
    two.release()
