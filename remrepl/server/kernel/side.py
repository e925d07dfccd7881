"""The kernel's side channel: completion (of code and of remote paths), help and objects, served by a
thread of their own.

The main thread of the kernel runs the user's code and may be busy for hours; requests that only read
(or bind one name in) the namespace must not wait for it. The supervisor forwards them over a second
socket pair, and a daemon thread here answers them one at a time.

The messages are the client protocol's side events, forwarded as they are, in the codec's frames
(``protocol/side_channel.py``). This module imports only the standard library at load time: the kernel
loads it at start; the side codec, introspection and cloudpickle are imported on first use.
"""

from __future__ import annotations

import pickle
import socket
import sys
import threading
from typing import TYPE_CHECKING, Any

from . import imports as kernel_imports

if TYPE_CHECKING:
    from ...protocol.side_channel import SideReply, SideRequest

# While a side request is served, the kernel's main thread may be spinning in pure Python: switching
# threads more often than CPython's default 5 ms cuts what a completion waits for the GIL. (A long interval
# instead would let this thread finish in one go, but every time it releases the GIL for I/O it would
# then wait that long to get it back: measured, p99 400 ms.)
SIDE_SWITCH_INTERVAL = 0.0005


def _read_exactly(reader: Any, size: int) -> bytes | None:
    data: bytes = reader.read(size) if size else b""
    return data if len(data) == size else None


def handle(namespace: dict[str, Any], request: SideRequest) -> SideReply:
    """The reply to one side request (never raises: a failure is an answer too)."""
    from ...protocol.side import Complete, CompletePath, Completions, GetObject, Inspect, Inspection, ObjectReply

    try:
        if isinstance(request, Complete):
            from .introspect import complete

            start, matches, kinds = complete(namespace, request.code, request.cursor)
            return Completions(request.req_id, start, tuple(matches), tuple(kinds))
        if isinstance(request, CompletePath):
            from .introspect import complete_path

            start, matches, kinds = complete_path(request.typed, directories_only=request.directories_only)
            return Completions(request.req_id, start, tuple(matches), tuple(kinds))
        if isinstance(request, Inspect):
            from .introspect import describe

            found, text = describe(namespace, request.name, request.detail)
            return Inspection(request.req_id, found, text)
        if isinstance(request, GetObject):
            return ObjectReply(request.req_id, True, data=_dumps(namespace, request.name))
        if request.name == CREDENTIALS_NAME:  # protocol/aws_credentials.py: never the user's namespace
            return ObjectReply(request.req_id, *_credentials(request.data))
        with kernel_imports.as_user():  # the classes of a user's object are in the user's modules
            namespace[request.name] = pickle.loads(request.data)  # cloudpickle's output loads with pickle
        return ObjectReply(request.req_id, True)
    except BaseException as exc:  # SystemExit from a malicious __reduce__ too: this thread must live on
        return _failure(request, _message(request, exc))


def _failure(request: SideRequest, message: str) -> SideReply:
    """The answer saying that ``request`` failed, and why (``message``)."""
    from ...protocol.side import Complete, CompletePath, Completions, Inspect, Inspection, ObjectReply

    if isinstance(request, Complete):
        return Completions(request.req_id, request.cursor)
    if isinstance(request, CompletePath):
        return Completions(request.req_id, 0)
    if isinstance(request, Inspect):
        return Inspection(request.req_id, False, message)
    return ObjectReply(request.req_id, False, message)


CREDENTIALS_NAME = "remrepl:aws-credentials"  # protocol/aws_credentials.py's (not imported: stdlib at start)


def _credentials(payload: bytes) -> tuple[bool, str]:
    from .credentials import receive

    try:
        receive(payload)
    except ValueError as exc:  # the message names what is wrong, never the secret
        return False, str(exc)
    return True, ""


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


def _message(request: SideRequest, exc: BaseException) -> str:
    from ...protocol.side import GetObject, PutObject

    name = getattr(request, "name", "")
    if isinstance(exc, _TooBig):
        return str(exc)
    if isinstance(request, GetObject) and not isinstance(exc, NameError):
        return f"cannot pickle {name!r} ({type(exc).__name__}: {exc})"
    if isinstance(request, PutObject):
        return f"cannot unpickle {name!r} on the remote side ({type(exc).__name__}: {exc})"
    return f"{type(exc).__name__}: {exc}" if not isinstance(exc, NameError) else str(exc)


def serve(sock: socket.socket, namespace: dict[str, Any]) -> None:
    """Answer requests until the supervisor closes the channel."""
    kernel_imports.own_thread()  # what this thread imports (jedi, cloudpickle) is never the user's directory's
    reader = sock.makefile("rb")
    first = reader.peek(1)[:1]  # the codec loads when the first request comes, not while the kernel starts
    if not first:
        return
    from ..._exceptions import RemreplError
    from ...protocol.side import SIDE_REQUESTS
    from ...protocol.side_channel import SIDE, pack, read_message

    while True:
        try:
            frames = read_message(lambda size: _read_exactly(reader, size))
        except ValueError:  # only the supervisor writes here: user code read from this socket, most likely
            return
        if frames is None:
            return
        try:
            request = SIDE.decode(frames)
        except RemreplError:  # not from the supervisor, which sends only what the codec made
            continue
        if not isinstance(request, SIDE_REQUESTS):
            continue
        previous = sys.getswitchinterval()
        sys.setswitchinterval(SIDE_SWITCH_INTERVAL)
        try:
            reply = handle(namespace, request)
        finally:
            sys.setswitchinterval(previous)
        try:
            data = pack(reply)
        except RemreplError as exc:  # a help text or completion too big for the channel: said instead
            data = pack(_failure(request, f"the answer is too big to send ({exc})"))
        sock.sendall(data)


def start(fd: int, namespace: dict[str, Any]) -> None:
    sock = socket.socket(fileno=fd)
    threading.Thread(target=serve, args=(sock, namespace), name="remrepl-side", daemon=True).start()
