"""The two ZeroMQ sockets of a session, with every limit set on purpose.

One DEALER (client) / ROUTER (server) pair carries everything. No PUB/SUB: it drops at the high-water
mark and misses what was sent before the subscription.
"""

from __future__ import annotations

import zmq

from .keys import KeyPair

ZAP_DOMAIN = b"remrepl"
MAX_MESSAGE_BYTES = 64 << 20  # per message, enforced by libzmq before any Python sees it
HWM = 1000  # messages queued per peer before back-pressure
HANDSHAKE_MS = 15_000  # a peer must finish the CURVE handshake in this time
HEARTBEAT_IVL_MS = 2_000  # ZMTP PING every 2 s...
HEARTBEAT_TIMEOUT_MS = 10_000  # ...and the link is declared dead after 10 s without traffic


def _limits(sock: zmq.Socket[bytes]) -> None:
    sock.setsockopt(zmq.LINGER, 0)  # never block close on a dead peer
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
    sock.setsockopt(zmq.SNDHWM, HWM)
    sock.setsockopt(zmq.RCVHWM, HWM)
    sock.setsockopt(zmq.HANDSHAKE_IVL, HANDSHAKE_MS)
    sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
    sock.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS)


def server_socket(ctx: zmq.Context[zmq.Socket[bytes]], keys: KeyPair) -> zmq.Socket[bytes]:
    """A ROUTER that speaks CURVE as server and asks the ZAP handler about every client key.

    Bind the ZAP handler (``ZapHandler``) in the same context before binding this socket.
    """
    sock = ctx.socket(zmq.ROUTER)
    _limits(sock)
    sock.setsockopt(zmq.ROUTER_MANDATORY, 1)  # sending to a gone client raises instead of dropping
    sock.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a reconnecting client takes over its routing id
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.CURVE_SECRETKEY, keys.secret)
    sock.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)
    sock.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)  # no ZAP handler answering means no entry
    return sock


def client_socket(
    ctx: zmq.Context[zmq.Socket[bytes]], server_key: bytes, keys: KeyPair, routing_id: bytes
) -> zmq.Socket[bytes]:
    """A DEALER that authenticates with ``keys`` and pins the server's public key."""
    sock = ctx.socket(zmq.DEALER)
    _limits(sock)
    sock.setsockopt(zmq.IMMEDIATE, 1)  # queue nothing on a connection whose handshake is not done
    sock.setsockopt(zmq.ROUTING_ID, routing_id)
    sock.setsockopt(zmq.CURVE_SERVERKEY, server_key)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, keys.public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, keys.secret)
    return sock


def tcp_endpoint(host: str, port: int) -> str:
    """``tcp://host:port`` with IPv6 literals bracketed."""
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"
