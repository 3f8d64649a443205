"""DC-09 frame codec: published vectors, replies, encryption, the time window and framing.

Vector sources (CRC and length of every vector were checked, not trusted):
* SDN: swissdotnet SIA-DC-09 Java library tests (ParsingBinaryCrcTest, SerializationStandardTest),
  keys ABCD... and 28376EF2..., with the pad bytes those tests inject.
* FIO: fioletoven/dc09, common/src/dc09/message.tests.rs.
* PSA: eavanvalkenburg/pysiaalarm tests (test_sia_package_cases.py, key "AAAAAAAAAAAAAAAA").
* HA: home-assistant/core issue #180511 (Pyronix Enforcer, tcpdump of panel and NiftyDC09 reply).
* IOB: schmupu/ioBroker.sia issue #11 (debug log of a panel NULL frame).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from centinela.receiver.crc import crc16_arc
from centinela.receiver.dc09 import (
    NEED_DATA,
    DC09Connection,
    DC09Frame,
    FrameError,
    FrameReceived,
    FrameRejected,
    Rejection,
    build_frame,
    build_nak,
    parse_frame,
    split_account,
)

SDN_KEY = bytes.fromhex("ABCDABCDABCDABCDABCDABCDABCDABCD")
SDN_KEY_2 = bytes.fromhex("28376EF26E782E1A4A160E3276E5FB93")
SDN_KEY_3 = bytes.fromhex("1234567890ABCDEF1234567890ABCDEF")
PSA_KEY = b"AAAAAAAAAAAAAAAA"
KEYS = {"080027E62A64": SDN_KEY, "00900B376AB6": SDN_KEY_2, "0123456789ABCDEF": SDN_KEY_3}

SDN_SIA_XDATA = (
    b'\n7C37006b"SIA-DCS"0000RC0FFDL1234#080027E62A64'
    b"[#080027E62A64|NHB0003][X115000][X115000][X115000]_13:53:11,06-22-2015\r"
)
SDN_SIA_ENCRYPTED = (
    b'\nE88800a7"*SIA-DCS"0000RC0FFDL1234#080027E62A64'
    b"[A054F111518361720BAB126501C6D994CD9151D2C84881C0FEA933A0790F49A9"
    b"236EBD45F2AED32FAA252EB1AA18FC3CDEDE2452F33185E5931D31308D9B9882\r"
)
SDN_SIA_ENCRYPTED_PAD = bytes([0x9A, 0x10, 0xD2, 0x86, 0xC0, 0x38, 0x46, 0x89, 0x52, 0xF7, 0xAC, 0x09])
SDN_SIA_ENCRYPTED_LOWER_HEX = (
    b'\na60a00a7"*SIA-DCS"0000Rc0ffdL1234#080027E62A64'
    b"[1636385bf3ee2cf761f578f5b57eea422ca7601e0823c89d6f19feadf690104690e105e61d3989316bcb26df"
    b"482a42dc3b4b3b0e9c40da4d3642e7d72cc5ce95\r"
)
SDN_ACK_ENCRYPTED = (
    b'\nE34C0062"*ACK"0001R5678L1234#080027E62A64'
    b"[14F088FF5DCB19D1908069507EAB97C7CDB20F1C6EFA550BB59864D54B2DFA1C\r"
)
SDN_ACK_ENCRYPTED_PAD = bytes([0x12, 0xF1, 0xC2, 0x2A, 0x88, 0xEB, 0x44, 0x56, 0x79, 0xDA])
SDN_NULL_ENCRYPTED = (
    b'\n6A1B0067"*NULL"0000RFEDCLBA98#0123456789ABCDEF'
    b"[DB5596C05AEC0F9CA8A9647985418EE2A818ABFC6AC5444B9A154F75E4FAABEC\r"
)
SDN_NULL_ENCRYPTED_PAD = bytes([0x50, 0xB4, 0x6B, 0xF3, 0x89, 0xB0, 0xEF, 0x92, 0x6E, 0xD5])
SDN_NAK = b'\n3C830025"NAK"0000R0L0A0[]_16:09:09,04-14-2015\r'
HA_PANEL_NULL = b'\nEA740027"NULL"0000L0#1409[]_20:38:07,08-27-2026\r'
HA_NIFTY_ACK = b'\n59890012"ACK"0000L0#1409[]\r'


def key_for(account: str | None, receiver: str | None, line: str | None) -> bytes | None:
    return KEYS.get(account.upper()) if account else None


def decrypt_payload(frame: bytes, key: bytes) -> bytes:
    cipher_hex = frame[frame.index(b"[") + 1 : -1].decode("ascii")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).decryptor()
    return decryptor.update(bytes.fromhex(cipher_hex)) + decryptor.finalize()


def reframe(body: bytes) -> bytes:
    """Wrap a hand-made body with a correct CRC and length, to test what lies past them."""
    return b"\n" + f"{crc16_arc(body):04X}{len(body):04X}".encode() + body + b"\r"


def fixed_clock(moment: datetime):
    return lambda: moment


def drain(connection: DC09Connection) -> list[FrameReceived | FrameRejected]:
    events: list[FrameReceived | FrameRejected] = []
    while (event := connection.next_event()) is not NEED_DATA:
        events.append(event)
    return events


def feed(connection: DC09Connection, chunks: Iterable[bytes]) -> list[FrameReceived | FrameRejected]:
    events: list[FrameReceived | FrameRejected] = []
    for chunk in chunks:
        connection.receive_data(chunk)
        events.extend(drain(connection))
    return events


def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


# ----------------------------------------------------------------------------- parsing vectors


def test_parses_sia_dcs_with_receiver_line_extended_data_and_timestamp() -> None:
    frame = parse_frame(SDN_SIA_XDATA)
    assert (frame.token, frame.encrypted, frame.sequence) == ("SIA-DCS", False, "0000")
    assert (frame.receiver, frame.line, frame.account) == ("C0FFD", "1234", "080027E62A64")
    assert frame.data == "#080027E62A64|NHB0003"
    assert frame.extended == ("X115000", "X115000", "X115000")
    assert frame.timestamp == datetime(2015, 6, 22, 13, 53, 11, tzinfo=UTC)
    assert frame.raw == SDN_SIA_XDATA


def test_parses_frame_without_receiver_or_timestamp() -> None:
    frame = parse_frame(b'\nF4D20029"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]\r')  # FIO
    assert (frame.receiver, frame.line, frame.account) == ("F3", "77", "1234")
    assert frame.data == "#1234|NRR|Atest"
    assert frame.timestamp is None
    assert frame.extended == ()


def test_parses_adm_cid_frame() -> None:
    # SIADC09Debugger vector B0AC0027, quoted in a sia_dc09 Home Assistant component's tests.
    frame = parse_frame(b'\nB0AC0027"ADM-CID"0001L0#7099[#7099|1628 01 000]\r')
    assert (frame.token, frame.account, frame.data) == ("ADM-CID", "7099", "#7099|1628 01 000")


def test_decodes_utf8_zone_text_in_extended_data() -> None:
    # SDN serializeEventStandard5AdditionalDataCharset: length counts UTF-8 bytes (0x82 = 130).
    raw = (
        '\n52060082"SIA-DCS"0000RC0FFDL1234#080027E62A64[#080027E62A64|NHB0003]'
        "[ITEST àäâèéêïîöôüÀÄÂÈÉÊÎÖÛÜ]_09:00:13,06-23-2015\r"
    ).encode("utf-8")
    assert parse_frame(raw).extended == ("ITEST àäâèéêïîöôüÀÄÂÈÉÊÎÖÛÜ",)


def test_parses_bare_line_marker_from_a_real_panel() -> None:
    # IOB: the panel sends "L#acct" with no line digits; it must still be acknowledged.
    frame = parse_frame(b'\nBB86002C"NULL"0001L#7303658550[]_15:39:38,06-07-2019\r')
    assert (frame.line, frame.account, frame.data) == ("", "7303658550", "")


def test_parses_the_nak_form_with_a0_instead_of_account() -> None:
    frame = parse_frame(SDN_NAK)
    assert (frame.token, frame.receiver, frame.line, frame.account) == ("NAK", "0", "0", None)
    assert frame.timestamp == datetime(2015, 4, 14, 16, 9, 9, tzinfo=UTC)


def test_decrypts_published_encrypted_sia_dcs() -> None:
    frame = parse_frame(SDN_SIA_ENCRYPTED, key_for=key_for)
    assert frame.encrypted and frame.token == "SIA-DCS"
    assert frame.data == "#080027E62A64|NHB0003"
    assert frame.extended == ("E115000",)
    assert frame.timestamp == datetime(2015, 6, 22, 15, 12, 40, tzinfo=UTC)


def test_decrypts_lower_case_hex_ciphertext() -> None:
    frame = parse_frame(SDN_SIA_ENCRYPTED_LOWER_HEX, key_for=key_for)
    assert frame.receiver == "c0ffd"
    assert frame.data == "#080027E62A64|NHB0003"
    assert frame.timestamp == datetime(2015, 6, 22, 15, 5, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "account", "stamp"),
    [
        (SDN_ACK_ENCRYPTED, "080027E62A64", datetime(2015, 4, 14, 16, 8, 12, tzinfo=UTC)),
        (
            b'\n02B70063"*ACK"0000RC0FFDL1234#00900B376AB6'
            b"[5F1BEAF37775DEC5F901894BDD25D9565C122B2BBAAD72E84E23B8F75554EF8C\r",
            "00900B376AB6",
            datetime(2015, 4, 27, 8, 6, 26, tzinfo=UTC),
        ),
        (SDN_NULL_ENCRYPTED, "0123456789ABCDEF", datetime(2015, 6, 29, 14, 55, 44, tzinfo=UTC)),
    ],
)
def test_decrypts_published_encrypted_replies_and_link_tests(
    raw: bytes, account: str, stamp: datetime
) -> None:
    frame = parse_frame(raw, key_for=key_for)
    assert (frame.encrypted, frame.account, frame.data, frame.timestamp) == (
        True,
        account,
        "",
        stamp,
    )


def test_tolerates_encrypted_null_without_pad_separator() -> None:
    # PSA case_null decrypts to "ppppppppppp]_18:24:52,07-05-2020": no "|" after the pad.
    raw = (
        b'\n76D80055"*NULL"0000R0L0#AAAB'
        b"[B4BC8B40D0E6D959D6BEA78E88CC0B2155741A3C44FBB96D476A3E557CAD64D9\r"
    )
    frame = parse_frame(raw, key_for=lambda *_: PSA_KEY)
    assert (frame.token, frame.data, frame.timestamp) == (
        "NULL",
        "",
        datetime(2020, 7, 5, 18, 24, 52, tzinfo=UTC),
    )


# ----------------------------------------------------------------------------- parse failures


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        # PSA case_cl: its generator wrote the length in decimal-read-as-hex ("0078" for 52).
        (b'\nE5D50078"SIA-DCS"6002L0#AAA[|Nri1/CL501]_14:12:04,09-25-2019\r', Rejection.BAD_LENGTH),
        # SDN parseLengthInvalid: "003g" is not hex.
        (
            b'\n01fc003g"ACK"0000Rc0ffdL1234#080027E62A64[]_12:10:40,06-22-2015\r',
            Rejection.MALFORMED,
        ),
        # SIADC09Debugger "reports_crc_mismatch" zeroes the CRC, but also dropped the [X] blocks
        # without fixing the length, so the length check fires first.
        (
            b'\n0000006b"SIA-DCS"0000RC0FFDL1234#080027E62A64'
            b"[#080027E62A64|NHB0003]_13:53:11,06-22-2015\r",
            Rejection.BAD_LENGTH,
        ),
        # The same idea done right: SDN's 7C37006b frame with its CRC zeroed.
        (b"\n0000" + SDN_SIA_XDATA[5:], Rejection.BAD_CRC),
        (b"\n3C830025", Rejection.MALFORMED),
        (SDN_NAK[:-1] + b"\n", Rejection.MALFORMED),
    ],
)
def test_rejects_published_bad_frames(raw: bytes, reason: Rejection) -> None:
    with pytest.raises(FrameError) as caught:
        parse_frame(raw)
    assert caught.value.reason is reason


@pytest.mark.parametrize(
    "body",
    [
        b'"SIA-DCS"12L0#1234[#1234|NBA1]',  # short sequence
        b'"sia-dcs"0001L0#1234[#1234|NBA1]',  # lower-case token
        b'"SIA-DCS"0001L0#12[#1234|NBA1]',  # account shorter than 3
        b'"SIA-DCS"0001L0#1234567890ABCDEF0[]',  # account longer than 16
        b'"SIA-DCS"0001L0#1234[#1234|NBA1',  # data block not closed
        b'"SIA-DCS"0001L0#1234[#1234|NBA1][x12]',  # extended block must start upper-case
        b'"SIA-DCS"0001L0#1234[#1234|NBA1]_25:00:00,01-01-2024',  # no such hour
        b'"SIA-DCS"0001L0#1234[#1234|NBA1]_12:00:00,02-30-2024',  # no such day
        b'"SIA-DCS"0001L0#1234[#1234|NBA1]_12:00:00,01-01-2024x',  # junk after timestamp
        b'"SIA-DCS"0001L0#1234[#1234|N\x07BA1]',  # control character
    ],
)
def test_rejects_malformed_bodies_behind_a_valid_crc(body: bytes) -> None:
    with pytest.raises(FrameError) as caught:
        parse_frame(reframe(body))
    assert caught.value.reason is Rejection.MALFORMED


def test_unsupported_token_keeps_the_header_for_the_duh() -> None:
    with pytest.raises(FrameError) as caught:
        parse_frame(HA_NIFTY_ACK, supported_tokens={"SIA-DCS", "ADM-CID", "NULL"})
    assert caught.value.reason is Rejection.UNSUPPORTED_TOKEN
    assert caught.value.header is not None
    assert (caught.value.header.sequence, caught.value.header.account) == ("0000", "1409")


def test_encrypted_frame_needs_a_key() -> None:
    with pytest.raises(FrameError) as caught:
        parse_frame(SDN_SIA_ENCRYPTED)
    assert caught.value.reason is Rejection.UNKNOWN_KEY


def test_configured_key_of_wrong_size_is_an_unknown_key() -> None:
    with pytest.raises(FrameError) as caught:
        parse_frame(SDN_SIA_ENCRYPTED, key_for=lambda *_: b"short")
    assert caught.value.reason is Rejection.UNKNOWN_KEY


def test_wrong_key_fails_decryption() -> None:
    # SDN parse...CipheredWithExceptionWrongKey uses the key with its last nibble changed.
    wrong = bytes.fromhex("ABCDABCDABCDABCDABCDABCDABCDABCE")
    with pytest.raises(FrameError) as caught:
        parse_frame(SDN_SIA_ENCRYPTED, key_for=lambda *_: wrong)
    assert caught.value.reason is Rejection.DECRYPT_FAILED


@pytest.mark.parametrize(
    "cipher_hex",
    [b"", b"ABC", b"A054F111518361720BAB126501C6D9", b"Z" * 32, b"A0" * 24],
)
def test_ciphertext_that_is_not_whole_hex_blocks_is_malformed(cipher_hex: bytes) -> None:
    body = b'"*SIA-DCS"0001L0#080027E62A64[' + cipher_hex
    with pytest.raises(FrameError) as caught:
        parse_frame(reframe(body), key_for=key_for)
    assert caught.value.reason is Rejection.MALFORMED


def test_encrypted_frame_without_timestamp_is_rejected() -> None:
    encryptor = Cipher(algorithms.AES(SDN_KEY), modes.CBC(bytes(16))).encryptor()
    plain = b"abcdefghij|#1234|NBA1]"
    plain = b"x" * (-len(plain) % 16) + plain
    cipher_hex = (encryptor.update(plain) + encryptor.finalize()).hex().upper().encode()
    body = b'"*SIA-DCS"0001L0#080027E62A64[' + cipher_hex
    with pytest.raises(FrameError) as caught:
        parse_frame(reframe(body), key_for=key_for)
    assert caught.value.reason is Rejection.MALFORMED
    assert "timestamp" in caught.value.detail


# ----------------------------------------------------------------------------- building


@pytest.mark.parametrize(
    ("expected", "kwargs"),
    [
        (
            b'\n9B6D0059"SIA-DCS"0000RC0FFDL1234#080027E62A64'
            b"[#080027E62A64|NHB0003][E115000]_14:25:17,06-22-2015\r",
            dict(
                token="SIA-DCS",
                sequence=0,
                receiver="C0FFD",
                line="1234",
                account="080027E62A64",
                data="#080027E62A64|NHB0003",
                extended=["E115000"],
                timestamp=at("2015-06-22 14:25:17"),
            ),
        ),
        (
            b'\n52B5004c"SIA-DCS"0001L0#7777[#7777|Nri01^TOTAL^/LX901^centrale d\'alarme JA-106K(R)^]\r',
            dict(
                token="SIA-DCS",
                sequence="0001",
                line="0",
                account="7777",
                data="#7777|Nri01^TOTAL^/LX901^centrale d'alarme JA-106K(R)^",
            ),
        ),
        (
            b'\n416A0036"ACK"0001R5678L1234#080027E62A64[]_16:07:53,04-14-2015\r',
            dict(
                token="ACK",
                sequence=1,
                receiver="5678",
                line="1234",
                account="080027E62A64",
                timestamp=at("2015-04-14 16:07:53"),
            ),
        ),
        (
            b'\nC26E0038"NULL"0000RC0FFDL1234#080027E62A64[]_13:40:27,06-22-2015\r',
            dict(
                token="NULL",
                sequence=0,
                receiver="C0FFD",
                line="1234",
                account="080027E62A64",
                timestamp=at("2015-06-22 13:40:27"),
            ),
        ),
        (
            b'\n596E0024"NULL"0000RC0FFDL1234#080027E62A64[]\r',
            dict(token="NULL", sequence=0, receiver="C0FFD", line="1234", account="080027E62A64"),
        ),
        (HA_PANEL_NULL, dict(token="NULL", sequence=0, line="0", account="1409",
                             timestamp=at("2026-08-27 20:38:07"))),
    ],
)
def test_builds_published_plain_frames_byte_for_byte(expected: bytes, kwargs: dict) -> None:
    token = kwargs.pop("token")
    sequence = kwargs.pop("sequence")
    # SDN writes the length in lower-case hex; the standard's examples use upper case.
    assert build_frame(token, sequence, **kwargs) == expected[:5] + expected[5:9].upper() + expected[9:]


@pytest.mark.parametrize(
    ("expected", "token", "kwargs", "pad"),
    [
        (
            SDN_SIA_ENCRYPTED[:5] + b"00A7" + SDN_SIA_ENCRYPTED[9:],
            "SIA-DCS",
            dict(
                sequence=0,
                receiver="C0FFD",
                line="1234",
                account="080027E62A64",
                data="#080027E62A64|NHB0003",
                extended=["E115000"],
                timestamp=at("2015-06-22 15:12:40"),
                key=SDN_KEY,
            ),
            SDN_SIA_ENCRYPTED_PAD,
        ),
        (
            SDN_ACK_ENCRYPTED,
            "ACK",
            dict(
                sequence=1,
                receiver="5678",
                line="1234",
                account="080027E62A64",
                timestamp=at("2015-04-14 16:08:12"),
                key=SDN_KEY,
            ),
            SDN_ACK_ENCRYPTED_PAD,
        ),
        (
            SDN_NULL_ENCRYPTED,
            "NULL",
            dict(
                sequence=0,
                receiver="FEDC",
                line="BA98",
                account="0123456789ABCDEF",
                timestamp=at("2015-06-29 14:55:44"),
                key=SDN_KEY_3,
            ),
            SDN_NULL_ENCRYPTED_PAD,
        ),
    ],
)
def test_reproduces_published_ciphertexts_with_their_pad(
    expected: bytes, token: str, kwargs: dict, pad: bytes
) -> None:
    assert build_frame(token, pad=pad, **kwargs) == expected


@pytest.mark.parametrize("key_size", [16, 24, 32])
@pytest.mark.parametrize("token", ["SIA-DCS", "ADM-CID", "NULL"])
def test_encrypted_round_trip_for_every_aes_key_size(key_size: int, token: str) -> None:
    key = bytes(range(key_size))
    data = {"SIA-DCS": "#1234|Nri1/BA001", "ADM-CID": "#1234|1130 01 001", "NULL": ""}[token]
    stamp = at("2024-03-01 10:00:00")
    raw = build_frame(
        token, 42, receiver="12", line="3", account="1234", data=data,
        extended=["XLONG 2.35"], timestamp=stamp, key=key,
    )
    cipher_hex = raw[raw.index(b"[") + 1 : -1]
    assert len(cipher_hex) % 32 == 0 and cipher_hex == cipher_hex.upper()
    plain = decrypt_payload(raw, key)
    pad, _, tail = plain.partition(b"|")
    assert 1 <= len(pad) <= 16 and not set(pad) & set(b"|[]")
    assert tail == f"{data}][XLONG 2.35]_10:00:00,03-01-2024".encode()
    frame = parse_frame(raw, key_for=lambda *_: key)
    assert (frame.token, frame.encrypted, frame.sequence, frame.data) == (token, True, "0042", data)
    assert (frame.extended, frame.timestamp) == (("XLONG 2.35",), stamp)


def test_random_pad_makes_repeated_messages_differ() -> None:
    kwargs = dict(account="1234", data="#1234|NBA1", timestamp=at("2024-03-01 10:00:00"), key=SDN_KEY)
    assert build_frame("SIA-DCS", 1, **kwargs) != build_frame("SIA-DCS", 1, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(token="SIA-DCS", sequence=10000),
        dict(token="sia", sequence=1),
        dict(token="SIA-DCS", sequence=1, account="12"),
        dict(token="SIA-DCS", sequence=1, receiver="XYZ"),
        dict(token="SIA-DCS", sequence=1, data="a]b"),
        dict(token="SIA-DCS", sequence=1, extended=["lower"]),
        dict(token="SIA-DCS", sequence=1, key=bytes(15), timestamp=at("2024-01-01 00:00:00")),
        dict(token="SIA-DCS", sequence=1, key=bytes(16)),  # encrypted needs a timestamp
        dict(token="SIA-DCS", sequence=1, timestamp=datetime(2024, 1, 1)),  # naive time
        dict(token="SIA-DCS", sequence=1, key=bytes(16), timestamp=at("2024-01-01 00:00:00"),
             pad=b"|" * 10),
    ],
)
def test_builder_refuses_frames_the_receiver_would_reject(kwargs: dict) -> None:
    token = kwargs.pop("token")
    sequence = kwargs.pop("sequence")
    with pytest.raises(ValueError):
        build_frame(token, sequence, **kwargs)


@pytest.mark.parametrize("token", ["SIA-DCS", "ADM-CID", "NULL", "ACK", "DUH", "RSP"])
def test_plain_round_trip_for_every_token(token: str) -> None:
    stamp = at("2025-12-31 23:59:59")
    raw = build_frame(token, 9999, receiver="ABCDEF", line="0", account="0123456789ABCDEF",
                      data="#0123456789ABCDEF|Nri2/BA5", extended=["H1", "M0026B9E4268B"],
                      timestamp=stamp)
    frame = parse_frame(raw)
    assert frame == DC09Frame(
        token=token, encrypted=False, sequence="9999", receiver="ABCDEF", line="0",
        account="0123456789ABCDEF", data="#0123456789ABCDEF|Nri2/BA5",
        extended=("H1", "M0026B9E4268B"), timestamp=stamp, raw=raw,
    )


# ----------------------------------------------------------------------------- replies


def test_plain_ack_matches_a_real_receivers_reply() -> None:
    # HA: the panel's NULL was answered by NiftyDC09 with exactly this ACK, which the panel took.
    connection = DC09Connection(clock=fixed_clock(at("2026-08-27 20:38:07")))
    [event] = feed(connection, [HA_PANEL_NULL])
    assert isinstance(event, FrameReceived)
    assert connection.ack(event.frame) == HA_NIFTY_ACK


def test_plain_ack_echoes_receiver_line_and_account() -> None:
    connection = DC09Connection(clock=fixed_clock(at("2015-06-22 13:53:20")))
    [event] = feed(connection, [SDN_SIA_XDATA])
    assert isinstance(event, FrameReceived)
    assert connection.ack(event.frame) == reframe(b'"ACK"0000RC0FFDL1234#080027E62A64[]')


def test_encrypted_ack_carries_pad_and_receiver_time_under_the_same_key() -> None:
    now = at("2015-06-22 15:12:45")
    connection = DC09Connection(key_for=key_for, clock=fixed_clock(now))
    [event] = feed(connection, [SDN_SIA_ENCRYPTED])
    assert isinstance(event, FrameReceived)
    ack = connection.ack(event.frame)
    assert ack.startswith(b'\n') and b'"*ACK"0000RC0FFDL1234#080027E62A64[' in ack
    pad, bar, tail = decrypt_payload(ack, SDN_KEY).partition(b"|")
    assert bar == b"|" and pad.isalnum()
    assert tail == b"]_15:12:45,06-22-2015"
    reply = parse_frame(ack, key_for=key_for)
    assert (reply.token, reply.encrypted, reply.timestamp) == ("ACK", True, now)


def test_encrypted_ack_without_a_key_raises_rather_than_answering_in_clear() -> None:
    keys = dict(KEYS)
    connection = DC09Connection(key_for=lambda a, r, l: keys.get(a or ""),
                                clock=fixed_clock(at("2015-06-22 15:12:45")))
    [event] = feed(connection, [SDN_SIA_ENCRYPTED])
    assert isinstance(event, FrameReceived)
    keys.clear()
    with pytest.raises(ValueError):
        connection.ack(event.frame)


def test_nak_is_the_fixed_frame_with_receiver_time() -> None:
    connection = DC09Connection(clock=fixed_clock(at("2015-04-14 16:09:09")))
    assert connection.nak() == SDN_NAK
    assert build_nak(at("2015-04-14 16:09:09")) == SDN_NAK


def test_duh_echoes_routing_and_is_never_encrypted() -> None:
    connection = DC09Connection(key_for=key_for, clock=fixed_clock(at("2015-06-22 15:12:45")))
    frame = parse_frame(SDN_SIA_ENCRYPTED, key_for=key_for)
    assert connection.duh(frame) == reframe(b'"DUH"0000RC0FFDL1234#080027E62A64[]')


# ----------------------------------------------------------------------------- rejections


def single_rejection(connection: DC09Connection, raw: bytes) -> FrameRejected:
    [event] = feed(connection, [raw])
    assert isinstance(event, FrameRejected)
    assert event.raw == raw
    return event


def test_bad_crc_gets_a_nak_never_an_ack() -> None:
    clock = fixed_clock(at("2015-06-22 13:53:11"))
    connection = DC09Connection(clock=clock)
    corrupted = SDN_SIA_XDATA.replace(b"NHB0003", b"NHB0004")
    event = single_rejection(connection, corrupted)
    assert event.reason is Rejection.BAD_CRC
    assert event.reply == build_nak(clock())


def test_bad_length_gets_a_nak() -> None:
    connection = DC09Connection(clock=fixed_clock(at("2015-06-22 13:53:11")))
    event = single_rejection(connection, SDN_SIA_XDATA.replace(b"006b", b"006c", 1))
    assert event.reason is Rejection.BAD_LENGTH
    assert event.reply is not None and b'"NAK"0000R0L0A0[]_13:53:11,06-22-2015' in event.reply


def test_unsupported_token_gets_duh() -> None:
    connection = DC09Connection(clock=fixed_clock(at("2026-08-27 20:38:07")))
    event = single_rejection(connection, HA_NIFTY_ACK)
    assert event.reason is Rejection.UNSUPPORTED_TOKEN
    assert event.reply == reframe(b'"DUH"0000L0#1409[]')


def test_unknown_key_gets_duh_not_nak() -> None:
    # 5.5.3.3: CRC and length were fine, the CSR just cannot process it; a NAK would only make
    # the panel resend the same undecryptable frame.
    connection = DC09Connection(clock=fixed_clock(at("2015-06-22 15:12:40")))
    event = single_rejection(connection, SDN_SIA_ENCRYPTED)
    assert event.reason is Rejection.UNKNOWN_KEY
    assert event.reply == reframe(b'"DUH"0000RC0FFDL1234#080027E62A64[]')


def test_wrong_key_gets_duh() -> None:
    wrong = bytes.fromhex("ABCDABCDABCDABCDABCDABCDABCDABCE")
    connection = DC09Connection(key_for=lambda *_: wrong,
                                clock=fixed_clock(at("2015-06-22 15:12:40")))
    event = single_rejection(connection, SDN_SIA_ENCRYPTED)
    assert event.reason is Rejection.DECRYPT_FAILED
    assert event.reply is not None and b'"DUH"0000RC0FFDL1234#080027E62A64[]' in event.reply


def test_key_lookup_gets_account_receiver_and_line() -> None:
    seen: list[tuple[str | None, str | None, str | None]] = []

    def recording(account: str | None, receiver: str | None, line: str | None) -> bytes | None:
        seen.append((account, receiver, line))
        return SDN_KEY

    connection = DC09Connection(key_for=recording, clock=fixed_clock(at("2015-06-22 15:12:40")))
    feed(connection, [SDN_SIA_ENCRYPTED])
    assert seen == [("080027E62A64", "C0FFD", "1234")]


# ----------------------------------------------------------------------------- time window

PANEL_TIME = at("2024-05-10 12:00:00")


def encrypted_at(panel_time: datetime) -> bytes:
    return build_frame("SIA-DCS", 7, line="0", account="080027E62A64",
                       data="#080027E62A64|Nri1/BA001", timestamp=panel_time, key=SDN_KEY)


@pytest.mark.parametrize(
    ("panel_offset", "accepted"),
    [(-40, True), (-41, False), (0, True), (20, True), (21, False)],
)
def test_window_edges(panel_offset: int, accepted: bool) -> None:
    # Offset is panel time minus receiver time: -40 s (late) .. +20 s (panel clock ahead).
    receiver_time = PANEL_TIME - timedelta(seconds=panel_offset)
    connection = DC09Connection(key_for=key_for, clock=fixed_clock(receiver_time))
    [event] = feed(connection, [encrypted_at(PANEL_TIME)])
    if accepted:
        assert isinstance(event, FrameReceived)
    else:
        assert isinstance(event, FrameRejected)
        assert event.reason is Rejection.TIMESTAMP_OUT_OF_WINDOW
        # The NAK carries the receiver's clock so the panel can correct its own.
        assert event.reply == build_nak(receiver_time)


def test_window_ignores_sub_second_receiver_time() -> None:
    receiver_time = PANEL_TIME + timedelta(seconds=40, microseconds=999_999)
    connection = DC09Connection(key_for=key_for, clock=fixed_clock(receiver_time))
    [event] = feed(connection, [encrypted_at(PANEL_TIME)])
    assert isinstance(event, FrameReceived)


def test_custom_window() -> None:
    connection = DC09Connection(
        key_for=key_for,
        clock=fixed_clock(PANEL_TIME + timedelta(seconds=90)),
        window=(timedelta(seconds=-120), timedelta(seconds=5)),
    )
    [event] = feed(connection, [encrypted_at(PANEL_TIME)])
    assert isinstance(event, FrameReceived)


def test_plain_frames_are_window_checked_unless_disabled() -> None:
    late = PANEL_TIME + timedelta(minutes=5)
    plain = build_frame("SIA-DCS", 1, line="0", account="1234", data="#1234|NBA1",
                        timestamp=PANEL_TIME)
    [strict] = feed(DC09Connection(clock=fixed_clock(late)), [plain])
    assert isinstance(strict, FrameRejected)
    assert strict.reason is Rejection.TIMESTAMP_OUT_OF_WINDOW
    lenient = DC09Connection(key_for=key_for, clock=fixed_clock(late), check_plain_timestamps=False)
    [accepted, replay] = feed(lenient, [plain, encrypted_at(PANEL_TIME)])
    assert isinstance(accepted, FrameReceived)
    assert isinstance(replay, FrameRejected)
    assert replay.reason is Rejection.TIMESTAMP_OUT_OF_WINDOW


def test_plain_frame_without_timestamp_is_not_window_checked() -> None:
    connection = DC09Connection(clock=fixed_clock(at("2030-01-01 00:00:00")))
    [event] = feed(connection, [b'\n68AF0025"SIA-DCS"0001L0#1234[#1234|Nri1/BA12]\r'])
    assert isinstance(event, FrameReceived)


# ----------------------------------------------------------------------------- framing


def received_data(events: list[FrameReceived | FrameRejected]) -> list[str]:
    return [event.frame.data for event in events if isinstance(event, FrameReceived)]


FRAMES = [
    b'\n68AF0025"SIA-DCS"0001L0#1234[#1234|Nri1/BA12]\r',
    b'\nA18D0027"ADM-CID"0001L0#7099[#7099|1131 01 003]\r',
    b'\n96ED0016"SIA-DCS"0001L0#1234[]\r',
]


def test_frame_fed_one_byte_at_a_time() -> None:
    connection = DC09Connection()
    raw = FRAMES[0]
    for index in range(len(raw) - 1):
        connection.receive_data(raw[index : index + 1])
        assert connection.next_event() is NEED_DATA
    connection.receive_data(raw[-1:])
    event = connection.next_event()
    assert isinstance(event, FrameReceived) and event.frame.raw == raw
    assert connection.next_event() is NEED_DATA


def test_several_frames_in_one_read() -> None:
    events = feed(DC09Connection(), [b"".join(FRAMES)])
    assert received_data(events) == ["#1234|Nri1/BA12", "#7099|1131 01 003", ""]
    assert len(events) == 3


def test_frames_split_across_reads_at_odd_places() -> None:
    stream = b"".join(FRAMES)
    chunks = [stream[:3], stream[3:50], stream[50:51], stream[51:90], stream[90:]]
    assert received_data(feed(DC09Connection(), chunks)) == received_data(
        feed(DC09Connection(), [stream])
    )


def test_filler_between_frames_is_ignored() -> None:
    # IOB capture: the panel's frame ends "\r\x00"; CRLF endings and blank lines also occur.
    events = feed(DC09Connection(), [FRAMES[0] + b"\x00", b"\r\n", FRAMES[1] + b"\x00\x00  \t"])
    assert received_data(events) == ["#1234|Nri1/BA12", "#7099|1131 01 003"]
    assert all(isinstance(event, FrameReceived) for event in events)


def test_garbage_before_a_frame_is_reported_once_with_a_nak() -> None:
    clock = fixed_clock(at("2024-01-01 00:00:00"))
    connection = DC09Connection(clock=clock)
    events = feed(connection, [b"GET / HTTP/1.1", b"Host: x", b"yy" + FRAMES[0]])
    assert isinstance(events[0], FrameRejected)
    assert events[0].reason is Rejection.MALFORMED
    assert events[0].reply == build_nak(clock())
    assert [type(event) for event in events] == [FrameRejected, FrameReceived]


def test_partial_frame_superseded_by_a_new_one_is_dropped_without_reply() -> None:
    events = feed(DC09Connection(), [FRAMES[0][:20], FRAMES[1]])
    assert isinstance(events[0], FrameRejected)
    assert (events[0].reason, events[0].raw, events[0].reply) == (
        Rejection.MALFORMED, FRAMES[0][:20], None,
    )
    assert received_data(events[1:]) == ["#7099|1131 01 003"]


def test_oversized_stream_without_cr_is_rejected_and_resyncs_at_next_lf() -> None:
    connection = DC09Connection(max_frame=64)
    events = feed(connection, [b"\n" + b"A" * 40, b"B" * 40, b"C" * 500, FRAMES[2]])
    assert isinstance(events[0], FrameRejected)
    assert events[0].reason is Rejection.TOO_LONG
    assert events[0].reply is not None and b'"NAK"' in events[0].reply
    assert len(events[0].raw) == 64
    assert received_data(events[1:]) == [""]
    assert len(events) == 2


def test_complete_frame_longer_than_max_frame_is_too_long() -> None:
    connection = DC09Connection(max_frame=len(FRAMES[0]) - 1)
    [event] = feed(connection, [FRAMES[0]])
    assert isinstance(event, FrameRejected) and event.reason is Rejection.TOO_LONG
    connection = DC09Connection(max_frame=len(FRAMES[0]))
    [event] = feed(connection, [FRAMES[0]])
    assert isinstance(event, FrameReceived)


def test_rejection_does_not_poison_the_next_frame() -> None:
    bad = FRAMES[0].replace(b"BA12", b"BA13")
    events = feed(DC09Connection(), [bad + FRAMES[1]])
    assert [type(event) for event in events] == [FrameRejected, FrameReceived]
    assert events[0].reason is Rejection.BAD_CRC


def test_connection_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        DC09Connection(window=(timedelta(seconds=20), timedelta(seconds=-40)))
    with pytest.raises(ValueError):
        DC09Connection(max_frame=5)


# ----------------------------------------------------------------------------- account prefix


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("#080027E62A64|NHB0003", ("080027E62A64", "NHB0003")),
        ("#7099|1628 01 000", ("7099", "1628 01 000")),
        ("|Nri1/CL501", (None, "Nri1/CL501")),  # PSA case_cl: empty account
        ("#|Nri1/CL501", (None, "Nri1/CL501")),
        ("Nri1/WA000", (None, "Nri1/WA000")),  # PSA case_wa: no prefix at all
        ("", (None, "")),
    ],
)
def test_split_account(data: str, expected: tuple[str | None, str]) -> None:
    assert split_account(data) == expected


@pytest.mark.parametrize("data", ["#1234", "#12 34|NBA1", "#12345678901234567|NBA1"])
def test_split_account_rejects_broken_prefix(data: str) -> None:
    with pytest.raises(ValueError):
        split_account(data)
