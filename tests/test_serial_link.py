"""The serial transport over a real pseudo-terminal: the listener opens the slave device as it
would /dev/ttyS0, and the test plays the Sur-Gard receiver on the master side."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from centinela.data.timeutil import utcnow
from centinela.receiver.serial_link import SerialListener
from centinela.receiver.signal import Signal
from centinela.receiver.stats import ReceiverStats
from centinela.receiver.surgard import ACK, DC4, NAK
from tests.fake_surgard import CONTACT_ID, HEARTBEAT, FakeReceiver
from tests.helpers import until



class Sink:
    """Records committed signals; ``gate`` holds the commit open, ``failures`` makes it raise."""

    def __init__(self) -> None:
        self.batches: list[list[Signal]] = []
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.failures = 0

    async def __call__(self, signals: list[Signal]) -> None:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise OSError("database is locked")
        self.batches.append(signals)


eventually = partial(until, timeout=3.0)


@pytest.fixture
def receiver() -> Iterator[FakeReceiver]:
    fake = FakeReceiver()
    yield fake
    fake.close()


@pytest.fixture
def sink() -> Sink:
    return Sink()


Opener = Callable[..., Awaitable[SerialListener]]


@pytest.fixture
async def open_listener(sink: Sink) -> AsyncIterator[Opener]:
    started: list[SerialListener] = []

    async def open_(device: str, **options: object) -> SerialListener:
        options.setdefault("reopen_delay", 0.05)
        listener = SerialListener(device, sink, ReceiverStats(), **options)  # type: ignore[arg-type]
        await listener.start()
        started.append(listener)
        await eventually(lambda: listener.connected)
        return listener

    yield open_
    for listener in started:
        await listener.stop()


async def test_contact_id_is_acked_only_after_the_sink_committed(
    receiver: FakeReceiver, sink: Sink, open_listener: Opener
) -> None:
    listener = await open_listener(receiver.device)
    assert listener.label == f"serial://{receiver.device}"
    sink.gate = asyncio.Event()
    receiver.send(CONTACT_ID)
    await eventually(lambda: sink.calls == 1)
    # the sink is holding the commit open: the receiver must not hear an ACK yet
    assert await receiver.silence(0.3) == b""
    assert sink.batches == []
    sink.gate.set()
    assert await receiver.answers() == ACK
    (batch,) = sink.batches
    assert batch == [Signal(
        protocol="SG-CID", raw="501100 181234E13001004", account="1234", receiver="01", line="100",
        code="130", qualifier="1", partition="01", zone="004",
    )]
    assert listener.stats.acked == 1 and listener.stats.connections == 1


async def test_garbage_gets_nak_and_nothing_is_stored(
    receiver: FakeReceiver, sink: Sink, open_listener: Opener
) -> None:
    listener = await open_listener(receiver.device)
    receiver.send(b"\xff\x00garbage" + DC4)
    assert await receiver.answers() == NAK
    assert sink.batches == []
    assert listener.stats.rejections == {"malformed": 1} and listener.stats.acked == 0
    # the receiver retransmits a clean copy after our NAK
    receiver.send(CONTACT_ID)
    assert await receiver.answers() == ACK
    assert len(sink.batches) == 1


async def test_heartbeat_is_acked_and_recorded(
    receiver: FakeReceiver, sink: Sink, open_listener: Opener
) -> None:
    listener = await open_listener(receiver.device)
    assert listener.last_heartbeat is None
    before = utcnow()
    receiver.send(HEARTBEAT)
    assert await receiver.answers() == ACK
    assert listener.last_heartbeat is not None and before <= listener.last_heartbeat <= utcnow()
    assert sink.batches == []


async def test_missing_heartbeat_raises_link_lost_once_then_restored(
    receiver: FakeReceiver, open_listener: Opener
) -> None:
    calls: list[str] = []

    async def lost() -> None:
        calls.append("lost")

    async def restored() -> None:
        calls.append("restored")

    listener = await open_listener(
        receiver.device, heartbeat_timeout=0.25, on_link_lost=lost, on_link_restored=restored
    )
    await asyncio.sleep(0.7)  # almost three timeouts' worth of silence
    assert calls == ["lost"] and listener.link_lost
    receiver.send(HEARTBEAT)
    assert await receiver.answers() == ACK
    assert calls == ["lost", "restored"] and not listener.link_lost
    # while heartbeats keep coming, nothing more is raised
    for _ in range(4):
        await asyncio.sleep(0.05)
        receiver.send(HEARTBEAT)
        assert await receiver.answers() == ACK
    assert calls == ["lost", "restored"]


async def test_several_messages_in_one_write_and_one_split_across_writes(
    receiver: FakeReceiver, sink: Sink, open_listener: Opener
) -> None:
    await open_listener(receiver.device)
    messages = [f"501100 181234E1300100{n}".encode() + DC4 for n in range(1, 4)]
    receiver.send(b"".join(messages))
    assert await receiver.answers(3) == ACK * 3
    assert [batch[0].zone for batch in sink.batches] == ["001", "002", "003"]

    receiver.send(b"S01100[#12")
    await asyncio.sleep(0.05)
    receiver.send(b"34|Nri1/BA0")
    assert await receiver.silence(0.1) == b""
    receiver.send(b"5]" + DC4)
    assert await receiver.answers() == ACK
    assert [(signal.code, signal.zone) for signal in sink.batches[-1]] == [("BA", "05")]


async def test_store_failure_is_not_acked_and_the_retransmission_is(
    receiver: FakeReceiver, sink: Sink, open_listener: Opener
) -> None:
    listener = await open_listener(receiver.device)
    sink.failures = 1
    receiver.send(CONTACT_ID)
    assert await receiver.silence(0.3) == b""
    assert listener.stats.store_failures == 1
    receiver.send(CONTACT_ID)  # the receiver's retry after its 4 s wait
    assert await receiver.answers() == ACK
    assert len(sink.batches) == 1


async def test_unknown_format_repeated_after_nak_is_stored_raw(
    receiver: FakeReceiver, sink: Sink, open_listener: Opener
) -> None:
    await open_listener(receiver.device)
    message = b"601100123456789AE130" + DC4
    receiver.send(message)
    assert await receiver.answers() == NAK
    receiver.send(message)
    assert await receiver.answers() == ACK
    ((signal,),) = sink.batches
    assert (signal.protocol, signal.raw, signal.receiver) == ("SG-RAW", "601100123456789AE130", "01")


async def test_device_that_disappears_is_reopened(
    tmp_path: Path, sink: Sink, open_listener: Opener
) -> None:
    # A udev-style stable name that points at whichever adapter is plugged in.
    first = FakeReceiver()
    link = tmp_path / "ttySURGARD"
    link.symlink_to(first.device)
    listener = await open_listener(str(link))
    first.send(CONTACT_ID)
    assert await first.answers() == ACK

    first.close()  # adapter unplugged
    await eventually(lambda: not listener.connected)
    second = FakeReceiver()
    try:
        link.unlink()
        link.symlink_to(second.device)
        await eventually(lambda: listener.connected)
        second.send(CONTACT_ID)
        assert await second.answers() == ACK
        assert len(sink.batches) == 2
    finally:
        second.close()


async def test_missing_device_is_retried_until_it_appears(
    tmp_path: Path, sink: Sink
) -> None:
    link = tmp_path / "ttyUSB0"
    lost = asyncio.Event()

    async def on_lost() -> None:
        lost.set()

    listener = SerialListener(
        str(link), sink, ReceiverStats(), heartbeat_timeout=0.1, on_link_lost=on_lost, reopen_delay=0.05
    )
    await listener.start()  # no device yet: not an error
    fake = FakeReceiver()
    try:
        await asyncio.wait_for(lost.wait(), 2)
        assert not listener.connected
        link.symlink_to(fake.device)
        await eventually(lambda: listener.connected)
        fake.send(HEARTBEAT)
        assert await fake.answers() == ACK
        assert not listener.link_lost
    finally:
        await listener.stop()
        fake.close()


async def test_stop_lets_the_message_being_committed_get_its_ack(
    receiver: FakeReceiver, sink: Sink
) -> None:
    listener = SerialListener(receiver.device, sink, ReceiverStats())
    await listener.start()
    await eventually(lambda: listener.connected)
    sink.gate = asyncio.Event()
    receiver.send(CONTACT_ID)
    await eventually(lambda: sink.calls == 1)  # the sink is now holding the commit
    stopping = asyncio.create_task(listener.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()
    sink.gate.set()
    assert await receiver.answers() == ACK
    await asyncio.wait_for(stopping, 2)
    assert not listener.connected and len(sink.batches) == 1


async def test_settings_the_port_cannot_take_are_refused(sink: Sink) -> None:
    with pytest.raises(ValueError):
        await SerialListener("/dev/null", sink, ReceiverStats(), parity="X").start()
    with pytest.raises(ValueError):
        await SerialListener("/dev/null", sink, ReceiverStats(), heartbeat_timeout=0).start()
