"""Logging set-up. In the console nothing may reach stderr: Textual draws the screen there."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from centinela.config import Config

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(config: Config, *, to_stderr: bool) -> Path:
    config.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    log_file = config.log_dir / "centinela.log"
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(config.log_level)
    file_handler = logging.handlers.RotatingFileHandler(log_file, maxBytes=10_000_000, backupCount=5, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(file_handler)
    if to_stderr:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(stream)
    logging.captureWarnings(True)
    return log_file
