"""The Sur-Gard automation codec: layouts from the SG receiver manuals, framing, and fuzzing."""

from __future__ import annotations

from typing import TypeAlias

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from centinela.receiver.dc09 import Rejection
from centinela.receiver.signal import Signal
from centinela.receiver.surgard import (
    DC4,
    NEED_DATA,
    Heartbeat,
    MessageFormat,
    SerialMessage,
    SurGardDecoder,
    Unparseable,
    signals_from_message,
)

Event: TypeAlias = SerialMessage | Heartbeat | Unparseable
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode(*chunks: bytes, max_message: int = 256) -> list[Event]:
    decoder = SurGardDecoder(max_message=max_message)
    events: list[Event] = []
    for chunk in chunks:
        decoder.receive_data(chunk)
        while (event := decoder.next_event()) is not NEED_DATA:
            events.append(event)
    return events


def only_signal(message: bytes) -> Signal:
    (event,) = decode(message + DC4)
    assert isinstance(event, SerialMessage), event
    (signal,) = signals_from_message(event)
    return signal


# --------------------------------------------------------------------------- layouts


def test_contact_id_example_from_the_sg_automation_manual() -> None:
    # Account 1234, duress (121), group 01, user 001; receiver 01, line 100.
    signal = only_signal(b"501100 181234E12101001")
    assert signal == Signal(
        protocol="SG-CID", raw="501100 181234E12101001", account="1234", receiver="01",
        line="100", code="121", qualifier="1", partition="01", user="001",
    )


def test_contact_id_with_mlr2_one_digit_line() -> None:
    signal = only_signal(b"5011 185555E13001004")
    assert (signal.receiver, signal.line, signal.account) == ("01", "1", "5555")
    assert (signal.code, signal.qualifier, signal.partition, signal.zone, signal.user) == (
        "130", "1", "01", "004", None)


@pytest.mark.parametrize(("letter", "qualifier"), [("E", "1"), ("R", "3"), ("P", "6")])
def test_contact_id_qualifier_letters_map_to_digits(letter: str, qualifier: str) -> None:
    assert only_signal(f"5011 181234{letter}30200000".encode()).qualifier == qualifier


def test_contact_id_numbers_are_zone_or_user_as_the_catalogue_says() -> None:
    closing = only_signal(b"501100 181234R40202015")
    assert (closing.code, closing.qualifier, closing.user, closing.zone) == ("402", "3", "015", None)
    # a panel-wide event with number 000 carries neither
    ac_loss = only_signal(b"501100 181234E30100000")
    assert (ac_loss.zone, ac_loss.user) == (None, None)


def test_contact_id_format_98_and_ten_digit_accounts() -> None:
    assert only_signal(b"501100 981234E13001004").code == "130"
    signal = only_signal(b"Q01100 58123456789AE13001004")
    assert (signal.protocol, signal.account, signal.code) == ("SG-CID", "123456789A", "130")


def test_contact_id_with_hex_digits_is_kept_as_text() -> None:
    # The layout is right, so the receiver vouches for it; our Contact ID parser takes digits only.
    signal = only_signal(b"501100 181234E1300100B")
    assert signal.protocol == "SG-CID" and signal.account == "1234"
    assert signal.code is None and signal.text == "1130 01 00B"


def test_sia_message() -> None:
    signal = only_signal(b"S01100[#1234|Nri1/BA01]")
    assert signal == Signal(
        protocol="SG-SIA", raw="S01100[#1234|Nri1/BA01]", account="1234", receiver="01",
        line="100", code="BA", partition="1", zone="01",
    )


def test_sia_message_with_several_events_and_a_user() -> None:
    (event,) = decode(b"S011[#AB12|Nid22/CL/ri2BA003]" + DC4)
    assert isinstance(event, SerialMessage)
    closing, alarm = signals_from_message(event)
    assert (closing.code, closing.user, closing.zone) == ("CL", "22", None)
    assert (alarm.code, alarm.partition, alarm.zone) == ("BA", "2", "003")
    assert closing.account == alarm.account == "AB12"


def test_sia_user_and_zone_of_one_event_are_both_kept() -> None:
    signal = only_signal(b"S011[#1234|Nid7/BA003]")
    assert (signal.code, signal.zone, signal.user) == ("BA", "003", "7")


def test_receiver_internal_status_is_sia_from_account_0000() -> None:
    signal = only_signal(b"001000[#0000|NRU0000]")
    assert (signal.protocol, signal.account, signal.code) == ("SG-SIA", "0000", "RU")


def test_sia_data_we_cannot_read_is_kept_as_text() -> None:
    signal = only_signal(b"S01100[#1234|Nzz]")
    assert (signal.protocol, signal.account, signal.code) == ("SG-SIA", "1234", None)
    assert signal.text == "#1234|Nzz"


def test_mlr2_fixed_width_sia() -> None:
    signal = only_signal(b"3011      1234FA  12")
    assert (signal.protocol, signal.account, signal.receiver, signal.line) == ("SG-SIA", "1234", "01", "1")
    assert (signal.code, signal.zone) == ("FA", "12")


def test_basic_protocol_for_pulse_formats() -> None:
    # MLR2 manual: panel 0012 armed on group 1 by user 128.
    signal = only_signal(b"1011      0012 C1128")
    assert (signal.protocol, signal.account, signal.receiver, signal.line) == ("SG-BASIC", "0012", "01", "1")
    assert (signal.code, signal.partition, signal.zone) == ("C", "1", "128")
    # 4/1 from a System III ("1RRLLLssssssAAAAsEsssZ"): no area, one-digit zone
    signal = only_signal(b"101100      1234 3   5")
    assert (signal.account, signal.code, signal.partition, signal.zone) == ("1234", "3", None, "5")


@pytest.mark.parametrize(
    ("raw", "receiver", "line"),
    [
        (b"1011           @    ", "01", "1"),  # MLR2
        (b"101000           @    ", "01", "000"),  # SG automation output, RR000
        (b"100000           @    ", "00", "000"),  # SG-System III
    ],
)
def test_heartbeats(raw: bytes, receiver: str, line: str) -> None:
    assert decode(raw + DC4) == [Heartbeat(raw, receiver, line)]


# --------------------------------------------------------------------------- framing


def test_partial_input_waits_for_dc4() -> None:
    decoder = SurGardDecoder()
    decoder.receive_data(b"501100 181234E130")
    assert decoder.next_event() is NEED_DATA
    decoder.receive_data(b"01004")
    assert decoder.next_event() is NEED_DATA
    decoder.receive_data(DC4)
    event = decoder.next_event()
    assert isinstance(event, SerialMessage) and event.raw == b"501100 181234E13001004"
    assert decoder.next_event() is NEED_DATA


def test_concatenated_messages_and_stray_line_ends() -> None:
    stream = (
        b"\r\n501100 181234E13001004" + DC4 + b"\r\n"
        + b"1011           @    " + DC4 + b"\n\x00"
        + b"S01100[#1234|NBA01]\r\n" + DC4
    )
    events = decode(stream)
    assert [type(event) for event in events] == [SerialMessage, Heartbeat, SerialMessage]
    assert isinstance(events[2], SerialMessage) and events[2].raw == b"S01100[#1234|NBA01]"


def test_lone_terminators_are_ignored() -> None:
    assert decode(DC4 + b"\r\n" + DC4) == []


def test_garbage_is_unparseable_then_kept_when_the_receiver_repeats_it() -> None:
    unknown = b"601100123456789AE130" + DC4  # a format we do not decode (Modem II style)
    first, second = decode(unknown, unknown)
    assert isinstance(first, Unparseable) and first.reason is Rejection.MALFORMED
    assert isinstance(second, SerialMessage) and second.format is MessageFormat.UNKNOWN
    (signal,) = signals_from_message(second)
    assert (signal.protocol, signal.receiver, signal.account, signal.code) == ("SG-RAW", "01", None, None)
    assert signal.raw == "601100123456789AE130"


def test_repeat_rule_needs_back_to_back_copies() -> None:
    noise = b"\xff\xfe#" + DC4
    heartbeat = b"1011           @    " + DC4
    events = decode(noise, heartbeat, noise, b"other" + DC4, noise)
    assert [type(event) for event in events] == [Unparseable, Heartbeat, Unparseable, Unparseable, Unparseable]


def test_unknown_messages_escape_unprintable_bytes() -> None:
    noise = b"\x01\xe9zz" + DC4
    _, kept = decode(noise, noise)
    assert isinstance(kept, SerialMessage)
    (signal,) = signals_from_message(kept)
    assert signal.raw == "\\x01\\xe9zz" and signal.text == "\\xe9zz" and signal.receiver is None


def test_oversize_message_is_reported_once_and_the_stream_resyncs() -> None:
    good = b"501100 181234E13001004" + DC4
    events = decode(b"9" * 100, b"9" * 500, b"99" + DC4 + good, max_message=64)
    assert len(events) == 2
    assert isinstance(events[0], Unparseable) and events[0].reason is Rejection.TOO_LONG
    assert events[0].raw == b"9" * 64
    assert isinstance(events[1], SerialMessage) and events[1].raw == good[:-1]


def test_message_of_exactly_max_length_is_accepted() -> None:
    message = b"501100 181234E13001004"
    (event,) = decode(message + DC4, max_message=len(message))
    assert isinstance(event, SerialMessage)


# --------------------------------------------------------------------------- properties

VALID = [
    b"501100 181234E13001004",
    b"5011 185555R40202015",
    b"Q01100 58123456789AP60200000",
    b"S01100[#1234|Nri1/ti10:32/BA01|AFRONT DOOR]",
    b"001000[#0000|NRU0000]",
    b"3011      1234FA  12",
    b"1011      0012 C1128",
    b"1011           @    ",
]


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]


def assert_sane(events: list[Event]) -> None:
    for event in events:
        if isinstance(event, SerialMessage):
            signals = signals_from_message(event)
            assert signals and all(signal.protocol == event.format.value for signal in signals)
            assert all(signal.raw.isascii() and signal.raw.isprintable() for signal in signals)
            assert DC4 not in event.raw
        elif isinstance(event, Unparseable):
            assert event.reason in (Rejection.MALFORMED, Rejection.TOO_LONG)


@FUZZ
@given(st.binary(max_size=400), st.lists(st.integers(min_value=0), max_size=8))
def test_random_bytes_never_raise_and_split_does_not_matter(data: bytes, cuts: list[int]) -> None:
    whole = decode(data, max_message=64)
    assert_sane(whole)
    assert decode(*chunked(data, cuts), max_message=64) == whole


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    message = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        position = draw(st.integers(min_value=0, max_value=len(message)))
        byte = draw(st.integers(min_value=0, max_value=255))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        if action == "insert" or position == len(message):
            message.insert(position, byte)
        elif action == "replace":
            message[position] = byte
        else:
            del message[position]
    return bytes(message)


@FUZZ
@given(st.lists(mutated(), min_size=1, max_size=5), st.lists(st.integers(min_value=0), max_size=8))
def test_mutated_messages_never_raise(messages: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(message + DC4 for message in messages)
    whole = decode(stream)
    assert_sane(whole)
    assert decode(*chunked(stream, cuts)) == whole


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["E", "R", "P"]),
    st.text("0123456789ABCDEF", min_size=4, max_size=4),
    st.text("0123456789", min_size=3, max_size=3),
    st.text("0123456789", min_size=2, max_size=2),
    st.text("0123456789", min_size=3, max_size=3),
    st.text("0123456789ABCDEF", min_size=3, max_size=9),
)
def test_contact_id_fields_survive_decoding(
    letter: str, account: str, code: str, group: str, number: str, header: str
) -> None:
    signal = only_signal(f"5{header} 18{account}{letter}{code}{group}{number}".encode())
    assert (signal.account, signal.receiver, signal.line) == (account, header[:2], header[2:])
    assert signal.code == code and signal.partition == group
    assert signal.qualifier == {"E": "1", "R": "3", "P": "6"}[letter]
    assert number in (signal.zone, signal.user) or (number == "000" and signal.zone is signal.user is None)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(VALID), min_size=1, max_size=6), st.lists(st.integers(min_value=0), max_size=10))
def test_valid_stream_decodes_whole_however_split(messages: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(message + DC4 for message in messages)
    events = decode(*chunked(stream, cuts))
    assert all(isinstance(event, SerialMessage | Heartbeat) for event in events)
    assert [event.raw for event in events] == messages
