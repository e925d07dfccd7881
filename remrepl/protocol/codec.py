"""Events to ZeroMQ frames and back, validating everything that comes in.

A message is a list of frames: a JSON header ``{"type": "stream", "seq": 3, ...}`` holding every field
that is not ``bytes``, followed by one binary frame per ``bytes`` field, in declaration order (so output
never pays for JSON escaping). Decoding checks the type name, every field's presence and type, the
frame count and the header size; anything else is a ``RemoteProtocolError`` — never a crash, and never
an object other than one of the event classes (no pickle, no eval).

The limits are symmetric: ``encode`` refuses (``LocalProtocolError``) whatever ``decode`` would refuse,
so a sender finds out that a message is too big or malformed before it is sent or kept for replay.
Request ids (``req_id``, ``xfer_id``) are bounded in length, and may not be empty in the events that
start or answer a request: an empty id would make two requests indistinguishable.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from .._exceptions import LocalProtocolError, RemoteProtocolError
from .events import CLIENT_EVENTS, SERVER_EVENTS, Event, Execute, InputReply, Restart
from .side import SIDE_CLIENT_EVENTS, Completions, Inspection, ObjectReply
from .transfers import TRANSFER_CLIENT_EVENTS, TRANSFER_SERVER_EVENTS

MAX_HEADER_BYTES = 1 << 20  # a header is small; big data goes in binary frames
MAX_FRAMES = 4
MAX_ID_CHARS = 256  # a req_id or xfer_id (clients make 32-character hex ones)
_ID_FIELDS = frozenset({"req_id", "xfer_id"})
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
    }
)
_json_encode = json.JSONEncoder(separators=(",", ":")).encode  # made once: this is the hot path


def _type_name(cls: type) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


_BY_NAME: dict[str, type] = {_type_name(c): c for c in (*CLIENT_EVENTS, *SERVER_EVENTS)}
_NAME_OF: dict[type, str] = {c: n for n, c in _BY_NAME.items()}


Check = Callable[[object], bool]


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str
    check: Check  # does a value conform to the field's type hint
    has_default: bool


def _make_fields(cls: type) -> tuple[tuple[_Field, ...], tuple[_Field, ...]]:
    """(JSON fields, binary fields) of an event class, each with a checker made once."""
    hints = typing.get_type_hints(cls)
    json_fields: list[_Field] = []
    binary_fields: list[_Field] = []
    for f in dataclasses.fields(cls):
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        check = _checker(hints[f.name])
        if f.name in _ID_FIELDS:
            check = _id_checker(required=cls in _NAMED_REQUESTS)
        field = _Field(f.name, check, has_default)
        (binary_fields if hints[f.name] is bytes else json_fields).append(field)
    return tuple(json_fields), tuple(binary_fields)


def _id_checker(*, required: bool) -> Check:
    least = 1 if required else 0
    return lambda v: type(v) is str and least <= len(v) <= MAX_ID_CHARS


def _checker(hint: Any) -> Check:
    """A fast predicate for the few type hints events use (checked once per message, per field)."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        allowed = frozenset(typing.get_args(hint))
        return lambda v: isinstance(v, str) and v in allowed
    if origin in (typing.Union, types.UnionType):
        options = tuple(_checker(a) for a in typing.get_args(hint))
        return lambda v: any(check(v) for check in options)
    if origin is tuple:
        item = _checker(typing.get_args(hint)[0])
        return lambda v: isinstance(v, (list, tuple)) and all(item(x) for x in v)
    if hint is type(None):
        return lambda v: v is None
    if hint is float:
        return lambda v: type(v) in (int, float)
    if hint in (int, str, bool, bytes):
        return lambda v: type(v) is hint  # exact: JSON's true is not an int here
    raise TypeError(f"no codec checker for {hint!r}")


_FIELDS = {cls: _make_fields(cls) for cls in _BY_NAME.values()}


def encode(event: Event) -> list[bytes]:
    """Frames for ``event``; ``LocalProtocolError`` if it is not a well-formed event."""
    name = _NAME_OF.get(type(event))
    if name is None:
        raise LocalProtocolError(f"not a protocol event: {event!r}")
    json_fields, binary_fields = _FIELDS[type(event)]
    header: dict[str, object] = {"type": name}
    for f in json_fields:
        value = getattr(event, f.name)
        if not f.check(value):
            raise LocalProtocolError(f"{name}.{f.name} has a wrong type or value: {value!r:.80}")
        header[f.name] = list(value) if isinstance(value, tuple) else value
    raw = _json_encode(header).encode()  # ASCII (ensure_ascii): lone surrogates travel as \u escapes
    if len(raw) > MAX_HEADER_BYTES:
        raise LocalProtocolError(f"{name} header of {len(raw)} bytes exceeds {MAX_HEADER_BYTES}")
    frames = [raw]
    for f in binary_fields:
        value = getattr(event, f.name)
        if not isinstance(value, bytes):
            raise LocalProtocolError(f"{name}.{f.name} must be bytes, not {type(value).__name__}")
        frames.append(value)
    return frames


def decode(frames: Sequence[bytes]) -> Event:
    """The event in ``frames``; ``RemoteProtocolError`` saying what is wrong otherwise."""
    if not frames or len(frames) > MAX_FRAMES:
        raise RemoteProtocolError(f"a message has 1 to {MAX_FRAMES} frames, not {len(frames)}")
    raw = frames[0]
    if len(raw) > MAX_HEADER_BYTES:
        raise RemoteProtocolError(f"message header of {len(raw)} bytes exceeds {MAX_HEADER_BYTES}")
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise RemoteProtocolError(f"message header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise RemoteProtocolError("message header must be a JSON object")
    name = header.get("type")
    cls = _BY_NAME.get(name) if isinstance(name, str) else None
    if cls is None:
        raise RemoteProtocolError(f"unknown message type {name!r}")
    json_fields, binary_fields = _FIELDS[cls]
    if len(frames) != 1 + len(binary_fields):
        raise RemoteProtocolError(f"{name} takes {1 + len(binary_fields)} frames, not {len(frames)}")
    kwargs: dict[str, object] = {}
    for f in json_fields:
        if f.name not in header:
            if f.has_default:
                continue
            raise RemoteProtocolError(f"{name} lacks field {f.name!r}")
        value = header[f.name]
        if not f.check(value):
            raise RemoteProtocolError(f"{name}.{f.name} has a wrong type or value: {value!r:.80}")
        kwargs[f.name] = tuple(value) if isinstance(value, list) else value
    for f, frame in zip(binary_fields, frames[1:], strict=True):
        kwargs[f.name] = bytes(frame)
    event: Event = cls(**kwargs)
    return event
