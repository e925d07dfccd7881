"""``remrepl exec`` ends as ``python FILE`` does when the script cannot be opened, and when the reader of
its output goes away (``| head``): same exit status, python's words, no traceback of remrepl's own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from remrepl.client.session import connect
from tests.support.cli import RUN_TIMEOUT, remrepl_command
from tests.support.processes import leftover_servers
from tests.support.servers import PASSWORD, RunningServer

pytestmark = pytest.mark.server

FOREVER = "import itertools\nfor i in itertools.count():\n    print(i)\n"  # stops only when made to


def test_a_missing_script_exits_2_in_pythons_words(server: RunningServer, password_file: Path, tmp_path: Path) -> None:
    args = ["--connection-file", str(server.connection_file), "--password-file", str(password_file)]
    python = subprocess.run([sys.executable, "no_such.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    ours = subprocess.run(
        [*remrepl_command(), "exec", *args, "no_such.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert python.returncode == ours.returncode == 2
    words = f"can't open file '{tmp_path / 'no_such.py'}': [Errno 2] No such file or directory\n"
    assert python.stderr == f"{sys.executable}: {words}"
    assert ours.stderr == f"remrepl: {words}"


def head_one(argv: list[str]) -> tuple[int, bytes, str]:
    """Run ``argv`` with its stdout read for one line and then closed, as ``| head -1`` does: its exit
    status, the line, its stderr."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert process.stdout is not None and process.stderr is not None
    line = process.stdout.readline()
    process.stdout.close()
    try:
        _, err = process.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return process.returncode, line, err.decode()


def test_piping_into_head_ends_as_python_does_and_stops_the_run(
    server: RunningServer, password_file: Path, tmp_path: Path
) -> None:
    path = tmp_path / "forever.py"
    path.write_text(FOREVER)
    status, line, err = head_one([sys.executable, str(path)])
    assert (status, line) == (1, b"0\n") and err.endswith("BrokenPipeError: [Errno 32] Broken pipe\n")
    args = ["--connection-file", str(server.connection_file), "--password-file", str(password_file)]
    status, line, err = head_one([*remrepl_command(), "exec", *args, str(path)])
    assert (status, line) == (1, b"0\n")
    assert err == "BrokenPipeError: [Errno 32] Broken pipe\n"  # python's last line; no traceback of ours
    with connect(info=server.info, password=PASSWORD) as session:  # the server is free: the run was stopped
        assert session.run("21 * 2", timeout=30).value == "42"


def test_exec_launch_into_head(tmp_path: Path, state_dir: Path) -> None:
    path = tmp_path / "forever.py"
    path.write_text(FOREVER)
    status, line, err = head_one([*remrepl_command(), "exec", "--launch", str(path)])
    assert (status, line, err) == (1, b"0\n", "BrokenPipeError: [Errno 32] Broken pipe\n")
    assert leftover_servers(state_dir) == []  # the launched server went with the run
