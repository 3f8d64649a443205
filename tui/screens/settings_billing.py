"""Settings: billing defaults — grace and payment terms, notices, when billing and cut-offs run."""

from __future__ import annotations

from dataclasses import asdict, fields
from functools import partial
import aiosqlite
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button

from centinela.data.settings import set_setting, settings_with_prefix
from centinela.data.settings_rules import BillingForm, BillingValues, Invalid, billing_from_saved, check_billing
from centinela.tui.screens.settings_form import SettingsSection

SETTINGS_PREFIX = "billing"


async def save_billing(db: aiosqlite.Connection, actor: str, values: BillingValues) -> None:
    for name, value in asdict(values).items():
        await set_setting(db, f"{SETTINGS_PREFIX}.{name}", value, actor)


class BillingSection(SettingsSection):
    PREFIX = "billing"

    def form(self) -> ComposeResult:
        t = self.t
        yield self.row("default_grace_days", self.text_input(max_length=3), hint=t("settings.billing.grace_hint"))
        yield self.row("payment_terms_days", self.text_input(max_length=3), hint=t("settings.billing.terms_hint"))
        yield self.row("notice_days", self.text_input(max_length=3), hint=t("settings.billing.notice_hint"))
        yield self.row("run_at", self.text_input(placeholder="06:00", max_length=5),
                       hint=t("settings.billing.run_at_hint"))
        yield self.row("cutoff_every_minutes", self.text_input(max_length=4), hint=t("settings.billing.cutoff_hint"))
        with Horizontal(classes="buttons"):
            yield Button(t("settings.button.save"), id="billing-save", variant="primary", compact=True)

    async def on_mount(self) -> None:
        self._show(billing_from_saved(await settings_with_prefix(self.context.store.reader, SETTINGS_PREFIX)))

    def _show(self, values: BillingValues) -> None:
        for name, value in asdict(values).items():
            self.set_text(name, value)

    @on(Button.Pressed, "#billing-save")
    async def _save_pressed(self) -> None:
        await self.save()

    async def save(self) -> None:
        form = BillingForm(**{field.name: self.text(field.name) for field in fields(BillingForm)})
        try:
            values = check_billing(form)
        except Invalid as invalid:
            self.refuse(invalid)
            return
        self.clear_errors()
        if await self.commit(partial(save_billing, actor=self.context.actor, values=values)):
            self._show(values)
            await self.saved(self.context.hooks.on_billing_changed)
