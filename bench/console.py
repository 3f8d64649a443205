"""The console under load: 1,000,000 events in the store, 100 signals/s arriving.

Prints time to first paint of the dashboard, the time from a frame's ACK (seen by the panel) to
its row on screen and from the frame's send to its row on screen (p50/p99), and the console
process's peak memory. The app runs headless in this process (Textual's test driver, the same
code path as a terminal); the panels run in a separate process and report when each frame was
sent and its ACK arrived.

    python bench/console.py [--events 1000000] [--rate 100] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import free_port, percentile

from centinela.config import Config, ReceiverConfig
from centinela.data.operators import Operator
from centinela.data.store import Store
from centinela.runtime import Runtime
from centinela.tui.app import CentinelaApp
from centinela.tui.screens.dashboard import DashboardScreen
from centinela.tui.widgets.live_table import LiveTable

TARGETS = {"first paint s": 1.0, "ACK to screen p99 ms": 250.0, "peak memory MB": 300.0}

PANELS = textwrap.dedent("""
    import asyncio, sys, time
    from centinela.data.timeutil import utcnow
    from centinela.receiver.dc09 import build_frame

    async def main(port, rate, seconds):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        interval, start = 1 / rate, time.monotonic()
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + n * interval - time.monotonic()))
            account = f"B{n % 500:03d}"
            frame = build_frame("ADM-CID", f"{n % 9999 + 1:04d}", account=account,
                                data=f"#{account}|1130 01 {n % 999 + 1:03d}", timestamp=utcnow())
            sent = time.time()
            writer.write(frame)
            await writer.drain()
            await reader.readuntil(b"\\r")
            print(account, f"{n % 9999 + 1:04d}", sent, time.time(), flush=True)
        writer.close()

    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])))
""")


def fill(data_dir: Path, count: int) -> float:
    """Write ``count`` historical events straight into a migrated store; returns seconds taken."""
    asyncio.run(_migrate(data_dir))
    started = time.perf_counter()
    db = sqlite3.connect(data_dir / "centinela.db")
    db.execute("PRAGMA synchronous=OFF")
    rng = random.Random(7)
    first = datetime.now(UTC) - timedelta(days=90)
    step = timedelta(days=90) / count
    codes = [("602", "1", 6, "resolved"), ("401", "1", 5, "resolved"), ("401", "3", 5, "resolved"),
             ("130", "1", 2, "resolved"), ("301", "1", 3, "resolved"), ("110", "1", 1, "resolved")]

    def rows():  # type: ignore[no-untyped-def]
        for n in range(count):
            code, qualifier, priority, status = codes[rng.randrange(len(codes))]
            account = f"{rng.randrange(20000):04X}"
            at = (first + step * n).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            yield (at, "ADM-CID", f"#{account}|{qualifier}{code} 01 001", account, f"{n % 9999:04d}", code,
                   qualifier, "001", "01", priority, f"Cliente {account}", status)

    db.executemany(
        "INSERT INTO events (received_at, protocol, raw, account, sequence, code, qualifier, zone, partition,"
        " priority, customer_name, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows(),
    )
    db.commit()
    # Leave the file as a long-running station would: history in the database, not a 200 MB
    # write-ahead log that the console would have to index when it opens.
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return time.perf_counter() - started


async def _migrate(data_dir: Path) -> None:
    store = await Store.open(data_dir)
    await store.close()


async def measure(data_dir: Path, rate: float, seconds: float) -> dict[str, float]:
    port = free_port()
    config = Config(data_dir=data_dir, receiver=ReceiverConfig(tcp=[f"127.0.0.1:{port}"], supervision_interval=3600))
    app = CentinelaApp(Runtime(config), operator=Operator(1, "bench", None, "admin", True), detect_sound=False)
    shown_at: dict[tuple[str, str], float] = {}
    started = time.perf_counter()
    async with app.run_test(size=(160, 48)) as pilot:
        while not isinstance(app.screen, DashboardScreen) or not app.screen.query_one("#events-table", LiveTable).row_count:
            await pilot.pause(0.005)
        screen = app.screen
        first_paint = time.perf_counter() - started

        original = screen._apply

        def timed_apply(added, updated):  # type: ignore[no-untyped-def]
            original(added, updated)
            now = time.time()  # rows are in the table now; Textual paints them on its next refresh
            for event in added:
                shown_at.setdefault((event.account or "", event.sequence or ""), now)

        screen._apply = timed_apply  # type: ignore[method-assign]
        panels = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PANELS, str(port), str(rate), str(seconds), stdout=subprocess.PIPE,
        )
        sent: dict[tuple[str, str], float] = {}
        acked: dict[tuple[str, str], float] = {}
        assert panels.stdout is not None
        async for line in panels.stdout:
            account, sequence, sent_at, acked_at = line.decode().split()
            sent[(account, sequence)] = float(sent_at)
            acked[(account, sequence)] = float(acked_at)
        await panels.wait()
        await pilot.pause(0.5)
    latencies = [(shown_at[key] - ack) * 1000 for key, ack in acked.items() if key in shown_at]
    # From the panel's send: what the operator waits for, whichever of ACK and row comes first.
    from_send = [(shown_at[key] - at) * 1000 for key, at in sent.items() if key in shown_at]
    return {
        "first paint s": first_paint,
        "signals": len(acked),
        "shown": len(latencies),
        "ACK to screen p50 ms": percentile(latencies, 0.50) if latencies else float("nan"),
        "ACK to screen p99 ms": percentile(latencies, 0.99) if latencies else float("nan"),
        "send to screen p50 ms": percentile(from_send, 0.50) if from_send else float("nan"),
        "send to screen p99 ms": percentile(from_send, 0.99) if from_send else float("nan"),
        "peak memory MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        filled = fill(data_dir, args.events)
        print(f"store: {args.events:,} events written in {filled:.1f} s "
              f"({(data_dir / 'centinela.db').stat().st_size / 2**20:.0f} MB)")
        figures = measure_sync(data_dir, args.rate, args.seconds)
    print(f"load: {args.rate:g} signals/s for {args.seconds:g} s over one TCP link (panels in another process)")
    for name, value in figures.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else ("  PASS" if value < target else "  MISS") + f" (target < {target:g})"
        print(f"{name}: {value:,.2f}{verdict}")
    print(json.dumps(figures))


def measure_sync(data_dir: Path, rate: float, seconds: float) -> dict[str, float]:
    return asyncio.run(measure(data_dir, rate, seconds))


if __name__ == "__main__":
    main()
