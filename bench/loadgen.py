"""Load generator for bench/receiver.py: simulated DC-09 panels, in a process of their own.

Every panel is one TCP connection. Frames and the exact ACKs expected for them are built before
the clock starts, so during the run the generator only moves bytes and compares them.

    closed loop: each panel sends a signal, waits for its ACK, sends the next, until --seconds pass
    open loop:   each panel sends at its own Poisson-scheduled times whatever the ACKs do
                 (pipelined); latency runs from the scheduled time, so a late generator or a slow
                 receiver cannot hide queueing (no coordinated omission)

The closed loop drives its panels from asyncio. The open loop drives them from a bare epoll loop
over non-blocking sockets: it shares the machine's cores with the receiver it measures, and an
asyncio loop spent about 90 us of CPU per signal sent and answered (43 % of a core at 5,000/s),
time the receiver then waited for.

It talks to the orchestrator on stdin/stdout, one line each way: prints ``ready`` once every
connection is up and every frame built, reads ``go <start>`` (a time.monotonic() value, which is
system-wide on Linux), and prints one JSON object of results when done.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import resource
import select
import socket
import sys
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import TypeVar

from _common import MIXES, Exchange, exchange, panel_account, raise_fd_limit
from centinela.data.timeutil import utcnow
from centinela.receiver.dc09 import FrameError, parse_frame

CONNECT_CONCURRENCY = 256
"""Connections opened at once: enough to be quick, few enough not to overflow the listen backlog."""
CLOCK_LEAD = timedelta(seconds=10)
"""Closed loop: panel clocks run this far ahead of the build time, so a frame stays inside the
receiver's -40 s .. +20 s timestamp window from right after building until ~50 s later."""
SETUP_ALLOWANCE = 2.0
"""Open loop: seconds allowed, besides building, for connecting and for the other generator."""
FRESH_FOR = 45.0
"""Seconds after building that a pre-built closed-loop frame is still safely inside the window."""
DRAIN_TIMEOUT = 15.0
"""Seconds after the last send to wait for outstanding ACKs."""


@dataclass(slots=True)
class Results:
    sent: int = 0
    acked: int = 0
    bad: int = 0
    bad_tokens: Counter[str] = field(default_factory=Counter)
    """Wrong replies by their token (NAK, DUH, an ACK for another signal...)."""
    bad_samples: list[str] = field(default_factory=list)
    unsent: int = 0
    refused: int = 0
    dropped: int = 0
    built_in_run: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    lag_ms: list[float] = field(default_factory=list)
    by_account: Counter[str] = field(default_factory=Counter)
    """ACKs per account."""
    sent_by_account: Counter[str] = field(default_factory=Counter)
    last_ack: float = 0.0

    def reply(self, expected: Exchange, reply: bytes, started: float, now: float) -> None:
        if reply != expected.ack:
            self.wrong(reply, f"{expected.account}: expected {expected.ack!r}, got {reply!r}")
            return
        self.acked += 1
        self.by_account[expected.account] += 1
        self.latencies_ms.append(round((now - started) * 1000, 3))
        self.last_ack = now

    def wrong(self, reply: bytes, sample: str) -> None:
        self.bad += 1
        try:
            token = parse_frame(reply).token
        except FrameError:
            token = "unreadable"
        self.bad_tokens[token] += 1
        if len(self.bad_samples) < 5:
            self.bad_samples.append(sample)


class SocketTransport:
    """The part of an asyncio transport a Panel uses, over a non-blocking socket in an epoll set."""

    def __init__(self, sock: socket.socket, poller: select.epoll) -> None:
        self.sock = sock
        self.poller = poller
        self.unsent = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        if self.unsent:
            self.unsent += data
            return
        try:
            written = self.sock.send(data)
        except BlockingIOError:
            written = 0
        if written < len(data):  # the socket's buffer is full: the rest goes when it drains
            self.unsent = data[written:]
            self.poller.modify(self.sock.fileno(), select.EPOLLIN | select.EPOLLOUT)

    def drain(self) -> None:
        try:
            written = self.sock.send(self.unsent)
        except BlockingIOError:
            return
        self.unsent = self.unsent[written:]
        if not self.unsent:
            self.poller.modify(self.sock.fileno(), select.EPOLLIN)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.poller.unregister(self.sock.fileno())
            self.sock.close()


class Panel(asyncio.Protocol):
    """One panel's connection: writes frames, matches each reply to the oldest unanswered one
    (a receiver answers a connection's frames in order)."""

    def __init__(self, results: Results) -> None:
        self.results = results
        self.transport: asyncio.Transport | SocketTransport | None = None
        self.outstanding: deque[tuple[Exchange, float]] = deque()
        self.buffer = b""
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport | SocketTransport) -> None:
        assert isinstance(transport, asyncio.Transport | SocketTransport)
        self.transport = transport

    def send(self, item: Exchange, started: float) -> None:
        assert self.transport is not None
        if self.transport.is_closing():  # dropped: counted in connection_lost
            self.results.unsent += 1
            return
        self.outstanding.append((item, started))
        self.results.sent += 1
        self.results.sent_by_account[item.account] += 1
        self.transport.write(item.frame)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buffer = self.buffer + data
        while (end := buffer.find(b"\r")) >= 0:
            reply, buffer = buffer[: end + 1].lstrip(b"\x00"), buffer[end + 1 :]
            if not self.outstanding:
                self.results.wrong(reply, f"unsolicited {reply!r}")
                continue
            item, started = self.outstanding.popleft()
            self.results.reply(item, reply, started, now)
            self.answered(now)
        self.buffer = buffer

    def answered(self, now: float) -> None:
        """A reply came in; the closed loop sends its next signal here."""

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            self.results.dropped += 1

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()


class ClosedLoopPanel(Panel):
    def __init__(self, results: Results, account: str, mix: tuple[tuple[str, str], ...], pool: list[Exchange],
                 built_at: float) -> None:
        super().__init__(results)
        self.account = account
        self.mix = mix
        self.pool = pool
        self.stale_at = built_at + FRESH_FOR
        self.next_index = 0
        self.deadline = 0.0
        self.done = asyncio.get_running_loop().create_future()

    def start(self, deadline: float) -> None:
        self.deadline = deadline
        self._send_next(time.monotonic())

    def _send_next(self, now: float) -> None:
        if self.next_index < len(self.pool) and now < self.stale_at:
            item = self.pool[self.next_index]
        else:  # pool used up or too old for the timestamp window: build now, and say so
            item = exchange(self.account, self.next_index, self.mix, utcnow())
            self.results.built_in_run += 1
        self.next_index += 1
        self.send(item, time.monotonic())

    def answered(self, now: float) -> None:
        if now < self.deadline:
            self._send_next(now)
        elif not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.done.done():
            self.done.set_result(None)


PanelT = TypeVar("PanelT", bound=Panel)


async def connect_all(host: str, port: int, factories: list[Callable[[], PanelT]], results: Results) -> list[PanelT | None]:
    """One connection per factory, in order; None where the receiver refused it."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def connect(factory: Callable[[], PanelT]) -> PanelT | None:
        async with gate:
            try:
                _, protocol = await loop.create_connection(factory, host, port)
            except OSError:
                results.refused += 1
                return None
            return protocol

    return list(await asyncio.gather(*(connect(factory) for factory in factories)))


def read_go() -> float:
    """Tell the orchestrator we are ready and read the start it names."""
    print("ready", flush=True)
    line = sys.stdin.readline()
    word, start = line.split()
    if word != "go":
        raise SystemExit(f"expected 'go <start>', got {line!r}")
    return float(start)


async def wait_for_go() -> tuple[float, resource.struct_rusage]:
    """read_go, then sleep until the start; returns it and our CPU use then."""
    start = await asyncio.get_running_loop().run_in_executor(None, read_go)
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    return start, resource.getrusage(resource.RUSAGE_SELF)


async def closed_loop(args: argparse.Namespace, results: Results) -> None:
    mix = MIXES[args.mix]
    stamp = utcnow() + CLOCK_LEAD
    built_at = time.monotonic()
    pools = {
        panel_account(index): [exchange(panel_account(index), n, mix, stamp) for n in range(args.pool)]
        for index in range(args.first, args.first + args.panels)
    }
    connected = await connect_all(
        args.host, args.port,
        [partial(ClosedLoopPanel, results, account, mix, pool, built_at) for account, pool in pools.items()],
        results,
    )
    panels = [panel for panel in connected if panel is not None]
    start, cpu_start = await wait_for_go()
    for panel in panels:
        panel.start(start + args.seconds)
    if panels:
        await asyncio.wait([panel.done for panel in panels], timeout=args.seconds + DRAIN_TIMEOUT)
    finish(panels, results, start, cpu_start)


def building_time(count: int, mix: tuple[tuple[str, str], ...], sample: int = 200) -> float:
    """About how many seconds building ``count`` exchanges takes on this machine."""
    started = time.perf_counter()
    for n in range(sample):
        exchange(panel_account(0), n, mix, utcnow())
    return (time.perf_counter() - started) / sample * count


def open_loop(args: argparse.Namespace, results: Results) -> None:
    mix = MIXES[args.mix]
    rng = random.Random(args.seed)
    per_panel = args.rate / args.panels
    accounts = [panel_account(index) for index in range(args.first, args.first + args.panels)]
    schedule: list[tuple[float, int]] = []
    for slot in range(args.panels):
        at = rng.expovariate(per_panel)
        while at < args.seconds:
            schedule.append((at, slot))
            at += rng.expovariate(per_panel)
    schedule.sort()
    # Date each frame for when it is due, as a panel does: the start is about when building ends.
    stamp = utcnow() + timedelta(seconds=building_time(len(schedule), mix) + SETUP_ALLOWANCE)
    counters = [0] * args.panels
    plan: list[tuple[float, int, Exchange]] = []
    for at, slot in schedule:
        plan.append((at, slot, exchange(accounts[slot], counters[slot], mix, stamp + timedelta(seconds=at))))
        counters[slot] += 1
    poller = select.epoll()
    connected = connect_sockets(args.host, args.port, args.panels, poller, results)
    panels = {panel.transport.sock.fileno(): panel for panel in connected if panel is not None}  # type: ignore[union-attr]
    start = read_go()
    time.sleep(max(0.0, start - time.monotonic()))
    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    index = 0
    drain_until = math.inf
    while True:
        now = time.monotonic()
        while index < len(plan) and start + plan[index][0] <= now:
            at, slot, item = plan[index]
            scheduled = start + at
            panel = connected[slot]
            if panel is None:
                results.unsent += 1
            else:
                panel.send(item, scheduled)
                results.lag_ms.append(round((now - scheduled) * 1000, 3))
            index += 1
        if index < len(plan):
            timeout = start + plan[index][0] - time.monotonic()
        else:
            if drain_until == math.inf:
                drain_until = now + DRAIN_TIMEOUT
            if now >= drain_until or not any(panel.outstanding for panel in panels.values()):
                break
            timeout = 0.05
        for fd, mask in poller.poll(max(0.0, timeout)):
            serve_socket(panels[fd], mask)
    finish(list(panels.values()), results, start, cpu_start)


def connect_sockets(host: str, port: int, count: int, poller: select.epoll, results: Results) -> list[Panel | None]:
    """``count`` connected panels in an epoll set, in order; None where the receiver refused one."""
    connected: list[Panel | None] = []
    for _ in range(count):
        try:
            sock = socket.create_connection((host, port), timeout=30)
        except OSError:
            results.refused += 1
            connected.append(None)
            continue
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        poller.register(sock.fileno(), select.EPOLLIN)
        panel = Panel(results)
        panel.connection_made(SocketTransport(sock, poller))
        connected.append(panel)
    return connected


def serve_socket(panel: Panel, mask: int) -> None:
    transport = panel.transport
    assert isinstance(transport, SocketTransport)
    if mask & select.EPOLLOUT and transport.unsent:
        transport.drain()
    if not mask & (select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP):
        return
    try:
        data = transport.sock.recv(65536)
    except BlockingIOError:
        return
    except OSError:
        data = b""
    if data:
        panel.data_received(data)
    else:  # the receiver closed the connection
        transport.close()
        panel.connection_lost(None)


def finish(panels: list[PanelT], results: Results, start: float, cpu_start: resource.struct_rusage) -> None:
    cpu_end = resource.getrusage(resource.RUSAGE_SELF)
    for panel in panels:
        panel.close()
    json.dump({
        "sent": results.sent,
        "acked": results.acked,
        "unanswered": sum(len(panel.outstanding) for panel in panels),
        "bad": results.bad,
        "bad_tokens": results.bad_tokens,
        "bad_samples": results.bad_samples,
        "unsent": results.unsent,
        "refused": results.refused,
        "dropped": results.dropped,
        "built_in_run": results.built_in_run,
        "latencies_ms": results.latencies_ms,
        "lag_ms": results.lag_ms,
        "by_account": results.by_account,
        "sent_by_account": results.sent_by_account,
        "start": start,
        "last_ack": results.last_ack,
        "cpu_s": (cpu_end.ru_utime + cpu_end.ru_stime) - (cpu_start.ru_utime + cpu_start.ru_stime),
    }, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("closed", "open"), required=True)
    parser.add_argument("--first", type=int, default=0, help="index of this process's first panel")
    parser.add_argument("--panels", type=int, required=True, help="panels (connections) in this process")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--mix", choices=sorted(MIXES), default="daily")
    parser.add_argument("--pool", type=int, default=100, help="closed loop: frames pre-built per panel")
    parser.add_argument("--rate", type=float, default=0.0, help="open loop: this process's signals/s")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.mode == "open" and args.rate <= 0:
        parser.error("--rate is required in open loop")
    raise_fd_limit(args.panels + 64)
    results = Results()
    if args.mode == "closed":
        asyncio.run(closed_loop(args, results))
    else:
        open_loop(args, results)


if __name__ == "__main__":
    main()
