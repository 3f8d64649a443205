"""``centinela serve``: the same console in a browser (textual-serve), e.g. for a wall screen.

Every browser connection starts its own console process on the same data folder, so each viewer
logs in and attaches like another SSH operator; the receiver stays with whichever process owns it.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from centinela.config import Config, LoadedConfig


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    serve = commands.add_parser("serve", parents=[common], help="publish the console on a local HTTP port")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--public-url", help="URL the browser uses when behind a proxy")


def console_command(loaded: LoadedConfig, config: Config) -> str:
    """The command each browser session runs: this Python, this configuration, this data folder."""
    parts = [sys.executable, "-m", "centinela", "--data-dir", str(config.data_dir)]
    if loaded.source is not None:
        parts[3:3] = ["--config", str(loaded.source)]
    return shlex.join(parts)


def dispatch(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from textual_serve.server import Server

    server = Server(console_command(loaded, loaded.config), host=args.host, port=args.port, title="Centinela",
                    public_url=args.public_url)
    print(f"Centinela console at http://{args.host}:{args.port} (Ctrl-C stops)", file=sys.stderr)
    server.serve()
    return 0
