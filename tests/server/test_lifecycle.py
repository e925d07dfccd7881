"""How a server ends: SIGTERM, SIGINT, %shutdown, the idle timeout; and the ready line."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from remrepl.protocol import PROTOCOL_VERSION
from tests.support.processes import alive
from tests.support.servers import RunningServer, start_server, stop_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.server  # its tests start real servers (some without the fixtures)


def test_ready_line_says_how_to_reach_the_server(server: RunningServer) -> None:
    ready = server.ready
    assert ready["event"] == "ready"
    assert ready["host"] == "127.0.0.1" and isinstance(ready["port"], int) and ready["port"] > 0
    assert ready["pid"] == server.process.pid
    assert ready["protocol"] == PROTOCOL_VERSION == 5
    assert len(str(ready["server_public_key"])) == 40


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_server_and_its_interpreter(server: RunningServer, signum: int) -> None:
    with server.connect() as session:
        kernel_pid = int(session.run("import os; os.getpid()").value or 0)
    server.process.send_signal(signum)
    assert server.process.wait(10) == 0
    assert not server.connection_file.exists()  # a stale file would point at nothing
    wait_until(lambda: not alive(kernel_pid), 5, "the interpreter to stop")


def test_shutdown_from_the_client(server: RunningServer) -> None:
    session = server.connect()
    session.shutdown()
    assert server.process.wait(10) == 0


def test_idle_timeout_stops_an_unused_server(tmp_path: Path, password_file: Path) -> None:
    running = start_server(tmp_path, password_file, "--idle-timeout", "1")
    try:
        assert running.process.wait(15) == 0
    finally:
        stop_server(running)


def test_idle_timeout_waits_for_a_running_command(tmp_path: Path, password_file: Path) -> None:
    running = start_server(tmp_path, password_file, "--idle-timeout", "1")
    try:
        with running.connect() as session:
            started = time.monotonic()
            assert session.run("import time; time.sleep(2.5); 'slept'").value == "'slept'"
            assert time.monotonic() - started >= 2.5
    finally:
        stop_server(running)


def test_no_password_source_is_a_clear_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "remrepl.server"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "--password-file" in result.stderr and "Traceback" not in result.stderr


def test_an_address_in_use_is_a_clear_error(server: RunningServer, password_file: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "remrepl.server",
            "--password-file",
            str(password_file),
            "--port",
            str(server.info.port),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "cannot listen" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""  # no ready line for a server that is not listening
