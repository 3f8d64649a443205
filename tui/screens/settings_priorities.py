"""Settings: the six priority levels — names, colour, acknowledgement, alarm and reminder sounds.

A sound is typed as the file name of a sound already known (shipped, or copied here before) or as
a path to a new WAV/MP3 file. A new file is decoded in full before it is accepted, then copied into
``<data_dir>/sounds/`` and stored by its file name, so the sound outlives the file it came from.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import aiosqlite
from centinela.data.audit import audit
from centinela.data.records import PriorityRow
from centinela.data.settings_rules import (
    FieldError,
    Invalid,
    PriorityForm,
    check_priority,
    normalize_colour,
)
from centinela.tui.audio import (
    MAX_DURATION_S,
    PACKAGE_SOUNDS,
    USER_SOUNDS,
    SoundFileError,
    resolve_sound,
    validate_sound_file,
)
from centinela.tui.screens.settings_form import FieldRow, SettingsContext, SettingsSection
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Checkbox, DataTable, Input, Static

from centinela.durations import format_duration

SOUND_FIELDS = ("sound", "reminder_sound")


def install_sound(typed: str, data_dir: Path) -> str:
    """The file name to store for the sound the admin typed; raises :class:`SoundFileError`.

    A known sound name (see :func:`resolve_sound`) is checked where it lives; a path is checked and
    copied into the data folder's sounds, under a name no shipped or other stored sound has.
    Blocking (reads and decodes the whole file): call it in a thread.
    """
    typed_path = Path(typed).expanduser()
    if typed_path.name == typed:
        known = resolve_sound(typed, data_dir)
        if known is not None:
            validate_sound_file(known)
            return typed
    source = typed_path if typed_path.is_absolute() else Path.cwd() / typed_path
    validate_sound_file(source)
    user_sounds = data_dir / USER_SOUNDS
    if source.resolve().parent in (PACKAGE_SOUNDS, user_sounds.resolve()):
        return source.name
    user_sounds.mkdir(parents=True, exist_ok=True)
    target = _free_name(user_sounds, source)
    if not target.exists():
        shutil.copyfile(source, target)
    return target.name


def _free_name(folder: Path, source: Path) -> Path:
    """``folder/<name>``, or ``<stem>-2<suffix>``… when that name is a shipped sound (which
    :func:`resolve_sound` would find first) or another file; the same file again reuses its name."""
    data = source.read_bytes()
    number = 1
    while True:
        name = source.name if number == 1 else f"{source.stem}-{number}{source.suffix}"
        target = folder / name
        if not (PACKAGE_SOUNDS / name).exists() and (not target.exists() or target.read_bytes() == data):
            return target
        number += 1


async def save_priority(db: aiosqlite.Connection, actor: str, values: PriorityRow) -> None:
    await db.execute(
        "UPDATE priorities SET name_es = ?, name_en = ?, colour = ?, requires_ack = ?, sound = ?,"
        " reminder_sound = ?, reminder_interval_s = ? WHERE level = ?",
        (values.name_es, values.name_en, values.colour, int(values.requires_ack), values.sound,
         values.reminder_sound, values.reminder_interval_s, values.level),
    )
    await audit(db, actor, "priority.update", "priority", values.level, asdict(values))


@dataclass
class SoundsInstalled(Message):
    values: PriorityRow


@dataclass
class SoundsRefused(Message):
    errors: tuple[FieldError, ...]


class PrioritiesSection(SettingsSection):
    PREFIX = "prio"

    def __init__(self, context: SettingsContext) -> None:
        super().__init__(context)
        self._rows: dict[int, PriorityRow] = {}
        self._level = 1

    def form(self) -> ComposeResult:
        t = self.t
        table: DataTable[str | Text] = DataTable(id="prio-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*(t(f"settings.prio.col.{name}") for name in
                            ("level", "name", "colour", "ack", "sound", "reminder", "every")))
        yield table
        yield Static("", id="prio-editing", classes="section-title")
        yield self.row("name_es", self.text_input(max_length=40))
        yield self.row("name_en", self.text_input(max_length=40))
        yield self.row("colour", self.text_input(placeholder="#ff3b30"), hint=t("settings.prio.colour_hint"))
        yield self.row("requires_ack", Checkbox(t("settings.prio.requires_ack_box"), compact=True))
        sound_hint = t("settings.prio.sound_hint", seconds=int(MAX_DURATION_S))
        yield self.row("sound", self.text_input(placeholder="critical.wav"), hint=sound_hint)
        yield self.row("reminder_sound", self.text_input(placeholder="reminder.wav"))
        yield self.row("reminder_interval", self.text_input(placeholder="5m"), hint=t("settings.prio.interval_hint"))
        with Horizontal(classes="buttons"):
            yield Button(t("settings.button.save"), id="prio-save", variant="primary", compact=True)

    async def on_mount(self) -> None:
        await self._reload()
        self._edit(self._level)

    async def _reload(self) -> None:
        self._rows = {row.level: row for row in await self.context.store.priorities()}
        table = self.query_one("#prio-table", DataTable)
        table.clear()
        placeholder = self.t("placeholder")
        for row in self._rows.values():
            every = format_duration(row.reminder_interval_s) if row.reminder_interval_s else placeholder
            table.add_row(
                str(row.level), row.name(self.t.language), Text("██ " + row.colour, style=_safe_style(row.colour)),
                self.t("settings.yes" if row.requires_ack else "settings.no"),
                row.sound or placeholder, row.reminder_sound or placeholder, every,
                key=str(row.level),
            )

    def _edit(self, level: int) -> None:
        row = self._rows.get(level)
        if row is None:
            return
        self._level = level
        self.query_one("#prio-editing", Static).update(self.t("settings.prio.editing", level=level))
        self.set_text("name_es", row.name_es)
        self.set_text("name_en", row.name_en)
        self.set_text("colour", row.colour)
        self.set_checked("requires_ack", bool(row.requires_ack))
        self.set_text("sound", row.sound)
        self.set_text("reminder_sound", row.reminder_sound)
        self.set_text("reminder_interval",
                      format_duration(row.reminder_interval_s) if row.reminder_interval_s else "")
        self.clear_errors()

    @on(DataTable.RowSelected, "#prio-table")
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        self._edit(int(str(event.row_key.value)))
        self.query_one(f"#{self.wid('name_es')}", Input).focus()

    @on(Input.Changed, "#prio-colour")
    def _preview_colour(self, event: Input.Changed) -> None:
        self.query_one("#prio-colour-row", FieldRow).show_hint(
            Text.assemble(("██ ", _safe_style(event.value)), self.t("settings.prio.colour_hint"))
        )

    @on(Button.Pressed, "#prio-save")
    async def _save_pressed(self) -> None:
        await self.save()

    async def save(self) -> None:
        form = PriorityForm(
            level=self._level, name_es=self.text("name_es"), name_en=self.text("name_en"),
            colour=self.text("colour"), requires_ack=self.checked("requires_ack"), sound=self.text("sound"),
            reminder_sound=self.text("reminder_sound"), reminder_interval=self.text("reminder_interval"),
        )
        try:
            values = check_priority(form)
        except Invalid as invalid:
            self.refuse(invalid)
            return
        self.clear_errors()
        self.set_status(self.t("settings.prio.checking_sounds"))
        self._install_sounds(values)

    @work(thread=True, exclusive=True, exit_on_error=False, group="priority-sounds")
    def _install_sounds(self, values: PriorityRow) -> None:
        stored: dict[str, str] = {}
        errors: list[FieldError] = []
        for field in SOUND_FIELDS:
            typed = getattr(values, field)
            if typed is None:
                continue
            try:
                stored[field] = install_sound(typed, self.context.data_dir)
            except SoundFileError as exc:
                errors.append(FieldError(field, f"settings.sound.{exc.problem}", (("seconds", int(MAX_DURATION_S)),)))
            except OSError as exc:  # the copy into the data folder failed
                errors.append(FieldError(field, "settings.sound.copy_failed", (("error", exc.strerror or exc),)))
        if errors:
            self.post_message(SoundsRefused(tuple(errors)))
        else:
            self.post_message(SoundsInstalled(replace(values, **stored)))

    def on_sounds_refused(self, message: SoundsRefused) -> None:
        self.show_errors(message.errors)

    async def on_sounds_installed(self, message: SoundsInstalled) -> None:
        values = message.values
        if not await self.commit(partial(save_priority, actor=self.context.actor, values=values)):
            return
        store = self.context.store
        await store.writer.load_rules(store.reader)
        await self._reload()
        self._edit(values.level)
        await self.saved(self.context.hooks.on_sounds_changed)


def _safe_style(colour: str) -> str:
    """A stored colour as a Rich style; one Rich cannot parse shows plain rather than crash."""
    return normalize_colour(colour) or ""
