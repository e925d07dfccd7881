"""Ending a kernel's whole process tree: what user code started goes with the interpreter.

The kernel leads its own session and process group, so signalling the group reaches every child that
stayed in it. A child that left it (``os.setsid()``, a daemon) is found another way on Linux: the
supervisor is a *child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``), so a process whose parent dies is
reparented to the supervisor instead of init, and the kernel's tree is always the supervisor's
descendants (the supervisor starts no other process). Elsewhere (macOS) only the process group is ended.

The supervisor reaps the orphans it adopts (``reap_orphans``); the kernel itself is its ``Popen``'s to
reap, so nothing here waits for an arbitrary child (``waitpid(-1)`` would steal the kernel's status).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Collection

from ..hardening import prctl

log = logging.getLogger("remrepl.server")

PR_SET_CHILD_SUBREAPER = 36
SWEEP_ROUNDS = 50  # kill rounds at most: each one catches what forked since the previous one
SWEEP_SECONDS = 5.0

_subreaper = False
# The kernels alive now (the session's, and one-off script kernels): ending one kernel's tree spares the
# others and whatever still descends from them, and no sweep reaps one (each is its Popen's).
_kernels: set[int] = set()


def protect(pid: int) -> None:
    """``pid`` is a kernel: sweeps for other kernels leave it and its descendants alone."""
    _kernels.add(pid)


def unprotect(pid: int) -> None:
    _kernels.discard(pid)


def _spared(pgid: int, spare: Collection[int], table: dict[int, tuple[int, str]] | None = None) -> set[int]:
    """``spare``, plus every other live kernel and its descendants (not the tree of ``pgid`` itself)."""
    spared = set(spare)
    others = _kernels - {pgid}
    if others and sys.platform.startswith("linux"):
        table = _parents() if table is None else table
        for kernel in others:
            spared.add(kernel)
            spared.update(descendants(kernel, table))
    return spared | others


def become_subreaper() -> bool:
    """Make this process adopt the orphans of its descendants (Linux); True if it now does."""
    global _subreaper
    if _subreaper:
        return True
    if not sys.platform.startswith("linux"):
        return False
    _subreaper = prctl(PR_SET_CHILD_SUBREAPER, 1) == 0
    if not _subreaper:
        log.warning("cannot become a child subreaper: processes that leave the kernel's group may outlive it")
    return _subreaper


def _parents() -> dict[int, tuple[int, str]]:
    """{pid: (parent pid, state letter)} of every process /proc shows."""
    table: dict[int, tuple[int, str]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")"
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) >= 2:
            table[int(name)] = (int(fields[1]), fields[0].decode())
    return table


def descendants(root: int, table: dict[int, tuple[int, str]] | None = None) -> dict[int, str]:
    """{pid: state} of the processes below ``root`` (Linux; empty elsewhere)."""
    if not sys.platform.startswith("linux"):
        return {}
    table = _parents() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: dict[int, str] = {}
    todo = list(children.get(root, ()))
    while todo:
        pid = todo.pop()
        if pid in found or pid == root:
            continue
        found[pid] = table[pid][1]
        todo += children.get(pid, ())
    return found


def signal_tree(pgid: int, sig: int, spare: Collection[int] = ()) -> None:
    """Send ``sig`` to the process group ``pgid`` and (as a subreaper) to every descendant of ours but
    ``spare`` (the kernel we just started, or an earlier one Popen has not reaped)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    if _subreaper:
        table = _parents()
        spare = _spared(pgid, spare, table)
        for pid, state in descendants(os.getpid(), table).items():
            if pid not in spare and state != "Z":
                _kill(pid, sig)


def kill_tree(pgid: int, spare: Collection[int] = (), timeout: float = SWEEP_SECONDS) -> bool:
    """SIGKILL the group ``pgid`` and our descendants but ``spare``, round after round, until none is
    left (the orphans among them reaped); False if some were still there after ``timeout``."""
    deadline = time.monotonic() + timeout
    for _ in range(SWEEP_ROUNDS):
        signal_tree(pgid, signal.SIGKILL, spare)
        reap_orphans(spare)
        spared = _spared(pgid, spare)
        left = _group_alive(pgid) or (_subreaper and any(p not in spared for p in descendants(os.getpid())))
        if not left:
            return True
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)  # let the kernel deliver the kills and reparent the orphans
    log.warning("processes of the old interpreter survived SIGKILL for %.0f s", timeout)
    return False


def reap_orphans(spare: Collection[int] = ()) -> None:
    """Reap the exited processes we adopted (as a subreaper), but not those in ``spare``."""
    if not _subreaper:
        return
    me = os.getpid()
    for pid, (ppid, state) in _parents().items():
        if ppid == me and state == "Z" and pid not in spare and pid not in _kernels:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
