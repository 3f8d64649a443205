"""SIA DC-03 event data from SIA-DCS frames."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from centinela.receiver.dc09 import parse_frame
from centinela.receiver.sia_dcs import SiaEvent, parse_sia_data


def event(
    code: str,
    number: str | None = None,
    *,
    partition: str | None = None,
    user: str | None = None,
    time: str | None = None,
    peripheral: str | None = None,
    text: str | None = None,
) -> SiaEvent:
    return SiaEvent(code, number, partition, user, time, peripheral, text)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # Data blocks of published frames:
        # swissdotnet SIA-DC-09 library (7C37006b and others).
        ("#080027E62A64|NHB0003", [event("HB", "0003")]),
        # swissdotnet 52B5004c: area with a name, event with a zone name.
        (
            "#7777|Nri01^TOTAL^/LX901^centrale d'alarme JA-106K(R)^",
            [event("LX", "901", partition="01", text="centrale d'alarme JA-106K(R)")],
        ),
        # pysiaalarm case_bug (issue #11): no "/" between modifier and event.
        ("#123456|Nri1CL0^VX FRONTE ^", [event("CL", "0", partition="1", text="VX FRONTE")]),
        # pysiaalarm case_bug2.
        ("#123456|Nri0KR1^TAST. 001 ^", [event("KR", "1", partition="0", text="TAST. 001")]),
        # pysiaalarm case_cl: empty account prefix.
        ("|Nri1/CL501", [event("CL", "501", partition="1")]),
        # pysiaalarm case_wa: no account prefix and no N.
        ("Nri1/WA000", [event("WA", "000", partition="1")]),
        # fioletoven/dc09 message.tests.rs: event without number, then an ASCII text block.
        ("#1234|NRR|Atest", [event("RR", text="test")]),
        # SIADC09Debugger 68AF0025.
        ("#1234|Nri1/BA12", [event("BA", "12", partition="1")]),
        # Panels that leave out N: the first letters are the event code itself.
        ("#1234|ri2/BA001", [event("BA", "001", partition="2")]),
        ("NL01", [event("NL", "01")]),
        ("#1234|NNL01", [event("NL", "01")]),
    ],
)
def test_parses_published_data_blocks(data: str, expected: list[SiaEvent]) -> None:
    assert parse_sia_data(data) == expected


def test_modifiers_before_each_event() -> None:
    assert parse_sia_data("#1234|Nti10:32/ri2/id3/OP3/pi7/BA5/ri3/BA6") == [
        event("OP", "3", partition="2", user="3", time="10:32"),
        # Area and time carry over; user and peripheral belong to one event.
        event("BA", "5", partition="2", time="10:32", peripheral="7"),
        event("BA", "6", partition="3", time="10:32"),
    ]


def test_time_with_seconds_and_unknown_modifiers() -> None:
    # dc09_spt writes ti as hh:mm:ss; "pm" is not a DC-03 modifier the console uses.
    assert parse_sia_data("#1234|Nri1/id0007/pm03/ti08:15:30CL001") == [
        event("CL", "001", partition="1", user="0007", time="08:15:30")
    ]


def test_modifiers_after_the_last_event_fill_its_gaps() -> None:
    assert parse_sia_data("#1234|NCL001/id0007") == [event("CL", "001", user="0007")]
    assert parse_sia_data("#1234|Nid1/CL001/id0009") == [event("CL", "001", user="1")]


def test_several_blocks() -> None:
    assert parse_sia_data("#1234|Nri1/BA01|Aback door|Nri2/FA02") == [
        event("BA", "01", partition="1", text="back door"),
        event("FA", "02", partition="2"),
    ]


def test_events_without_separator_after_the_number() -> None:
    # pysiaalarm case_op: "OP001NM" reads as OP 001 followed by NM.
    assert parse_sia_data("#006969|Nri04/OP001NM") == [
        event("OP", "001", partition="04"),
        event("NM", partition="04"),
    ]


def test_parses_the_data_of_a_decrypted_frame() -> None:
    frame = parse_frame(
        b'\nE88800a7"*SIA-DCS"0000RC0FFDL1234#080027E62A64'
        b"[A054F111518361720BAB126501C6D994CD9151D2C84881C0FEA933A0790F49A9"
        b"236EBD45F2AED32FAA252EB1AA18FC3CDEDE2452F33185E5931D31308D9B9882\r",
        key_for=lambda *_: bytes.fromhex("ABCD" * 8),
    )
    assert parse_sia_data(frame.data) == [event("HB", "0003")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "no event"),
        ("#1234|N", "no event"),
        ("#1234|Nri1", "no event"),
        ("#1234|Nri1/b", "unexpected"),
        ("#1234|Nri1/B1", "unexpected"),
        ("#1234|Nri1/BA1*x", "unexpected"),
        ("#1234|Nti1:00/BA1", "hh:mm"),
        ("#1234|Nri/BA1", "needs digits"),
        ("#1234|Nidx/BA1", "needs digits"),
        ("#1234", "not closed"),
    ],
)
def test_rejects_unparseable_data(data: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_sia_data(data)


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[A-Z]{2}", fullmatch=True),
            st.one_of(st.none(), st.from_regex(r"[0-9]{1,4}", fullmatch=True)),
            st.one_of(st.none(), st.from_regex(r"[0-9]{1,2}", fullmatch=True)),
        ),
        min_size=1,
        max_size=5,
    ),
    st.booleans(),
)
def test_generated_blocks_round_trip(
    items: list[tuple[str, str | None, str | None]], with_n: bool
) -> None:
    parts = [(f"ri{area}/" if area else "") + code + (number or "") for code, number, area in items]
    data = "#1234|" + ("N" if with_n else "") + "/".join(parts)
    events = parse_sia_data(data)
    if not with_n and items[0][0].startswith("N") and items[0][2] is None:
        return  # "NBA.." without the N marker is genuinely ambiguous; the N reading wins
    assert [(e.code, e.number) for e in events] == [(code, number) for code, number, _ in items]
    area = None
    for parsed, (_, _, item_area) in zip(events, items):
        area = item_area or area
        assert parsed.partition == area


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_arbitrary_text_yields_events_or_value_error(text: str) -> None:
    try:
        events = parse_sia_data(text)
    except ValueError:
        return
    assert events and all(len(e.code) == 2 and e.code.isupper() for e in events)
