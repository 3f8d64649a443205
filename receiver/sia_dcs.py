"""SIA DC-03 event data, as carried in DC-09 ``SIA-DCS`` frames.

A data block reads ``#ACCT|N`` then modifiers and events, e.g. ``#1234|Nri1/ti10:32/BA001``:

* ``N`` marks new-event data; some panels leave it out.
* Modifiers are two lower-case letters and a value: ``ri`` area (partition), ``ti`` time
  (``hh:mm`` or ``hh:mm:ss``), ``id`` user, ``pi`` peripheral. Others are accepted and ignored.
* Events are two upper-case letters and an optional zone/user number, separated by ``/`` (some
  panels omit the separator: ``Nri1CL0``). A name may follow in carets: ``CL0^FRONT DOOR^``.
* ``|A text`` adds free text to the event before it; ``|N...`` opens another block.

Area and time hold for the following events until changed; user and peripheral belong to the
next event only. Modifiers after the last event fill what that event lacks (``NCL001/id0007``).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from centinela.receiver.dc09 import split_account

_EVENT = re.compile(r"([A-Z]{2})([0-9]*)")
_EVENT_CODE = re.compile(r"[A-Z]{2}")
_MODIFIER = re.compile(r"([a-z]{2})([0-9:]*)")
_NAME = re.compile(r"\^([^\^]*)\^")
_TIME = re.compile(r"[0-9]{2}:[0-9]{2}(?::[0-9]{2})?")


@dataclass(frozen=True, slots=True)
class SiaEvent:
    code: str
    """Two-letter SIA event code, e.g. ``"BA"``."""
    number: str | None
    """Zone or user number that follows the code, as sent."""
    partition: str | None
    user: str | None
    time: str | None
    peripheral: str | None
    text: str | None = None
    """Zone name (``^...^``) or ``|A`` text that came with the event."""


@dataclass(slots=True)
class _Context:
    partition: str | None = None
    time: str | None = None
    user: str | None = None
    peripheral: str | None = None


def parse_sia_data(data: str) -> list[SiaEvent]:
    """Events in a SIA-DCS data block, with or without the ``#ACCT|`` prefix.

    Raises ValueError when the block holds no event or something that is neither modifier,
    event nor text.
    """
    _, body = split_account(data)
    events: list[SiaEvent] = []
    trailing = _Context()
    for block in body.split("|"):
        if block.startswith("A") and events:
            events[-1] = _with_text(events[-1], block[1:].strip())
            continue
        trailing = _parse_block(_strip_new_event_marker(block), events, data)
    if not events:
        raise ValueError(f"SIA data {data!r} holds no event code")
    last = events[-1]
    events[-1] = dataclasses.replace(
        last,
        partition=last.partition or trailing.partition,
        user=last.user or trailing.user,
        time=last.time or trailing.time,
        peripheral=last.peripheral or trailing.peripheral,
    )
    return events


def _strip_new_event_marker(block: str) -> str:
    # "N" is a marker only if what follows cannot be the rest of an event code starting with N:
    # "NHB0003" is N + HB0003, while "NL01" from a panel that omits N is the event NL 01.
    if not block.startswith("N"):
        return block
    rest = block[1:]
    if rest == "" or rest[0] == "/" or rest[0].islower() or _EVENT_CODE.match(rest):
        return rest
    return block


def _with_text(event: SiaEvent, text: str) -> SiaEvent:
    joined = f"{event.text} {text}" if event.text else text
    return dataclasses.replace(event, text=joined or None)


def _parse_block(block: str, events: list[SiaEvent], data: str) -> _Context:
    """Append the block's events; return modifiers left over after its last event."""
    context = _Context()
    pending = _Context()  # modifiers seen since the last event
    position = 0
    while position < len(block):
        if block[position] == "/":
            position += 1
            continue
        if modifier := _MODIFIER.match(block, position):
            _apply_modifier(modifier[1], modifier[2], context, pending, data)
            position = _skip_name(block, modifier.end())[0]
            continue
        if event := _EVENT.match(block, position):
            position, name = _skip_name(block, event.end())
            events.append(
                SiaEvent(
                    code=event[1],
                    number=event[2] or None,
                    partition=context.partition,
                    user=context.user,
                    time=context.time,
                    peripheral=context.peripheral,
                    text=name,
                )
            )
            context.user = context.peripheral = None
            pending = _Context()
            continue
        raise ValueError(f"unexpected {block[position]!r} at {position} in SIA data {data!r}")
    return pending


def _apply_modifier(
    name: str, value: str, context: _Context, pending: _Context, data: str
) -> None:
    if name == "ti":
        if not _TIME.fullmatch(value):
            raise ValueError(f"time modifier 'ti{value}' is not hh:mm in SIA data {data!r}")
        context.time = pending.time = value
        return
    if name not in ("ri", "id", "pi"):
        return  # other DC-03 modifiers (da, lt, ...) carry nothing the console shows
    if not value.isdigit():
        raise ValueError(f"modifier {name!r} needs digits, got {value!r} in SIA data {data!r}")
    if name == "ri":
        context.partition = pending.partition = value
    elif name == "id":
        context.user = pending.user = value
    else:
        context.peripheral = pending.peripheral = value


def _skip_name(block: str, position: int) -> tuple[int, str | None]:
    name = _NAME.match(block, position)
    if name is None:
        return position, None
    return name.end(), name[1].strip() or None
