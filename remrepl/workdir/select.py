"""Which directory travels, and which of its files: the rules of git, so what travels is what you commit.

``project_root(script)`` is the directory a ``python train.py`` user means: the git work tree around the
script, else the nearest ancestor with a project marker (``pyproject.toml``, ...), else the script's own
directory. ``select_files(root)`` lists the regular files under it to send:

- inside a git work tree, git itself decides (``git ls-files --cached --others --exclude-standard``: the
  tracked files still on disk and the untracked ones no ``.gitignore``, ``.git/info/exclude`` or global
  excludes file leaves out);
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
import re
import stat
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pathspec

from .._exceptions import WorkdirError

IGNORE_FILE = ".remreplignore"
GITIGNORE = ".gitignore"
MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", IGNORE_FILE)
MAX_ENTRIES = 1_000_000  # directory entries looked at (or paths git lists): past it, the wrong directory
GIT_TIMEOUT = 120.0  # seconds for one git command (ls-files of a huge tree on a slow disk)
SKIPPED_DIRS = frozenset({".git", "__pycache__"})
SKIPPED_SUFFIXES = (".pyc", ".remrepl-part")

Rules = list[tuple["re.Pattern[str]", bool]]  # (pattern, excludes), in file order; the last match decides


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


def select_files(root: Path) -> list[str]:
    """The sorted POSIX paths, relative to ``root``, of the regular files under it that travel."""
    root = root.resolve()
    if not root.is_dir():
        raise WorkdirError(f"the project directory {root} is not a directory")
    listed = _git_listing(root)
    if listed is None:
        candidates: Iterable[str] = _walk(root)
    else:
        remreplignore = _IgnoreTree(root, IGNORE_FILE)
        candidates = (path for path in listed if not _builtin_skip(path) and remreplignore.visible(path))
    return sorted(path for path in set(candidates) if _sendable(root, path))


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


def _git_listing(root: Path) -> list[str] | None:
    """What git would commit under ``root`` (root itself in a work tree, or below its top), or None when
    ``root`` is not in a git work tree. Untracked nested repositories (listed as ``sub/``) are left out."""
    inside = _git(root, "rev-parse", "--is-inside-work-tree")
    if inside is None or inside.returncode != 0 or inside.stdout.strip() != b"true":
        return None
    result = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if result is None or result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip() if result is not None else "git did not answer"
        raise WorkdirError(f"git could not list the files of {root}: {detail}; pass --no-workdir to skip the sync")
    paths = [os.fsdecode(raw) for raw in result.stdout.split(b"\0") if raw and not raw.endswith(b"/")]
    if len(paths) > MAX_ENTRIES:
        raise _too_many(root)
    return paths


def _too_many(root: Path) -> WorkdirError:
    return WorkdirError(
        f"more than {MAX_ENTRIES:,} entries under {root}: is it the project directory? Leave big directories "
        f"out with a {IGNORE_FILE} file there, or pass --no-workdir"
    )


def _builtin_skip(path: str) -> bool:
    """``.git``, ``__pycache__``, ``*.pyc`` and transfer temporaries, whatever the ignore files say."""
    parts = path.split("/")
    return path.endswith(SKIPPED_SUFFIXES) or any(part in SKIPPED_DIRS for part in parts)


def _sendable(root: Path, path: str) -> bool:
    """A regular file, or a link to a regular file inside ``root`` (not inside its ``.git``)."""
    full = os.path.join(root, path)
    try:
        st = os.lstat(full)
    except OSError:  # gone (a tracked file deleted from disk), or unreachable: nothing to send
        return False
    if stat.S_ISREG(st.st_mode):
        return True
    if not stat.S_ISLNK(st.st_mode):
        return False
    target = os.path.realpath(full)
    inside = os.path.relpath(target, root)
    if inside.startswith(("..", "/")) or inside == "." or _builtin_skip(inside.replace(os.sep, "/")):
        return False
    try:
        return stat.S_ISREG(os.stat(target).st_mode)
    except OSError:  # a dangling link or a loop
        return False


def _walk(root: Path) -> list[str]:
    """The files under ``root`` that no ``.gitignore`` or ``.remreplignore`` leaves out, as git walks: a
    directory an ignore file excludes is never entered. Links are never followed (``_sendable`` decides
    on those that point to files)."""
    trees = (_IgnoreTree(root, GITIGNORE), _IgnoreTree(root, IGNORE_FILE))
    found: list[str] = []
    pending = [""]  # relative directories still to read ("" is root)
    seen = 0
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(os.path.join(root, directory) if directory else root) as entries:
                listing = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]
        except OSError as error:
            raise WorkdirError(
                f"cannot read the directory {root / directory}: {error.strerror}; leave it out with a line "
                f"'/{directory}/' in {root / IGNORE_FILE}, or pass --no-workdir"
            ) from None
        seen += len(listing)
        if seen > MAX_ENTRIES:
            raise _too_many(root)
        for name, is_dir in listing:
            path = f"{directory}/{name}" if directory else name
            if (name in SKIPPED_DIRS if is_dir else name.endswith(SKIPPED_SUFFIXES)) or name == ".git":
                continue
            if any(tree.excluded(directory, name, is_dir) for tree in trees):
                continue
            (pending if is_dir else found).append(path)
    return found


class _IgnoreTree:
    """The ignore files named ``filename`` under ``root``, read once per directory, applied as git does."""

    def __init__(self, root: Path, filename: str) -> None:
        self._root = root
        self._filename = filename
        self._rules: dict[str, Rules] = {}  # directory -> its file's rules (empty: no file)
        self._visible: dict[str, bool] = {"": True}  # directory -> neither it nor a parent is excluded

    def excluded(self, directory: str, name: str, is_dir: bool) -> bool:
        """Whether ``directory/name`` is excluded, given that ``directory`` itself is not: the deepest
        ignore file with a matching pattern decides (its last match), as in git."""
        path = f"{directory}/{name}" if directory else name
        level = directory
        while True:
            rules = self._rules_of(level)
            if rules:
                relative = path[len(level) + 1 :] if level else path
                if is_dir:
                    relative += "/"
                for pattern, excludes in reversed(rules):
                    if pattern.search(relative):
                        return excludes
            if not level:
                return False
            level = level.rpartition("/")[0]

    def visible(self, path: str) -> bool:
        """Whether the file ``path`` survives: no parent directory and not itself excluded."""
        directory, _, name = path.rpartition("/")
        return self._directory_visible(directory) and not self.excluded(directory, name, False)

    def _directory_visible(self, directory: str) -> bool:
        known = self._visible.get(directory)
        if known is None:
            parent, _, name = directory.rpartition("/")
            known = self._directory_visible(parent) and not self.excluded(parent, name, True)
            self._visible[directory] = known
        return known

    def _rules_of(self, directory: str) -> Rules:
        rules = self._rules.get(directory)
        if rules is None:
            rules = self._rules[directory] = _read_rules(self._root / directory / self._filename)
        return rules


def _read_rules(path: Path) -> Rules:
    """The patterns of one ignore file (none if it is missing, not a regular file, or unreadable: git
    does not read a ``.gitignore`` that is a link either)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return []
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return []
        with os.fdopen(fd, "rb", closefd=False) as file:
            text = file.read(1 << 20).decode("utf-8", errors="surrogateescape")  # bounded: a pattern file
    except OSError:
        return []
    finally:
        os.close(fd)
    return compile_rules(text.splitlines())


def compile_rules(lines: Iterable[str]) -> Rules:
    """gitignore lines as (pattern, excludes) pairs, each matching a path *itself* (relative to the ignore
    file's directory, a directory with a trailing ``/``), never through one of its parents.

    pathspec's GitIgnoreSpec parses the lines exactly as git does (escapes, ranges, ``**``, anchoring,
    trailing spaces); its own matching answers for a file given one ignore file, counting matches of
    the file's parent directories. Git's walk instead asks about each directory once and never enters an
    excluded one, so here a pattern's regex must reach the end of the path: ``\\Z``."""
    rules: Rules = []
    for line in lines:
        try:  # one line at a time: a bad pattern (``!`` alone, ``[z-a]``) is skipped, as git skips it
            patterns = pathspec.GitIgnoreSpec.from_lines([line]).patterns
        except (ValueError, re.error):
            continue
        for pattern in patterns:
            if pattern.include is not None and pattern.regex is not None:  # not a blank line or a comment
                regex = re.compile(f"(?:{pattern.regex.pattern})\\Z", pattern.regex.flags)
                rules.append((regex, pattern.include))
    return rules
