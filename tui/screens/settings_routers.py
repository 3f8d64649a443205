"""Settings: the MikroTik routers billing cuts service on (the ``routers`` table).

A router's password is write-only here: the form never shows it, and an empty password field
keeps the stored one. "Probar" logs in with the form's values and reads what the router holds
with Centinela's mark, in a thread, and says OK or why not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial

import aiosqlite
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Checkbox, DataTable, Input

from centinela.billing.router import LibrouterosClient, Method, RouterConfig, RouterError
from centinela.data.audit import audit
from centinela.data.settings_rules import (
    ROUTER_METHODS,
    FieldError,
    Invalid,
    RouterForm,
    RouterValues,
    check_router,
)
from centinela.tui.screens.settings_form import SettingsContext, SettingsSection

PROBE_TIMEOUT_S = 8.0


@dataclass(frozen=True, slots=True)
class StoredRouter:
    id: int
    name: str
    host: str
    port: int | None
    tls: bool
    username: str
    method: Method
    list_name: str
    notice_list: str | None
    enabled: bool


_ROUTER_COLUMNS = "id, name, host, port, tls, username, method, list_name, notice_list, enabled"


async def stored_routers(db: aiosqlite.Connection) -> list[StoredRouter]:
    async with db.execute(f"SELECT {_ROUTER_COLUMNS} FROM routers ORDER BY name") as cur:
        rows = await cur.fetchall()
    return [StoredRouter(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6], row[7], row[8], bool(row[9]))
            for row in rows]


async def router_password(db: aiosqlite.Connection, router_id: int) -> str:
    async with db.execute("SELECT password FROM routers WHERE id = ?", (router_id,)) as cur:
        row = await cur.fetchone()
    return (row[0] or "") if row else ""


def _audited(values: RouterValues) -> dict[str, object]:
    detail: dict[str, object] = {name: value for name, value in asdict(values).items() if name != "password"}
    detail["password_changed"] = values.password is not None
    return detail


async def add_router(db: aiosqlite.Connection, actor: str, values: RouterValues) -> None:
    cursor = await db.execute(
        "INSERT INTO routers (name, host, port, tls, username, password, method, list_name, notice_list)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (values.name, values.host, values.port, int(values.tls), values.username, values.password or "",
         values.method, values.list_name, values.notice_list),
    )
    await audit(db, actor, "router.add", "router", cursor.lastrowid, _audited(values))


async def update_router(db: aiosqlite.Connection, actor: str, router_id: int, values: RouterValues) -> None:
    await db.execute(
        "UPDATE routers SET name = ?, host = ?, port = ?, tls = ?, username = ?,"
        " password = coalesce(?, password), method = ?, list_name = ?, notice_list = ? WHERE id = ?",
        (values.name, values.host, values.port, int(values.tls), values.username, values.password,
         values.method, values.list_name, values.notice_list, router_id),
    )
    await audit(db, actor, "router.update", "router", router_id, _audited(values))


async def set_router_enabled(db: aiosqlite.Connection, actor: str, router_id: int, enabled: bool) -> None:
    await db.execute("UPDATE routers SET enabled = ? WHERE id = ?", (int(enabled), router_id))
    await audit(db, actor, "router.enable" if enabled else "router.disable", "router", router_id)


@dataclass
class RouterProbed(Message):
    ok: bool
    suspended: int = 0
    noticed: int = 0
    error: str = ""


class RoutersSection(SettingsSection):
    PREFIX = "routers"

    def __init__(self, context: SettingsContext) -> None:
        super().__init__(context)
        self._routers: dict[int, StoredRouter] = {}
        self._editing: int | None = None

    def form(self) -> ComposeResult:
        t = self.t
        table: DataTable[str] = DataTable(id="routers-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*(t(f"settings.routers.col.{name}") for name in
                            ("name", "address", "user", "method", "lists", "state")))
        yield table
        yield self.row("name", self.text_input(max_length=40))
        yield self.row("host", self.text_input(placeholder="192.168.88.1"))
        yield self.row("port", self.text_input(placeholder="8728 / 8729", max_length=5),
                       hint=t("settings.routers.port_hint"))
        yield self.row("tls", Checkbox(t("settings.routers.tls_box"), compact=True))
        yield self.row("username", self.text_input())
        yield self.row("password", self.text_input(password=True))
        yield self.row("method", self.select([(method, method) for method in ROUTER_METHODS], "address-list"))
        yield self.row("list_name", self.text_input(placeholder="morosos"))
        yield self.row("notice_list", self.text_input(), hint=t("settings.routers.notice_hint"))
        with Horizontal(classes="buttons"):
            yield Button(t("settings.button.new"), id="routers-new", compact=True)
            yield Button(t("settings.button.save"), id="routers-save", variant="primary", compact=True)
            yield Button(t("settings.button.disable"), id="routers-toggle", variant="warning", compact=True,
                         disabled=True)
            yield Button(t("settings.button.test"), id="routers-test", compact=True)

    async def on_mount(self) -> None:
        await self._reload()
        self._new()

    async def _reload(self) -> None:
        routers = await stored_routers(self.context.store.reader)
        self._routers = {router.id: router for router in routers}
        table = self.query_one("#routers-table", DataTable)
        table.clear()
        placeholder = self.t("placeholder")
        for router in routers:
            port = f":{router.port}" if router.port else ""
            lists = router.list_name + (f" / {router.notice_list}" if router.notice_list else "")
            table.add_row(
                router.name, f"{router.host}{port}{' TLS' if router.tls else ''}", router.username or placeholder,
                router.method, lists,
                self.t("settings.state.enabled" if router.enabled else "settings.state.disabled"),
                key=str(router.id),
            )

    @on(Button.Pressed, "#routers-new")
    def _new(self) -> None:
        self._editing = None
        for field in ("name", "host", "port", "username", "notice_list"):
            self.set_text(field, "")
        self.set_text("list_name", "morosos")
        self.set_text("password", "", placeholder="")
        self.set_checked("tls", False)
        self.set_choice("method", "address-list")
        self._toggle_button(None)
        self.clear_errors()
        self.set_status(self.t("settings.routers.adding"))

    @on(DataTable.RowSelected, "#routers-table")
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        router = self._routers[int(str(event.row_key.value))]
        self._editing = router.id
        self.set_text("name", router.name)
        self.set_text("host", router.host)
        self.set_text("port", router.port)
        self.set_checked("tls", router.tls)
        self.set_text("username", router.username)
        self.set_text("password", "", placeholder=self.t("settings.unchanged"))
        self.set_choice("method", router.method)
        self.set_text("list_name", router.list_name)
        self.set_text("notice_list", router.notice_list)
        self._toggle_button(router)
        self.clear_errors()
        self.set_status(self.t("settings.routers.editing", name=router.name))
        self.query_one(f"#{self.wid('name')}", Input).focus()

    def _toggle_button(self, router: StoredRouter | None) -> None:
        button = self.query_one("#routers-toggle", Button)
        button.disabled = router is None
        enabled = router is None or router.enabled
        button.label = self.t("settings.button.disable" if enabled else "settings.button.enable")

    def _checked(self) -> RouterValues | None:
        form = RouterForm(
            name=self.text("name"), host=self.text("host"), port=self.text("port"), tls=self.checked("tls"),
            username=self.text("username"), password=self.text("password"), method=str(self.chosen("method")),
            list_name=self.text("list_name"), notice_list=self.text("notice_list"),
        )
        try:
            values = check_router(form, editing=self._editing is not None)
        except Invalid as invalid:
            self.refuse(invalid)
            return None
        self.clear_errors()
        return values

    @on(Button.Pressed, "#routers-save")
    async def _save_pressed(self) -> None:
        await self.save()

    async def save(self) -> None:
        values = self._checked()
        if values is None:
            return
        actor = self.context.actor
        write = (partial(add_router, actor=actor, values=values) if self._editing is None
                 else partial(update_router, actor=actor, router_id=self._editing, values=values))
        try:
            committed = await self.commit(write)
        except aiosqlite.IntegrityError:
            self.show_errors([FieldError("name", "settings.err.name_taken")])
            return
        if not committed:
            return
        await self._reload()
        self._new()
        await self.saved(self.context.hooks.on_routers_changed)

    @on(Button.Pressed, "#routers-toggle")
    async def toggle(self) -> None:
        router = self._routers.get(self._editing) if self._editing is not None else None
        if router is None:
            return
        if await self.commit(partial(set_router_enabled, actor=self.context.actor, router_id=router.id,
                                     enabled=not router.enabled)):
            await self._reload()
            self._toggle_button(self._routers[router.id])
            await self.saved(self.context.hooks.on_routers_changed)

    @on(Button.Pressed, "#routers-test")
    async def test(self) -> None:
        values = self._checked()
        if values is None:
            return
        password = values.password
        if password is None and self._editing is not None:
            password = await router_password(self.context.store.reader, self._editing)
        try:
            config = RouterConfig(
                name=values.name, host=values.host, port=values.port, tls=values.tls, username=values.username,
                password=password or "", method=values.method, list_name=values.list_name,
                notice_list=values.notice_list, timeout=PROBE_TIMEOUT_S,
            )
        except ValueError as exc:  # check_router covers RouterConfig's rules; kept as a last guard
            self.set_status(self.t("settings.routers.probe_failed", error=exc), "error")
            return
        self.set_status(self.t("settings.routers.probing", host=values.host))
        self._probe(config)

    @work(thread=True, exclusive=True, exit_on_error=False, group="router-probe")
    def _probe(self, config: RouterConfig) -> None:
        try:
            state = LibrouterosClient(config).managed_entries()
        except RouterError as exc:
            self.post_message(RouterProbed(False, error=str(exc)))
            return
        self.post_message(RouterProbed(True, len(state.suspended), len(state.noticed)))

    def on_router_probed(self, message: RouterProbed) -> None:
        if message.ok:
            self.set_status(self.t("settings.routers.probe_ok", suspended=message.suspended,
                                   noticed=message.noticed), "ok")
        else:
            self.set_status(self.t("settings.routers.probe_failed", error=message.error), "error")
