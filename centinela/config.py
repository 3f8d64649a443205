"""Bootstrap configuration: one TOML file, found in a fixed order, every setting with a default.

Only what is needed before the store opens lives here (data folder, listeners, Odoo access, log
level, language). Settings that admins change from the console live in the store.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import platformdirs
import tomli_w
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

APP_NAME = "centinela"
ENV_CONFIG = "CENTINELA_CONFIG"
SYSTEM_CONFIG = Path("/etc/centinela/centinela.toml")
MASK = "********"


class ConfigError(Exception):
    """A configuration problem the user must fix; its message is shown as one line."""


def parse_endpoint(text: str) -> tuple[str, int]:
    """``"HOST:PORT"`` (``[v6]:PORT`` for IPv6) -> (host, port); port 0 asks the OS for one."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not HOST:PORT")
    host = host.strip("[]")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"{text!r}: port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{text!r}: port {port} is out of range")
    return host, port


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SerialPortConfig(_Section):
    """A hardware receiver (Sur-Gard MLR2 / System III / System 5) on an RS-232 port."""

    device: str
    baudrate: int = Field(default=9600, gt=0)
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Literal["N", "E", "O", "M", "S"] = "N"
    stopbits: Literal[1, 1.5, 2] = 1
    heartbeat_timeout: float = Field(default=90.0, gt=0, description="seconds of silence before 'link lost'")


class ReceiverConfig(_Section):
    tcp: list[str] = Field(default_factory=lambda: ["0.0.0.0:12000"])
    udp: list[str] = Field(default_factory=list)
    idle_timeout: float = Field(default=300.0, gt=0, description="seconds a silent TCP link stays open")
    supervision_interval: float = Field(default=30.0, gt=0, description="seconds between late-to-test sweeps")
    serial: list[SerialPortConfig] = Field(default_factory=list)

    @field_validator("tcp", "udp")
    @classmethod
    def _endpoints(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_endpoint(item)
        return value


class OdooConfig(_Section):
    enabled: bool = False
    url: str = ""
    database: str = ""
    user: str = ""
    password: SecretStr = SecretStr("")


class DemoConfig(_Section):
    panels: int = Field(default=6, ge=1, le=200)
    interval: float = Field(default=8.0, gt=0, description="mean seconds between signals of one panel")


class Config(_Section):
    data_dir: Path = Field(default_factory=lambda: platformdirs.user_data_path(APP_NAME))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    language: Literal["es", "en"] = "es"
    receiver: ReceiverConfig = Field(default_factory=ReceiverConfig)
    odoo: OdooConfig = Field(default_factory=OdooConfig)
    demo: DemoConfig = Field(default_factory=DemoConfig)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "centinela.db"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    config: Config
    source: Path | None
    """The file the settings came from; None when running on embedded defaults."""
    warnings: tuple[str, ...] = ()


def candidate_paths(explicit: Path | None, environ: dict[str, str]) -> list[tuple[Path, bool]]:
    """Places to look, in order, each with whether it must exist (it must when the user named it)."""
    if explicit is not None:
        return [(explicit, True)]
    if environ.get(ENV_CONFIG):
        return [(Path(environ[ENV_CONFIG]), True)]
    return [
        (SYSTEM_CONFIG, False),
        (platformdirs.user_config_path(APP_NAME) / "centinela.toml", False),
    ]


def load_config(explicit: Path | None = None, environ: dict[str, str] | None = None) -> LoadedConfig:
    environ = dict(os.environ) if environ is None else environ
    for path, required in candidate_paths(explicit, environ):
        if path.is_file():
            return _load_file(path)
        if required:
            raise ConfigError(f"configuration file not found: {path}")
    return LoadedConfig(Config(), None)


def _load_file(path: Path) -> LoadedConfig:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None
    warnings = tuple(_permission_warnings(path, config))
    return LoadedConfig(config, path, warnings)


def has_secrets(config: Config) -> bool:
    return bool(config.odoo.password.get_secret_value())


def _permission_warnings(path: Path, config: Config) -> list[str]:
    if not has_secrets(config):
        return []
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return [f"{path} holds secrets but is readable by others (mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}"]
    return []


def masked_dict(config: Config) -> dict[str, Any]:
    """The effective configuration as plain data, secrets replaced by a mask (empty ones stay empty)."""
    data = config.model_dump(mode="json")
    if config.odoo.password.get_secret_value():
        data["odoo"]["password"] = MASK
    else:
        data["odoo"]["password"] = ""
    return data


def render_toml(config: Config) -> str:
    return tomli_w.dumps(masked_dict(config))
