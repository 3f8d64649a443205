"""CRC-16/ARC against the catalogue check value, a bitwise reference and real DC-09 frames."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from centinela.receiver.crc import crc16_arc


def _bitwise_crc16_arc(data: bytes) -> int:
    """Textbook shift-register form, independent of the table the module builds."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def test_catalogue_check_value() -> None:
    # CRC-16/ARC check value from the CRC catalogue (reveng): "123456789" -> 0xBB3D.
    assert crc16_arc(b"123456789") == 0xBB3D


def test_empty_input_is_the_initial_value() -> None:
    assert crc16_arc(b"") == 0x0000


@pytest.mark.parametrize(
    ("frame", "crc"),
    [
        # swissdotnet SIA-DC-09 library, SerializationStandardTest.serializeNakCorrectly
        (b'"NAK"0000R0L0A0[]_16:09:09,04-14-2015', 0x3C83),
        # fioletoven/dc09 common/src/dc09/message.tests.rs, to_string_test
        (b'"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]', 0xF4D2),
        # home-assistant/core issue #180511: Pyronix Enforcer link test captured with tcpdump
        (b'"NULL"0000L0#1409[]_20:38:07,08-27-2026', 0xEA74),
        # ioBroker.sia issue #11: panel NULL frame with an empty line field
        (b'"NULL"0001L#7303658550[]_15:39:38,06-07-2019', 0xBB86),
    ],
)
def test_matches_crc_of_published_frames(frame: bytes, crc: int) -> None:
    assert crc16_arc(frame) == crc


def test_accepts_any_bytes_like() -> None:
    data = b'"ACK"0000L0#1409[]'
    # NiftyDC09's reply in home-assistant/core issue #180511 carries CRC 5989.
    assert crc16_arc(data) == crc16_arc(bytearray(data)) == crc16_arc(memoryview(data)) == 0x5989


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_table_matches_bitwise_reference(data: bytes) -> None:
    assert crc16_arc(data) == _bitwise_crc16_arc(data)


@settings(max_examples=200)
@given(st.binary(min_size=1, max_size=200), st.data())
def test_detects_any_single_byte_change(data: bytes, draw: st.DataObject) -> None:
    # CRC-16 catches every burst of up to 16 bits, which is what lets the codec trust a match.
    index = draw.draw(st.integers(0, len(data) - 1))
    replacement = draw.draw(st.integers(0, 255).filter(lambda b: b != data[index]))
    mutated = data[:index] + bytes([replacement]) + data[index + 1 :]
    assert crc16_arc(mutated) != crc16_arc(data)
