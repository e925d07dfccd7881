from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import remrepl
from remrepl import ConfigError, LaunchError
from remrepl.launchers import LocalLauncher
from tests.support.processes import alive
from tests.support.waiting import holds_for, wait_until

pytestmark = pytest.mark.server  # its tests start real servers (some without the fixtures)


def test_launch_connect_and_close() -> None:
    with remrepl.launch() as server:
        assert server.info is not None and server.info.client_secret_key
        with server.connect() as session:
            assert session.run("21 * 2").value == "42"
        pid = server.info.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_the_log_is_private_and_removed_on_close(private_state: Path) -> None:
    launcher = LocalLauncher()
    launcher.start()
    assert launcher.log_path is not None and launcher.log_path.exists()
    assert stat.S_IMODE(launcher.log_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(launcher.log_path.parent.stat().st_mode) == 0o700
    launcher.close()
    assert not launcher.log_path.exists()
    launcher.close()  # idempotent


def test_a_python_that_does_not_exist() -> None:
    with pytest.raises(LaunchError, match="cannot start"):
        LocalLauncher(python="/nonexistent/python3").start()


def test_a_server_that_fails_to_start_shows_its_stderr(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'remrepl is not installed here' >&2\nexit 3\n")
    fake.chmod(0o700)
    with pytest.raises(LaunchError, match="remrepl is not installed here"):
        LocalLauncher(python=str(fake)).start(timeout=10)


def test_a_server_that_never_gets_ready_is_stopped(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o700)
    launcher = LocalLauncher(python=str(fake))
    with pytest.raises(LaunchError, match="no ready line"):
        launcher.start(timeout=1)
    assert launcher.process is not None and launcher.process.poll() is not None


def test_unknown_target() -> None:
    with pytest.raises(ConfigError, match="unknown launch target"):
        remrepl.launch("mars")


def test_a_launcher_that_dies_takes_its_server_along(tmp_path: Path) -> None:
    code = (
        "import sys, remrepl\n"
        "server = remrepl.launch()\n"
        "assert server.info is not None\n"
        "print(server.info.pid, flush=True)\n"
        "sys.stdin.read()\n"  # wait to be killed
    )
    client = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert client.stdout is not None
    pid = int(client.stdout.readline())
    client.kill()
    client.wait(10)
    wait_until(lambda: not alive(pid), 15, "the server to end with its launcher")


def test_a_detached_server_outlives_its_launcher() -> None:
    launcher = LocalLauncher()
    info = launcher.start()
    launcher.detach()
    try:
        holds_for(lambda: alive(info.pid), 1.5, "a detached server to stay up")
        with remrepl.connect(info=info) as session:
            assert session.run("'still here'").value == "'still here'"
    finally:
        os.kill(info.pid, signal.SIGTERM)
    wait_until(lambda: not alive(info.pid), 10, "the server to end on SIGTERM")
