"""The supervisor <-> kernel side socket: the client's side events, framed on a byte stream.

The supervisor forwards a client's ``Complete``, ``CompletePath``, ``Inspect``, ``GetObject`` and
``PutObject`` (``side.py``) to the kernel's side thread as they are, and the kernel answers with
``Completions``, ``Inspection`` and ``ObjectReply``, in the codec's frames. On the stream each message is
a 1-byte frame count, then each frame as a 4-byte big-endian length and its bytes.

User code can write to this socket too (it is an fd of the kernel's process), so the supervisor's
``Unpacker`` bounds what it buffers (``ValueError`` on a stream that is no message, never a wait for
gigabytes) and its decoder is ``strict`` (``message_codec``). Stdlib only (with ``side`` and
``message_codec``); the kernel's side thread loads it when its first request comes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

from .message_codec import Codec
from .side import (
    SIDE_CLIENT_EVENTS,
    SIDE_SERVER_EVENTS,
    Complete,
    CompletePath,
    Completions,
    GetObject,
    Inspect,
    Inspection,
    ObjectReply,
    PutObject,
)

SideRequest = Complete | Inspect | GetObject | PutObject | CompletePath
SideReply = Completions | Inspection | ObjectReply

_COUNT = struct.Struct("!B")
_LENGTH = struct.Struct("!I")
# Bounds on one message. The objects' own cap (side.MAX_OBJECT_BYTES) is below MAX_PAYLOAD; a completion
# or a help text beyond MAX_HEADER would be cut by the supervisor to an event's size anyway.
MAX_HEADER = 16 << 20
MAX_PAYLOAD = 64 << 20

SIDE: Codec[SideRequest | SideReply] = Codec(
    (*SIDE_CLIENT_EVENTS, *SIDE_SERVER_EVENTS),
    max_header=MAX_HEADER,
    max_frames=2,
    named_requests=(*SIDE_CLIENT_EVENTS, *SIDE_SERVER_EVENTS),
    strict=True,
)


def pack(message: SideRequest | SideReply) -> bytes:
    """``message`` framed for the stream; ``LocalProtocolError`` if malformed or too big."""
    return pack_frames(SIDE.encode(message))


def pack_frames(frames: Sequence[bytes]) -> bytes:
    """Frames as they go on the stream (whatever they hold: for tests that write garbage too)."""
    return _COUNT.pack(len(frames)) + b"".join(_LENGTH.pack(len(f)) + f for f in frames)


class Unpacker:
    """Turns a byte stream into messages' frames as their bytes arrive; ``ValueError`` (and the buffer
    dropped) on a stream that is not one of messages within the bounds. Decoding is ``SIDE.decode``."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[list[bytes]]:
        self.buffer += data
        out: list[list[bytes]] = []
        while True:
            frames = self._next()
            if frames is None:
                return out
            out.append(frames)

    def _next(self) -> list[bytes] | None:
        """The first whole message's frames (removed from the buffer), None while it is incomplete."""
        buffer = self.buffer
        if not buffer:
            return None
        (count,) = _COUNT.unpack_from(buffer)
        if not 1 <= count <= SIDE.max_frames:
            return self._garbage()
        at, spans = _COUNT.size, []
        for i in range(count):
            if len(buffer) < at + _LENGTH.size:
                return None
            (length,) = _LENGTH.unpack_from(buffer, at)
            if length > (MAX_HEADER if i == 0 else MAX_PAYLOAD):  # never wait (and buffer) for that much
                return self._garbage()
            at += _LENGTH.size
            if len(buffer) < at + length:
                return None
            spans.append((at, at + length))
            at += length
        frames = [bytes(buffer[start:end]) for start, end in spans]
        del buffer[:at]
        return frames

    def _garbage(self) -> list[bytes]:
        self.buffer.clear()
        raise ValueError("a malformed side message")


def read_message(read_exactly: Callable[[int], bytes | None]) -> list[bytes] | None:
    """One message's frames from a blocking stream; ``read_exactly(n)`` gives n bytes or None at its end.
    ``ValueError`` on a stream that is no message (see ``Unpacker``)."""
    head = read_exactly(_COUNT.size)
    if head is None:
        return None
    (count,) = _COUNT.unpack(head)
    if not 1 <= count <= SIDE.max_frames:
        raise ValueError("a malformed side message")
    frames = []
    for i in range(count):
        raw = read_exactly(_LENGTH.size)
        if raw is None:
            return None
        (length,) = _LENGTH.unpack(raw)
        if length > (MAX_HEADER if i == 0 else MAX_PAYLOAD):
            raise ValueError("a malformed side message")
        frame = read_exactly(length)
        if frame is None:
            return None
        frames.append(frame)
    return frames
