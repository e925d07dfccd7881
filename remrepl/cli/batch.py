"""``remrepl exec FILE``: run a local script remotely as ``__main__`` and exit with its status."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable

from .._exceptions import ConfigError, ExecutionTimeout
from ..client.script import start_script
from ..client.session import Session
from ..protocol import Display, Notice, OutputEvent
from .output import CtrlCPresses, OutputPrinter, forward_sigint, sigint_raises
from .results import fetch_results
from .terminal import local_terminal, tracking_resizes

EXIT_TIMEOUT = 124  # as timeout(1)
EXIT_INTERRUPTED = 130  # as a shell shows a command ended by Ctrl-C
GRACE_SECONDS = 5.0  # after interrupting a run that timed out (or got Ctrl-C twice), how long it has to stop
RESTART_SECONDS = 30.0  # for the server to kill an interpreter that would not stop


def stdin_input(prompt: str, password: bool) -> str | None:
    """Remote ``input()`` reads local standard input; the prompt goes to stdout, as Python does."""
    if password and (sys.stdin.isatty() or _has_terminal()):  # getpass asks the terminal, not stdin
        import getpass

        with sigint_raises():
            try:
                return getpass.getpass(prompt)
            except EOFError:
                return None
    sys.stdout.write(prompt)
    sys.stdout.flush()
    with sigint_raises():
        line = sys.stdin.readline()
    return line.rstrip("\n") if line else None


def _has_terminal() -> bool:
    """A controlling terminal to ask a password on, while stdin is the script's data (a pipe, a file)."""
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return False
    return True


def local_stdin() -> Callable[[int], bytes] | None:
    """How a script run reads the local standard input: its bytes streamed to the script's fd 0 when it
    is a pipe, a file or /dev/null; None when it is a terminal (the script's reads then ask for lines,
    so nothing is read from the terminal unless the script reads, and no keystroke is taken from the shell)."""
    try:
        if os.isatty(0):
            return None
        os.fstat(0)
    except OSError:  # no fd 0 at all: an empty stdin
        return lambda n: b""
    return lambda n: os.read(0, n)


def read_script(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:  # python's words (its absolute path too) and its exit status, 2: a usage error,
        # which ends the command as argparse ends one
        where = os.path.abspath(path)
        print(f"remrepl: can't open file {where!r}: [Errno {exc.errno}] {exc.strerror}", file=sys.stderr)
        raise SystemExit(2) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None


def run_script(
    session: Session,
    path: str,
    source: str,
    args: list[str],
    *,
    timeout: float | None = None,
    on_display: Callable[[Display], str] | None = None,
    origin: str | None = None,
    cwd: str | None = None,
    gets: list[str] | None = None,
    get_to: str = "",
) -> int:
    """Run ``source`` as the script ``path``; its exit status (0, its SystemExit code, 1 on an exception,
    124 on timeout, 130 after a repeated Ctrl-C). ``on_display`` saves plots (``client/plots.py``).
    ``origin``, ``cwd``: where the script and its working directory are on the server (a synced workdir).
    ``gets``: remote paths downloaded into ``get_to`` after the run, however it ended (``results.py``).

    ``session`` is a script connection (``Session(script=True)``): the script runs in a fresh remote
    interpreter of its own (``client/script.py``), with the local stdin as its standard input.

    A timeout and a repeated Ctrl-C take the same path (``stop``): interrupt, wait a grace period, and
    kill the script's remote interpreter if the run still has not stopped."""
    printer = OutputPrinter(on_display=on_display)
    exit_code = _run(session, printer, path, source, args, timeout, origin, cwd)
    if gets:
        exit_code = fetch_results(session, printer, gets, get_to, exit_code)
    return exit_code


def _run(
    session: Session,
    printer: OutputPrinter,
    path: str,
    source: str,
    args: list[str],
    timeout: float | None,
    origin: str | None,
    cwd: str | None,
) -> int:
    session.input_handler = stdin_input
    # A pty like the local terminal if stdout and stderr are both on one; else pipes, so that a
    # `2>errors.log` still gets the script's stderr (a pty would merge it into stdout).
    session.use_terminal(local_terminal(sys.stdout, sys.stderr))
    session.on_link_lost = None  # a script run ends with its link (a new connection cannot resume it)
    execution = start_script(session, path, source, args, stdin=local_stdin(), origin=origin, cwd=cwd)
    skipped = 0

    def show(events: Iterable[OutputEvent | None]) -> None:
        # The script's stdout is the script's: output the server replays from earlier runs (a client that
        # died before it saw them) is left for `remrepl connect`, which shows it.
        nonlocal skipped
        for event in events:
            if event is None:
                continue
            if getattr(event, "req_id", "") in (execution.req_id, ""):
                printer.show(event)
            else:
                skipped += 1

    def stop(why: str, exit_code: int) -> int:
        """Interrupt the run; if it has not stopped within the grace period (it ignores SIGINT or is stuck
        in C), kill and restart the remote interpreter, so that the server is free again. ``exit_code``."""
        execution.interrupt()
        print(f"remrepl: {path} {why} and was interrupted", file=sys.stderr)
        try:
            show(execution.events(GRACE_SECONDS))
        except ExecutionTimeout:
            print(
                f"remrepl: it did not stop within {GRACE_SECONDS:g} s: its remote interpreter is killed",
                file=sys.stderr,
            )
            try:
                for event in session.restart(force=True).events(RESTART_SECONDS):
                    if isinstance(event, Notice):  # "killed"; the Done events are ours
                        printer.show(event)
            except ExecutionTimeout:
                print(f"remrepl: the server did not kill it within {RESTART_SECONDS:g} s", file=sys.stderr)
        return exit_code

    repeated: list[bool] = []

    def on_repeat() -> None:  # in the SIGINT handler: only note it, and cut the wait short
        repeated.append(True)
        session.wake()

    deadline = None if timeout is None else time.monotonic() + timeout
    with forward_sigint(CtrlCPresses(execution.interrupt, on_repeat).press), tracking_resizes(session):
        try:
            while execution.done is None:
                remaining = None if deadline is None else deadline - time.monotonic()
                if repeated:
                    return stop("got Ctrl-C again", EXIT_INTERRUPTED)
                if remaining is not None and remaining <= 0:
                    return stop(f"ran longer than {timeout:g} s", EXIT_TIMEOUT)
                show([execution.poll(remaining)])
        finally:
            if skipped:
                print(f"remrepl: {skipped} output events of earlier runs were not shown", file=sys.stderr)
    return execution.done.exit_code
