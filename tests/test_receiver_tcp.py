"""End to end over real sockets on 127.0.0.1: frame in, commit, ACK out, row in the store."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from centinela.config import Config, ReceiverConfig
from centinela.data.timeutil import utcnow
from centinela.receiver.crc import crc16_arc
from centinela.receiver.dc09 import build_frame
from centinela.runtime import Runtime
from tests.helpers import add_monitored_customer, exchange, no_reply, until

REPLY = re.compile(rb'^\n([0-9A-F]{4})(0[0-9A-F]{3})("[^"]+".*)\r$', re.S)


def check_reply(reply: bytes, token: str) -> bytes:
    """A reply is itself a DC-09 frame: its CRC and length must be right."""
    match = REPLY.match(reply)
    assert match, reply
    crc, length, body = match.groups()
    assert int(crc, 16) == crc16_arc(body)
    assert int(length, 16) == len(body)
    assert body.startswith(f'"{token}"'.encode())
    return body


@pytest.fixture
async def runtime(data_dir: Path) -> AsyncIterator[Runtime]:
    config = Config(data_dir=data_dir, receiver=ReceiverConfig(tcp=["127.0.0.1:0"]))
    running = Runtime(config)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


def port(runtime: Runtime) -> int:
    return runtime.listeners[0].bound_port


async def test_contact_id_frame_is_stored_then_acked(runtime: Runtime) -> None:
    assert runtime.store is not None
    await add_monitored_customer(runtime.store, "1234", "Ferretería Los Andes")
    frame = build_frame("ADM-CID", "0042", receiver="12", line="3", account="1234",
                        data="#1234|1130 01 004", timestamp=utcnow())
    (reply,) = await exchange("127.0.0.1", port(runtime), frame)

    body = check_reply(reply, "ACK")
    assert body.startswith(b'"ACK"0042R12L3#1234[]')

    (event,) = await runtime.store.recent_events(10)
    assert (event.protocol, event.account, event.receiver, event.line, event.sequence) == (
        "ADM-CID", "1234", "12", "3", "0042")
    assert (event.code, event.qualifier, event.partition, event.zone, event.user) == ("130", "1", "01", "004", None)
    assert event.customer_name == "Ferretería Los Andes"
    assert not event.unknown_account
    assert event.priority == 2 and event.status == "new"
    assert event.raw == frame.decode().strip()


async def test_sia_frame_with_user_and_partition(runtime: Runtime) -> None:
    assert runtime.store is not None
    await add_monitored_customer(runtime.store, "AB12", "Panadería Central")
    frame = build_frame("SIA-DCS", "0007", account="AB12", data="#AB12|Nri2/id5/OP", timestamp=utcnow())
    (reply,) = await exchange("127.0.0.1", port(runtime), frame)
    check_reply(reply, "ACK")
    (event,) = await runtime.store.recent_events(10)
    assert (event.protocol, event.code, event.partition, event.user) == ("SIA-DCS", "OP", "2", "5")
    assert event.customer_name == "Panadería Central"
    # an opening needs no operator: stored already closed
    assert event.status == "resolved"


async def test_unknown_account_is_stored_flagged_and_urgent(runtime: Runtime) -> None:
    assert runtime.store is not None
    frame = build_frame("ADM-CID", "0001", account="9999", data="#9999|1602 00 000", timestamp=utcnow())
    (reply,) = await exchange("127.0.0.1", port(runtime), frame)
    check_reply(reply, "ACK")
    (event,) = await runtime.store.recent_events(10)
    assert event.unknown_account and event.customer_name is None
    # a periodic test is informational, but from an unknown account someone must look
    assert event.priority <= 2 and event.status == "new"


async def test_several_frames_in_one_write_and_one_split_across_writes(runtime: Runtime) -> None:
    assert runtime.store is not None
    frames = [
        build_frame("ADM-CID", f"{n:04d}", account="5555", data=f"#5555|1130 01 00{n}", timestamp=utcnow())
        for n in range(1, 4)
    ]
    replies = await exchange("127.0.0.1", port(runtime), b"".join(frames), replies=3)
    assert [check_reply(r, "ACK")[5:9] for r in replies] == [b"0001", b"0002", b"0003"]
    assert [e.zone for e in await runtime.store.recent_events(10)] == ["003", "002", "001"]


async def test_frames_sent_together_commit_together_and_are_answered_in_order(runtime: Runtime) -> None:
    """A receiver forwarding several panels sends frames back to back: they are all handed to the
    writer at once (one group commit, not one disk sync after another), and the replies keep the
    frames' order, a NAK included, so each one answers the frame it belongs to."""
    assert runtime.store is not None and runtime.store.writer.pid is not None
    await exchange("127.0.0.1", port(runtime), build_frame(
        "ADM-CID", "0100", account="5656", data="#5656|1602 00 000", timestamp=utcnow()))  # the writer is up
    frames = [build_frame("ADM-CID", f"{n:04d}", account="5656", data=f"#5656|1130 01 00{n}", timestamp=utcnow())
              for n in range(1, 4)]
    corrupted = frames[1][:1] + (b"0000" if frames[1][1:5] != b"0000" else b"FFFF") + frames[1][5:]
    reader, writer = await asyncio.open_connection("127.0.0.1", port(runtime))
    pid = runtime.store.writer.pid
    os.kill(pid, signal.SIGSTOP)  # nothing can be committed now
    try:
        writer.write(frames[0] + corrupted + frames[2])
        await writer.drain()
        links = runtime.listeners[0].links
        await until(lambda: [link.in_flight for link in links] == [2],
                    explain=lambda: f"frames in flight per link: {[link.in_flight for link in links]}")
        with pytest.raises(TimeoutError):  # not even the NAK: it must follow the first frame's ACK
            await asyncio.wait_for(reader.read(1), 0.3)
    finally:
        os.kill(pid, signal.SIGCONT)
    replies = [await asyncio.wait_for(reader.readuntil(b"\r"), 5) for _ in range(3)]
    writer.close()
    assert [check_reply(reply, token)[:9] for reply, token in zip(replies, ("ACK", "NAK", "ACK"))] == [
        b'"ACK"0001', b'"NAK"0000', b'"ACK"0003']
    assert [event.zone for event in await runtime.store.recent_events(10)][:2] == ["003", "001"]


async def test_frames_sent_together_whose_commit_fails_get_no_ack_and_the_link_closes(runtime: Runtime) -> None:
    assert runtime.store is not None
    async with runtime.store.transaction() as db:
        await db.execute("CREATE TRIGGER full_disk BEFORE INSERT ON events WHEN NEW.account = '5757'"
                         " BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    frames = [build_frame("ADM-CID", f"{n:04d}", account="5757", data=f"#5757|1130 01 00{n}", timestamp=utcnow())
              for n in range(1, 4)]
    reader, writer = await asyncio.open_connection("127.0.0.1", port(runtime))
    writer.write(b"".join(frames))
    await writer.drain()
    # none is stored, none is ACKed, and the link closes so the panel reconnects and sends them again
    assert await asyncio.wait_for(reader.read(4096), 5) == b""
    writer.close()
    assert await runtime.store.recent_events(10) == []
    assert runtime.stats.acked == 0 and runtime.stats.store_failures >= 1


async def test_garbage_and_bad_crc_get_nak_and_nothing_is_stored(runtime: Runtime) -> None:
    assert runtime.store is not None
    (reply,) = await exchange("127.0.0.1", port(runtime), b"\nthis is not a frame\r")
    body = check_reply(reply, "NAK")
    # the NAK carries the receiver's clock so the panel can correct its own
    stamp = re.search(rb"_(\d\d:\d\d:\d\d,\d\d-\d\d-\d{4})", body)
    assert stamp
    sent_at = datetime.strptime(stamp.group(1).decode(), "%H:%M:%S,%m-%d-%Y").replace(tzinfo=UTC)
    assert abs((sent_at - utcnow()).total_seconds()) < 5

    good = build_frame("ADM-CID", "0009", account="1234", data="#1234|1130 01 004", timestamp=utcnow())
    corrupted = good[:1] + (b"0000" if good[1:5] != b"0000" else b"FFFF") + good[5:]
    (reply,) = await exchange("127.0.0.1", port(runtime), corrupted)
    check_reply(reply, "NAK")
    assert await runtime.store.recent_events(10) == []
    assert runtime.stats.protocol_errors == 2


async def test_frame_not_stored_is_never_acked(runtime: Runtime) -> None:
    assert runtime.store is not None
    async with runtime.store.transaction() as db:
        await db.execute("CREATE TRIGGER no_events BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    frame = build_frame("ADM-CID", "0050", account="1234", data="#1234|1130 01 004", timestamp=utcnow())
    reply = await no_reply("127.0.0.1", port(runtime), frame, wait=2.0)
    assert reply == b""  # no ACK, and the link is closed so the panel retries
    assert runtime.stats.store_failures == 1 and runtime.stats.acked == 0


async def test_idle_link_is_closed_and_a_busy_one_is_not(data_dir: Path) -> None:
    config = Config(data_dir=data_dir, receiver=ReceiverConfig(tcp=["127.0.0.1:0"], idle_timeout=0.3))
    running = Runtime(config)
    await running.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", running.listeners[0].bound_port)
        for n in range(4):  # a frame every 0.2 s keeps the link open past the timeout
            writer.write(build_frame("NULL", f"{n + 1:04d}", account="1234", timestamp=utcnow()))
            assert b'"ACK"' in await asyncio.wait_for(reader.readuntil(b"\r"), 2)
            await asyncio.sleep(0.2)
        assert await asyncio.wait_for(reader.read(100), 2) == b""  # then silence: closed by us
        writer.close()
    finally:
        await running.stop()
