"""File transfer events: ``%upload`` / ``%download`` of files and directory trees, by the supervisor.

The supervisor moves the bytes, never user code, so a transfer may run while code runs, and vice versa.
See ``remrepl/transfer/core.py`` for how they are used.

A transfer moves one file or one directory tree as a sequence of entries: the root (path "") first,
then, for a directory, every sub-directory before what it holds. A file entry's data comes in chunks
(offset, data), its last chunk has ``end`` and the sender's SHA-256 of the whole file. The receiver
writes into a temporary sibling of the target and renames it only when everything arrived and matched.
Flow control: the sender keeps at most a window of bytes unacknowledged (UploadAck / DownloadAck).

A workdir sync (``remrepl/workdir/``) is an upload of only what changed, digest first:
``Sync`` names the project's place on the server and the digest of the client's manifest. When the copy
there already matches it, the answer is ``TransferDone`` at once (one round trip). Otherwise
``SyncReady`` says what the server holds, intact (a manifest); the client sends the missing and changed
files as ``UploadChunk``s (a tree: the root, then each directory before what it holds), then ``SyncEnd``
with its whole manifest; the server moves the files in, deletes what the previous sync put there and the
client no longer has, and answers ``TransferDone``. Manifests travel as JSON bytes
(``remrepl.workdir.manifest``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EntryKind = Literal["file", "dir"]


@dataclass(frozen=True)
class Upload:
    """Start an upload of a ``kind`` (file or directory) named ``name`` locally, ``size`` bytes of file data
    in all, to ``remote`` on the server ("": the kernel's current directory; an existing directory: inside
    it; relative paths: from the kernel's current directory)."""

    xfer_id: str
    remote: str
    name: str
    kind: EntryKind
    size: int


@dataclass(frozen=True)
class Download:
    """Start a download of ``remote`` (a file or directory; relative to the kernel's current directory)."""

    xfer_id: str
    remote: str


@dataclass(frozen=True)
class UploadChunk:
    """A piece of entry ``path`` of an upload (see the transfer notes above)."""

    xfer_id: str
    path: str
    kind: EntryKind
    offset: int
    data: bytes
    end: bool = False
    sha256: str = ""
    mode: int = 0o644


@dataclass(frozen=True)
class UploadEnd:
    """Every entry of the upload was sent: check and move it into place."""

    xfer_id: str


@dataclass(frozen=True)
class DownloadAck:
    """The client has written ``received`` bytes of file data of the download."""

    xfer_id: str
    received: int


@dataclass(frozen=True)
class CancelTransfer:
    """Stop a transfer (Ctrl-C, a local error); the server removes what it had written."""

    xfer_id: str
    reason: str = ""


@dataclass(frozen=True)
class TransferReady:
    """The server accepted a transfer. ``path``: the absolute path on the server (the upload's target,
    or the download's source, whose ``kind`` and total ``size`` of file data follow)."""

    xfer_id: str
    path: str
    kind: EntryKind
    size: int


@dataclass(frozen=True)
class DownloadChunk:
    """A piece of entry ``path`` of a download (fields as in UploadChunk)."""

    xfer_id: str
    path: str
    kind: EntryKind
    offset: int
    data: bytes
    end: bool = False
    sha256: str = ""
    mode: int = 0o644


@dataclass(frozen=True)
class UploadAck:
    """The server has written ``received`` bytes of file data of the upload."""

    xfer_id: str
    received: int


@dataclass(frozen=True)
class TransferDone:
    """An upload is in place at ``path``, or every chunk of a download was sent."""

    xfer_id: str
    path: str
    files: int
    size: int


@dataclass(frozen=True)
class TransferFailed:
    """The transfer stopped; the server left nothing at the target. ``message`` says why; ``missing``:
    because the download's source does not exist (for a program to tell; older servers never set it)."""

    xfer_id: str
    message: str
    missing: bool = False


@dataclass(frozen=True)
class Sync:
    """Sync the client's project ``name`` (its place on the server: ``~/.remrepl/work/NAME-KEY``) whose
    manifest has ``digest``."""

    xfer_id: str
    name: str
    key: str
    digest: str


@dataclass(frozen=True)
class SyncReady:
    """The server's copy at ``path`` differs: ``have`` is the manifest of the files it holds intact."""

    xfer_id: str
    path: str
    have: bytes


@dataclass(frozen=True)
class SyncEnd:
    """Every changed file was sent; ``manifest`` is the client's whole tree, which the copy becomes."""

    xfer_id: str
    manifest: bytes


TRANSFER_CLIENT_EVENTS = (Upload, Download, UploadChunk, UploadEnd, DownloadAck, CancelTransfer, Sync, SyncEnd)
TRANSFER_SERVER_EVENTS = (TransferReady, DownloadChunk, UploadAck, TransferDone, TransferFailed, SyncReady)
TransferClientEvent = Upload | Download | UploadChunk | UploadEnd | DownloadAck | CancelTransfer | Sync | SyncEnd
TransferServerEvent = TransferReady | DownloadChunk | UploadAck | TransferDone | TransferFailed | SyncReady
