"""Frame-sent to ACK-received latency on one DC-09 TCP connection, durable commits on.

Starts `centinela --headless` in its own process on a temporary data folder, sends N frames
one at a time over one connection (each waits for its ACK), prints median, p99 and max.

    python bench/ack_latency.py [--frames 1000]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from pathlib import Path

from _common import free_port, percentile, start_receiver, stop_receiver, wait_for
from centinela.data.timeutil import utcnow
from centinela.receiver.dc09 import build_frame


def run(frames: int) -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        receiver = start_receiver(Path(data_dir), port)
        try:
            wait_for(port)
            latencies: list[float] = []
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                started = time.perf_counter()
                for n in range(frames):
                    frame = build_frame("ADM-CID", f"{n % 9999 + 1:04d}", account="1234",
                                        data=f"#1234|1130 01 {n % 999 + 1:03d}", timestamp=utcnow())
                    sent = time.perf_counter()
                    sock.sendall(frame)
                    reply = b""
                    while not reply.endswith(b"\r"):
                        reply += sock.recv(4096)
                    latencies.append(time.perf_counter() - sent)
                    if b'"ACK"' not in reply:
                        raise SystemExit(f"frame {n} not acknowledged: {reply!r}")
                elapsed = time.perf_counter() - started
        finally:
            stop_receiver(receiver, timeout=30)
    ms = [value * 1000 for value in latencies]
    print(f"frames: {frames} on one connection, synchronous=FULL, WAL")
    print(f"throughput: {frames / elapsed:,.0f} frames/s")
    print(f"ACK latency ms: median {statistics.median(ms):.2f}  p99 {percentile(ms, 0.99):.2f}  max {max(ms):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    run(parser.parse_args().frames)
