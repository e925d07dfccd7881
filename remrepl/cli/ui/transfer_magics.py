"""``%upload LOCAL [REMOTE]`` and ``%download REMOTE [LOCAL]`` at the ``remote>`` prompt, registered with
the other magics (``magics.py``). Ctrl-C stops a transfer; nothing is left at the target.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from ..._exceptions import RemreplError, TransferError
from ...client.progress import ProgressBar, human_bytes
from ...client.session import Session
from ...client.transfer import TransferResult
from ..output import OutputPrinter, sigint_raises
from .magics import MagicHost, Outcome, magic, split_args


def _transfer(
    verb: str, printer: OutputPrinter, session: Session, run: Callable[[ProgressBar], TransferResult]
) -> None:
    printer.line_break()
    bar = ProgressBar(f"{verb}ing")
    try:
        with sigint_raises():
            result = run(bar)
    except TransferError as exc:
        bar.close()
        print(f"remrepl: {exc}", file=sys.stderr)
        return
    except KeyboardInterrupt:
        bar.close()
        print(f"remrepl: the {verb} was interrupted; nothing was left at the target", file=sys.stderr)
        return
    finally:
        for event in session.drain_held():  # output the remote code printed meanwhile
            printer.show(event)
    bar.close()
    files = f"{result.files} file{'s' if result.files != 1 else ''}"
    rate = human_bytes(result.size / max(result.seconds, 1e-6))
    checked = f", SHA-256 {result.sha256}" if result.sha256 else ", every file's SHA-256 checked"
    where = "remote " if verb == "upload" else ""
    print(f"remrepl: {verb}ed to {where}{result.target} ({human_bytes(result.size)}, {files}, {rate}/s{checked})")


@magic("%upload LOCAL [REMOTE]", "copy a local file or directory to the server (default: the remote cwd)")
def _upload(host: MagicHost, args: str) -> Outcome | None:
    local, *remote = split_args(args, 1, 2)
    session = host.session
    _transfer(
        "upload", host.printer, session, lambda bar: session.upload(local, remote[0] if remote else None, progress=bar)
    )
    return None


@magic("%download REMOTE [LOCAL]", "copy a remote file or directory here (default: the local cwd)")
def _download(host: MagicHost, args: str) -> Outcome | None:
    remote, *local = split_args(args, 1, 2)
    session = host.session
    _transfer(
        "download",
        host.printer,
        session,
        lambda bar: session.download(remote, local[0] if local else None, progress=bar),
    )
    return None


@magic("%sync [DIR]", "sync the project directory DIR (default: this session's --workdir) to the server and enter it")
def _sync(host: MagicHost, args: str) -> Outcome | None:
    given = split_args(args, 0, 1)
    session = host.session
    last = session.last_sync
    if not given and last is None:
        print("remrepl: no workdir yet: %sync DIR (or connect with --workdir DIR)", file=sys.stderr)
        return None
    root = given[0] if given else last.local  # type: ignore[union-attr]
    from ..workdir import QUIET_SECONDS, summary

    max_bytes, max_files = (last.max_bytes, last.max_files) if last is not None else (None, None)
    host.printer.line_break()
    bar = ProgressBar("syncing", delay=QUIET_SECONDS)
    try:
        with sigint_raises():
            result = session.sync_workdir(root, max_bytes=max_bytes, max_files=max_files, progress=bar)
    except RemreplError as exc:
        bar.close()
        print(f"remrepl: {exc}", file=sys.stderr)
        return None
    except KeyboardInterrupt:
        bar.close()
        print("remrepl: the sync was interrupted; the server's copy is as it was", file=sys.stderr)
        return None
    finally:
        for event in session.drain_held():
            host.printer.show(event)
    bar.close()
    print(f"remrepl: synced {root} -> {result.remote} {summary(result)}")
    return None
