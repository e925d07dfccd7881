"""What a synced tree holds: each file's path, size, mode and SHA-256, so a re-sync sends only what changed.

``build_manifest`` hashes the selected files (``select.select_files``); a ``HashCache`` remembers each
file's hash with its (size, mtime_ns, inode) so an unchanged file is not read again. ``diff`` says what
to send and what to delete; ``Manifest.to_json`` / ``from_json`` is the compact form for the wire and for
the server's copy. ``digest`` names a whole tree: two trees with the same digest hold the same files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .. import _files
from .._exceptions import WorkdirError
from .ignore import anchored_line
from .select import IGNORE_FILE

READ_SIZE = 1 << 20  # bytes per read while hashing
RACY_NS = 2_000_000_000  # a file modified this close to its hashing is not trusted from the cache after
MODES = (0o644, 0o755)  # what a file's mode travels as: executable by its owner, or not
_SHA256 = re.compile(r"[0-9a-f]{64}")
_DIGEST_PREFIX = b"remrepl-manifest-1\n"  # names the encoding, so a future one gets other digests


@dataclass(frozen=True)
class Entry:
    """One file: its POSIX path relative to the tree, size in bytes, mode (0o644 or 0o755), SHA-256 hex."""

    path: str
    size: int
    mode: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """The files of a tree, sorted by path (whatever order they were given in)."""

    entries: tuple[Entry, ...]
    _by_path: dict[str, Entry] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        entries = tuple(sorted(self.entries, key=lambda entry: entry.path))
        by_path = {entry.path: entry for entry in entries}
        if len(by_path) != len(entries):
            raise WorkdirError("a manifest lists the same path twice")
        for path in by_path:  # a file cannot also be a directory of the tree
            parent = path.rpartition("/")[0]
            while parent:
                if parent in by_path:
                    raise WorkdirError(f"a manifest lists {parent!r} both as a file and as a directory")
                parent = parent.rpartition("/")[0]
        object.__setattr__(self, "entries", entries)
        object.__setattr__(self, "_by_path", by_path)

    @cached_property
    def digest(self) -> str:
        """The tree's identity: SHA-256 hex of ``b"remrepl-manifest-1\\n" + to_json()`` (the canonical
        encoding: entries sorted by path, each ``[path, size, mode, sha256]``, compact ASCII JSON)."""
        return hashlib.sha256(_DIGEST_PREFIX + self.to_json().encode("ascii")).hexdigest()

    @property
    def total_size(self) -> int:
        return sum(entry.size for entry in self.entries)

    def by_path(self) -> dict[str, Entry]:
        """The entries by path (a new dict each call: the manifest stays immutable)."""
        return dict(self._by_path)

    def to_json(self) -> str:
        """``[[path, size, mode, sha256], ...]`` sorted by path, compact, ASCII (a path that is no valid
        UTF-8 keeps its escaped surrogates): the same text for the same tree, on any machine."""
        rows = [[entry.path, entry.size, entry.mode, entry.sha256] for entry in self.entries]
        return json.dumps(rows, separators=(",", ":"), ensure_ascii=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        """The manifest ``to_json`` wrote; anything else (bad JSON, a path that could leave the tree, a
        size or mode out of range, a malformed hash) raises ``WorkdirError``."""
        try:
            rows = json.loads(text)
        except ValueError as error:
            raise WorkdirError(f"a manifest is not valid JSON: {error}") from None
        if not isinstance(rows, list):
            raise WorkdirError("a manifest must be a JSON list of [path, size, mode, sha256]")
        return cls(tuple(_entry(row) for row in rows))


def _entry(row: Any) -> Entry:
    if not (isinstance(row, list) and len(row) == 4):
        raise WorkdirError(f"a manifest entry must be [path, size, mode, sha256], not {row!r:.100}")
    path, size, mode, sha256 = row
    check_path(path)
    if not (type(size) is int and size >= 0):
        raise WorkdirError(f"bad size in the manifest entry of {path!r}: {size!r:.40}")
    if type(mode) is not int or mode not in MODES:
        raise WorkdirError(f"bad mode in the manifest entry of {path!r}: {mode!r:.40} (0o644 or 0o755)")
    if not (isinstance(sha256, str) and _SHA256.fullmatch(sha256)):
        raise WorkdirError(f"bad SHA-256 in the manifest entry of {path!r}: {sha256!r:.80}")
    return Entry(path, size, mode, sha256)


def check_path(path: object) -> None:
    """Raise ``WorkdirError`` unless ``path`` is a normal relative POSIX path that stays inside its tree:
    no leading ``/``, no empty, ``.`` or ``..`` part, no NUL, at most 4096 characters."""
    if not isinstance(path, str) or not path or len(path) > 4096 or "\0" in path:
        raise WorkdirError(f"bad path in a manifest: {path!r:.100}")
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise WorkdirError(f"a manifest path must be relative and stay inside its tree: {path!r:.100}")


def file_mode(st_mode: int) -> int:
    """The mode a file travels with: 0o755 if its owner may execute it, else 0o644 (as git keeps it)."""
    return MODES[1] if st_mode & stat.S_IXUSR else MODES[0]


def build_manifest(root: Path, paths: Sequence[str], cache: HashCache | None = None) -> Manifest:
    """Hash the files ``paths`` (relative to ``root``; links are followed: ``select_files`` only lists
    those that stay inside the tree). A file removed since it was selected is left out; one that cannot
    be read raises ``WorkdirError`` naming it. With ``cache``, unchanged files are not read again (call
    ``cache.save()`` afterwards to keep what was learnt)."""
    entries: list[Entry] = []
    for path in paths:
        full = os.path.join(root, path)
        try:
            st = os.stat(full)
        except FileNotFoundError:  # deleted since the selection: it is not part of the tree any more
            continue
        except OSError as error:
            raise _unreadable(root, path, error) from None
        sha256 = cache.lookup(path, st) if cache is not None and stat.S_ISREG(st.st_mode) else None
        if sha256 is None:
            read_at = time.time_ns()  # before the status the hash goes with: the racy rule's reference
            sha256, st = _hash(root, path)
            if cache is not None:
                cache.store(path, st, sha256, read_at_ns=read_at)
        entries.append(Entry(path, st.st_size, file_mode(st.st_mode), sha256))
    return Manifest(tuple(entries))


def _hash(root: Path, path: str) -> tuple[str, os.stat_result]:
    """The file's SHA-256 and its status as read (through the open file, so the two agree)."""
    try:
        fd = os.open(os.path.join(root, path), os.O_RDONLY | os.O_NONBLOCK)  # a FIFO put there must not hang us
    except OSError as error:
        raise _unreadable(root, path, error) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise WorkdirError(
                f"{root / path} is no longer a regular file (it changed while the project was scanned); "
                f"leave it out with a line '{anchored_line(path)}' in {root / IGNORE_FILE}"
            )
        digest = hashlib.sha256()
        while chunk := os.read(fd, READ_SIZE):  # ends at the end of the file: bounded by its size
            digest.update(chunk)
    except OSError as error:
        raise _unreadable(root, path, error) from None
    finally:
        os.close(fd)
    return digest.hexdigest(), st


def _unreadable(root: Path, path: str, error: OSError) -> WorkdirError:
    return WorkdirError(
        f"cannot read {root / path}: {error.strerror or error}; leave it out of the sync with a line "
        f"'{anchored_line(path)}' in {root / IGNORE_FILE}, or pass --no-workdir"
    )


def diff(old: Manifest, new: Manifest) -> tuple[list[Entry], list[str]]:
    """What turns ``old`` into ``new``: the entries to send (new paths, or changed content or mode), in
    path order, and the paths to delete, sorted."""
    before = old.by_path()
    send = [entry for entry in new.entries if before.get(entry.path) != entry]
    after = new.by_path()
    delete = [path for path in before if path not in after]
    return send, delete


class HashCache:
    """Remembers each file's SHA-256 with its (size, mtime_ns, inode), so an unchanged file is not read
    again: a JSON file per project root, private (0600), replaced atomically by ``save``.

    The racy-git rule: a file whose modification time is within ``RACY_NS`` of the moment it was hashed
    (or later) may still change inside the file system's timestamp granularity without its (size, mtime,
    inode) changing, so it is not trusted from the cache next time: it is hashed again until it has
    been quiet for that long. ``hits`` and ``misses`` count the answers of this scan (files taken from
    the cache, and files read)."""

    VERSION = 1

    def __init__(self, path: Path, root: Path) -> None:
        self.path = path
        self.root = root
        self.hits = 0
        self.misses = 0
        self._known = _load(path, root)
        self._seen: dict[str, list[Any]] = {}  # what this scan found: all that save() keeps

    @classmethod
    def for_root(cls, root: Path, directory: Path | None = None) -> HashCache:
        """The cache of the project ``root`` (resolved), in ``directory`` (default: the state directory's
        ``hashcache/``), named by a hash of the root's path."""
        root = root.resolve()
        directory = directory if directory is not None else _files.state_dir("hashcache")
        name = hashlib.sha256(os.fsencode(root)).hexdigest()[:32]
        return cls(directory / f"{name}.json", root)

    def lookup(self, path: str, st: os.stat_result) -> str | None:
        """The cached SHA-256 of ``path`` if its size, mtime and inode are the ones it was hashed with."""
        known = self._known.get(path)
        if known is not None and known[:3] == [st.st_size, st.st_mtime_ns, st.st_ino]:
            self.hits += 1
            self._seen[path] = known
            return str(known[3])
        self.misses += 1
        return None

    def store(self, path: str, st: os.stat_result, sha256: str, *, read_at_ns: int | None = None) -> None:
        """Remember the hash of a file read in status ``st`` (taken at ``read_at_ns``, default now) —
        unless the file is racy: modified less than ``RACY_NS`` before that moment, or after it."""
        if st.st_mtime_ns < (read_at_ns if read_at_ns is not None else time.time_ns()) - RACY_NS:
            self._seen[path] = [st.st_size, st.st_mtime_ns, st.st_ino, sha256]
        else:
            self._seen.pop(path, None)

    def save(self) -> None:
        """Write what this scan found (files no longer there are forgotten), atomically and 0600. A
        failure is a ``WorkdirError`` (a caller may go on without the cache: it only saves time)."""
        data = {"version": self.VERSION, "root": os.fsdecode(self.root), "entries": self._seen}
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=True)
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        try:
            _files.private_dir(self.path.parent)
            _files.write_private(temporary, text)
            os.replace(temporary, self.path)
        except OSError as error:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise WorkdirError(f"cannot write the hash cache {self.path}: {error.strerror or error}") from None


def _load(path: Path, root: Path) -> dict[str, list[Any]]:
    """The cache's entries, or none when it is missing or not what ``save`` writes (it is only a cache)."""
    try:
        data = json.loads(path.read_text(encoding="ascii"))
    except (OSError, ValueError):
        return {}
    if not (
        isinstance(data, dict)
        and data.get("version") == HashCache.VERSION
        and data.get("root") == os.fsdecode(root)
        and isinstance(data.get("entries"), dict)
    ):
        return {}
    return {
        key: value
        for key, value in data["entries"].items()
        if isinstance(value, list)
        and len(value) == 4
        and all(type(number) is int for number in value[:3])
        and isinstance(value[3], str)
        and _SHA256.fullmatch(value[3])
    }
