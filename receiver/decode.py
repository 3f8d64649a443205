"""From a valid DC-09 frame to the signals it carries.

A frame that passed CRC, length and timestamp checks is a panel talking to us: even when its data
block makes no sense to us it is stored (code unknown, data kept as text) so an operator sees it.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import lru_cache

from centinela.receiver import catalog
from centinela.receiver.contact_id import parse_contact_id
from centinela.receiver.dc09 import DC09Frame, split_account
from centinela.receiver.sia_dcs import parse_sia_data
from centinela.receiver.signal import Signal

log = logging.getLogger(__name__)

LINK_TEST_TOKENS = frozenset({"NULL"})


@lru_cache(maxsize=4096)
def zone_and_user(
    family: catalog.Family, code: str | None, number: str | None, user: str | None = None
) -> tuple[str | None, str | None]:
    """``(zone, user)`` for a signal whose code reports ``number``, as the catalogue says.

    Contact ID and SIA reuse one number field for zones and users. A user the signal already
    names (SIA ``id`` modifier) stays unless the number is a user too; a panel-wide code's
    all-zero number is no zone at all.
    """
    if not number or code is None:
        return None, user
    info = catalog.lookup(family, code)
    kind = info.number if info else "zone"
    if kind == "user":
        return None, number
    if kind == "none" and not number.strip("0"):
        return None, user
    return number, user


def with_number(signal: Signal, family: catalog.Family, number: str | None) -> Signal:
    """The signal with ``number`` as its zone or its user (see :func:`zone_and_user`)."""
    zone, user = zone_and_user(family, signal.code, number, signal.user)
    return replace(signal, zone=zone, user=user)


def signals_from_frame(frame: DC09Frame) -> list[Signal]:
    """The signals to store for one frame; empty for a link test (it is ACKed, not stored)."""
    token = frame.token
    if token in LINK_TEST_TOKENS:
        return []
    try:
        data_account, body = split_account(frame.data)
    except ValueError:  # the parsers below fail on it too, and the data is kept as text
        data_account, body = None, frame.data
    extended = " ".join(frame.extended) or None
    account = frame.account or data_account
    # Plain keyword construction: dataclasses.replace costs more than the rest of decoding.
    base = {
        "protocol": token,
        "raw": frame.raw.decode("latin-1").strip("\r\n"),
        "account": account,
        "receiver": frame.receiver,
        "line": frame.line or None,
        "sequence": frame.sequence,
        "panel_time": frame.timestamp,
    }
    try:
        if token == "ADM-CID":
            cid = parse_contact_id(body)
            zone, user = zone_and_user("cid", cid.code, cid.number)
            return [Signal(**base, code=cid.code, qualifier=cid.qualifier, zone=zone, partition=cid.group, user=user,
                           text=extended)]
        if token == "SIA-DCS":
            signals = []
            for event in parse_sia_data(body):
                zone, user = zone_and_user("sia", event.code, event.number, event.user)
                signals.append(Signal(**base, code=event.code, zone=zone, partition=event.partition, user=user,
                                      text=" ".join(part for part in (event.text, extended) if part) or None))
            return signals
    except ValueError as exc:
        log.warning("undecodable %s data %r from account %s: %s", token, frame.data, account, exc)
    # Unknown token content or unparseable data: keep everything the panel said.
    return [Signal(**base, text=" ".join(part for part in (frame.data, extended) if part) or None)]
