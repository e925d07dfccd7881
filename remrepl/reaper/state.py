"""The reaper's files and decision, shared by the reaper and ``--status`` (``reaper.py``).

``state_dir()/reaper/``: ``reaper.lock`` (an ``fcntl`` lock held by the running reaper, with its pid),
``reaper.json`` (its settings, start times and state; replaced atomically), ``reaper.log``. The decision is
a pure function of the state and the newest activity file (``activity.py``), so ``--status`` computes
exactly what the reaper will do.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from .._exceptions import ConfigError
from .._files import activity_dir, state_dir, write_private

log = logging.getLogger("remrepl.reaper")

POLL_MIN = 0.05  # s between two tries at the lock
STOP_WAIT = 10.0  # s a replaced reaper has to exit after SIGTERM (then SIGKILL)


def reaper_files() -> dict[str, Path]:
    base = state_dir("reaper")
    return {"lock": base / "reaper.lock", "state": base / "reaper.json", "log": base / "reaper.log"}


# --- activity and deadlines (shared by the reaper and --status) --------------------------------


def alive(pid: int) -> bool:
    """Does ``pid`` run (a zombie does not: it has exited and only waits for its parent)?"""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rfind(b")") + 2 :][:1] not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True


def live_activity(directory: Path, *, now: float, remove_dead: bool = False) -> tuple[float | None, list[int]]:
    """(newest mtime of the activity files of live processes, capped at ``now``; their pids).

    A file whose process is gone (a crashed server) is skipped, and removed with ``remove_dead``: it would
    otherwise count as activity again if its pid were reused. The cap keeps a file dated in the future
    (the clock was set back) from postponing the idle deadline for longer than the clock step.
    """
    newest: float | None = None
    pids = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        entries = []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if not alive(pid):
            if remove_dead:
                log.info("ignoring and removing the activity file of pid %d: that process is gone", pid)
                Path(entry.path).unlink(missing_ok=True)
            continue
        try:
            mtime = min(entry.stat().st_mtime, now)
        except FileNotFoundError:
            continue  # the server exited just now
        pids.append(pid)
        newest = mtime if newest is None else max(newest, mtime)
    return newest, sorted(pids)


def evaluate(state: dict[str, Any], *, now: float, newest: float | None) -> dict[str, Any]:
    """The reaper's decision from its ``state`` (settings, start times) and the newest activity."""
    idle_timeout, max_lifetime = state.get("idle_timeout"), state.get("max_lifetime")
    idle_since = max(state["started_at"], newest) if newest is not None else state["started_at"]
    candidates = []  # (deadline, reason): the max lifetime first, so it wins a tie
    if max_lifetime is not None:
        candidates.append((state["origin"] + max_lifetime, "max-lifetime"))
    if idle_timeout is not None:
        candidates.append((idle_since + idle_timeout, "idle"))
    deadline, reason = min(candidates, key=lambda c: c[0])
    return {
        "idle_for": round(max(0.0, now - idle_since), 3),
        "last_activity": newest,
        "deadline": deadline,
        "deadline_in": round(deadline - now, 3),
        "reason": reason,
        "due": now >= deadline,
    }


def read_state(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Atomically (a --status reading at the same time sees the old or the new file, never half)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    write_private(tmp, json.dumps(state) + "\n")
    os.replace(tmp, path)


def lock_holder(lock: Path) -> int | None:
    """The pid in the lock file, if the lock is held (else None)."""
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        return int(text) if text.isdigit() else 0
    finally:
        os.close(fd)  # also releases a lock we got: nobody held it
    return None


def status() -> dict[str, Any]:
    """``--status``: is a reaper running, with which settings, and when it will act."""
    paths = reaper_files()
    state = read_state(paths["state"])
    holder = lock_holder(paths["lock"])
    result: dict[str, Any] = {"event": "reaper-status", "running": holder is not None, "log": str(paths["log"])}
    if state is None:
        return {**result, "state": None}
    now = time.time()
    newest, pids = live_activity(activity_dir(), now=now)
    result.update(state)
    result.update(evaluate(state, now=now, newest=newest), active_servers=pids, running=holder is not None)
    return result


# --- the lock: one reaper per state directory ---------------------------------------------------


def is_reaper(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"remrepl.reaper" in f.read()
    except FileNotFoundError:
        return False
    except OSError:
        return alive(pid)


def acquire(lock: Path) -> tuple[int, int | None]:
    """Take the reaper lock, stopping the reaper that holds it; (lock fd, pid of the replaced reaper)."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    replaced: int | None = None
    signalled: dict[int, int] = {}  # pid -> last signal sent
    deadline = time.monotonic() + STOP_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            pass
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        holder = int(text) if text.isdigit() else 0
        now = time.monotonic()
        if holder and holder != os.getpid() and is_reaper(holder):
            sig = signal.SIGKILL if now > deadline else signal.SIGTERM
            if signalled.get(holder) != sig:
                log.info("replacing the running reaper (pid %d)", holder)
                try:
                    os.kill(holder, sig)
                except ProcessLookupError:
                    pass
                signalled[holder], replaced = sig, holder
        if now > deadline + STOP_WAIT:
            os.close(fd)
            raise ConfigError(f"another reaper (pid {holder or '?'}) holds {lock} and does not stop")
        time.sleep(POLL_MIN)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd, replaced
