"""Settings: who may log in — add operators, enable or disable them, reset passwords, change roles.

``data.operators`` enforces that an active admin always remains; the screen checks it first (and
that nobody disables themselves) to say so in the admin's language, and shows the store's own
refusal if another console got there in between.
"""

from __future__ import annotations

from functools import partial

import aiosqlite
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Input

from centinela.data.audit import audit
from centinela.data.operators import (
    ROLES,
    Operator,
    OperatorError,
    Role,
    add_operator,
    list_operators,
    set_active,
    set_password,
    set_role,
)
from centinela.data.settings_rules import (
    FieldError,
    Invalid,
    NewOperator,
    NewOperatorForm,
    check_new_operator,
    check_operator_change,
    check_password_reset,
)
from centinela.tui.screens.settings_form import SettingsContext, SettingsSection, Write


async def create_operator(db: aiosqlite.Connection, actor: str, new: NewOperator) -> None:
    operator = await add_operator(db, new.username, new.password, role=new.role, full_name=new.full_name)
    await audit(db, actor, "operator.add", "operator", operator.username,
                {"role": operator.role, "full_name": operator.full_name})


async def change_operator(
    db: aiosqlite.Connection, actor: str, username: str, role: Role | None, password: str | None
) -> None:
    if role is not None:
        await set_role(db, username, role)
        await audit(db, actor, "operator.role", "operator", username, {"role": role})
    if password is not None:
        await set_password(db, username, password)
        await audit(db, actor, "operator.password_reset", "operator", username)


async def activate_operator(db: aiosqlite.Connection, actor: str, username: str, active: bool) -> None:
    await set_active(db, username, active)
    await audit(db, actor, "operator.enable" if active else "operator.disable", "operator", username)


class OperatorsSection(SettingsSection):
    PREFIX = "ops"

    def __init__(self, context: SettingsContext) -> None:
        super().__init__(context)
        self._operators: dict[str, Operator] = {}
        self._editing: str | None = None

    def form(self) -> ComposeResult:
        t = self.t
        table: DataTable[str] = DataTable(id="ops-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*(t(f"settings.ops.col.{name}") for name in ("username", "full_name", "role", "state")))
        yield table
        yield self.row("username", self.text_input(max_length=40))
        yield self.row("full_name", self.text_input(max_length=80))
        yield self.row("role", self.select([(t(f"settings.role.{role}"), role) for role in ROLES], "operator"))
        yield self.row("password", self.text_input(password=True))
        yield self.row("password_again", self.text_input(password=True))
        yield self.row("active", Button(t("settings.button.disable"), variant="warning",
                                        compact=True, disabled=True))
        with Horizontal(classes="buttons"):
            yield Button(t("settings.button.new"), id="ops-new", compact=True)
            yield Button(t("settings.button.save"), id="ops-save", variant="primary", compact=True)

    async def on_mount(self) -> None:
        await self._reload()
        self._new()

    async def _reload(self) -> None:
        operators = await list_operators(self.context.store.reader)
        self._operators = {operator.username: operator for operator in operators}
        table = self.query_one("#ops-table", DataTable)
        table.clear()
        for operator in operators:
            table.add_row(
                operator.username, operator.full_name or self.t("placeholder"),
                self.t(f"settings.role.{operator.role}"),
                self.t("settings.state.enabled" if operator.active else "settings.state.disabled"),
                key=operator.username,
            )

    @on(Button.Pressed, "#ops-new")
    def _new(self) -> None:
        self._editing = None
        for field in ("username", "full_name", "password", "password_again"):
            self.set_text(field, "", placeholder="")
        for field in ("username", "full_name"):
            self.query_one(f"#{self.wid(field)}", Input).disabled = False
        self.set_choice("role", "operator")
        self._toggle_button(None)
        self.clear_errors()
        self.set_status(self.t("settings.ops.adding"))

    @on(DataTable.RowSelected, "#ops-table")
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        self._edit(self._operators[str(event.row_key.value)])
        self.query_one(f"#{self.wid('role')}").focus()

    def _edit(self, operator: Operator) -> None:
        self._editing = operator.username
        self.set_text("username", operator.username)
        self.set_text("full_name", operator.full_name)
        # Names are fixed once created: the audit log and the alarms' action log refer to them.
        for field in ("username", "full_name"):
            self.query_one(f"#{self.wid(field)}", Input).disabled = True
        self.set_choice("role", operator.role)
        unchanged = self.t("settings.unchanged")
        self.set_text("password", "", placeholder=unchanged)
        self.set_text("password_again", "", placeholder=unchanged)
        self._toggle_button(operator)
        self.clear_errors()
        self.set_status(self.t("settings.ops.editing", user=operator.username))

    def _toggle_button(self, operator: Operator | None) -> None:
        button = self.query_one("#ops-active", Button)
        button.disabled = operator is None
        button.label = self.t("settings.button.disable" if operator is None or operator.active
                              else "settings.button.enable")

    @on(Button.Pressed, "#ops-save")
    async def _save_pressed(self) -> None:
        await self.save()

    async def save(self) -> None:
        if self._editing is None:
            await self._add()
        else:
            await self._change(self._editing)

    async def _add(self) -> None:
        form = NewOperatorForm(self.text("username"), self.text("full_name"), str(self.chosen("role")),
                               self.text("password"), self.text("password_again"))
        try:
            new = check_new_operator(form)
        except Invalid as invalid:
            self.refuse(invalid)
            return
        if not await self._write(partial(create_operator, actor=self.context.actor, new=new), "username"):
            return
        await self._reload()
        self._edit(self._operators[new.username])
        await self.saved(None, "settings.ops.added")

    async def _change(self, username: str) -> None:
        current = self._operators[username]
        chosen = self.chosen("role")
        new_role = next((role for role in ROLES if role == chosen and role != current.role), None)
        password: str | None = None
        try:
            if self.text("password") or self.text("password_again"):
                password = check_password_reset(self.text("password"), self.text("password_again"))
            if new_role is not None:
                check_operator_change(list(self._operators.values()), self.context.actor, username, role=new_role)
        except Invalid as invalid:
            self.refuse(invalid)
            return
        if new_role is None and password is None:
            self.clear_errors()
            self.set_status(self.t("settings.ops.nothing"))
            return
        write = partial(change_operator, actor=self.context.actor, username=username, role=new_role, password=password)
        if not await self._write(write, "role"):
            return
        await self._reload()
        self._edit(self._operators[username])
        await self.saved(None)

    @on(Button.Pressed, "#ops-active")
    async def toggle(self) -> None:
        operator = self._operators.get(self._editing) if self._editing is not None else None
        if operator is None:
            return
        try:
            check_operator_change(list(self._operators.values()), self.context.actor, operator.username,
                                  active=not operator.active)
        except Invalid as invalid:
            self.refuse(invalid)
            return
        write = partial(activate_operator, actor=self.context.actor, username=operator.username,
                        active=not operator.active)
        if not await self._write(write, "active"):
            return
        await self._reload()
        self._edit(self._operators[operator.username])
        await self.saved(None)

    async def _write(self, write: Write, field: str) -> bool:
        """Commit; the store's refusal (another console changed operators meanwhile) goes next to ``field``."""
        self.clear_errors()
        try:
            return await self.commit(write)
        except OperatorError as exc:
            self.show_errors([FieldError(field, "settings.err.operator", (("reason", str(exc)),))])
            return False
