"""Zero loss across a crash: the receiver is SIGKILLed mid-stream, restarted on the same data, and
the panels resend what was not ACKed. Every ACKed signal must be stored, and every signal once.

The kill is timed to land between a commit and its ACKs (the receiver is frozen with SIGSTOP until
the store shows a signal whose ACK the panel has not had), so the resend always includes a signal
already stored: the one case only the receiver's duplicate detection keeps single.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from centinela.data.db import DB_FILENAME
from centinela.data.timeutil import utcnow
from centinela.receiver.dc09 import build_frame
from tests.test_cli import free_port, wait_for_port

PANELS = 12
RUN_BEFORE_KILL = 1.0
FREEZE_ATTEMPTS_FOR = 8.0
REPLY_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Sent:
    account: str
    sequence: str
    frame: bytes
    ack: bytes


@dataclass(slots=True)
class PanelLog:
    """What one panel sent and which of it the receiver acknowledged."""

    account: str
    acked: list[Sent] = field(default_factory=list)
    unacked: list[Sent] = field(default_factory=list)
    in_flight: Sent | None = None
    count: int = 0

    def next_signal(self) -> Sent:
        self.count += 1
        sequence = f"{(self.count - 1) % 9999 + 1:04d}"
        # Alternate alarm and restore on a zone that changes with the sequence: realistic traffic
        # whose content differs from one signal to the next.
        qualifier = "1" if self.count % 2 else "3"
        data = f"#{self.account}|{qualifier}130 01 {self.count % 64 + 1:03d}"
        frame = build_frame("ADM-CID", sequence, receiver="1", line="1", account=self.account, data=data,
                            timestamp=utcnow())
        ack = build_frame("ACK", sequence, receiver="1", line="1", account=self.account)
        return Sent(self.account, sequence, frame, ack)


def start_receiver(data_dir: Path, port: int, log_path: Path) -> subprocess.Popen[str]:
    config = data_dir.parent / "crash.toml"
    config.write_text('log_level = "WARNING"\n', encoding="utf-8")
    with log_path.open("a", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "centinela", "--headless", "--config", str(config), "--data-dir", str(data_dir),
             "--tcp", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=log, text=True,
        )
    wait_for_port(port, process)
    return process


async def send_until_cut(port: int, panel: PanelLog) -> None:
    """A panel at full rate, one signal at a time; the one in flight when the link dies is kept
    for resending, as a panel keeps every signal it has no ACK for."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            sent = panel.in_flight = panel.next_signal()
            try:
                writer.write(sent.frame)
                await writer.drain()
                reply = await asyncio.wait_for(reader.readuntil(b"\r"), REPLY_TIMEOUT)
            except (ConnectionError, asyncio.IncompleteReadError):
                panel.unacked.append(sent)
                return
            assert reply == sent.ack, f"{sent.account} {sent.sequence}: expected {sent.ack!r}, got {reply!r}"
            panel.acked.append(sent)
            panel.in_flight = None
    finally:
        writer.close()


async def resend(port: int, panel: PanelLog) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for sent in panel.unacked:
            writer.write(sent.frame)
            await writer.drain()
            reply = await asyncio.wait_for(reader.readuntil(b"\r"), REPLY_TIMEOUT)
            assert reply == sent.ack, f"resent {sent.account} {sent.sequence}: got {reply!r}"
    finally:
        writer.close()
        await writer.wait_closed()


async def kill_between_commit_and_ack(receiver: subprocess.Popen[str], panels: list[PanelLog],
                                      data_dir: Path) -> set[tuple[str, str]]:
    """Freeze the receiver until the store holds a signal its panel has no ACK for, then kill it;
    returns the signals seen stored but unACKed."""
    deadline = time.monotonic() + FREEZE_ATTEMPTS_FOR
    while True:
        receiver.send_signal(signal.SIGSTOP)
        await asyncio.sleep(0.05)  # ACKs already written reach their panels meanwhile
        in_flight = {(panel.account, panel.in_flight.sequence) for panel in panels if panel.in_flight}
        caught = in_flight & set(stored_signals(data_dir))
        if caught or time.monotonic() > deadline:
            receiver.send_signal(signal.SIGKILL)
            return caught
        receiver.send_signal(signal.SIGCONT)
        await asyncio.sleep(0.02)


async def run_until_killed(port: int, panels: list[PanelLog], receiver: subprocess.Popen[str],
                           data_dir: Path) -> set[tuple[str, str]]:
    senders = [asyncio.create_task(send_until_cut(port, panel)) for panel in panels]
    await asyncio.sleep(RUN_BEFORE_KILL)
    caught = await kill_between_commit_and_ack(receiver, panels, data_dir)
    await asyncio.wait_for(asyncio.gather(*senders), REPLY_TIMEOUT)
    return caught


def stored_signals(data_dir: Path) -> Counter[tuple[str, str]]:
    with sqlite3.connect(f"file:{data_dir / DB_FILENAME}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT account, sequence FROM events WHERE protocol = 'ADM-CID'").fetchall()
    return Counter((account, sequence) for account, sequence in rows)


def test_signals_acked_before_a_sigkill_survive_and_resent_ones_are_stored_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    log_path = tmp_path / "receiver.log"
    port = free_port()
    panels = [PanelLog(f"{7000 + index}") for index in range(PANELS)]

    receiver = start_receiver(data_dir, port, log_path)
    try:
        stored_unacked = asyncio.run(run_until_killed(port, panels, receiver, data_dir))
        assert receiver.wait(timeout=10) == -signal.SIGKILL
    finally:
        if receiver.poll() is None:
            receiver.kill()
    acked = [sent for panel in panels for sent in panel.acked]
    unacked = [sent for panel in panels for sent in panel.unacked]
    assert len(acked) > 100, "too few signals ACKed before the kill for the test to mean anything"
    assert len(unacked) == PANELS, "every panel had one signal in flight when the receiver died"
    assert stored_unacked, "the kill landed between a commit and its ACKs"
    assert stored_unacked <= {(sent.account, sent.sequence) for sent in unacked}

    receiver = start_receiver(data_dir, port, log_path)
    try:
        async def resend_all() -> None:
            await asyncio.gather(*(resend(port, panel) for panel in panels))

        asyncio.run(resend_all())
    finally:
        receiver.send_signal(signal.SIGTERM)
        status = receiver.wait(timeout=20)
    assert status == 0, log_path.read_text(encoding="utf-8")

    stored = stored_signals(data_dir)
    lost = [(sent.account, sent.sequence) for sent in acked if (sent.account, sent.sequence) not in stored]
    assert lost == [], f"{len(lost)} ACKed signals lost in the crash"
    everything = Counter((sent.account, sent.sequence) for sent in acked + unacked)
    assert stored == everything, "each signal, ACKed before the kill or resent after it, stored exactly once"
    assert "Traceback" not in log_path.read_text(encoding="utf-8")
