"""The tests' socket guard: Python code in the test process and in every Python process it starts may
reach only loopback (127.0.0.0/8, ::1) or Unix sockets. libzmq's own sockets are C-level: the tests pass
them only 127.0.0.1 endpoints, and ``tests/test_netguard.py`` checks the guard itself.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

_original: dict[str, Any] = {}


class NetworkGuardError(RuntimeError):
    pass


def _check(sock: socket.socket, address: Any) -> None:
    if sock.family == getattr(socket, "AF_UNIX", None):
        return
    host = address[0] if isinstance(address, tuple) else address
    if host in ("", "localhost"):
        return
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise NetworkGuardError(f"tests may not resolve or reach {host!r}: use 127.0.0.1") from None
    if not ip.is_loopback:
        raise NetworkGuardError(f"tests may reach only loopback, not {host}")


def install() -> None:
    if _original:
        return
    for name in ("connect", "connect_ex", "bind"):
        original = getattr(socket.socket, name)
        _original[name] = original

        def guarded(self: socket.socket, address: Any, _original: Any = original) -> Any:
            _check(self, address)
            return _original(self, address)

        setattr(socket.socket, name, guarded)
    original_sendto = socket.socket.sendto
    _original["sendto"] = original_sendto

    def sendto(self: socket.socket, data: Any, *args: Any) -> Any:
        _check(self, args[-1])
        return original_sendto(self, data, *args)

    socket.socket.sendto = sendto  # type: ignore[method-assign, assignment]
