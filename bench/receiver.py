"""Receiver throughput and ACK latency under many panels, durable commits on, next to pysiaalarm.

Each scenario starts a fresh `centinela --headless` (SQLite WAL, synchronous=FULL: an ACK means
the signal is on disk) on a temporary data folder with the panels' accounts registered, drives it
from load generator processes (bench/loadgen.py), stops it, and checks the stored events against
the ACKs: every ACKed signal stored once, no more, no fewer.

    closed loop   N panels, each sends a signal and waits for its ACK before the next
    open loop     an alarm storm: thousands of panels send on their own schedules, pipelined
    compare       the same closed loop against pysiaalarm's asyncio TCP server (stores nothing)

    python bench/receiver.py [--seconds S] [--only closed|open|compare] [--n 1,100,1000]

Prints figures and PASS/MISS against the targets; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import math
import multiprocessing
import os
import platform
import pstats
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from _common import (
    descendants_cpu_seconds,
    free_port,
    machine_jiffies,
    panel_account,
    percentile,
    raise_fd_limit,
    start_receiver,
    stop_receiver,
    stored_by_account,
    thread_cpu_seconds,
    wait_for,
)
from centinela.data.accounts import set_account
from centinela.data.store import Store

LOADGEN = Path(__file__).with_name("loadgen.py")
CORES = os.cpu_count() or 1
SPARE_FDS = 256
"""Open files a server needs besides one per panel connection (database, logs, listeners);
servers inherit the limit this process raises at start."""
GO_DELAY = 0.3
"""Seconds between telling the generators to go and the common start, so they start together."""

REJECTION = re.compile(r": protocol_error .*?\breason=(\w+)")
"""The receiver's log line for a frame it NAKs or DUHs (receiver/logfmt.py)."""

NO_WARNINGS = "no warnings or errors"

CLOSED_TARGETS = {1: 0.5, 100: 1.2, 1000: 1.2}
"""Minimum ours/pysiaalarm throughput ratio per N."""
STORM_P99_MS = 50.0


@dataclass(frozen=True, slots=True)
class Server:
    port: int
    pid: int
    data_dir: Path | None
    """None for a server that stores nothing."""
    stop: Callable[[], None]
    """Idempotent; a durable server has committed everything in flight when it returns."""


@dataclass(frozen=True, slots=True)
class CpuUse:
    server: float
    """Fraction of one core, all the server's threads."""
    server_loop: float
    """Fraction of one core, the server's main (event loop) thread."""
    writer: float
    """Fraction of one core, the server's other processes (its event writer)."""
    generators: float
    """Fraction of one core, all load generator processes."""
    machine: float
    """Fraction of every core the machine has."""


@dataclass(frozen=True, slots=True)
class Load:
    panels: int
    elapsed: float
    """Seconds from the start to the last ACK."""
    sent: int
    acked: int
    unanswered: int
    bad: int
    bad_tokens: Counter[str]
    bad_samples: list[str]
    unsent: int
    refused: int
    dropped: int
    built_in_run: int
    latencies_ms: list[float]
    lag_ms: list[float]
    by_account: Counter[str]
    """ACKs per account."""
    sent_by_account: Counter[str]
    cpu: CpuUse

    @property
    def rate(self) -> float:
        return self.acked / self.elapsed if self.elapsed > 0 else 0.0

    def latency(self) -> str:
        if not self.latencies_ms:
            return "no ACKs"
        ms = self.latencies_ms
        return f"p50 {percentile(ms, 0.5):7.2f}  p99 {percentile(ms, 0.99):7.2f}  max {max(ms):7.2f}"


@dataclass(frozen=True, slots=True)
class Storage:
    """Stored events checked, per account, against what was ACKed and what was sent."""

    stored: int
    lost: int
    """ACKed signals missing from the store."""
    duplicated: int
    """Stored events beyond what was sent: a signal stored twice."""
    unanswered_stored: int
    """Sent, stored, but not ACKed before the generator stopped waiting (committed at shutdown)."""

    @property
    def exact(self) -> bool:
        return self.lost == self.duplicated == self.unanswered_stored == 0

    def describe(self) -> str:
        if self.exact:
            return f"{self.stored} (= ACKed)"
        verdict = f"{self.stored} (LOST {self.lost}, DUPLICATED {self.duplicated}"
        return verdict + f", {self.unanswered_stored} stored whose ACK never came)"


# --------------------------------------------------------------------------- servers


async def register_accounts(data_dir: Path, accounts: list[str]) -> None:
    """Panels of monitored customers: their accounts are known, as in production."""
    store = await Store.open(data_dir)
    try:
        async with store.transaction() as db:
            for account in accounts:
                await set_account(db, account, receiver=None, line=None, key=None, test_interval_s=None)
    finally:
        await store.close()


@contextmanager
def centinela_server(panels: int, profile_to: Path | None) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="centinela-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        asyncio.run(register_accounts(data_dir, [panel_account(index) for index in range(panels)]))
        port = free_port()
        process = start_receiver(data_dir, port, profile_to=profile_to)

        def stop() -> None:
            status = stop_receiver(process)
            if status != 0:
                raise SystemExit(f"centinela exited with status {status}")

        try:
            wait_for(port, process=process)
            yield Server(port, process.pid, data_dir, stop)
        finally:
            stop()


def serve_pysiaalarm(port: int, accounts: list[str]) -> None:
    """pysiaalarm's asyncio TCP server with our panels' accounts, in its own process."""
    from pysiaalarm import SIAAccount
    from pysiaalarm.aio import SIAClient

    async def ignore(event: object) -> None:
        """pysiaalarm ACKs before calling this, and keeps nothing."""

    async def serve() -> None:
        # SIAClient's __new__ hands back its TCP subclass; type checkers only see the abstract base.
        client = SIAClient("127.0.0.1", port, [SIAAccount(account) for account in accounts], ignore)  # type: ignore[abstract]
        await client.async_start(backlog=4096)
        await asyncio.Event().wait()

    asyncio.run(serve())


@contextmanager
def pysiaalarm_server(panels: int) -> Iterator[Server]:
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=serve_pysiaalarm, args=(port, [panel_account(index) for index in range(panels)]),
        daemon=True,
    )
    process.start()
    assert process.pid is not None

    def stop() -> None:
        if process.is_alive():
            process.terminate()
        process.join(10)

    try:
        wait_for(port)
        yield Server(port, process.pid, None, stop)
    finally:
        stop()


# --------------------------------------------------------------------------- load


def drive(server: Server, mode: str, panels: int, seconds: float, generators: int, *,
          pool: int = 0, rate: float = 0.0, mix: str = "daily") -> Load:
    """Run the load generators against ``server`` and merge what they report.

    ``pool``: closed loop, frames pre-built per panel; ``rate``: open loop, signals/s in all.
    """
    processes = generators if panels >= generators else 1
    shares = [panels // processes + (1 if index < panels % processes else 0) for index in range(processes)]
    firsts = [sum(shares[:index]) for index in range(processes)]
    children = [
        subprocess.Popen(
            [sys.executable, str(LOADGEN), "--port", str(server.port), "--mode", mode, "--first", str(first),
             "--panels", str(share), "--seconds", str(seconds), "--seed", str(index + 1), "--mix", mix,
             *(["--pool", str(pool)] if pool else []),
             *(["--rate", str(rate * share / panels)] if rate else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for index, (first, share) in enumerate(zip(firsts, shares))
    ]
    try:
        for child in children:
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                raise SystemExit(f"load generator exited with status {child.wait()}")
        server_before = thread_cpu_seconds(server.pid)
        writer_before = descendants_cpu_seconds(server.pid)
        machine_before = machine_jiffies()
        start = time.monotonic() + GO_DELAY
        for child in children:
            assert child.stdin is not None
            child.stdin.write(f"go {start!r}\n")
            child.stdin.flush()
        reports = [json.loads(child.communicate(timeout=seconds + 180)[0]) for child in children]
        window = time.monotonic() - start
        server_after = thread_cpu_seconds(server.pid)
        writer_after = descendants_cpu_seconds(server.pid)
        machine_after = machine_jiffies()
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    busy = machine_after[0] - machine_before[0]
    total = machine_after[1] - machine_before[1]
    cpu = CpuUse(
        server=(sum(server_after.values()) - sum(server_before.values())) / window,
        server_loop=(server_after.get(server.pid, 0.0) - server_before.get(server.pid, 0.0)) / window,
        writer=sum(seconds - writer_before.get(pid, 0.0) for pid, seconds in writer_after.items()) / window,
        generators=sum(report["cpu_s"] for report in reports) / window,
        machine=busy / total if total else 0.0,
    )
    last_ack = max(report["last_ack"] for report in reports)
    return Load(
        panels=panels,
        elapsed=max(0.0, last_ack - start),
        sent=sum(report["sent"] for report in reports),
        acked=sum(report["acked"] for report in reports),
        unanswered=sum(report["unanswered"] for report in reports),
        bad=sum(report["bad"] for report in reports),
        bad_tokens=sum((Counter(report["bad_tokens"]) for report in reports), Counter()),
        bad_samples=[sample for report in reports for sample in report["bad_samples"]][:5],
        unsent=sum(report["unsent"] for report in reports),
        refused=sum(report["refused"] for report in reports),
        dropped=sum(report["dropped"] for report in reports),
        built_in_run=sum(report["built_in_run"] for report in reports),
        latencies_ms=[value for report in reports for value in report["latencies_ms"]],
        lag_ms=[value for report in reports for value in report["lag_ms"]],
        by_account=sum((Counter(report["by_account"]) for report in reports), Counter()),
        sent_by_account=sum((Counter(report["sent_by_account"]) for report in reports), Counter()),
        cpu=cpu,
    )


def check_storage(server: Server, load: Load) -> Storage | None:
    """After the server stopped: stored events of our panels against their ACKs."""
    if server.data_dir is None:
        return None
    stored = stored_by_account(server.data_dir)
    accounts = {panel_account(index) for index in range(load.panels)}
    acked, sent = load.by_account, load.sent_by_account
    return Storage(
        stored=sum(stored[account] for account in accounts),
        lost=sum(max(0, acked[account] - stored[account]) for account in accounts),
        duplicated=sum(max(0, stored[account] - sent[account]) for account in accounts),
        unanswered_stored=sum(
            max(0, min(stored[account], sent[account]) - acked[account]) for account in accounts
        ),
    )


def summarize_log(server: Server) -> str:
    """Warnings and errors the server logged, protocol rejections counted by reason."""
    if server.data_dir is None:
        return "n/a"
    levels: Counter[str] = Counter()
    rejections: Counter[str] = Counter()
    first: dict[str, str] = {}
    for path in sorted((server.data_dir / "logs").glob("centinela.log*")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            fields = line.split(" ", 3)
            if len(fields) == 4 and fields[2] in ("WARNING", "ERROR", "CRITICAL"):
                levels[fields[2]] += 1
                first.setdefault(fields[2], fields[3][:140])
                if match := REJECTION.search(fields[3]):
                    rejections[match[1]] += 1
    if not levels:
        return NO_WARNINGS
    return ", ".join(f"{count} {level} (first: {first[level]!r})" for level, count in levels.items()) + (
        f"; protocol rejections {dict(rejections)}" if rejections else ""
    )


def where_time_goes(load: Load) -> str:
    cpu = load.cpu
    notes = [
        (f"CPU: server {cpu.server:4.0%} of a core (event loop thread {cpu.server_loop:4.0%}),"
         f" its event writer process {cpu.writer:4.0%}, generators {cpu.generators:4.0%},"
         f" machine {cpu.machine:4.0%} of {CORES} cores")
    ]
    if cpu.server >= 0.9:
        # The receiving process's threads share one GIL: near one core in all is its ceiling.
        notes.append("server CPU-bound")
    if cpu.writer >= 0.8:
        notes.append("writer-bound")
    if cpu.machine >= 0.85:
        notes.append("machine saturated (server, writer and generators share the cores)")
    elif cpu.server < 0.6 and cpu.writer < 0.6:
        notes.append("server mostly waiting: commit/fsync latency bound")
    if load.built_in_run:
        notes.append(f"{load.built_in_run} frames built during the run (raise --pool-rate)")
    return "; ".join(notes)


# --------------------------------------------------------------------------- scenarios


def closed_loop(server_for: Callable[[int], AbstractContextManager[Server]], args: argparse.Namespace, label: str,
                profiles: Path | None = None) -> dict[int, Load]:
    """One fresh server per N; ``profiles`` holds the servers' cProfile output, if they write one."""
    print(f"\n== closed loop against {label}: each panel waits for its ACK; {args.seconds:g} s per N")
    print(f"{'N':>6} {'signals/s':>10}   ACK latency ms{'':35} {'ACKed':>8}  stored")
    results: dict[int, Load] = {}
    for panels in args.n:
        pool = math.ceil(args.pool_rate * args.seconds / panels) + 2
        with server_for(panels) as server:
            load = drive(server, "closed", panels, args.seconds, args.generators, pool=pool)
            server.stop()
            storage = check_storage(server, load)
            log = summarize_log(server)
        results[panels] = load
        print(f"{panels:>6} {load.rate:>10,.0f}   {load.latency():<49} {load.acked:>8}  "
              f"{storage.describe() if storage else 'n/a (stores nothing)'}")
        print(f"{'':>6} {where_time_goes(load)}")
        problems = report_problems(load)
        if problems:
            print(f"{'':>6} PROBLEM: {problems}")
        if log not in ("n/a", NO_WARNINGS):
            print(f"{'':>6} receiver log: {log}")
        if profiles is not None:
            print_profile(profile_path(profiles, panels))
    return results


def report_problems(load: Load) -> str:
    problems = []
    if load.bad:
        problems.append(f"{load.bad} wrong replies {dict(load.bad_tokens)}, e.g. {load.bad_samples[:1]}")
    for name in ("unanswered", "unsent", "refused", "dropped"):
        if value := getattr(load, name):
            problems.append(f"{value} {name}")
    return "; ".join(problems)


def open_loop(args: argparse.Namespace) -> Load:
    panels, rate, seconds = args.storm_panels, args.storm_rate, args.storm_seconds
    print(f"\n== open loop (alarm storm): {panels} panels, {rate:g} signals/s in all (Poisson per panel),"
          f" {seconds:g} s, pipelined")
    with centinela_server(panels, None) as server:
        load = drive(server, "open", panels, seconds, args.generators, rate=rate, mix="storm")
        server.stop()
        storage = check_storage(server, load)
        log_summary = summarize_log(server)
    assert storage is not None
    print(f"connections: {panels - load.refused} of {panels} up; refused {load.refused}, dropped {load.dropped}")
    print(f"signals: sent {load.sent}, ACKed {load.acked}, stored {storage.describe()}; "
          f"wrong replies {load.bad} {dict(load.bad_tokens)}, unanswered {load.unanswered}, unsent {load.unsent}")
    print(f"receiver log: {log_summary}")
    print(f"ACK latency ms (from the scheduled send): {load.latency()}")
    if load.lag_ms:
        print(f"generator lag behind schedule ms: p99 {percentile(load.lag_ms, 0.99):.2f}  max {max(load.lag_ms):.2f}")
    print(where_time_goes(load))
    p99 = percentile(load.latencies_ms, 0.99) if load.latencies_ms else math.inf
    lossless = load.refused == load.dropped == load.unanswered == load.bad == 0 and storage.exact
    verdict = "PASS" if p99 <= STORM_P99_MS and lossless else "MISS"
    print(f"target: ACK p99 <= {STORM_P99_MS:g} ms, 0 refused/dropped, every signal ACKed and stored once: "
          f"{verdict} (p99 {p99:.1f} ms)")
    return load


def compare(ours: dict[int, Load], theirs: dict[int, Load]) -> None:
    print("\n== ours / pysiaalarm, closed loop (ours durable on disk, theirs keeps nothing)")
    for panels, mine in ours.items():
        if panels not in theirs or theirs[panels].rate == 0:
            continue
        ratio = mine.rate / theirs[panels].rate
        target = CLOSED_TARGETS.get(panels)
        verdict = "" if target is None else f"target >= {target:g}x: {'PASS' if ratio >= target else 'MISS'}"
        print(f"N={panels:<6} {mine.rate:>8,.0f} / {theirs[panels].rate:>8,.0f} signals/s = {ratio:5.2f}x   {verdict}")


def profile_path(profiles: Path, panels: int) -> Path:
    return profiles / f"centinela-{panels}.prof"


def print_profile(path: Path, top: int = 15) -> None:
    print("receiver's event loop thread under cProfile (which slows it: the figures above are not comparable)")
    pstats.Stats(str(path), stream=sys.stdout).strip_dirs().sort_stats("tottime").print_stats(top)


# --------------------------------------------------------------------------- main


def fsync_median_ms(folder: str, rounds: int = 30) -> float:
    """A 4 KiB append and fsync, as a WAL commit does: the floor under every durable ACK."""
    with tempfile.NamedTemporaryFile(dir=folder) as probe:
        timings = []
        for _ in range(rounds):
            probe.write(b"\0" * 4096)
            probe.flush()
            started = time.perf_counter()
            os.fsync(probe.fileno())
            timings.append((time.perf_counter() - started) * 1000)
    return percentile(timings, 0.5)


def filesystem_of(folder: str) -> str:
    best, kind = "", "?"
    with open("/proc/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            _, mount_point, fstype, *_ = line.split()
            if folder.startswith(mount_point) and len(mount_point) > len(best):
                best, kind = mount_point, fstype
    return kind


def machine_busy(seconds: float = 1.0) -> float:
    """Fraction of all cores busy over ``seconds``: what else is running on this machine."""
    busy_before, total_before = machine_jiffies()
    time.sleep(seconds)
    busy_after, total_after = machine_jiffies()
    return (busy_after - busy_before) / max(1, total_after - total_before)


@dataclass(frozen=True, slots=True)
class Stalls:
    """How steadily this machine runs the same CPU work while idle."""

    episodes: int
    worst: float
    """The slowest unit of work, as a multiple of the median."""
    longest_ms: float
    seconds: float


def cpu_stalls(seconds: float = 5.0, unit: int = 10_000) -> Stalls:
    """Time one fixed piece of pure-CPU work over and over; count the episodes where it ran at
    least twice as slow as usual. On a shared host (a VM whose host pauses or slows it) these
    slow every process at once, and every latency tail measured here includes them."""
    runs: list[tuple[float, float]] = []
    end = time.perf_counter() + seconds
    while (started := time.perf_counter()) < end:
        total = 0
        for number in range(unit):
            total += number * number
        runs.append((started, time.perf_counter() - started))
    median = percentile([took for _, took in runs], 0.5)
    episodes: list[list[float]] = []  # [start, end]
    for started, took in runs:
        if took < 2 * median:
            continue
        if episodes and started - episodes[-1][1] < 0.1:
            episodes[-1][1] = started + took
        else:
            episodes.append([started, started + took])
    return Stalls(
        episodes=len(episodes),
        worst=max(took for _, took in runs) / median,
        longest_ms=max((stop - start for start, stop in episodes), default=0.0) * 1000,
        seconds=seconds,
    )


def print_machine(connections: int) -> None:
    folder = tempfile.gettempdir()
    soft = raise_fd_limit(connections + SPARE_FDS)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    print(f"machine: {CORES} cores shared by the server and the load generators; {platform.system()} "
          f"{platform.release()}, Python {platform.python_version()}")
    print(f"disk: {filesystem_of(folder)} at {folder}, fsync of a 4 KiB append: median {fsync_median_ms(folder):.1f} ms")
    enough = "enough" if soft >= connections + SPARE_FDS else "TOO FEW: raise the hard limit (ulimit -Hn)"
    print(f"open files: soft {soft}, hard {hard}; servers inherit the soft limit, {connections} connections need"
          f" {connections + SPARE_FDS}: {enough}")
    print(f"machine busy before starting: {machine_busy():.0%} of {CORES} cores (other processes; figures are noisy if high)")
    stalls = cpu_stalls()
    print(f"CPU steadiness, idle: in {stalls.seconds:g} s the same work ran at least 2x slower in {stalls.episodes}"
          f" episode(s), at worst {stalls.worst:.1f}x, the longest {stalls.longest_ms:.0f} ms"
          + (" (the host slows the whole machine at times: latency tails measured here include those episodes)"
             if stalls.episodes else ""))


def parse_counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of panel counts, each at least 1")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="closed loop: seconds per N (default 10)")
    parser.add_argument("--n", type=parse_counts, default=[1, 100, 1000], help="closed loop panel counts")
    parser.add_argument("--only", choices=("closed", "open", "compare"),
                        help="closed: ours only; compare: ours and pysiaalarm; open: the storm (default: all)")
    parser.add_argument("--storm-seconds", type=float, default=30.0)
    parser.add_argument("--storm-panels", type=int, default=5000)
    parser.add_argument("--storm-rate", type=float, default=5000.0, help="signals/s from all storm panels together")
    parser.add_argument("--generators", type=int, choices=(1, 2), default=2, help="load generator processes")
    parser.add_argument("--pool-rate", type=float, default=6000.0,
                        help="closed loop: signals/s to pre-build frames for (beyond it frames are built in the run)")
    parser.add_argument("--profile", action="store_true", help="run our receiver under cProfile, print where it spends")
    args = parser.parse_args()

    print_machine(max(*args.n, args.storm_panels if args.only in (None, "open") else 0))
    with tempfile.TemporaryDirectory(prefix="centinela-profile-") as folder:
        profiles = Path(folder) if args.profile else None

        def ours(panels: int) -> AbstractContextManager[Server]:
            return centinela_server(panels, profile_path(profiles, panels) if profiles else None)

        if args.only in (None, "closed", "compare"):
            mine = closed_loop(ours, args, "centinela (durable)", profiles)
            if args.only != "closed":
                if importlib.util.find_spec("pysiaalarm") is None:
                    print("\npysiaalarm is not installed: comparison skipped (pip install pysiaalarm)")
                else:
                    theirs = closed_loop(pysiaalarm_server, args, "pysiaalarm (stores nothing)")
                    compare(mine, theirs)
        if args.only in (None, "open"):
            open_loop(args)


if __name__ == "__main__":
    main()
