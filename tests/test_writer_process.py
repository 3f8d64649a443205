"""The event writer's own process: silent on the terminal, deaf to the console's signals, replaced
when it is lost, and gone when the console is."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from centinela.data import writer_process as wire
from centinela.data.db import StoreError
from centinela.data.event_writer import INLINE_MAX_SIGNALS, WriterLost
from centinela.data.store import Store
from centinela.receiver.signal import Signal
from tests.helpers import until


def burglary(sequence: str) -> Signal:
    return Signal(protocol="ADM-CID", raw=f"1234|1130 01 004 #{sequence}", account="1234", sequence=sequence,
                  code="130", qualifier="1", partition="01", zone="004")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended


async def test_the_writer_is_its_own_process_and_prints_nothing(store: Store) -> None:
    (event,) = await store.record([burglary("0001")])
    pid = store.writer.pid
    assert pid is not None and pid != os.getpid() and alive(pid)
    # the console draws on the terminal's stderr: the writer's output goes nowhere
    assert os.readlink(f"/proc/{pid}/fd/2") == os.devnull
    assert os.readlink(f"/proc/{pid}/fd/1") == os.devnull
    assert (await store.get_event(event.id)) == event


async def test_the_writer_ignores_the_signals_meant_for_the_console(store: Store) -> None:
    await store.record([burglary("0001")])
    pid = store.writer.pid
    assert pid is not None
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        os.kill(pid, signum)
    await asyncio.sleep(0.2)
    assert alive(pid)
    (event,) = await store.record([burglary("0002")])
    assert event.code == "130"


async def stored_sequences(store: Store) -> list[str | None]:
    return sorted(event.sequence for event in await store.recent_events(50))


async def test_a_lone_signal_is_committed_without_the_writer_process(store: Store) -> None:
    await store.record([burglary("0001")])
    pid = store.writer.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # the process can do nothing now
    try:
        (event,) = await asyncio.wait_for(store.record([burglary("0002")]), 5)
        assert (await store.get_event(event.id)) == event
        # A submission of many signals goes to the process even alone: the loop is not held long.
        many = asyncio.ensure_future(store.record([burglary(f"{n:04d}") for n in range(100, 100 + INLINE_MAX_SIGNALS + 1)]))
        await asyncio.sleep(0.3)
        assert not many.done()
        # Two at once go to the process, and so does a lone one while it holds them: nothing
        # may be committed ahead of what it holds.
        held = [asyncio.ensure_future(store.record([burglary(sequence)])) for sequence in ("0003", "0004")]
        await asyncio.sleep(0.05)
        after = asyncio.ensure_future(store.record([burglary("0005")]))
        await asyncio.sleep(0.3)
        assert not any(future.done() for future in [*held, after])
        assert await stored_sequences(store) == ["0001", "0002"]
    finally:
        os.kill(pid, signal.SIGCONT)
    await asyncio.wait_for(asyncio.gather(many, *held, after), 5)
    assert (await stored_sequences(store))[:5] == ["0001", "0002", "0003", "0004", "0005"]
    assert len(await stored_sequences(store)) == 5 + INLINE_MAX_SIGNALS + 1


async def test_a_lone_signal_never_waits_on_the_loop_for_a_locked_database(store: Store) -> None:
    await store.record([burglary("0001")])
    loop = asyncio.get_running_loop()
    async with store.transaction() as db:  # another connection holds the write lock
        await db.execute("UPDATE settings SET value = value WHERE 0")
        started = loop.time()
        pending = asyncio.ensure_future(store.record([burglary("0002")]))
        await asyncio.sleep(0.2)
        # The loop ran on (the signal went to the process, which waits for the lock) ...
        assert loop.time() - started < 0.5
        assert not pending.done()
    # ... and it is stored once the lock is released.
    (event,) = await asyncio.wait_for(pending, 10)
    assert event.sequence == "0002"


async def test_retransmissions_are_recognised_whichever_connection_stored_the_first(store: Store) -> None:
    (first,) = await store.record([burglary("0001")])  # alone: on the loop's connection
    # Two at once: through the process, which finds the first stored by the other connection.
    again, other = await asyncio.gather(store.record([burglary("0001")]), store.record([burglary("0002")]))
    assert again == [first]
    assert await stored_sequences(store) == ["0001", "0002"]
    assert store.writer.duplicates == 1


async def test_a_lost_writer_fails_what_it_held_and_is_replaced(store: Store) -> None:
    await store.record([burglary("0001")])
    await store.record([burglary("0001")])  # a retransmission
    lost = store.writer
    assert lost.duplicates == 1
    assert lost.pid is not None
    os.kill(lost.pid, signal.SIGSTOP)
    # Two at once go to the process (a lone signal would be committed on the loop), which holds them.
    held = [asyncio.ensure_future(lost.submit([burglary(sequence)])) for sequence in ("0002", "0003")]
    await asyncio.sleep(0.1)
    os.kill(lost.pid, signal.SIGKILL)
    for submission in held:
        with pytest.raises(StoreError):
            # not stored, so never ACKed: the panel sends it again
            await asyncio.wait_for(submission, 5)
    await until(lambda: store.writer is not lost and store.writer.pid is not None)
    (again,) = await asyncio.wait_for(store.record([burglary("0002")]), 10)
    assert [event.sequence for event in await store.recent_events(10)] == ["0002", "0001"]
    assert again.sequence == "0002"
    assert store.writer.duplicates == 1, "the count carries over to the new writer"


async def test_a_writer_lost_while_the_store_closes_is_reported(data_dir: Path) -> None:
    store = await Store.open(data_dir)
    store.start()
    await store.record([burglary("0001")])
    assert store.writer.pid is not None
    os.kill(store.writer.pid, signal.SIGKILL)
    with pytest.raises(WriterLost):
        await store.close()
    with pytest.raises(ValueError):  # the other connections were closed all the same
        await store.recent_events(1)


async def test_a_job_must_be_a_module_level_function(store: Store) -> None:
    with pytest.raises(Exception, match="local object"):
        await store.run_writer_job(lambda db, now: [])
    assert len(await store.record([burglary("0003")])) == 1


def test_the_writer_leaves_with_the_console(tmp_path: Path) -> None:
    """A console killed outright: its writer finishes and exits instead of living on."""
    script = textwrap.dedent(f"""
        import asyncio, sys
        from pathlib import Path
        from centinela.data.store import Store

        async def main():
            store = await Store.open(Path({str(tmp_path / "data")!r}))
            store.start()
            await store.record([])
            print(store.writer.pid, flush=True)
            await asyncio.Event().wait()

        asyncio.run(main())
    """)
    console = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert console.stdout is not None
        writer_pid = int(console.stdout.readline())
        assert alive(writer_pid)
        console.kill()
        console.wait(10)
        deadline = time.monotonic() + 10
        while alive(writer_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(writer_pid), "the writer outlived its console"
    finally:
        console.kill()
        console.wait(10)


def test_messages_are_split_whatever_the_pipe_delivers_at_once() -> None:
    """Several messages in one read, and one message across reads (as a busy pipe delivers them)."""
    first, second, third = wire.frame(("a", 1)), wire.frame(["b" * 70_000]), wire.frame(("c",))
    frames = wire.Frames()
    assert frames.feed(first + second[:10]) == [("a", 1)]
    assert frames.feed(second[10:50_000]) == []
    assert frames.feed(second[50_000:] + third) == [["b" * 70_000], ("c",)]
    read, write = os.pipe()
    try:
        os.write(write, first + third)
        assert wire.read_messages(read, wire.Frames()) == [("a", 1), ("c",)]
        os.close(write)
        with pytest.raises(EOFError):
            wire.read_messages(read, wire.Frames())
    finally:
        os.close(read)


def test_the_writer_starts_under_textuals_stand_in_for_stderr(tmp_path: Path) -> None:
    """Textual replaces sys.stderr with an object whose fileno() is -1; a writer started from
    inside the app must start all the same (in a fresh process: no fork server running yet)."""
    script = textwrap.dedent(f"""
        import asyncio, sys
        from pathlib import Path
        from centinela.data.store import Store
        from centinela.receiver.signal import Signal

        class StandIn:
            def write(self, text): return len(text)
            def flush(self): pass
            def fileno(self): return -1

        async def main():
            sys.stderr = StandIn()
            store = await Store.open(Path({str(tmp_path / "data")!r}))
            store.start()
            await store.started()
            (event,) = await store.record([Signal(protocol="ADM-CID", raw="x", account="1234", code="130")])
            await store.close()
            print("stored", event.id)

        if __name__ == "__main__":
            asyncio.run(main())
    """)
    (tmp_path / "console.py").write_text(script, encoding="utf-8")
    done = subprocess.run([sys.executable, str(tmp_path / "console.py")], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "stored 1", done.stderr
