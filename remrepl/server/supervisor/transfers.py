"""The supervisor's side of file transfers (``%upload`` / ``%download``): it reads and writes files, it
never runs user code, so a transfer works while code runs and cannot be broken by what the code does.

Uploads: each ``UploadChunk`` is written (and hashed) as it arrives and acknowledged with ``UploadAck``;
``UploadEnd`` checks and renames the result into place (``remrepl.transfer.core.Receiver``). Downloads: the
supervisor's loop calls ``pump`` every turn, which sends chunks while fewer than ``WINDOW`` bytes are
unacknowledged and the client's queue is not full, so a big file never sits in memory or in the socket.
Planning a download (walking a tree of 300,000 files takes seconds) is done by a thread, which wakes the
loop when the plan is ready: other clients, logins and output never wait for the disk.

A workdir sync (``Sync``... ``SyncEnd``, see ``protocol/transfers.py``) is an upload into a staging tree
beside the project's copy (``remrepl.workdir.store``), moved into the copy at ``SyncEnd``.

A transfer whose client stops talking for ``idle_timeout`` seconds (the link was lost, the client was
killed) is aborted, and so are all transfers when the client detaches or another client takes over: an
upload leaves no partial file behind.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ..._exceptions import NoSuchPath, TransferError, WorkdirError
from ...protocol import (
    CancelTransfer,
    Download,
    DownloadAck,
    DownloadChunk,
    Sync,
    SyncEnd,
    SyncReady,
    TransferDone,
    TransferFailed,
    TransferReady,
    Upload,
    UploadAck,
    UploadChunk,
    UploadEnd,
)
from ...protocol.events import Event
from ...protocol.transfers import TransferClientEvent
from ...transfer.core import WINDOW, Chunk, Plan, Receiver, Sender, check_path, plan, resolve_target
from ...workdir.manifest import Manifest
from ...workdir.store import SyncedCopy
from .guard import guarded

log = logging.getLogger("remrepl.server")

MAX_TRANSFERS = 8  # at once, per server
DEFAULT_IDLE_TIMEOUT = 30.0


@dataclass
class _Upload:
    receiver: Receiver
    last: float


@dataclass
class _Download:
    sender: Sender
    path: Path
    files: int
    size: int
    last: float
    acked: int = 0


@dataclass
class _Planning:
    """A download whose plan a thread is making; ``result`` is set (a Plan, or the error) when it is done."""

    path: Path
    result: Plan | BaseException | None = None


def process_cwd(pid: int | None) -> Path:
    """The current directory of process ``pid`` (the kernel's: relative remote paths start there); this
    process's where /proc cannot say (not Linux, or the process is gone)."""
    if pid:
        try:
            return Path(os.readlink(f"/proc/{pid}/cwd"))
        except OSError:
            pass
    return Path.cwd()


class ServerTransfers:
    def __init__(
        self,
        send: Callable[[Event], None],
        cwd: Callable[[], Path],
        *,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        wake: Callable[[], None] | None = None,
        store: Path | None = None,
    ) -> None:
        self._send = send
        self._store = store  # where workdir copies live (None: remrepl.workdir.store.store_dir())
        self._syncs: dict[str, SyncedCopy] = {}  # syncs in progress (their upload is in _uploads)
        self._cwd = cwd
        self._wake = wake  # wakes the poll loop (from a reader thread) when a download has a chunk ready
        self.idle_timeout = idle_timeout
        self._clock = clock
        self._uploads: dict[str, _Upload] = {}
        self._downloads: dict[str, _Download] = {}
        self._planning: dict[str, _Planning] = {}  # downloads whose plan is being made, in a thread
        self._planned = threading.Lock()  # guards the results the planning threads hand over

    @property
    def active(self) -> bool:
        return bool(self._uploads or self._downloads or self._planning)

    def handle(self, event: TransferClientEvent) -> None:
        if isinstance(event, (Upload, Download, Sync)) and not self._may_start(event.xfer_id):
            return
        try:
            if isinstance(event, Upload):
                self._start_upload(event)
            elif isinstance(event, UploadChunk):
                self._on_chunk(event)
            elif isinstance(event, UploadEnd):
                self._finish_upload(event.xfer_id)
            elif isinstance(event, Sync):
                self._start_sync(event)
            elif isinstance(event, SyncEnd):
                self._finish_sync(event)
            elif isinstance(event, Download):
                self._start_download(event)
            elif isinstance(event, DownloadAck):
                download = self._downloads.get(event.xfer_id)
                if download is not None:
                    download.acked = max(download.acked, event.received)
                    download.last = self._clock()
            elif isinstance(event, CancelTransfer):
                self._drop(event.xfer_id, f"cancelled by the client{': ' + event.reason if event.reason else ''}")
        except (TransferError, WorkdirError, OSError, ValueError) as exc:  # the OS's words, for what check_path misses
            message = str(exc) if isinstance(exc, (TransferError, WorkdirError)) else _os_error_text(exc)
            self._drop(event.xfer_id, message)
            self._send(TransferFailed(event.xfer_id, message, missing=isinstance(exc, NoSuchPath)))

    def _may_start(self, xfer_id: str) -> bool:
        """Refuse a repeated id (without touching the transfer that has it) or one transfer too many."""
        if xfer_id in self._uploads or xfer_id in self._downloads or xfer_id in self._planning:
            message = f"transfer {xfer_id} is already in progress"
        elif len(self._uploads) + len(self._downloads) + len(self._planning) >= MAX_TRANSFERS:
            message = f"too many transfers at once (at most {MAX_TRANSFERS})"
        else:
            return True
        self._send(TransferFailed(xfer_id, message))
        return False

    def _start_upload(self, event: Upload) -> None:
        target = resolve_target(event.remote, event.name, self._cwd(), event.kind)
        receiver = Receiver(target, event.kind)
        self._uploads[event.xfer_id] = _Upload(receiver, self._clock())
        log.info("upload %s to %s (%d bytes)", event.xfer_id[:8], target, event.size)
        self._send(TransferReady(event.xfer_id, str(target), event.kind, event.size))

    def _on_chunk(self, event: UploadChunk) -> None:
        upload = self._uploads.get(event.xfer_id)
        if upload is None:
            return  # a chunk still in flight after a cancel or a failure
        upload.last = self._clock()
        chunk = Chunk(event.path, event.kind, event.offset, event.data, event.end, event.sha256, event.mode)
        upload.receiver.write(chunk)
        if event.data or event.end:
            self._send(UploadAck(event.xfer_id, upload.receiver.received))

    def _finish_upload(self, xfer_id: str) -> None:
        if xfer_id in self._syncs:
            raise TransferError("a sync ends with SyncEnd")
        upload = self._uploads.pop(xfer_id, None)
        if upload is None:
            return
        receiver = upload.receiver
        target = receiver.commit()
        log.info("upload %s done: %s", xfer_id[:8], target)
        self._send(TransferDone(xfer_id, str(target), receiver.files, receiver.received))

    def _start_sync(self, event: Sync) -> None:
        copy = SyncedCopy.open(event.name, event.key, self._store)
        if copy.matches(event.digest):  # nothing changed on either side: one round trip
            log.info("sync %s: %s is up to date", event.xfer_id[:8], copy.path)
            self._send(TransferDone(event.xfer_id, str(copy.path), 0, 0))
            return
        staging = copy.staging()
        receiver = Receiver(staging, "dir")
        self._uploads[event.xfer_id] = _Upload(receiver, self._clock())
        self._syncs[event.xfer_id] = copy
        log.info("sync %s of %s", event.xfer_id[:8], copy.path)
        self._send(SyncReady(event.xfer_id, str(copy.path), copy.intact().to_json().encode()))

    def _finish_sync(self, event: SyncEnd) -> None:
        upload = self._uploads.pop(event.xfer_id, None)
        copy = self._syncs.pop(event.xfer_id, None)
        if upload is None or copy is None:
            return
        try:
            new = Manifest.from_json(event.manifest)
        except WorkdirError:
            upload.receiver.abort()
            raise
        incoming = upload.receiver.commit()
        try:
            deleted = copy.apply(incoming, new)
        finally:
            shutil.rmtree(incoming, ignore_errors=True)
        receiver = upload.receiver
        log.info("sync %s done: %d files in, %d deleted", event.xfer_id[:8], receiver.files, deleted)
        self._send(TransferDone(event.xfer_id, str(copy.path), receiver.files, receiver.received))

    def _start_download(self, event: Download) -> None:
        if not event.remote:
            raise TransferError("say which file or directory to download")
        path = Path(os.path.expanduser(check_path(event.remote, "path")))
        path = Path(os.path.abspath(path if path.is_absolute() else self._cwd() / path))
        if self._wake is None:  # no loop to wake (a caller that may wait): plan here
            self._begin_download(event.xfer_id, path, plan(path))
            return
        planning = _Planning(path)
        self._planning[event.xfer_id] = planning
        name = f"remrepl-plan-{event.xfer_id[:8]}"
        threading.Thread(target=self._plan, args=(planning,), name=name, daemon=True).start()

    def _plan(self, planning: _Planning) -> None:
        """In a thread: walk the tree, hand the result over, wake the loop (which ``_collect_plans``)."""
        try:
            result: Plan | BaseException = plan(planning.path)
        except BaseException as exc:  # a NUL byte, an odd name...: reported to the client, never raised here
            result = exc
        with self._planned:
            planning.result = result
        if self._wake is not None:
            self._wake()

    def _collect_plans(self) -> None:
        """On the loop: start the downloads whose plan is ready; report the ones that failed."""
        with self._planned:
            ready = [(k, p) for k, p in self._planning.items() if p.result is not None]
        for xfer_id, planning in ready:
            del self._planning[xfer_id]
            result = planning.result
            if isinstance(result, Plan):
                self._begin_download(xfer_id, planning.path, result)
                continue
            message = str(result) if isinstance(result, TransferError) else f"cannot read {planning.path}: {result}"
            log.info("download %s failed while planning: %s", xfer_id[:8], message)
            self._send(TransferFailed(xfer_id, message, missing=isinstance(result, NoSuchPath)))

    def _begin_download(self, xfer_id: str, path: Path, found: Plan) -> None:
        files = sum(1 for e in found.entries if e.kind == "file")
        sender = Sender(found.entries, on_ready=self._wake)
        self._downloads[xfer_id] = _Download(sender, path, files, found.size, self._clock())
        log.info("download %s of %s (%d bytes)", xfer_id[:8], path, found.size)
        self._send(TransferReady(xfer_id, str(path), found.kind, found.size))

    def pump(self, can_send: Callable[[], bool]) -> None:
        """Send download chunks while the windows and the client's queue allow. With a ``wake`` it never
        waits for the disk: a chunk not read yet is sent on the turn after its reader's wake-up."""
        if self._planning:
            self._collect_plans()
        for xfer_id, download in list(self._downloads.items()):
            # One download that breaks (its reader thread, its disk) fails alone, and only once.
            with guarded(f"download {xfer_id[:8]}", partial(self._fail, xfer_id)):
                self._pump_one(xfer_id, download, can_send)

    def _fail(self, xfer_id: str, message: str) -> None:
        self._drop(xfer_id, message)
        self._send(TransferFailed(xfer_id, message))

    def _pump_one(self, xfer_id: str, download: _Download, can_send: Callable[[], bool]) -> None:
        """Send what one download may send now; its TransferDone when it is over."""
        try:
            while can_send() and download.sender.sent - download.acked < WINDOW:
                chunk = download.sender.next_chunk(block=self._wake is None)
                if chunk is None and not download.sender.finished:
                    break  # not read yet: the reader wakes the loop
                if chunk is None:
                    del self._downloads[xfer_id]
                    download.sender.close()
                    self._send(TransferDone(xfer_id, str(download.path), download.files, download.sender.sent))
                    break
                self._send(
                    DownloadChunk(
                        xfer_id,
                        chunk.path,
                        chunk.kind,
                        chunk.offset,
                        chunk.data,
                        chunk.end,
                        chunk.sha256,
                        chunk.mode,
                    )
                )
        except TransferError as exc:
            self._fail(xfer_id, str(exc))

    def expire(self) -> None:
        """Abort transfers whose client has been silent for ``idle_timeout`` seconds."""
        now = self._clock()
        stale = [k for k, u in self._uploads.items() if now - u.last > self.idle_timeout]
        stale += [k for k, d in self._downloads.items() if now - d.last > self.idle_timeout]
        for xfer_id in stale:
            self._drop(xfer_id, f"no word from the client for {self.idle_timeout:g} s")

    def abort_all(self, reason: str) -> None:
        for xfer_id in [*self._uploads, *self._downloads, *self._planning]:
            self._drop(xfer_id, reason)

    def _drop(self, xfer_id: str, reason: str) -> None:
        if self._planning.pop(xfer_id, None) is not None:  # its thread walks on; nobody collects its plan
            log.info("download %s stopped while planning (%s)", xfer_id[:8], reason)
        self._syncs.pop(xfer_id, None)
        upload = self._uploads.pop(xfer_id, None)
        if upload is not None:
            upload.receiver.abort()
            log.info("upload %s stopped (%s); nothing was kept", xfer_id[:8], reason)
        download = self._downloads.pop(xfer_id, None)
        if download is not None:
            download.sender.close()
            log.info("download %s stopped (%s)", xfer_id[:8], reason)


def _os_error_text(exc: OSError | ValueError) -> str:
    """A readable message for a file operation the OS refused (file names made printable)."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename!r:.200})" if exc.filename else ""
        text = f"the file system refused the transfer{where}: {exc.strerror}"
    else:
        text = f"the transfer is not possible: {exc}"
    return text.encode("utf-8", "backslashreplace").decode()
