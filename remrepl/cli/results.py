"""``remrepl exec --get``: the run's results downloaded after it, however it ended (``client/results.py``).

A run that failed, timed out or was interrupted wrote what its user needs to see why, so the downloads
come after every end the client still has a link for. Each path that does not land is one line on
stderr; it makes the exit status 1 only if the script itself succeeded (the script's own failure status
wins). stdout stays the script's: a big download's progress goes to stderr, as ``%download``'s does.
"""

from __future__ import annotations

import sys

from ..client.progress import ProgressBar
from ..client.session import Session
from ..client.transfer import Progress
from .output import OutputPrinter, sigint_raises

BIG_DOWNLOAD = 1 << 20  # bytes: a download at least this big shows its progress (smaller ones land at once)
EXIT_INTERRUPTED = 130


class LazyBar:
    """A transfer's progress callback that draws a ``ProgressBar`` on stderr only for a big download."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: ProgressBar | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            if total < BIG_DOWNLOAD:
                return
            self.bar = ProgressBar(self.label)
        self.bar(done, total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def fetch_results(session: Session, printer: OutputPrinter, gets: list[str], get_to: str, exit_code: int) -> int:
    """Download ``gets`` into ``get_to`` ("": the current directory); the exit status after them."""
    bars: list[LazyBar] = []

    def progress(path: str) -> Progress:
        for bar in bars:  # the previous download is over: end its line
            bar.close()
        bars.append(LazyBar(f"--get {path}"))
        return bars[-1]

    try:
        with sigint_raises():
            fetched = session.fetch_results(gets, get_to or None, progress=progress)
    except KeyboardInterrupt:
        print("remrepl: --get was interrupted; nothing was left of the download it stopped", file=sys.stderr)
        return exit_code or EXIT_INTERRUPTED
    finally:
        for bar in bars:
            bar.close()
        for event in session.drain_held():  # output that came meanwhile (a killed run's last words)
            printer.show(event)
    failed = False
    for one in fetched:
        if one.error:
            print(f"remrepl: --get {one.path}: {one.error}", file=sys.stderr)
            failed = True
    return 1 if failed and exit_code == 0 else exit_code
