"""Settings: the Odoo connection, with a "test connection" button.

Stored as ``odoo.*`` settings over the bootstrap file's ``[odoo]``. The password or API key is
write-only here (an empty field keeps the stored one) and never audited. The test asks the
server's version and logs in, in a thread, with the values in the form.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import partial

import aiosqlite
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Checkbox

from centinela.data.odoo_gateway import OdooAuthError, OdooError, OdooSettings, OdooUnavailable, open_gateway
from centinela.data.settings import set_setting, settings_with_prefix
from centinela.data.settings_rules import (
    CONTRACT_MAPPINGS,
    ODOO_TRANSPORTS,
    Invalid,
    OdooForm,
    OdooValues,
    check_odoo,
    odoo_from_saved,
)
from centinela.tui.screens.settings_form import SettingsContext, SettingsSection

SETTINGS_PREFIX = "odoo"
PROBE_TIMEOUT_S = 15.0


async def save_odoo(db: aiosqlite.Connection, actor: str, values: OdooValues) -> None:
    for name, value in asdict(values).items():
        if name == "secret":
            if value is not None:
                await set_setting(db, f"{SETTINGS_PREFIX}.secret", value, actor, secret=True)
        else:
            await set_setting(db, f"{SETTINGS_PREFIX}.{name}", value, actor)


@dataclass
class OdooProbed(Message):
    version: str = ""
    uid: int = 0
    error_key: str = ""
    error: str = ""


class OdooSection(SettingsSection):
    PREFIX = "odoo"

    def __init__(self, context: SettingsContext) -> None:
        super().__init__(context)
        self._stored_secret: str | None = None

    def form(self) -> ComposeResult:
        t = self.t
        yield self.row("enabled", Checkbox(t("settings.odoo.enabled_box"), compact=True))
        yield self.row("url", self.text_input(placeholder="https://erp.example.com"))
        yield self.row("database", self.text_input())
        yield self.row("user", self.text_input(placeholder="centinela@example.com"))
        yield self.row("secret", self.text_input(password=True), hint=t("settings.odoo.secret_hint"))
        yield self.row("transport", self.select([(t(f"settings.odoo.transport.{name}"), name)
                                                 for name in ODOO_TRANSPORTS], "auto"))
        yield self.row("mapping", self.select([(t(f"settings.odoo.mapping.{name}"), name)
                                               for name in CONTRACT_MAPPINGS], "centinela"))
        yield self.row("fsm_project", self.text_input(), hint=t("settings.odoo.fsm_hint"))
        with Horizontal(classes="buttons"):
            yield Button(t("settings.button.save"), id="odoo-save", variant="primary", compact=True)
            yield Button(t("settings.odoo.test"), id="odoo-test", compact=True)

    async def on_mount(self) -> None:
        saved = await settings_with_prefix(self.context.store.reader, SETTINGS_PREFIX)
        self._show(odoo_from_saved(saved, self.context.config.odoo))

    def _show(self, values: OdooValues) -> None:
        self._stored_secret = values.secret
        self.set_checked("enabled", values.enabled)
        self.set_text("url", values.url)
        self.set_text("database", values.database)
        self.set_text("user", values.user)
        self.set_text("secret", "", placeholder=self.t("settings.unchanged") if values.secret else "")
        self.set_choice("transport", values.transport)
        self.set_choice("mapping", values.mapping)
        self.set_text("fsm_project", values.fsm_project)

    def _form(self) -> OdooForm:
        return OdooForm(
            enabled=self.checked("enabled"), url=self.text("url"), database=self.text("database"),
            user=self.text("user"), secret=self.text("secret"), transport=str(self.chosen("transport")),
            mapping=str(self.chosen("mapping")), fsm_project=self.text("fsm_project"),
        )

    @on(Button.Pressed, "#odoo-save")
    async def _save_pressed(self) -> None:
        await self.save()

    async def save(self) -> None:
        try:
            values = check_odoo(self._form(), has_secret=self._stored_secret is not None)
        except Invalid as invalid:
            self.refuse(invalid)
            return
        self.clear_errors()
        if await self.commit(partial(save_odoo, actor=self.context.actor, values=values)):
            self._show(replace(values, secret=values.secret or self._stored_secret))
            await self.saved(self.context.hooks.on_odoo_changed)

    @on(Button.Pressed, "#odoo-test")
    def test(self) -> None:
        """Test what the form says, saved or not; a test needs every connection field."""
        try:
            values = check_odoo(replace(self._form(), enabled=True), has_secret=self._stored_secret is not None)
        except Invalid as invalid:
            self.refuse(invalid)
            return
        self.clear_errors()
        secret = values.secret or self._stored_secret or ""
        self.set_status(self.t("settings.odoo.testing", url=values.url))
        self._probe(OdooSettings(values.url, values.database, values.user, secret, timeout=PROBE_TIMEOUT_S,
                                 transport=values.transport))

    @work(thread=True, exclusive=True, exit_on_error=False, group="odoo-probe")
    def _probe(self, settings: OdooSettings) -> None:
        try:
            gateway = open_gateway(settings)
            version = gateway.version()
            uid = gateway.login()
        except OdooAuthError as exc:
            self.post_message(OdooProbed(error_key="settings.odoo.auth_failed", error=str(exc)))
        except OdooUnavailable as exc:
            self.post_message(OdooProbed(error_key="settings.odoo.unreachable", error=str(exc)))
        except (OdooError, ValueError) as exc:
            self.post_message(OdooProbed(error_key="settings.odoo.failed", error=str(exc)))
        else:
            self.post_message(OdooProbed(version=version.server_version, uid=uid))

    def on_odoo_probed(self, message: OdooProbed) -> None:
        if message.error_key:
            self.set_status(self.t(message.error_key, error=message.error), "error")
        else:
            self.set_status(self.t("settings.odoo.test_ok", version=message.version, uid=message.uid), "ok")
