"""The kernel's side channel: completion, help and objects, served by a thread of their own.

The main thread of the kernel runs the user's code and may be busy for hours; requests that only read
(or bind one name in) the namespace must not wait for it. The supervisor forwards them over a second
socket pair, and a daemon thread here answers them one at a time.

Framing (both ways): a 4-byte big-endian header length, a JSON header, then ``header["size"]`` bytes of
binary payload (a pickle, for objects). This module imports only the standard library at load time:
the kernel loads it at start; introspection and cloudpickle are imported on first use.
"""

from __future__ import annotations

import json
import pickle
import socket
import struct
import sys
import threading
from typing import Any

_LENGTH = struct.Struct("!I")
# Bounds on one message; ``Unpacker.feed`` raises ValueError beyond them. The supervisor reads what the
# kernel writes, and user code can write to this socket too: it must not make the supervisor buffer
# gigabytes or fall over (the objects' own cap, protocol.side.MAX_OBJECT_BYTES, is below MAX_PAYLOAD).
MAX_HEADER = 16 << 20
MAX_PAYLOAD = 64 << 20
# While a side request is served, the kernel's main thread may be spinning in pure Python: switching
# threads more often than CPython's default 5 ms cuts what a completion waits for the GIL. (A long interval
# instead would let this thread finish in one go, but every time it releases the GIL for I/O it would
# then wait that long to get it back: measured, p99 400 ms.)
SIDE_SWITCH_INTERVAL = 0.0005


def pack(header: dict[str, Any], payload: bytes = b"") -> bytes:
    header = {**header, "size": len(payload)}
    raw = json.dumps(header).encode()
    return _LENGTH.pack(len(raw)) + raw + payload


class Unpacker:
    """Turns a byte stream into (header, payload) messages as their bytes arrive; ``ValueError`` (and the
    buffer dropped) on a malformed one."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[dict[str, Any], bytes]]:
        self.buffer += data
        out = []
        while len(self.buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self.buffer)
            if length > MAX_HEADER:  # never wait (and buffer) for a header this big: the stream is garbage
                self.buffer.clear()
                raise ValueError("a malformed side message")
            if len(self.buffer) < _LENGTH.size + length:
                break
            try:
                header = json.loads(bytes(self.buffer[_LENGTH.size : _LENGTH.size + length]))
                size = int(header.get("size", 0)) if isinstance(header, dict) else -1
            except (ValueError, TypeError):  # not JSON, not UTF-8, a size that is no number
                size = -1
            if not 0 <= size <= MAX_PAYLOAD:
                self.buffer.clear()
                raise ValueError("a malformed side message")
            end = _LENGTH.size + length + size
            if len(self.buffer) < end:
                break
            out.append((header, bytes(self.buffer[_LENGTH.size + length : end])))
            del self.buffer[:end]
        return out


def _read_exactly(reader: Any, size: int) -> bytes | None:
    data: bytes = reader.read(size) if size else b""
    return data if len(data) == size else None


def handle(namespace: dict[str, Any], header: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
    """The reply to one side request (never raises: a failure is an answer too)."""
    op, reply = header.get("op"), {"id": header.get("id", "")}
    try:
        if op == "complete":
            from .introspect import complete

            start, matches, kinds = complete(namespace, str(header.get("code", "")), int(header.get("cursor", 0)))
            return {**reply, "start": start, "matches": matches, "kinds": kinds}, b""
        if op == "inspect":
            from .introspect import describe

            found, text = describe(namespace, str(header.get("name", "")), int(header.get("detail", 0)))
            return {**reply, "found": found, "text": text}, b""
        if op == "get":
            return {**reply, "ok": True}, _dumps(namespace, str(header.get("name", "")))
        if op == "put":
            name = str(header.get("name", ""))
            if name == "remrepl:aws-credentials":  # protocol/aws_credentials.py: never the user's namespace
                return {**reply, **_credentials(payload)}, b""
            namespace[name] = pickle.loads(payload)  # cloudpickle's output loads with pickle
            return {**reply, "ok": True}, b""
        return {**reply, "ok": False, "message": f"unknown side request {op!r}"}, b""
    except BaseException as exc:  # SystemExit from a malicious __reduce__ too: this thread must live on
        return {**reply, "ok": False, "found": False, "message": _message(op, header, exc)}, b""


def _credentials(payload: bytes) -> dict[str, Any]:
    from ...cluster.credentials import receive

    try:
        receive(payload)
    except ValueError as exc:  # the message names what is wrong, never the secret
        return {"ok": False, "message": str(exc)}
    return {"ok": True}


def _dumps(namespace: dict[str, Any], name: str) -> bytes:
    if name not in namespace:
        raise NameError(f"name {name!r} is not defined on the remote side")
    import cloudpickle

    from ...protocol.side import MAX_OBJECT_BYTES

    data: bytes = cloudpickle.dumps(namespace[name])
    if len(data) > MAX_OBJECT_BYTES:
        raise _TooBig(
            f"{name!r} pickles to {len(data)} bytes: too big to send (at most {MAX_OBJECT_BYTES}); save it to a "
            "file and %download it"
        )
    return data


class _TooBig(Exception):
    pass


def _message(op: object, header: dict[str, Any], exc: BaseException) -> str:
    name = header.get("name", "")
    if isinstance(exc, _TooBig):
        return str(exc)
    if op == "get" and not isinstance(exc, NameError):
        return f"cannot pickle {name!r} ({type(exc).__name__}: {exc})"
    if op == "put":
        return f"cannot unpickle {name!r} on the remote side ({type(exc).__name__}: {exc})"
    return f"{type(exc).__name__}: {exc}" if not isinstance(exc, NameError) else str(exc)


def serve(sock: socket.socket, namespace: dict[str, Any]) -> None:
    """Answer requests until the supervisor closes the channel."""
    reader = sock.makefile("rb")
    while True:
        head = _read_exactly(reader, _LENGTH.size)
        if head is None:
            return
        raw = _read_exactly(reader, _LENGTH.unpack(head)[0])
        if raw is None:
            return
        header = json.loads(raw)
        payload = _read_exactly(reader, int(header.get("size", 0)))
        if payload is None:
            return
        previous = sys.getswitchinterval()
        sys.setswitchinterval(SIDE_SWITCH_INTERVAL)
        try:
            reply, data = handle(namespace, header, payload)
        finally:
            sys.setswitchinterval(previous)
        sock.sendall(pack(reply, data))


def start(fd: int, namespace: dict[str, Any]) -> None:
    sock = socket.socket(fileno=fd)
    threading.Thread(target=serve, args=(sock, namespace), name="remrepl-side", daemon=True).start()
