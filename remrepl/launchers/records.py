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

Liveness (``status``): for a server on this machine, first a pid check (is that pid a remrepl server?);
then, for every record, a CurveZMQ handshake with the record's key and nothing more: it proves the server
is there and admits us, without attaching (an attached client is not disturbed).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import zmq

from .._exceptions import (
    AuthenticationFailed,
    ConfigError,
    ConnectError,
    ConnectTimeout,
    RemreplError,
    TooManyAttempts,
)
from .._files import state_dir, write_private
from ..client.handshake import MONITOR_EVENTS, await_handshake
from ..transport import KeyPair, client_socket, tcp_endpoint
from ..transport.connection_info import ConnectionInfo

RECORD_VERSION = 1
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
LOCAL_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
Status = Literal["alive", "dead", "unreachable"]


@dataclass(frozen=True)
class LauncherData:
    """Which launcher started the server, and what it needs to reach it again (strings only)."""

    kind: str
    data: dict[str, str] = field(default_factory=dict)


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


def save(info: ConnectionInfo, *, target: str, launcher: LauncherData, name: str | None = None) -> SessionRecord:
    """Write a record (0600) for a server left running; ``ConfigError`` if ``name`` is taken."""
    name = check_name(name) if name else new_name(target)
    path = path_of(name)
    if path.exists():
        raise ConfigError(f"a session named {name} already exists; `remrepl ls` lists them")
    record = SessionRecord(name, info, launcher, target, time.time())
    write_private(path, json.dumps(record.to_json(), indent=2) + "\n")
    return record


def load(name: str) -> SessionRecord:
    path = path_of(name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        known = ", ".join(r.name for r, _ in all_records() if r is not None) or "none"
        raise ConfigError(
            f"no session named {name} on this machine (known: {known}); `remrepl ls` lists them"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the session record {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise ConfigError(f"the session record {path} is not JSON") from None
    record = SessionRecord.from_json(data, f"the session record {path}")
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


def _is_server_process(pid: int) -> bool | None:
    """Is ``pid`` a running remrepl server? None where this cannot be told (no /proc)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: the pid is in use
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except FileNotFoundError:
        return False if os.path.isdir("/proc/self") else None
    except OSError:
        return None
    return b"remrepl" in cmdline and (b"remrepl.server" in cmdline or b"serve" in cmdline)


def probe(info: ConnectionInfo, keys: KeyPair, timeout: float = 2.0) -> None:
    """Check that the server ``info`` describes is there and admits ``keys``: a CurveZMQ handshake and
    nothing more (no Hello, so an attached client is not disturbed). Raises as ``connect`` would."""
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = client_socket(ctx, info.server_public_key, keys, uuid.uuid4().bytes)
    monitor = sock.get_monitor_socket(MONITOR_EVENTS)
    try:
        sock.connect(tcp_endpoint(info.host, info.port))
        await_handshake(monitor, time.monotonic() + timeout, timeout, f"{info.host}:{info.port}")
    finally:
        sock.disable_monitor()
        monitor.close(linger=0)
        sock.close(linger=0)
        ctx.term()


def status(record: SessionRecord, timeout: float = 2.0) -> tuple[Status, str]:
    """(alive/dead/unreachable, how that was found out)."""
    info = record.info
    local = record.launcher.kind == "local" and info.host in LOCAL_HOSTS
    if local and _is_server_process(info.pid) is False:
        return "dead", f"pid {info.pid} is not a remrepl server"
    if not info.client_secret_key:
        return "unreachable", "the record holds no key to probe with"
    close = None
    if record.launcher.kind == "ssh":  # the server's port is reached through a new SSH tunnel
        try:
            from .ssh.records import reattach

            path = reattach({**record.launcher.data, "kind": record.launcher.kind}, info)
        except RemreplError as exc:
            return "unreachable", f"SSH: {exc}"
        info, close = path.info, path.close
    try:
        probe(info, KeyPair.from_secret(info.client_secret_key), timeout)
    except AuthenticationFailed:
        return "dead", "a server answers there but refuses this record's key"
    except TooManyAttempts:  # our server (it proved its key) refusing this address for now: brute force
        return "alive", "handshake refused for now: too many failed attempts from this address"
    except ConnectTimeout:
        if local or close is not None:  # nothing listens at the server's own port
            return "dead", f"nothing answers at the server's port {record.info.port}"
        return "unreachable", f"nothing answers at {info.host}:{info.port} within {timeout:g} s"
    except ConnectError:
        return "dead", "another server answers there"
    finally:
        if close is not None:
            close()
    return "alive", "pid and handshake" if local else "SSH and handshake" if close else "handshake"
