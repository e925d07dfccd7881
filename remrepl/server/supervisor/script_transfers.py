"""File transfers on script connections: the results a script run wrote (``remrepl exec --get``).

Each script connection gets a ``ServerTransfers`` of its own (the same machinery as the attached
client's ``%download``), made at its first transfer: its events go to that connection alone, through its
state machine and backlog, and a relative remote path starts in the connection's run's working directory
(the one its ``Done.cwd`` names), not in the session kernel's. Its transfers end with the connection.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ...protocol.events import Event
from ...protocol.transfers import TransferClientEvent
from .transfers import DEFAULT_IDLE_TIMEOUT, ServerTransfers


class ScriptTransfers:
    """The transfers of every script connection, by peer."""

    def __init__(self, *, wake: Callable[[], None] | None, idle_timeout: float = DEFAULT_IDLE_TIMEOUT) -> None:
        self._wake = wake  # the loop's: a download's reader thread has a chunk ready
        self.idle_timeout = idle_timeout
        self._by_peer: dict[bytes, ServerTransfers] = {}

    @property
    def active(self) -> bool:
        return any(transfers.active for transfers in self._by_peer.values())

    def handle(
        self, peer: bytes, event: TransferClientEvent, send: Callable[[Event], None], cwd: Callable[[], Path]
    ) -> None:
        """``event`` of the script connection ``peer``; ``send`` reaches that connection, ``cwd`` is where
        its relative paths start."""
        transfers = self._by_peer.get(peer)
        if transfers is None:
            transfers = self._by_peer[peer] = ServerTransfers(
                send, cwd, idle_timeout=self.idle_timeout, wake=self._wake
            )
        transfers.handle(event)

    def pump(self, peer: bytes, can_send: Callable[[], bool]) -> None:
        """Send the download chunks of ``peer`` while ``can_send()`` (its queue is not full); abort its
        transfers whose client fell silent."""
        transfers = self._by_peer.get(peer)
        if transfers is not None and transfers.active:
            transfers.pump(can_send)
            transfers.expire()

    def drop(self, peer: bytes, reason: str) -> None:
        """The connection ``peer`` is gone: its transfers stop (an upload leaves nothing behind)."""
        transfers = self._by_peer.pop(peer, None)
        if transfers is not None:
            transfers.abort_all(reason)
