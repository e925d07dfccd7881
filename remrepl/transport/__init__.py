"""The ZeroMQ side: CURVE keys, the two sockets and their limits, the ZAP handler."""

from .keys import KdfParams, KeyPair, derive_client_keys, is_z85_key
from .sockets import client_socket, server_socket, tcp_endpoint
from .zap import ZapHandler, ZapPolicy

__all__ = [
    "KdfParams",
    "KeyPair",
    "ZapHandler",
    "ZapPolicy",
    "client_socket",
    "derive_client_keys",
    "is_z85_key",
    "server_socket",
    "tcp_endpoint",
]
