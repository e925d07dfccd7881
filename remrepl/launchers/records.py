"""Session records: the servers this machine knows by NAME (``remrepl ls``, ``remrepl connect NAME``).

A record is a 0600 JSON file ``NAME.json`` in the state directory's ``sessions/`` folder (0700). It is a
connection file (every ``ConnectionInfo`` field at the top level, so ``--connection-file RECORD`` and
``remrepl.connect(RECORD)`` read it too) plus::

    "record_version": 1,
    "name": "local-1",                    # letters, digits, "_", "." and "-"; at most 64
    "target": "local",                    # what was launched (shown by `ls`)
    "created_at": 1790000000.0,
    "launcher": {"kind": "local"}         # or {"kind": "ssh", "target": ..., "remote_port": ..., ...}

``launcher`` holds, besides its ``kind``, whatever that launcher needs to reach its server again (strings
only; ``LauncherData.data``): an SSH launcher keeps its target and the remote port there, so that
``connect NAME`` can rebuild a tunnel. Readers ignore keys they do not know, so later versions can add
some. A record of a launched server holds the client's secret key: it is as private as an SSH key.

This module is the one writer (``write``: ``save`` by name, ``SSHLauncher.write_record`` to a path) and
the one reader (``read``: ``load`` by name, a ``--connection-file`` that is a record) of records. What
each kind of launcher does with one (reattach, liveness) is ``registry.py``'s.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._exceptions import ConfigError
from .._files import state_dir, write_private
from ..transport.connection_info import ConnectionInfo

if TYPE_CHECKING:
    from .base import Launcher

RECORD_VERSION = 1
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class LauncherData:
    """Which launcher started the server, and what it needs to reach it again (strings only)."""

    kind: str
    data: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, launcher: Launcher) -> LauncherData:
        """A started launcher's: its ``record_data()`` (SSH: kind "ssh" and what rebuilds the tunnel;
        local: nothing, so the kind is its target, "local")."""
        data = dict(launcher.record_data())
        return cls(data.pop("kind", launcher.target), data)


@dataclass(frozen=True)
class SessionRecord:
    name: str
    info: ConnectionInfo
    launcher: LauncherData
    target: str = ""
    created_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            **self.info.to_json(include_secret=True),
            "record_version": RECORD_VERSION,
            "name": self.name,
            "target": self.target,
            "created_at": self.created_at,
            "launcher": {**self.launcher.data, "kind": self.launcher.kind},
        }

    @classmethod
    def from_json(cls, data: object, source: str) -> SessionRecord:
        info = ConnectionInfo.from_json(data, source)
        assert isinstance(data, dict)  # from_json checked it
        launcher = data.get("launcher")
        if not isinstance(launcher, dict) or not isinstance(launcher.get("kind"), str):
            raise ConfigError(f"{source} is not a session record (no launcher kind)")
        extra = {k: v for k, v in launcher.items() if k != "kind"}
        if not all(isinstance(v, str) for v in extra.values()):
            raise ConfigError(f"{source}: the launcher's data must map names to strings")
        try:
            created_at = float(data.get("created_at", 0.0))
        except (TypeError, ValueError):
            created_at = 0.0
        return cls(
            name=str(data.get("name", "")),
            info=info,
            launcher=LauncherData(launcher["kind"], {str(k): v for k, v in extra.items()}),
            target=str(data.get("target", "")),
            created_at=created_at,
        )


def records_dir() -> Path:
    return state_dir("sessions")


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise ConfigError(
            f"not a session name: {name!r} (letters, digits, '_', '.' and '-', starting with a letter or digit; "
            "at most 64)"
        )
    return name


def path_of(name: str) -> Path:
    return records_dir() / f"{check_name(name)}.json"


def new_name(prefix: str) -> str:
    """The first free ``PREFIX-N`` (N = 1, 2, ...)."""
    host = prefix.removeprefix("ssh://").rsplit("@", 1)[-1].split(":")[0]  # ssh://user@host:22 -> host
    prefix = re.sub(r"[^A-Za-z0-9_.-]", "_", host)[:50].lstrip("_.-") or "session"
    taken = {p.stem for p in records_dir().glob("*.json")}
    n = 1
    while f"{prefix}-{n}" in taken:
        n += 1
    return f"{prefix}-{n}"


def write(path: str | os.PathLike[str], record: SessionRecord) -> None:
    """The one writer of records: ``record`` as 0600 JSON at ``path``."""
    write_private(path, json.dumps(record.to_json(), indent=2) + "\n")


def read(path: str | os.PathLike[str]) -> SessionRecord | None:
    """The one reader of records: the record at ``path``, or None for a plain connection file (one with
    no ``launcher`` section). ``ConfigError`` if it cannot be read, is not JSON or is a broken record."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the session record {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise ConfigError(f"the session record {path} is not JSON") from None
    if isinstance(data, dict) and "launcher" not in data:
        return None
    return SessionRecord.from_json(data, f"the session record {path}")


def of_launcher(launcher: Launcher, *, name: str = "") -> SessionRecord:
    """The record of a started launcher's server (with the client key), made now."""
    if launcher.info is None:
        raise RuntimeError("start() the launcher first")
    return SessionRecord(name, launcher.info, LauncherData.of(launcher), launcher.target, time.time())


def save(info: ConnectionInfo, *, target: str, launcher: LauncherData, name: str | None = None) -> SessionRecord:
    """Write a record (0600) for a server left running; ``ConfigError`` if ``name`` is taken."""
    name = check_name(name) if name else new_name(target)
    path = path_of(name)
    if path.exists():
        raise ConfigError(f"a session named {name} already exists; `remrepl ls` lists them")
    record = SessionRecord(name, info, launcher, target, time.time())
    write(path, record)
    return record


def load(name: str) -> SessionRecord:
    path = path_of(name)
    if not path.exists():
        known = ", ".join(r.name for r, _ in all_records() if r is not None) or "none"
        raise ConfigError(f"no session named {name} on this machine (known: {known}); `remrepl ls` lists them")
    record = read(path)
    if record is None:
        raise ConfigError(f"the session record {path} is not a session record (no launcher kind)")
    return dataclasses.replace(record, name=name)  # the file name is the name


def all_records() -> list[tuple[SessionRecord | None, Path]]:
    """Every record, sorted by name; None for a file that is not a readable record."""
    found: list[tuple[SessionRecord | None, Path]] = []
    for path in sorted(records_dir().glob("*.json")):
        try:
            found.append((load(path.stem), path))
        except ConfigError:
            found.append((None, path))
    return found


def remove(name: str) -> None:
    path_of(name).unlink(missing_ok=True)
