from __future__ import annotations

from pathlib import Path

import pytest

from centinela.config import MASK, Config, ConfigError, load_config, masked_dict, parse_endpoint, render_toml


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_defaults_without_any_file(isolated_home: Path) -> None:
    loaded = load_config(environ={})
    assert loaded.source is None
    assert loaded.config.receiver.tcp == ["0.0.0.0:12000"]
    assert loaded.config.odoo.enabled is False
    assert loaded.config.language == "es"
    # platformdirs honours XDG_DATA_HOME, which the fixture points into the temporary home
    assert loaded.config.data_dir == isolated_home / ".local" / "share" / "centinela"


def test_explicit_path_wins_over_environment(tmp_path: Path) -> None:
    explicit = write(tmp_path / "a.toml", 'language = "en"\n')
    env_file = write(tmp_path / "b.toml", 'language = "es"\n')
    loaded = load_config(explicit, environ={"CENTINELA_CONFIG": str(env_file)})
    assert loaded.source == explicit
    assert loaded.config.language == "en"


def test_environment_variable_is_used(tmp_path: Path) -> None:
    env_file = write(tmp_path / "b.toml", '[receiver]\ntcp = ["127.0.0.1:9000", "[::1]:9001"]\n')
    loaded = load_config(environ={"CENTINELA_CONFIG": str(env_file)})
    assert loaded.config.receiver.tcp == ["127.0.0.1:9000", "[::1]:9001"]


def test_user_config_path_is_found(isolated_home: Path) -> None:
    user_file = isolated_home / ".config" / "centinela" / "centinela.toml"
    user_file.parent.mkdir(parents=True)
    write(user_file, 'log_level = "DEBUG"\n')
    loaded = load_config(environ={})
    assert loaded.source == user_file
    assert loaded.config.log_level == "DEBUG"


def test_named_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml", environ={})
    with pytest.raises(ConfigError, match="not found"):
        load_config(environ={"CENTINELA_CONFIG": str(tmp_path / "missing.toml")})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("language = \n", "invalid TOML"),
        ('language = "fr"\n', "language"),
        ("[receiver]\ntcp = [\"nowhere\"]\n", "receiver.tcp"),
        ("[receiver]\ntcp = [\"host:99999\"]\n", "out of range"),
        ("colour = 1\n", "colour"),
    ],
)
def test_invalid_files_give_one_clear_message(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_config(write(tmp_path / "c.toml", text), environ={})
    assert "\n" not in str(info.value)


def test_secrets_are_masked_and_permissions_checked(tmp_path: Path) -> None:
    text = '[odoo]\nenabled = true\nurl = "https://erp.example"\npassword = "s3cret"\n'
    private = load_config(write(tmp_path / "p.toml", text, 0o600), environ={})
    assert private.warnings == ()
    shown = render_toml(private.config)
    assert "s3cret" not in shown and MASK in shown
    assert private.config.odoo.password.get_secret_value() == "s3cret"

    shared = load_config(write(tmp_path / "s.toml", text, 0o644), environ={})
    assert len(shared.warnings) == 1 and "chmod 600" in shared.warnings[0]


def test_file_without_secrets_may_be_world_readable(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path / "p.toml", 'language = "en"\n', 0o644), environ={})
    assert loaded.warnings == ()
    assert masked_dict(Config())["odoo"]["password"] == ""


def test_parse_endpoint() -> None:
    assert parse_endpoint("0.0.0.0:12000") == ("0.0.0.0", 12000)
    assert parse_endpoint("[::1]:0") == ("::1", 0)
    for bad in ("12000", ":12000", "host:port"):
        with pytest.raises(ValueError):
            parse_endpoint(bad)
