"""The server's activity file (server/supervisor/activity.py), which the reaper reads: real server processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import start_server, stop_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.server  # its tests start real servers (some without the fixtures)

WAIT = 60.0


def test_the_activity_file_lives_as_long_as_the_server(
    tmp_path: Path, password_file: Path, private_state: Path
) -> None:
    server = start_server(tmp_path, password_file, "--activity-interval", "0.1")
    path = private_state / "activity" / str(server.process.pid)
    try:
        wait_until(path.exists, WAIT, "the activity file")  # touched at start: a new server counts as use
        assert path.stat().st_mode & 0o777 == 0o600 and path.read_bytes() == b""
        assert (private_state / "activity").stat().st_mode & 0o777 == 0o700
        with server.connect() as session:
            session.run("1")
            first = path.stat().st_mtime_ns
            wait_until(lambda: path.stat().st_mtime_ns > first, WAIT, "a touch while a client is attached and idle")
            second = path.stat().st_mtime_ns
            wait_until(lambda: path.stat().st_mtime_ns > second, WAIT, "another touch")
    finally:
        stop_server(server)  # SIGTERM: a clean exit
    assert not path.exists()


def test_a_bad_activity_interval_is_refused(password_file: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "remrepl.server", "--password-file", str(password_file), "--activity-interval", "0"],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 2 and "--activity-interval must be a positive number" in done.stderr
