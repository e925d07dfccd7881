"""The CurveZMQ handshake of a connecting socket, watched through its socket monitor.

ZeroMQ connects in the background and says nothing about a refused key: the monitor is how a client
tells a refused password (``AuthenticationFailed``) from a server that is not there (``ConnectTimeout``)
and from a link that died (``EVENT_DISCONNECTED``). Used by ``Session`` and by ``remrepl ls``'s probe.
"""

from __future__ import annotations

import struct
import time

import zmq

from .._exceptions import AuthenticationFailed, ConnectError, ConnectTimeout

MONITOR_EVENTS = (
    zmq.EVENT_CONNECTED
    | zmq.EVENT_CONNECT_RETRIED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)


def monitor_event(frames: list[bytes]) -> int:
    """The event number of a libzmq monitor message: [uint16 event, uint32 value][endpoint].

    Parsed here because ``zmq.utils.monitor`` imports asyncio: 50 ms on every ``remrepl`` start.
    """
    event: int = struct.unpack_from("=H", frames[0])[0]
    return event


def await_handshake(monitor: zmq.Socket[bytes], deadline: float, timeout: float, where: str) -> None:
    """Wait for the CurveZMQ handshake of a connecting socket, read from its monitor; the errors say why
    it failed: ``AuthenticationFailed`` (our key refused), ``ConnectTimeout``, ``ConnectError``."""
    reached = False
    while True:  # bounded by the deadline
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            if reached:
                raise ConnectTimeout(
                    f"something answered at {where} but did not complete the CurveZMQ handshake within "
                    f"{timeout:g} s (not a remrepl server, or its public key is not the one given)"
                )
            raise ConnectTimeout(f"could not reach a remrepl server at {where} within {timeout:g} s")
        if not monitor.poll(int(remaining * 1000) + 1):
            continue
        event = monitor_event(monitor.recv_multipart())
        if event == zmq.EVENT_CONNECTED:
            reached = True
        elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            return
        elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            raise AuthenticationFailed(f"authentication failed: the server at {where} refused the password")
        elif event in (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL):
            raise ConnectError(
                f"the CurveZMQ handshake with {where} failed: the server's public key is not the one "
                "given (a stale connection file?) or it is not a remrepl server"
            )
