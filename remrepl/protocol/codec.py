"""The client protocol's events to ZeroMQ frames and back, validating everything that comes in.

A message is a list of frames: a JSON header ``{"type": "stream", "seq": 3, ...}`` holding every field
that is not ``bytes``, followed by one binary frame per ``bytes`` field, in declaration order (so output
never pays for JSON escaping). Decoding checks the type name, every field's presence and type, the
frame count and the header size; anything else is a ``RemoteProtocolError`` — never a crash, and never
an object other than one of the event classes (no pickle, no eval). The machinery is
``message_codec.Codec``, which the internal channels (``kernel_channel``, ``keeper``) use too.

The limits are symmetric: ``encode`` refuses (``LocalProtocolError``) whatever ``decode`` would refuse,
so a sender finds out that a message is too big or malformed before it is sent or kept for replay.
Request ids (``req_id``, ``xfer_id``) are bounded in length, and may not be empty in the events that
start or answer a request: an empty id would make two requests indistinguishable.
"""

from __future__ import annotations

from .events import CLIENT_EVENTS, SERVER_EVENTS, Event, Execute, InputReply, Restart, StdinAck, StdinData
from .message_codec import MAX_ID_CHARS, Codec
from .side import SIDE_CLIENT_EVENTS, Completions, Inspection, ObjectReply
from .transfers import TRANSFER_CLIENT_EVENTS, TRANSFER_SERVER_EVENTS

__all__ = ["MAX_FRAMES", "MAX_HEADER_BYTES", "MAX_ID_CHARS", "decode", "encode"]

MAX_HEADER_BYTES = 1 << 20  # a header is small; big data goes in binary frames
MAX_FRAMES = 4
# Events whose id names a request: it may not be empty. (Output events, Rejected and Interrupt may carry
# "": output printed between runs, a refusal of no request in particular, "whatever runs".)
_NAMED_REQUESTS: frozenset[type] = frozenset(
    {
        Execute,
        Restart,
        InputReply,
        *SIDE_CLIENT_EVENTS,
        Completions,
        Inspection,
        ObjectReply,
        *TRANSFER_CLIENT_EVENTS,
        *TRANSFER_SERVER_EVENTS,
        StdinData,
        StdinAck,
    }
)

CODEC: Codec[Event] = Codec(
    (*CLIENT_EVENTS, *SERVER_EVENTS),
    max_header=MAX_HEADER_BYTES,
    max_frames=MAX_FRAMES,
    named_requests=_NAMED_REQUESTS,
)
_BY_NAME = CODEC.by_name

encode = CODEC.encode  # bound once: this is the hot path
decode = CODEC.decode
