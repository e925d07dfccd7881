"""A local port forward over an SSH connection: 127.0.0.1:PORT here -> HOST:PORT as seen from the SSH host.

One listening socket on 127.0.0.1 (never another interface) and a thread that accepts; each accepted
connection gets a paramiko ``direct-tcpip`` channel and a thread that pumps bytes both ways. The SSH
transport can be swapped (``use``) after a reconnect while the local port stays the same, so the client's
ZeroMQ socket finds the server again at the address it already has.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import paramiko

log = logging.getLogger("remrepl.tunnel")

CHUNK = 256 * 1024
OPEN_TIMEOUT = 10.0


class Tunnel:
    def __init__(self, transport: paramiko.Transport, remote: tuple[str, int], local_port: int = 0) -> None:
        self.remote = remote
        self._transport = transport
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, Any]] = []
        self._closed = False
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", local_port))
        self._listener.listen(8)
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, name="remrepl-tunnel", daemon=True)
        self._thread.start()

    def use(self, transport: paramiko.Transport) -> None:
        """Forward new connections over ``transport`` from now on (after a reconnect)."""
        with self._lock:
            self._transport = transport

    def drop_connections(self) -> None:
        """Close every forwarded connection (their ends see a disconnect); the listener stays."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for sock, channel in pairs:
            _close(sock)
            _close(channel)

    def _accept_loop(self) -> None:
        while True:  # until close(): the closed listener's accept() raises
            try:
                sock, peer = self._listener.accept()  # a closed listener raises
            except OSError:
                return  # closed
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small request frames go out at once
            with self._lock:
                transport = self._transport
            try:
                channel = transport.open_channel("direct-tcpip", self.remote, peer, timeout=OPEN_TIMEOUT)
            except Exception as exc:  # the link is down: the client will see the connection close
                log.debug("tunnel: cannot open a channel: %s", exc)
                _close(sock)
                continue
            with self._lock:
                if self._closed:
                    _close(sock)
                    _close(channel)
                    return
                self._pairs.append((sock, channel))
            threading.Thread(target=self._pump, args=(sock, channel), name="remrepl-tunnel-pump", daemon=True).start()

    def _pump(self, sock: socket.socket, channel: Any) -> None:
        try:
            while True:
                ready = select.select([sock, channel], [], [], 1.0)[0]
                if not ready:
                    if channel.closed or not channel.get_transport().is_active():
                        return
                    continue
                if sock in ready:
                    data = sock.recv(CHUNK)
                    if not data:
                        return
                    channel.sendall(data)
                if channel in ready:
                    data = channel.recv(CHUNK)
                    if not data:
                        return
                    sock.sendall(data)
        except Exception:  # OSError, EOFError, paramiko's: the connection is over either way
            return
        finally:
            _close(sock)
            _close(channel)
            with self._lock:
                if (sock, channel) in self._pairs:
                    self._pairs.remove((sock, channel))

    def close(self) -> None:
        self._closed = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the thread
        except OSError:
            pass
        _close(self._listener)
        self.drop_connections()
        self._thread.join(2.0)


def _close(thing: Any) -> None:
    try:
        thing.close()
    except Exception:
        pass
