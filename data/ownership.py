"""Which process owns the receiver and the workers for a data folder.

Several consoles may share one data folder (operators on different SSH logins); exactly one of
them receives signals and runs billing. An exclusive ``flock`` on a file in the data folder
decides: the kernel releases it when the owner exits or dies, so another process can take over.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

LOCK_FILENAME = "receiver.lock"


@dataclass(frozen=True, slots=True)
class Owner:
    pid: int
    host: str
    user: str

    def describe(self) -> str:
        return f"{self.user}@{self.host} pid {self.pid}"


class ReceiverLock:
    def __init__(self, data_dir: Path, filename: str = LOCK_FILENAME) -> None:
        self.path = data_dir / filename
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        me = Owner(os.getpid(), socket.gethostname(), os.environ.get("USER", "?"))
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": me.pid, "host": me.host, "user": me.user}).encode(), 0)
        self._fd = fd
        return True

    def owner(self) -> Owner | None:
        """Who holds the lock now, as it wrote itself down (None if nobody or unreadable)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8") or "null")
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        try:
            return Owner(int(data["pid"]), str(data["host"]), str(data["user"]))
        except (KeyError, ValueError):
            return None

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
