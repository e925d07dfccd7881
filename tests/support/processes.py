"""The processes the tests start, found in /proc: alive or not, whose child, how much CPU, which are servers
of this test (by its private state directory), and stopping what a test left behind."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path

from testhosts import descendants


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


def children_of(pid: int) -> set[int]:
    """Every live descendant of ``pid``."""
    return set(descendants(pid))


def processes_under(pids: set[int], marker: bytes) -> list[int]:
    """Those of ``pids`` that run and whose command line contains ``marker``."""
    return [pid for pid in pids if marker in read_proc(pid, "cmdline") and alive(pid)]


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
