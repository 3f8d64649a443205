"""What an admin may type on the settings screens: pure checks from form text to values to save.

Every ``check_*`` function takes a form (the fields as typed) and returns the values to store, or
raises :class:`Invalid` with one :class:`FieldError` per bad field. An error names a key of the
console's text catalogue (``tui/texts.py``) and the values its text needs, so the screen can show
it next to the field in the operator's language. Nothing here touches the store, the network or
files; the checks that need them (decoding a sound, the last active admin in the store, a router's
answer) happen at the edges, after these.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import time
from typing import Any, Literal, TypeVar, get_args
from urllib.parse import urlsplit

from centinela.billing.router import Method
from centinela.data.odoo_gateway import Transport
from centinela.data.operators import MIN_PASSWORD, ROLES, Operator, Role
from centinela.data.records import PriorityRow
from centinela.receiver.catalog import PRIORITY_LEVELS, lookup
from rich.color import ANSI_COLOR_NAMES

from centinela.config import OdooConfig, ReceiverConfig, SerialPortConfig, parse_endpoint
from centinela.durations import parse_duration

NAME_MAX = 40
TEXT_MAX = 200
DAYS_MAX = 365
REMINDER_MIN_S = 10
REMINDER_MAX_S = 24 * 3600
CUTOFF_EVERY_MAX_MIN = 24 * 60
HEARTBEAT_MAX_S = 24 * 3600

OverrideFamily = Literal["cid", "sia"]
OVERRIDE_FAMILIES: tuple[OverrideFamily, ...] = get_args(OverrideFamily)
ROUTER_METHODS: tuple[Method, ...] = get_args(Method)
ODOO_TRANSPORTS: tuple[Transport, ...] = get_args(Transport)
ContractMapping = Literal["centinela", "oca", "enterprise"]
CONTRACT_MAPPINGS: tuple[ContractMapping, ...] = get_args(ContractMapping)
BAUD_RATES: tuple[int, ...] = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
PARITIES: tuple[str, ...] = ("N", "E", "O", "M", "S")
BYTE_SIZES: tuple[int, ...] = (5, 6, 7, 8)
STOP_BITS: tuple[float, ...] = (1, 1.5, 2)

_HHMM = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
_HEX_COLOUR = re.compile(r"^#[0-9a-f]{6}$")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.IGNORECASE)
_ENDPOINT_SEPARATORS = re.compile(r"[\s,;]+")

_Choice = TypeVar("_Choice")


@dataclass(frozen=True, slots=True)
class FieldError:
    """A bad value: ``field`` names the form field, ``key`` the catalogue text that says why."""

    field: str
    key: str
    values: tuple[tuple[str, object], ...] = ()

    def text_values(self) -> dict[str, object]:
        return dict(self.values)


class Invalid(ValueError):
    """A form with bad values; nothing of it may be saved."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__("; ".join(f"{error.field}: {error.key}" for error in errors))
        self.errors: tuple[FieldError, ...] = tuple(errors)

    def fields(self) -> frozenset[str]:
        return frozenset(error.field for error in self.errors)


class _Errors:
    """Collects every bad field of a form, so the admin sees them all at once."""

    def __init__(self) -> None:
        self._errors: list[FieldError] = []

    def add(self, field: str, key: str, **values: object) -> None:
        if not any(error.field == field for error in self._errors):  # the first problem of a field is enough
            self._errors.append(FieldError(field, key, tuple(values.items())))

    def raise_if_any(self) -> None:
        if self._errors:
            raise Invalid(self._errors)

    def text(self, field: str, value: str, *, required: bool = True, max_len: int = NAME_MAX) -> str:
        value = value.strip()
        if not value:
            if required:
                self.add(field, "settings.err.required")
        elif len(value) > max_len:
            self.add(field, "settings.err.too_long", max=max_len)
        elif any(not char.isprintable() for char in value):
            self.add(field, "settings.err.control")
        return value

    def integer(self, field: str, value: str, low: int, high: int) -> int:
        try:
            number = int(value.strip())
        except ValueError:
            self.add(field, "settings.err.integer" if value.strip() else "settings.err.required")
            return low
        if not low <= number <= high:
            self.add(field, "settings.err.range", low=low, high=high)
        return number

    def choice(self, field: str, value: object, allowed: Sequence[_Choice]) -> _Choice:
        if value in allowed:
            return value  # type: ignore[return-value]  # found among ``allowed``
        self.add(field, "settings.err.choice")
        return allowed[0]


# -- priorities ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriorityForm:
    level: int
    name_es: str
    name_en: str
    colour: str
    requires_ack: bool
    sound: str
    reminder_sound: str
    reminder_interval: str


def check_priority(form: PriorityForm) -> PriorityRow:
    errors = _Errors()
    level = errors.choice("level", form.level, PRIORITY_LEVELS)
    name_es = errors.text("name_es", form.name_es)
    name_en = errors.text("name_en", form.name_en)
    colour = normalize_colour(form.colour)
    if colour is None:
        errors.add("colour", "settings.err.colour")
    sound = errors.text("sound", form.sound, required=False, max_len=TEXT_MAX) or None
    reminder = errors.text("reminder_sound", form.reminder_sound, required=False, max_len=TEXT_MAX) or None
    interval: int | None = None
    if form.reminder_interval.strip():
        interval = parse_interval(form.reminder_interval)
        if interval is None:
            errors.add("reminder_interval", "settings.err.duration")
        elif not REMINDER_MIN_S <= interval <= REMINDER_MAX_S:
            errors.add("reminder_interval", "settings.err.duration_range", low="10s", high="24h")
    if reminder and not form.reminder_interval.strip():
        errors.add("reminder_interval", "settings.err.reminder_needs_interval")
    if not reminder and form.reminder_interval.strip():
        errors.add("reminder_sound", "settings.err.interval_needs_reminder")
    errors.raise_if_any()
    assert colour is not None
    return PriorityRow(level, name_es, name_en, colour, form.requires_ack, sound, reminder, interval)


def normalize_colour(text: str) -> str | None:
    """``#rrggbb`` or one of Rich's colour names, in lower case; ``None`` for anything else."""
    colour = text.strip().lower()
    if _HEX_COLOUR.match(colour) or colour in ANSI_COLOR_NAMES:
        return colour
    return None


def parse_interval(text: str) -> int | None:
    """Seconds from ``"300"`` (seconds) or a duration such as ``"90s"``, ``"5m"``, ``"1h"``."""
    text = text.strip().lower()
    if text.isdigit():
        return int(text)
    try:
        return int(parse_duration(text).total_seconds())
    except ValueError:
        return None


# -- event-code overrides -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OverrideForm:
    family: str
    code: str
    priority: int | None


@dataclass(frozen=True, slots=True)
class CodeOverride:
    family: OverrideFamily
    code: str
    priority: int


def check_override(form: OverrideForm) -> CodeOverride:
    errors = _Errors()
    family = errors.choice("family", form.family, OVERRIDE_FAMILIES)
    code = form.code.strip().upper()
    if not code:
        errors.add("code", "settings.err.required")
    elif lookup(family, code) is None:
        errors.add("code", "settings.err.code_unknown", code=code, family=family.upper())
    level = errors.choice("priority", form.priority, PRIORITY_LEVELS)
    errors.raise_if_any()
    return CodeOverride(family, code, level)


# -- billing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BillingForm:
    default_grace_days: str
    payment_terms_days: str
    notice_days: str
    run_at: str
    cutoff_every_minutes: str


@dataclass(frozen=True, slots=True)
class BillingValues:
    """Stored under ``billing.<field name>``."""

    default_grace_days: int
    payment_terms_days: int
    notice_days: int
    run_at: str  # "HH:MM", local time of the daily billing run
    cutoff_every_minutes: int


DEFAULT_BILLING = BillingValues(
    default_grace_days=5,
    payment_terms_days=10,
    notice_days=3,
    run_at="06:00",
    cutoff_every_minutes=60,
)
"""What billing runs with while no admin has saved its settings."""


def check_billing(form: BillingForm) -> BillingValues:
    errors = _Errors()
    grace = errors.integer("default_grace_days", form.default_grace_days, 0, DAYS_MAX)
    terms = errors.integer("payment_terms_days", form.payment_terms_days, 0, DAYS_MAX)
    notice = errors.integer("notice_days", form.notice_days, 0, DAYS_MAX)
    run_at = parse_hhmm(form.run_at)
    if run_at is None:
        errors.add("run_at", "settings.err.hhmm")
    every = errors.integer("cutoff_every_minutes", form.cutoff_every_minutes, 1, CUTOFF_EVERY_MAX_MIN)
    errors.raise_if_any()
    assert run_at is not None
    return BillingValues(grace, terms, notice, run_at.strftime("%H:%M"), every)


def billing_from_saved(saved: Mapping[str, Any], rejected: Callable[[str, object], None] | None = None) -> BillingValues:
    """What billing runs with: the saved ``billing.*`` settings (keys without the prefix, as
    ``data.settings.settings_with_prefix`` gives them) over :data:`DEFAULT_BILLING`. The one
    reading of them, for the worker and the settings screen alike: a saved value that would not
    pass :func:`check_billing` gives way to its default (``rejected`` hears of each)."""
    defaults = asdict(DEFAULT_BILLING)
    typed = {name: str(saved.get(name, default)) for name, default in defaults.items()}
    try:
        return check_billing(BillingForm(**typed))
    except Invalid as invalid:
        for name in sorted(invalid.fields()):
            if rejected is not None:
                rejected(name, saved.get(name))
            typed[name] = str(defaults[name])
        return check_billing(BillingForm(**typed))


def parse_hhmm(text: str) -> time | None:
    found = _HHMM.match(text)
    if found is None:
        return None
    hour, minute = int(found[1]), int(found[2])
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


# -- receivers ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListenersForm:
    tcp: str
    udp: str


@dataclass(frozen=True, slots=True)
class ListenerValues:
    """Stored as ``receiver.tcp`` and ``receiver.udp``: lists of ``HOST:PORT``."""

    tcp: tuple[str, ...]
    udp: tuple[str, ...]


def check_listeners(form: ListenersForm) -> ListenerValues:
    errors = _Errors()
    tcp = _endpoints(errors, "tcp", form.tcp)
    udp = _endpoints(errors, "udp", form.udp)
    errors.raise_if_any()
    return ListenerValues(tcp, udp)


def receivers_from_saved(saved: Mapping[str, Any], defaults: ReceiverConfig) -> ReceiverConfig:
    """The receivers to run: the saved ``receiver.tcp``/``udp``/``serial`` settings (keys without
    the prefix) over the bootstrap configuration's; a saved list that does not validate gives way
    to the configured one."""
    update: dict[str, Any] = {}
    for name in ("tcp", "udp", "serial"):
        if name in saved:
            try:
                update[name] = getattr(ReceiverConfig.model_validate({name: saved[name]}), name)
            except ValueError:  # pydantic's ValidationError included
                continue
    return defaults.model_copy(update=update)


def split_endpoints(text: str) -> list[str]:
    return [item for item in _ENDPOINT_SEPARATORS.split(text.strip()) if item]


def _endpoints(errors: _Errors, field: str, text: str) -> tuple[str, ...]:
    found: list[str] = []
    for item in split_endpoints(text):
        try:
            host, port = parse_endpoint(item)
        except ValueError:
            errors.add(field, "settings.err.endpoint", item=item)
            continue
        if port == 0 or not _valid_host(host):
            errors.add(field, "settings.err.endpoint", item=item)
            continue
        endpoint = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if endpoint in found:
            errors.add(field, "settings.err.duplicate", item=endpoint)
        found.append(endpoint)
    return tuple(found)


@dataclass(frozen=True, slots=True)
class SerialForm:
    device: str
    baudrate: str
    bytesize: str
    parity: str
    stopbits: str
    heartbeat_timeout: str


def check_serial(form: SerialForm) -> SerialPortConfig:
    """One entry of ``receiver.serial``, in the shape the bootstrap configuration uses."""
    errors = _Errors()
    device = errors.text("device", form.device, max_len=TEXT_MAX)
    if device and any(char.isspace() for char in device):
        errors.add("device", "settings.err.device")
    baudrate = errors.integer("baudrate", form.baudrate, 1, 4_000_000)
    bytesize = errors.choice("bytesize", _number(form.bytesize), BYTE_SIZES)
    parity = errors.choice("parity", form.parity.strip().upper(), PARITIES)
    stopbits = errors.choice("stopbits", _number(form.stopbits), STOP_BITS)
    heartbeat = parse_interval(form.heartbeat_timeout)
    if heartbeat is None:
        errors.add("heartbeat_timeout", "settings.err.duration")
    elif not 1 <= heartbeat <= HEARTBEAT_MAX_S:
        errors.add("heartbeat_timeout", "settings.err.duration_range", low="1s", high="24h")
    errors.raise_if_any()
    return SerialPortConfig.model_validate({
        "device": device, "baudrate": baudrate, "bytesize": bytesize, "parity": parity, "stopbits": stopbits,
        "heartbeat_timeout": heartbeat,
    })


def _number(text: str) -> float | None:
    try:
        number = float(text.strip().replace(",", "."))
    except ValueError:
        return None
    return int(number) if number.is_integer() else number


# -- routers ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouterForm:
    name: str
    host: str
    port: str
    tls: bool
    username: str
    password: str
    method: str
    list_name: str
    notice_list: str


@dataclass(frozen=True, slots=True)
class RouterValues:
    """A row of the ``routers`` table; ``password`` None keeps the stored one."""

    name: str
    host: str
    port: int | None
    tls: bool
    username: str
    password: str | None
    method: Method
    list_name: str
    notice_list: str | None


def check_router(form: RouterForm, *, editing: bool) -> RouterValues:
    """``editing`` an existing router: an empty password keeps the stored one. A new router may
    have an empty password (RouterOS allows it)."""
    errors = _Errors()
    name = errors.text("name", form.name)
    host = errors.text("host", form.host, max_len=253)
    if host and not _valid_host(host):
        errors.add("host", "settings.err.host")
    port = errors.integer("port", form.port, 1, 65535) if form.port.strip() else None
    username = _latin1(errors, "username", errors.text("username", form.username))
    password: str | None = form.password if form.password or not editing else None
    if password is not None and not _is_latin1(password):
        errors.add("password", "settings.err.latin1")
    method = errors.choice("method", form.method, ROUTER_METHODS)
    list_name = _latin1(errors, "list_name", errors.text("list_name", form.list_name))
    notice = _latin1(errors, "notice_list", errors.text("notice_list", form.notice_list, required=False)) or None
    if notice is not None and method == "ppp-secret":
        errors.add("notice_list", "settings.err.notice_ppp")
    elif notice is not None and notice == list_name:
        errors.add("notice_list", "settings.err.notice_same")
    errors.raise_if_any()
    return RouterValues(name, host, port, form.tls, username, password, method, list_name, notice)


def _latin1(errors: _Errors, field: str, value: str) -> str:
    if not _is_latin1(value):
        errors.add(field, "settings.err.latin1")
    return value


def _is_latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _valid_host(host: str) -> bool:
    """An IP address or a DNS host name (RFC 1123 labels)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.rstrip(".").split(".")
        return bool(host) and len(host) <= 253 and all(_HOST_LABEL.match(label) for label in labels)
    return True


# -- Odoo ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OdooForm:
    enabled: bool
    url: str
    database: str
    user: str
    secret: str
    transport: str
    mapping: str
    fsm_project: str


@dataclass(frozen=True, slots=True)
class OdooValues:
    """Stored under ``odoo.<field name>``; ``secret`` None keeps the stored one."""

    enabled: bool
    url: str
    database: str
    user: str
    secret: str | None
    transport: Transport
    mapping: ContractMapping
    fsm_project: str


def check_odoo(form: OdooForm, *, has_secret: bool) -> OdooValues:
    """With ``enabled`` every connection field is needed; a disabled connection may be half
    filled in, but what is there must still be well formed."""
    errors = _Errors()
    url = errors.text("url", form.url, required=form.enabled, max_len=TEXT_MAX).rstrip("/")
    transport = errors.choice("transport", form.transport, ODOO_TRANSPORTS)
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            errors.add("url", "settings.err.url")
        elif parts.path.strip("/") and transport != "json2":
            # odoorpc (the JSON-RPC transport, and "auto" on Odoo 18) reaches a server's root only.
            errors.add("url", "settings.err.url_path")
    database = errors.text("database", form.database, required=form.enabled, max_len=TEXT_MAX)
    user = errors.text("user", form.user, required=form.enabled, max_len=TEXT_MAX)
    secret = form.secret or None
    if form.enabled and secret is None and not has_secret:
        errors.add("secret", "settings.err.required")
    mapping = errors.choice("mapping", form.mapping, CONTRACT_MAPPINGS)
    fsm_project = errors.text("fsm_project", form.fsm_project, required=False, max_len=TEXT_MAX)
    errors.raise_if_any()
    return OdooValues(form.enabled, url, database, user, secret, transport, mapping, fsm_project)


def odoo_from_saved(saved: Mapping[str, Any], defaults: OdooConfig) -> OdooValues:
    """The Odoo connection to use: the saved ``odoo.*`` settings (keys without the prefix) over
    the bootstrap configuration's ``[odoo]``; ``secret`` is None when neither has one."""
    transport = saved.get("transport")
    mapping = saved.get("mapping")
    return OdooValues(
        enabled=bool(saved.get("enabled", defaults.enabled)),
        url=str(saved.get("url", defaults.url)),
        database=str(saved.get("database", defaults.database)),
        user=str(saved.get("user", defaults.user)),
        secret=str(saved.get("secret") or defaults.password.get_secret_value()) or None,
        transport=transport if transport in ODOO_TRANSPORTS else "auto",
        mapping=mapping if mapping in CONTRACT_MAPPINGS else "centinela",
        fsm_project=str(saved.get("fsm_project", "")),
    )


# -- operators ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewOperatorForm:
    username: str
    full_name: str
    role: str
    password: str
    password_again: str


@dataclass(frozen=True, slots=True)
class NewOperator:
    username: str
    full_name: str | None
    role: Role
    password: str


def check_new_operator(form: NewOperatorForm) -> NewOperator:
    errors = _Errors()
    username = errors.text("username", form.username)
    # The rule data.operators.add_operator enforces, checked here to say it in the admin's language.
    if username and not username.replace(".", "").replace("-", "").replace("_", "").isalnum():
        errors.add("username", "settings.err.username")
    full_name = errors.text("full_name", form.full_name, required=False, max_len=TEXT_MAX) or None
    role = errors.choice("role", form.role, ROLES)
    _check_passwords(errors, form.password, form.password_again)
    errors.raise_if_any()
    return NewOperator(username, full_name, role, form.password)


def check_password_reset(password: str, password_again: str) -> str:
    errors = _Errors()
    _check_passwords(errors, password, password_again)
    errors.raise_if_any()
    return password


def _check_passwords(errors: _Errors, password: str, again: str) -> None:
    if len(password) < MIN_PASSWORD:
        errors.add("password", "settings.err.password_short", min=MIN_PASSWORD)
    if password != again:
        errors.add("password_again", "settings.err.password_mismatch")


def check_operator_change(
    operators: Sequence[Operator], actor: str, username: str, *, active: bool | None = None, role: Role | None = None
) -> None:
    """Refuse what would lock everyone out: disabling oneself, or disabling or demoting the last
    active admin (``operators`` as last read; the store enforces the latter again on write)."""
    errors = _Errors()
    target = next((operator for operator in operators if operator.username == username), None)
    field = "role" if role is not None else "active"
    if role is not None and role not in ROLES:
        errors.add("role", "settings.err.choice")
    if target is None:
        errors.add(field, "settings.err.no_operator", user=username)
    elif active is False and username == actor:
        errors.add("active", "settings.err.self_disable")
    elif target.is_admin and target.active and (active is False or (role is not None and role != "admin")):
        others = [op for op in operators if op.is_admin and op.active and op.username != username]
        if not others:
            errors.add(field, "settings.err.last_admin")
    errors.raise_if_any()
