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
heartbeats (``transport/sockets.py``) drop its connection within ``HEARTBEAT_TIMEOUT_MS``, and the
ROUTER's socket monitor (``transport/gate.py``) tells us so. A connection still in its CURVE handshake
counts for at most ``HANDSHAKE_MS``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from ..._files import activity_dir

log = logging.getLogger("remrepl.server")

ACTIVITY_INTERVAL = 15.0  # s between touches while in use (the reaper's idle timeout is minutes)
CHECK_EVERY = 0.2  # s: how often the state is looked at (a busy loop turns thousands of times a second)


class Activity:
    """Touches this server's activity file while it is in use; asks the ROUTER's monitor about connections."""

    def __init__(self, connections: Callable[[], set[int]], *, interval: float = ACTIVITY_INTERVAL) -> None:
        """``connections``: the ROUTER's live connections, from its socket monitor (``ConnectionGate``)."""
        self.interval = interval
        self.path = activity_dir() / str(os.getpid())
        self._connections = connections
        self._state: tuple[bool, bool, bool] | None = None
        self._touched = self._checked = float("-inf")
        self._warned = False

    def client_attached(self, attached: bytes | None) -> bool:
        """Is a client attached (see the module docstring), given the supervisor's attached identity?"""
        return attached is not None and bool(self._connections())

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

    def _touch(self) -> None:
        try:
            self.path.touch(mode=0o600)  # creates it (empty: nothing secret) or sets its mtime to now
        except OSError as exc:
            if not self._warned:  # a full disk must not stop the server; say it once
                log.warning("cannot touch the activity file %s: %s", self.path, exc.strerror)
                self._warned = True

    def close(self) -> None:
        """Remove the file."""
        self.path.unlink(missing_ok=True)
