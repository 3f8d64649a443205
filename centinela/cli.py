"""Command line: the console (default), headless service, and scriptable subcommands.

Errors are one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from centinela import __version__, billing_commands, operator_commands, serve, sync_commands
from centinela.config import Config, ConfigError, LoadedConfig, load_config, parse_endpoint, render_toml
from centinela.data.accounts import AccountError
from centinela.data.migrate import SchemaTooNewError
from centinela.data.operators import OperatorError
from centinela.durations import parse_duration
from centinela.data.store import StoreError



class UsageError(Exception):
    pass


def _endpoint(text: str) -> str:
    try:
        parse_endpoint(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _duration(text: str) -> int:
    try:
        return int(parse_duration(text).total_seconds())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _since(text: str) -> datetime:
    """``30m``, ``2h``, ``1d`` ago, or an ISO date/time (local time when no zone is given)."""
    try:
        return datetime.now().astimezone() - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time (use e.g. 30m, 2h, 1d or 2026-11-29T08:00)") from None
    return moment if moment.tzinfo else moment.astimezone()


def _common_options(default: object) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False, argument_default=default)
    common.add_argument("--config", type=Path, metavar="PATH", help="configuration file (TOML)")
    common.add_argument("--data-dir", type=Path, metavar="DIR", help="data folder (overrides the configuration)")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="centinela", parents=[_common_options(None)],
        description="Alarm monitoring console and internet-service billing.",
    )
    # Subcommands accept the common options too ("centinela events --data-dir X"); there they
    # default to SUPPRESS so they do not overwrite a value given before the subcommand.
    common = _common_options(argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version=f"centinela {__version__}")
    parser.add_argument("--tcp", action="append", type=_endpoint, metavar="HOST:PORT",
                        help="listen for SIA DC-09 over TCP (repeatable; replaces the configured list)")
    parser.add_argument("--udp", action="append", type=_endpoint, metavar="HOST:PORT",
                        help="listen for SIA DC-09 over UDP (repeatable; replaces the configured list)")
    parser.add_argument("--demo", action="store_true", help="add demo customers and simulated panels")
    parser.add_argument("--headless", action="store_true", help="run receiver and workers without the console")

    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    events = commands.add_parser("events", parents=[common], help="list stored events, newest first")
    events.add_argument("--json", action="store_true", help="one JSON object per line")
    events.add_argument("--limit", type=int, default=50, help="how many events (default 50)")
    events.add_argument("--since", type=_since, metavar="TIME", help="only events received since TIME")

    accounts = commands.add_parser("accounts", parents=[common], help="monitored alarm accounts")
    account_commands = accounts.add_subparsers(dest="accounts_command", metavar="ACTION", required=True)
    account_set = account_commands.add_parser("set", parents=[common], help="create or update an account")
    account_set.add_argument("account", help="account number (hex, up to 16 characters)")
    account_set.add_argument("--receiver", help="receiver number (omit to match any)")
    account_set.add_argument("--line", help="line number (omit to match any)")
    key = account_set.add_mutually_exclusive_group()
    key.add_argument("--key", metavar="HEX", help="AES key for encrypted DC-09 (128/192/256-bit hex)")
    key.add_argument("--key-env", metavar="VAR", help="read the AES key from this environment variable")
    key.add_argument("--clear-key", action="store_true", help="remove the account's AES key")
    account_set.add_argument("--test-interval", type=_duration, metavar="DURATION",
                             help="expected time between tests, e.g. 24h or 5m (0s disables supervision)")
    account_list = account_commands.add_parser("list", parents=[common], help="list accounts (keys masked)")
    account_list.add_argument("--json", action="store_true", help="one JSON object per line")

    operator_commands.register(commands, common)
    sync_commands.register(commands, common)
    billing_commands.register(commands, common)
    serve.register(commands, common)

    db = commands.add_parser("db", parents=[common], help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_commands.add_parser("migrate", parents=[common], help="apply pending schema migrations")

    config = commands.add_parser("config", parents=[common], help="configuration")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    config_commands.add_parser("show", parents=[common], help="print the effective configuration (secrets masked)")
    return parser


def effective_config(args: argparse.Namespace) -> LoadedConfig:
    loaded = load_config(args.config)
    config: Config = loaded.config
    updates: dict[str, object] = {}
    if args.data_dir is not None:
        updates["data_dir"] = args.data_dir.expanduser()
    receiver_updates: dict[str, object] = {}
    if getattr(args, "tcp", None):
        receiver_updates["tcp"] = args.tcp
    if getattr(args, "udp", None):
        receiver_updates["udp"] = args.udp
    if receiver_updates:
        updates["receiver"] = config.receiver.model_copy(update=receiver_updates)
    if updates:
        config = config.model_copy(update=updates)
    return LoadedConfig(config, loaded.source, loaded.warnings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        loaded = effective_config(args)
        for warning in loaded.warnings:
            print(f"centinela: warning: {warning}", file=sys.stderr)
        return _dispatch(args, loaded)
    except (ConfigError, StoreError, SchemaTooNewError, UsageError, AccountError, OperatorError) as exc:
        print(f"centinela: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error) as exc:
        print(f"centinela: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    config = loaded.config
    if args.command == "config":
        source = loaded.source or "embedded defaults"
        print(f"# effective configuration (from {source})")
        print(render_toml(config), end="")
        return 0
    if args.command == "db":
        from centinela.commands import migrate_database

        return asyncio.run(migrate_database(config))
    if args.command in billing_commands.COMMANDS:
        return billing_commands.dispatch(args, config)
    if args.command == "sync":
        return sync_commands.dispatch(args, config)
    if args.command == "serve":
        return serve.dispatch(args, loaded)
    if args.command == "operators":
        return operator_commands.dispatch(args, config)
    if args.command == "accounts":
        from centinela import account_commands

        if args.accounts_command == "list":
            return asyncio.run(account_commands.list_accounts(config, as_json=args.json))
        return asyncio.run(account_commands.set_account(config, args))
    if args.command == "events":
        from centinela.commands import list_events

        if args.limit < 1:
            raise UsageError("--limit must be at least 1")
        return asyncio.run(list_events(config, limit=args.limit, since=args.since, as_json=args.json))
    if args.headless:
        from centinela.headless import run_headless

        return run_headless(config, demo=args.demo, fixed_listeners=bool(args.tcp or args.udp))
    from centinela.console import run_console

    return run_console(config, demo=args.demo, fixed_listeners=bool(args.tcp or args.udp))


