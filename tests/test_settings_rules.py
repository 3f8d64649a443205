"""The settings forms' checks: what is accepted, how it is normalised, and which field says why not."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pydantic import SecretStr

from centinela.billing.router import RouterConfig
from centinela.config import OdooConfig, ReceiverConfig, SerialPortConfig
from centinela.data.operators import Operator
from centinela.data.settings_rules import (
    DEFAULT_BILLING,
    BillingForm,
    BillingValues,
    CodeOverride,
    Invalid,
    ListenersForm,
    NewOperatorForm,
    OdooForm,
    OverrideForm,
    PriorityForm,
    RouterForm,
    SerialForm,
    billing_from_saved,
    check_billing,
    check_listeners,
    check_new_operator,
    check_odoo,
    check_operator_change,
    check_override,
    check_password_reset,
    check_priority,
    check_router,
    check_serial,
    normalize_colour,
    odoo_from_saved,
    parse_interval,
    receivers_from_saved,
)
from centinela.tui.texts import all_keys


def errors_of(invalid: pytest.ExceptionInfo[Invalid]) -> dict[str, str]:
    errors = {error.field: error.key for error in invalid.value.errors}
    assert set(errors.values()) <= all_keys(), "every error names a text of the catalogue"
    return errors


PRIORITY = PriorityForm(1, " Crítica ", "Critical", "#FF3B30", True, "critical.wav", "reminder.wav", "1m")


def test_a_priority_is_normalised() -> None:
    values = check_priority(PRIORITY)
    assert (values.name_es, values.colour, values.reminder_interval_s) == ("Crítica", "#ff3b30", 60)
    assert (values.sound, values.reminder_sound) == ("critical.wav", "reminder.wav")


def test_a_silent_priority_has_no_sounds_nor_interval() -> None:
    values = check_priority(replace(PRIORITY, requires_ack=False, sound=" ", reminder_sound="", reminder_interval=""))
    assert (values.sound, values.reminder_sound, values.reminder_interval_s) == (None, None, None)


def test_every_bad_priority_field_is_reported_at_once() -> None:
    form = replace(PRIORITY, level=7, name_es="", name_en="x" * 41, colour="naranjita", reminder_interval="5 lunas")
    with pytest.raises(Invalid) as invalid:
        check_priority(form)
    assert errors_of(invalid) == {
        "level": "settings.err.choice",
        "name_es": "settings.err.required",
        "name_en": "settings.err.too_long",
        "colour": "settings.err.colour",
        "reminder_interval": "settings.err.duration",
    }


@pytest.mark.parametrize(
    ("changes", "field", "key"),
    [
        ({"reminder_interval": "5s"}, "reminder_interval", "settings.err.duration_range"),
        ({"reminder_interval": "2d"}, "reminder_interval", "settings.err.duration_range"),
        ({"reminder_interval": ""}, "reminder_interval", "settings.err.reminder_needs_interval"),
        ({"reminder_sound": ""}, "reminder_sound", "settings.err.interval_needs_reminder"),
        ({"name_es": "Crí\x07tica"}, "name_es", "settings.err.control"),
    ],
)
def test_reminder_sound_and_interval_go_together(changes: dict[str, str], field: str, key: str) -> None:
    with pytest.raises(Invalid) as invalid:
        check_priority(replace(PRIORITY, **changes))
    assert errors_of(invalid) == {field: key}


@pytest.mark.parametrize(
    ("typed", "colour"),
    [("#A0b1C2", "#a0b1c2"), (" Bright_Red ", "bright_red"), ("dark_orange", "dark_orange"),
     ("#fff", None), ("rgb(1,2,3)", None), ("naranja", None), ("", None)],
)
def test_colours_are_hex_or_rich_names(typed: str, colour: str | None) -> None:
    assert normalize_colour(typed) == colour


@pytest.mark.parametrize(("typed", "seconds"), [("300", 300), ("90s", 90), ("5m", 300), ("1h", 3600), ("5 m", 300),
                                               ("cinco", None), ("-5", None), ("1.5m", None)])
def test_intervals_are_seconds_or_durations(typed: str, seconds: int | None) -> None:
    assert parse_interval(typed) == seconds


def test_an_override_needs_a_catalogued_code() -> None:
    assert check_override(OverrideForm("cid", " 130 ", 1)) == CodeOverride("cid", "130", 1)
    assert check_override(OverrideForm("sia", "ba", 3)) == CodeOverride("sia", "BA", 3)
    with pytest.raises(Invalid) as invalid:
        check_override(OverrideForm("cid", "999", 2))
    assert errors_of(invalid) == {"code": "settings.err.code_unknown"}
    assert dict(invalid.value.errors[0].values) == {"code": "999", "family": "CID"}
    with pytest.raises(Invalid) as invalid:
        check_override(OverrideForm("sys", "", None))
    assert errors_of(invalid) == {"family": "settings.err.choice", "code": "settings.err.required",
                                  "priority": "settings.err.choice"}


BILLING = BillingForm("7", "10", "2", "6:05", "30")


def test_billing_values_are_whole_numbers_and_a_time() -> None:
    assert check_billing(BILLING) == BillingValues(7, 10, 2, "06:05", 30)


@pytest.mark.parametrize(
    ("changes", "field", "key"),
    [
        ({"default_grace_days": "-1"}, "default_grace_days", "settings.err.range"),
        ({"payment_terms_days": "diez"}, "payment_terms_days", "settings.err.integer"),
        ({"notice_days": ""}, "notice_days", "settings.err.required"),
        ({"run_at": "24:00"}, "run_at", "settings.err.hhmm"),
        ({"run_at": "6h"}, "run_at", "settings.err.hhmm"),
        ({"cutoff_every_minutes": "0"}, "cutoff_every_minutes", "settings.err.range"),
    ],
)
def test_bad_billing_values(changes: dict[str, str], field: str, key: str) -> None:
    with pytest.raises(Invalid) as invalid:
        check_billing(replace(BILLING, **changes))
    assert errors_of(invalid) == {field: key}


def test_saved_billing_overrides_the_defaults_unless_it_is_bad() -> None:
    assert billing_from_saved({}) == DEFAULT_BILLING
    saved = billing_from_saved({"default_grace_days": 9, "run_at": "25:99", "notice_days": "x", "other": 1})
    assert saved == replace(DEFAULT_BILLING, default_grace_days=9)


def test_listeners_are_normalised_host_port_lists() -> None:
    values = check_listeners(ListenersForm("0.0.0.0:12000,  [::1]:9001 ; 127.0.0.1:12001", ""))
    assert values.tcp == ("0.0.0.0:12000", "[::1]:9001", "127.0.0.1:12001")
    assert values.udp == ()


@pytest.mark.parametrize(
    ("tcp", "key"),
    [("nowhere", "settings.err.endpoint"), ("0.0.0.0:0", "settings.err.endpoint"),
     ("0.0.0.0:70000", "settings.err.endpoint"), ("bad host!:12000", "settings.err.endpoint"),
     ("0.0.0.0:12000 0.0.0.0:12000", "settings.err.duplicate")],
)
def test_bad_listeners_name_the_item(tcp: str, key: str) -> None:
    with pytest.raises(Invalid) as invalid:
        check_listeners(ListenersForm(tcp, "0.0.0.0:12000"))
    assert errors_of(invalid) == {"tcp": key}


def test_a_serial_port_in_the_configuration_shape() -> None:
    port = check_serial(SerialForm("/dev/ttyUSB0", "19200", "7", "e", "1.5", "2m"))
    assert port == SerialPortConfig(device="/dev/ttyUSB0", baudrate=19200, bytesize=7, parity="E", stopbits=1.5,
                                    heartbeat_timeout=120)
    with pytest.raises(Invalid) as invalid:
        check_serial(SerialForm("/dev/tty USB0", "0", "9", "X", "3", "0s"))
    assert errors_of(invalid) == {
        "device": "settings.err.device", "baudrate": "settings.err.range", "bytesize": "settings.err.choice",
        "parity": "settings.err.choice", "stopbits": "settings.err.choice",
        "heartbeat_timeout": "settings.err.duration_range",
    }


def test_saved_receivers_replace_the_configured_ones_unless_bad() -> None:
    configured = ReceiverConfig(tcp=["0.0.0.0:12000"], udp=["0.0.0.0:12001"])
    serial = [{"device": "/dev/ttyS0", "baudrate": 9600}]
    running = receivers_from_saved({"tcp": ["127.0.0.1:9000"], "udp": ["nowhere"], "serial": serial}, configured)
    assert running.tcp == ["127.0.0.1:9000"]
    assert running.udp == ["0.0.0.0:12001"]
    assert [port.device for port in running.serial] == ["/dev/ttyS0"]
    assert receivers_from_saved({}, configured) == configured


ROUTER = RouterForm("Torre norte", "192.168.88.1", "", False, "centinela", "s3creto", "address-list", "morosos",
                    "aviso")


def test_a_router_passes_the_router_clients_own_rules() -> None:
    values = check_router(ROUTER, editing=False)
    assert (values.port, values.password, values.notice_list) == (None, "s3creto", "aviso")
    config = RouterConfig(values.name, values.host, values.port, values.tls, values.username, values.password or "",
                          values.method, values.list_name, values.notice_list)
    assert config.api_port == 8728


def test_an_empty_router_password_keeps_the_stored_one_when_editing() -> None:
    assert check_router(replace(ROUTER, password=""), editing=True).password is None
    assert check_router(replace(ROUTER, password=""), editing=False).password == ""


@pytest.mark.parametrize(
    ("changes", "field", "key"),
    [
        ({"name": " "}, "name", "settings.err.required"),
        ({"host": "router norte"}, "host", "settings.err.host"),
        ({"host": "-bad.example.com"}, "host", "settings.err.host"),
        ({"port": "70000"}, "port", "settings.err.range"),
        ({"username": "usuario€"}, "username", "settings.err.latin1"),
        ({"password": "clave€"}, "password", "settings.err.latin1"),
        ({"method": "ppp-secret"}, "notice_list", "settings.err.notice_ppp"),
        ({"notice_list": "morosos"}, "notice_list", "settings.err.notice_same"),
        ({"method": "firewall"}, "method", "settings.err.choice"),
    ],
)
def test_bad_router_values(changes: dict[str, str], field: str, key: str) -> None:
    with pytest.raises(Invalid) as invalid:
        check_router(replace(ROUTER, **changes), editing=False)
    assert errors_of(invalid) == {field: key}


def test_router_hosts_may_be_names_or_ip_addresses() -> None:
    for host in ("mikrotik.example.com", "10.0.0.1", "fe80::1", "router-1"):
        assert check_router(replace(ROUTER, host=host), editing=False).host == host


ODOO = OdooForm(True, "https://erp.example.com/", "company", "centinela@example.com", "key", "auto", "oca", "")


def test_an_enabled_odoo_connection_needs_every_field() -> None:
    values = check_odoo(ODOO, has_secret=False)
    assert (values.url, values.secret, values.mapping) == ("https://erp.example.com", "key", "oca")
    with pytest.raises(Invalid) as invalid:
        check_odoo(replace(ODOO, url="", database="", user="", secret=""), has_secret=False)
    assert errors_of(invalid) == {field: "settings.err.required" for field in ("url", "database", "user", "secret")}
    assert check_odoo(replace(ODOO, secret=""), has_secret=True).secret is None


def test_a_disabled_odoo_connection_may_be_empty_but_not_wrong() -> None:
    empty = OdooForm(False, "", "", "", "", "auto", "centinela", "")
    assert check_odoo(empty, has_secret=False).url == ""
    with pytest.raises(Invalid) as invalid:
        check_odoo(replace(empty, url="erp.example.com"), has_secret=False)
    assert errors_of(invalid) == {"url": "settings.err.url"}


def test_odoo_under_a_path_needs_json2() -> None:
    with pytest.raises(Invalid) as invalid:
        check_odoo(replace(ODOO, url="https://example.com/odoo"), has_secret=False)
    assert errors_of(invalid) == {"url": "settings.err.url_path"}
    assert check_odoo(replace(ODOO, url="https://example.com/odoo", transport="json2"), has_secret=False)


def test_saved_odoo_settings_over_the_configuration() -> None:
    configured = OdooConfig(enabled=True, url="https://a.example.com", database="a", user="u",
                            password=SecretStr("from-file"))
    values = odoo_from_saved({"url": "https://b.example.com", "transport": "json2", "mapping": "bogus"}, configured)
    assert (values.url, values.database, values.secret) == ("https://b.example.com", "a", "from-file")
    assert (values.transport, values.mapping) == ("json2", "centinela")
    assert odoo_from_saved({}, OdooConfig()).secret is None


def test_a_new_operator() -> None:
    new = check_new_operator(NewOperatorForm(" maria.p ", "", "admin", "largaclave", "largaclave"))
    assert (new.username, new.full_name, new.role) == ("maria.p", None, "admin")
    with pytest.raises(Invalid) as invalid:
        check_new_operator(NewOperatorForm("maría p", "M", "jefe", "corta", "otra"))
    assert errors_of(invalid) == {"username": "settings.err.username", "role": "settings.err.choice",
                                  "password": "settings.err.password_short",
                                  "password_again": "settings.err.password_mismatch"}


def test_a_password_reset_is_typed_twice() -> None:
    assert check_password_reset("nuevaclave", "nuevaclave") == "nuevaclave"
    with pytest.raises(Invalid) as invalid:
        check_password_reset("nuevaclave", "nuevaclavx")
    assert errors_of(invalid) == {"password_again": "settings.err.password_mismatch"}


OPERATORS = [Operator(1, "ana", None, "admin", True), Operator(2, "beto", None, "operator", True),
             Operator(3, "carla", None, "admin", False)]


@pytest.mark.parametrize(
    ("username", "change", "field", "key"),
    [
        ("ana", {"role": "operator"}, "role", "settings.err.last_admin"),
        ("ana", {"active": False}, "active", "settings.err.self_disable"),
        ("nadie", {"active": False}, "active", "settings.err.no_operator"),
    ],
)
def test_changes_that_would_lock_everyone_out(username: str, change: dict[str, object], field: str, key: str) -> None:
    with pytest.raises(Invalid) as invalid:
        check_operator_change(OPERATORS, "ana", username, **change)
    assert errors_of(invalid) == {field: key}


def test_another_admin_may_be_disabled_while_one_remains() -> None:
    team = [*OPERATORS, Operator(4, "dora", None, "admin", True)]
    check_operator_change(team, "ana", "dora", active=False)
    check_operator_change(team, "ana", "ana", role="operator")
    check_operator_change(OPERATORS, "ana", "beto", active=False)
    check_operator_change(OPERATORS, "ana", "carla", role="operator")  # already disabled: no admin lost
    with pytest.raises(Invalid):
        check_operator_change([*OPERATORS[:2]], "beto", "ana", active=False)
