"""The Sur-Gard receiver's end of a pseudo-terminal pair: a real serial device path for tests."""

from __future__ import annotations

import asyncio
import os
import tty

from centinela.receiver.surgard import DC4

CONTACT_ID = b"501100 181234E13001004" + DC4
HEARTBEAT = b"1011           @    " + DC4


class FakeReceiver:
    """The receiver's end of a pseudo-terminal pair: writes messages, reads the answers."""

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        # Raw from the start, so nothing we write is echoed back as if it were an answer.
        tty.setraw(self._slave)
        self.device = os.ttyname(self._slave)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    async def answers(self, count: int = 1, timeout: float = 3.0) -> bytes:
        received = b""
        async with asyncio.timeout(timeout):
            while len(received) < count:
                await self._readable()
                received += os.read(self.master, count - len(received))
        return received

    async def silence(self, wait: float = 0.3) -> bytes:
        """Whatever was answered within ``wait`` seconds (b"" for nothing)."""
        try:
            return await self.answers(1, timeout=wait)
        except TimeoutError:
            return b""

    async def _readable(self) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(self.master, wake)
        try:
            await ready
        finally:
            loop.remove_reader(self.master)

    def close(self) -> None:
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
