"""File transfers, both ways: what the sending end reads and what the receiving end writes.

Both ends use this module (the client for uploads it sends and downloads it receives; the supervisor the
other way round), so the two directions behave the same. It knows nothing of sockets: a ``Sender`` yields
``Chunk``s, a ``Receiver`` takes them; the wire events (``UploadChunk``, ``DownloadChunk``...) are made
by the caller.

- Memory stays flat: a file is read and written ``CHUNK`` bytes at a time, never whole.
- Integrity: each file's SHA-256 is computed by both ends while the data streams; the sender's digest
  rides in the file's last chunk and the receiver compares it before anything is renamed.
- Atomicity: the receiver writes into a temporary sibling of the target (``.NAME.XXXX.remrepl-part``, a
  private file or 0700 directory in the target's directory, so the final rename never crosses a file
  system) and renames it into place only at ``commit``. ``abort`` removes it: an interrupted, failed or
  mismatched transfer leaves nothing at the target.
- A directory travels as its tree: directories before what they hold, regular files; symbolic links to
  files are followed, other special files and links to directories are skipped (and counted).
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import secrets
import shutil
import stat
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeAlias

from .._exceptions import NoSuchPath, TransferError

CHUNK = 4 << 20  # bytes per chunk message (the socket's MAXMSGSIZE is 64 MiB)
WINDOW = 6 * CHUNK  # unacknowledged bytes a sender may have in flight: enough to keep a link busy
WRITE_QUEUE = 4  # chunks waiting for the disk, at most
READ_AHEAD = 2  # chunks a sender reads (and hashes) ahead of the socket
CLOSE_WAIT = 5.0  # seconds a stopped sender waits for its reader thread
PART_SUFFIX = ".remrepl-part"

Kind = Literal["file", "dir"]


def _read_umask() -> int:
    try:  # Linux says it without changing it (os.umask would, briefly, for every thread)
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _read_umask()


@dataclass(frozen=True)
class Entry:
    """One thing a transfer carries: ``path`` relative to the transfer's root ("" is the root itself)."""

    path: str
    kind: Kind
    size: int
    mode: int
    source: Path


@dataclass(frozen=True)
class Chunk:
    path: str
    kind: Kind
    offset: int
    data: bytes
    end: bool = False
    sha256: str = ""
    mode: int = 0o644


@dataclass
class Plan:
    kind: Kind
    entries: list[Entry]
    size: int  # bytes of file data in all
    skipped: int = 0  # special files and links to directories left out


def plan(source: Path) -> Plan:
    """What sending ``source`` (a file or a directory tree) takes; ``TransferError`` if it cannot be read."""
    try:
        st = source.stat()
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise NoSuchPath(f"cannot read {source}: {exc.strerror}") from None
    except OSError as exc:
        raise TransferError(f"cannot read {source}: {exc.strerror}") from None
    if stat.S_ISREG(st.st_mode):
        return Plan("file", [Entry("", "file", st.st_size, stat.S_IMODE(st.st_mode), source)], st.st_size)
    if not stat.S_ISDIR(st.st_mode):
        raise TransferError(f"{source} is neither a file nor a directory")
    if not os.access(source, os.R_OK | os.X_OK):
        raise TransferError(f"cannot read the directory {source}: permission denied")
    entries = [Entry("", "dir", 0, stat.S_IMODE(st.st_mode), source)]
    skipped = 0
    errors: list[OSError] = []
    for top, dirs, files in os.walk(source, onerror=errors.append):
        dirs.sort()
        rel_top = os.path.relpath(top, source)
        for name in list(dirs):
            full = os.path.join(top, name)
            if os.path.islink(full):  # os.walk would not descend into it anyway
                dirs.remove(name)
                skipped += 1
                continue
            mode = stat.S_IMODE(os.stat(full).st_mode)
            entries.append(Entry(_join(rel_top, name), "dir", 0, mode, Path(full)))
        for name in sorted(files):
            full = os.path.join(top, name)
            try:
                fst = os.stat(full)
            except OSError:
                skipped += 1  # a dangling link
                continue
            if not stat.S_ISREG(fst.st_mode):
                skipped += 1
                continue
            entries.append(Entry(_join(rel_top, name), "file", fst.st_size, stat.S_IMODE(fst.st_mode), Path(full)))
    if errors:
        raise TransferError(f"cannot read {errors[0].filename}: {errors[0].strerror}")
    return Plan("dir", entries, sum(e.size for e in entries), skipped)


def _join(top: str, name: str) -> str:
    return name if top == "." else f"{top}/{name}"


class Sender:
    """Reads the entries of a plan, one chunk at a time, hashing each file as it goes.

    A thread reads (and hashes) up to ``READ_AHEAD`` chunks ahead, so the disk and the hash work while
    the caller sends; ``next_chunk`` hands them out in order. A caller that must not wait for the disk
    (the supervisor's poll loop) asks with ``block=False`` and is told by ``on_ready`` (called from the
    reader thread after each chunk it queues) when to ask again.
    """

    def __init__(
        self,
        entries: list[Entry],
        chunk_size: int = CHUNK,
        read_ahead: int = READ_AHEAD,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.sent = 0  # bytes of file data handed out so far
        self.finished = False
        self._queue: queue.Queue[Chunk | TransferError | None] = queue.Queue(maxsize=read_ahead)
        self._on_ready = on_ready
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._reader, args=(entries, chunk_size), name="remrepl-sender", daemon=True
        )
        self._thread.start()

    def next_chunk(self, block: bool = True) -> Chunk | None:
        """The next chunk, or None once everything was read (``finished``) or, with ``block=False``, while
        the reader has none ready yet. ``TransferError`` if a file cannot be read."""
        if self.finished:
            return None
        try:
            item = self._queue.get(block)
        except queue.Empty:
            return None
        if item is None or isinstance(item, TransferError):
            self.finished = True
            if item is not None:
                raise item
            return None
        self.sent += len(item.data)
        return item

    def close(self) -> None:
        """Stop early: the reader closes the file it reads and ends."""
        self._stop.set()
        self.finished = True
        deadline = time.monotonic() + CLOSE_WAIT
        while self._thread.is_alive() and time.monotonic() < deadline:  # it ends at its next step...
            try:
                self._queue.get(timeout=0.05)  # ...once a reader blocked on a full queue can put
            except queue.Empty:
                pass
        # past the deadline the (daemon) reader is stuck in a read: it closes its file when that returns

    def _reader(self, entries: list[Entry], chunk_size: int) -> None:
        try:
            for chunk in self._generate(entries, chunk_size):
                if self._stop.is_set():
                    return
                self._put(chunk)
            self._put(None)
        except TransferError as exc:
            self._put(exc)
        except BaseException as exc:  # a bug: report it rather than hang the transfer
            self._put(TransferError(f"the reader failed: {type(exc).__name__}: {exc}"))

    def _put(self, item: Chunk | TransferError | None) -> None:
        self._queue.put(item)
        if self._on_ready is not None:
            self._on_ready()  # after the put: a caller woken by it finds the item

    def _generate(self, entries: list[Entry], chunk_size: int) -> Generator[Chunk, None, None]:
        for entry in entries:
            if entry.kind == "dir":
                yield Chunk(entry.path, "dir", 0, b"", end=True, mode=entry.mode)
                continue
            try:
                f = open(entry.source, "rb", buffering=0)  # noqa: SIM115  (closed below, around yields)
            except OSError as exc:
                raise TransferError(f"cannot read {entry.source}: {exc.strerror}") from None
            if hasattr(os, "posix_fadvise"):  # read from start to end once: the kernel may read far ahead
                try:
                    os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
                except OSError:
                    pass  # only advice (some file systems refuse it)
            digest = hashlib.sha256()
            offset = 0
            try:
                while True:
                    try:
                        data = f.read(chunk_size)
                    except OSError as exc:
                        raise TransferError(f"cannot read {entry.source}: {exc.strerror}") from None
                    digest.update(data)
                    if len(data) < chunk_size:  # the end of the file (as it is now)
                        yield Chunk(entry.path, "file", offset, data, True, digest.hexdigest(), entry.mode)
                        break
                    yield Chunk(entry.path, "file", offset, data, mode=entry.mode)
                    offset += len(data)
            finally:
                f.close()


_BAD_PART = re.compile(r"(^|/)\.{1,2}(/|$)|//|^/|\x00|\\")


NAME_MAX = 255  # bytes in one path component (Linux, macOS)
PATH_MAX = 4096  # bytes in a whole path


def check_path(text: str, what: str = "path") -> str:
    """``text`` if the OS can take it as a path; ``TransferError`` saying why not otherwise (a NUL byte, a
    lone surrogate that no file system encoding has, a name or path too long), where the OS would only
    say ``ValueError`` or ``ENAMETOOLONG``. Surrogate escapes of non-UTF-8 bytes (``os.fsdecode``) pass."""
    shown = text[:200].encode("utf-8", "backslashreplace").decode() + ("..." if len(text) > 200 else "")
    if "\x00" in text:
        raise TransferError(f"the {what} {shown!r} contains a NUL character, which no file name can")
    try:
        raw = os.fsencode(text)
    except UnicodeEncodeError:
        raise TransferError(f"the {what} {shown!r} is not a valid file name (it has a lone surrogate)") from None
    if len(raw) >= PATH_MAX:
        raise TransferError(f"the {what} {shown!r} is too long ({len(raw)} bytes; at most {PATH_MAX - 1})")
    longest = max(raw.split(b"/"), key=len)
    if len(longest) > NAME_MAX:
        raise TransferError(
            f"the {what} {shown!r} has a name too long for a file system ({len(longest)} bytes; at most {NAME_MAX})"
        )
    return text


def check_name(name: str) -> None:
    """``TransferError`` unless ``name`` is one usable file name (no directory part, not . or ..)."""
    if not name or name in (".", "..") or "/" in name or "\x00" in name:
        raise TransferError(f"not a usable file name: {name!r:.200}")
    check_path(name, "file name")


def resolve_target(dest: str, name: str, cwd: Path, kind: Kind) -> Path:
    """Where a received ``kind`` named ``name`` goes, as ``cp`` would put it: ``dest`` "" means ``cwd/name``;
    an existing directory means inside it; anything else is the new path itself (its directory must exist).
    ``TransferError`` if that cannot be."""
    check_name(name)
    check_path(dest, "destination")
    if dest:
        target = Path(os.path.expanduser(dest))
        target = target if target.is_absolute() else cwd / target
        if target.is_dir():
            target = target / name
        elif dest.endswith("/"):
            raise TransferError(f"no such directory: {target}")
    else:
        target = cwd / name
    if not target.parent.is_dir():
        raise TransferError(f"no such directory: {target.parent}")
    if target.is_dir() and not target.is_symlink():
        raise TransferError(f"{target} is an existing directory: remove it first or choose another name")
    if kind == "dir" and (target.exists() or target.is_symlink()):
        raise TransferError(f"{target} already exists: remove it first or choose another name")
    return Path(os.path.abspath(target))


@dataclass
class _OpenFile:
    path: str
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    written: int = 0


# What the hasher thread does, in order: (digest, data) to hash, or an Event to set once all before it is
# hashed; None ends it.
_HashOp: TypeAlias = "tuple[hashlib._Hash, bytes] | threading.Event"


def _hasher(ops: queue.Queue[_HashOp | None], failed: list[BaseException]) -> None:
    """Hash in a thread of its own: hashlib lets go of the GIL for big buffers, so this runs beside the
    receiving thread and the writer. It never stops before its None (a waiter must not hang): a failure
    is kept in ``failed`` instead."""
    while (op := ops.get()) is not None:
        if isinstance(op, threading.Event):
            op.set()
        elif not failed:
            try:
                op[0].update(op[1])
            except BaseException as exc:  # a bug (or no memory): fail the transfer, not hang it
                failed.append(exc)


# What the writer thread does, in order: ("mkdir", path, 0) / ("open", path, flags) / ("data", bytes) /
# ("close", mode); None ends it.
_Op = tuple[str, "Path | bytes", int]


class Receiver:
    """Writes a transfer into a temporary sibling of ``target``; ``commit`` renames it into place.

    ``write`` checks each chunk (order, offsets, paths) at once, so a wrong chunk fails right there. The
    hashing and the disk work are done by a thread each, so the caller's thread (the client's, or the
    supervisor's poll loop) only receives while the data is hashed and written side by side; a file's last
    chunk waits for its hash to catch up, so a checksum mismatch still fails the ``write`` of that chunk.
    Both queues are bounded: a disk slower than the link slows the sender down, memory stays flat. An I/O
    error of the writer surfaces at the next ``write`` or at ``commit``.

    ``replace``: what is at ``target`` already (a file, a directory, a link) is replaced as a whole: a
    directory is renamed aside, the new tree renamed into place, and only then is the old one removed, so
    nothing of it stays mixed in (``remrepl exec --get``: the results of the last run). Without it a
    directory is never replaced, and a file only by a file.
    """

    def __init__(self, target: Path, kind: Kind, *, replace: bool = False) -> None:
        self.target = target
        self.kind = kind
        self.replace = replace
        self.received = 0  # bytes of file data taken
        self.files = 0
        self.last_sha256 = ""  # of the last file that ended: a one-file transfer's checksum
        self._open: _OpenFile | None = None
        self._dirs: list[tuple[Path, int]] = []  # modes to set at commit (after writing inside them)
        self._root_seen = False
        self._closed = False
        token = secrets.token_hex(4)
        self.part = target.parent / f".{target.name}.{token}{PART_SUFFIX}"
        try:
            if kind == "dir":
                self.part.mkdir(mode=0o700)
            else:
                os.close(os.open(self.part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        except OSError as exc:
            raise TransferError(f"cannot write in {target.parent}: {exc.strerror}") from None
        self._queue: queue.Queue[_Op | None] = queue.Queue(maxsize=WRITE_QUEUE)
        self._failed: TransferError | None = None
        self._thread = threading.Thread(target=self._writer, name="remrepl-receiver", daemon=True)
        self._thread.start()
        self._hashes: queue.Queue[_HashOp | None] = queue.Queue(maxsize=WRITE_QUEUE)
        self._hash_failed: list[BaseException] = []
        self._hasher_thread = threading.Thread(
            target=_hasher, args=(self._hashes, self._hash_failed), name="remrepl-hasher", daemon=True
        )
        self._hasher_thread.start()

    def write(self, chunk: Chunk) -> None:
        """Take the next chunk; ``TransferError`` (and nothing kept) if it is wrong or the transfer failed."""
        if self._closed:
            raise TransferError("the transfer is over")
        self._raise_if_failed()
        try:
            self._accept(chunk)
        except TransferError:
            self.abort()
            raise

    def _accept(self, chunk: Chunk) -> None:
        if not self._root_seen:
            if chunk.path != "" or chunk.kind != self.kind:
                raise TransferError(f"the transfer must start with its root {self.kind}, not {chunk.path!r}")
            self._root_seen = True
        elif (chunk.path == "" and chunk.kind == "dir") or (self.kind == "file" and chunk.path != ""):
            raise TransferError(f"unexpected entry {chunk.path!r}")
        if chunk.path and _BAD_PART.search(chunk.path):
            raise TransferError(f"refusing the entry path {chunk.path!r:.200}")
        check_path(chunk.path, "entry path")
        local = self.part / chunk.path if chunk.path else self.part
        if chunk.kind == "dir":
            if self._open is not None:
                raise TransferError(f"{self._open.path!r} did not end before {chunk.path!r}")
            if chunk.path:
                self._queue.put(("mkdir", local, 0))  # its parent must have come first (else: an error)
            self._dirs.append((local, chunk.mode & 0o777 & ~UMASK))
            return
        current = self._open
        if current is None or current.path != chunk.path:
            if current is not None:
                raise TransferError(f"{current.path!r} did not end before {chunk.path!r}")
            if chunk.offset != 0:
                raise TransferError(f"{chunk.path!r} starts at offset {chunk.offset}")
            flags = os.O_WRONLY | os.O_NOFOLLOW | (os.O_TRUNC if not chunk.path else os.O_CREAT | os.O_EXCL)
            current = self._open = _OpenFile(chunk.path)
            self._queue.put(("open", local, flags))
        if chunk.offset != current.written:
            raise TransferError(f"{chunk.path!r}: data at offset {chunk.offset}, expected {current.written}")
        current.written += len(chunk.data)
        self.received += len(chunk.data)
        if chunk.data:
            self._hashes.put((current.digest, chunk.data))  # hashed and written side by side
            self._queue.put(("data", chunk.data, 0))
        if chunk.end:
            self._open = None
            self._hashed()
            if current.digest.hexdigest() != chunk.sha256:
                raise TransferError(
                    f"checksum mismatch for {self._where(chunk.path)}: SHA-256 {current.digest.hexdigest()} "
                    f"received, {chunk.sha256 or 'none'} sent; nothing was kept"
                )
            self._queue.put(("close", b"", chunk.mode & 0o777 & ~UMASK))
            self.files += 1
            self.last_sha256 = chunk.sha256

    def _where(self, path: str) -> Path:
        return self.target / path if path else self.target

    def _writer(self) -> None:
        fd: int | None = None
        where = self.part
        try:
            while (op := self._queue.get()) is not None:
                if self._failed is not None or self._closed:
                    continue  # drain what is left after a failure or an abort
                kind, arg, number = op
                try:
                    if kind == "data":
                        assert fd is not None and isinstance(arg, bytes)
                        view = memoryview(arg)
                        while view:
                            view = view[os.write(fd, view) :]
                    elif kind == "open":
                        assert isinstance(arg, Path)
                        where = arg
                        fd = os.open(arg, number, 0o600)
                    elif kind == "close":
                        assert fd is not None
                        os.fchmod(fd, number)
                        os.close(fd)
                        fd = None
                    elif kind == "mkdir":
                        assert isinstance(arg, Path)
                        where = arg
                        arg.mkdir(mode=0o700)
                except OSError as exc:
                    shown = self.target / where.relative_to(self.part) if where != self.part else self.target
                    self._failed = TransferError(f"cannot write {shown}: {exc.strerror}")
                except BaseException as exc:  # a bug: report it rather than hang the transfer
                    self._failed = TransferError(f"the writer failed: {type(exc).__name__}: {exc}")
        finally:
            if fd is not None:
                os.close(fd)

    def _hashed(self) -> None:
        """Wait until the hasher has taken every chunk given to it so far."""
        done = threading.Event()
        self._hashes.put(done)
        done.wait()
        if self._hash_failed:
            exc = self._hash_failed[0]
            raise TransferError(f"the hasher failed: {type(exc).__name__}: {exc}")

    def _stop_writer(self) -> None:
        if self._hasher_thread.is_alive():
            self._hashes.put(None)
            self._hasher_thread.join()
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _raise_if_failed(self) -> None:
        failed = self._failed
        if failed is not None:
            self.abort()
            raise failed

    def commit(self) -> Path:
        """Move the received tree into place; ``TransferError`` (nothing kept) if it is incomplete."""
        if self._closed:
            raise TransferError("the transfer is over")
        self._stop_writer()
        self._raise_if_failed()
        if not self._root_seen or self._open is not None:
            self.abort()
            raise TransferError("the transfer ended before all of its data arrived; nothing was kept")
        try:
            for path, mode in reversed(self._dirs):  # deepest first: a read-only parent still lets us chmod
                os.chmod(path, mode)
            if self.replace:
                self._replace_target()
            elif self.kind == "dir":
                if self.target.exists() or self.target.is_symlink():
                    raise TransferError(f"{self.target} appeared meanwhile; nothing was replaced")
                os.rename(self.part, self.target)
            else:
                os.replace(self.part, self.target)
        except OSError as exc:
            self.abort()
            raise TransferError(f"cannot move the transfer into place at {self.target}: {exc.strerror}") from None
        except TransferError:
            self.abort()
            raise
        self._closed = True
        return self.target

    def _replace_target(self) -> None:
        """Move the finished ``part`` to ``target``, replacing what is there (see the class docstring)."""
        target = self.target
        there = target.is_symlink() or target.exists()
        if not there or (self.kind == "file" and (target.is_symlink() or not target.is_dir())):
            os.replace(self.part, target)  # one atomic step
            return
        old = target.parent / f".{target.name}.{secrets.token_hex(4)}.old"
        os.rename(target, old)
        try:
            os.rename(self.part, target)
        except OSError:
            os.rename(old, target)  # put the old one back: the target is never left empty
            raise
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)

    def abort(self) -> None:
        """Remove everything written so far. Idempotent."""
        if self._closed:
            return
        self._closed = True  # the writer skips what is still queued
        self._stop_writer()
        self._open = None
        if self.kind == "dir":
            for path, _ in self._dirs:  # a read-only directory inside would stop rmtree
                try:
                    os.chmod(path, 0o700)
                except OSError:
                    pass
            shutil.rmtree(self.part, ignore_errors=True)
        else:
            try:
                os.unlink(self.part)
            except OSError:
                pass
