"""The client's side of file transfers: ``Session.upload`` and ``Session.download`` (and ``%upload`` /
``%download`` at the prompt, which call them).

The chunks are pipelined: up to ``WINDOW`` bytes travel unacknowledged, so the link stays busy while each
end hashes and writes. Output of the remote code that arrives meanwhile (a background thread's prints) is
kept by the session and shown afterwards, in order. Any failure — a server-side error, a checksum
mismatch, Ctrl-C, a lost link — ends the transfer on both ends and leaves no partial file at the target.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal, Protocol

from .._exceptions import NoSuchPath, RemreplError, TransferError
from ..protocol import (
    CancelTransfer,
    Download,
    DownloadAck,
    DownloadChunk,
    Event,
    TransferDone,
    TransferFailed,
    TransferReady,
    Upload,
    UploadAck,
    UploadChunk,
    UploadEnd,
)
from ..protocol.transfers import TransferServerEvent
from ..transfer.core import WINDOW, Chunk, Receiver, Sender, check_name, plan, resolve_target

# progress(bytes done, bytes in all)
Progress = Callable[[int, int], None]
STALL_SECONDS = 60.0  # no word about a transfer from the server for this long: give up
# Chunks sent and not yet acknowledged, at most: WINDOW bounds the bytes, this the messages, which matters
# for many small files (a sync of 10,000 of them): far below the sockets' HWM (1000 messages), so a burst
# of small chunks never fills the send queue (zmq.Again, which the session takes for a lost link).
WINDOW_CHUNKS = 256


class TransferLink(Protocol):
    """What a transfer needs of its session (``session_transfers.SessionTransfers`` is one)."""

    def send(self, event: Event) -> None: ...

    def open(self, xfer_id: str) -> object:
        """Start collecting the events of transfer ``xfer_id``."""

    def close(self, xfer_id: str) -> None:
        """Stop collecting them."""

    def next_event(self, xfer_id: str, timeout: float) -> TransferServerEvent | None:
        """The next event of that transfer, or None if none came within ``timeout`` s."""


@dataclass(frozen=True)
class TransferResult:
    """What a finished transfer moved. ``sha256``: the checked digest of a single file ("" for a directory)."""

    direction: Literal["upload", "download"]
    source: str
    target: str
    kind: str
    files: int
    size: int
    sha256: str
    seconds: float


def wait_event(link: TransferLink, xfer_id: str) -> TransferServerEvent:
    """The next event of this transfer; output events that come meanwhile are kept for later."""
    deadline = time.monotonic() + STALL_SECONDS
    while True:
        event = link.next_event(xfer_id, max(0.0, deadline - time.monotonic()))
        if event is not None:
            return event
        if time.monotonic() > deadline:
            raise TransferError(f"the server said nothing about the transfer for {STALL_SECONDS:g} s")


def _ready(link: TransferLink, xfer_id: str, what: str) -> TransferReady:
    event = wait_event(link, xfer_id)
    if isinstance(event, TransferFailed):
        error = NoSuchPath if event.missing else TransferError
        raise error(f"{what} failed on the server: {event.message}")
    if not isinstance(event, TransferReady):
        raise TransferError(f"{what}: the server sent {type(event).__name__} before accepting the transfer")
    return event


def cancel(link: TransferLink, xfer_id: str, reason: str) -> None:
    try:
        link.send(CancelTransfer(xfer_id, reason))
    except RemreplError:
        pass  # the link is gone: the server aborts the transfer when its client falls silent


def send_chunks(
    link: TransferLink,
    xfer_id: str,
    sender: Sender,
    total: int,
    end: Event,
    progress: Progress | None,
    what: str,
) -> tuple[TransferDone, str]:
    """Send what ``sender`` reads as ``UploadChunk``s, at most ``WINDOW`` bytes unacknowledged, then
    ``end``; (the server's ``TransferDone``, the SHA-256 of the last file sent)."""
    acked, ended, sha256 = 0, False, ""
    unacked = 0  # chunks the server acknowledges (those with data or an end) not acknowledged yet
    if progress is not None:
        progress(0, total)
    while True:
        while not sender.finished and sender.sent - acked < WINDOW and unacked < WINDOW_CHUNKS:
            chunk = sender.next_chunk()
            if chunk is None:
                break
            if chunk.end and chunk.kind == "file":
                sha256 = chunk.sha256
            if chunk.data or chunk.end:  # what the server answers with an UploadAck
                unacked += 1
            link.send(
                UploadChunk(
                    xfer_id, chunk.path, chunk.kind, chunk.offset, chunk.data, chunk.end, chunk.sha256, chunk.mode
                )
            )
        if sender.finished and not ended:
            link.send(end)
            ended = True
        event = wait_event(link, xfer_id)
        if isinstance(event, UploadAck):
            acked = event.received
            unacked = max(0, unacked - 1)
            if progress is not None:
                progress(acked, total)
        elif isinstance(event, TransferDone):
            return event, sha256
        elif isinstance(event, TransferFailed):
            raise TransferError(f"{what} failed on the server: {event.message}")


def upload(
    link: TransferLink, local: str | os.PathLike[str], remote: str = "", progress: Progress | None = None
) -> TransferResult:
    source = Path(os.path.abspath(os.path.expanduser(local)))
    found = plan(source)
    xfer_id = uuid.uuid4().hex
    sender = Sender(found.entries)
    started = time.monotonic()
    finished = False
    link.open(xfer_id)
    try:
        link.send(Upload(xfer_id, remote, source.name, found.kind, found.size))
        ready = _ready(link, xfer_id, "the upload")
        done, sha256 = send_chunks(
            link, xfer_id, sender, found.size, UploadEnd(xfer_id), progress, f"the upload to {ready.path}"
        )
        finished = True
        return TransferResult(
            "upload",
            str(source),
            done.path,
            found.kind,
            done.files,
            done.size,
            sha256 if found.kind == "file" else "",
            time.monotonic() - started,
        )
    finally:
        sender.close()
        if not finished:
            cancel(link, xfer_id, "stopped by the client")
        link.close(xfer_id)


def replace_target(directory: str, name: str) -> Path:
    """``directory/name`` (``directory`` made if missing; "" is the current one), for a download that
    replaces what is there."""
    check_name(name)
    folder = Path(os.path.abspath(os.path.expanduser(directory or ".")))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TransferError(f"cannot make the directory {folder}: {exc.strerror}") from None
    return folder / name


def download(
    link: TransferLink,
    remote: str,
    local: str | os.PathLike[str] = "",
    progress: Progress | None = None,
    *,
    replace: bool = False,
) -> TransferResult:
    """``remote`` to ``local``, as ``cp`` would put it. ``replace``: ``local`` is a directory (made if
    missing) and the download lands in it under its remote name, replacing what has that name there (a
    directory as a whole: ``Receiver``'s ``replace``)."""
    xfer_id = uuid.uuid4().hex
    started = time.monotonic()
    finished = committed = False
    receiver: Receiver | None = None
    link.open(xfer_id)
    try:
        link.send(Download(xfer_id, remote))
        ready = _ready(link, xfer_id, f"the download of {remote}")
        name = PurePosixPath(ready.path).name
        if replace:
            target = replace_target(os.fspath(local), name)
        else:
            target = resolve_target(os.fspath(local), name, Path.cwd(), ready.kind)
        receiver = Receiver(target, ready.kind, replace=replace)
        if progress is not None:
            progress(0, ready.size)
        while True:
            event = wait_event(link, xfer_id)
            if isinstance(event, DownloadChunk):
                chunk = Chunk(event.path, event.kind, event.offset, event.data, event.end, event.sha256, event.mode)
                receiver.write(chunk)
                if event.data or event.end:
                    link.send(DownloadAck(xfer_id, receiver.received))
                    if progress is not None:
                        progress(receiver.received, ready.size)
            elif isinstance(event, TransferDone):
                finished = True
                path = receiver.commit()
                committed = True
                sha256 = receiver.last_sha256 if ready.kind == "file" else ""
                return TransferResult(
                    "download",
                    ready.path,
                    str(path),
                    ready.kind,
                    receiver.files,
                    receiver.received,
                    sha256,
                    time.monotonic() - started,
                )
            elif isinstance(event, TransferFailed):
                finished = True
                raise TransferError(f"the download of {ready.path} failed on the server: {event.message}")
    finally:
        if receiver is not None and not committed:
            receiver.abort()
        if not finished:
            cancel(link, xfer_id, "stopped by the client")
        link.close(xfer_id)
