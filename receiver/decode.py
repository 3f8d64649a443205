"""From a valid DC-09 frame to the signals it carries.

A frame that passed CRC, length and timestamp checks is a panel talking to us: even when its data
block makes no sense to us it is stored (code unknown, data kept as text) so an operator sees it.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from centinela.receiver import catalog
from centinela.receiver.contact_id import parse_contact_id
from centinela.receiver.dc09 import DC09Frame, split_account
from centinela.receiver.sia_dcs import parse_sia_data
from centinela.receiver.signal import Signal

log = logging.getLogger(__name__)

LINK_TEST_TOKENS = frozenset({"NULL"})


def number_fields(family: catalog.Family, code: str | None, number: str | None, user: str | None = None) -> dict[str, str | None]:
    """``zone`` and ``user`` for a signal whose code reports ``number``, as the catalogue says.

    Contact ID and SIA reuse one number field for zones and users. A user the signal already
    names (SIA ``id`` modifier) stays unless the number is a user too; a panel-wide code's
    all-zero number is no zone at all.
    """
    if not number or code is None:
        return {"zone": None, "user": user}
    info = catalog.lookup(family, code)
    kind = info.number if info else "zone"
    if kind == "user":
        return {"zone": None, "user": number}
    if kind == "none" and not number.strip("0"):
        return {"zone": None, "user": user}
    return {"zone": number, "user": user}


def with_number(signal: Signal, family: catalog.Family, number: str | None) -> Signal:
    """The signal with ``number`` as its zone or its user (see :func:`number_fields`)."""
    return replace(signal, **number_fields(family, signal.code, number, signal.user))


def signals_from_frame(frame: DC09Frame) -> list[Signal]:
    """The signals to store for one frame; empty for a link test (it is ACKed, not stored)."""
    if frame.token in LINK_TEST_TOKENS:
        return []
    try:
        data_account, _ = split_account(frame.data)
    except ValueError:
        data_account = None
    extended = " ".join(frame.extended) or None
    # Plain keyword construction: dataclasses.replace costs more than the rest of decoding.
    base = {
        "protocol": frame.token,
        "raw": frame.raw.decode("latin-1").strip("\r\n"),
        "account": frame.account or data_account,
        "receiver": frame.receiver,
        "line": frame.line or None,
        "sequence": frame.sequence,
        "panel_time": frame.timestamp,
    }
    try:
        if frame.token == "ADM-CID":
            cid = parse_contact_id(frame.data)
            return [Signal(**base, code=cid.code, qualifier=cid.qualifier, partition=cid.group, text=extended,
                           **number_fields("cid", cid.code, cid.number))]
        if frame.token == "SIA-DCS":
            return [
                Signal(**base, code=event.code, partition=event.partition,
                       text=" ".join(part for part in (event.text, extended) if part) or None,
                       **number_fields("sia", event.code, event.number, event.user))
                for event in parse_sia_data(frame.data)
            ]
    except ValueError as exc:
        log.warning("undecodable %s data %r from account %s: %s", frame.token, frame.data, base["account"], exc)
    # Unknown token content or unparseable data: keep everything the panel said.
    return [Signal(**base, text=" ".join(part for part in (frame.data, extended) if part) or None)]
