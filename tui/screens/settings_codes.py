"""Settings: event-code overrides — a catalogued Contact ID or SIA code ranked at another priority."""

from __future__ import annotations

from dataclasses import asdict
from functools import partial

import aiosqlite
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Input, Select

from centinela.data.audit import audit
from centinela.data.records import PriorityRow
from centinela.data.settings_rules import (
    OVERRIDE_FAMILIES,
    CodeOverride,
    Invalid,
    OverrideForm,
    check_override,
)
from centinela.receiver.catalog import lookup
from centinela.tui.screens.settings_form import FieldRow, SettingsContext, SettingsSection


async def code_overrides(db: aiosqlite.Connection) -> list[CodeOverride]:
    async with db.execute("SELECT family, code, priority FROM code_overrides ORDER BY family, code") as cur:
        return [CodeOverride(family, code, priority) for family, code, priority in await cur.fetchall()]


async def put_override(db: aiosqlite.Connection, actor: str, override: CodeOverride) -> None:
    await db.execute(
        "INSERT INTO code_overrides (family, code, priority) VALUES (?, ?, ?)"
        " ON CONFLICT (family, code) DO UPDATE SET priority = excluded.priority",
        (override.family, override.code, override.priority),
    )
    await audit(db, actor, "code_override.set", "code_override", f"{override.family}:{override.code}", asdict(override))


async def remove_override(db: aiosqlite.Connection, actor: str, override: CodeOverride) -> None:
    await db.execute("DELETE FROM code_overrides WHERE family = ? AND code = ?", (override.family, override.code))
    await audit(db, actor, "code_override.delete", "code_override", f"{override.family}:{override.code}")


class CodesSection(SettingsSection):
    PREFIX = "codes"

    def __init__(self, context: SettingsContext) -> None:
        super().__init__(context)
        self._priorities: dict[int, PriorityRow] = {}
        self._overrides: dict[tuple[str, str], CodeOverride] = {}

    def form(self) -> ComposeResult:
        t = self.t
        table: DataTable[str] = DataTable(id="codes-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*(t(f"settings.codes.col.{name}") for name in ("family", "code", "description", "priority")))
        yield table
        yield self.row("family", self.select([(family.upper(), family) for family in OVERRIDE_FAMILIES], "cid"))
        yield self.row("code", self.text_input(placeholder="130", max_length=3), hint=" ")
        yield self.row("priority", self.select([(str(level), level) for level in range(1, 7)], 1))
        with Horizontal(classes="buttons"):
            yield Button(t("settings.button.save"), id="codes-save", variant="primary", compact=True)
            yield Button(t("settings.button.remove"), id="codes-remove", variant="error", compact=True)

    async def on_mount(self) -> None:
        self._priorities = {row.level: row for row in await self.context.store.priorities()}
        levels = self.query_one(f"#{self.wid('priority')}", Select)
        levels.set_options((self._level_name(level), level) for level in self._priorities)
        # set_options keeps the same first value, so Select would not redraw its label by itself.
        levels.mutate_reactive(Select.value)  # type: ignore[misc]  # a generic reactive read off its class
        await self._reload()

    def _level_name(self, level: int) -> str:
        row = self._priorities.get(level)
        return f"{level} {row.name(self.t.language)}" if row else str(level)

    async def _reload(self) -> None:
        table = self.query_one("#codes-table", DataTable)
        table.clear()
        overrides = await code_overrides(self.context.store.reader)
        self._overrides = {(override.family, override.code): override for override in overrides}
        for override in overrides:
            info = lookup(override.family, override.code)
            catalogued = self._level_name(info.priority) if info else self.t("placeholder")
            table.add_row(
                override.family.upper(), override.code,
                info.description(self.t.language) if info else self.t("placeholder"),
                f"{catalogued} → {self._level_name(override.priority)}",
                key=f"{override.family}:{override.code}",
            )

    @on(DataTable.RowSelected, "#codes-table")
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        family, code = str(event.row_key.value).split(":", 1)
        override = self._overrides[(family, code)]
        self.set_choice("family", override.family)
        self.set_text("code", override.code)
        self.set_choice("priority", override.priority)
        self.query_one(f"#{self.wid('code')}", Input).focus()

    @on(Input.Changed, "#codes-code")
    @on(Select.Changed, "#codes-family")
    def _describe(self) -> None:
        """Say what the typed code means as it is typed, and its catalogued priority."""
        family, code = self.chosen("family"), self.text("code").strip().upper()
        self.query_one(f"#{self.wid('code')}", Input).max_length = 3 if family == "cid" else 2
        if not code or family not in OVERRIDE_FAMILIES:
            text = " "
        else:
            info = lookup(family, code)
            text = (self.t("settings.codes.described", description=info.description(self.t.language),
                           level=self._level_name(info.priority))
                    if info else self.t("settings.err.code_unknown", code=code, family=str(family).upper()))
        self.query_one("#codes-code-row", FieldRow).show_hint(text)

    def _form(self) -> OverrideForm:
        priority = self.chosen("priority")
        level = priority if isinstance(priority, int) else None
        return OverrideForm(str(self.chosen("family")), self.text("code"), level)

    @on(Button.Pressed, "#codes-save")
    async def _save_pressed(self) -> None:
        await self.save()

    async def save(self) -> None:
        try:
            override = check_override(self._form())
        except Invalid as invalid:
            self.refuse(invalid)
            return
        self.clear_errors()
        if await self.commit(partial(put_override, actor=self.context.actor, override=override)):
            await self._applied()

    @on(Button.Pressed, "#codes-remove")
    async def remove(self) -> None:
        form = self._form()
        family, code = form.family, form.code.strip().upper()
        override = self._overrides.get((family, code))
        if override is None:
            self.set_status(self.t("settings.codes.none", family=family.upper(), code=code), "error")
            return
        if await self.commit(partial(remove_override, actor=self.context.actor, override=override)):
            await self._applied("settings.codes.removed")

    async def _applied(self, text_key: str = "settings.saved") -> None:
        store = self.context.store
        await store.writer.load_rules(store.reader)
        await self._reload()
        self.set_status(self.t(text_key), "ok")
