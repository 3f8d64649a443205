"""Settings: where signals come in — TCP/UDP listen endpoints and serial receivers.

Stored as ``receiver.tcp``, ``receiver.udp`` (lists of ``HOST:PORT``) and ``receiver.serial``
(a list of serial ports in the bootstrap configuration's shape). The app applies a change by
restarting its listeners (``on_receivers_changed``).
"""

from __future__ import annotations

from dataclasses import fields
from functools import partial

import aiosqlite
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Input, Static

from centinela.config import SerialPortConfig
from centinela.data.settings import set_setting, settings_with_prefix
from centinela.data.settings_rules import (
    BAUD_RATES,
    BYTE_SIZES,
    PARITIES,
    STOP_BITS,
    Invalid,
    ListenersForm,
    ListenerValues,
    SerialForm,
    check_listeners,
    check_serial,
    receivers_from_saved,
)
from centinela.durations import format_duration
from centinela.tui.screens.settings_form import SettingsContext, SettingsSection

SETTINGS_PREFIX = "receiver"


async def save_listeners(db: aiosqlite.Connection, actor: str, values: ListenerValues) -> None:
    await set_setting(db, f"{SETTINGS_PREFIX}.tcp", list(values.tcp), actor)
    await set_setting(db, f"{SETTINGS_PREFIX}.udp", list(values.udp), actor)


async def save_serial_ports(db: aiosqlite.Connection, actor: str, ports: list[SerialPortConfig]) -> None:
    await set_setting(db, f"{SETTINGS_PREFIX}.serial", [port.model_dump(mode="json") for port in ports], actor)


class ReceiversSection(SettingsSection):
    PREFIX = "recv"

    def __init__(self, context: SettingsContext) -> None:
        super().__init__(context)
        self._serial: list[SerialPortConfig] = []

    def form(self) -> ComposeResult:
        t = self.t
        yield Static(t("settings.recv.listeners"), classes="section-title")
        endpoints_hint = t("settings.recv.endpoints_hint")
        yield self.row("tcp", self.text_input(placeholder="0.0.0.0:12000"), hint=endpoints_hint)
        yield self.row("udp", self.text_input(placeholder="0.0.0.0:12000"), hint=endpoints_hint)
        with Horizontal(classes="buttons"):
            yield Button(t("settings.button.save"), id="recv-save", variant="primary", compact=True)
        yield Static(t("settings.recv.serial_ports"), classes="section-title")
        table: DataTable[str] = DataTable(id="recv-serial-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*(t(f"settings.recv.col.{name}") for name in
                            ("device", "baudrate", "format", "heartbeat")))
        yield table
        yield self.row("device", self.text_input(placeholder="/dev/ttyUSB0"))
        yield self.row("baudrate", self.select([(str(rate), rate) for rate in BAUD_RATES], 9600))
        yield self.row("bytesize", self.select([(str(size), size) for size in BYTE_SIZES], 8))
        yield self.row("parity", self.select([(t(f"settings.recv.parity.{p}"), p) for p in PARITIES], "N"))
        yield self.row("stopbits", self.select([(f"{bits:g}", bits) for bits in STOP_BITS], 1))
        yield self.row("heartbeat_timeout", self.text_input(placeholder="90s"), hint=t("settings.recv.heartbeat_hint"))
        with Horizontal(classes="buttons"):
            yield Button(t("settings.recv.save_port"), id="recv-serial-save", variant="primary", compact=True)
            yield Button(t("settings.recv.remove_port"), id="recv-serial-remove", variant="error", compact=True)

    async def on_mount(self) -> None:
        saved = await settings_with_prefix(self.context.store.reader, SETTINGS_PREFIX)
        receivers = receivers_from_saved(saved, self.context.config.receiver)
        self.set_text("tcp", ", ".join(receivers.tcp))
        self.set_text("udp", ", ".join(receivers.udp))
        default_heartbeat = SerialPortConfig.model_fields["heartbeat_timeout"].default
        self.set_text("heartbeat_timeout", format_duration(int(default_heartbeat)))
        self._show_serial(list(receivers.serial))

    def _show_serial(self, ports: list[SerialPortConfig]) -> None:
        self._serial = ports
        table = self.query_one("#recv-serial-table", DataTable)
        table.clear()
        for port in ports:
            table.add_row(port.device, str(port.baudrate), f"{port.bytesize}{port.parity}{port.stopbits:g}",
                          format_duration(int(port.heartbeat_timeout)), key=port.device)

    @on(DataTable.RowSelected, "#recv-serial-table")
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        port = next(port for port in self._serial if port.device == event.row_key.value)
        self.set_text("device", port.device)
        self.set_choice("baudrate", port.baudrate)
        self.set_choice("bytesize", port.bytesize)
        self.set_choice("parity", port.parity)
        self.set_choice("stopbits", port.stopbits)
        self.set_text("heartbeat_timeout", format_duration(int(port.heartbeat_timeout)))
        self.query_one(f"#{self.wid('device')}", Input).focus()

    async def submit(self, control: Input) -> None:
        if control.id in (self.wid("device"), self.wid("heartbeat_timeout")):
            await self.save_port()
        else:
            await self.save()

    @on(Button.Pressed, "#recv-save")
    async def _save_pressed(self) -> None:
        await self.save()

    async def save(self) -> None:
        """The TCP and UDP endpoints."""
        try:
            values = check_listeners(ListenersForm(self.text("tcp"), self.text("udp")))
        except Invalid as invalid:
            self.refuse(invalid)
            return
        self.clear_errors()
        if await self.commit(partial(save_listeners, actor=self.context.actor, values=values)):
            self.set_text("tcp", ", ".join(values.tcp))
            self.set_text("udp", ", ".join(values.udp))
            await self.saved(self.context.hooks.on_receivers_changed)

    @on(Button.Pressed, "#recv-serial-save")
    async def save_port(self) -> None:
        """Add the port in the form, or replace the one on the same device."""
        form = SerialForm(**{field.name: str(self._value(field.name)) for field in fields(SerialForm)})
        try:
            port = check_serial(form)
        except Invalid as invalid:
            self.refuse(invalid)
            return
        self.clear_errors()
        ports = [existing for existing in self._serial if existing.device != port.device] + [port]
        await self._save_ports(ports)

    @on(Button.Pressed, "#recv-serial-remove")
    async def remove_port(self) -> None:
        device = self.text("device").strip()
        if all(port.device != device for port in self._serial):
            self.set_status(self.t("settings.recv.no_port", device=device), "error")
            return
        await self._save_ports([port for port in self._serial if port.device != device], "settings.recv.removed")

    async def _save_ports(self, ports: list[SerialPortConfig], text_key: str = "settings.saved") -> None:
        if await self.commit(partial(save_serial_ports, actor=self.context.actor, ports=ports)):
            self._show_serial(ports)
            await self.saved(self.context.hooks.on_receivers_changed, text_key)

    def _value(self, field: str) -> object:
        return self.text(field) if field in ("device", "heartbeat_timeout") else self.chosen(field)

