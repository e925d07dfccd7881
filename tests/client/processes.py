"""What the CLI tests share: the ``remrepl`` command, and the processes they start, found in /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol


class ServerFixture(Protocol):
    """What these tests use of ``tests.conftest.RunningServer`` (the ``server`` fixture)."""

    process: subprocess.Popen[str]
    ready: dict[str, object]
    connection_file: Path


def remrepl_command() -> list[str]:
    """The installed ``remrepl`` console script of this interpreter, else the same entry point via ``-c``."""
    script = Path(sys.executable).with_name("remrepl")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "import sys; from remrepl.cli.main import main; sys.exit(main())"]


def read_proc(pid: int, name: str) -> bytes:
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read()
    except OSError:
        return b""


def stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat from field 3 (state) on; empty if the process is gone."""
    stat = read_proc(pid, "stat").decode(errors="replace")
    return stat[stat.rfind(")") + 2 :].split() if stat else []


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie has finished: it only waits for its parent)."""
    fields = stat_fields(pid)
    return bool(fields) and fields[0] not in ("Z", "X")


def parent(pid: int) -> int:
    fields = stat_fields(pid)
    return int(fields[1]) if len(fields) > 1 else 0


def cpu_ticks(pid: int) -> int:
    fields = stat_fields(pid)
    return int(fields[11]) + int(fields[12]) if len(fields) > 12 else 0  # utime + stime


def server_processes(state_dir: Path, marker: str = "remrepl.server") -> list[int]:
    """Live processes whose command line names ``marker`` and that run with this test's state directory.

    A supervisor is non-dumpable: unless we are root, its /proc/PID/environ cannot be read. It is ours
    when a process found by its environment (its kernel) is its child."""
    env_entry = f"REMREPL_STATE_DIR={state_dir}".encode()
    found, unreadable = [], []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if marker.encode() not in read_proc(pid, "cmdline") or not alive(pid):
            continue
        try:
            environ = Path("/proc", entry, "environ").read_bytes()
        except PermissionError:
            unreadable.append(pid)
            continue
        except OSError:
            continue
        if env_entry in environ.split(b"\0"):
            found.append(pid)
    parents = {parent(pid) for pid in found}
    return sorted(found + [pid for pid in unreadable if pid in parents])


def leftover_servers(state_dir: Path) -> list[int]:
    """This test's server processes that no fixture owns: not children (or grandchildren) of this process."""
    pids = server_processes(state_dir)
    owned = {os.getpid()} | {pid for pid in pids if parent(pid) == os.getpid()}
    return [pid for pid in pids if pid not in owned and parent(pid) not in owned]


def terminate(pids: Sequence[int], timeout: float = 5.0) -> None:
    """SIGTERM these processes (started by this test), SIGKILL what is left after ``timeout``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            if alive(pid):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)
