"""Start the operator console: logging to a file, then the Textual app hosting the runtime."""

from __future__ import annotations

import os
import sys

from centinela.collector import tune_collector
from centinela.config import Config
from centinela.logs import setup_logging
from centinela.runtime import Runtime


def run_console(config: Config, *, demo: bool, fixed_listeners: bool = False) -> int:
    # Under `centinela serve` the browser is the terminal: textual-serve names the driver.
    if not sys.stdout.isatty() and "TEXTUAL_DRIVER" not in os.environ:
        print("centinela: error: the console needs a terminal; use --headless for a service", file=sys.stderr)
        return 2
    setup_logging(config, to_stderr=False)
    from centinela.data.event_writer import start_fork_server
    from centinela.tui.app import CentinelaApp
    from centinela.tui.texts import Texts

    texts = Texts(config.language)
    app = CentinelaApp(Runtime(config, demo=demo, fixed_listeners=fixed_listeners), login_hint=texts("login.demo_hint") if demo else None)
    start_fork_server()  # while stderr is still the terminal's
    tune_collector()
    app.run()
    return app.return_code or 0
