"""The CurveZMQ handshake of a connecting socket, watched through its socket monitor.

ZeroMQ connects in the background and says nothing about a refused key: the monitor is how a client
tells a refused password (``AuthenticationFailed``: ZAP status 400) from a server that refuses attempts
from this address for now (``TooManyAttempts``: ZAP status 500, see ``transport/zap.py``), from a server
that is not there (``ConnectTimeout``) and from a link that died (``EVENT_DISCONNECTED``). Used by
``Session`` and by ``remrepl ls``'s probe.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

import zmq

from .._exceptions import AuthenticationFailed, ConnectError, ConnectTimeout, TooManyAttempts
from ..transport.zap import STATUS_TOO_MANY, retry_after_seconds

MONITOR_EVENTS = (
    zmq.EVENT_CONNECTED
    | zmq.EVENT_CONNECT_RETRIED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)
RETRY_EVERY = 0.5  # s between attempts while the server refuses this address (it frees a slot per second)


def monitor_message(frames: list[bytes]) -> tuple[int, int]:
    """(event, value) of a libzmq monitor message: [uint16 event, int32 value][endpoint]. The value is
    an fd, an errno, or for ``EVENT_HANDSHAKE_FAILED_AUTH`` the server's ZAP status code (400, 500).

    Parsed here because ``zmq.utils.monitor`` imports asyncio: 50 ms on every ``remrepl`` start.
    """
    event, value = struct.unpack_from("=Hi", frames[0])
    return int(event), int(value)


def monitor_event(frames: list[bytes]) -> int:
    """The event number of a libzmq monitor message."""
    return monitor_message(frames)[0]


def await_handshake(
    monitor: zmq.Socket[bytes],
    deadline: float,
    timeout: float,
    where: str,
    reconnect: Callable[[], None] | None = None,
) -> None:
    """Wait for the CurveZMQ handshake of a connecting socket, read from its monitor; the errors say why
    it failed: ``AuthenticationFailed`` (our key refused), ``TooManyAttempts``, ``ConnectTimeout``,
    ``ConnectError``.

    ``reconnect``: how to try again (libzmq does not, after a refusal) while the server refuses this
    address for now; without it, or once the deadline is near, ``TooManyAttempts`` is raised at once.
    """
    reached = refused = False
    retry_at: float | None = None
    while True:  # bounded by the deadline
        now = time.monotonic()
        remaining = deadline - now
        if retry_at is not None and now >= retry_at and reconnect is not None:
            retry_at = None
            reconnect()
        if remaining <= 0:
            if refused:
                raise _too_many(where)
            if reached:
                raise ConnectTimeout(
                    f"something answered at {where} but did not complete the CurveZMQ handshake within "
                    f"{timeout:g} s (not a remrepl server, or its public key is not the one given)"
                )
            raise ConnectTimeout(f"could not reach a remrepl server at {where} within {timeout:g} s")
        wait = remaining if retry_at is None else max(0.0, min(remaining, retry_at - now))
        if not monitor.poll(int(wait * 1000) + 1):
            continue
        event, value = monitor_message(monitor.recv_multipart())
        if event == zmq.EVENT_CONNECTED:
            reached = True
        elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            return
        elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH and value == STATUS_TOO_MANY:
            refused = True
            if reconnect is None or remaining <= RETRY_EVERY:
                raise _too_many(where)
            retry_at = time.monotonic() + RETRY_EVERY
        elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            raise AuthenticationFailed(f"authentication failed: the server at {where} refused the password")
        elif event in (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL):
            raise ConnectError(
                f"the CurveZMQ handshake with {where} failed: the server's public key is not the one "
                "given (a stale connection file?), it is not a remrepl server, or it dropped the "
                "connection because too many unauthenticated connections come from this address"
            )


def _too_many(where: str) -> TooManyAttempts:
    seconds = retry_after_seconds()
    return TooManyAttempts(
        f"too many failed attempts from this address; try again in {seconds} s (the server at {where} "
        "did not check the password: someone on this address, maybe behind the same SSH tunnel or NAT, "
        "keeps trying wrong ones)",
        retry_after=seconds,
    )
