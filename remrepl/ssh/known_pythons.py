"""The interpreter ``--bootstrap`` installed remrepl into, remembered per host on this machine.

``bootstrapped_pythons.json`` in the state directory (0600; written whole to a temporary sibling, then
renamed, under a lock: parallel bootstraps of a cluster's hosts each add their own) maps a host, as
ssh_config resolves it (``user@hostname:port``, ``str(SSHLink)``), to the venv's python there. A later
launch to that host without ``--remote-python`` or ``--bootstrap`` runs it, and so do SSH cluster
workers without ``python=``. A record never holds a secret; a file that cannot be read counts as empty
(it is only a convenience: naming the interpreter again always works).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from .._files import state_dir, write_private

FILE_NAME = "bootstrapped_pythons.json"
_MAX_HOSTS = 1000  # a bound on what one file keeps: the least recently bootstrapped go first
_LOCK_TIMEOUT = 10.0


def this_version() -> str:
    """This remrepl's version (what a bootstrap installs), as its installed metadata says."""
    import importlib.metadata

    try:
        return importlib.metadata.version("remrepl")
    except importlib.metadata.PackageNotFoundError:
        return "?"


def path() -> Path:
    return state_dir() / FILE_NAME


def recall(host: str) -> str | None:
    """The python ``--bootstrap`` installed remrepl for on ``host`` (``user@hostname:port``), if any."""
    entry = _read(path()).get(host)
    python = entry.get("python") if isinstance(entry, dict) else None
    return python if isinstance(python, str) and python else None


def remember(host: str, python: str, venv: str, version: str) -> None:
    """Record that ``python`` (of ``venv``) on ``host`` runs remrepl ``version``, installed by a bootstrap."""
    file = path()
    with _locked(file):
        hosts = _read(file)
        hosts[host] = {"python": python, "venv": venv, "remrepl": version, "when": time.time()}
        newest = sorted(hosts.items(), key=lambda item: -_when(item[1]))[:_MAX_HOSTS]
        tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
        write_private(tmp, json.dumps({"version": 1, "hosts": dict(newest)}, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, file)


def _when(entry: dict[str, object]) -> float:
    when = entry.get("when")
    return float(when) if isinstance(when, (int, float)) else 0.0


def _read(file: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    hosts = data.get("hosts") if isinstance(data, dict) else None
    if not isinstance(hosts, dict):
        return {}
    return {host: entry for host, entry in hosts.items() if isinstance(host, str) and isinstance(entry, dict)}


@contextlib.contextmanager
def _locked(file: Path) -> Iterator[None]:
    """One writer at a time (threads of one cluster, or two clients): a read-modify-write loses nothing."""
    try:
        import fcntl
    except ImportError:  # no fcntl (Windows): the rename still keeps the file whole
        yield
        return
    fd = os.open(file.with_name(f".{file.name}.lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        deadline = time.monotonic() + _LOCK_TIMEOUT
        while True:  # bounded by the deadline; then write anyway (a stuck lock must not stop a launch)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # releases the lock
