"""``centinela operators``: create the first admin and manage operators from the shell."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

from centinela.account_commands import shell_actor
from centinela.config import Config
from centinela.data import operators
from centinela.data.audit import audit
from centinela.data.store import Store


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("operators", parents=[common], help="console operators and roles")
    actions = parser.add_subparsers(dest="operators_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", parents=[common], help="add an operator (the first one should be an admin)")
    add.add_argument("username")
    add.add_argument("--role", choices=operators.ROLES, default="operator")
    add.add_argument("--name", help="full name")
    add.add_argument("--password-env", metavar="VAR", help="read the password from this environment variable")
    actions.add_parser("list", parents=[common], help="list operators")
    for name, text in (("disable", "stop an operator from logging in"), ("enable", "let an operator log in again")):
        sub = actions.add_parser(name, parents=[common], help=text)
        sub.add_argument("username")
    passwd = actions.add_parser("passwd", parents=[common], help="set an operator's password")
    passwd.add_argument("username")
    passwd.add_argument("--password-env", metavar="VAR", help="read the password from this environment variable")
    role = actions.add_parser("role", parents=[common], help="change an operator's role")
    role.add_argument("username")
    role.add_argument("role", choices=operators.ROLES)


def _password(env: str | None) -> str:
    if env:
        value = os.environ.get(env)
        if not value:
            raise operators.OperatorError(f"environment variable {env} is not set")
        return value
    if not sys.stdin.isatty():
        raise operators.OperatorError("no terminal to ask for the password: use --password-env VAR")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise operators.OperatorError("the passwords do not match")
    return first


def dispatch(args: argparse.Namespace, config: Config) -> int:
    password = _password(args.password_env) if args.operators_command in ("add", "passwd") else ""
    return asyncio.run(_run(args, config, password))


async def _run(args: argparse.Namespace, config: Config, password: str) -> int:
    store = await Store.open(config.data_dir)
    try:
        if args.operators_command == "list":
            for operator in await operators.list_operators(store.reader):
                state = "" if operator.active else "  (disabled)"
                print(f"{operator.username:<20} {operator.role:<9} {operator.full_name or ''}{state}")
            return 0
        actor = shell_actor()
        async with store.transaction() as db:
            command = args.operators_command
            if command == "add":
                operator = await operators.add_operator(db, args.username, password, role=args.role, full_name=args.name)
                await audit(db, actor, "operator.add", "operator", operator.username, {"role": operator.role})
                print(f"operator {operator.username} added ({operator.role})")
            elif command in ("disable", "enable"):
                await operators.set_active(db, args.username, command == "enable")
                await audit(db, actor, f"operator.{command}", "operator", args.username)
                print(f"operator {args.username} {command}d")
            elif command == "passwd":
                await operators.set_password(db, args.username, password)
                await audit(db, actor, "operator.password", "operator", args.username)
                print(f"password of {args.username} changed")
            elif command == "role":
                await operators.set_role(db, args.username, args.role)
                await audit(db, actor, "operator.role", "operator", args.username, {"role": args.role})
                print(f"operator {args.username} is now {args.role}")
        return 0
    finally:
        await store.close()
