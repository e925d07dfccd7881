"""Secrets stay secret: never in a process's command line or environment, a log, or a file we write."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from remrepl.launchers import LocalLauncher
from tests.conftest import PASSWORD, RunningServer


def process_texts() -> dict[int, bytes]:
    """cmdline and environ of every process we may read."""
    texts = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        chunks = []
        for name in ("cmdline", "environ"):
            try:
                chunks.append(Path("/proc", entry, name).read_bytes())
            except OSError:
                pass
        texts[int(entry)] = b"\0".join(chunks)
    return texts


def test_the_password_is_in_no_command_line_or_environment(server: RunningServer) -> None:
    with server.connect() as session:
        session.run("import os; os.system('sleep 0.1')")
        leaks = [pid for pid, text in process_texts().items() if PASSWORD.encode() in text]
    assert leaks == []


def test_the_launchers_key_is_in_no_command_line_or_environment(launcher: LocalLauncher) -> None:
    assert launcher.info is not None
    secret = launcher.info.client_secret_key
    with launcher.connect() as session:
        session.run("1")
        assert [pid for pid, text in process_texts().items() if secret in text] == []


def test_connection_file_is_private_and_holds_no_password(server: RunningServer) -> None:
    mode = stat.S_IMODE(server.connection_file.stat().st_mode)
    assert mode == 0o600
    text = server.connection_file.read_text()
    assert PASSWORD not in text
    data = json.loads(text)
    assert {"host", "port", "server_public_key", "pid", "protocol"} <= set(data)
    assert "client_secret_key" not in data


def test_an_existing_connection_file_becomes_private(tmp_path: Path, password_file: Path) -> None:
    from tests.conftest import start_server, stop_server

    target = tmp_path / "server.json"
    target.write_text("old")
    target.chmod(0o644)
    running = start_server(tmp_path, password_file)
    try:
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    finally:
        stop_server(running)


def test_nothing_we_write_holds_the_password(server: RunningServer, private_state: Path, tmp_path: Path) -> None:
    with server.connect() as session:
        session.run("print('hello')")
    server.process.terminate()
    _, stderr = server.process.communicate(timeout=10)
    assert PASSWORD not in stderr
    for path in [*private_state.rglob("*"), *tmp_path.rglob("*")]:
        if path.is_file() and path.name != "password":
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_password_from_stdin_is_not_echoed_anywhere(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "remrepl.server", "--password-stdin", "--idle-timeout", "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = process.communicate(PASSWORD + "\n", timeout=30)
    assert process.returncode == 0
    assert json.loads(out.splitlines()[0])["event"] == "ready"
    assert PASSWORD not in out + err


def test_a_password_in_the_clients_environment_never_reaches_the_server_or_user_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``REMREPL_PASSWORD`` is the client's; a server it launches, and the kernel, run without it."""
    monkeypatch.setenv("REMREPL_PASSWORD", PASSWORD)
    with LocalLauncher() as launched, launched.connect() as session:
        assert session.run("import os; 'REMREPL_PASSWORD' in os.environ").value == "False"
        assert session.run("import subprocess; subprocess.run(['env'], capture_output=True).stdout").value
        leaks = [pid for pid, text in process_texts().items() if PASSWORD.encode() in text and pid != os.getpid()]
    assert leaks == []
