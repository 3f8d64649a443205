"""CRC-16/ARC, the checksum SIA DC-09 puts in front of every frame.

Parameters (the catalogue name is CRC-16/ARC, also "CRC-16/LHA" or "CRC-IBM"): polynomial 0x8005
processed reflected (0xA001), initial value 0, no final XOR. Check value: ``b"123456789"`` gives
0xBB3D.
"""

from __future__ import annotations

from typing import Final

_REFLECTED_POLY: Final = 0xA001


def _build_table() -> tuple[int, ...]:
    table: list[int] = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _REFLECTED_POLY if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


# One lookup per byte instead of eight shift/xor rounds: frames are checked on every receive.
_TABLE: Final = _build_table()


def crc16_arc(data: bytes | bytearray | memoryview) -> int:
    """Return the CRC-16/ARC of ``data`` as an int in ``0..0xFFFF``."""
    crc = 0
    for byte in bytes(data):
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc
