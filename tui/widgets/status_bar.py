"""One line at the bottom: receiver links, last signal, protocol errors."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from centinela.tui.texts import Texts


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def show(self, text: Text) -> None:
        self.update(text)


def status_text(
    texts: Texts,
    listeners: list[tuple[str, bool]],
    last_signal: str | None,
    protocol_errors: int,
) -> Text:
    parts: list[tuple[str, str]] = []
    if not listeners:
        parts.append((texts("bar.no_listeners"), "bold red"))
    for label, up in listeners:
        if up:
            parts.append((texts("bar.listener_up", label=label), "green"))
        else:
            parts.append((texts("bar.listener_down", label=label), "bold red"))
    parts.append((texts("bar.last_signal", time=last_signal) if last_signal else texts("bar.no_signal"), ""))
    if protocol_errors:
        parts.append((texts("bar.errors", count=protocol_errors), "yellow"))
    text = Text()
    for index, (chunk, style) in enumerate(parts):
        if index:
            text.append("  │  ", style="dim")
        text.append(chunk, style=style)
    return text
