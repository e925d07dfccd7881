"""Timing the ``remrepl`` command line from start to exit (the ``exec`` and ``ssh`` sections)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .common import BenchError


def remrepl_command() -> list[str]:
    """The ``remrepl`` console script of this interpreter (not a shell shim), else the same entry point."""
    script = Path(sys.executable).with_name("remrepl")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "import sys; from remrepl.cli.main import main; sys.exit(main())"]


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc), to stop what a timed-out command left behind."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(p) for p in f.read().split()]
    return found


def timed_command(cmd: list[str], timeout: float, expected_stdout: bytes) -> float:
    """Wall seconds from start to exit of ``cmd``; ``BenchError`` on a failure or unexpected output."""
    start = time.perf_counter()
    process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # `remrepl exec --launch` starts its server in a new session: stop it by pid, then the command.
        leftovers = child_pids(process.pid)
        process.kill()
        process.communicate()
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        raise BenchError(f"{cmd[-1]!r} did not finish within {timeout:g} s") from None
    elapsed = time.perf_counter() - start
    if process.returncode != 0 or stdout != expected_stdout:
        raise BenchError(
            f"{' '.join(cmd)} exited {process.returncode}, stdout {stdout[:200]!r}, stderr {stderr[-500:]!r}"
        )
    return elapsed
