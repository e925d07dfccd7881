"""The server's connection gate: a cap on TCP connections that have not authenticated yet.

libzmq accepts every connection and keeps it (an fd, buffers, CurveZMQ state) until its handshake ends
or ``HANDSHAKE_MS`` passes; nothing stops a peer from opening thousands that never say a word. At the
process's fd limit libzmq's accept fails with EMFILE on a listening socket that stays readable: the
server spins at 100% CPU and legitimate logins fail. So:

- ``raise_fd_limit`` lifts the soft RLIMIT_NOFILE toward the hard limit at server start;
- ``ConnectionGate`` watches the ROUTER through its socket monitor (``EVENT_ACCEPTED`` carries the new
  connection's fd) and keeps at most ``per_address`` unauthenticated connections per address (IPv4
  address or IPv6 /64, as the ZAP budget) and ``total`` in all. The excess is **shut down, never closed**:
  the fd is libzmq's, and closing it under libzmq would let the number be reused while libzmq still
  uses it; ``shutdown()`` makes libzmq see the end of the stream and close the fd itself.
- When the total is reached, the newest connection of the address holding the most is shed, not the
  newcomer's, unless the newcomer's address already holds about as many: an attacker with a few
  addresses cannot lock everybody else out (one with more addresses than ``total`` can; see docs/security.md).
- A connection stops counting once the ZAP handler admits a key from its address (the newest pending one
  of that address is taken as it: libzmq does not say which fd a ZAP request came from), or after the
  handshake deadline (a live connection older than that has authenticated: libzmq drops the others).

fds are numbers the kernel reuses at once: monitor events are handled in batches (a connection that
closed later in the same batch is left alone), and before a shutdown the fd is checked to be a TCP
socket on our listening port whose peer is the one recorded at accept time.

``AdmissionPolicy`` is the decision, without I/O or a real clock; ``ConnectionGate`` is the I/O.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import zmq

from .sockets import HANDSHAKE_MS
from .zap import STATS_EVERY, address_key

log = logging.getLogger("remrepl.server")

PER_ADDRESS = 32  # unauthenticated connections per address (a login needs 2: main + side)
TOTAL = 256  # ... in all, lowered to half of what the fd limit leaves after a reserve
FD_RESERVE = 128  # fds kept for the kernel's pipes, transfers, authenticated clients
FD_TARGET = 65536  # how far the soft fd limit is raised (when the hard limit allows)
MACOS_OPEN_MAX = 10240  # macOS refuses a soft limit above kern.maxfilesperproc (often "unlimited" hard)
EVENTS_PER_TURN = 2000  # monitor events handled per call, so the loop keeps turning under a flood

Peer = tuple[str, int]


def raise_fd_limit(target: int = FD_TARGET) -> int:
    """Raise the soft RLIMIT_NOFILE toward the hard limit (at most ``target``); the soft limit after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = target if hard == resource.RLIM_INFINITY else min(hard, target)
    for limit in (want, min(want, MACOS_OPEN_MAX)):
        if limit <= soft:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def total_for(fd_limit: int) -> int:
    """The cap on unauthenticated connections in all for a process allowed ``fd_limit`` fds."""
    return max(8, min(TOTAL, (fd_limit - FD_RESERVE) // 2))


@dataclass
class _Pending:
    unit: str
    peer: Peer
    accepted_at: float


class AdmissionPolicy:
    """Which new connections to shed so unauthenticated ones stay within the caps."""

    def __init__(
        self,
        *,
        per_address: int = PER_ADDRESS,
        total: int = TOTAL,
        handshake_seconds: float = HANDSHAKE_MS / 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_address, self.total = per_address, total
        self.handshake_seconds = handshake_seconds
        self.clock = clock
        self.live: set[int] = set()  # every connection of the ROUTER, authenticated or not
        self._pending: dict[int, _Pending] = {}  # unauthenticated, oldest first
        self._by_unit: dict[str, dict[int, None]] = {}  # unit -> its pending fds, oldest first
        self.shed = 0  # connections shut down, for the log

    def accepted(self, fd: int, address: str, peer: Peer) -> list[tuple[int, Peer]]:
        """A connection came in; the connections (fd, peer) to shut down: this one, another one, or none."""
        self.expire()
        self.closed(fd)  # a reused number whose close we missed
        self.live.add(fd)
        unit = address_key(address)
        mine = len(self._by_unit.get(unit, ()))
        if mine >= self.per_address:
            return self._shed([(fd, peer)])
        if len(self._pending) >= self.total:
            heaviest = max(self._by_unit.values(), key=len)
            if len(heaviest) <= mine + 1:
                return self._shed([(fd, peer)])
            victim = next(reversed(heaviest))  # its newest: the least likely to have authenticated
            victim_peer = self._pending[victim].peer
            self._forget(victim)
            self._add(fd, unit, peer)
            return self._shed([(victim, victim_peer)])
        self._add(fd, unit, peer)
        return []

    def closed(self, fd: int) -> None:
        self.live.discard(fd)
        self._forget(fd)

    def authenticated(self, address: str) -> None:
        """The ZAP handler admitted a key from ``address``: one of its connections is in."""
        fds = self._by_unit.get(address_key(address))
        if fds:
            self._forget(next(reversed(fds)))

    def expire(self) -> None:
        """Connections older than the handshake deadline have authenticated (libzmq drops the others)."""
        horizon = self.clock() - self.handshake_seconds - 1.0
        while self._pending:
            fd, pending = next(iter(self._pending.items()))
            if pending.accepted_at > horizon:
                break
            self._forget(fd)

    def peer(self, fd: int) -> Peer | None:
        """The peer recorded when ``fd`` was accepted (None: not an unauthenticated connection now)."""
        pending = self._pending.get(fd)
        return pending.peer if pending else None

    @property
    def unauthenticated(self) -> int:
        return len(self._pending)

    def _add(self, fd: int, unit: str, peer: Peer) -> None:
        self._pending[fd] = _Pending(unit, peer, self.clock())
        self._by_unit.setdefault(unit, {})[fd] = None

    def _forget(self, fd: int) -> None:
        pending = self._pending.pop(fd, None)
        if pending is None:
            return
        fds = self._by_unit[pending.unit]
        del fds[fd]
        if not fds:
            del self._by_unit[pending.unit]

    def _shed(self, connections: list[tuple[int, Peer]]) -> list[tuple[int, Peer]]:
        self.shed += len(connections)
        return connections


class ConnectionGate:
    """Watches ``router``'s connections through its socket monitor and sheds what ``policy`` says.

    Its monitor is the ROUTER's only one (libzmq allows one): ``connections`` serves the activity file too.
    """

    def __init__(self, router: zmq.Socket[bytes], policy: AdmissionPolicy) -> None:
        self.policy = policy
        self.port = 0  # our listening port, set by ``listening``: an fd on another port is not ours
        self._router = router
        self.socket: zmq.Socket[bytes] | None = router.get_monitor_socket(
            zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_CLOSED
        )
        self._stats_at, self._shed_logged = policy.clock(), 0

    def listening(self, port: int) -> None:
        self.port = port

    @property
    def connections(self) -> set[int]:
        """File descriptors of the ROUTER's live TCP connections (as of the last ``handle``)."""
        return self.policy.live

    def authenticated(self, address: str) -> None:
        self.policy.authenticated(address)

    def handle(self) -> None:
        """Read the monitor's waiting events (a bounded batch) and shed connections over the caps."""
        events: list[tuple[int, int]] = []
        while self.socket is not None and len(events) < EVENTS_PER_TURN and self.socket.poll(0):
            # libzmq's monitor message: (event: u16, value: i32 -- here the connection's fd), endpoint.
            # Parsed here: zmq.utils.monitor would import asyncio into the server for nothing.
            frames = self.socket.recv_multipart()
            event, fd = struct.unpack("=Hi", frames[0][:6])
            events.append((event, fd))
        closed_after: dict[int, int] = {}  # fd -> index of its last close in this batch
        for index, (event, fd) in enumerate(events):
            if event != zmq.EVENT_ACCEPTED:
                closed_after[fd] = index
        for index, (event, fd) in enumerate(events):
            if event != zmq.EVENT_ACCEPTED:
                self.policy.closed(fd)
            elif closed_after.get(fd, -1) < index:  # still open as far as libzmq has told us
                self._on_accepted(fd)
        self.policy.expire()
        now = self.policy.clock()
        if now - self._stats_at >= STATS_EVERY:
            if self.policy.shed > self._shed_logged:  # a quiet server logs nothing
                log.info(
                    "gate: %d unauthenticated connections shed in %.0f s (at most %d per address, %d in all)",
                    self.policy.shed - self._shed_logged,
                    now - self._stats_at,
                    self.policy.per_address,
                    self.policy.total,
                )
            self._stats_at, self._shed_logged = now, self.policy.shed

    def _on_accepted(self, fd: int) -> None:
        peer = self._peer_of(fd, None)
        if peer is None:
            return  # gone already, or the number now belongs to something else: not ours to judge
        for victim, expected in self.policy.accepted(fd, peer[0], peer):
            self._shut_down(victim, expected)

    def _shut_down(self, fd: int, expected: Peer) -> None:
        with self._tcp_socket(fd) as sock:
            if sock is not None and self._peer_of(fd, sock) == expected:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # libzmq sees EOF and closes the fd itself

    def _peer_of(self, fd: int, sock: socket.socket | None) -> Peer | None:
        if sock is None:
            with self._tcp_socket(fd) as own:
                return self._peer_of(fd, own) if own is not None else None
        try:
            local, peer = sock.getsockname(), sock.getpeername()
        except OSError:
            return None
        if local[1] != self.port:
            return None  # a TCP socket, but not one accepted by our listener
        return str(peer[0]), int(peer[1])

    @staticmethod
    @contextlib.contextmanager
    def _tcp_socket(fd: int) -> Iterator[socket.socket | None]:
        """A duplicate of ``fd`` as a socket object if it is a TCP socket (closing it closes the dup only)."""
        try:
            dup = os.dup(fd)
        except OSError:
            yield None
            return
        try:
            sock = socket.socket(fileno=dup)
        except OSError:
            os.close(dup)
            yield None
            return
        with sock:
            if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
                yield sock
            else:
                yield None

    def close(self) -> None:
        """Stop watching (before the context ends: its sockets must all be closed)."""
        if self.socket is not None:
            with contextlib.suppress(zmq.ZMQError):
                self._router.disable_monitor()
            self.socket.close(linger=0)
            self.socket = None
