"""The server's activity heartbeat: a file whose modification time says "this server is in use".

While a client is attached, a run is in progress (one blocked in ``input()`` only while a client is
there to answer) or a file transfer goes on, the supervisor touches
``state_dir()/activity/<pid>`` (at most every ``interval`` seconds, and once at every change of that
state: so the moment the last client left is recorded too); it removes the file when it exits. The
reaper (``reaper.py``) reads these files to tell an abandoned machine from one in use: it never talks to
the server, so a wedged server cannot keep it from ending the machine after its max lifetime.

"Attached" means: the supervisor has an attached client (a Hello without ``side``, not since detached,
replaced or found unreachable) **and** its ROUTER socket has at least one live connection. The second
half matters: a client that vanished without a word (laptop closed, network gone) stays "attached" in
the supervisor's books until something is sent to it, which for an idle session is never; but ZMTP
heartbeats (``transport/sockets.py``) drop its connection within ``HEARTBEAT_TIMEOUT_MS``, and a socket
monitor tells us so. A connection still in its CURVE handshake counts for at most ``HANDSHAKE_MS``.
"""

from __future__ import annotations

import logging
import os
import struct
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .._files import state_dir

if TYPE_CHECKING:  # zmq is imported where a server runs, not by the reaper, which only needs activity_dir
    import zmq

log = logging.getLogger("remrepl.server")

ACTIVITY_INTERVAL = 15.0  # s between touches while in use (the reaper's idle timeout is minutes)
CHECK_EVERY = 0.2  # s: how often the state is looked at (a busy loop turns thousands of times a second)


def activity_dir() -> Path:
    """Where servers keep their activity files (0700)."""
    return state_dir("activity")


class Activity:
    """Touches this server's activity file while it is in use; watches ``router``'s connections."""

    def __init__(self, router: zmq.Socket[bytes], *, interval: float = ACTIVITY_INTERVAL) -> None:
        import zmq

        self.interval = interval
        self.path = activity_dir() / str(os.getpid())
        self.connections: set[int] = set()  # file descriptors of the ROUTER's live TCP connections
        self._router = router
        self._monitor: zmq.Socket[bytes] | None = router.get_monitor_socket(
            zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_CLOSED
        )
        self._state: tuple[bool, bool, bool] | None = None
        self._touched = self._checked = float("-inf")
        self._warned = False

    def client_attached(self, attached: bytes | None) -> bool:
        """Is a client attached (see the module docstring), given the supervisor's attached identity?"""
        self._read_monitor()
        return attached is not None and bool(self.connections)

    def update(self, *, attached: bytes | None, running: bool, asking: bool, transferring: bool) -> None:
        """Called at every turn of the supervisor's loop (at least once a second): touch the file when due.

        ``asking``: the run waits for the client's answer to ``input()``. With no client there, that run
        goes nowhere until someone attaches: it does not count (an abandoned ``input()`` must not keep a
        machine up until its max lifetime).
        """
        now = time.monotonic()
        if now - self._checked < CHECK_EVERY:
            return
        self._checked = now
        client = self.client_attached(attached)
        state = (client, running and (client or not asking), transferring)
        changed = state != self._state
        if changed or (any(state) and now - self._touched >= self.interval):
            if changed and self._state is not None:
                log.debug("activity: attached=%s running=%s transferring=%s", *state)
            self._state, self._touched = state, now
            self._touch()

    def _read_monitor(self) -> None:
        import zmq

        while self._monitor is not None and self._monitor.poll(0):
            # libzmq's monitor message: (event: u16, value: i32 -- here the connection's fd), endpoint.
            # Parsed here: zmq.utils.monitor would import asyncio into the server for nothing.
            frames = self._monitor.recv_multipart()
            event, fd = struct.unpack("=Hi", frames[0][:6])
            if event == zmq.EVENT_ACCEPTED:
                self.connections.add(fd)
            else:
                self.connections.discard(fd)

    def _touch(self) -> None:
        try:
            self.path.touch(mode=0o600)  # creates it (empty: nothing secret) or sets its mtime to now
        except OSError as exc:
            if not self._warned:  # a full disk must not stop the server; say it once
                log.warning("cannot touch the activity file %s: %s", self.path, exc.strerror)
                self._warned = True

    def close(self) -> None:
        """Stop watching (before the context ends: its sockets must all be closed) and remove the file."""
        import zmq

        if self._monitor is not None:
            try:
                self._router.disable_monitor()
            except zmq.ZMQError:
                pass
            self._monitor.close(linger=0)
            self._monitor = None
        self.path.unlink(missing_ok=True)
