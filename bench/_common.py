"""What the receiver benchmarks share: the headless receiver process, simulated panels' frames,
percentiles, and CPU accounting read from /proc.

The benchmarks run as scripts (``python bench/<name>.py``), so this module imports as ``_common``.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from centinela.data.db import DB_FILENAME
from centinela.receiver.dc09 import build_frame

RECEIVER_CONFIG = 'log_level = "WARNING"\n'
"""Per-event INFO lines would measure the log, not the receiver."""

RECEIVER_NUMBER = "1"
LINE_NUMBER = "1"
"""Every simulated panel reports as R1 L1: pysiaalarm insists on a line number."""

# (token, data after "#account|"); {n} is a zone or user number. Eight kinds, a count coprime
# with the 9,999 sequence numbers, so a panel's (sequence, content) pair repeats only after
# 79,992 signals: no benchmark run sends a true duplicate the receiver would fold into one event.
DAILY_MIX: tuple[tuple[str, str], ...] = (
    ("ADM-CID", "1602 00 {n:03d}"),  # periodic test
    ("ADM-CID", "1401 01 {n:03d}"),  # opened by user
    ("ADM-CID", "3401 01 {n:03d}"),  # closed by user
    ("SIA-DCS", "Nri1/OP{n:03d}"),
    ("SIA-DCS", "Nri1/CL{n:03d}"),
    ("ADM-CID", "1130 01 {n:03d}"),  # burglary
    ("ADM-CID", "3130 01 {n:03d}"),  # burglary restored
    ("SIA-DCS", "Nri1/RP{n:03d}"),  # automatic test
)
# A mains failure across a district: AC loss and low battery, then their restores.
STORM_MIX: tuple[tuple[str, str], ...] = (
    ("ADM-CID", "1301 00 {n:03d}"),
    ("ADM-CID", "1302 00 {n:03d}"),
    ("ADM-CID", "3301 00 {n:03d}"),
    ("ADM-CID", "3302 00 {n:03d}"),
)
MIXES = {"daily": DAILY_MIX, "storm": STORM_MIX}


@dataclass(frozen=True, slots=True)
class Exchange:
    """One signal as a panel sends it and the exact ACK that acknowledges it."""

    account: str
    frame: bytes
    ack: bytes


def panel_account(index: int) -> str:
    return f"{100001 + index}"


def exchange(account: str, n: int, mix: tuple[tuple[str, str], ...], timestamp: datetime) -> Exchange:
    """The panel's ``n``-th signal (0-based): sequence wraps at 9999 as DC-09 panels do."""
    token, data = mix[n % len(mix)]
    sequence = n % 9999 + 1
    content = f"#{account}|" + data.format(n=n % 64 + 1)
    frame = build_frame(token, sequence, receiver=RECEIVER_NUMBER, line=LINE_NUMBER, account=account,
                        data=content, timestamp=timestamp)
    ack = build_frame("ACK", sequence, receiver=RECEIVER_NUMBER, line=LINE_NUMBER, account=account)
    return Exchange(account, frame, ack)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, timeout: float = 30, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"server exited with status {process.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"receiver did not listen on {port}")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def raise_fd_limit(needed: int) -> int:
    """Lift the soft open-files limit towards ``needed`` (never above the hard limit); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        return wanted
    return soft


def start_receiver(data_dir: Path, port: int, *, profile_to: Path | None = None) -> subprocess.Popen[bytes]:
    """``centinela --headless`` on ``data_dir`` in its own process, logging warnings only.

    It inherits this process's open-files limit: raise it first (:func:`raise_fd_limit`) for
    many connections.
    """
    config = data_dir / "bench.toml"
    config.write_text(RECEIVER_CONFIG, encoding="utf-8")
    profiler = ["-m", "cProfile", "-o", str(profile_to)] if profile_to else []
    return subprocess.Popen(
        [sys.executable, *profiler, "-m", "centinela", "--headless", "--config", str(config),
         "--data-dir", str(data_dir), "--tcp", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def stop_receiver(process: subprocess.Popen[bytes], timeout: float = 60) -> int:
    """SIGTERM (listeners close, in-flight signals commit), then wait for the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return process.wait(timeout=timeout)


def stored_by_account(data_dir: Path) -> Counter[str]:
    """Events per account, read from the database file without writing to it."""
    with sqlite3.connect(f"file:{data_dir / DB_FILENAME}?mode=ro", uri=True) as db:
        return Counter(dict(db.execute("SELECT account, count(*) FROM events WHERE account IS NOT NULL GROUP BY account")))


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_cpu(stat_path: str) -> float:
    with open(stat_path, encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds used so far by each thread of ``pid`` (the main thread's id is ``pid``)."""
    seconds: dict[int, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            seconds[int(tid)] = _stat_cpu(f"/proc/{pid}/task/{tid}/stat")
        except FileNotFoundError:  # the thread ended meanwhile
            continue
    return seconds


def descendants_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds used so far by each process descended from ``pid`` (the server's event writer
    runs in one of them), by process id."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError):
                continue
    found: dict[int, float] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child in [child for child, ppid in parents.items() if ppid == parent]:
            try:
                found[child] = _stat_cpu(f"/proc/{child}/stat")
            except FileNotFoundError:
                continue
            frontier.append(child)
    return found


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    with open("/proc/stat", encoding="ascii") as stat:
        values = [int(value) for value in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)
