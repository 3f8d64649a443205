"""Sans-IO codec for the Sur-Gard automation ("SG") output that hardware receivers send on RS-232.

MLR2/MLR2000, SG-System III and SG-System 5 receivers write one message at a time, each ended by
DC4 (0x14), and wait up to 4 s for the automation software to answer ACK (0x06); no answer or NAK
(0x15) makes the receiver send the same message again. Every message opens with a protocol id
and a header of receiver number (two characters) and line number (the rest: one digit on MLR2,
three by default on System III/5, anything from 1 to 7 as configured)::

    1RR000           @    DC4       heartbeat, about every 30 s (MLR2: ``1011`` + the same tail)
    5RRLLL 18AAAAQXYZGGCCC DC4      Contact ID; Q is E (new/opening), R (restore/closing) or P
                                    (previous, i.e. status). 98 may replace 18. Protocol Q with
                                    format 58 carries a 10-digit account.
    SRRLLL[#AAAA|Nri1/BA01] DC4     SIA (protocol 0: the receiver's own status, account 0000)
    3RRLLL    AAAAAAXXYYYY DC4      SIA "protocol 1" (MLR2): fixed width, account right-aligned
    1RRLLL    AAAAAA XGYYY DC4      Basic protocol (4/1, 4/2, 3/1 pulse formats, two-way audio):
                                    one-character event, area or space, zone/user

(SG Automation Output Protocol rev. 161; MLR2-DG, MLR2E, SG-System III and SG-System 5 manuals.)

Like h11, nothing here touches a port: feed bytes to :class:`SurGardDecoder`, pull events out and
write :data:`ACK` or :data:`NAK` as each event says. There is no checksum on this link, so the
layout is the only sign that a message arrived intact: a message whose layout we do not know is
answered NAK, which makes a receiver retransmit it; when the very same bytes come straight back
they were not line noise, and they are accepted as an unknown-format message (stored raw, ACKed)
rather than lost.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final, Literal, TypeAlias

from centinela.receiver.contact_id import parse_contact_id
from centinela.receiver.dc09 import NEED_DATA, NeedData, Rejection, split_account
from centinela.receiver.decode import with_number
from centinela.receiver.sia_dcs import parse_sia_data
from centinela.receiver.signal import Signal

__all__ = [
    "ACK",
    "DC4",
    "NAK",
    "NEED_DATA",
    "Heartbeat",
    "MessageFormat",
    "SerialMessage",
    "SurGardDecoder",
    "Unparseable",
    "signals_from_message",
]

log = logging.getLogger(__name__)

ACK: Final = b"\x06"
NAK: Final = b"\x15"
DC4: Final = b"\x14"

# Some receivers and line converters put CR/LF (or NUL padding) around messages.
_FILLER: Final = b"\x00\r\n"

_HEADER = r"(?P<receiver>[0-9A-Za-z]{2})(?P<line>[0-9A-Za-z]{1,7})"
_HEARTBEAT = re.compile(rf"1{_HEADER} +@ *")
_CONTACT_ID = re.compile(
    rf"[5Q]{_HEADER} (?:18|98|58)(?P<account>[0-9A-Fa-f]{{4,10}})"
    r"(?P<qualifier>[ERP])(?P<code>[0-9A-Fa-f]{3})(?P<group>[0-9A-Fa-f]{2})(?P<number>[0-9A-Fa-f]{3})"
)
_SIA_BLOCK = re.compile(rf"[S0]{_HEADER}\[(?P<data>[ -Z\\^-~]*)\]")
_SIA_FIXED = re.compile(
    rf"3{_HEADER}    (?P<account>[ 0-9A-Fa-f]{{6}})(?P<code>[A-Z]{{2}})(?P<number>[ 0-9A-Fa-f]{{4}})"
)
_BASIC = re.compile(
    rf"1{_HEADER}    (?P<account>[ 0-9A-Za-z]{{6}}) "
    r"(?P<event>[ -~])(?P<group>[ 0-9A-Za-z])(?P<number>[ 0-9A-Za-z]{3})"
)
_UNKNOWN_HEADER = re.compile(r"[0-9A-Za-z](?P<receiver>[0-9A-Fa-f]{2})")

_CONTACT_ID_QUALIFIERS: Final = {"E": "1", "R": "3", "P": "6"}


class MessageFormat(StrEnum):
    """What a message carries; the value is the ``protocol`` of the signals it yields."""

    CONTACT_ID = "SG-CID"
    SIA = "SG-SIA"
    BASIC = "SG-BASIC"
    UNKNOWN = "SG-RAW"


@dataclass(frozen=True, slots=True)
class SerialMessage:
    """A message to store; send :data:`ACK` once its signals are committed."""

    format: MessageFormat
    raw: bytes
    """The message as received, without DC4 and stray CR/LF."""
    receiver: str | None
    line: str | None
    account: str | None
    data: str
    """The payload in the form its parser reads. Contact ID: ``QXYZ GG CCC`` with the qualifier as
    a digit. SIA: the SIA data block (``#1234|Nri1/BA01``). Basic: five characters, event, area,
    three-character zone or user (spaces where the receiver sent none). Unknown: the text after
    the protocol id."""


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The receiver checking that automation is listening; answer :data:`ACK`."""

    raw: bytes
    receiver: str
    line: str


@dataclass(frozen=True, slots=True)
class Unparseable:
    """Bytes that are not a message we know; answer :data:`NAK` so the receiver sends it again."""

    reason: Rejection
    detail: str
    raw: bytes


Event: TypeAlias = SerialMessage | Heartbeat | Unparseable


class SurGardDecoder:
    """Framing and recognition for one receiver's serial stream.

    Feed bytes with :meth:`receive_data`; call :meth:`next_event` until it returns
    :data:`NEED_DATA`. Never raises on any input. Events do not depend on how the bytes were
    split into reads.
    """

    def __init__(self, *, max_message: int = 256) -> None:
        """``max_message``: longest message accepted, DC4 excluded. SIA messages are the longest,
        with up to 66 bytes of panel data; past the limit the decoder reports the message and
        skips to the next DC4."""
        if max_message < 1:
            raise ValueError("max_message must be positive")
        self._max_message = max_message
        self._buffer = bytearray()
        self._discarding = False  # dropping the rest of an oversize message, up to its DC4
        self._last_rejected: bytes | None = None
        self._pending: deque[Event] = deque()

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    def next_event(self) -> Event | Literal[NeedData.NEED_DATA]:
        while not self._pending:
            if not self._advance():
                return NEED_DATA
        return self._pending.popleft()

    def _advance(self) -> bool:
        """Queue at most one event from the buffer; False when more bytes are needed."""
        buffer = self._buffer
        if self._discarding:
            end = buffer.find(DC4)
            if end < 0:
                buffer.clear()
                return False
            del buffer[: end + 1]
            self._discarding = False

        skip = 0
        while skip < len(buffer) and buffer[skip] in _FILLER:
            skip += 1
        del buffer[:skip]

        end = buffer.find(DC4)
        # Deciding on this count alone gives the same events for one read or one byte at a time.
        unterminated = end if end >= 0 else len(buffer)
        if unterminated > self._max_message:
            head = bytes(buffer[: self._max_message])
            if end >= 0:
                del buffer[: end + 1]
            else:
                buffer.clear()
                self._discarding = True
            self._last_rejected = None
            self._pending.append(
                Unparseable(Rejection.TOO_LONG, f"no DC4 within {self._max_message} bytes", head)
            )
            return True
        if end < 0:
            return False

        message = bytes(buffer[:end]).rstrip(_FILLER)
        del buffer[: end + 1]
        if message:  # a lone DC4 carries nothing to answer
            self._pending.append(self._recognize(message))
        return True

    def _recognize(self, message: bytes) -> Event:
        event = _parse(message)
        if event is not None:
            self._last_rejected = None
            return event
        if message == self._last_rejected:
            # The receiver answered our NAK with the same bytes: not noise, just a format we do
            # not decode. Keep it rather than NAK it until the receiver gives up.
            self._last_rejected = None
            return _unknown(message)
        self._last_rejected = message
        return Unparseable(Rejection.MALFORMED, "not a Sur-Gard message layout we know", message)


def _parse(message: bytes) -> SerialMessage | Heartbeat | None:
    text = message.decode("latin-1")
    if match := _HEARTBEAT.fullmatch(text):
        return Heartbeat(message, match["receiver"], match["line"])
    if match := _CONTACT_ID.fullmatch(text):
        qualifier = _CONTACT_ID_QUALIFIERS[match["qualifier"]]
        data = f"{qualifier}{match['code']} {match['group']} {match['number']}"
        return _message(MessageFormat.CONTACT_ID, message, match, match["account"], data)
    if match := _SIA_BLOCK.fullmatch(text):
        try:
            account, _ = split_account(match["data"])
        except ValueError:
            account = None
        return _message(MessageFormat.SIA, message, match, account, match["data"])
    if match := _SIA_FIXED.fullmatch(text):
        account = match["account"].strip() or None
        event = f"N{match['code']}{match['number'].strip()}"
        data = f"#{account}|{event}" if account else event
        return _message(MessageFormat.SIA, message, match, account, data)
    if match := _BASIC.fullmatch(text):
        data = match["event"] + match["group"] + match["number"]
        return _message(MessageFormat.BASIC, message, match, match["account"].strip() or None, data)
    return None


def _message(
    kind: MessageFormat, raw: bytes, match: re.Match[str], account: str | None, data: str
) -> SerialMessage:
    return SerialMessage(kind, raw, match["receiver"], match["line"], account, data)


def _unknown(message: bytes) -> SerialMessage:
    # Every documented format puts the two-character receiver number after the protocol id;
    # where the line number ends differs by format, so it is left out.
    header = _UNKNOWN_HEADER.match(message.decode("latin-1"))
    receiver = header["receiver"] if header else None
    return SerialMessage(MessageFormat.UNKNOWN, message, receiver, None, None, _printable(message[1:]))


def _printable(raw: bytes) -> str:
    """The message as text, control and non-ASCII bytes escaped (``\\x07``)."""
    return raw.decode("latin-1").encode("unicode_escape").decode("ascii")


def signals_from_message(message: SerialMessage) -> list[Signal]:
    """The signals to store for one message; never raises.

    A payload its parser rejects (e.g. Contact ID with hex digits, SIA data with an unknown
    block) is still a message the receiver vouched for: it is stored with the payload as text.
    """
    base = Signal(
        protocol=message.format.value,
        raw=_printable(message.raw),
        account=message.account,
        receiver=message.receiver,
        line=message.line,
    )
    try:
        if message.format is MessageFormat.CONTACT_ID:
            cid = parse_contact_id(message.data)
            signal = replace(base, code=cid.code, qualifier=cid.qualifier, partition=cid.group)
            return [with_number(signal, "cid", cid.number)]
        if message.format is MessageFormat.SIA:
            return [
                with_number(
                    replace(
                        base, code=event.code, partition=event.partition, user=event.user,
                        text=event.text,
                    ),
                    "sia",
                    event.number,
                )
                for event in parse_sia_data(message.data)
            ]
        if message.format is MessageFormat.BASIC:
            event, area, number = message.data[:1], message.data[1:2], message.data[2:]
            return [replace(
                base, code=event.strip() or None, partition=area.strip() or None,
                zone=number.strip() or None,
            )]
    except ValueError as exc:
        log.warning(
            "undecodable %s data %r from account %s: %s",
            message.format.value, message.data, message.account, exc,
        )
    return [replace(base, text=message.data or None)]
