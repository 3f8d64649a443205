"""Contact ID and SIA event-code catalogues: what a code means, how urgent it is, what it restores.

The tables live in ``catalogs/contact_id.csv`` (Ademco Contact ID, SIA DC-05 event codes) and
``catalogs/sia.csv`` (SIA DC-03 two-letter codes), plus ``catalogs/system.csv``: the events the
central station raises itself (late to test, receiver link lost). They are read once, on first use, from the
installed package data, and checked as they load: a bad row fails loudly with file and line.

Priority levels (1 = most urgent), the same scale the store and the screens use:

1 critical     fire, sprinkler/water flow, heat, panic, duress, holdup, medical, gas, CO.
2 high         burglary and intrusion, tamper *alarms* (codes in the alarm blocks: CID 137/144/
               145, SIA TA), general/untyped alarms, forced doors, water leak, high temperature,
               unauthorised panel substitution, fire pre-alarm.
3 medium       troubles: AC, battery, communication, sensor, expansion modules, fire trouble,
               tampers reported as troubles (CID 3xx, SIA xT/ES/XS), RF jam, wrong-code lockouts,
               power-up/system reset, slow environmental alarms (low temperature, freeze,
               refrigeration), unverified/near alarms.
4 supervisory  fire and other supervisory conditions, late-to-test / fail-to-communicate /
               fail-to-open / fail-to-close, bypasses and disables, a test received with a trouble
               present, openings and closings tied to an alarm (recent closing, disarm from alarm,
               exit error).
5 low          openings and closings, access control, remote and local programming, cancels, and
               the restorals of level-1 alarms (fire, panic, medical, gas), which stay visible.
6 info         tests (periodic, manual, walk), log events, and every other restoral: a code that
               only reports a return to normal (SIA xH/xJ/xR/xU and their kin).

Levels 1-4 need an operator's acknowledgement; 5 and 6 are only logged (see the ``priorities``
table). A Contact ID restore is the event's own code sent with qualifier 3, so the CID table ranks
the event; lowering a restore to 5/6 is the classifier's job. On open/close codes (4xx) qualifier 3
means *closing*, not restore.

``number`` says what the event's 3-digit number is: ``zone`` (a zone, point, or device such as an
expansion module, door, relay or phone line), ``user`` (a user or downloader id), or ``none`` (a
panel-wide event; the panel sends 000 or an area number).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

Family = Literal["cid", "sia", "sys"]
Number = Literal["zone", "user", "none"]

PRIORITY_LEVELS: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
UNKNOWN_PRIORITY = 2
"""A code nobody catalogued is high: an operator must look at it."""

NUMBERS: frozenset[str] = frozenset({"zone", "user", "none"})
CATEGORIES: frozenset[str] = frozenset(
    {
        "fire", "panic", "medical", "burglary", "alarm", "gas", "environmental", "trouble",
        "supervisory", "bypass", "openclose", "access", "test", "log", "system", "other",
    }
)

_FILES: dict[str, str] = {"cid": "contact_id.csv", "sia": "sia.csv", "sys": "system.csv"}
_COLUMNS: dict[str, tuple[str, ...]] = {
    "cid": ("code", "priority", "number", "category", "es", "en"),
    "sia": ("code", "priority", "number", "category", "restore_of", "es", "en"),
    "sys": ("code", "priority", "number", "category", "restore_of", "es", "en"),
}
_UNKNOWN_TEXT = {"es": "Código desconocido {code}", "en": "Unknown code {code}"}
_NO_CODE_TEXT = {"es": "Sin código", "en": "No code"}


class CatalogError(ValueError):
    """A catalogue file that does not follow the rules above."""


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """One event code as the central station understands it."""

    family: Family
    code: str
    priority: int
    number: Number
    category: str
    restore_of: tuple[str, ...]
    """SIA codes whose condition this code reports as back to normal (empty for CID)."""
    es: str
    en: str

    def description(self, lang: str = "es") -> str:
        """The text for the operator: English for ``en``/``en_US``/``en-GB``, Spanish otherwise."""
        return self.en if _is_english(lang) else self.es


def lookup(family: Family, code: str) -> CodeInfo | None:
    """The catalogued meaning of ``code``, or None. SIA codes match in any letter case."""
    key = _normalize(code)
    if family not in _FILES or not key:
        return None
    return _table(family).get(key)


def describe(family: Family, code: str | None, lang: str = "es") -> str:
    """Operator text for a code; a placeholder for a missing or unknown code. Never raises."""
    try:
        info = lookup(family, code) if code is not None else None
    except (CatalogError, OSError):  # a broken install must not take the event feed down
        info = None
    return (info or unknown(family, code)).description(lang)


def unknown(family: Family, code: str | None) -> CodeInfo:
    """Stand-in for a code the catalogue lacks: high priority, so an operator looks at it."""
    key = _normalize(code)
    if key:
        es, en = _UNKNOWN_TEXT["es"].format(code=key), _UNKNOWN_TEXT["en"].format(code=key)
    else:
        es, en = _NO_CODE_TEXT["es"], _NO_CODE_TEXT["en"]
    return CodeInfo(
        family=family,
        code=key,
        priority=UNKNOWN_PRIORITY,
        number="zone",
        category="other",
        restore_of=(),
        es=es,
        en=en,
    )


def all_codes(family: Family) -> tuple[CodeInfo, ...]:
    """Every catalogued code of a family, in code order."""
    if family not in _FILES:
        raise ValueError(f"unknown code family {family!r}")
    return tuple(_table(family).values())


def restored_codes(family: Family, code: str | None) -> tuple[str, ...]:
    """Codes whose pending condition ``code`` clears.

    SIA: the catalogue's ``restore_of`` (``BR`` -> ``BA BT BS``). Contact ID: the code itself, since
    a CID restore is the same code with qualifier 3.
    """
    key = _normalize(code)
    if not key:
        return ()
    if family == "cid":
        return (key,)
    info = lookup(family, key)
    return info.restore_of if info is not None else ()


def parse_table(family: Family, lines: Iterable[str], source: str) -> dict[str, CodeInfo]:
    """Read and check one catalogue; ``source`` names it in errors. Used by the loader."""
    if family not in _FILES:
        raise CatalogError(f"{source}: unknown code family {family!r}")
    reader = csv.DictReader(lines, strict=True)
    expected = _COLUMNS[family]
    if tuple(reader.fieldnames or ()) != expected:
        raise CatalogError(f"{source}: columns must be {','.join(expected)}")
    table: dict[str, CodeInfo] = {}
    for row in reader:
        where = f"{source}:{reader.line_num}"
        if None in row or any(value is None for value in row.values()):
            raise CatalogError(f"{where}: expected {len(expected)} fields")
        info = _row_to_info(family, row, where)
        if info.code in table:
            raise CatalogError(f"{where}: duplicate code {info.code}")
        table[info.code] = info
    for info in table.values():
        missing = [code for code in info.restore_of if code not in table]
        if missing:
            unknown_codes = " ".join(missing)
            raise CatalogError(f"{source}: {info.code} restores unknown code(s) {unknown_codes}")
    return table


def _row_to_info(family: Family, row: dict[str, str], where: str) -> CodeInfo:
    code = _normalize(row["code"])
    if family == "cid":
        valid_code = len(code) == 3 and code.isdigit()
    elif family == "sia":
        valid_code = len(code) == 2 and code.isascii() and code.isalpha()
    else:
        valid_code = 2 <= len(code) <= 16 and code.replace("-", "").isalpha() and code.isascii()
    if not valid_code:
        raise CatalogError(f"{where}: bad {family} code {row['code']!r}")
    try:
        priority = int(row["priority"])
    except ValueError:
        raise CatalogError(f"{where}: priority {row['priority']!r} is not a number") from None
    if priority not in PRIORITY_LEVELS:
        raise CatalogError(f"{where}: priority {priority} is not one of {PRIORITY_LEVELS}")
    number = row["number"].strip()
    if number not in NUMBERS:
        raise CatalogError(f"{where}: number {number!r} is not one of {sorted(NUMBERS)}")
    category = row["category"].strip()
    if category not in CATEGORIES:
        raise CatalogError(f"{where}: unknown category {category!r}")
    es, en = row["es"].strip(), row["en"].strip()
    if not es or not en:
        raise CatalogError(f"{where}: both descriptions (es, en) are required")
    restore_of = tuple(_normalize(part) for part in row.get("restore_of", "").split())
    return CodeInfo(
        family=family,
        code=code,
        priority=priority,
        number=number,  # type: ignore[arg-type]  # checked against NUMBERS above
        category=category,
        restore_of=restore_of,
        es=es,
        en=en,
    )


@cache
def _table(family: Family) -> dict[str, CodeInfo]:
    name = _FILES[family]
    text = (
        resources.files("centinela.receiver").joinpath("catalogs").joinpath(name)
        .read_text(encoding="utf-8")
    )
    return parse_table(family, io.StringIO(text, newline=""), source=name)


def _normalize(code: object) -> str:
    return str(code).strip().upper() if code is not None else ""


def _is_english(lang: str) -> bool:
    return str(lang).lower().replace("-", "_").split("_")[0] == "en"
