"""``%upload LOCAL [REMOTE]`` and ``%download REMOTE [LOCAL]`` at the ``remote>`` prompt.

Each handler takes the session, the argument text and the printer, and returns nothing: it prints what
happened (or its usage, for wrong arguments). Ctrl-C stops a transfer; nothing is left at the target.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable

from ..._exceptions import TransferError
from ..output import OutputPrinter, sigint_raises
from ..progress import ProgressBar, human_bytes
from ..session import Session
from ..transfer import TransferResult

UPLOAD_USAGE = "usage: %upload LOCAL [REMOTE]   (REMOTE: default the remote current directory)"
DOWNLOAD_USAGE = "usage: %download REMOTE [LOCAL]   (LOCAL: default the local current directory)"
TRANSFER_MAGICS = {
    "%upload": "LOCAL [REMOTE]: copy a local file or directory to the server (checked with SHA-256)",
    "%download": "REMOTE [LOCAL]: copy a remote file or directory here (checked with SHA-256)",
}


def _arguments(text: str, usage: str) -> list[str] | None:
    try:
        args = shlex.split(text)
    except ValueError as exc:
        print(f"remrepl: {exc}; {usage}", file=sys.stderr)
        return None
    if not 1 <= len(args) <= 2:
        print(f"remrepl: {usage}", file=sys.stderr)
        return None
    return args


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


def upload_magic(session: Session, text: str, printer: OutputPrinter) -> None:
    args = _arguments(text, UPLOAD_USAGE)
    if args is not None:
        local, remote = args[0], args[1] if len(args) > 1 else None
        _transfer("upload", printer, session, lambda bar: session.upload(local, remote, progress=bar))


def download_magic(session: Session, text: str, printer: OutputPrinter) -> None:
    args = _arguments(text, DOWNLOAD_USAGE)
    if args is not None:
        remote, local = args[0], args[1] if len(args) > 1 else None
        _transfer("download", printer, session, lambda bar: session.download(remote, local, progress=bar))
