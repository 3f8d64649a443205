"""One line at the bottom: receivers, last signal, traffic, sound, Odoo, who is logged in."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.widgets import Static

from centinela.tui.present import sparkline
from centinela.tui.texts import Texts


@dataclass(frozen=True, slots=True)
class StatusInfo:
    listeners: list[tuple[str, bool]] = field(default_factory=list)
    owner: str | None = None
    """Who receives signals when this console does not (another operator's process)."""
    last_signal: str | None = None
    per_minute: list[int] = field(default_factory=list)
    protocol_errors: int = 0
    sound: tuple[str, str | None] | None = None
    """("speaker" | "bell" | "muted", muted-until HH:MM)."""
    sync: tuple[str, int] | None = None
    """("off" | "ok" | "backlog" | "down", pending items)."""
    operator: str | None = None


def status_text(texts: Texts, info: StatusInfo, width: int = 160) -> Text:
    parts: list[tuple[str, str]] = []
    if info.owner:
        parts.append((texts("bar.standby", owner=info.owner), "cyan"))
    elif not info.listeners:
        parts.append((texts("bar.no_listeners"), "bold red"))
    else:
        down = [label for label, up in info.listeners if not up]
        for label in down:
            parts.append((texts("bar.listener_down", label=label), "bold red"))
        if len(down) < len(info.listeners):
            up_labels = [label.split("://", 1)[-1] for label, up in info.listeners if up]
            parts.append((texts("bar.listener_up", label=" ".join(up_labels)), "green"))
    parts.append((texts("bar.last_signal", time=info.last_signal) if info.last_signal else texts("bar.no_signal"), ""))
    if info.per_minute:
        columns = 10 if width < 120 else 30
        recent = info.per_minute[-columns:]
        parts.append((f"{sparkline(recent)} {texts('bar.rate', rate=recent[-1] if recent else 0)}", "cyan"))
    if info.protocol_errors:
        parts.append((texts("bar.errors", count=info.protocol_errors), "yellow"))
    if info.sound is not None:
        kind, until = info.sound
        if kind == "muted":
            parts.append((texts("sound.muted", time=until or "?"), "bold yellow"))
        else:
            parts.append((texts(f"sound.{kind}"), ""))
    if info.sync is not None:
        state, pending = info.sync
        style = {"off": "dim", "ok": "green", "backlog": "yellow", "down": "bold red"}[state]
        parts.append((texts(f"bar.sync_{state}", pending=pending), style))
    if info.operator:
        parts.append((info.operator, "bold"))
    text = Text(no_wrap=True, overflow="ellipsis")
    for index, (chunk, style) in enumerate(parts):
        if index:
            text.append(" │ ", style="dim")
        text.append(chunk, style=style)
    return text


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def show(self, texts: Texts, info: StatusInfo) -> None:
        # The terminal's width, not this widget's: before the first layout the widget has none,
        # and the bar must look the same from its first paint.
        self.update(status_text(texts, info, self.app.size.width))
