"""One log line per fact, as ``key=value`` pairs that log tools (and grep) can take apart."""

from __future__ import annotations

from collections.abc import Mapping


def _quote(text: str) -> str:
    escaped = []
    for char in text:
        if char in '\\"':
            escaped.append("\\" + char)
        elif char.isprintable():
            escaped.append(char)
        else:  # control bytes of a raw frame: \n, \r, \x14 ...
            escaped.append(char.encode("unicode_escape").decode("ascii"))
    return '"' + "".join(escaped) + '"'


def logfmt(kind: str, fields: Mapping[str, object]) -> str:
    """``kind key=value ...``; None and False are left out; values with spaces, quotes or control
    characters are quoted. Bytes are shown as Latin-1 text with control characters escaped."""
    parts = [kind]
    for key, value in fields.items():
        if value is None or value is False:
            continue
        if isinstance(value, bool):
            text = str(value).lower()
        elif isinstance(value, bytes):
            text = value.decode("latin-1")
        else:
            text = str(value)
        if not text or any(char in text for char in ' "=\\') or not text.isprintable():
            text = _quote(text)
        parts.append(f"{key}={text}")
    return " ".join(parts)


def protocol_error(peer: object, reason: object, detail: str, raw: bytes) -> str:
    return logfmt("protocol_error", {"peer": peer, "reason": reason, "detail": detail, "raw": raw[:200]})
