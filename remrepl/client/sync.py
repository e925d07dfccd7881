"""The client's side of a workdir sync: ``Session.sync_workdir`` (``--workdir``, ``%sync``, ``exec``).

The local tree is selected (git's rules), checked against the size limits before anything is hashed,
and hashed (a cache skips unchanged files); the server is asked with the manifest's digest alone, so an
unchanged tree costs one round trip. Otherwise it says what it holds intact and only the missing and
changed files cross, as one upload into a staging tree (``transfer.py``'s pipelined chunks); ``SyncEnd``
carries the whole manifest, which the server's copy becomes (``remrepl/workdir/store.py``).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .._exceptions import TransferError, WorkdirError
from ..protocol import Sync, SyncEnd, SyncReady, TransferDone, TransferFailed
from ..transfer.core import Entry, Sender
from ..workdir.limits import DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES, check_limits, stat_sizes
from ..workdir.manifest import HashCache, Manifest, build_manifest, diff
from ..workdir.select import select_files
from .transfer import Progress, TransferLink, cancel, send_chunks, wait_event

ENTER_SECONDS = 30.0  # for the remote interpreter to move into the copy (it may still be starting)


@dataclass(frozen=True)
class SyncResult:
    """What a sync did. ``remote``: the copy's absolute path on the server (the kernel's workdir)."""

    local: str
    remote: str
    files: int  # in the tree
    size: int  # bytes in the tree
    sent_files: int
    sent_bytes: int
    seconds: float
    max_bytes: int = DEFAULT_MAX_BYTES  # the limits it was checked against (a later %sync keeps them)
    max_files: int = DEFAULT_MAX_FILES

    @property
    def unchanged(self) -> bool:
        return self.sent_files == 0


def project_place(root: Path) -> tuple[str, str]:
    """(name, key) of ``root``'s copy on a server: its directory name, made safe, and a hash of this
    machine and the absolute path, so two projects called ``app`` never share a copy."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", root.name).lstrip(".")[:48] or "project"
    key = hashlib.sha256(f"{socket.gethostname()}\0{root}".encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return name, key


def enter_code(remote: str) -> str:
    """The code that moves the session's interpreter into the copy (``server/kernel/workdir.py``)."""
    return f'__import__("remrepl.server.kernel.workdir", fromlist=["enter"]).enter({remote!r})'


def local_manifest(root: Path, *, max_bytes: int, max_files: int) -> Manifest:
    """The manifest of what syncing ``root`` sends; ``WorkdirTooLarge`` before hashing if over a limit."""
    paths = select_files(root)
    check_limits(root, stat_sizes(root, paths), max_bytes, max_files)
    cache = HashCache.for_root(root)
    manifest = build_manifest(root, paths, cache)
    try:
        cache.save()
    except WorkdirError:  # only a cache: the next sync hashes again
        pass
    return manifest


def _tree_entries(root: Path, send: list[str], manifest: Manifest) -> list[Entry]:
    """The upload's entries: the root, then every directory before what it holds, then the files."""
    by_path = manifest.by_path()
    entries = [Entry("", "dir", 0, 0o700, root)]
    made: set[str] = set()
    for path in sorted(send):
        parents = list(reversed(PurePosixPath(path).parents))[1:]  # without "."
        for parent in parents:
            if str(parent) not in made:
                made.add(str(parent))
                entries.append(Entry(str(parent), "dir", 0, 0o755, root / str(parent)))
        entry = by_path[path]
        entries.append(Entry(path, "file", entry.size, entry.mode, root / path))
    return entries


def sync_workdir(
    link: TransferLink,
    root: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
    progress: Progress | None = None,
) -> SyncResult:
    """Make the server's copy of the project ``root`` what ``root`` holds now."""
    local = Path(os.path.abspath(os.path.expanduser(root)))
    if not local.is_dir():
        raise WorkdirError(f"the workdir {local} is not a directory")
    started = time.monotonic()
    manifest = local_manifest(local, max_bytes=max_bytes, max_files=max_files)
    name, key = project_place(local)
    xfer_id = uuid.uuid4().hex
    sender: Sender | None = None
    finished = False
    link.open(xfer_id)
    try:
        link.send(Sync(xfer_id, name, key, manifest.digest))
        first = wait_event(link, xfer_id)
        if isinstance(first, TransferFailed):
            finished = True
            raise TransferError(f"the sync of {local} failed on the server: {first.message}")
        if isinstance(first, TransferDone):
            finished = True
            return _result(local, first.path, manifest, 0, 0, started, max_bytes, max_files)
        if not isinstance(first, SyncReady):
            raise TransferError(f"the sync: the server sent {type(first).__name__} before accepting it")
        send, _ = diff(Manifest.from_json(first.have), manifest)
        wanted = [e.path for e in send]
        sender = Sender(_tree_entries(local, wanted, manifest))
        total = sum(e.size for e in send)
        done, _ = send_chunks(
            link,
            xfer_id,
            sender,
            total,
            SyncEnd(xfer_id, manifest.to_json().encode()),
            progress,
            f"the sync to {first.path}",
        )
        finished = True
        return _result(local, done.path, manifest, done.files, done.size, started, max_bytes, max_files)
    finally:
        if sender is not None:
            sender.close()
        if not finished:
            cancel(link, xfer_id, "stopped by the client")
        link.close(xfer_id)


def _result(
    local: Path, remote: str, manifest: Manifest, files: int, size: int, started: float, max_bytes: int, max_files: int
) -> SyncResult:
    took = time.monotonic() - started
    return SyncResult(
        str(local), remote, len(manifest.entries), manifest.total_size, files, size, took, max_bytes, max_files
    )
