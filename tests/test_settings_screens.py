"""The settings screen driven by keys on a real store: inline errors, what is saved and audited,
what the app is told, and the router and Odoo tests against the fake servers over real sockets."""

from __future__ import annotations

import asyncio
import json
import math
import struct
import wave
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, Label, Static, TabbedContent

from centinela.config import Config
from centinela.data.operators import Operator, add_operator, authenticate, set_role
from centinela.data.settings import get_setting
from centinela.data.store import Store
from centinela.tui.screens.settings import SettingsScreen, open_settings
from centinela.tui.screens.settings_form import FieldRow, SettingsContext, SettingsHooks
from centinela.tui.texts import Texts
from tests.fake_odoo import FakeOdoo
from tests.fake_routeros import FakeRouterOS
from tests.helpers import until as wait_until

ES = Texts("es")


class SettingsApp(App[None]):
    """Opens the settings for ``operator`` and records what the app is told."""

    def __init__(self, store: Store, operator: Operator, data_dir: Path, section: str = "prio") -> None:
        super().__init__()
        self.section = section
        self.store = store
        self.operator = operator
        self.config = Config(data_dir=data_dir)
        self.calls: list[str] = []
        self.notices: list[str] = []
        self.opened: bool | None = None

    def hooks(self) -> SettingsHooks:
        async def sounds() -> None:
            await asyncio.sleep(0)
            self.calls.append("sounds")

        return SettingsHooks(
            on_sounds_changed=sounds,
            on_receivers_changed=lambda: self.calls.append("receivers"),
            on_routers_changed=lambda: self.calls.append("routers"),
            on_billing_changed=lambda: self.calls.append("billing"),
            on_odoo_changed=lambda: self.calls.append("odoo"),
        )

    def on_mount(self) -> None:
        self.opened = open_settings(self, self.operator, store=self.store, texts=ES, config=self.config,
                                    hooks=self.hooks(), section=self.section)

    def notify(self, message: str, **kwargs: object) -> None:
        self.notices.append(message)
        super().notify(message, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def admin(store: Store) -> Operator:
    async with store.transaction() as db:
        return await add_operator(db, "ana", "clave-de-ana", role="admin", full_name="Ana Admin")


@asynccontextmanager
async def settings_open(
    store: Store, operator: Operator, data_dir: Path, section: str = "prio", size: tuple[int, int] = (80, 24)
) -> AsyncIterator[tuple[SettingsApp, Pilot[None]]]:
    """The app with the settings open on ``section``'s tab (only that tab's form is built)."""
    app = SettingsApp(store, operator, data_dir, section)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.opened is False or app.screen.query(f"#{section}-status"))
        await pilot.pause()
        yield app, pilot


async def until(pilot: Pilot[None], done: Callable[[], object], timeout: float = 5.0) -> None:
    """Wait for ``done``; a timeout quotes the section status lines, which say why."""
    def statuses() -> str:
        shown = [str(status.content) for status in pilot.app.screen.query(".section-status").results(Static)]
        return f"timed out waiting; the status says {shown}"

    await wait_until(done, timeout, pilot=pilot, explain=statuses)


async def show_tab(pilot: Pilot[None], prefix: str) -> None:
    pilot.app.screen.query_one(TabbedContent).active = f"tab-{prefix}"
    await until(pilot, lambda: pilot.app.screen.query(f"#{prefix}-status"))
    await pilot.pause()


async def type_into(pilot: Pilot[None], widget_id: str, text: str) -> None:
    """Focus a field, clear it and type, as an admin would."""
    field = pilot.app.screen.query_one(f"#{widget_id}", Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)


async def fill(pilot: Pilot[None], widget_id: str, text: str) -> None:
    """Focus a field and put a long value in it at once, as a paste would."""
    field = pilot.app.screen.query_one(f"#{widget_id}", Input)
    field.focus()
    field.value = text


async def press_button(pilot: Pilot[None], widget_id: str) -> None:
    """Focus a button and press Enter on it (a button ignores a second press within 0.2 s)."""
    button = pilot.app.screen.query_one(f"#{widget_id}", Button)
    button.focus()
    await until(pilot, lambda: not button.has_class("-active"))
    await pilot.press("enter")


def status(app: App[None], prefix: str) -> str:
    return str(app.screen.query_one(f"#{prefix}-status", Static).content)


def field_error(app: App[None], widget_id: str) -> str:
    return app.screen.query_one(f"#{widget_id}-row", FieldRow).error or ""


async def audit_rows(store: Store) -> list[tuple[str, str, str | None, dict[str, object] | None]]:
    async with store.reader.execute("SELECT actor, action, entity_id, detail FROM audit_log ORDER BY id") as cur:
        return [(actor, action, entity_id, json.loads(detail) if detail else None)
                for actor, action, entity_id, detail in await cur.fetchall()]


def write_tone(path: Path, seconds: float = 0.2) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 8))) for i in range(int(8000 * seconds))))
    return path


# -- who may open it ----------------------------------------------------------------------------


async def test_an_operator_is_refused_with_a_message(store: Store, data_dir: Path) -> None:
    async with store.transaction() as db:
        beto = await add_operator(db, "beto", "clave-de-beto")
    async with settings_open(store, beto, data_dir) as (app, _):
        assert app.opened is False
        assert not isinstance(app.screen, SettingsScreen)
        assert app.notices == [ES("settings.refused", user="beto")]
        assert "beto" in app.notices[0] and "administrador" in app.notices[0]


async def test_the_screen_itself_closes_for_a_non_admin(store: Store, data_dir: Path) -> None:
    beto = Operator(7, "beto", None, "operator", True)
    app = SettingsApp(store, beto, data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        context = SettingsContext(store, beto, ES, app.config, SettingsHooks())
        await app.push_screen(SettingsScreen(context))
        await pilot.pause()
        assert not isinstance(app.screen, SettingsScreen)
        assert app.notices[-1] == ES("settings.refused", user="beto")


async def test_an_admin_opens_it_and_escape_goes_back(store: Store, admin: Operator, data_dir: Path) -> None:
    async with settings_open(store, admin, data_dir) as (app, pilot):
        assert app.opened is True and isinstance(app.screen, SettingsScreen)
        assert app.screen.title == "Configuración"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, SettingsScreen)


async def test_an_admin_demoted_meanwhile_saves_nothing(store: Store, admin: Operator, data_dir: Path) -> None:
    async with store.transaction() as db:
        await add_operator(db, "dora", "clave-de-dora", role="admin")
    async with settings_open(store, admin, data_dir) as (app, pilot):
        async with store.transaction() as db:
            await set_role(db, "ana", "operator")
        await show_tab(pilot, "billing")
        await type_into(pilot, "billing-default_grace_days", "9")
        await pilot.press("enter")
        await until(pilot, lambda: status(app, "billing"))
        assert status(app, "billing") == ES("settings.not_admin")
        assert await get_setting(store.reader, "billing.default_grace_days") is None
        assert app.calls == []


# -- priorities ---------------------------------------------------------------------------------


async def test_a_bad_priority_is_refused_inline_and_a_good_one_applies_at_once(
    store: Store, admin: Operator, data_dir: Path
) -> None:
    assert 4 not in store.writer.rules.auto_resolve_levels
    async with settings_open(store, admin, data_dir) as (app, pilot):
        app.screen.query_one("#prio-table").focus()
        await pilot.press("down", "down", "down", "enter")  # level 4
        assert app.focused is app.screen.query_one("#prio-name_es")
        await type_into(pilot, "prio-colour", "rosa")
        app.screen.query_one("#prio-requires_ack").focus()
        await pilot.press("enter")  # untick: level 4 would no longer need taking
        await pilot.press("ctrl+s")
        assert field_error(app, "prio-colour") == ES("settings.err.colour")
        assert field_error(app, "prio-name_es") == ""
        assert status(app, "prio") == ES("settings.invalid")
        assert (await store.priorities())[3].requires_ack
        assert app.calls == [] and await audit_rows(store) == []

        await fill(pilot, "prio-colour", "Bright_Cyan")
        await pilot.pause()
        assert field_error(app, "prio-colour") == "", "editing a field clears its error"
        await fill(pilot, "prio-reminder_interval", "90")
        await pilot.press("enter")
        await until(pilot, lambda: app.calls)
        row = (await store.priorities())[3]
        assert (row.level, row.colour, row.requires_ack, row.reminder_interval_s) == (4, "bright_cyan", False, 90)
        assert 4 in store.writer.rules.auto_resolve_levels, "the event writer re-read the rules"
        assert app.calls == ["sounds"]
        assert status(app, "prio") == ES("settings.saved")
        [(actor, action, entity, detail)] = await audit_rows(store)
        assert (actor, action, entity) == ("ana", "priority.update", "4")
        assert detail is not None and detail["colour"] == "bright_cyan"


async def test_a_sound_file_is_decoded_before_it_is_copied_into_the_data_folder(
    store: Store, admin: Operator, data_dir: Path, tmp_path: Path
) -> None:
    fake = tmp_path / "alarma.mp3"
    fake.write_text("esto no es un sonido\n" * 50)
    tone = write_tone(tmp_path / "sirena.wav")
    shadow = write_tone(tmp_path / "critical.wav", seconds=0.3)  # the name of a shipped sound
    async with settings_open(store, admin, data_dir) as (app, pilot):
        await fill(pilot, "prio-sound", str(fake))
        await fill(pilot, "prio-reminder_sound", str(tmp_path / "no-existe.wav"))
        await pilot.press("enter")
        await until(pilot, lambda: field_error(app, "prio-sound"))
        assert field_error(app, "prio-sound") == ES("settings.sound.not_audio")
        assert field_error(app, "prio-reminder_sound") == ES("settings.sound.unreadable")
        assert (await store.priorities())[0].sound == "critical.wav"
        assert not (data_dir / "sounds").exists()
        assert app.calls == []

        await fill(pilot, "prio-sound", str(tone))
        await fill(pilot, "prio-reminder_sound", str(shadow))
        await pilot.press("enter")
        await until(pilot, lambda: app.calls)
        row = (await store.priorities())[0]
        assert (row.sound, row.reminder_sound) == ("sirena.wav", "critical-2.wav")
        assert (data_dir / "sounds" / "sirena.wav").read_bytes() == tone.read_bytes()
        assert (data_dir / "sounds" / "critical-2.wav").read_bytes() == shadow.read_bytes()
        assert app.screen.query_one("#prio-sound", Input).value == "sirena.wav"


# -- event-code overrides -----------------------------------------------------------------------


async def test_code_overrides_are_added_and_removed(store: Store, admin: Operator, data_dir: Path) -> None:
    async with settings_open(store, admin, data_dir, "codes") as (app, pilot):
        await fill(pilot, "codes-code", "999")
        await pilot.press("enter")
        assert field_error(app, "codes-code") == ES("settings.err.code_unknown", code="999", family="CID")
        await type_into(pilot, "codes-code", "130")
        assert str(app.screen.query_one("#codes-code-row", FieldRow).hint).startswith("Robo")
        app.screen.query_one("#codes-priority").focus()
        await pilot.press("enter", "down", "enter")  # open the list, pick the next level (2)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: status(app, "codes"))
        assert store.writer.rules.overrides == {("cid", "130"): 2}
        assert app.screen.query_one("#codes-table", DataTable).row_count == 1
        await press_button(pilot, "codes-remove")
        await until(pilot, lambda: not store.writer.rules.overrides)
        assert status(app, "codes") == ES("settings.codes.removed")
        assert [action for _, action, _, _ in await audit_rows(store)] == ["code_override.set", "code_override.delete"]


# -- billing ------------------------------------------------------------------------------------


async def test_billing_settings(store: Store, admin: Operator, data_dir: Path) -> None:
    async with settings_open(store, admin, data_dir, "billing") as (app, pilot):
        assert app.screen.query_one("#billing-run_at", Input).value == "06:00"
        await fill(pilot, "billing-run_at", "25:00")
        await fill(pilot, "billing-default_grace_days", "8")
        await pilot.press("enter")
        assert field_error(app, "billing-run_at") == ES("settings.err.hhmm")
        assert await get_setting(store.reader, "billing.default_grace_days") is None
        await fill(pilot, "billing-run_at", "7:30")
        await pilot.press("enter")
        await until(pilot, lambda: app.calls)
        assert await get_setting(store.reader, "billing.default_grace_days") == 8
        assert await get_setting(store.reader, "billing.run_at") == "07:30"
        assert app.screen.query_one("#billing-run_at", Input).value == "07:30"
        assert app.calls == ["billing"]
        assert {(actor, entity) for actor, _, entity, _ in await audit_rows(store)} >= {("ana", "billing.run_at")}


# -- receivers ----------------------------------------------------------------------------------


async def test_receiver_endpoints_and_serial_ports(store: Store, admin: Operator, data_dir: Path) -> None:
    async with settings_open(store, admin, data_dir, "recv") as (app, pilot):
        assert app.screen.query_one("#recv-tcp", Input).value == "0.0.0.0:12000"
        await fill(pilot, "recv-tcp", "0.0.0.0:12000, nowhere")
        await pilot.press("enter")
        assert field_error(app, "recv-tcp") == ES("settings.err.endpoint", item="nowhere")
        assert await get_setting(store.reader, "receiver.tcp") is None
        await fill(pilot, "recv-tcp", "0.0.0.0:12000 127.0.0.1:12001")
        await fill(pilot, "recv-udp", "[::1]:12002")
        await pilot.press("enter")
        await until(pilot, lambda: app.calls)
        assert await get_setting(store.reader, "receiver.tcp") == ["0.0.0.0:12000", "127.0.0.1:12001"]
        assert await get_setting(store.reader, "receiver.udp") == ["[::1]:12002"]
        await fill(pilot, "recv-device", "/dev/ttyUSB0")
        await type_into(pilot, "recv-heartbeat_timeout", "2m")
        await pilot.press("enter")
        await until(pilot, lambda: len(app.calls) == 2)
        [port] = await get_setting(store.reader, "receiver.serial")
        assert (port["device"], port["baudrate"], port["parity"], port["heartbeat_timeout"]) == (
            "/dev/ttyUSB0", 9600, "N", 120.0)
        assert app.calls == ["receivers", "receivers"]


# -- routers ------------------------------------------------------------------------------------


async def test_a_router_is_added_probed_disabled_and_its_password_never_shown(
    store: Store, admin: Operator, data_dir: Path
) -> None:
    with FakeRouterOS(username="centinela", password="clave-router") as router:
        async with settings_open(store, admin, data_dir, "routers") as (app, pilot):
            await fill(pilot, "routers-name", "Torre norte")
            await fill(pilot, "routers-host", router.host)
            await fill(pilot, "routers-port", str(router.port))
            await fill(pilot, "routers-username", "centinela")
            await fill(pilot, "routers-password", "clave-router")
            await press_button(pilot, "routers-test")
            await until(pilot, lambda: status(app, "routers").startswith("OK"))
            assert status(app, "routers") == ES("settings.routers.probe_ok", suspended=0, noticed=0)
            await pilot.press("ctrl+s")
            await until(pilot, lambda: app.calls)
            async with store.reader.execute("SELECT name, host, port, username, password FROM routers") as cur:
                assert await cur.fetchall() == [("Torre norte", router.host, router.port, "centinela", "clave-router")]
            [(actor, action, _, detail)] = await audit_rows(store)
            assert (actor, action) == ("ana", "router.add")
            assert detail is not None and "clave-router" not in json.dumps(detail)

            table = app.screen.query_one("#routers-table")
            table.focus()
            await pilot.press("enter")  # edit it: the password field stays empty
            assert app.screen.query_one("#routers-password", Input).value == ""
            await fill(pilot, "routers-list_name", "cortados")
            await press_button(pilot, "routers-test")  # tests with the stored password
            await until(pilot, lambda: status(app, "routers").startswith("OK"))
            await fill(pilot, "routers-password", "otra-clave")
            await press_button(pilot, "routers-test")
            await until(pilot, lambda: status(app, "routers").startswith("Error"))
            assert "refused the login" in status(app, "routers")

            await press_button(pilot, "routers-toggle")
            await until(pilot, lambda: len(app.calls) == 2)
            async with store.reader.execute("SELECT enabled, password, list_name FROM routers") as cur:
                assert await cur.fetchall() == [(0, "clave-router", "morosos")], "a test saves nothing"

            await press_button(pilot, "routers-new")
            await fill(pilot, "routers-name", "Torre norte")
            await fill(pilot, "routers-host", "10.0.0.2")
            await fill(pilot, "routers-username", "admin")
            await pilot.press("enter")
            assert field_error(app, "routers-name") == ES("settings.err.name_taken")
            assert [action for _, action, _, _ in await audit_rows(store)] == ["router.add", "router.disable"]


# -- Odoo ---------------------------------------------------------------------------------------


async def test_odoo_settings_saved_and_the_connection_tested(store: Store, admin: Operator, data_dir: Path) -> None:
    with FakeOdoo() as odoo:
        odoo.add_user("centinela", api_keys=["clave-api"], uid=7)
        async with settings_open(store, admin, data_dir, "odoo") as (app, pilot):
            await fill(pilot, "odoo-url", odoo.url)
            await fill(pilot, "odoo-database", odoo.database)
            await fill(pilot, "odoo-user", "centinela")
            await fill(pilot, "odoo-secret", "clave-mala")
            await press_button(pilot, "odoo-test")
            await until(pilot, lambda: status(app, "odoo") and "…" not in status(app, "odoo"))
            assert status(app, "odoo").startswith("Credenciales o base de datos rechazadas")
            await fill(pilot, "odoo-secret", "clave-api")
            await press_button(pilot, "odoo-test")
            await until(pilot, lambda: status(app, "odoo").startswith("OK"))
            assert status(app, "odoo") == ES("settings.odoo.test_ok", version="18.0", uid=7)
            app.screen.query_one("#odoo-enabled").focus()
            await pilot.press("enter")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: app.calls)
            assert await get_setting(store.reader, "odoo.enabled") is True
            assert await get_setting(store.reader, "odoo.secret") == "clave-api"
            assert app.screen.query_one("#odoo-secret", Input).value == ""
            secret_audit = [detail for _, _, entity, detail in await audit_rows(store) if entity == "odoo.secret"]
            assert secret_audit == [None]
        odoo.stop()
        async with settings_open(store, admin, data_dir, "odoo") as (app, pilot):
            await press_button(pilot, "odoo-test")  # the stored key, to a server that is gone
            await until(pilot, lambda: status(app, "odoo").startswith("Odoo no responde"))


# -- operators ----------------------------------------------------------------------------------


async def test_operators_added_reset_and_protected(store: Store, admin: Operator, data_dir: Path) -> None:
    async with settings_open(store, admin, data_dir, "ops") as (app, pilot):
        await fill(pilot, "ops-username", "beto")
        await fill(pilot, "ops-full_name", "Beto Operador")
        await fill(pilot, "ops-password", "clave-de-beto")
        await fill(pilot, "ops-password_again", "clave-de-bet0")
        await pilot.press("enter")
        assert field_error(app, "ops-password_again") == ES("settings.err.password_mismatch")
        await fill(pilot, "ops-password_again", "clave-de-beto")
        await pilot.press("enter")
        await until(pilot, lambda: status(app, "ops") == ES("settings.ops.added"))
        assert await authenticate(store.reader, "beto", "clave-de-beto") is not None

        await fill(pilot, "ops-password", "nueva-clave-beto")  # beto is still being edited
        await fill(pilot, "ops-password_again", "nueva-clave-beto")
        await pilot.press("enter")
        await until(pilot, lambda: status(app, "ops") == ES("settings.saved"))
        assert await authenticate(store.reader, "beto", "nueva-clave-beto") is not None

        table = app.screen.query_one("#ops-table")
        table.focus()
        await pilot.press("home", "enter")  # ana, the only admin
        await press_button(pilot, "ops-active")
        assert field_error(app, "ops-active") == ES("settings.err.self_disable")
        app.screen.query_one("#ops-role").focus()
        await pilot.press("enter", "up", "enter")  # Operador
        await pilot.press("ctrl+s")
        assert field_error(app, "ops-role") == ES("settings.err.last_admin")
        async with store.reader.execute("SELECT username, role, active FROM operators ORDER BY username") as cur:
            assert await cur.fetchall() == [("ana", "admin", 1), ("beto", "operator", 1)]
        actions = [(actor, action, entity) for actor, action, entity, _ in await audit_rows(store)]
        assert actions == [("ana", "operator.add", "beto"), ("ana", "operator.password_reset", "beto")]


async def test_every_tab_fits_a_wall_screen_and_shows_only_catalogue_texts(
    store: Store, admin: Operator, data_dir: Path
) -> None:
    async with settings_open(store, admin, data_dir, size=(160, 48)) as (app, pilot):
        for prefix in ("prio", "codes", "billing", "recv", "routers", "odoo", "ops"):
            await show_tab(pilot, prefix)
            section = app.screen.query_one(f"#{prefix}-section")
            assert section.region.width == 160 and section.region.height > 30
            shown = [str(label.content) for label in section.query(Label)]
            shown += [str(button.label) for button in section.query(Button)]
            assert shown and not [text for text in shown if text.startswith("settings.")], "a text key is missing"
