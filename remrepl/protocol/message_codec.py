"""Frozen dataclasses to frames and back, checking every field: the one codec of every remrepl channel.

A ``Codec`` is made once from a set of message classes: frozen dataclasses, or ``typing.NamedTuple``
classes (the kernel's control channel: a NamedTuple class costs a fifth of a frozen dataclass to make,
and the kernel then starts without importing ``dataclasses``). A message becomes a list of
frames: a JSON header ``{"type": "stream", "seq": 3, ...}`` holding every field that is not ``bytes``,
then one binary frame per ``bytes`` field, in declaration order. Decoding checks the type name, every
field's presence and type, the frame count and the header size; anything else is a
``RemoteProtocolError`` — never a crash, and never an object other than one of the codec's classes (no
pickle, no eval). A class may check more in ``__post_init__`` (a ``ValueError`` there is a refusal too).

The limits are symmetric: ``encode`` refuses (``LocalProtocolError``) whatever ``decode`` would refuse,
so a sender finds out that a message is too big or malformed before it is sent or kept. Request ids
(``req_id``, ``xfer_id``) are bounded in length, and may not be empty in the ``named_requests`` classes.

``strict`` codecs are for a peer that runs anybody's code (the kernel: user code can write to its
sockets): integers must fit 64 bits, numbers may not be NaN, and every string is made valid text (lone
surrogates become ``\\udcXX`` escapes), so nothing the peer sends can break whoever shows it.

Stdlib only: the kernel imports this at start.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from .._exceptions import LocalProtocolError, RemoteProtocolError

MAX_ID_CHARS = 256  # a req_id or xfer_id (clients make 32-character hex ones)
_ID_FIELDS = frozenset({"req_id", "xfer_id"})
_INT_MIN, _INT_END = -(2**63), 2**63
_json_encode = json.JSONEncoder(separators=(",", ":")).encode  # made once: this is the hot path

M = TypeVar("M")
Check = Callable[[object], bool]
Convert = Callable[[Any], Any]


def type_name(cls: type) -> str:
    """``CamelCase`` -> ``camel_case``: a class's name on the wire unless the codec is given others."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


def valid_text(text: str) -> str:
    """``text`` as valid Unicode: lone surrogates become ``\\udcXX``, as Python's stderr prints them."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class _Field:
    """One field of a message class, as the codec handles it. (A plain class: this module loads at the
    kernel's start, and a dataclass costs a millisecond to make.)"""

    __slots__ = ("check", "convert", "has_default", "name")

    def __init__(self, name: str, check: Check, has_default: bool, convert: Convert | None) -> None:
        self.name = name
        self.check = check  # does a value conform to the field's type hint
        self.has_default = has_default
        self.convert = convert  # strict codecs: the checked value made valid (text), or None: as it is


class Codec(Generic[M]):
    """Encoder and decoder of one channel's messages (see the module docstring)."""

    def __init__(
        self,
        messages: Iterable[type[M]] | Mapping[str, type[M]],
        *,
        max_header: int,
        max_frames: int = 1,
        named_requests: Iterable[type] = (),
        strict: bool = False,
        tag: str = "type",
    ) -> None:
        """``messages``: the classes, named by ``type_name``, or a mapping of wire names to classes.
        ``tag``: the header key that names the type. ``max_frames``: at least 1 + the most ``bytes`` fields
        of a class. (A class's fields are looked at when it is first encoded or decoded: a kernel that
        starts pays only for the messages it sends.)"""
        by_name = dict(messages) if isinstance(messages, Mapping) else {type_name(c): c for c in messages}
        self.by_name: dict[str, type[M]] = by_name
        self.name_of: dict[type, str] = {c: n for n, c in by_name.items()}
        self.max_header = max_header
        self.tag = tag
        self.strict = strict
        self.max_frames = max_frames
        self.fields = _FieldTable(frozenset(named_requests), strict, max_frames)

    def encode(self, message: M) -> list[bytes]:
        """Frames for ``message``; ``LocalProtocolError`` if it is not a well-formed message of this codec."""
        name = self.name_of.get(type(message))
        if name is None:
            raise LocalProtocolError(f"not a message of this channel: {message!r:.200}")
        json_fields, binary_fields = self.fields[type(message)]
        header: dict[str, object] = {self.tag: name}
        for f in json_fields:
            value = getattr(message, f.name)
            if not f.check(value):
                raise LocalProtocolError(f"{name}.{f.name} has a wrong type or value: {value!r:.80}")
            header[f.name] = list(value) if isinstance(value, tuple) else value
        raw = _json_encode(header).encode()  # ASCII (ensure_ascii): lone surrogates travel as \u escapes
        if len(raw) > self.max_header:
            raise LocalProtocolError(f"{name} header of {len(raw)} bytes exceeds {self.max_header}")
        frames = [raw]
        for f in binary_fields:
            value = getattr(message, f.name)
            if not isinstance(value, bytes):
                raise LocalProtocolError(f"{name}.{f.name} must be bytes, not {type(value).__name__}")
            frames.append(value)
        return frames

    def decode(self, frames: Sequence[bytes]) -> M:
        """The message in ``frames``; ``RemoteProtocolError`` saying what is wrong otherwise."""
        if not frames or len(frames) > self.max_frames:
            raise RemoteProtocolError(f"a message has 1 to {self.max_frames} frames, not {len(frames)}")
        raw = frames[0]
        if len(raw) > self.max_header:
            raise RemoteProtocolError(f"message header of {len(raw)} bytes exceeds {self.max_header}")
        try:
            header = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise RemoteProtocolError(f"message header is not JSON: {exc}") from None
        return self.decode_header(header, frames[1:])

    def decode_header(self, header: object, binary: Sequence[bytes] = ()) -> M:
        """The message of an already parsed JSON ``header`` and its binary frames (see ``decode``)."""
        if not isinstance(header, dict):
            raise RemoteProtocolError("message header must be a JSON object")
        name = header.get(self.tag)
        cls = self.by_name.get(name) if isinstance(name, str) else None
        if cls is None:
            raise RemoteProtocolError(f"unknown message type {name!r:.80}")
        json_fields, binary_fields = self.fields[cls]
        if len(binary) != len(binary_fields):
            raise RemoteProtocolError(f"{name} takes {1 + len(binary_fields)} frames, not {1 + len(binary)}")
        kwargs: dict[str, object] = {}
        for f in json_fields:
            if f.name not in header:
                if f.has_default:
                    continue
                raise RemoteProtocolError(f"{name} lacks field {f.name!r}")
            value = header[f.name]
            if not f.check(value):
                raise RemoteProtocolError(f"{name}.{f.name} has a wrong type or value: {value!r:.80}")
            kwargs[f.name] = (
                f.convert(value) if f.convert is not None else tuple(value) if isinstance(value, list) else value
            )
        for f, frame in zip(binary_fields, binary, strict=True):
            kwargs[f.name] = bytes(frame)
        try:
            message: M = cls(**kwargs)
        except ValueError as exc:  # the class's own checks (__post_init__)
            raise RemoteProtocolError(f"{name}: {exc}") from None
        return message


FieldsOf = tuple[tuple[_Field, ...], tuple[_Field, ...]]


class _FieldTable(dict[type, FieldsOf]):
    """A class's (JSON fields, binary fields), made on its first use."""

    def __init__(self, named_requests: frozenset[type], strict: bool, max_frames: int) -> None:
        super().__init__()
        self.named_requests, self.strict, self.max_frames = named_requests, strict, max_frames

    def __missing__(self, cls: type) -> FieldsOf:
        fields = _make_fields(cls, cls in self.named_requests, self.strict)
        if 1 + len(fields[1]) > self.max_frames:
            raise TypeError(f"{cls.__name__} has more bytes fields than the codec's max_frames allows")
        self[cls] = fields
        return fields


def _make_fields(cls: type, named_request: bool, strict: bool) -> FieldsOf:
    """(JSON fields, binary fields) of a message class, each with a checker made once."""
    # The annotations are strings, resolved in the module that defined the class. remrepl/__init__ sets
    # the public classes' __module__ to "remrepl" (so they show as remrepl.Done), which would send
    # get_type_hints to the wrong namespace; the dataclass's generated __init__ keeps the right one.
    home = getattr(vars(cls).get("__init__"), "__globals__", None)
    hints = typing.get_type_hints(cls, globalns=home)
    json_fields: list[_Field] = []
    binary_fields: list[_Field] = []
    for name, has_default in _declared_fields(cls):
        hint = hints[name]
        check = _checker(hint, strict)
        if name in _ID_FIELDS:
            check = _id_checker(required=named_request)
        field = _Field(name, check, has_default, _converter(hint) if strict else None)
        (binary_fields if hint is bytes else json_fields).append(field)
    return tuple(json_fields), tuple(binary_fields)


def _declared_fields(cls: type) -> list[tuple[str, bool]]:
    """(name, has a default) of each field of a NamedTuple or dataclass, in declaration order."""
    names: tuple[str, ...] | None = getattr(cls, "_fields", None)
    if isinstance(names, tuple) and issubclass(cls, tuple):  # a NamedTuple: no dataclasses import
        defaults: dict[str, object] = getattr(cls, "_field_defaults", {})
        return [(name, name in defaults) for name in names]
    import dataclasses  # here: the kernel's channel has none, and the module costs it milliseconds at start

    return [
        (f.name, f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING)
        for f in dataclasses.fields(cls)
    ]


def _id_checker(*, required: bool) -> Check:
    least = 1 if required else 0
    return lambda v: type(v) is str and least <= len(v) <= MAX_ID_CHARS


def _checker(hint: Any, strict: bool) -> Check:
    """A fast predicate for the few type hints messages use (checked once per message, per field)."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        allowed = frozenset(typing.get_args(hint))
        return lambda v: isinstance(v, str) and v in allowed
    if origin in (typing.Union, types.UnionType):
        options = tuple(_checker(a, strict) for a in typing.get_args(hint))
        return lambda v: any(check(v) for check in options)
    if origin is tuple:
        item = _checker(typing.get_args(hint)[0], strict)
        return lambda v: isinstance(v, (list, tuple)) and all(item(x) for x in v)
    if origin is dict:  # a small mapping of names (dict[str, int]): copied on decode, so it is the message's
        value_check = _checker(typing.get_args(hint)[1], strict)
        return lambda v: isinstance(v, dict) and all(type(k) is str and value_check(x) for k, x in v.items())
    if hint is type(None):
        return lambda v: v is None
    if hint is float:
        if strict:  # NaN is no measure of anything
            return lambda v: type(v) in (int, float) and v == v
        return lambda v: type(v) in (int, float)
    if hint is int and strict:
        return lambda v: type(v) is int and _INT_MIN <= v < _INT_END
    if hint in (int, str, bool, bytes):
        return lambda v: type(v) is hint  # exact: JSON's true is not an int here
    raise TypeError(f"no codec checker for {hint!r}")


def _converter(hint: Any) -> Convert | None:
    """For strict codecs: what makes a checked value valid (text valid, numbers float, lists tuples)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if str in options:
            return lambda v: valid_text(v) if isinstance(v, str) else v
        if float in options:
            return lambda v: float(v) if type(v) is int else v
        return None
    if origin is tuple:
        if typing.get_args(hint)[0] is str:
            return lambda v: tuple(valid_text(x) for x in v)
        return tuple
    if origin is dict:
        return lambda v: {valid_text(k): x for k, x in v.items()}
    if hint is str:
        return valid_text
    if hint is float:
        return float
    return None
