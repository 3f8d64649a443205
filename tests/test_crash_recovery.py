"""Zero loss across a crash: the receiver is SIGKILLed mid-stream, restarted on the same data, and
the panels resend what was not ACKed. Every ACKed signal must be stored, and every signal once.

The kill is aimed between a commit and its ACKs (the receiver is frozen with SIGSTOP until the
store shows a signal its panel has no ACK for), so the resend includes a signal already stored:
the case only the receiver's duplicate detection keeps single.
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
from datetime import datetime
from pathlib import Path

from centinela.data.db import DB_FILENAME
from centinela.data.timeutil import from_db, utcnow
from centinela.receiver.dc09 import build_frame

from tests.helpers import free_port, wait_for_port

PANELS = 12
RUN_BEFORE_KILL = 1.0
AIM_FOR = 8.0
"""Seconds to keep freezing the receiver in search of a stored but unACKed signal."""
REPLY_TIMEOUT = 10.0

SignalKey = tuple[str, str]
"""(account, sequence): unique per signal in this test."""


@dataclass(frozen=True, slots=True)
class Sent:
    account: str
    sequence: str
    frame: bytes
    ack: bytes

    @property
    def key(self) -> SignalKey:
        return self.account, self.sequence


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
        # Alarm and restore in turn on a zone that changes with the sequence: realistic traffic
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


def stored_signals(data_dir: Path) -> dict[SignalKey, list[datetime]]:
    """When each signal was received, once per stored event; read without writing."""
    with sqlite3.connect(f"file:{data_dir / DB_FILENAME}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT account, sequence, received_at FROM events WHERE protocol = 'ADM-CID'").fetchall()
    stored: dict[SignalKey, list[datetime]] = {}
    for account, sequence, received_at in rows:
        received = from_db(received_at)
        assert received is not None
        stored.setdefault((account, sequence), []).append(received)
    return stored


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


async def kill_between_commit_and_ack(receiver: subprocess.Popen[str], panels: list[PanelLog], data_dir: Path) -> None:
    """Freeze the receiver and look: once the store holds a signal its panel has no ACK for, kill."""
    deadline = time.monotonic() + AIM_FOR
    while True:
        receiver.send_signal(signal.SIGSTOP)
        await asyncio.sleep(0.02)  # ACKs already on the wire reach their panels meanwhile
        in_flight = {panel.in_flight.key for panel in panels if panel.in_flight}
        if in_flight & stored_signals(data_dir).keys() or time.monotonic() > deadline:
            receiver.send_signal(signal.SIGKILL)
            return
        receiver.send_signal(signal.SIGCONT)
        await asyncio.sleep(0.005)


async def run_until_killed(port: int, panels: list[PanelLog], receiver: subprocess.Popen[str], data_dir: Path) -> None:
    senders = [asyncio.create_task(send_until_cut(port, panel)) for panel in panels]
    await asyncio.sleep(RUN_BEFORE_KILL)
    await kill_between_commit_and_ack(receiver, panels, data_dir)
    await asyncio.wait_for(asyncio.gather(*senders), REPLY_TIMEOUT)


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


async def resend_all(port: int, panels: list[PanelLog]) -> None:
    await asyncio.gather(*(resend(port, panel) for panel in panels))


def test_signals_acked_before_a_sigkill_survive_and_resent_ones_are_stored_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    log_path = tmp_path / "receiver.log"
    port = free_port()
    panels = [PanelLog(f"{7000 + index}") for index in range(PANELS)]

    receiver = start_receiver(data_dir, port, log_path)
    try:
        asyncio.run(run_until_killed(port, panels, receiver, data_dir))
        assert receiver.wait(timeout=10) == -signal.SIGKILL
    finally:
        if receiver.poll() is None:
            receiver.kill()
    acked = [sent.key for panel in panels for sent in panel.acked]
    unacked = [sent.key for panel in panels for sent in panel.unacked]
    assert len(acked) >= 50, "too few signals ACKed before the kill for the test to mean anything"
    assert len(unacked) == PANELS, "every panel had one signal in flight when the receiver died"

    restarted_at = utcnow()
    receiver = start_receiver(data_dir, port, log_path)
    try:
        asyncio.run(resend_all(port, panels))
    finally:
        receiver.send_signal(signal.SIGTERM)
        status = receiver.wait(timeout=20)
    log = log_path.read_text(encoding="utf-8")
    assert status == 0 and "Traceback" not in log, log

    stored = stored_signals(data_dir)
    lost = [key for key in acked if key not in stored]
    assert lost == [], f"{len(lost)} ACKed signals lost in the crash"
    assert Counter({key: len(times) for key, times in stored.items()}) == Counter(acked + unacked), (
        "each signal, ACKed before the kill or resent after it, is stored exactly once"
    )
    stored_before_crash = [key for key in unacked if stored[key][0] < restarted_at]
    assert stored_before_crash, "some resent signal had been stored before the kill (its retry was deduplicated)"
