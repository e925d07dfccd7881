"""The supervisor's book-keeping for side requests: who asked what, and turning kernel replies into events.

A side request (completion, help, an object) goes from a client connection to the kernel's side thread
and back (which peers are side connections is the session core's, ``session_core.py``). The supervisor
remembers which connection asked (by ``req_id``) to route the answer, answers
with a failure whatever is outstanding when the kernel goes away, and never looks inside a pickle.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import zmq

from ...protocol import Connection, Event
from ...protocol.side import (
    MAX_OBJECT_BYTES,
    Complete,
    Completions,
    GetObject,
    Inspect,
    Inspection,
    ObjectReply,
)
from .bounds import FIELD_BUDGET, clip, valid_text
from .kernel_process import KernelProcess
from .session_core import SideRequest

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
        if isinstance(event, Complete):
            kernel.send_side({"op": "complete", "id": event.req_id, "code": event.code, "cursor": event.cursor})
        elif isinstance(event, Inspect):
            kernel.send_side({"op": "inspect", "id": event.req_id, "name": event.name, "detail": event.detail})
        elif isinstance(event, GetObject):
            kernel.send_side({"op": "get", "id": event.req_id, "name": event.name})
        else:
            kernel.send_side({"op": "put", "id": event.req_id, "name": event.name}, event.data)
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
            for header, payload in replies:
                entry = self.pending.pop(str(header.get("id", "")), None)
                if entry is not None:
                    identity, conn, request = entry
                    self.send(identity, conn, _reply(request, header, payload))
        self._poll_for_output(kernel)

    def fail(self, identity: bytes, conn: Connection, request: SideRequest, message: str) -> None:
        self.send(identity, conn, _reply(request, {"ok": False, "found": False, "message": message}, b""))

    def fail_all(self, message: str) -> None:
        pending, self.pending = self.pending, {}
        for identity, conn, request in pending.values():
            self.fail(identity, conn, request, message)


MAX_COMPLETIONS = 2000  # matches sent for one completion (a prompt shows a few dozen)


def _reply(request: SideRequest, header: dict[str, Any], payload: bytes) -> Event:
    """The protocol event answering ``request``, from the kernel's reply header. The kernel is untrusted
    (user code runs there): types are checked, text is made valid and cut to fit (``bounds``), as the
    codec refuses anything malformed and a confused kernel must not take the supervisor down."""
    message = clip(_text(header.get("message", "")), FIELD_BUDGET, "message")
    if isinstance(request, Complete):
        matches, kinds = header.get("matches"), header.get("kinds")
        matches = [_text(m)[:1000] for m in matches[:MAX_COMPLETIONS]] if isinstance(matches, list) else []
        kinds = [_text(k)[:100] for k in kinds[: len(matches)]] if isinstance(kinds, list) else []
        while matches and len(json.dumps(matches)) > FIELD_BUDGET:  # bounded: halves each time
            matches = matches[: len(matches) // 2]
        kinds = kinds[: len(matches)] if len(kinds) >= len(matches) else []
        start = header.get("start")
        start = start if type(start) is int and 0 <= start <= request.cursor else request.cursor
        return Completions(request.req_id, start, tuple(matches), tuple(kinds))
    if isinstance(request, Inspect):
        found = header.get("found") is True
        rest = f" (help({request.name}) at the prompt shows all of it)"
        return Inspection(request.req_id, found, clip(_text(header.get("text") or message), FIELD_BUDGET, "text", rest))
    ok = header.get("ok") is True
    if len(payload) > MAX_OBJECT_BYTES:  # the kernel checks this too; a frame over it would cost the link
        ok, message = False, f"the object is too big to send ({len(payload):,} bytes; at most {MAX_OBJECT_BYTES:,})"
    return ObjectReply(request.req_id, ok, message, payload if ok and isinstance(request, GetObject) else b"")


def _text(value: object) -> str:
    return valid_text(value if isinstance(value, str) else str(value))
