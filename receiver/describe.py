"""Human description of a stored event's code, in the operator's language; never raises."""

from __future__ import annotations

from centinela.receiver import catalog
from centinela.receiver.classify import family_of

_RESTORE = {"es": "Restauración", "en": "Restore"}
_STATUS = {"es": "Estado", "en": "Status"}
_OPENING = {"es": "Apertura", "en": "Opening"}
_CLOSING = {"es": "Cierre", "en": "Closing"}
_NO_CODE = {"es": "Enlace / sin código", "en": "Link / no code"}


def describe_event(protocol: str, code: str | None, qualifier: str | None, lang: str = "es") -> str:
    """``"130 Robo"``; a Contact ID restore reads ``"130 Restauración: Robo"``; for open/close
    codes the qualifier tells opening (1) from closing (3)."""
    lang = "en" if lang == "en" else "es"
    family = family_of(protocol)
    if family is None or not code:
        return _NO_CODE[lang] if not code else f"{code}"
    text = catalog.describe(family, code, lang)
    info = catalog.lookup(family, code)
    if family == "cid" and info is not None:
        if info.category == "openclose" and qualifier in ("1", "3"):
            text = f"{(_OPENING if qualifier == '1' else _CLOSING)[lang]} — {text}"
        elif qualifier == "3":
            text = f"{_RESTORE[lang]}: {text}"
        elif qualifier == "6":
            text = f"{_STATUS[lang]}: {text}"
    return f"{code} {text}"
