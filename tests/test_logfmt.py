from __future__ import annotations

from centinela.receiver.logfmt import logfmt, protocol_error


def test_values_are_quoted_only_when_needed_and_control_bytes_escaped() -> None:
    line = protocol_error("10.0.0.1:5000", "bad_crc", "CRC field 0000, computed 1A2B", b'\n0000"ADM-CID"\r')
    assert line == ('protocol_error peer=10.0.0.1:5000 reason=bad_crc detail="CRC field 0000, computed 1A2B"'
                    ' raw="\\n0000\\"ADM-CID\\"\\r"')


def test_none_and_false_are_left_out_true_is_lowercase_and_unicode_kept() -> None:
    line = logfmt("event", {"id": 7, "customer": "Ferretería La Estrella", "unknown_account": True,
                            "suspended": False, "zone": None})
    assert line == 'event id=7 customer="Ferretería La Estrella" unknown_account=true'
