"""Pieces every settings section shares: what it is given, how it saves, how a form row shows an error."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import aiosqlite
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from centinela.config import Config
from centinela.data.operators import Operator
from centinela.data.settings_rules import FieldError, Invalid
from centinela.data.store import Store
from centinela.tui.texts import Texts

log = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None] | None]
"""Told after a save so the change takes effect at once; may be a coroutine function."""

Write = Callable[[aiosqlite.Connection], Awaitable[object]]
"""A section's change to the store, run inside an admin transaction."""


@dataclass(frozen=True, slots=True)
class SettingsHooks:
    """What the app wants to hear about. Each is called after its change is committed."""

    on_sounds_changed: Hook | None = None
    """After any priority changed (name, colour, sounds): e.g. ``AlarmSoundService.reload``."""
    on_receivers_changed: Hook | None = None
    """After ``receiver.tcp``/``udp``/``serial`` changed: restart the listeners."""
    on_routers_changed: Hook | None = None
    on_billing_changed: Hook | None = None
    on_odoo_changed: Hook | None = None


@dataclass(frozen=True, slots=True)
class SettingsContext:
    store: Store
    operator: Operator
    """The admin who logged in; every save is audited with this name."""
    texts: Texts
    config: Config
    """The bootstrap configuration: defaults for what no admin has saved yet, and the data folder."""
    hooks: SettingsHooks

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir

    @property
    def actor(self) -> str:
        return self.operator.username


def may_open_settings(operator: Operator) -> bool:
    return operator.is_admin and operator.active


class NotAdmin(Exception):
    """The operator lost the admin role (or was disabled) since opening the screen."""


@asynccontextmanager
async def admin_transaction(context: SettingsContext) -> AsyncIterator[aiosqlite.Connection]:
    """A write transaction that goes ahead only while the operator is still an active admin:
    another admin may have demoted them after this screen opened."""
    async with context.store.transaction() as db:
        async with db.execute("SELECT role, active FROM operators WHERE username = ?", (context.actor,)) as cur:
            row = await cur.fetchone()
        if row is None or row[0] != "admin" or not row[1]:
            raise NotAdmin(context.actor)
        yield db


async def run_hook(hook: Hook | None) -> None:
    if hook is not None:
        result = hook()
        if inspect.isawaitable(result):
            await result


class FieldRow(Vertical):
    """A label and its control on one line, and under them the field's error, or else its hint."""

    DEFAULT_CSS = """
    FieldRow { height: auto; max-width: 110; }
    FieldRow > Horizontal { height: auto; }
    FieldRow .field-label { width: 20; padding: 0 1 0 0; }
    FieldRow .field-control { width: 1fr; }
    FieldRow Button.field-control { width: auto; }
    FieldRow .field-note { color: $text-muted; padding-left: 20; height: auto; }
    FieldRow.-invalid .field-note { color: $text-error; }
    FieldRow.-invalid .field-control { background: $error 20%; }
    """

    def __init__(self, field: str, label: str, control: Widget, *, hint: str | Text = "", row_id: str) -> None:
        super().__init__(id=row_id)
        self.field = field
        self.hint: str | Text = hint
        self.error: str | None = None
        self._label = label
        self._control = control
        control.add_class("field-control")

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(self._label, classes="field-label")
            yield self._control
        yield Static(classes="field-note", markup=False)

    def on_mount(self) -> None:
        self._show_note()

    def show_error(self, text: str | None) -> None:
        self.error = text
        self.set_class(text is not None, "-invalid")
        self._show_note()

    def show_hint(self, text: str | Text) -> None:
        self.hint = text
        self._show_note()

    def _show_note(self) -> None:
        note = self.query_one(".field-note", Static)
        shown = self.error if self.error is not None else self.hint
        note.update(shown)
        # No empty line under a row: 80x24 leaves little room.
        note.display = bool(shown.plain.strip() if isinstance(shown, Text) else shown.strip())


StatusKind = Literal["info", "ok", "error"]


class FormScroll(VerticalScroll, can_focus=False):
    """Scrolls to whichever field has focus; never takes focus itself, so Tab goes field to field."""


class SettingsSection(Vertical):
    """One tab of the settings screen: a scrolling form over a status line that always shows.

    Subclasses set ``PREFIX`` (widget ids are ``<PREFIX>-<field>``), yield their widgets from
    :meth:`form` and implement :meth:`save`; Enter in a text field saves.
    """

    DEFAULT_CSS = """
    SettingsSection { height: 1fr; }
    SettingsSection > FormScroll { height: 1fr; padding: 0 1; }
    SettingsSection .section-status { height: auto; max-height: 3; padding: 0 1; background: $boost; }
    SettingsSection .section-status.-ok { color: $text-success; }
    SettingsSection .section-status.-error { color: $text-error; }
    SettingsSection .section-title { text-style: bold; margin: 1 0 0 0; }
    SettingsSection DataTable { height: auto; max-height: 10; margin: 0 0 1 0; }
    SettingsSection .buttons { height: auto; margin: 0 0 1 0; }
    SettingsSection .buttons Button { margin: 0 1 0 0; }
    """

    PREFIX = "section"

    def __init__(self, context: SettingsContext) -> None:
        super().__init__(id=f"{self.PREFIX}-section")
        self.context = context
        self.t = context.texts

    def compose(self) -> ComposeResult:
        with FormScroll():
            yield from self.form()
        yield Static("", id=f"{self.PREFIX}-status", classes="section-status", markup=False)

    def form(self) -> ComposeResult:
        raise NotImplementedError

    async def save(self) -> None:
        raise NotImplementedError

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        await self.submit(event.input)

    def on_input_changed(self, event: Input.Changed) -> None:
        """An edited field's old error no longer applies."""
        for row in event.input.ancestors:
            if isinstance(row, FieldRow):
                if row.error is not None:
                    row.show_error(None)
                break

    async def submit(self, control: Input) -> None:
        """Enter in ``control``: saves the section unless a subclass has a better-suited action."""
        await self.save()

    # -- building the form ---------------------------------------------------------------------

    def wid(self, field: str) -> str:
        return f"{self.PREFIX}-{field}"

    def row(self, field: str, control: Widget, *, hint: str = "") -> FieldRow:
        """A row for ``field``; its control gets the id ``<PREFIX>-<field>``. Labels are the texts
        ``settings.<PREFIX>.<field>``."""
        control.id = self.wid(field)
        return FieldRow(field, self.t(f"settings.{self.PREFIX}.{field}"), control, hint=hint,
                        row_id=f"{self.wid(field)}-row")

    def text_input(self, *, placeholder: str = "", password: bool = False, max_length: int = 0) -> Input:
        return Input(placeholder=placeholder, password=password, max_length=max_length, compact=True)

    def select(self, options: Iterable[tuple[str, object]], value: object) -> Select[object]:
        return Select(list(options), value=value, allow_blank=False, compact=True)

    # -- reading the form ----------------------------------------------------------------------

    def text(self, field: str) -> str:
        return self.query_one(f"#{self.wid(field)}", Input).value

    def chosen(self, field: str) -> object:
        return self.query_one(f"#{self.wid(field)}", Select).value

    def checked(self, field: str) -> bool:
        return self.query_one(f"#{self.wid(field)}", Checkbox).value

    def set_text(self, field: str, value: object, *, placeholder: str | None = None) -> None:
        control = self.query_one(f"#{self.wid(field)}", Input)
        control.value = "" if value is None else str(value)
        if placeholder is not None:
            control.placeholder = placeholder

    def set_choice(self, field: str, value: object) -> None:
        self.query_one(f"#{self.wid(field)}", Select).value = value

    def set_checked(self, field: str, value: bool) -> None:
        self.query_one(f"#{self.wid(field)}", Checkbox).value = value

    # -- feedback ------------------------------------------------------------------------------

    def show_errors(self, errors: Sequence[FieldError]) -> None:
        """Mark the bad fields (and only them) with their messages; scroll to the first one."""
        bad = {error.field: self.t(error.key, **error.text_values()) for error in errors}
        first: FieldRow | None = None
        for row in self.query(FieldRow):
            row.show_error(bad.get(row.field))
            if row.field in bad and first is None:
                first = row
        if first is not None:
            first.scroll_visible()
        if errors:
            self.set_status(self.t("settings.invalid"), "error")

    def clear_errors(self) -> None:
        self.show_errors(())

    def refuse(self, invalid: Invalid) -> None:
        self.show_errors(invalid.errors)

    def set_status(self, text: str, kind: StatusKind = "info") -> None:
        status = self.query_one(f"#{self.PREFIX}-status", Static)
        status.update(text)
        status.set_class(kind == "ok", "-ok")
        status.set_class(kind == "error", "-error")

    async def commit(self, write: Write) -> bool:
        """Run ``write`` in an admin transaction; False (and the status says why) if the operator
        is no longer an admin or the database could not take the write (locked too long, disk
        full). Refusals of the data itself are the caller's to map onto fields."""
        try:
            async with admin_transaction(self.context) as db:
                await write(db)
        except NotAdmin:
            self.set_status(self.t("settings.not_admin"), "error")
            return False
        except aiosqlite.OperationalError as exc:
            log.exception("saving settings failed")
            self.set_status(self.t("settings.failed", error=exc), "error")
            return False
        return True

    async def saved(self, hook: Hook | None, text_key: str = "settings.saved") -> None:
        """Tell the app (so the change applies now) and the admin."""
        try:
            await run_hook(hook)
        except Exception as exc:  # noqa: BLE001 - saved already; the admin must know it is not applied
            log.exception("applying saved settings failed")
            self.set_status(self.t("settings.apply_failed", error=exc), "error")
            return
        self.set_status(self.t(text_key), "ok")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every worker of a section reports its result as a message; reaching here is a bug."""
        if event.state == WorkerState.ERROR:
            log.error("settings worker %s failed", event.worker.name, exc_info=event.worker.error)
            self.set_status(self.t("settings.failed", error=event.worker.error), "error")
