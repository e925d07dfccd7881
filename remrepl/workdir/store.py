"""The server's copies of client projects: ``<state>/work/<name>-<key>/``, one per project.

Each copy has a record beside it (``<name>-<key>.json``): the manifest it was last synced to, and for each
file the (size, mtime_ns, inode) it had when the sync wrote it. A file whose stat still matches is
*intact*: its content is what the manifest says, without reading it. A file the remote side changed
(the user's code wrote to it) is not intact, so the next sync sends it again; files the remote side made
itself (results) are never touched. A sync deletes only what an earlier sync put there, unchanged, and
the client no longer has: deletions propagate, the remote's own work is never lost.

``SyncedCopy.apply`` moves the files a transfer received (a staging tree) into the copy with one
``os.replace`` each, so a file is never seen half-written.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from .._exceptions import WorkdirError
from .._files import private_dir, state_dir, write_private
from .manifest import Manifest

_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}\Z")
_KEY = re.compile(r"[0-9a-f]{8,64}\Z")
Stamp = tuple[int, int, int]  # (size, mtime_ns, inode)


def store_dir() -> Path:
    """Where the copies live (0700)."""
    return state_dir("work")


def _drop_bytecode(source: Path) -> None:
    """Remove the cached bytecode of a module the sync replaced: Python trusts a ``.pyc`` whose recorded
    source size and mtime (whole seconds) match, which an edit of the same size in the same second does."""
    cache = source.parent / "__pycache__"
    if cache.is_dir():
        for compiled in cache.glob(f"{source.stem}.*.pyc"):
            try:
                compiled.unlink()
            except OSError:
                pass


def copy_holding(path: Path) -> Path | None:
    """The copy ``path`` lies in (itself, or a directory inside it), if it is one; else None."""
    base = store_dir().resolve()
    try:
        inside = path.resolve().relative_to(base)
    except ValueError:
        return None
    if not inside.parts or inside.parts[0].startswith("."):
        return None
    copy = base / inside.parts[0]
    return copy if copy.with_name(copy.name + ".json").is_file() else None


def check_place(name: str, key: str) -> str:
    """``name-key``, the copy's directory name; ``WorkdirError`` for a name or key that could escape."""
    if not _NAME.match(name) or name.startswith("."):
        raise WorkdirError(f"refusing the workdir name {name!r:.80}: letters, digits, '.', '_' and '-' only")
    if not _KEY.match(key):
        raise WorkdirError(f"refusing the workdir key {key!r:.80}: 8 to 64 lower-case hex digits")
    return f"{name}-{key}"


def _stamp(path: str | Path) -> Stamp | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


@dataclass
class SyncedCopy:
    """One project's copy on this machine."""

    path: Path
    record: Path
    manifest: Manifest
    stamps: dict[str, Stamp]

    @classmethod
    def at(cls, path: Path) -> SyncedCopy:
        """The copy at ``path`` (a directory ``open`` made), as its record describes it."""
        return cls._load(path, path.with_name(path.name + ".json"))

    @classmethod
    def open(cls, name: str, key: str, base: Path | None = None) -> SyncedCopy:
        place = check_place(name, key)
        base = base or store_dir()
        return cls._load(base / place, base / f"{place}.json")

    @classmethod
    def _load(cls, path: Path, record: Path) -> SyncedCopy:
        manifest, stamps = Manifest(()), {}
        try:
            data = json.loads(record.read_bytes())
            manifest = Manifest.from_json(json.dumps(data["manifest"]).encode())
            stamps = {p: (int(s[0]), int(s[1]), int(s[2])) for p, s in data["stamps"].items()}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError, IndexError, WorkdirError):
            pass  # a damaged record: start over (everything is sent again, nothing remote is deleted)
        return cls(path, record, manifest, stamps)

    def intact(self) -> Manifest:
        """The entries of the last sync whose files are still as it left them."""
        if not self.path.is_dir():
            return Manifest(())
        root, stamps = str(self.path), self.stamps  # plain strings: 10,000 files cost a pathlib join each
        kept = [e for e in self.manifest.entries if _stamp(os.path.join(root, e.path)) == stamps.get(e.path)]
        return Manifest(tuple(kept))

    def matches(self, digest: str) -> bool:
        """Is the copy exactly the client's tree with this manifest digest, every file intact?"""
        if self.manifest.digest != digest or not self.path.is_dir():
            return False
        root, stamps = str(self.path), self.stamps
        return all(_stamp(os.path.join(root, e.path)) == stamps.get(e.path) for e in self.manifest.entries)

    def staging(self) -> Path:
        """A new place where one sync puts the files it brings (its receiver creates it, beside the copy)."""
        private_dir(self.path.parent)
        return self.path.parent / f".{self.path.name}.{secrets.token_hex(4)}.incoming"

    def apply(self, incoming: Path | None, new: Manifest) -> int:
        """Make the copy ``new``: move in the received files, delete what the last sync put here, intact,
        that ``new`` lacks; record it. The number of files deleted."""
        private_dir(self.path.parent)
        wanted = new.by_path()
        intact = self.intact().by_path()
        received: set[str] = set()
        if incoming is not None:
            sent = []
            for top, _dirs, files in os.walk(incoming):
                for name in files:
                    rel = os.path.relpath(os.path.join(top, name), incoming).replace(os.sep, "/")
                    if rel not in wanted:
                        raise WorkdirError(f"the sync sent {rel!r}, which its manifest does not list")
                    sent.append(rel)
            if not os.path.lexists(self.path):  # the first sync: the received tree becomes the copy
                os.replace(incoming, self.path)
                os.chmod(self.path, 0o755)
            else:
                ready: set[Path] = set()  # directories of the copy already checked by _place
                for rel in sent:
                    self._place(incoming / rel, self.path / rel, ready)
                    if rel.endswith(".py"):
                        _drop_bytecode(self.path / rel)
            received.update(sent)
        self.path.mkdir(mode=0o755, exist_ok=True)
        deleted = 0
        for path in sorted(set(intact) - set(wanted), reverse=True):
            try:
                os.unlink(self.path / path)
                deleted += 1
            except OSError:
                continue
            self._prune(Path(path).parent)
        # A file counts as synced if it was just received (its SHA-256 checked) or was intact and unchanged.
        # An intact one keeps the stamp intact() just checked (no second stat; and a remote write since
        # then is not taken for synced content).
        root, stamps = str(self.path), {}
        for p, e in wanted.items():
            found = (
                _stamp(os.path.join(root, p)) if p in received else self.stamps.get(p) if intact.get(p) == e else None
            )
            if found is not None:
                stamps[p] = found
        self.manifest, self.stamps = new, stamps
        record = '{"manifest":' + new.to_json() + ',"stamps":' + json.dumps(stamps, separators=(",", ":")) + "}"
        tmp = self.record.with_name(self.record.name + ".tmp")
        write_private(tmp, record)
        os.replace(tmp, self.record)
        if len(stamps) != len(wanted):
            lost = sorted(set(wanted) - set(stamps))[:3]
            raise WorkdirError(f"the sync did not bring {', '.join(lost)}; run it again")
        return deleted

    def _place(self, source: Path, target: Path, ready: set[Path]) -> None:
        """Move ``source`` to ``target``. ``ready``: directories this apply has made sure of (a manifest
        never lists a path both as a file and as a directory, so they stay directories)."""
        parent = target.parent
        if parent not in ready:
            for level in reversed([parent, *parent.parents]):  # a file where a directory must be: replace it
                if level == self.path or self.path not in level.parents:
                    continue
                if level.is_symlink() or (level.exists() and not level.is_dir()):
                    level.unlink()
            parent.mkdir(parents=True, exist_ok=True)
            ready.add(parent)
        try:
            is_dir = stat.S_ISDIR(os.lstat(target).st_mode)
        except FileNotFoundError:
            is_dir = False
        if is_dir:
            shutil.rmtree(target)
        os.replace(source, target)

    def _prune(self, rel: Path) -> None:
        """Remove directories a deletion left empty, up to (not including) the copy's root."""
        for level in [rel, *rel.parents]:
            if str(level) in ("", "."):
                return
            try:
                (self.path / level).rmdir()
            except OSError:
                return
