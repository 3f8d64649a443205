"""Contact ID data from ADM-CID frames."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from centinela.receiver.contact_id import CidData, parse_contact_id
from centinela.receiver.dc09 import parse_frame


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # Data blocks of published ADM-CID frames (SIADC09Debugger vectors B0AC0027 and A18D0027).
        ("#7099|1628 01 000", CidData("1", "628", "01", "000")),
        ("#7099|1131 01 003", CidData("1", "131", "01", "003")),
        # pysiaalarm test_sia_package_cases.py case_adm_cid.
        ("#12345A|1110 00 129", CidData("1", "110", "00", "129")),
        # Panels that drop the spaces, and bare data without the account prefix.
        ("#1234|140101001", CidData("1", "401", "01", "001")),
        ("3401 02 005", CidData("3", "401", "02", "005")),
        ("6302 00 000", CidData("6", "302", "00", "000")),
        ("|1130 01 004", CidData("1", "130", "01", "004")),
        (" 1130 01 004 ", CidData("1", "130", "01", "004")),
    ],
)
def test_parses_contact_id(data: str, expected: CidData) -> None:
    assert parse_contact_id(data) == expected


def test_parses_the_data_of_a_real_frame() -> None:
    frame = parse_frame(b'\nA18D0027"ADM-CID"0001L0#7099[#7099|1131 01 003]\r')
    event = parse_contact_id(frame.data)
    assert (event.qualifier, event.code, event.group, event.number) == ("1", "131", "01", "003")


@pytest.mark.parametrize("qualifier", ["0", "2", "4", "5", "7", "8", "9"])
def test_rejects_qualifiers_other_than_1_3_6(qualifier: str) -> None:
    with pytest.raises(ValueError, match="qualifier must be 1, 3 or 6"):
        parse_contact_id(f"#1234|{qualifier}130 01 001")


@pytest.mark.parametrize(
    "data",
    [
        "",
        "#1234|",
        "1130 1 001",  # one-digit group
        "1130 01 01",  # two-digit zone
        "1130 01 0011",
        "113 01 001",
        "1130-01-001",
        "1130  01 001",
        "A130 01 001",
        "1130 01 00B",
        "#1234",  # prefix never closed
    ],
)
def test_rejects_malformed_data_with_a_message(data: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_contact_id(data)
    assert str(caught.value)


def test_result_is_immutable() -> None:
    event = parse_contact_id("1130 01 001")
    with pytest.raises(AttributeError):
        event.code = "131"  # type: ignore[misc]


@settings(max_examples=300)
@given(
    st.sampled_from("136"),
    st.from_regex(r"[0-9]{3}", fullmatch=True),
    st.from_regex(r"[0-9]{2}", fullmatch=True),
    st.from_regex(r"[0-9]{3}", fullmatch=True),
    st.sampled_from([" ", ""]),
)
def test_any_well_formed_event_round_trips(
    qualifier: str, code: str, group: str, number: str, gap: str
) -> None:
    text = f"#0042|{qualifier}{code}{gap}{group}{gap}{number}"
    assert parse_contact_id(text) == CidData(qualifier, code, group, number)


@settings(max_examples=300)
@given(st.text(max_size=30))
def test_arbitrary_text_yields_data_or_value_error(text: str) -> None:
    try:
        event = parse_contact_id(text)
    except ValueError:
        return
    assert event.qualifier in {"1", "3", "6"}
    assert len(event.code) == 3 and len(event.group) == 2 and len(event.number) == 3
