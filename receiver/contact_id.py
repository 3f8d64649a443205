"""Ademco Contact ID (SIA DC-05) event data, as carried in DC-09 ``ADM-CID`` frames.

The data block reads ``#ACCT|QXYZ GG CCC``: qualifier, three-digit event code, two-digit group
(partition) and three-digit zone or user number. Some panels leave out the spaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from centinela.receiver.dc09 import split_account

QUALIFIERS: Final = frozenset({"1", "3", "6"})
"""1 new event or opening, 3 restore or closing, 6 previously reported condition still present."""

_CONTACT_ID = re.compile(r"(?P<qualifier>[0-9])(?P<code>[0-9]{3}) ?(?P<group>[0-9]{2}) ?(?P<number>[0-9]{3})")


@dataclass(frozen=True, slots=True)
class CidData:
    qualifier: str
    code: str
    """Three-digit event code, e.g. ``"130"`` burglary."""
    group: str
    """Two-digit group, which panels use for the partition."""
    number: str
    """Three-digit zone or user number, depending on the event code."""


def parse_contact_id(data: str) -> CidData:
    """Parse ``QXYZ GG CCC`` (or ``QXYZGGCCC``), with or without the ``#ACCT|`` prefix.

    Raises ValueError naming what is wrong.
    """
    _, body = split_account(data)
    body = body.strip()
    match = _CONTACT_ID.fullmatch(body)
    if match is None:
        raise ValueError(f"Contact ID data {body!r} is not 'QXYZ GG CCC' (digits only)")
    if match["qualifier"] not in QUALIFIERS:
        raise ValueError(
            f"Contact ID qualifier must be 1, 3 or 6, got {match['qualifier']!r} in {body!r}"
        )
    return CidData(
        qualifier=match["qualifier"],
        code=match["code"],
        group=match["group"],
        number=match["number"],
    )
