"""The decoded, protocol-independent alarm signal that every codec produces and the store keeps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


# Not frozen: one is built per signal, and a frozen dataclass's __init__ (object.__setattr__ per
# field) costs about five times as much; nothing mutates it after construction.
@dataclass(slots=True)
class Signal:
    """One event reported by a panel, as decoded from the wire.

    Every field a real panel may omit is optional: the store and the screens must cope with any
    of them missing (the seed broke on a missing account number; we must not).
    """

    protocol: str
    """Wire format and token, e.g. ``"ADM-CID"``, ``"SIA-DCS"``, ``"SG-CID"``."""
    raw: str
    """The frame as received (printable text), kept for audit and re-decoding."""
    account: str | None = None
    receiver: str | None = None
    line: str | None = None
    sequence: str | None = None
    code: str | None = None
    """Contact ID event code (``"130"``) or SIA two-letter code (``"BA"``)."""
    qualifier: str | None = None
    """Contact ID qualifier: ``"1"`` new/opening, ``"3"`` restore/closing, ``"6"`` status."""
    zone: str | None = None
    partition: str | None = None
    user: str | None = None
    panel_time: datetime | None = None
    """Timestamp the panel put in the frame (UTC), if any."""
    text: str | None = None
    """Free text or extended data that came with the signal (e.g. DC-09 ``[X...]`` blocks)."""
