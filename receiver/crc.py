"""CRC-16/ARC, the checksum SIA DC-09 puts in front of every frame.

Parameters (the catalogue name is CRC-16/ARC, also "CRC-16/LHA" or "CRC-IBM"): polynomial 0x8005
processed reflected (0xA001), initial value 0, no final XOR. Check value: ``b"123456789"`` gives
0xBB3D. Computed by fastcrc (compiled): every frame in and every ACK out is checksummed, and a
pure-Python loop cost more than the rest of parsing.
"""

from __future__ import annotations

from fastcrc import crc16


def crc16_arc(data: bytes | bytearray | memoryview) -> int:
    """Return the CRC-16/ARC of ``data`` as an int in ``0..0xFFFF``."""
    return crc16.arc(bytes(data))
