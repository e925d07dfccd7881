"""The client's side connection: completion, help and object requests, from any thread.

A ZeroMQ socket belongs to one thread, and the session's socket belongs to whoever reads the output
(the main thread, or the prompt's background receiver). Side requests come from elsewhere (the prompt's
completer runs in a thread pool), so they get a second DEALER socket of their own, authenticated with
the same client key and opened with ``Hello(side=True)``: the server serves it next to the attached
client, without taking the session over. One request at a time (a lock); a reply to a request we gave
up on is dropped.
"""

from __future__ import annotations

import pickle
import threading
import time
import uuid
from collections.abc import Callable

import zmq

from .._exceptions import (
    ConnectionLost,
    ConnectTimeout,
    ExecutionTimeout,
    ObjectError,
    RemoteProtocolError,
    ServerError,
    SessionClosed,
    VersionMismatch,
)
from ..protocol import Bye, Connection, Detach, Event, Hello, Rejected, Role, Welcome
from ..protocol.side import (
    MAX_OBJECT_BYTES,
    Complete,
    CompletePath,
    Completions,
    GetObject,
    Inspect,
    Inspection,
    ObjectReply,
    PutObject,
)
from ..transport import KeyPair, client_socket, tcp_endpoint
from ..transport.connection_info import ConnectionInfo

SideRequest = Complete | Inspect | GetObject | PutObject | CompletePath


class SideChannel:
    def __init__(
        self, ctx: zmq.Context[zmq.Socket[bytes]], info: ConnectionInfo, keys: KeyPair, timeout: float
    ) -> None:
        self.where = f"{info.host}:{info.port}"
        self.lock = threading.Lock()
        self._conn = Connection(Role.CLIENT)
        self._socket = client_socket(ctx, info.server_public_key, keys, uuid.uuid4().bytes)
        self._closed = False
        try:
            self._socket.connect(tcp_endpoint(info.host, info.port))
            deadline = time.monotonic() + timeout
            # IMMEDIATE: writable once the CURVE handshake is through (the main connection already
            # proved the key, so this is a few ms on a live link)
            if not self._socket.poll(int(timeout * 1000) + 1, zmq.POLLOUT):
                raise ConnectTimeout(f"could not open a side connection to {self.where} within {timeout:g} s")
            self._send(Hello(side=True))
            while not isinstance(self._receive(deadline, "the side connection's Welcome"), Welcome):
                pass
        except BaseException:
            self._socket.close(linger=0)
            self._closed = True
            raise

    def _send(self, event: Event) -> None:
        try:
            self._socket.send_multipart(self._conn.send(event), zmq.NOBLOCK)
        except zmq.Again:
            raise ConnectionLost(f"cannot send to the server at {self.where}: the link is down") from None

    def _receive(self, deadline: float, what: str) -> Event:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not self._socket.poll(int(remaining * 1000) + 1):
            if what.endswith("Welcome"):
                raise ConnectTimeout(f"the server at {self.where} did not answer {what}")
            raise ExecutionTimeout(f"the server at {self.where} did not answer {what} in time")
        event = self._conn.receive(self._socket.recv_multipart())
        if isinstance(event, Bye):
            raise SessionClosed(f"the server detached this client: {event.reason}")
        return event

    def request(self, event: SideRequest, timeout: float) -> Event:
        """Send ``event`` and wait for its reply (``ExecutionTimeout`` after ``timeout`` seconds)."""
        with self.lock:
            if self._closed:
                raise SessionClosed("the session is closed")
            self._send(event)
            deadline = time.monotonic() + timeout
            while True:  # bounded by the deadline
                try:
                    reply = self._receive(deadline, f"a {type(event).__name__.lower()} request")
                except VersionMismatch:
                    raise
                except RemoteProtocolError:
                    continue  # one unreadable message (a server bug) must not end the side channel
                if isinstance(reply, Rejected) and reply.req_id in ("", event.req_id):
                    raise ServerError(reply.code, f"the server refused the request: {reply.message}")
                if getattr(reply, "req_id", None) == event.req_id:
                    return reply
                # else: the late answer to a request we stopped waiting for

    def close(self) -> None:
        """End the side connection (the session itself is not affected). Waits for a request in flight."""
        with self.lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._socket.send_multipart(self._conn.send(Detach()), zmq.NOBLOCK)
            except Exception:
                pass  # best effort: the server ages out side connections anyway
            self._socket.close(linger=100)


class SideRequests:
    """The side requests of the Python API (``Session.complete``, ``inspect``, ``get``, ``put``) over a
    side channel opened on first use by ``open_channel(timeout)``; ``Session`` holds one and delegates."""

    def __init__(self, open_channel: Callable[[float], SideChannel]) -> None:
        self._open_channel = open_channel
        self._channel: SideChannel | None = None
        self._lock = threading.Lock()  # guards creating and closing the channel
        self._closed = False

    def request(self, event: SideRequest, timeout: float) -> Event:
        """Send ``event`` on the side channel (opened now if need be) and wait for its reply."""
        with self._lock:
            if self._closed:
                raise SessionClosed("the session is closed")
            if self._channel is None:
                self._channel = self._open_channel(max(timeout, 5.0))
            channel = self._channel
        return channel.request(event, timeout)

    def close(self) -> None:
        """Close the side channel if one was opened; later requests raise ``SessionClosed``. Idempotent."""
        with self._lock:
            self._closed = True
            if self._channel is not None:
                self._channel.close()

    def complete(self, code: str, cursor: int | None, timeout: float) -> Completions:
        event = Complete(uuid.uuid4().hex, code, len(code) if cursor is None else cursor)
        reply = self.request(event, timeout)
        assert isinstance(reply, Completions)
        return reply

    def complete_path(self, typed: str, directories_only: bool, timeout: float) -> Completions:
        reply = self.request(CompletePath(uuid.uuid4().hex, typed, directories_only), timeout)
        assert isinstance(reply, Completions)
        return reply

    def inspect(self, name: str, detail: int, timeout: float) -> Inspection:
        reply = self.request(Inspect(uuid.uuid4().hex, name, detail), timeout)
        assert isinstance(reply, Inspection)
        return reply

    def get(self, name: str, timeout: float) -> object:
        reply = self.request(GetObject(uuid.uuid4().hex, name), timeout)
        assert isinstance(reply, ObjectReply)
        if not reply.ok:
            raise ObjectError(reply.message)
        try:
            return pickle.loads(reply.data)
        except Exception as exc:
            raise ObjectError(f"cannot unpickle {name!r} here ({type(exc).__name__}: {exc})") from None

    def put(self, name: str, value: object, timeout: float) -> None:
        import cloudpickle

        if not name.isidentifier():
            raise ObjectError(f"{name!r} is not a valid Python name")
        try:
            data = cloudpickle.dumps(value)
        except Exception as exc:
            raise ObjectError(f"cannot pickle {type(value).__name__} object ({type(exc).__name__}: {exc})") from None
        if len(data) > MAX_OBJECT_BYTES:
            raise ObjectError(
                f"{type(value).__name__} object pickles to {len(data)} bytes: too big to send (at most "
                f"{MAX_OBJECT_BYTES}); save it to a file and %upload it"
            )
        reply = self.request(PutObject(uuid.uuid4().hex, name, data), timeout)
        assert isinstance(reply, ObjectReply)
        if not reply.ok:
            raise ObjectError(reply.message)
