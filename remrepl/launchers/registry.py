"""The launchers by kind: one table that knows, for each kind, how to launch, reattach and describe.

A launch target names its kind ("local", "ssh://HOST", "ec2[:NAME]"); a session record names the kind
that wrote it (``records.py``: ``launcher.kind``). Everything that used to ask ``kind == "ssh"`` asks
this table instead: ``launch`` (``launchers/__init__.py``), ``reattach`` (``remrepl connect NAME`` and a
``--connection-file`` that is a record) and ``status`` (``remrepl ls``). paramiko and boto3 load only
when an SSH or EC2 kind is used.

An EC2 head's record is written with kind "ssh" (the head is an SSH host, so any remrepl reattaches it)
plus ``ec2_*`` keys; ``for_record`` gives it the EC2 kind, which also lends the head fresh AWS credentials.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
from ..client.handshake import MONITOR_EVENTS, await_handshake
from ..client.session import Session, connect
from ..transport import KeyPair, client_socket, tcp_endpoint
from ..transport.connection_info import ConnectionInfo
from .base import Launcher
from .records import SessionRecord

LOCAL_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
Status = Literal["alive", "dead", "unreachable"]


@dataclass(frozen=True)
class Route:
    """The way to a recorded server: where to connect, what to close with the session, and how to
    rebuild the way after a dropped link (None: it cannot be rebuilt)."""

    info: ConnectionInfo
    close: Callable[[], None] = lambda: None
    relink: Callable[[], None] | None = None


class LauncherKind:
    """A kind of launcher. This base is the kind of a record from an unknown launcher (a later remrepl's):
    its server is reached at the recorded address as it is."""

    name = ""  # as in a record's ``launcher.kind``
    via = ""  # what the route goes through, for ``status`` ("SSH"); "" for straight to the server's port

    def claims(self, target: str) -> bool:
        """Is the launch target ``target`` this kind's?"""
        return False

    def launcher(self, target: str, options: Mapping[str, Any]) -> Launcher:
        """A launcher (not started yet) for ``target`` with the options of its class."""
        raise ConfigError(f"cannot launch {target!r}")

    def route(self, record: SessionRecord) -> Route:
        """The way to the recorded server (``RemreplError`` if it cannot be made now)."""
        return Route(record.info)

    def on_this_machine(self, record: SessionRecord) -> bool:
        """Does the recorded server run on this machine (so that its pid tells whether it is alive)?"""
        return False

    def after_connect(self, record: SessionRecord, session: Session) -> None:
        """Whatever a reattached session needs besides the connection (EC2: fresh credentials)."""


class LocalKind(LauncherKind):
    name = "local"

    def claims(self, target: str) -> bool:
        return target == "local"

    def launcher(self, target: str, options: Mapping[str, Any]) -> Launcher:
        from .local import LocalLauncher

        return LocalLauncher(**options)

    def on_this_machine(self, record: SessionRecord) -> bool:
        return record.info.host in LOCAL_HOSTS


class SSHKind(LauncherKind):
    name = "ssh"
    via = "SSH"

    def claims(self, target: str) -> bool:
        return target.startswith("ssh://")

    def launcher(self, target: str, options: Mapping[str, Any]) -> Launcher:
        from .ssh.launcher import SSHLauncher

        return SSHLauncher(target, **options)

    def route(self, record: SessionRecord) -> Route:
        from .ssh.records import reattach  # a new SSH link, and a tunnel to the server's port

        path = reattach(record.launcher.data, record.info)
        return Route(path.info, path.close, path.relink if path.tunnel is not None else None)


class EC2Kind(SSHKind):
    name = "ec2"

    def claims(self, target: str) -> bool:
        return target == "ec2" or target.startswith("ec2:")

    def launcher(self, target: str, options: Mapping[str, Any]) -> Launcher:
        from .ec2.launcher import EC2Launcher

        return EC2Launcher(target.partition(":")[2] or None, **options)

    def after_connect(self, record: SessionRecord, session: Session) -> None:
        from .ec2.launcher import lend_on_reattach  # a kept session may outlive the first credentials (12 h)

        lend_on_reattach(record.launcher.data, session)


UNKNOWN = LauncherKind()
KINDS: tuple[LauncherKind, ...] = (LocalKind(), SSHKind(), EC2Kind())
_BY_NAME = {kind.name: kind for kind in KINDS}


def for_target(target: str) -> LauncherKind:
    """The kind of the launch target ``target``; ``ConfigError`` if no kind claims it."""
    for kind in KINDS:
        if kind.claims(target):
            return kind
    raise ConfigError(f"unknown launch target {target!r}: use 'local', 'ssh://[USER@]HOST[:PORT]' or 'ec2[:NAME]'")


def for_record(record: SessionRecord) -> LauncherKind:
    """The kind that reattaches ``record`` (``UNKNOWN`` for a kind this remrepl does not know)."""
    name = record.launcher.kind
    if name == "ssh" and record.launcher.data.get("ec2_cluster"):
        name = "ec2"
    return _BY_NAME.get(name, UNKNOWN)


def reattach(record: SessionRecord, connect_timeout: float = 10.0, *, script: bool = False) -> Session:
    """A session on the recorded server, the way its kind reaches it; closing it closes that way (an SSH
    tunnel). Like a launcher's session, it reconnects after a dropped link where the way can be rebuilt."""
    from ..client.reconnect import Reconnector

    kind = for_record(record)
    route = kind.route(record)
    try:
        session = connect(info=route.info, connect_timeout=connect_timeout, script=script)
    except BaseException:
        route.close()
        raise
    session.on_close.append(route.close)
    if route.relink is not None:
        session.on_link_lost = Reconnector(route.relink)
    kind.after_connect(record, session)
    return session


# --- liveness (``remrepl ls``) ------------------------------------------------------------------------


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
    """(alive/dead/unreachable, how that was found out). For a server on this machine, first a pid check
    (is that pid a remrepl server?); then, for every record, a CurveZMQ handshake with the record's key
    along the way its kind reaches it, and nothing more: it proves the server is there and admits us,
    without attaching (an attached client is not disturbed)."""
    kind = for_record(record)
    info = record.info
    local = kind.on_this_machine(record)
    if local and _is_server_process(info.pid) is False:
        return "dead", f"pid {info.pid} is not a remrepl server"
    if not info.client_secret_key:
        return "unreachable", "the record holds no key to probe with"
    try:
        route = kind.route(record)
    except RemreplError as exc:
        return "unreachable", f"{kind.via}: {exc}"
    try:
        probe(route.info, KeyPair.from_secret(info.client_secret_key), timeout)
    except AuthenticationFailed:
        return "dead", "a server answers there but refuses this record's key"
    except TooManyAttempts:  # our server (it proved its key) refusing this address for now: brute force
        return "alive", "handshake refused for now: too many failed attempts from this address"
    except ConnectTimeout:
        if local or kind.via:  # nothing listens at the server's own port
            return "dead", f"nothing answers at the server's port {info.port}"
        return "unreachable", f"nothing answers at {info.host}:{info.port} within {timeout:g} s"
    except ConnectError:
        return "dead", "another server answers there"
    finally:
        route.close()
    return "alive", "pid and handshake" if local else f"{kind.via} and handshake" if kind.via else "handshake"
