"""What remrepl itself has to say during a run (its server is gone, the interpreter was killed) is one line
of its own on stderr, never a traceback: neither of remrepl's code nor dressed up as the user's."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import remrepl_command
from tests.support.servers import RunningServer

pytestmark = pytest.mark.server

QUICK = 30.0


def exec_until(server: RunningServer, password_file: Path, script: Path) -> subprocess.Popen[str]:
    """``remrepl exec`` of ``script`` against ``server``, once the script has printed its first line."""
    target = ["--connection-file", str(server.connection_file), "--password-file", str(password_file)]
    process = subprocess.Popen(
        [*remrepl_command(), "exec", *target, str(script)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "running\n"
    return process


def said(process: subprocess.Popen[str]) -> list[str]:
    try:
        _, err = process.communicate(timeout=QUICK)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return [line for line in err.splitlines() if line.strip()]


def test_a_server_gone_mid_run_is_one_line(server: RunningServer, password_file: Path, tmp_path: Path) -> None:
    script = tmp_path / "long.py"
    script.write_text("import time\nprint('running', flush=True)\ntime.sleep(60)\n", encoding="utf-8")
    process = exec_until(server, password_file, script)
    server.process.send_signal(signal.SIGKILL)  # the supervisor, without a word
    server.process.wait(QUICK)
    lines = said(process)
    assert process.returncode != 0
    assert len(lines) == 1 and lines[0].startswith("remrepl: "), lines
    assert "Traceback" not in lines[0]


def test_a_killed_interpreter_is_one_line(server: RunningServer, password_file: Path, tmp_path: Path) -> None:
    script = tmp_path / "dies.py"
    script.write_text("import os, signal\nprint('running', flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\n")
    process = exec_until(server, password_file, script)
    lines = said(process)
    assert process.returncode != 0
    assert len(lines) <= 1 and not any("Traceback" in line or "File " in line for line in lines), lines
