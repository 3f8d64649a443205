"""Sans-IO codec for ANSI/SIA DC-09 (SIA-IP) frames, the receiver (CSR) side.

A frame on the wire::

    LF  CRC(4 hex)  0LLL(length, 4 hex)  "TOKEN" SEQ(4 digits) [Rrcvr] [Lline] [#acct] [data]
        [Xext]... [_HH:MM:SS,MM-DD-YYYY]  CR

CRC-16/ARC and the length both cover the text from the opening quote up to, not including, CR.
An encrypted frame has the token prefixed with ``*`` and everything from the first ``[`` on is
replaced by ``[`` plus the upper-case hex of AES-CBC (zero IV) over::

    pad  "|"  data  "]"  [Xext]...  _timestamp

The pad is 1..16 bytes that are not ``|``, ``[`` or ``]``; it fills the plaintext to a multiple of
16 bytes and, since the IV is fixed, it is what makes two encryptions of one message differ. The
timestamp is mandatory when encrypted (DC-09-2013 5.5.2.1.2, 5.5.3.1).

Like h11, nothing here touches a socket: feed bytes to :class:`DC09Connection`, pull
:class:`FrameReceived` / :class:`FrameRejected` events out, and send the reply bytes it hands back.
"""

from __future__ import annotations

import math
import re
import secrets
import string
from collections import deque
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum, StrEnum
from functools import lru_cache
from typing import Final, Literal, TypeAlias

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from centinela.receiver.crc import crc16_arc

__all__ = [
    "DEFAULT_TOKENS",
    "NEED_DATA",
    "DC09Connection",
    "DC09Frame",
    "FrameError",
    "FrameHeader",
    "FrameReceived",
    "FrameRejected",
    "KeyLookup",
    "Rejection",
    "build_frame",
    "build_nak",
    "format_timestamp",
    "parse_frame",
    "split_account",
]

KeyLookup: TypeAlias = Callable[[str | None, str | None, str | None], bytes | None]
"""``key_for(account, receiver, line)`` -> AES key (16, 24 or 32 bytes) or None if unknown."""

DEFAULT_TOKENS: Final = frozenset({"SIA-DCS", "ADM-CID", "NULL"})
AES_KEY_SIZES: Final = frozenset({16, 24, 32})

_BLOCK: Final = 16
_PREAMBLE_LEN: Final = 9  # LF + 4 CRC + 4 length
_MAX_BODY: Final = 0xFFF  # the length field is "0" plus three hex digits
_PAD_FORBIDDEN: Final = frozenset(b"|[]")
# Printable pad: some panels decode the plaintext as text before looking for "|".
_PAD_ALPHABET: Final = (string.ascii_letters + string.digits).encode("ascii")
# Real panels follow CR with NUL (ioBroker.sia issue #11 capture ends in 0x0D 0x00), and some
# send blank lines; between frames these are filler, not garbage worth a NAK.
_FILLER_BYTES: Final = b"\x00\r \t"
_FILLER: Final = frozenset(_FILLER_BYTES)

_TIMESTAMP_FORMAT: Final = "%H:%M:%S,%m-%d-%Y"
_TIMESTAMP = re.compile(r"([0-9]{2}):([0-9]{2}):([0-9]{2}),([0-9]{2})-([0-9]{2})-([0-9]{4})")
_TOKEN = re.compile(r"[A-Z0-9][A-Z0-9-]{0,15}")
_HEX = re.compile(r"[0-9A-Fa-f]*")
_HEADER = re.compile(
    r'"(?P<star>\*?)(?P<token>[A-Z0-9][A-Z0-9-]{0,15})"'
    r"(?P<sequence>[0-9]{4})"
    r"(?:R(?P<receiver>[0-9A-Fa-f]{1,6}))?"
    # Lazy and allowed empty: a NAK reads "L0A0" (line 0, then the literal "A0" in place of an
    # account), and a real panel sends "L#acct" with no line digits (ioBroker.sia issue #11).
    r"(?:L(?P<line>[0-9A-Fa-f]{0,6}?))?"
    r"(?:#(?P<account>[0-9A-Fa-f]{3,16})|A0)?"
    r"\["
)
_BLOCKS = re.compile(
    r"(?P<data>[^\[\]]*)\]"
    r"(?P<extended>(?:\[[A-Z][^\[\]]*\])*)"
    r"(?:_(?P<timestamp>.*))?",
    re.DOTALL,
)
_EXTENDED_ITEM = re.compile(r"\[([^\[\]]*)\]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Rejection(StrEnum):
    """Why a frame was not accepted."""

    BAD_CRC = "bad_crc"
    BAD_LENGTH = "bad_length"
    MALFORMED = "malformed"
    TOO_LONG = "too_long"
    UNKNOWN_KEY = "unknown_key"
    DECRYPT_FAILED = "decrypt_failed"
    TIMESTAMP_OUT_OF_WINDOW = "timestamp_out_of_window"
    UNSUPPORTED_TOKEN = "unsupported_token"


# DC-09-2013 5.5.3.3: DUH is for "an otherwise correctly received message" the CSR cannot process.
# CRC and length were right in these cases, so the panel gets DUH, not a NAK that invites retries
# with the same unusable key. Everything else is a transmission problem: NAK (5.5.3.2), never ACK.
_DUH_REASONS: Final = frozenset(
    {Rejection.UNSUPPORTED_TOKEN, Rejection.UNKNOWN_KEY, Rejection.DECRYPT_FAILED}
)


class NeedData(Enum):
    """The type of :data:`NEED_DATA`, for annotations."""

    NEED_DATA = "NEED_DATA"


NEED_DATA: Final = NeedData.NEED_DATA
"""Returned by :meth:`DC09Connection.next_event` when a complete frame is not buffered yet."""


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """The clear-text routing part of a frame: enough to address a DUH even if the rest failed."""

    token: str
    encrypted: bool
    sequence: str
    receiver: str | None
    line: str | None
    account: str | None


# Not frozen: one is built per signal, and a frozen dataclass's __init__ (object.__setattr__ per
# field) costs about five times as much; nothing mutates it after construction.
@dataclass(slots=True)
class DC09Frame:
    token: str
    """ID token without the ``*`` encryption marker, e.g. ``"SIA-DCS"``."""
    encrypted: bool
    sequence: str
    receiver: str | None
    line: str | None
    """Account prefix digits after ``L``; ``""`` when the panel sent a bare ``L``."""
    account: str | None
    data: str
    """Content of the first ``[...]`` block, decrypted, without brackets."""
    extended: tuple[str, ...]
    """Contents of the ``[X...]`` blocks after the data block, without brackets."""
    timestamp: datetime | None
    """Panel time, timezone-aware UTC."""
    raw: bytes
    """The full frame as received, LF and CR included."""

    @property
    def header(self) -> FrameHeader:
        return FrameHeader(
            self.token, self.encrypted, self.sequence, self.receiver, self.line, self.account
        )


@dataclass(slots=True)  # not frozen, as DC09Frame
class FrameReceived:
    """A valid frame. Commit it first, then send ``connection.ack(frame)``."""

    frame: DC09Frame


@dataclass(frozen=True, slots=True)
class FrameRejected:
    reason: Rejection
    detail: str
    raw: bytes
    reply: bytes | None
    """NAK or DUH to send now; None when answering would confuse the panel (see framing)."""


Event: TypeAlias = FrameReceived | FrameRejected


class FrameError(Exception):
    """A single frame could not be accepted; ``reason`` decides the reply."""

    def __init__(self, reason: Rejection, detail: str, header: FrameHeader | None = None) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.header = header


# --------------------------------------------------------------------------- shared helpers


def split_account(data: str) -> tuple[str | None, str]:
    """Split the ``#ACCT|`` prefix DC-09 puts in front of SIA-DCS and ADM-CID data.

    Returns ``(account, rest)``; account is None when the prefix is absent or empty (some panels
    send just ``|Nri1/CL501``). Raises ValueError for a ``#`` prefix that is not a valid account.
    """
    if data.startswith("|"):
        return None, data[1:]
    if not data.startswith("#"):
        return None, data
    bar = data.find("|")
    if bar < 0:
        raise ValueError(f"account prefix in {data!r} is not closed by '|'")
    account = data[1:bar]
    if len(account) > 16 or not account.isascii() or not (account.isalnum() or account == ""):
        raise ValueError(f"invalid account {account!r} in data {data!r}")
    return account or None, data[bar + 1 :]


def format_timestamp(moment: datetime) -> str:
    """``_HH:MM:SS,MM-DD-YYYY`` in UTC, as DC-09 5.5.1.8 writes it."""
    if moment.tzinfo is None:
        raise ValueError("DC-09 timestamps are UTC: pass a timezone-aware datetime")
    return "_" + moment.astimezone(UTC).strftime(_TIMESTAMP_FORMAT)


@lru_cache(maxsize=1024)
def _parse_timestamp(text: str) -> datetime:
    # Cached: in a busy second every panel stamps the same text.
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        raise ValueError(f"timestamp {text!r} is not HH:MM:SS,MM-DD-YYYY")
    hour, minute, second, month, day, year = match.groups()
    return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC)


def _to_text(latin1: str) -> str:
    # The frame is sliced as Latin-1 (one char per byte, so lengths and regexes stay byte-exact);
    # panels that send accented zone names send UTF-8 (swissdotnet SIA-DC-09 vector 52060082).
    try:
        return latin1.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return latin1


def _aes_cbc(key: bytes, data: bytes, *, encrypt: bool) -> bytes:
    # DC-09 fixes the IV at zero; the random pad at the front of the plaintext does its job.
    cipher = Cipher(algorithms.AES(key), modes.CBC(bytes(_BLOCK)))
    context = cipher.encryptor() if encrypt else cipher.decryptor()
    return context.update(data) + context.finalize()


def _check_key(key: bytes) -> None:
    if len(key) not in AES_KEY_SIZES:
        raise ValueError(f"AES key must be 16, 24 or 32 bytes, got {len(key)}")


# --------------------------------------------------------------------------- building


def _wrap(body: bytes) -> bytes:
    if len(body) > _MAX_BODY:
        raise ValueError(f"frame body of {len(body)} bytes exceeds the DC-09 limit of 4095")
    return b"\n" + f"{crc16_arc(body):04X}{len(body):04X}".encode("ascii") + body + b"\r"


def _encrypt_blocks(key: bytes, content: bytes, pad: bytes | None) -> str:
    tail = b"|" + content
    if pad is None:
        # At least one pad byte, so the plaintext never starts with the "|" separator.
        pad = bytes(secrets.choice(_PAD_ALPHABET) for _ in range(_BLOCK - len(tail) % _BLOCK))
    elif _PAD_FORBIDDEN.intersection(pad) or (len(pad) + len(tail)) % _BLOCK:
        raise ValueError("pad must avoid '|', '[', ']' and fill the plaintext to 16-byte blocks")
    return _aes_cbc(key, pad + tail, encrypt=True).hex().upper()


_FIELDS: Final = {
    "token": _TOKEN,
    "sequence": re.compile(r"[0-9]{4}"),
    "receiver": re.compile(r"[0-9A-Fa-f]{1,6}"),
    "line": re.compile(r"[0-9A-Fa-f]{0,6}"),
    "account": re.compile(r"[0-9A-Fa-f]{3,16}"),
    "data": re.compile(r"[^\[\]\x00-\x1f\x7f]*"),
    "extended block": re.compile(r"[A-Z][^\[\]\x00-\x1f\x7f]*"),
}


def _check_field(name: str, value: str | None) -> None:
    if value is not None and _FIELDS[name].fullmatch(value) is None:
        raise ValueError(f"invalid {name} {value!r}")


def _routing(sequence: str, receiver: str | None, line: str | None, account: str | None) -> str:
    return (
        sequence
        + (f"R{receiver}" if receiver is not None else "")
        + (f"L{line}" if line is not None else "")
        + (f"#{account}" if account is not None else "")
    )


def build_frame(
    token: str,
    sequence: int | str,
    *,
    receiver: str | None = None,
    line: str | None = None,
    account: str | None = None,
    data: str = "",
    extended: Iterable[str] = (),
    timestamp: datetime | None = None,
    key: bytes | None = None,
    pad: bytes | None = None,
) -> bytes:
    """Serialize one DC-09 frame; encrypted (``"*TOKEN"``) when ``key`` is given.

    ``pad`` fixes the encryption pad instead of drawing a random one; it exists so tests can
    reproduce published ciphertexts byte for byte.
    """
    sequence = f"{sequence:04d}" if isinstance(sequence, int) else sequence
    for name, value in (("token", token), ("sequence", sequence), ("receiver", receiver), ("line", line),
                        ("account", account), ("data", data)):
        _check_field(name, value)
    blocks = tuple(extended)
    for block in blocks:
        _check_field("extended block", block)

    header = f'"{"*" if key is not None else ""}{token}"' + _routing(sequence, receiver, line, account) + "["
    content = (
        data
        + "]"
        + "".join(f"[{block}]" for block in blocks)
        + (format_timestamp(timestamp) if timestamp is not None else "")
    )
    if key is None:
        return _wrap((header + content).encode("utf-8"))
    _check_key(key)
    if timestamp is None:
        raise ValueError("encrypted DC-09 frames require a timestamp (5.5.1.8)")
    return _wrap((header + _encrypt_blocks(key, content.encode("utf-8"), pad)).encode("ascii"))


def build_nak(now: datetime) -> bytes:
    """The fixed NAK of DC-09-2013 5.5.3.2, carrying the receiver's clock so the panel can resync.

    Never encrypted.
    """
    return _wrap(f'"NAK"0000R0L0A0[]{format_timestamp(now)}'.encode("ascii"))


# --------------------------------------------------------------------------- parsing


def _header_of(match: re.Match[str]) -> FrameHeader:
    """The routing of a frame whose header parsed: built only when a rejection needs it."""
    return FrameHeader(match["token"], bool(match["star"]), match["sequence"], match["receiver"],
                       match["line"], match["account"])


def _split_blocks(
    rest: str, header: re.Match[str], failure: Rejection
) -> tuple[str, tuple[str, ...], str]:
    """Split ``data][X..]..._ts`` into data, extended blocks and timestamp text ("" if none)."""
    match = _BLOCKS.fullmatch(rest)
    if match is None or _CONTROL.search(rest):
        raise FrameError(failure, f"data blocks are not well formed: {rest[:60]!r}", _header_of(header))
    data, blocks, stamp = match.group("data", "extended", "timestamp")
    extended = tuple(_EXTENDED_ITEM.findall(blocks)) if blocks else ()
    if not rest.isascii():  # ASCII reads the same in Latin-1 and UTF-8
        data, extended = _to_text(data), tuple(_to_text(item) for item in extended)
    return data, extended, stamp or ""


def _decrypt(cipher_hex: str, key: bytes, header: re.Match[str]) -> str:
    if not cipher_hex or len(cipher_hex) % (2 * _BLOCK) or _HEX.fullmatch(cipher_hex) is None:
        raise FrameError(
            Rejection.MALFORMED, "encrypted part is not hex in whole 16-byte blocks", _header_of(header)
        )
    plain = _aes_cbc(key, bytes.fromhex(cipher_hex), encrypt=False)
    bar = plain.find(b"|")
    if bar < 0:
        # pysiaalarm's own encrypted NULL omits the "|" (its test vector 76D80055 decrypts to
        # "ppppppppppp]_18:24:52,07-05-2020"); harmless there because a NULL carries no data.
        close = plain.find(b"]")
        if header["token"] != "NULL" or close < 0:
            raise FrameError(
                Rejection.DECRYPT_FAILED, "no pad separator after decryption (wrong key?)", _header_of(header)
            )
        return plain[close:].decode("latin-1")
    return plain[bar + 1 :].decode("latin-1")


def parse_frame(
    raw: bytes,
    *,
    key_for: KeyLookup | None = None,
    supported_tokens: Collection[str] | None = None,
) -> DC09Frame:
    """Parse one complete frame (LF ... CR). Raises :class:`FrameError`.

    ``supported_tokens`` None accepts any well-formed token, so the same parser reads replies
    (ACK, NAK, DUH) in tests and in the panel simulator.
    """
    if len(raw) < _PREAMBLE_LEN + 1 or raw[:1] != b"\n" or raw[-1:] != b"\r":
        raise FrameError(Rejection.MALFORMED, "not a LF ... CR frame")
    preamble = raw[1:_PREAMBLE_LEN].decode("latin-1")
    if _HEX.fullmatch(preamble) is None:
        raise FrameError(Rejection.MALFORMED, f"CRC/length field {preamble!r} is not hex")
    body = raw[_PREAMBLE_LEN:-1]
    declared_length = int(preamble[4:], 16)
    if declared_length != len(body):
        raise FrameError(
            Rejection.BAD_LENGTH, f"length field says {declared_length}, body has {len(body)}"
        )
    declared_crc = int(preamble[:4], 16)
    if declared_crc != crc16_arc(body):
        raise FrameError(
            Rejection.BAD_CRC, f"CRC field {declared_crc:04X}, computed {crc16_arc(body):04X}"
        )

    text = body.decode("latin-1")
    match = _HEADER.match(text)
    if match is None:
        raise FrameError(Rejection.MALFORMED, f"unreadable header in {text[:40]!r}")
    star, token, sequence, receiver, line, account = match.group(
        "star", "token", "sequence", "receiver", "line", "account")
    if supported_tokens is not None and token not in supported_tokens:
        raise FrameError(Rejection.UNSUPPORTED_TOKEN, f"token {token!r}", _header_of(match))

    rest = text[match.end() :]
    if star:
        key = key_for(account, receiver, line) if key_for else None
        if key is None:
            raise FrameError(Rejection.UNKNOWN_KEY, f"no key for account {account}", _header_of(match))
        if len(key) not in AES_KEY_SIZES:
            raise FrameError(
                Rejection.UNKNOWN_KEY, f"configured key has {len(key)} bytes, not 16/24/32", _header_of(match)
            )
        rest = _decrypt(rest, key, match)
        data, extended, stamp = _split_blocks(rest, match, Rejection.DECRYPT_FAILED)
        if not stamp:
            raise FrameError(Rejection.MALFORMED, "encrypted frame without timestamp", _header_of(match))
    else:
        data, extended, stamp = _split_blocks(rest, match, Rejection.MALFORMED)

    try:
        timestamp = _parse_timestamp(stamp) if stamp else None
    except ValueError as error:
        raise FrameError(Rejection.MALFORMED, str(error), _header_of(match)) from None
    return DC09Frame(token, bool(star), sequence, receiver, line, account, data, extended, timestamp, bytes(raw))


# --------------------------------------------------------------------------- connection


def _utc_now() -> datetime:
    return datetime.now(UTC)


class DC09Connection:
    """Framing, validation and replies for one panel connection (or one UDP peer).

    Feed bytes with :meth:`receive_data`; call :meth:`next_event` until it returns
    :data:`NEED_DATA`. For :class:`FrameReceived`, store the event and only then send
    :meth:`ack` (an ACK tells the panel it may forget the alarm). For :class:`FrameRejected`,
    send ``reply`` when it is not None. Malformed input never raises; a ``key_for`` or ``clock``
    that raises is a caller bug and propagates.
    """

    def __init__(
        self,
        *,
        key_for: KeyLookup | None = None,
        clock: Callable[[], datetime] = _utc_now,
        window: tuple[timedelta, timedelta] = (timedelta(seconds=-40), timedelta(seconds=20)),
        max_frame: int = 1024,
        supported_tokens: Collection[str] = DEFAULT_TOKENS,
        check_plain_timestamps: bool = True,
    ) -> None:
        """``window`` bounds panel time minus receiver time (DC-09 5.5.1.8: -40 s .. +20 s).

        The standard only demands the window check for encrypted frames, where the timestamp is
        the replay defence. ``check_plain_timestamps=False`` skips it for clear-text frames from
        panels whose clocks drift.
        """
        if window[0] > window[1]:
            raise ValueError("window must be (earliest, latest)")
        if max_frame < _PREAMBLE_LEN + 1:
            raise ValueError("max_frame is smaller than an empty frame")
        self._key_for = key_for
        self._clock = clock
        self._window = (window[0].total_seconds(), window[1].total_seconds())
        self._max_frame = max_frame
        self._supported = frozenset(supported_tokens)
        self._check_plain_timestamps = check_plain_timestamps
        self._buffer = bytearray()
        self._discarding = False  # dropping bytes up to the next LF after a reported rejection
        self._pending: deque[Event] = deque()

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    def next_event(self) -> FrameReceived | FrameRejected | Literal[NeedData.NEED_DATA]:
        while not self._pending:
            if not self._advance():
                return NEED_DATA
        return self._pending.popleft()

    # -- replies

    def ack(self, frame: DC09Frame) -> bytes:
        """Positive acknowledgement echoing the frame's routing (DC-09-2013 5.5.3.1).

        An encrypted frame gets ``*ACK`` encrypted with the account's key, with pad and the
        receiver's timestamp. Raises ValueError if that key is no longer known.
        """
        if not frame.encrypted:
            # The routing fields come from a frame that parsed, so they need no second check:
            # this is the path every plain signal's ACK takes.
            routing = _routing(frame.sequence, frame.receiver, frame.line, frame.account)
            return _wrap(f'"ACK"{routing}[]'.encode("ascii"))
        key = self._key_for(frame.account, frame.receiver, frame.line) if self._key_for else None
        if key is None:
            raise ValueError(f"no key for account {frame.account}: cannot encrypt the ACK")
        return build_frame(
            "ACK",
            frame.sequence,
            receiver=frame.receiver,
            line=frame.line,
            account=frame.account,
            timestamp=self._clock(),
            key=key,
        )

    def nak(self) -> bytes:
        return build_nak(self._clock())

    def duh(self, frame: DC09Frame | FrameHeader) -> bytes:
        """DUH, the "unable to process" reply (DC-09-2013 5.5.3.3); never encrypted."""
        return build_frame(
            "DUH", frame.sequence, receiver=frame.receiver, line=frame.line, account=frame.account
        )

    # -- internals

    def _reject(
        self, reason: Rejection, detail: str, raw: bytes, header: FrameHeader | None = None
    ) -> None:
        reply = self.duh(header) if reason in _DUH_REASONS and header else self.nak()
        self._pending.append(FrameRejected(reason, detail, raw, reply))

    def _advance(self) -> bool:
        """Queue at most one event from the buffer; False when more bytes are needed."""
        buffer = self._buffer
        if self._discarding:
            start = buffer.find(b"\n")
            if start < 0:
                buffer.clear()
                return False
            del buffer[:start]
            self._discarding = False

        skip = 0
        while skip < len(buffer) and buffer[skip] in _FILLER:
            skip += 1
        start = buffer.find(b"\n", skip)
        if start != skip:
            if skip == len(buffer):
                buffer.clear()
                return False
            end = start if start >= 0 else len(buffer)
            garbage = bytes(buffer[skip:end])
            del buffer[:end]
            self._discarding = start < 0  # the rest of this garbage may still be on its way
            self._reject(Rejection.MALFORMED, "bytes outside a frame", garbage)
            return True
        del buffer[:start]

        end = buffer.find(b"\r", 1)
        restart = buffer.find(b"\n", 1)
        cut_short = restart >= 0 and (end < 0 or restart < end)
        # Bytes of this frame seen without its CR. Deciding on this count alone gives the same
        # events whether the stream came in one read or one byte at a time.
        unterminated = restart if cut_short else end if end >= 0 else len(buffer)
        if unterminated >= self._max_frame:
            head = bytes(buffer[: self._max_frame])
            del buffer[: self._max_frame]
            self._discarding = True
            self._reject(Rejection.TOO_LONG, f"no CR within {self._max_frame} bytes", head)
            return True
        if cut_short:
            # A new LF before this frame's CR: the panel abandoned the frame. No reply, since the
            # panel would take a NAK as the answer to the frame that follows.
            cut = bytes(buffer[:restart])
            del buffer[:restart]
            if cut.strip(_FILLER_BYTES + b"\n"):
                self._pending.append(
                    FrameRejected(Rejection.MALFORMED, "frame cut short by a new LF", cut, None)
                )
            return True
        if end < 0:
            return False

        raw = bytes(buffer[: end + 1])
        del buffer[: end + 1]
        try:
            frame = parse_frame(raw, key_for=self._key_for, supported_tokens=self._supported)
            self._check_window(frame)
        except FrameError as error:
            self._reject(error.reason, error.detail, raw, error.header)
            return True
        self._pending.append(FrameReceived(frame))
        return True

    def _check_window(self, frame: DC09Frame) -> None:
        if frame.timestamp is None or not (frame.encrypted or self._check_plain_timestamps):
            return
        # Whole seconds on both sides: the panel cannot send fractions, so a receiver clock at
        # 12:00:40.9 must still accept a panel stamp of 12:00:00 as "-40 s". Plain seconds, not
        # timedeltas: every frame passes here.
        offset = frame.timestamp.timestamp() - math.floor(self._clock().timestamp())
        earliest, latest = self._window
        if not earliest <= offset <= latest:
            raise FrameError(
                Rejection.TIMESTAMP_OUT_OF_WINDOW,
                f"panel time {frame.timestamp:%Y-%m-%d %H:%M:%S} is {offset:+.0f} s from receiver time",
                frame.header,
            )
