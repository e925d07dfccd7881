"""``Session``'s file-transfer methods (``upload``, ``download``) and the output held meanwhile.

A mixin, as ``SideRequests`` (``side.py``) is: ``Session`` provides the event stream (``_receive``) and
routes transfer events into the inboxes opened here (``Session._on_event``); the transfer itself is
``transfer.py``'s. Output of the remote code that arrives during a transfer is held, in order, and
``Session.next_event`` returns it first.
"""

from __future__ import annotations

import os
from collections import deque
from typing import TYPE_CHECKING, cast

from ..protocol import OutputEvent
from ..protocol.transfers import TransferServerEvent
from .transfer import Progress, TransferResult, download, upload

if TYPE_CHECKING:
    from .session import Session


class SessionTransfers:
    """The transfer methods of the Python API; ``Session`` sets the attributes and the event stream."""

    _held: deque[OutputEvent]  # output that arrived during a file transfer, shown next
    _expanded: deque[OutputEvent]  # Result events unpacked from a Done, then the Done
    _transfers: dict[str, deque[TransferServerEvent]]  # events of transfers in progress
    _seen: int  # the highest seq handed to the caller

    if TYPE_CHECKING:

        def _receive(self, timeout: float | None) -> OutputEvent | None: ...

    def upload(
        self, local: str | os.PathLike[str], remote: str | None = None, progress: Progress | None = None
    ) -> TransferResult:
        """Copy the local file or directory ``local`` to the server, as ``cp`` would: to ``remote`` (None:
        the kernel's current directory; an existing directory: inside it). ``progress(done, total)`` is
        called as bytes are acknowledged. ``TransferError`` if it fails; then nothing is left at the target."""
        return upload(cast("Session", self), local, remote or "", progress)

    def download(
        self, remote: str, local: str | os.PathLike[str] | None = None, progress: Progress | None = None
    ) -> TransferResult:
        """Copy the remote file or directory ``remote`` (relative: to the kernel's current directory) here,
        to ``local`` (None: the current directory; an existing directory: inside it)."""
        return download(cast("Session", self), remote, local or "", progress)

    def drain_held(self) -> list[OutputEvent]:
        """Output events that arrived during a transfer and were not read yet (to show them now)."""
        held = [*self._held]
        self._held.clear()
        self._seen = max([self._seen, *(event.seq for event in held)])
        return held

    def _open_transfer(self, xfer_id: str) -> None:
        self._transfers[xfer_id] = deque()

    def _close_transfer(self, xfer_id: str) -> None:
        self._transfers.pop(xfer_id, None)

    def _transfer_event(self, xfer_id: str, timeout: float) -> TransferServerEvent | None:
        """The next event of transfer ``xfer_id``, waiting at most ``timeout`` s; output arriving
        meanwhile is held, in order, for ``next_event``."""
        inbox = self._transfers[xfer_id]
        if not inbox:
            event = self._receive(timeout)
            if event is not None:
                self._held.append(event)
                self._held.extend(self._expanded)  # a Done's unpacked results, still in their order
                self._expanded.clear()
        return inbox.popleft() if inbox else None
