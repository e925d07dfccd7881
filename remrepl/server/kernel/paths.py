"""The files and directories a typed path prefix could go on to: path completion, bounded.

One listing serves every path completion: a string literal's (``open('da``) in the kernel, the remote
arguments of ``%download``, ``%upload`` and ``%cd`` (the kernel answers ``CompletePath``), and the local
arguments of ``%upload`` and ``%run`` at the prompt (the client calls it on its own machine). Relative
paths are relative to the process's working directory (the kernel's, which is what ``%download`` and
``%upload`` resolve against); ``~`` is the home directory; hidden entries are offered only when the typed
name starts with ``.``. A directory is listed at most ``MAX_SCANNED`` entries deep and for ``MAX_SECONDS``
(a completion on a directory of a million files, or on a slow network file system, answers with what it
has found by then), and at most ``MAX_ENTRIES`` come back.

Standard library only: the kernel imports it on a first path completion, the client on its own.
"""

from __future__ import annotations

import os
import time

MAX_ENTRIES = 500  # a menu is for reading
MAX_SCANNED = 20_000  # entries looked at in one directory
MAX_SECONDS = 0.5  # spent listing one directory


def list_paths(typed: str, *, directories_only: bool = False) -> list[tuple[str, bool]]:
    """``(path, is_directory)`` for the entries whose path starts with ``typed``, sorted; each path is
    ``typed``'s directory part as typed, then the entry's name, then ``/`` for a directory."""
    head, stem = typed[: typed.rfind("/") + 1], typed[typed.rfind("/") + 1 :]
    directory = os.path.expanduser(head) if head else "."
    deadline = time.monotonic() + MAX_SECONDS
    found: list[tuple[str, bool]] = []
    try:
        with os.scandir(directory) as entries:
            for scanned, entry in enumerate(entries):
                if scanned >= MAX_SCANNED or time.monotonic() > deadline:
                    break
                name = entry.name
                if not name.startswith(stem) or (name.startswith(".") and not stem.startswith(".")):
                    continue
                try:
                    is_dir = entry.is_dir()  # follows a symbolic link, as cd and open do
                except OSError:
                    is_dir = False
                if is_dir or not directories_only:
                    found.append((name, is_dir))
    except OSError:  # no such directory, no permission: nothing to offer
        return []
    found.sort()
    return [(head + name + ("/" if is_dir else ""), is_dir) for name, is_dir in found[:MAX_ENTRIES]]
