"""Property tests: whatever arrives on the socket, the codec answers sanely and never raises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from centinela.receiver.crc import crc16_arc
from centinela.receiver.dc09 import (
    NEED_DATA,
    DC09Connection,
    FrameReceived,
    FrameRejected,
    Rejection,
    build_frame,
    parse_frame,
)

NOW = datetime(2024, 5, 10, 12, 0, 0, tzinfo=UTC)
KEYS = {size: bytes(range(100, 100 + size)) for size in (16, 24, 32)}
NAK_REASONS = {
    Rejection.BAD_CRC,
    Rejection.BAD_LENGTH,
    Rejection.MALFORMED,
    Rejection.TOO_LONG,
    Rejection.TIMESTAMP_OUT_OF_WINDOW,
}
HEX_DIGITS = b"0123456789ABCDEF"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Event = FrameReceived | FrameRejected


def connection(key: bytes | None = None, max_frame: int = 1024) -> DC09Connection:
    return DC09Connection(key_for=lambda *_: key, clock=lambda: NOW, max_frame=max_frame)


def run(conn: DC09Connection, chunks: list[bytes]) -> list[Event]:
    events: list[Event] = []
    for chunk in chunks:
        conn.receive_data(chunk)
        while (event := conn.next_event()) is not NEED_DATA:
            events.append(event)
    return events


def assert_sane(event: Event) -> None:
    """Accepted frames are genuine; rejections carry the reply their reason calls for."""
    if isinstance(event, FrameReceived):
        body = event.frame.raw[9:-1]
        assert int(event.frame.raw[1:5], 16) == crc16_arc(body)
        return
    if event.reply is None:
        # Only a frame the panel itself abandoned goes unanswered.
        assert event.reason is Rejection.MALFORMED
        return
    reply = parse_frame(event.reply)
    assert not reply.encrypted
    assert reply.token == ("NAK" if event.reason in NAK_REASONS else "DUH")
    if reply.token == "NAK":
        assert reply.timestamp == NOW


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]


hex_text = lambda low, high: st.text("0123456789ABCDEF", min_size=low, max_size=high)  # noqa: E731
data_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters="[]"),
    max_size=40,
)
extended_blocks = st.lists(
    st.builds(lambda head, tail: head + tail, st.sampled_from("HKMVXYZ"), data_text), max_size=3
)


@st.composite
def frame_fields(draw: st.DrawFn, *, near_now: bool = True) -> dict:
    account = draw(st.none() | hex_text(3, 16))
    line = draw(st.none() | hex_text(0, 6))
    # Without an account, a line ending in "A0" reads as the NAK's "L0A0" marker.
    assume(not (account is None and line is not None and line.endswith("A0")))
    if near_now:
        stamp = NOW + timedelta(seconds=draw(st.integers(-40, 20)))
    else:
        stamp = draw(st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31), timezones=st.just(UTC)))
        stamp = stamp.replace(microsecond=0)
    return dict(
        token=draw(st.sampled_from(["SIA-DCS", "ADM-CID", "NULL"])),
        sequence=draw(st.integers(0, 9999)),
        receiver=draw(st.none() | hex_text(1, 6)),
        line=line,
        account=account,
        data=draw(data_text),
        extended=draw(extended_blocks),
        timestamp=draw(st.none() | st.just(stamp)),
    )


def build(fields: dict, key: bytes | None = None) -> bytes:
    fields = dict(fields)
    if key is not None and fields["timestamp"] is None:
        fields["timestamp"] = NOW
    return build_frame(fields.pop("token"), fields.pop("sequence"), key=key, **fields)


@FUZZ
@given(frame_fields(near_now=False), st.sampled_from([None, 16, 24, 32]))
def test_build_then_parse_round_trips(fields: dict, key_size: int | None) -> None:
    key = KEYS[key_size] if key_size else None
    raw = build(fields, key)
    frame = parse_frame(raw, key_for=lambda *_: key)
    expected_stamp = fields["timestamp"] or (NOW if key else None)
    assert (frame.token, frame.sequence) == (fields["token"], f"{fields['sequence']:04d}")
    assert (frame.receiver, frame.line, frame.account) == (
        fields["receiver"], fields["line"], fields["account"],
    )
    assert (frame.data, frame.extended) == (fields["data"], tuple(fields["extended"]))
    assert (frame.timestamp, frame.encrypted, frame.raw) == (expected_stamp, key is not None, raw)


@FUZZ
@given(st.lists(st.binary(max_size=80), max_size=12))
def test_random_bytes_never_raise(chunks: list[bytes]) -> None:
    for event in run(connection(KEYS[16]), chunks):
        assert_sane(event)


@FUZZ
@given(
    st.lists(st.tuples(frame_fields(), st.sampled_from([None, 16, 24, 32])), min_size=1, max_size=4),
    st.lists(st.sampled_from([b"", b"\x00", b"\r\x00", b"\r\n"]), min_size=4, max_size=4),
    st.lists(st.integers(0, 10_000), max_size=8),
)
def test_valid_frames_survive_any_chunking(
    frames: list[tuple[dict, int | None]], fillers: list[bytes], cuts: list[int]
) -> None:
    # One connection serves one panel, so one key; draw it from the first frame.
    key_size = frames[0][1]
    key = KEYS[key_size] if key_size else None
    raws = [build(fields, key) for fields, _ in frames]
    stream = b"".join(raw + filler for raw, filler in zip(raws, fillers))
    events = run(connection(key), chunked(stream, cuts))
    assert [type(event) for event in events] == [FrameReceived] * len(raws)
    assert [event.frame.raw for event in events] == raws  # type: ignore[union-attr]


@FUZZ
@given(frame_fields(), st.data())
def test_one_corrupted_byte_is_never_acknowledged_and_the_next_frame_gets_through(
    fields: dict, data: st.DataObject
) -> None:
    raw = build(fields)
    index = data.draw(st.integers(0, len(raw) - 1))
    # A hex letter of the CRC or length field in the other case is no corruption: the field holds
    # the same number, so the frame is intact, and the codec reads those fields in either case.
    same_number = set(bytes([raw[index]]).swapcase()) if 1 <= index < 9 and chr(raw[index]) in "ABCDEF" else set()
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != raw[index] and b not in same_number))
    corrupted = raw[:index] + bytes([byte]) + raw[index + 1 :]
    follow_up = build_frame("NULL", 1, line="0", account="1234")
    cuts = data.draw(st.lists(st.integers(0, 10_000), max_size=5))
    events = run(connection(), chunked(corrupted + follow_up, cuts))
    for event in events:
        assert_sane(event)
    assert isinstance(events[-1], FrameReceived) and events[-1].frame.raw == follow_up
    assert not any(isinstance(event, FrameReceived) for event in events[:-1])


@FUZZ
@given(frame_fields(), st.sampled_from([None, 16]), st.data())
def test_truncated_frame_waits_for_the_rest(fields: dict, key_size: int | None, data: st.DataObject) -> None:
    key = KEYS[key_size] if key_size else None
    raw = build(fields, key)
    cut = data.draw(st.integers(1, len(raw) - 1))
    conn = connection(key)
    assert run(conn, [raw[:cut]]) == []
    [event] = run(conn, [raw[cut:]])
    assert isinstance(event, FrameReceived) and event.frame.raw == raw


@FUZZ
@given(st.binary(max_size=200), frame_fields(), st.lists(st.integers(0, 10_000), max_size=6))
def test_garbage_never_swallows_the_frame_after_it(garbage: bytes, fields: dict, cuts: list[int]) -> None:
    raw = build(fields)
    events = run(connection(), chunked(garbage + raw, cuts))
    for event in events:
        assert_sane(event)
    assert isinstance(events[-1], FrameReceived) and events[-1].frame.raw == raw


@FUZZ
@given(
    st.sampled_from(["SIA-DCS", "NULL"]),
    st.one_of(
        st.binary(min_size=1, max_size=64).map(lambda b: b.hex().upper()),  # wrong block count
        st.integers(1, 4).flatmap(lambda n: st.binary(min_size=16 * n, max_size=16 * n)).map(
            lambda b: b.hex()
        ),  # whole blocks of noise: bad "padding" after decryption
        st.text("0123456789ABCDEFGXZ]|[", max_size=64),  # not hex at all
    ),
)
def test_garbage_ciphertext_behind_a_valid_crc(token: str, cipher_hex: str) -> None:
    body = f'"*{token}"0001L0#1234[{cipher_hex}'.encode("latin-1")
    raw = b"\n" + f"{crc16_arc(body):04X}{len(body):04X}".encode() + body + b"\r"
    events = run(connection(KEYS[16]), [raw])
    assert len(events) == 1
    assert_sane(events[0])
    if isinstance(events[0], FrameRejected):
        assert events[0].reason in {Rejection.MALFORMED, Rejection.DECRYPT_FAILED}


@FUZZ
@given(frame_fields(), st.sampled_from([16, 24, 32]), st.data())
def test_tampered_ciphertext_with_fixed_up_crc(fields: dict, key_size: int, data: st.DataObject) -> None:
    key = KEYS[key_size]
    raw = build(fields, key)
    start = raw.index(b"[") + 1
    index = data.draw(st.integers(start, len(raw) - 2))
    # Draw a shift, not a digit: the ciphertext varies with the random pad, and what Hypothesis
    # draws must not depend on it.
    shift = data.draw(st.integers(1, 15))
    digit = HEX_DIGITS[(HEX_DIGITS.index(raw[index]) + shift) % 16]
    body = raw[9:index] + bytes([digit]) + raw[index + 1 : -1]
    tampered = b"\n" + f"{crc16_arc(body):04X}{len(body):04X}".encode() + body + b"\r"
    [event] = run(connection(key), [tampered])
    assert_sane(event)
    if isinstance(event, FrameReceived):
        # CBC without a MAC: a flip that lands in the pad block can go unnoticed, but whatever
        # is accepted must still be a complete, well-formed message.
        assert event.frame.timestamp is not None


@FUZZ
@given(frame_fields(), st.binary(min_size=1, max_size=50), st.data())
def test_oversized_input_is_capped_and_the_next_frame_gets_through(
    fields: dict, filler: bytes, data: st.DataObject
) -> None:
    raw = build(fields)
    max_frame = data.draw(st.integers(len(raw), len(raw) + 300))
    filler = filler.replace(b"\n", b"x").replace(b"\r", b"y")
    runaway = b"\n" + filler * (max_frame // len(filler) + 1)
    cuts = data.draw(st.lists(st.integers(0, 10_000), max_size=6))
    events = run(connection(max_frame=max_frame), chunked(runaway + raw, cuts))
    for event in events:
        assert_sane(event)
    assert [type(event) for event in events] == [FrameRejected, FrameReceived]
    assert events[0].reason is Rejection.TOO_LONG  # type: ignore[union-attr]
    assert len(events[0].raw) <= max_frame
