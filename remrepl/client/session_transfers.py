"""The transfers of one session: their event inboxes, and the output that arrives meanwhile.

``Session`` holds one ``SessionTransfers`` and delegates ``upload``, ``download`` and ``drain_held`` to it.
It is given the session's ``send`` and a ``receive(timeout)`` that reads the session's event stream; the
session routes transfer events into the inboxes opened here (``deliver``). Output of the remote code that
arrives during a transfer is held, in order, and ``Session.next_event`` returns it first (``take_held``).
The transfer itself is ``transfer.py``'s, which sees this object only as a ``TransferLink``.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable

from ..protocol import Event, OutputEvent, TransferFailed
from ..protocol.transfers import TransferServerEvent
from .transfer import Progress, TransferResult, download, upload

# receive(timeout) -> the output events read from the session's stream meanwhile, in order
Receive = Callable[[float], list[OutputEvent]]


class SessionTransfers:
    """Transfer inboxes and held output for one session (a ``TransferLink`` for ``transfer.py``)."""

    def __init__(self, send: Callable[[Event], None], receive: Receive) -> None:
        self.send = send
        self._receive = receive
        self._inboxes: dict[str, deque[TransferServerEvent]] = {}  # events of transfers in progress
        self.held: deque[OutputEvent] = deque()  # output that arrived during a file transfer, shown next

    def upload(self, local: str | os.PathLike[str], remote: str, progress: Progress | None) -> TransferResult:
        return upload(self, local, remote, progress)

    def download(self, remote: str, local: str | os.PathLike[str], progress: Progress | None) -> TransferResult:
        return download(self, remote, local, progress)

    def drain_held(self) -> list[OutputEvent]:
        """Every held output event, now no longer held."""
        held = [*self.held]
        self.held.clear()
        return held

    # --- the TransferLink transfer.py uses --------------------------------------------------------

    def open(self, xfer_id: str) -> deque[TransferServerEvent]:
        """Start collecting the events of transfer ``xfer_id``; its inbox."""
        inbox: deque[TransferServerEvent] = deque()
        self._inboxes[xfer_id] = inbox
        return inbox

    def close(self, xfer_id: str) -> None:
        self._inboxes.pop(xfer_id, None)

    def next_event(self, xfer_id: str, timeout: float) -> TransferServerEvent | None:
        """The next event of transfer ``xfer_id``, waiting at most ``timeout`` s; output arriving
        meanwhile is held, in order, for ``Session.next_event``."""
        inbox = self._inboxes[xfer_id]
        if not inbox:
            self.held.extend(self._receive(timeout))
        return inbox.popleft() if inbox else None

    # --- what the session routes here ------------------------------------------------------------

    def deliver(self, event: TransferServerEvent) -> None:
        inbox = self._inboxes.get(event.xfer_id)
        if inbox is not None:  # else a late chunk of a transfer that was stopped
            inbox.append(event)

    def fail_all(self, message: str) -> None:
        """End every transfer in progress with a ``TransferFailed`` (the server has dropped them)."""
        for xfer_id, inbox in self._inboxes.items():
            inbox.append(TransferFailed(xfer_id, message))
