"""A script run's results, downloaded after it: ``remrepl exec --get``, ``Session.run_script(get=...)``.

Each path names a remote file or directory; a relative one is relative to the directory the script ran
in on the server, which the server names in the run's ``Done.cwd`` (the client sends the joined,
absolute path: the base is a value it knows, not the server's guess; without it, as from a run that
never confirmed its end, the server resolves the path against the same directory). Each lands in a local
directory under its own name, written to a temporary sibling and renamed into place, replacing what had
that name (the results of an earlier run). The downloads go over the script connection itself, after the
run, whatever its end: a failed, timed-out or interrupted run's files are what its user needs. One path
that fails (missing, unreadable) does not stop the others.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .._exceptions import NoSuchPath, TransferError
from .transfer import Progress, TransferLink, TransferResult, download

MISSING = "no such file on the remote"
OLD_SERVER = "the server's remrepl is older and cannot send a script run's files: update remrepl there"


@dataclass(frozen=True)
class Fetched:
    """One path's outcome: ``result`` when it landed, else ``error`` (one line; ``missing`` when the
    remote path does not exist)."""

    path: str  # as asked
    result: TransferResult | None = None
    error: str = ""
    missing: bool = False


def remote_path(path: str, base: str) -> str:
    """``path`` as asked of the server: under ``base`` (the run's working directory) when relative; as it
    is when absolute, ``~``-relative, or when ``base`` is unknown ("")."""
    if not base or posixpath.isabs(path) or path.startswith("~"):
        return path
    return posixpath.join(base, path)


def fetch(
    link: TransferLink,
    paths: Iterable[str],
    to: str | os.PathLike[str] = "",
    *,
    base: str,
    supported: bool = True,
    progress: Callable[[str], Progress | None] | None = None,
) -> list[Fetched]:
    """Download each of ``paths`` (relative to ``base``) into the local directory ``to`` ("": the current
    one; made if missing), in order; one ``Fetched`` each. ``supported``: the server takes transfers on a
    script connection (``Welcome.script_transfers``). ``progress(path)``: the progress callback for one
    download, or None. ``KeyboardInterrupt`` stops at the download it interrupts (nothing left of it)."""
    fetched: list[Fetched] = []
    for path in paths:
        if not supported:
            fetched.append(Fetched(path, error=OLD_SERVER))
            continue
        if not path:
            fetched.append(Fetched(path, error="say which remote file or directory to get"))
            continue
        try:
            result = download(
                link, remote_path(path, base), os.fspath(to), progress(path) if progress else None, replace=True
            )
        except NoSuchPath:
            fetched.append(Fetched(path, error=MISSING, missing=True))
        except TransferError as exc:
            fetched.append(Fetched(path, error=str(exc)))
        else:
            fetched.append(Fetched(path, result))
    return fetched
