"""The command line as a user runs it: a real process, its output and exit status."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from centinela.data.timeutil import utcnow
from centinela.receiver.dc09 import build_frame

from tests.helpers import centinela, free_port, wait_for_port


def send_frames(port: int, frames: list[bytes]) -> list[bytes]:
    replies = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for frame in frames:
            sock.sendall(frame)
            reply = b""
            while not reply.endswith(b"\r"):
                chunk = sock.recv(1024)
                assert chunk, "receiver closed the link"
                reply += chunk
            replies.append(reply)
    return replies



def test_config_show_prints_effective_configuration_with_secrets_masked(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[odoo]\nenabled = true\npassword = "hunter2"\n', encoding="utf-8")
    config.chmod(0o600)
    result = centinela("config", "show", "--config", str(config), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout
    assert 'password = "********"' in result.stdout
    assert f'data_dir = "{tmp_path / "d"}"' in result.stdout
    assert result.stderr == ""


def test_world_readable_secrets_warn(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[odoo]\npassword = "hunter2"\n', encoding="utf-8")
    config.chmod(0o644)
    result = centinela("config", "show", "--config", str(config))
    assert result.returncode == 0
    assert "warning" in result.stderr and "chmod 600" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config", "/nonexistent/c.toml", "config", "show"], "configuration file not found"),
        (["events", "--limit", "0"], "--limit must be at least 1"),
    ],
)
def test_errors_are_one_line_without_traceback(tmp_path: Path, args: list[str], message: str) -> None:
    result = centinela(*args, "--data-dir", str(tmp_path / "d"))
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_config_value_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[receiver]\ntcp = ['nowhere']\n", encoding="utf-8")
    result = centinela("--config", str(config), "config", "show")
    assert result.returncode == 2
    assert result.stderr.startswith("centinela: error:") and "receiver.tcp" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_db_migrate_creates_and_then_reports_current(tmp_path: Path) -> None:
    first = centinela("db", "migrate", "--data-dir", str(tmp_path))
    assert first.returncode == 0 and "migrated from version 0 to" in first.stdout
    again = centinela("db", "migrate", "--data-dir", str(tmp_path))
    assert again.returncode == 0 and "already at version" in again.stdout


def test_console_refuses_without_terminal(tmp_path: Path) -> None:
    result = centinela("--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "--headless" in result.stderr


def test_headless_receives_logs_and_stops_cleanly_then_events_lists(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "centinela", "--headless", "--data-dir", str(tmp_path), "--tcp", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for_port(port, process)
        frames = [
            build_frame("ADM-CID", "0001", account="1234", data="#1234|1130 01 004", timestamp=utcnow()),
            build_frame("SIA-DCS", "0002", account="1234", data="#1234|Nri1/FA002", timestamp=utcnow()),
        ]
        replies = send_frames(port, frames)
        assert all(b'"ACK"' in reply for reply in replies)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    event_lines = [line for line in stderr.splitlines() if " event id=" in line]
    assert len(event_lines) == 2
    assert "account=1234" in event_lines[0] and "code=130" in event_lines[0] and "unknown_account=true" in event_lines[0]
    assert "Traceback" not in stderr

    listed = centinela("events", "--json", "--data-dir", str(tmp_path))
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [row["code"] for row in rows] == ["FA", "130"]
    required = {"id", "received_at", "protocol", "account", "receiver", "line", "sequence", "code", "qualifier",
                "zone", "partition", "description", "priority", "status", "customer"}
    assert required <= set(rows[0])
    assert rows[0]["customer"] is None and rows[1]["description"] == "130 Robo"
    assert rows[1]["zone"] == "004" and rows[1]["partition"] == "01"

    limited = centinela("events", "--limit", "1", "--since", "1h", "--data-dir", str(tmp_path))
    assert limited.returncode == 0 and len(limited.stdout.splitlines()) == 1 and "FA" in limited.stdout
    future = centinela("events", "--since", "2999-01-01T00:00", "--data-dir", str(tmp_path))
    assert future.returncode == 0 and future.stdout == ""


async def browser_session(port: int) -> str:
    """What a browser's terminal receives from the console in its first seconds."""
    import aiohttp  # textual-serve's own HTTP stack

    received = b""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"http://127.0.0.1:{port}/ws?width=80&height=24") as socket_:
            try:
                async with asyncio.timeout(20):
                    async for message in socket_:
                        received += message.data if isinstance(message.data, bytes) else str(message.data).encode()
                        if b"Iniciar sesi" in received:
                            break
            except TimeoutError:
                pass
    return received.decode("utf-8", "replace")


def test_serve_publishes_the_console_over_http(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "centinela", "serve", "--port", str(port), "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for_port(port, process)
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            page = response.read().decode()
        assert response.status == 200
        assert f"ws://127.0.0.1:{port}/ws" in page  # the terminal page connects back over a websocket
        assert "Iniciar sesi" in asyncio.run(browser_session(port))
    finally:
        process.terminate()
        process.communicate(timeout=20)
