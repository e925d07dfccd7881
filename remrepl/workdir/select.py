"""Which directory travels, and which of its files: the rules of git, so what travels is what you commit.

``project_root(script)`` is the directory a ``python train.py`` user means: the git work tree around the
script, else the nearest ancestor with a project marker (``pyproject.toml``, ...), else the script's own
directory. ``select_files(root)`` lists the regular files under it to send:

- inside a git work tree, git itself decides (``git ls-files --cached --others --exclude-standard``: the
  tracked files still on disk and the untracked ones no ``.gitignore``, ``.git/info/exclude`` or global
  excludes file leaves out), and repositories inside it (submodules, untracked clones) by their own git;
- outside git, the same rules are applied here: every ``.gitignore`` at every level, each relative to its
  own directory, a deeper file overriding a shallower one, and no re-inclusion inside an excluded
  directory (git never looks inside one);
- either way, ``.remreplignore`` files (same syntax, same per-directory rules) leave out more; and
  ``.git``, ``__pycache__/``, ``*.pyc`` and transfer temporaries (``*.remrepl-part``) never travel.

A symbolic link to a regular file inside the tree travels as that file's content; links that leave the
tree, point to directories or special files, or dangle are skipped, as are special files themselves.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from .._exceptions import WorkdirError
from . import ignore

IGNORE_FILE = ".remreplignore"
GITIGNORE = ".gitignore"
MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", IGNORE_FILE)
MAX_ENTRIES = 1_000_000  # directory entries looked at (or paths git lists): past it, the wrong directory
GIT_TIMEOUT = 120.0  # seconds for one git command (ls-files of a huge tree on a slow disk)
SKIPPED_DIRS = frozenset({".git", "__pycache__"})
SKIPPED_SUFFIXES = (".pyc", ".remrepl-part")
MAX_NESTING = 8  # repositories inside repositories (submodules of submodules ...) that are followed
MAX_IGNORE_FILE = 1 << 20  # bytes of one ignore file read (a pattern file, not data)


def project_root(script: Path) -> Path:
    """The directory that travels for ``python script``: the top of its git work tree, else the nearest
    ancestor holding a project marker (``MARKERS``), else the script's own directory.

    The search for markers stops below the user's home directory and ``/``; a git work tree whose top is
    one of those (a home directory kept in git for its dotfiles) does not count either: neither is ever
    what a project means."""
    script = Path(os.path.abspath(script))
    start = script if script.is_dir() else script.parent
    start = start.resolve()
    stops = {_home(), Path(start.anchor)}
    top = git_toplevel(start)
    if top is not None and top not in stops:
        return top
    for directory in [start, *start.parents]:
        if directory in stops:
            break
        if any(os.path.lexists(directory / marker) for marker in MARKERS):
            return directory
    return start


def select_files(root: Path, *, max_entries: int = MAX_ENTRIES) -> list[str]:
    """The sorted POSIX paths, relative to ``root``, of the regular files under it that travel. Past
    ``max_entries`` directory entries looked at (or paths git lists) it raises ``WorkdirError``: that is
    not a project directory."""
    root = root.resolve()
    if not root.is_dir():
        raise WorkdirError(f"the project directory {root} is not a directory")
    listed = _git_listing(root, max_entries)
    if listed is None:
        candidates = _walk(root, max_entries)
    else:
        remreplignore = _IgnoreTree(root, IGNORE_FILE)
        candidates = {
            path: kind for path, kind in listed.items() if not _builtin_skip(path) and remreplignore.visible(path)
        }
    return sorted(path for path, kind in candidates.items() if _sendable(root, path, kind))


def git_toplevel(directory: Path) -> Path | None:
    """The top of the git work tree holding ``directory``, or None (not in one, or no git here)."""
    result = _git(directory, "rev-parse", "--show-toplevel")
    if result is None or result.returncode != 0:
        return None
    top = os.fsdecode(result.stdout).strip()
    return Path(top).resolve() if top else None


def _home() -> Path:
    try:
        return Path.home().resolve()
    except (KeyError, RuntimeError):  # no HOME and no passwd entry
        return Path("/")


def _git(directory: Path, *args: str) -> subprocess.CompletedProcess[bytes] | None:
    """Run ``git -C directory ARGS``; None when git is not installed (or cannot be run)."""
    try:
        return subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def _git_listing(root: Path, max_entries: int, depth: int = 0) -> dict[str, int] | None:
    """What git would commit under ``root`` (root itself in a work tree, or below its top), each path with
    its file type (``S_IFMT`` of its lstat; 0 if it is gone), or None when ``root`` is not in a git work
    tree.

    Repositories inside it — submodules (a tracked directory) and untracked clones (listed as ``sub/``)
    — are listed by their own git, down to ``MAX_NESTING`` levels: their code is part of the project
    as far as running it goes; one not checked out (no ``.git`` in it) has nothing to send."""
    inside = _git(root, "rev-parse", "--is-inside-work-tree")
    if inside is None or inside.returncode != 0 or inside.stdout.strip() != b"true":
        return None
    result = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if result is None or result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip() if result is not None else "git did not answer"
        raise WorkdirError(f"git could not list the files of {root}: {detail}; pass --no-workdir to skip the sync")
    paths = [os.fsdecode(raw).rstrip("/") for raw in result.stdout.split(b"\0") if raw]
    if len(paths) > max_entries:
        raise _too_many(root, max_entries)
    files: dict[str, int] = {}
    for path in paths:
        try:
            kind = stat.S_IFMT(os.lstat(os.path.join(root, path)).st_mode)
        except OSError:  # deleted from disk: nothing to send
            kind = 0
        if kind != stat.S_IFDIR:
            files[path] = kind
        elif depth < MAX_NESTING and os.path.lexists(os.path.join(root, path, ".git")) and not _builtin_skip(path):
            inner = _git_listing(root / path, max_entries - len(paths), depth + 1) or {}
            files.update((f"{path}/{name}", kind) for name, kind in inner.items())
    return files


def _too_many(root: Path, max_entries: int) -> WorkdirError:
    return WorkdirError(
        f"more than {max_entries:,} entries under {root}: is it the project directory? Leave big directories "
        f"out with a {IGNORE_FILE} file there, or pass --no-workdir"
    )


def _builtin_skip(path: str) -> bool:
    """``.git``, ``__pycache__``, ``*.pyc`` and transfer temporaries, whatever the ignore files say."""
    parts = path.split("/")
    return path.endswith(SKIPPED_SUFFIXES) or any(part in SKIPPED_DIRS for part in parts)


def _sendable(root: Path, path: str, kind: int) -> bool:
    """A regular file, or a link to a regular file inside ``root`` (not inside its ``.git``); ``kind`` is
    the path's own file type (``S_IFMT``), as its directory listing or lstat gave it."""
    if kind == stat.S_IFREG:
        return True
    if kind != stat.S_IFLNK:
        return False
    target = os.path.realpath(os.path.join(root, path))
    inside = os.path.relpath(target, root)
    if inside in (".", "..") or inside.startswith(("../", "/")) or _builtin_skip(inside):
        return False
    try:
        return stat.S_ISREG(os.stat(target).st_mode)
    except OSError:  # a dangling link or a loop
        return False


def _walk(root: Path, max_entries: int) -> dict[str, int]:
    """The files under ``root`` that no ``.gitignore`` or ``.remreplignore`` leaves out, as git walks: a
    directory an ignore file excludes is never entered. Links are never followed (``_sendable`` decides
    on those that point to files)."""
    trees = (_IgnoreTree(root, GITIGNORE), _IgnoreTree(root, IGNORE_FILE))
    found: dict[str, int] = {}  # path -> its file type, from the directory listing (no stat needed)
    pending = [""]  # relative directories still to read ("" is root)
    seen = 0
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(os.path.join(root, directory) if directory else root) as entries:
                listing = [(entry.name, _kind(entry)) for entry in entries]
        except OSError as error:
            raise WorkdirError(
                f"cannot read the directory {root / directory}: {error.strerror}; leave it out with a line "
                f"'{ignore.anchored_line(directory, directory=True)}' in {root / IGNORE_FILE}, or pass --no-workdir"
            ) from None
        seen += len(listing)
        if seen > max_entries:
            raise _too_many(root, max_entries)
        for name, kind in listing:
            path = f"{directory}/{name}" if directory else name
            is_dir = kind == stat.S_IFDIR
            if (name in SKIPPED_DIRS if is_dir else name.endswith(SKIPPED_SUFFIXES)) or name == ".git":
                continue
            if any(tree.excluded(directory, name, is_dir) for tree in trees):
                continue
            if is_dir:
                pending.append(path)
            else:
                found[path] = kind
    return found


def _kind(entry: os.DirEntry[str]) -> int:
    """An entry's own file type from its directory listing (d_type: no stat on most file systems)."""
    if entry.is_symlink():
        return stat.S_IFLNK
    if entry.is_dir(follow_symlinks=False):
        return stat.S_IFDIR
    return stat.S_IFREG if entry.is_file(follow_symlinks=False) else 0  # 0: a FIFO, socket, device


class _IgnoreTree:
    """The ignore files named ``filename`` under ``root``, read once per directory, applied as git does."""

    def __init__(self, root: Path, filename: str) -> None:
        self._root = root
        self._filename = filename
        self._rules: dict[str, list[ignore.Rule]] = {}  # directory -> its file's rules (empty: no file)
        self._visible: dict[str, bool] = {"": True}  # directory -> neither it nor a parent is excluded

    def excluded(self, directory: str, name: str, is_dir: bool) -> bool:
        """Whether ``directory/name`` is excluded, given that ``directory`` itself is not: the deepest
        ignore file with a matching pattern decides (its last match), as in git."""
        path = f"{directory}/{name}" if directory else name
        level = directory
        while True:
            rules = self._rules_of(level)
            if rules:
                decided = ignore.decide(rules, path[len(level) + 1 :] if level else path, is_dir)
                if decided is not None:
                    return decided
            if not level:
                return False
            level = level.rpartition("/")[0]

    def visible(self, path: str) -> bool:
        """Whether the file ``path`` survives: no parent directory and not itself excluded."""
        directory, _, name = path.rpartition("/")
        return self._directory_visible(directory) and not self.excluded(directory, name, False)

    def _directory_visible(self, directory: str) -> bool:
        unknown = []  # the directory and those of its parents not decided yet, deepest first
        while directory not in self._visible:
            unknown.append(directory)
            directory = directory.rpartition("/")[0]
        visible = self._visible[directory]
        for directory in reversed(unknown):  # from the top down: an excluded parent hides the rest
            parent, _, name = directory.rpartition("/")
            visible = visible and not self.excluded(parent, name, True)
            self._visible[directory] = visible
        return visible

    def _rules_of(self, directory: str) -> list[ignore.Rule]:
        rules = self._rules.get(directory)
        if rules is None:
            rules = self._rules[directory] = _read_rules(self._root / directory / self._filename)
        return rules


def _read_rules(path: Path) -> list[ignore.Rule]:
    """The rules of one ignore file (none if it is missing, not a regular file, or unreadable: git does
    not read a ``.gitignore`` that is a link either)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return []
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return []
        with os.fdopen(fd, "rb", closefd=False) as file:
            data = file.read(MAX_IGNORE_FILE)
    except OSError:
        return []
    finally:
        os.close(fd)
    return ignore.parse(data.split(b"\n"))
