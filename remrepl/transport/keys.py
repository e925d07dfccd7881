"""CURVE keys: the server's keypair, and the client key derived from the password.

The password is stretched with Argon2id, salted with the server's public key, into a CURVE secret key.
The server computes the matching public key once at start and its ZAP handler admits only that key
(and the launcher's key, if one was handed over). So a wrong password fails inside the CURVE
handshake: the password never crosses the wire, and no byte of a peer without it reaches Python code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import cast

import zmq
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from zmq.utils import z85


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost; RFC 9106's second recommended setting (64 MiB, t=3, p=4): about 0.2 s here."""

    iterations: int = 3
    memory_kib: int = 65536
    lanes: int = 4

    def to_json(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> KdfParams:
        if not isinstance(data, dict):
            return cls()
        return cls(**{k: int(v) for k, v in data.items() if k in ("iterations", "memory_kib", "lanes")})


@dataclass(frozen=True)
class KeyPair:
    """A CURVE keypair, both halves Z85-encoded (40 ASCII bytes each)."""

    public: bytes
    secret: bytes = field(repr=False)  # a repr lands in logs, tracebacks and the REPL

    @classmethod
    def generate(cls) -> KeyPair:
        public, secret = zmq.curve_keypair()
        return cls(public, secret)

    @classmethod
    def from_secret(cls, secret: bytes) -> KeyPair:
        return cls(zmq.curve_public(secret), secret)


def derive_client_keys(password: str | bytearray, server_public_key: bytes, kdf: KdfParams) -> KeyPair:
    """The client's keypair for ``password`` (a str, or its UTF-8 bytes in a buffer the caller wipes)
    against the server whose Z85 public key is given."""
    raw = Argon2id(
        salt=z85.decode(server_public_key),
        length=32,
        iterations=kdf.iterations,
        lanes=kdf.lanes,
        memory_cost=kdf.memory_kib,
    ).derive(password.encode() if isinstance(password, str) else cast(bytes, password))  # any buffer: no copy
    return KeyPair.from_secret(z85.encode(raw))


def is_z85_key(value: bytes) -> bool:
    """True for a well-formed Z85-encoded 32-byte key."""
    if len(value) != 40:
        return False
    try:
        return len(z85.decode(value)) == 32
    except (ValueError, KeyError, TypeError):
        return False
