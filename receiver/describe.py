"""Human description of a stored event's code, in the operator's language; never raises."""

from __future__ import annotations

from centinela.receiver import catalog
from centinela.receiver.classify import family_of

_RESTORE = {"es": "Restauración", "en": "Restore"}
_STATUS = {"es": "Estado", "en": "Status"}
_OPENING = {"es": "Apertura", "en": "Opening"}
_CLOSING = {"es": "Cierre", "en": "Closing"}
_BOTH_DIRECTIONS = {"es": "Apertura/cierre", "en": "Open/close"}
_UNKNOWN_CODE = {"es": "Código desconocido", "en": "Unknown code"}
_NO_CODE = {"es": "Sin código: datos no reconocidos", "en": "No code: unrecognised data"}


def describe_event(protocol: str, code: str | None, qualifier: str | None, lang: str = "es") -> str:
    """``"130 Robo"``; a Contact ID restore reads ``"130 Restauración: Robo"``; an open/close
    code reads ``"401 Apertura por usuario"`` or ``"401 Cierre por usuario"``, as the qualifier
    says."""
    lang = "en" if lang == "en" else "es"
    family = family_of(protocol)
    if not code:
        return _NO_CODE[lang]
    if family is None:
        return code
    info = catalog.lookup(family, code)
    if info is None:
        return f"{code} {_UNKNOWN_CODE[lang]}"
    text = info.description(lang)
    if family == "cid":
        if info.category == "openclose" and qualifier in ("1", "3"):
            # The catalogue names both directions ("Apertura/cierre por usuario"); the
            # qualifier says which one happened.
            which = (_OPENING if qualifier == "1" else _CLOSING)[lang]
            both = _BOTH_DIRECTIONS[lang]
            text = which + text[len(both):] if text.lower().startswith(both.lower()) else f"{which} — {text}"
        elif qualifier == "3":
            text = f"{_RESTORE[lang]}: {text}"
        elif qualifier == "6":
            text = f"{_STATUS[lang]}: {text}"
    return f"{code} {text}"
