"""Small modal dialogs for handling an alarm: a note, a resolution, a hold time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from centinela.data.alarm_actions import RESOLUTIONS
from centinela.tui.texts import Texts

ResultT = TypeVar("ResultT")

DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{ width: 70; max-width: 100%; height: auto; max-height: 100%;
    border: round $accent; background: $surface; padding: 0 1; }}
{name} Input {{ margin: 1 0 0 0; }}
{name} .error {{ color: $error; height: auto; }}
{name} Horizontal {{ height: auto; align-horizontal: right; margin-top: 1; }}
{name} Button {{ margin-left: 1; }}
"""


class _Dialog(ModalScreen[ResultT | None]):
    """A titled dialog in the operator's language; Escape dismisses it with None."""

    BINDINGS = [Binding("escape", "cancel", show=False)]

    def __init__(self, texts: Texts, title: str) -> None:
        super().__init__()
        self.texts = texts
        self.title_text = title

    def action_cancel(self) -> None:
        self.dismiss(None)


class NoteDialog(_Dialog[str]):
    """Dismisses with the note text, or None when cancelled."""

    DEFAULT_CSS = DIALOG_CSS.format(name="NoteDialog")

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield Input(placeholder=self.texts("action.note_placeholder"), id="note")
            yield Static("", classes="error")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())


@dataclass(frozen=True, slots=True)
class ResolveChoice:
    resolution: str
    note: str | None


class ResolveDialog(_Dialog[ResolveChoice]):
    """Pick a resolution code (arrows + Enter), add an optional note, confirm."""

    DEFAULT_CSS = DIALOG_CSS.format(name="ResolveDialog") + "ResolveDialog OptionList { height: auto; max-height: 8; }"

    def compose(self) -> ComposeResult:
        lang = self.texts.language
        with Vertical():
            yield Label(self.title_text)
            yield OptionList(*(Option(r.label(lang), id=r.code) for r in RESOLUTIONS), id="resolution")
            yield Input(placeholder=self.texts("action.optional_note"), id="note")
            with Horizontal():
                yield Button(self.texts("action.cancel"), id="cancel")
                yield Button(self.texts("action.accept"), variant="primary", id="accept")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = 0
        options.focus()

    @on(OptionList.OptionSelected)
    def _picked(self) -> None:
        self.query_one("#note", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#accept")
    def _accept(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is None:
            return
        option = options.get_option_at_index(options.highlighted)
        note = self.query_one("#note", Input).value.strip() or None
        self.dismiss(ResolveChoice(str(option.id), note))

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True, slots=True)
class HoldChoice:
    minutes: int
    note: str | None


def parse_minutes(text: str) -> int | None:
    try:
        minutes = int(text.strip())
    except ValueError:
        return None
    return minutes if 1 <= minutes <= 1440 else None


class HoldDialog(_Dialog[HoldChoice]):
    DEFAULT_CSS = DIALOG_CSS.format(name="HoldDialog")

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield Input(value="15", placeholder=self.texts("action.hold_minutes"), id="minutes")
            yield Input(placeholder=self.texts("action.optional_note"), id="note")
            yield Static("", classes="error", id="error")

    @on(Input.Submitted)
    def _submitted(self) -> None:
        minutes = parse_minutes(self.query_one("#minutes", Input).value)
        if minutes is None:
            self.query_one("#error", Static).update(self.texts("action.hold_invalid"))
            self.query_one("#minutes", Input).focus()
            return
        self.dismiss(HoldChoice(minutes, self.query_one("#note", Input).value.strip() or None))
