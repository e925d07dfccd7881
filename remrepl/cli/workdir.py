"""``--workdir`` on ``connect`` and ``exec``: the project directory that travels with the code.

Which directory: ``--workdir DIR`` if given; for ``exec`` on a server that is not on this machine, the
script's project (``remrepl.workdir.select.project_root``: the git work tree, or the nearest directory
with a pyproject.toml, setup.py, requirements.txt or .remreplignore, else the script's own directory), so
``python train.py``'s sibling imports and relative data paths work there too; ``--no-workdir``: none. A
local server shares this file system, so nothing is copied unless ``--workdir`` asks.

After a sync, the session's kernel moves into the copy (``Session.sync_workdir``), and a script runs from
it, in the directory that corresponds to the local one (``script_place``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .._exceptions import WorkdirError

if TYPE_CHECKING:
    from ..client.session import Session
    from ..client.sync import SyncResult


QUIET_SECONDS = 0.5  # a sync quicker than this draws no progress bar, only its summary line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the project directory (--workdir)")
    choice = group.add_mutually_exclusive_group()
    choice.add_argument(
        "--workdir",
        metavar="DIR",
        help="sync DIR to the server (only what changed crosses) and run there; exec on a remote server "
        "defaults to the script's project",
    )
    choice.add_argument("--no-workdir", action="store_true", help="sync nothing (exec: send the script alone)")
    group.add_argument(
        "--workdir-max-size", metavar="SIZE", help="refuse to sync more than SIZE bytes (default 500MB; 2G...)"
    )
    group.add_argument("--workdir-max-files", type=int, metavar="N", help="refuse to sync more than N files (20000)")


def summary(result: SyncResult) -> str:
    """``(3 files, 22 B): 1 file sent (12 B) in 0.04 s``, or ``...: unchanged (0.01 s)``."""
    from ..client.progress import human_bytes

    tree = f"({result.files} file{'s' if result.files != 1 else ''}, {human_bytes(result.size)})"
    if result.unchanged:
        return f"{tree}: unchanged ({result.seconds:.2f} s)"
    sent = f"{result.sent_files} file{'s' if result.sent_files != 1 else ''}"
    return f"{tree}: {sent} sent ({human_bytes(result.sent_bytes)}) in {result.seconds:.2f} s"


def chosen(args: argparse.Namespace, *, script: str | None, remote: bool) -> Path | None:
    """The directory to sync for this command, or None."""
    if args.no_workdir:
        return None
    if args.workdir:
        path = Path(args.workdir).expanduser().resolve()
        if not path.is_dir():
            raise WorkdirError(f"--workdir {args.workdir}: not a directory")
        return path
    if script is None or not remote:
        return None
    from ..workdir.select import project_root

    return project_root(Path(script).resolve())


def sync(session: Session, root: Path, args: argparse.Namespace, *, quiet: bool = False) -> SyncResult:
    """Sync ``root``; a progress bar and a summary line on stderr when it is a terminal (or not ``quiet``)."""
    from ..client.progress import ProgressBar
    from ..workdir.limits import parse_size

    max_bytes = parse_size(args.workdir_max_size) if args.workdir_max_size else None
    tty = sys.stderr.isatty()
    bar = ProgressBar("syncing", delay=QUIET_SECONDS) if tty else None
    try:
        result = session.sync_workdir(root, max_bytes=max_bytes, max_files=args.workdir_max_files, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    if tty or not quiet:
        print(f"remrepl: workdir {root} -> {result.remote} {summary(result)}", file=sys.stderr)
    return result


def script_place(result: SyncResult, script: str) -> tuple[str, str]:
    """(the script's path in the copy, the directory it runs in there): the local working directory's
    counterpart when it lies in the project, else the copy's root."""
    root = Path(result.local)
    local_script = Path(script).resolve()
    try:
        inside = local_script.relative_to(root)
    except ValueError:
        raise WorkdirError(f"{script} is not inside the workdir {root}; give --workdir its project") from None
    cwd = Path(os.getcwd()).resolve()
    try:
        where = Path(result.remote, cwd.relative_to(root))
    except ValueError:
        where = Path(result.remote)
    return str(Path(result.remote, inside)), str(where)
