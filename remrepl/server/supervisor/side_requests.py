"""The supervisor's book-keeping for side requests: who asked what, and turning kernel replies into events.

A side request (completion, a remote path's completion, help, an object) goes from a client connection to
the kernel's side thread and back (which peers are side connections is the session core's,
``session_core.py``). The supervisor remembers which connection asked (by ``req_id``) to route the
answer, answers with a failure whatever is outstanding when the kernel goes away, and never looks inside a pickle.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import zmq

from ..._exceptions import RemoteProtocolError
from ...protocol import Connection, Event
from ...protocol.side import (
    MAX_OBJECT_BYTES,
    Complete,
    CompletePath,
    Completions,
    GetObject,
    Inspect,
    Inspection,
    ObjectReply,
)
from ...protocol.side_channel import SIDE, SideReply, SideRequest
from .bounds import FIELD_BUDGET, clip
from .kernel_process import KernelProcess

log = logging.getLogger("remrepl.server")

MAX_PENDING = 256  # side requests in flight; more are refused at once

Sender = Callable[[bytes, Connection, Event], None]


class SideRequests:
    def __init__(self, send: Sender, poller: zmq.Poller) -> None:
        self.send = send
        self.poller = poller
        self.pending: dict[str, tuple[bytes, Connection, SideRequest]] = {}

    def watch(self, kernel: KernelProcess) -> None:
        self.poller.register(kernel.side_fd, zmq.POLLIN)

    def unwatch(self, kernel: KernelProcess) -> None:
        """The kernel is going: stop polling it, and answer what it will never answer."""
        self.poller.unregister(kernel.side_fd)
        self.fail_all("the remote interpreter went away before answering")

    def _poll_for_output(self, kernel: KernelProcess) -> None:
        """Poll for POLLOUT only while side requests wait to be written."""
        self.poller.modify(kernel.side_fd, zmq.POLLIN | (zmq.POLLOUT if kernel.flush_side() else 0))

    def forward(self, kernel: KernelProcess | None, identity: bytes, conn: Connection, event: SideRequest) -> None:
        if kernel is None:
            self.fail(identity, conn, event, "the remote interpreter is not running")
            return
        if len(self.pending) >= MAX_PENDING or event.req_id in self.pending:
            self.fail(identity, conn, event, "too many side requests in flight")
            return
        self.pending[event.req_id] = (identity, conn, event)
        kernel.send_side(event)  # as the client sent it (protocol/side_channel.py)
        self._poll_for_output(kernel)

    def on_kernel_ready(self, kernel: KernelProcess, flags: int) -> None:
        """The side socket is readable or writable: move bytes, and route complete replies."""
        if flags & zmq.POLLOUT:
            kernel.flush_side()
        if flags & zmq.POLLIN:
            try:
                replies = kernel.read_side()
            except ValueError:  # user code wrote to the kernel's side socket: whatever was pending is lost
                log.warning("unreadable bytes on the kernel's side channel: failing the pending side requests")
                self.fail_all("the remote interpreter's side channel was disturbed (by the code running?)")
                replies = []
            for frames in replies:
                try:
                    reply = SIDE.decode(frames)  # strict: the kernel is untrusted
                    if not isinstance(reply, (Completions, Inspection, ObjectReply)):
                        raise RemoteProtocolError(f"a {type(reply).__name__} is no reply")
                except RemoteProtocolError as exc:
                    log.warning("a malformed side reply from the kernel (%s): failing the pending side requests", exc)
                    self.fail_all("the remote interpreter's side channel was disturbed (by the code running?)")
                    continue
                entry = self.pending.pop(reply.req_id, None)
                if entry is not None:
                    identity, conn, request = entry
                    self.send(identity, conn, _reply(request, reply))
        self._poll_for_output(kernel)

    def fail(self, identity: bytes, conn: Connection, request: SideRequest, message: str) -> None:
        self.send(identity, conn, _reply(request, ObjectReply(request.req_id, False, message)))

    def fail_all(self, message: str) -> None:
        pending, self.pending = self.pending, {}
        for identity, conn, request in pending.values():
            self.fail(identity, conn, request, message)


MAX_COMPLETIONS = 2000  # matches sent for one completion (a prompt shows a few dozen)


def _reply(request: SideRequest, reply: SideReply) -> Event:
    """The protocol event answering ``request``, from the kernel's ``reply`` (decoded strictly: every
    field typed, text valid). The kernel is untrusted (user code runs there): what it says is cut to fit
    (``bounds``), and a reply of another kind than the request's is a failure, as the codec refuses
    anything too big and a confused kernel must not take the supervisor down."""
    message = clip(reply.message, FIELD_BUDGET, "message") if isinstance(reply, ObjectReply) else ""
    if isinstance(request, Complete | CompletePath):
        cursor = request.cursor if isinstance(request, Complete) else 0  # a path's matches are whole paths
        if not isinstance(reply, Completions):
            return Completions(request.req_id, cursor)
        matches = [m[:1000] for m in reply.matches[:MAX_COMPLETIONS]]
        kinds = [k[:100] for k in reply.kinds[: len(matches)]]
        while matches and len(json.dumps(matches)) > FIELD_BUDGET:  # bounded: halves each time
            matches = matches[: len(matches) // 2]
        kinds = kinds[: len(matches)] if len(kinds) >= len(matches) else []
        start = reply.start if 0 <= reply.start <= cursor else cursor
        return Completions(request.req_id, start, tuple(matches), tuple(kinds))
    if isinstance(request, Inspect):
        rest = f" (help({request.name}) at the prompt shows all of it)"
        if isinstance(reply, Inspection):
            return Inspection(request.req_id, reply.found, clip(reply.text, FIELD_BUDGET, "text", rest))
        return Inspection(request.req_id, False, clip(message or "no answer", FIELD_BUDGET, "text", rest))
    if not isinstance(reply, ObjectReply):
        return ObjectReply(request.req_id, False, "the remote interpreter gave another kind of answer")
    ok, payload = reply.ok, reply.data
    if len(payload) > MAX_OBJECT_BYTES:  # the kernel checks this too; a frame over it would cost the link
        ok, message = False, f"the object is too big to send ({len(payload):,} bytes; at most {MAX_OBJECT_BYTES:,})"
    return ObjectReply(request.req_id, ok, message, payload if ok and isinstance(request, GetObject) else b"")
